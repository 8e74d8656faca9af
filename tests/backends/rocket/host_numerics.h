// Which TFLite CPU kernels a test's "CPU" side runs: the bounds below were
// measured against TFLite's output, and TFLite 2.9 rounds differently on
// arm64 (docs/arm64.md), so a few bounds have an arm64 value as well.
#pragma once

#include "backends/reference/numerics.h"
#include "delegate/cpu_profile.h"

namespace nonstick::testing {

// True when this binary's TFLite is 2.9 built for arm64 (what cpu_profile
// auto resolves to on aarch64).
inline bool cpu_is_tflite29_arm64() {
  static const bool arm64 = choose_cpu_profile("auto", nullptr).numerics == reference::Numerics::kTflite29Arm64;
  return arm64;
}

// A bound measured per CPU profile: `arm64` when the CPU side is arm64
// TFLite 2.9 and a value was measured for it (not negative), else `x86`.
template <typename T>
T host_bound(T x86, T arm64) {
  return cpu_is_tflite29_arm64() && arm64 >= 0 ? arm64 : x86;
}

}  // namespace nonstick::testing
