// ADD, SUB and MUL on the reference backend against TFLite's CPU kernels, bit
// for bit: same-shape and broadcast operands (channel vectors of 1, 3, 8, 17
// and 64, scalars, rank mismatches as in YOLOv8's box decoding, middle-dim
// and 5-D/6-D broadcasts), quantizations taken from the real models plus equal,
// very different and shrinking scales, every fused activation, constant
// operands, and an all-pairs case per op and type that meets every pair of
// input values. Also: what the kernels refuse, and why.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;
using ir::OpType;

struct Quant {
  float scale;
  int32_t zero_point;
};

struct QuantSet {
  std::string name;
  Quant a, b, out;
};

struct BinaryCase {
  OpType op;
  DType dtype;
  std::vector<int32_t> shape_a, shape_b;
  QuantSet quant;
  Activation act = Activation::kNone;
  bool constant_b = false;
};

std::string dims(const std::vector<int32_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (int32_t d : shape) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

std::string binary_name(const BinaryCase& c) {
  std::string name = std::string(ir::op_name(c.op)) + "_" + std::string(ir::dtype_name(c.dtype)) +
                     "_" + dims(c.shape_a) + "_by_" + dims(c.shape_b) + "_" + c.quant.name + "_" +
                     std::string(ir::activation_name(c.act));
  return c.constant_b ? name + "_const" : name;
}

void PrintTo(const BinaryCase& c, std::ostream* os) { *os << binary_name(c); }

std::vector<int32_t> broadcast_shape(std::vector<int32_t> a, std::vector<int32_t> b) {
  if (a.size() < b.size()) std::swap(a, b);
  for (size_t i = 0; i < b.size(); ++i) {
    int32_t& d = a[a.size() - b.size() + i];
    if (d == 1) d = b[i];
  }
  return a;
}

// Quantizations per op and type. The first of each list comes from a real
// model (MobileNetV2/V3, YOLOv8n); the rest stress the rescaling.
std::vector<QuantSet> quant_sets(OpType op, DType t) {
  const bool u8 = t == DType::kUInt8;
  const int32_t lo = u8 ? 0 : -128;
  if (op == OpType::kMul) {
    return {
        // Squeeze-excite gate (MobileNetV3) / SiLU's x * sigmoid(x) (YOLOv8n).
        u8 ? QuantSet{"model", {0.122352f, 3}, {0.00392151f, 0}, {0.0494207f, 7}}
           : QuantSet{"model", {0.0837998f, 30}, {1.0f / 256, -128}, {0.0328987f, -120}},
        {"equal", {0.05f, lo + 128}, {0.05f, lo + 128}, {0.05f, lo + 128}},
        {"far", {0.002f, lo + 3}, {0.9f, lo + 250}, {0.01f, lo + 20}},
        {"gain25", {0.5f, lo + 100}, {0.5f, lo + 140}, {0.01f, lo + 128}},
        {"gain0p001", {0.01f, lo + 7}, {0.01f, lo + 200}, {0.1f, lo + 128}},
    };
  }
  return {
      u8 ? QuantSet{"model", {0.401493f, 136}, {0.275834f, 119}, {0.432169f, 133}}
         : QuantSet{"model", {0.245535f, -7}, {0.360849f, -3}, {0.402906f, -1}},
      {"equal", {0.05f, lo + 128}, {0.05f, lo + 128}, {0.05f, lo + 128}},
      {"far", {0.002f, lo + 3}, {0.9f, lo + 250}, {1.0f, lo + 20}},
      {"outsmall", {0.3f, lo + 100}, {0.2f, lo + 140}, {0.05f, lo + 128}},
      {"zpedges", {0.1f, lo}, {0.15f, lo + 255}, {0.2f, lo + 255}},
  };
}

class Elementwise : public ::testing::TestWithParam<BinaryCase> {};

TEST_P(Elementwise, MatchesTflite) {
  const BinaryCase& c = GetParam();
  GraphBuilder b(5);
  const QuantSet& q = c.quant;
  int x = b.input(c.dtype, c.shape_a, q.a.scale, q.a.zero_point);
  int y = c.constant_b ? b.random_constant(c.dtype, c.shape_b, q.b.scale, q.b.zero_point)
                       : b.input(c.dtype, c.shape_b, q.b.scale, q.b.zero_point);
  int out = b.tensor(c.dtype, broadcast_shape(c.shape_a, c.shape_b), q.out.scale, q.out.zero_point);
  b.op(c.op, {x, y}, {out}, ir::ElementwiseParams{c.act});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<BinaryCase> binary_cases() {
  struct Shapes {
    std::vector<int32_t> a, b;
    bool constant_b;
  };
  const std::vector<Shapes> shapes = {
      {{1, 5, 7, 3}, {1, 5, 7, 3}, false},
      {{2, 3, 64}, {2, 3, 64}, false},
      {{1, 6, 5, 1}, {1, 1, 1, 1}, false},
      {{1, 6, 5, 3}, {1, 1, 1, 3}, false},
      {{1, 6, 5, 8}, {1, 1, 1, 8}, true},
      {{1, 3, 5, 17}, {1, 1, 1, 17}, false},
      {{1, 2, 3, 64}, {1, 1, 1, 64}, true},
      {{1, 1, 1, 8}, {1, 4, 3, 8}, false},        // first operand broadcasts
      {{1, 1, 1, 120}, {}, true},                 // MobileNetV3 hard sigmoid: x + 3
      {{2, 3, 5, 7}, {1, 1, 1, 1}, false},
      {{1, 1, 4, 21}, {1, 4, 21}, false},         // YOLOv8n box decoding
      {{1, 2, 21}, {1, 1, 1}, true},
      {{2, 1, 5, 3}, {1, 4, 1, 3}, false},        // both broadcast, middle dims
      {{3, 1}, {1, 5}, false},
      {{2, 3, 2, 3, 4}, {4}, false},              // 5-D, TFLite's fast path
      {{1, 2, 1, 3, 2, 3}, {1, 2, 1, 3, 2, 3}, false},
  };
  const std::vector<Activation> acts = {Activation::kNone, Activation::kRelu, Activation::kRelu6,
                                        Activation::kReluN1To1};
  std::vector<BinaryCase> cases;
  for (OpType op : {OpType::kAdd, OpType::kSub, OpType::kMul}) {
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      const std::vector<QuantSet> sets = quant_sets(op, t);
      for (const Shapes& s : shapes) {
        cases.push_back({op, t, s.a, s.b, sets[0], Activation::kNone, s.constant_b});
      }
      // Every quantization with a broadcast, then every activation.
      for (size_t i = 1; i < sets.size(); ++i) {
        cases.push_back({op, t, {1, 3, 5, 8}, {1, 1, 1, 8}, sets[i]});
      }
      for (size_t i = 1; i < acts.size(); ++i) {
        const bool odd = i % 2 == 1;
        const std::vector<int32_t> b_shape = odd ? std::vector<int32_t>{1, 3, 5, 8}
                                                 : std::vector<int32_t>{1, 1, 1, 8};
        cases.push_back({op, t, {1, 3, 5, 8}, b_shape, sets[odd ? 0 : 2], acts[i]});
      }
    }
  }
  // MobileNetV3's x + 3 feeding relu6, and SUB's 5-D generic broadcast.
  cases.push_back({OpType::kAdd, DType::kUInt8, {1, 1, 1, 16}, {},
                   {"hardsigmoid", {0.0144297f, 0}, {0.0117647f, 0}, {0.0235285f, 0}},
                   Activation::kRelu6, true});
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    cases.push_back(
        {OpType::kSub, t, {2, 1, 3, 1, 4}, {1, 3, 1, 2, 4}, quant_sets(OpType::kSub, t)[0]});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, Elementwise, ::testing::ValuesIn(binary_cases()),
                         [](const ::testing::TestParamInfo<BinaryCase>& info) {
                           return binary_name(info.param);
                         });

// Every pair of input values: 4096 random rows against a constant row of all
// 256 values, so near-tie roundings anywhere in the table are met.
struct AllPairsCase {
  OpType op;
  DType dtype;
  QuantSet quant;
};

class ElementwiseAllPairs : public ::testing::TestWithParam<AllPairsCase> {};

TEST_P(ElementwiseAllPairs, MatchesTflite) {
  const AllPairsCase& c = GetParam();
  GraphBuilder b(9);
  std::vector<uint8_t> all(256);
  for (size_t v = 0; v < all.size(); ++v) all[v] = static_cast<uint8_t>(v);
  int x = b.input(c.dtype, {4096, 1}, c.quant.a.scale, c.quant.a.zero_point);
  int y = b.constant(c.dtype, {1, 256}, all, c.quant.b.scale, c.quant.b.zero_point);
  int out = b.tensor(c.dtype, {4096, 256}, c.quant.out.scale, c.quant.out.zero_point);
  b.op(c.op, {x, y}, {out}, ir::ElementwiseParams{});
  b.mark_output(out);
  HarnessOptions options;
  options.invocations = 1;
  expect_matches_tflite(b.graph(), options);
}

std::vector<AllPairsCase> all_pairs_cases() {
  std::vector<AllPairsCase> cases;
  for (OpType op : {OpType::kAdd, OpType::kSub, OpType::kMul}) {
    for (DType t : {DType::kUInt8, DType::kInt8}) cases.push_back({op, t, quant_sets(op, t)[0]});
  }
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const bool u8 = t == DType::kUInt8;
    // Scales whose MUL multiplier differs when s1 * s2 / so is taken in double
    // rather than float: about 1 element in 2000 would be off by one.
    const int32_t zp = u8 ? 100 : 0;
    const QuantSet float_multiplier{
        "floatmultiplier", {0.118048869f, zp}, {0.0858690515f, zp}, {0.0143347895f, zp}};
    cases.push_back({OpType::kMul, t, float_multiplier});
    // Scales where subtracting the rescaled second input and adding it with a
    // negated multiplier differ (at (121, -129) from the zero points).
    cases.push_back({OpType::kSub, t,
                     {"subtie", {0.149619803f, u8 ? 0 : -128}, {0.132262096f, u8 ? 129 : 127},
                      {0.513369441f, 0}}});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, ElementwiseAllPairs, ::testing::ValuesIn(all_pairs_cases()),
                         [](const ::testing::TestParamInfo<AllPairsCase>& info) {
                           const AllPairsCase& c = info.param;
                           return std::string(ir::op_name(c.op)) + "_" +
                                  std::string(ir::dtype_name(c.dtype)) + "_" + c.quant.name;
                         });

// What is refused, with the reason the backend gives.
std::string refusal(OpType op, DType t, std::vector<int32_t> a, std::vector<int32_t> b_shape,
                    Quant out = {0.1f, 0}, Activation act = Activation::kNone) {
  GraphBuilder b;
  int x = b.input(t, a, 0.1f, 0);
  int y = b.input(t, b_shape, 0.1f, 0);
  int o = b.tensor(t, broadcast_shape(a, b_shape), out.scale, out.zero_point);
  b.op(op, {x, y}, {o}, ir::ElementwiseParams{act});
  std::string error;
  auto backend = create_backend("reference", &error);
  Support s = backend->supports(b.graph(), b.graph().ops[0]);
  return s.supported ? "supported" : s.reason;
}

TEST(ElementwiseCheck, RefusesWhatTfliteCannotRunOrWeDoNotImplement) {
  // TFLite 2.9 aborts on these generic 5-D broadcasts (ADD, MUL) and 6-D ones (SUB).
  EXPECT_EQ(refusal(OpType::kAdd, DType::kInt8, {2, 3, 4, 5, 6}, {2, 1, 4, 1, 6}),
            "broadcast pattern over more than 4 dims");
  EXPECT_EQ(refusal(OpType::kMul, DType::kUInt8, {2, 3, 4, 5, 6}, {2, 1, 4, 1, 6}),
            "broadcast pattern over more than 4 dims");
  EXPECT_EQ(refusal(OpType::kSub, DType::kInt8, {1, 2, 3, 4, 5, 6}, {6}),
            "SUB broadcast over more than 5 dims");
  EXPECT_EQ(refusal(OpType::kAdd, DType::kInt8, {2, 3, 4, 5, 6}, {1, 1, 1, 1, 6}), "supported");
  EXPECT_EQ(refusal(OpType::kAdd, DType::kInt16, {4}, {4}), "int16 not supported");
  EXPECT_EQ(refusal(OpType::kAdd, DType::kFloat32, {4}, {4}), "float32 not supported");
  EXPECT_EQ(refusal(OpType::kAdd, DType::kInt8, {4}, {4}, {1e-9f, 0}),
            "output scale below 2^-19 of the input scales");
  EXPECT_EQ(refusal(OpType::kMul, DType::kInt8, {4}, {4}, {1e-9f, 0}),
            "MUL rescale factor of 2^15 or more");
  // TFLite refuses a relu6 bound that does not fit int32 (6 / 1e-9 here).
  EXPECT_EQ(refusal(OpType::kAdd, DType::kUInt8, {4}, {4}, {1e-9f, 0}, Activation::kRelu6),
            "activation bound beyond int32");
}

}  // namespace
}  // namespace nonstick::testing
