// Whose integer arithmetic the reference kernels reproduce. TFLite builds
// agree on what every op computes but not always on how it rounds: the
// delegate picks the profile of the runtime hosting it (cpu_profile option),
// so delegated nodes give the same bytes as that runtime's own CPU kernels.
// docs/reference-backend.md lists every difference and its evidence.
#pragma once

namespace nonstick::reference {

enum class Numerics {
  kTflite29,         // the TFLite 2.9 C library (the default; the C++ tests' oracle)
  kTfliteRuntime214, // the tflite-runtime 2.14 Python wheel
  kLiteRt,           // the ai-edge-litert 2.x Python wheel
};

// The cpu_profile option value naming a profile, e.g. "tflite-2.9".
inline const char* numerics_name(Numerics n) {
  switch (n) {
    case Numerics::kTflite29: return "tflite-2.9";
    case Numerics::kTfliteRuntime214: return "tflite-runtime-2.14";
    case Numerics::kLiteRt: return "litert";
  }
  return "tflite-2.9";
}

}  // namespace nonstick::reference
