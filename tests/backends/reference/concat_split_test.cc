// CONCATENATION and SPLIT on the reference backend against TFLite's CPU
// kernels, bit for bit: axes (negative ones too, normalised by the front
// end), ranks 1-4, odd sizes, uint8/int8 and wider copy types, and uint8
// concatenation of inputs whose quantization differs from the output's.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

std::string tag(DType t) { return std::string(ir::dtype_name(t)); }

std::string signed_tag(int v) { return v < 0 ? "m" + std::to_string(-v) : std::to_string(v); }

// ---- CONCATENATION ----

struct QuantParams {
  float scale;
  int32_t zero_point;
};

struct ConcatCase {
  std::string label;
  DType dtype;
  std::vector<int32_t> shape;  // of the first input
  int axis;                    // as written to the model, may be negative
  std::vector<int32_t> axis_sizes;  // per input, along the axis
  std::vector<QuantParams> input_quant;  // empty: all equal to the output's
  QuantParams output_quant{0.05f, 3};
};

std::string concat_name(const ConcatCase& c) {
  std::string name = tag(c.dtype) + "_shape";
  for (int32_t d : c.shape) name += "_" + std::to_string(d);
  name += "_axis" + signed_tag(c.axis) + "_in" + std::to_string(c.axis_sizes.size());
  for (int32_t s : c.axis_sizes) name += "_" + std::to_string(s);
  name += c.input_quant.empty() ? "_samequant" : "_mixedquant";
  if (!c.label.empty()) name += "_" + c.label;
  return name;
}

// Readable parameters in failure messages and test listings.
void PrintTo(const ConcatCase& c, std::ostream* os) { *os << concat_name(c); }

class Concatenation : public ::testing::TestWithParam<ConcatCase> {};

TEST_P(Concatenation, MatchesTflite) {
  const ConcatCase& c = GetParam();
  const int rank = static_cast<int>(c.shape.size());
  const int axis = c.axis < 0 ? c.axis + rank : c.axis;
  GraphBuilder b(11);
  std::vector<int> inputs;
  std::vector<int32_t> out_shape = c.shape;
  out_shape[static_cast<size_t>(axis)] = 0;
  for (size_t i = 0; i < c.axis_sizes.size(); ++i) {
    std::vector<int32_t> shape = c.shape;
    shape[static_cast<size_t>(axis)] = c.axis_sizes[i];
    out_shape[static_cast<size_t>(axis)] += c.axis_sizes[i];
    const QuantParams q = c.input_quant.empty() ? c.output_quant : c.input_quant[i];
    inputs.push_back(b.input(c.dtype, shape, q.scale, q.zero_point));
  }
  int out = b.tensor(c.dtype, out_shape, c.output_quant.scale, c.output_quant.zero_point);
  b.op(OpType::kConcatenation, inputs, {out}, ir::ConcatParams{c.axis, ir::Activation::kNone});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<ConcatCase> concat_cases() {
  std::vector<ConcatCase> cases;
  // Every axis of ranks 1-4, equal quantization (a pure copy), both 8-bit types.
  const std::vector<std::vector<int32_t>> shapes = {{5}, {3, 7}, {2, 5, 3}, {2, 3, 5, 4}};
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (const auto& shape : shapes) {
      const int rank = static_cast<int>(shape.size());
      for (int axis = 0; axis < rank; ++axis) cases.push_back({"", t, shape, axis, {2, 3}, {}});
      cases.push_back({"", t, shape, -1, {1, 4, 2}, {}});
    }
  }
  // Channel concatenation at channel counts 1, 3, 8, 17; negative axes.
  for (int32_t ch : {1, 3, 8, 17}) {
    cases.push_back({"", DType::kUInt8, {1, 4, 5, ch}, 3, {ch, 17, 1}, {}});
    cases.push_back({"", DType::kInt8, {1, 4, 5, ch}, -1, {ch, 8}, {}});
  }
  cases.push_back({"", DType::kInt8, {2, 3, 4, 5}, -4, {1, 2}, {}});
  cases.push_back({"", DType::kUInt8, {2, 3, 4, 5}, -3, {3, 1}, {}});
  // split_concat.tflite's pattern.
  cases.push_back({"model", DType::kUInt8, {1, 8, 8, 3}, 3, {3, 1, 2}, {}, {0.0078125f, 128}});
  // uint8 requantization: ties (scale ratio 1/2), larger and smaller output
  // scales, saturation at both ends, one input already equal to the output.
  const QuantParams out{0.1f, 128};
  const DType u8 = DType::kUInt8;
  cases.push_back({"ties", u8, {1, 3, 3, 8}, 3, {8, 8}, {{0.05f, 128}, {0.05f, 127}}, out});
  cases.push_back({"wider", u8, {1, 3, 3, 3}, 3, {3, 17}, {{0.3f, 100}, {0.7f, 10}}, out});
  cases.push_back({"narrower", u8, {1, 3, 3, 3}, 3, {3, 1}, {{0.01f, 0}, {0.02f, 255}}, out});
  cases.push_back({"oneequal", u8, {1, 2, 5, 3}, 1, {2, 3, 1},
                   {{0.1f, 128}, {0.0625f, 90}, {0.1f, 128}}, out});
  cases.push_back({"zpshift", u8, {4, 6}, 0, {4, 3}, {{0.1f, 0}, {0.1f, 200}}, out});
  cases.push_back({"rank1", u8, {7}, 0, {7, 9}, {{0.123f, 77}, {0.0311f, 3}}, {0.0917f, 61}});
  // SSD's class-score concatenation: six inputs, six scales, odd output scale.
  cases.push_back({"ssd",
                   u8,
                   {1, 6, 91},
                   1,
                   {12, 7, 5, 3, 2, 1},
                   {{0.0482365f, 230}, {0.0412184f, 216}, {0.0362418f, 213}, {0.0356398f, 215},
                    {0.027209f, 226}, {0.0277297f, 214}},
                   {0.0497368f, 223}});
  // Wider types are copies (int16 needs zero points of 0 in TFLite).
  cases.push_back({"", DType::kInt16, {2, 3, 5}, 2, {5, 2}, {}, {0.001f, 0}});
  cases.push_back({"", DType::kInt32, {2, 3, 5}, 1, {3, 4}, {}, {1.0f, 0}});
  cases.push_back({"", DType::kFloat32, {3, 5}, 0, {3, 1}, {}, {1.0f, 0}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Concatenation, ::testing::ValuesIn(concat_cases()),
                         [](const auto& info) { return concat_name(info.param); });

TEST(ConcatenationCheck, RefusesInt8WithDifferentQuantization) {
  GraphBuilder b;
  int a = b.input(DType::kInt8, {1, 2, 2, 3}, 0.1f, 0);
  int c = b.input(DType::kInt8, {1, 2, 2, 3}, 0.2f, 0);
  int out = b.tensor(DType::kInt8, {1, 2, 2, 6}, 0.1f, 0);
  b.op(OpType::kConcatenation, {a, c}, {out}, ir::ConcatParams{3, ir::Activation::kNone});
  const ir::Graph& g = b.graph();
  EXPECT_FALSE(reference::find_kernel(OpType::kConcatenation)->check(g, g.ops[0]).supported);
}

TEST(ConcatenationCheck, RefusesFusedActivation) {
  GraphBuilder b;
  int a = b.input(DType::kUInt8, {1, 2, 2, 3}, 0.1f, 0);
  int out = b.tensor(DType::kUInt8, {1, 2, 2, 6}, 0.1f, 0);
  b.op(OpType::kConcatenation, {a, a}, {out}, ir::ConcatParams{3, ir::Activation::kRelu});
  const ir::Graph& g = b.graph();
  EXPECT_FALSE(reference::find_kernel(OpType::kConcatenation)->check(g, g.ops[0]).supported);
}

// ---- SPLIT ----

struct SplitCase {
  DType dtype;
  std::vector<int32_t> shape;
  int axis;  // as written to the model, may be negative
  int num_splits;
};

std::string split_name(const SplitCase& c) {
  std::string name = tag(c.dtype) + "_shape";
  for (int32_t d : c.shape) name += "_" + std::to_string(d);
  return name + "_axis" + signed_tag(c.axis) + "_splits" + std::to_string(c.num_splits);
}

// Readable parameters in failure messages and test listings.
void PrintTo(const SplitCase& c, std::ostream* os) { *os << split_name(c); }

class Split : public ::testing::TestWithParam<SplitCase> {};

TEST_P(Split, MatchesTflite) {
  const SplitCase& c = GetParam();
  const int axis = c.axis < 0 ? c.axis + static_cast<int>(c.shape.size()) : c.axis;
  GraphBuilder b(5);
  int in = b.input(c.dtype, c.shape, 0.0078125f, c.dtype == DType::kUInt8 ? 128 : 0);
  std::vector<int32_t> piece = c.shape;
  piece[static_cast<size_t>(axis)] /= c.num_splits;
  std::vector<int> outs;
  for (int i = 0; i < c.num_splits; ++i) {
    outs.push_back(b.tensor(c.dtype, piece, 0.0078125f, c.dtype == DType::kUInt8 ? 128 : 0));
  }
  b.op(OpType::kSplit, {in}, outs, ir::SplitParams{c.axis, c.num_splits});
  for (int o : outs) b.mark_output(o);
  expect_matches_tflite(b.graph());
}

std::vector<SplitCase> split_cases() {
  std::vector<SplitCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    cases.push_back({t, {6}, 0, 3});
    cases.push_back({t, {4, 9}, 1, 3});
    cases.push_back({t, {4, 9}, -2, 2});
    cases.push_back({t, {2, 6, 5}, 1, 2});
    cases.push_back({t, {3, 5, 4}, 2, 4});
    cases.push_back({t, {1, 8, 8, 6}, 3, 6});   // split_concat.tflite
    cases.push_back({t, {2, 3, 5, 17}, 0, 2});
    cases.push_back({t, {1, 9, 5, 3}, 1, 3});
    cases.push_back({t, {1, 4, 6, 8}, -2, 3});
    cases.push_back({t, {1, 3, 5, 8}, -1, 1});
  }
  cases.push_back({DType::kInt16, {2, 4, 6}, 2, 3});
  cases.push_back({DType::kInt32, {2, 4, 6}, 1, 2});
  cases.push_back({DType::kFloat32, {6, 5}, 0, 3});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Split, ::testing::ValuesIn(split_cases()),
                         [](const auto& info) { return split_name(info.param); });

}  // namespace
}  // namespace nonstick::testing
