// The rocket runtime: a compiled partition. At compile time every buffer is
// created once through kernel::Device (activations in NC1HWC2, packed weights,
// folded biases, one regcmd BO holding every task) and the constants are
// uploaded, and the one SUBMIT of every job is marshalled (Device::
// prepare_submit). Per invoke: set_input converts the caller's NHWC bytes
// straight into the input BOs, invoke issues the SUBMIT and waits for the
// outputs (PREP_BO), leaving them open for CPU access until the next invoke,
// and get_output converts straight out of the output BOs. No allocation
// happens per invoke (tests/backends/rocket/program_alloc_test.cc).
//
// A device fault (a failing ioctl, a job that never completes) must not break
// the model: the program then runs the partition on the reference backend,
// compiled alongside, and says so once on stderr.
#pragma once

#include <cstdint>
#include <memory>

#include "backends/backend.h"
#include "backends/rocket/encoding.h"
#include "kernel/device.h"

namespace nonstick::rocket {

// Counters beyond ProgramStats, for `nonstick inspect/bench`.
struct RocketStats {
  int npu_ops = 0;          // NPU operations after ADD fusion
  int fused_adds = 0;
  int jobs = 0;
  int tasks = 0;
  uint64_t regcmd_words = 0;
  uint64_t weight_bytes = 0;
  bool simulated = false;   // byte counts below come from the simulator
  uint64_t bytes_read = 0;  // DRAM traffic per invoke (simulated or estimated)
  uint64_t bytes_written = 0;
  bool fell_back = false;   // running on the reference backend after a fault
};

class RocketProgram : public Program {
 public:
  virtual RocketStats rocket_stats() const = 0;
};

struct ProgramOptions {
  // Run on the reference backend after a device fault. Off, a fault fails
  // invoke() instead (tests use that so that a silent fallback cannot pass
  // for an NPU result; users can ask for it with NONSTICK_ROCKET_FALLBACK=0).
  bool fallback_on_fault = true;
  // Whose CPU numerics the fallback reproduces.
  reference::Numerics fallback_numerics = reference::Numerics::kTflite29;
  // DPU requantization features; must be those supports() was answered with.
  EncodingOptions encoding;
};

// Options from the environment: NONSTICK_ROCKET_FALLBACK=0 turns the
// fallback off; NONSTICK_ROCKET_REQUANT (encoding_options_from_env).
ProgramOptions program_options_from_env();

// Compiles `graph` (every op accepted by the rocket backend's supports()).
Status compile_program(std::shared_ptr<kernel::Device> device, const ir::Graph& graph,
                       const ProgramOptions& options, std::unique_ptr<Program>* out);

}  // namespace nonstick::rocket
