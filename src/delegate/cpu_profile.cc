#include "delegate/cpu_profile.h"

#include <dlfcn.h>

#include "delegate/host_runtime.h"

namespace nonstick {
namespace {

// TFLite 2.9's kernels round differently on arm64 (NEON code paths), so the
// profile of a 2.9 host depends on the architecture this delegate runs on,
// which is the host's.
#if defined(__aarch64__)
constexpr reference::Numerics kTflite29Here = reference::Numerics::kTflite29Arm64;
#else
constexpr reference::Numerics kTflite29Here = reference::Numerics::kTflite29;
#endif

reference::Numerics to_numerics(HostRuntime r) {
  switch (r) {
    case HostRuntime::kTfliteRuntime214: return reference::Numerics::kTfliteRuntime214;
    case HostRuntime::kLiteRt: return reference::Numerics::kLiteRt;
    case HostRuntime::kTflite29:
    case HostRuntime::kUnknown: break;
  }
  return kTflite29Here;
}

// The TFLite build that holds `address`, judged like detect_host_runtime()
// judges the whole process: by the library's path, and for the C library by
// the version it reports.
HostRuntimeInfo runtime_at(const void* address) {
  HostRuntimeInfo info;
  Dl_info where{};
  if (!address || !dladdr(address, &where) || !where.dli_fname) return info;
  const std::string path = where.dli_fname;
  info.evidence = "TFLite context in " + path;
  if (path.find("/ai_edge_litert/") != std::string::npos) {
    info.runtime = HostRuntime::kLiteRt;
  } else if (path.find("/tflite_runtime/") != std::string::npos) {
    info.runtime = HostRuntime::kTfliteRuntime214;
  } else if (path.find("libtensorflowlite_c") != std::string::npos) {
    if (void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      using VersionFn = const char* (*)();
      if (auto version_fn = reinterpret_cast<VersionFn>(dlsym(lib, "TfLiteVersion"))) {
        const std::string version = version_fn();
        info.evidence += ", version " + version;
        if (version.rfind("2.9", 0) == 0) info.runtime = HostRuntime::kTflite29;
      }
      dlclose(lib);
    }
  }
  return info;
}

}  // namespace

CpuProfileChoice choose_cpu_profile(const std::string& option, const void* host_code) {
  reference::Numerics named;
  if (option != "auto" && reference::parse_numerics(option, &named)) {
    return {named, "cpu_profile=" + option};
  }
  HostRuntimeInfo host = runtime_at(host_code);
  if (host.runtime == HostRuntime::kUnknown) host = detect_host_runtime();
  if (host.runtime == HostRuntime::kUnknown) {
    return {kTflite29Here, "auto: host TFLite not recognised (" + host.evidence + "); assuming " +
                               reference::numerics_name(kTflite29Here)};
  }
  return {to_numerics(host.runtime), "auto: " + host.evidence};
}

}  // namespace nonstick
