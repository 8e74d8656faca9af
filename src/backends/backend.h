// The driver interface: what the delegate front end needs from an NPU family
// (or from the reference backend). Shaped after real NPU drivers: a backend
// answers "can you run this op" and "compile this subgraph"; a compiled
// Program owns its device buffers for its whole life and, per invoke, takes
// inputs, runs and hands back outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backends/reference/numerics.h"
#include "common/status.h"
#include "ir/graph.h"

namespace nonstick {

struct Support {
  bool supported = false;
  std::string reason;  // why not, when unsupported; a short phrase
  // When supported: an optional remark for placement reports, e.g. how
  // closely the device reproduces the CPU's output.
  std::string note;
  // When supported: the backend proved at compile time that the op gives
  // the CPU's output for every input (the note says against what).
  bool proven_exact = false;

  static Support yes() { return {true, {}, {}, false}; }
  static Support no(std::string why) { return {false, std::move(why), {}, false}; }
};

// Counters a backend can report for one compiled program. Figures from a
// simulated device are labelled so by the backend's description.
struct ProgramStats {
  int ops = 0;
  int jobs = 0;            // device jobs per invoke
  int tasks = 0;           // hardware tasks (or kernels for the reference backend)
  int submits = 0;         // kernel submissions per invoke
  uint64_t command_words = 0;  // command-stream words per invoke (regcmd)
  uint64_t macs = 0;       // useful multiply-accumulates per invoke
  uint64_t bytes_read = 0;     // DRAM traffic per invoke
  uint64_t bytes_written = 0;
  bool traffic_simulated = false;  // bytes counted by a simulated device, else planned
  double estimated_us = 0;     // modelled device time per invoke; 0 = no model
  double peak_macs_per_s = 0;  // the device's peak, for MAC utilisation; 0 = n/a
};

class Program {
 public:
  virtual ~Program() = default;

  // Input/output indices follow Graph::inputs / Graph::outputs. Byte counts
  // must equal the tensor's num_bytes(); data is NHWC as in TFLite.
  virtual Status set_input(size_t index, const void* data, size_t bytes) = 0;
  virtual Status invoke() = 0;
  virtual Status get_output(size_t index, void* data, size_t bytes) = 0;

  virtual ProgramStats stats() const { return {}; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;         // option value, e.g. "reference"
  virtual std::string_view description() const = 0;  // e.g. "host CPU, reference kernels"
  // True when the device is a model (virtual NPU): its figures are simulated.
  virtual bool simulated() const { return false; }

  // Whether `op` (inside `graph`, whose tensors carry shapes, quantization and
  // constants) can run on this backend. Must share its checks with compile().
  virtual Support supports(const ir::Graph& graph, const ir::Operation& op) const = 0;

  // Compiles a partition whose every op was accepted by supports(). Device
  // buffers are allocated and constants uploaded here, once.
  virtual Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) = 0;
  // The CPU runtime whose rounding the backend reproduces, once the delegate
  // knows which TFLite build hosts it (at Prepare; BackendConfig::numerics
  // until then). Returns false when the backend must be created anew
  // instead; later supports() and compile() calls use the new rounding.
  virtual bool set_numerics(reference::Numerics) { return false; }
};

// Backends known to this build, in "auto" preference order (hardware first).
std::vector<std::string_view> backend_names();

// Choices made when a backend is created; a backend ignores what does not
// concern it.
struct BackendConfig {
  // Whose rounding the host-CPU reference kernels reproduce.
  reference::Numerics numerics = reference::Numerics::kTflite29;
  // Only ops proven to give the CPU's output for every input may be placed
  // (supports() refuses the rest, saying why). The reference backend is
  // exact anyway.
  bool bit_exact_only = false;
};

// Creates a backend by name ("auto" picks the first one whose device is
// present). On failure returns null and sets *error to a one-line reason.
std::unique_ptr<Backend> create_backend(std::string_view name, std::string* error,
                                        const BackendConfig& config = {});

}  // namespace nonstick
