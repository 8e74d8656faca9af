#include "delegate/host_runtime.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>

namespace nonstick {
namespace {

struct Scan {
  bool litert = false;
  bool tflite_runtime = false;
  std::string tflite_c_path;
  std::string match;
};

int visit(struct dl_phdr_info* info, size_t, void* data) {
  auto* scan = static_cast<Scan*>(data);
  const char* name = info->dlpi_name;
  if (!name || !*name) return 0;
  if (std::strstr(name, "/ai_edge_litert/")) {
    scan->litert = true;
    scan->match = name;
  } else if (std::strstr(name, "/tflite_runtime/")) {
    scan->tflite_runtime = true;
    scan->match = name;
  } else if (std::strstr(name, "libtensorflowlite_c")) {
    scan->tflite_c_path = name;
  }
  return 0;
}

}  // namespace

HostRuntimeInfo detect_host_runtime() {
  Scan scan;
  dl_iterate_phdr(visit, &scan);
  HostRuntimeInfo info;
  if (scan.litert) {
    info.runtime = HostRuntime::kLiteRt;
    info.evidence = "ai_edge_litert loaded (" + scan.match + ")";
  } else if (scan.tflite_runtime) {
    info.runtime = HostRuntime::kTfliteRuntime214;
    info.evidence = "tflite_runtime loaded (" + scan.match + ")";
  } else if (!scan.tflite_c_path.empty()) {
    info.evidence = scan.tflite_c_path;
    if (void* lib = dlopen(scan.tflite_c_path.c_str(), RTLD_NOW | RTLD_NOLOAD)) {
      using VersionFn = const char* (*)();
      if (auto fn = reinterpret_cast<VersionFn>(dlsym(lib, "TfLiteVersion"))) {
        const std::string version = fn();
        info.evidence += " reports " + version;
        if (version.rfind("2.9", 0) == 0) info.runtime = HostRuntime::kTflite29;
      }
      dlclose(lib);
    }
  } else {
    info.evidence = "no known TFLite library found in the process";
  }
  return info;
}

const char* host_runtime_name(HostRuntime r) {
  switch (r) {
    case HostRuntime::kTflite29: return "tflite-2.9";
    case HostRuntime::kTfliteRuntime214: return "tflite-runtime-2.14";
    case HostRuntime::kLiteRt: return "litert";
    case HostRuntime::kUnknown: return "unknown";
  }
  return "unknown";
}

bool parse_host_runtime(const std::string& name, HostRuntime* out) {
  for (HostRuntime r : {HostRuntime::kTflite29, HostRuntime::kTfliteRuntime214, HostRuntime::kLiteRt}) {
    if (name == host_runtime_name(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

}  // namespace nonstick
