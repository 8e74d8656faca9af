// Layer-by-layer agreement of the rocket backend with TFLite 2.9's CPU
// kernels on a real model: every chosen op alone, on random inputs over the
// whole 8-bit range (harder than the model's own activations), counting the
// outputs that differ and by how much. Used to measure the requantization
// encodings (requant_mode.h) per layer; the virtual NPU runs the layers.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "delegate/delegate.h"
#include "golden.h"
#include "support/model_writer.h"
#include "support/random_data.h"
#include "tflite/interpreter.h"
#include "cpu_and_rocket.h"

namespace nonstick::testing {

// `op` of `model` as a graph of its own (constants copied, every other
// operand a graph input).
inline ir::Graph single_op(const ir::Graph& model, const ir::Operation& op) {
  ir::Graph g;
  ir::Operation o = op;
  auto copy = [&](int t) {
    if (t < 0) return t;
    g.tensors.push_back(model.tensor(t));
    return static_cast<int>(g.tensors.size()) - 1;
  };
  for (int& t : o.inputs) {
    t = copy(t);
    if (t >= 0 && !g.tensor(t).constant) g.inputs.push_back(t);
  }
  for (int& t : o.outputs) t = copy(t);
  g.outputs = {o.outputs[0]};
  g.ops.push_back(o);
  return g;
}

struct LayerAgreement {
  int layers = 0;
  int64_t outputs = 0;
  int64_t off_by_one = 0;    // outputs exactly one step from TFLite
  int64_t off_by_more = 0;   // outputs further away
  double worst_layer_rate = 0;  // largest per-layer share of differing outputs
  std::string worst_layer;
  double rate() const { return outputs ? static_cast<double>(off_by_one + off_by_more) / outputs : 0; }
};

// Output 0 of `g` on TFLite's CPU kernels and through the delegate on the
// rocket device (every node delegated), for the given raw bytes of each
// graph input.
inline void run_cpu_and_rocket(const ir::Graph& g, const std::string& name,
                               const std::vector<std::vector<uint8_t>>& inputs, std::vector<uint8_t>* want,
                               std::vector<uint8_t>* got) {
  std::string error;
  const std::vector<uint8_t> model = write_tflite_model(g, &error);
  ASSERT_FALSE(model.empty()) << error;
  auto [delegate, cpu, npu] = testing::open_cpu_and_rocket(model, &error);
  ASSERT_TRUE(npu) << error;
  ASSERT_EQ(delegate->report().delegated_nodes(), static_cast<int>(g.ops.size()))
      << name << ": " << format_placement_table(delegate->report());
  ASSERT_EQ(static_cast<size_t>(cpu->input_count()), inputs.size());
  for (int i = 0; i < cpu->input_count(); ++i) {
    const std::vector<uint8_t>& bytes = inputs[static_cast<size_t>(i)];
    ASSERT_TRUE(cpu->set_input(i, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(npu->set_input(i, bytes.data(), bytes.size()).ok());
  }
  ASSERT_TRUE(cpu->invoke().ok());
  const Status s = npu->invoke();
  ASSERT_TRUE(s.ok()) << name << ": " << s.message();
  ASSERT_TRUE(cpu->get_output(0, want).ok());
  ASSERT_TRUE(npu->get_output(0, got).ok());
  ASSERT_EQ(want->size(), got->size());
}

// Runs `g` once on TFLite's CPU kernels and once through the delegate on the
// rocket device (every node delegated), with the same random inputs, and
// adds the comparison to `stats`.
inline void add_layer_agreement(const ir::Graph& g, const std::string& name, uint64_t seed, LayerAgreement* stats) {
  std::vector<std::vector<uint8_t>> inputs;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const ir::Tensor& t = g.tensor(g.inputs[i]);
    double lo = 0, hi = 0;
    dtype_range(t.dtype, &lo, &hi);
    Rng rng(Rng::combine(seed, static_cast<uint64_t>(i)));
    inputs.push_back(random_values(t.dtype, t.num_elements(), lo, hi, &rng));
  }
  std::vector<uint8_t> want, got;
  run_cpu_and_rocket(g, name, inputs, &want, &got);
  if (::testing::Test::HasFatalFailure()) return;
  const bool is_signed = g.tensor(g.outputs[0]).dtype == ir::DType::kInt8;
  auto value = [&](uint8_t b) { return is_signed ? static_cast<int>(static_cast<int8_t>(b)) : static_cast<int>(b); };
  int64_t differing = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const int d = std::abs(value(want[k]) - value(got[k]));
    stats->off_by_one += d == 1;
    stats->off_by_more += d > 1;
    differing += d != 0;
  }
  ++stats->layers;
  stats->outputs += static_cast<int64_t>(want.size());
  const double rate = want.empty() ? 0 : static_cast<double>(differing) / static_cast<double>(want.size());
  if (rate > stats->worst_layer_rate) {
    stats->worst_layer_rate = rate;
    stats->worst_layer = name;
  }
}

// Every op of `model` of the given types, alone (see add_layer_agreement).
inline LayerAgreement measure_layers(const std::string& model, const std::vector<ir::OpType>& types) {
  LayerAgreement stats;
  ir::Graph g;
  EXPECT_TRUE(golden::load_model(golden::model_path(model), &g));
  for (const ir::Operation& op : g.ops) {
    if (std::find(types.begin(), types.end(), op.type) == types.end()) continue;
    const std::string name = std::string(ir::op_name(op.type)) + "#" + std::to_string(op.source_index);
    add_layer_agreement(single_op(g, op), name, 7 + static_cast<uint64_t>(op.source_index), &stats);
  }
  return stats;
}

inline void print_layer_agreement(const std::string& what, const LayerAgreement& s) {
  std::printf("[ layers   ] %s: %d layers, %lld of %lld outputs differ (%.4f %%: %lld by 1, %lld by more); "
              "worst layer %s %.3f %%\n",
              what.c_str(), s.layers, static_cast<long long>(s.off_by_one + s.off_by_more),
              static_cast<long long>(s.outputs), 100 * s.rate(), static_cast<long long>(s.off_by_one),
              static_cast<long long>(s.off_by_more), s.worst_layer.c_str(), 100 * s.worst_layer_rate);
}

}  // namespace nonstick::testing
