// Which DPU features the rocket compiler may use for requantization. Both
// switches exist because the features they gate rest on no Mesa stream
// (docs/virtual-rk3588.md §9-§10): a board that disproves one can turn it off.
#pragma once

#include "backends/reference/numerics.h"

namespace nonstick::rocket {

struct EncodingOptions {
  enum class Requant {
    // TFLite's multiplier to ~2^-25 on the BS multiplier x OUT_CVT, plus its
    // rounding offset added by the BN ALU (§10); standalone ADDs with the EW
    // operand added after the BS multiplier, and never fused (§10.6).
    // Unverified on hardware; relies on §9's BS multiplier as well, so a
    // board that disproves §9 must turn off both switches.
    kPrecise,
    // OUT_CVT's 15-bit scale alone, as Mesa's hardware-run streams do.
    kOutCvt,
  } requant = Requant::kPrecise;
  // Int8 per-channel convolutions on the BS multiplier (§9); off, they are
  // refused and run on the CPU.
  bool per_channel = true;
  // Only ops whose encoding check_exactness proves bit-exact for every
  // input (§11); the others are refused with the proof's counterexample and
  // stay on the CPU. Off, an op may run on the NPU one step off TFLite on
  // the accumulators the report counts.
  bool exact_only = false;
  // The CPU runtime whose results the precise encoding reproduces (the
  // backend's BackendConfig::numerics): its kernels round differently per
  // op, profile and shape (reference::conv2d_rounding and friends).
  reference::Numerics numerics = reference::Numerics::kTflite29;
};

// From NONSTICK_ROCKET_REQUANT=precise|outcvt; an unknown value warns once on
// stderr and keeps the default.
EncodingOptions encoding_options_from_env();

}  // namespace nonstick::rocket
