// The cpu_profile option resolved to a numerics profile for the reference
// backend: named explicitly, or (auto) the TFLite build hosting the delegate.
#pragma once

#include <string>

#include "backends/reference/numerics.h"

namespace nonstick {

struct CpuProfileChoice {
  reference::Numerics numerics = reference::Numerics::kTflite29;
  std::string why;  // evidence, for the info log line
};

// `option` is a validated cpu_profile value. For auto, `host_code` is an
// address inside the TFLite build that calls the delegate (a TfLiteContext
// function), or null before one is known: its library decides when it is a
// known one, since one process can load several TFLite builds (pytest with
// both Python runtimes imported); otherwise the libraries loaded in the
// process do, and an unrecognised host means tflite-2.9. A 2.9 host on arm64
// means tflite-2.9-arm64 (checked at compile time: the delegate and its host
// share the architecture).
CpuProfileChoice choose_cpu_profile(const std::string& option, const void* host_code);

}  // namespace nonstick
