// Which TensorFlow Lite build is hosting the delegate. TFLite builds differ
// in integer rounding at ties (ruy vs gemmlowp, per-version MEAN and
// depthwise kernels), so the reference backend mirrors the host's arithmetic
// to stay byte-identical with the nodes TFLite keeps on the CPU.
#pragma once

#include <string>

namespace nonstick {

enum class HostRuntime { kTflite29, kTfliteRuntime214, kLiteRt, kUnknown };

struct HostRuntimeInfo {
  HostRuntime runtime = HostRuntime::kUnknown;
  std::string evidence;  // e.g. "libtensorflowlite_c.so reports 2.9.0"
};

// Looks at the shared objects loaded into this process.
HostRuntimeInfo detect_host_runtime();

const char* host_runtime_name(HostRuntime r);  // "tflite-2.9", "tflite-runtime-2.14", "litert", "unknown"
// Parses a name as accepted by the cpu_profile option; false if unknown.
bool parse_host_runtime(const std::string& name, HostRuntime* out);

}  // namespace nonstick
