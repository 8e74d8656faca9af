// The TFLite front end as a C++ object. libnonstick.so wraps it in the two
// external-delegate entry points (plugin.cc); the nonstick tool and the tests
// link it directly to read the placement report.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "delegate/options.h"
#include "tflite/abi.h"

namespace nonstick {

// Where one TFLite node runs and why.
struct NodePlacement {
  int node_index = -1;
  std::string op;         // TFLite builtin name, e.g. "CONV_2D"
  std::string signature;  // shapes and quantization, for reports
  bool delegated = false;
  std::string reason;     // why it stays on the CPU, when it does
  std::string note;       // the backend's remark on a placed op (e.g. its exactness)
  bool proven_exact = false;  // the backend proved it gives the CPU's output for every input
  int partition = -1;     // which delegated partition holds it
};

struct DelegateReport {
  std::string device;              // backend name, e.g. "reference"
  std::string device_description;  // what it physically is
  bool device_simulated = false;   // a virtual NPU: every device figure is simulated
  std::vector<NodePlacement> nodes;
  int partitions = 0;
  int delegated_nodes() const;
  double compile_ms = 0;  // summed over partitions
  ProgramStats stats;     // summed over partitions
};

class Delegate {
 public:
  // Returns null with *error set when the options are invalid or the device
  // cannot be opened.
  static std::unique_ptr<Delegate> create(const DelegateOptions& options, std::string* error);
  // A delegate that takes no node, every one kept on the CPU with `reason`:
  // what the plugin hands TFLite when the requested device cannot be used.
  static std::unique_ptr<Delegate> create_cpu_only(const DelegateOptions& options, std::string reason);
  // A delegate over a caller-supplied backend (options.device is ignored):
  // lets tests put an instrumented or replaying Backend behind the real front
  // end. Returns null when `backend` is null.
  static std::unique_ptr<Delegate> create_with_backend(const DelegateOptions& options,
                                                       std::unique_ptr<Backend> backend);
  ~Delegate();

  // The object to hand to TFLite (ModifyGraphWithDelegate / options). Valid
  // as long as this Delegate lives.
  TfLiteDelegate* tflite_delegate();
  // The Delegate behind a TfLiteDelegate this library created (or null).
  static Delegate* from_tflite(TfLiteDelegate* delegate);

  // Filled when TFLite calls Prepare; updated as partitions compile.
  const DelegateReport& report() const;

  const DelegateOptions& options() const;

  // Statistics of the partitions TFLite currently runs, summed; unlike
  // report().stats (taken at compile time) it includes traffic a simulated
  // device counted during the invokes so far.
  ProgramStats live_stats() const;

  struct State;  // implementation, shared with the kernel callbacks

 private:
  explicit Delegate(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The placement table as text, one row per node plus a summary line.
std::string format_placement_table(const DelegateReport& report);
// Device program counters (jobs, tasks, command words, MACs, traffic,
// estimated time); empty for backends without a device program.
std::string format_program_stats(const ProgramStats& stats, bool simulated_device);
// One line: "N of M nodes on <device> in P partitions; CPU: OP xK, ..."
std::string format_placement_summary(const DelegateReport& report);

}  // namespace nonstick
