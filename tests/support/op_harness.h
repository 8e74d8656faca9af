// Single-operation (or small-graph) tests against TensorFlow Lite's own CPU
// kernels. A test describes an ir::Graph with GraphBuilder; the harness
// serialises it to a .tflite flatbuffer (tests/support/model_writer.h), runs
// it once on TFLite's builtin CPU kernels (TFLite 2.9 C library) and once
// through the nonstick delegate on the requested device, checks that every
// node was delegated, and compares the outputs byte for byte (or within a
// stated tolerance).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace nonstick::testing {

// Builds ir::Graph values tersely. Activations get deterministic pseudo-random
// data at run time; constants get it here, from the seed.
class GraphBuilder {
 public:
  explicit GraphBuilder(uint32_t seed = 1) : seed_(seed) {}

  // A run-time input of the graph (model input).
  int input(ir::DType dtype, std::vector<int32_t> shape, float scale = 1.0f, int32_t zero_point = 0);
  // An intermediate or final tensor; call mark_output() for model outputs.
  int tensor(ir::DType dtype, std::vector<int32_t> shape, float scale = 1.0f, int32_t zero_point = 0);
  void mark_output(int tensor);
  // A constant filled with uniform random values over the dtype's range
  // (int32 biases: uniform in [-bias_range, bias_range]).
  int random_constant(ir::DType dtype, std::vector<int32_t> shape, float scale = 1.0f,
                      int32_t zero_point = 0, int32_t bias_range = 2000);
  // A constant with the given raw bytes.
  int constant(ir::DType dtype, std::vector<int32_t> shape, std::vector<uint8_t> bytes,
               float scale = 1.0f, int32_t zero_point = 0);
  // Per-channel quantization (scales/zero points along `axis`) on an existing tensor.
  void set_per_channel(int tensor, std::vector<float> scales, std::vector<int32_t> zero_points,
                       int axis);
  // Appends an op; returns its index.
  int op(ir::OpType type, std::vector<int> inputs, std::vector<int> outputs, ir::OpParams params = {});

  ir::Graph& graph() { return graph_; }
  uint32_t seed() const { return seed_; }

 private:
  ir::Graph graph_;
  uint32_t seed_;
  uint32_t counter_ = 0;
};

struct HarnessOptions {
  std::string device = "reference";
  int tolerance = 0;             // max |delegate - cpu| per element, in quantized steps
  bool require_all_delegated = true;
  uint32_t input_seed = 7;
  int invocations = 2;           // invoke more than once: catches state kept across invokes
  // The delegate's exact option. Off here, unlike the delegate's default: a
  // sweep runs every op the device accepts on it and states its tolerance;
  // which ops are proven exact is the rocket exactness tests' subject.
  bool exact = false;
};

// Runs the comparison and reports failures through GoogleTest (EXPECT/ADD_FAILURE),
// naming the first differing element's coordinates. Returns true when it all matched.
bool expect_matches_tflite(const ir::Graph& graph, const HarnessOptions& options = {});

// The CPU-only result, for tests that need TFLite's numbers themselves.
std::vector<std::vector<uint8_t>> run_tflite_cpu(const ir::Graph& graph, uint32_t input_seed);

// Runs two single-input graphs on the reference backend with the same
// full-range random input and expects identical output bytes: for cases
// TFLite cannot load (e.g. a convolution without bias) but that must equal
// an equivalent graph it can.
void expect_same_reference_output(const ir::Graph& a, const ir::Graph& b);

}  // namespace nonstick::testing
