// Whose integer arithmetic the reference kernels reproduce. TFLite builds
// agree on what every op computes but not always on how it rounds: the
// delegate picks the profile of the runtime hosting it (cpu_profile option),
// so delegated nodes give the same bytes as that runtime's own CPU kernels.
// docs/reference-backend.md lists every difference and its evidence.
#pragma once

#include <string>

namespace nonstick::reference {

enum class Numerics {
  kTflite29,         // the TFLite 2.9 C library on x86-64 (the default; the C++ tests' oracle)
  kTflite29Arm64,    // the same library built for arm64 (the boards), NEON kernels
  kTfliteRuntime214, // the tflite-runtime 2.14 Python wheel
  kLiteRt,           // the ai-edge-litert 2.x Python wheel
};

constexpr Numerics kAllNumerics[] = {Numerics::kTflite29, Numerics::kTflite29Arm64,
                                     Numerics::kTfliteRuntime214, Numerics::kLiteRt};

// The cpu_profile option value naming a profile, e.g. "tflite-2.9".
inline const char* numerics_name(Numerics n) {
  switch (n) {
    case Numerics::kTflite29: return "tflite-2.9";
    case Numerics::kTflite29Arm64: return "tflite-2.9-arm64";
    case Numerics::kTfliteRuntime214: return "tflite-runtime-2.14";
    case Numerics::kLiteRt: return "litert";
  }
  return "tflite-2.9";
}

// The profile a cpu_profile value names; false if none does.
inline bool parse_numerics(const std::string& name, Numerics* out) {
  for (Numerics n : kAllNumerics) {
    if (name == numerics_name(n)) {
      *out = n;
      return true;
    }
  }
  return false;
}

// Whether the runtime runs TFLite's NEON code for ADD, MUL, QUANTIZE,
// DEQUANTIZE and the int8 spatial MEAN, whose whole vector blocks round or
// narrow differently from the scalar code: natively on arm64, and in litert's
// x86 build through an SSE translation of the same intrinsics.
inline bool runs_neon_blocks(Numerics n) { return n == Numerics::kTflite29Arm64 || n == Numerics::kLiteRt; }

}  // namespace nonstick::reference
