// ADD through the rocket backend on the virtual RK3588 against TFLite 2.9:
// standalone (identity convolution of one operand plus the other through the
// DPU's element-wise stage) and fused into the convolution producing one
// operand, plus the lowering decisions themselves.
//
// Tolerance 1: the OUT_CVT multiplier has a 15-bit mantissa (TFLite: 31 bits,
// with 20 extra fractional bits inside its ADD); the standalone form keeps 6
// fractional bits below the first operand's step, and the fused form skips
// TFLite's rounding of the convolution output, which lowering only allows
// when that moves the result by less than one step (lower.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/rocket/lower.h"
#include "golden.h"
#include "no_fallback.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;

constexpr int kTolerance = 1;  // see the top of the file

struct AddCase {
  std::string name;
  DType dtype = DType::kUInt8;
  std::vector<int32_t> shape = {1, 5, 7, 16};
  float sa = 0.05f, sb = 0.03f, so = 0.07f;
  int32_t za = 120, zb = 135, zo = 128;
  Activation act = Activation::kNone;
  bool b_constant = false;
};

class RocketAdd : public ::testing::TestWithParam<AddCase> {};

TEST_P(RocketAdd, MatchesTflite) {
  const AddCase& c = GetParam();
  const int32_t shift = c.dtype == DType::kUInt8 ? 0 : 128;
  GraphBuilder b(41);
  const int a = b.input(c.dtype, c.shape, c.sa, c.za - shift);
  const int in_b = c.b_constant ? b.random_constant(c.dtype, c.shape, c.sb, c.zb - shift)
                                : b.input(c.dtype, c.shape, c.sb, c.zb - shift);
  const int out = b.tensor(c.dtype, c.shape, c.so, c.zo - shift);
  ir::ElementwiseParams p;
  p.activation = c.act;
  b.op(ir::OpType::kAdd, {a, in_b}, {out}, p);
  b.mark_output(out);
  expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = kTolerance});
}

std::vector<AddCase> add_cases() {
  std::vector<AddCase> v;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const std::string s = t == DType::kUInt8 ? "_u8" : "_i8";
    auto add = [&](std::string name, auto&& edit) {
      AddCase c;
      c.dtype = t;
      edit(c);
      c.name = name + s;
      v.push_back(c);
    };
    for (int ch : {1, 3, 16, 17, 64, 256}) {
      add("c" + std::to_string(ch), [&](AddCase& c) { c.shape = {1, 4, 6, ch}; });
    }
    add("b_coarser", [](AddCase& c) { c.sa = 0.02f; c.sb = 0.09f; });
    add("equal_scales", [](AddCase& c) { c.sa = c.sb = 0.04f; c.so = 0.08f; });
    add("fine_output", [](AddCase& c) { c.so = 0.01f; });  // saturates a lot
    add("zero_points_extreme", [](AddCase& c) { c.za = 0; c.zb = 255; c.zo = 3; });
    add("relu_midzp", [](AddCase& c) { c.act = Activation::kRelu; c.zo = 100; });
    add("relu6_midzp", [](AddCase& c) { c.act = Activation::kRelu6; c.zo = 90; c.so = 0.05f; });
    add("rank2", [](AddCase& c) { c.shape = {3, 40}; });
    add("wide_1x300x8", [](AddCase& c) { c.shape = {1, 1, 300, 8}; });
    add("constant_operand", [](AddCase& c) { c.b_constant = true; });
    add("constant_first_operand_coarser", [](AddCase& c) { c.b_constant = true; c.sb = 0.2f; });
  }
  return v;
}

TEST(RocketAddSame, TensorAddedToItself) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    GraphBuilder b(42);
    const int a = b.input(t, {1, 3, 5, 20}, 0.05f, t == DType::kUInt8 ? 120 : -8);
    const int out = b.tensor(t, {1, 3, 5, 20}, 0.09f, t == DType::kUInt8 ? 128 : 0);
    b.op(ir::OpType::kAdd, {a, a}, {out}, ir::ElementwiseParams{});
    b.mark_output(out);
    expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = kTolerance});
  }
}

INSTANTIATE_TEST_SUITE_P(Sweep, RocketAdd, ::testing::ValuesIn(add_cases()),
                         [](const ::testing::TestParamInfo<AddCase>& i) { return i.param.name; });

// ---- CONV_2D -> ADD: fused when the convolution's output cannot saturate.

struct FusedGraph {
  ir::Graph graph;
  int conv_out = -1;
};

// x [1,6,5,4] -> 1x1 conv -> y [1,6,5,C]; out = y + e. `y_scale_factor`
// scales y's step against the exact no-saturation bound (>= 1: cannot saturate).
FusedGraph conv_add_graph(DType dtype, int channels, float y_scale_factor, bool y_is_output,
                          Activation add_act = Activation::kNone) {
  const bool u8 = dtype == DType::kUInt8;
  GraphBuilder b(43);
  const float sx = 0.02f, sw = 0.01f;
  const int x = b.input(dtype, {1, 6, 5, 4}, sx, u8 ? 128 : 0);
  const int w = b.random_constant(dtype, {channels, 1, 1, 4}, sw, u8 ? 125 : 0);
  const int bias = b.random_constant(DType::kInt32, {channels}, sx * sw, 0, 3000);
  // Largest |accumulator| any input gives: sum |w - zw| * 255 + |bias|.
  double worst = 0;
  const ir::Tensor& wt = b.graph().tensor(w);
  const ir::Tensor& bt = b.graph().tensor(bias);
  for (int o = 0; o < channels; ++o) {
    double sum = 0;
    for (int k = 0; k < 4; ++k) {
      const uint8_t raw = wt.data[static_cast<size_t>(o * 4 + k)];
      sum += std::abs(u8 ? raw - 125.0 : static_cast<double>(static_cast<int8_t>(raw)));
    }
    worst = std::max(worst, sum * 255 + std::abs(bt.values<int32_t>()[static_cast<size_t>(o)]));
  }
  const float sy = static_cast<float>(worst * sx * sw / 120.0) * y_scale_factor;
  const int y = b.tensor(dtype, {1, 6, 5, channels}, sy, u8 ? 128 : 0);
  const int e = b.input(dtype, {1, 6, 5, channels}, sy * 0.7f, u8 ? 140 : 12);
  const int out = b.tensor(dtype, {1, 6, 5, channels}, sy * 1.1f, u8 ? 125 : -3);
  ir::ConvParams p;
  b.op(ir::OpType::kConv2D, {x, w, bias}, {y}, p);
  ir::ElementwiseParams ep;
  ep.activation = add_act;
  b.op(ir::OpType::kAdd, {y, e}, {out}, ep);
  b.mark_output(out);
  if (y_is_output) b.mark_output(y);
  return {b.graph(), y};
}

std::vector<rocket::NpuConv> lowered(const ir::Graph& g) {
  std::vector<rocket::NpuConv> ops;
  const Status s = rocket::lower_graph(g, &ops);
  EXPECT_TRUE(s.ok()) << s.message();
  return ops;
}

TEST(RocketFusedAdd, FusesWhenTheConvolutionCannotSaturate) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (int channels : {8, 40}) {
      const FusedGraph f = conv_add_graph(t, channels, 1.0f, false);
      const auto ops = lowered(f.graph);
      ASSERT_EQ(ops.size(), 1u);
      EXPECT_NE(ops[0].label.find("+ADD"), std::string::npos) << ops[0].label;
      EXPECT_TRUE(ops[0].has_addend());
      expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kTolerance});
    }
  }
}

TEST(RocketFusedAdd, FusedAddWithRelu6) {
  const FusedGraph f = conv_add_graph(DType::kUInt8, 16, 1.0f, false, Activation::kRelu6);
  ASSERT_EQ(lowered(f.graph).size(), 1u);
  expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kTolerance});
}

TEST(RocketFusedAdd, StaysSeparateWhenTheConvolutionCanSaturate) {
  // y's step too fine for the worst-case accumulator: TFLite clamps y.
  const FusedGraph f = conv_add_graph(DType::kUInt8, 8, 0.25f, false);
  const auto ops = lowered(f.graph);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(rocket::fusion_blocker(f.graph, ops[0], ops[1]), "the convolution's output can saturate before the ADD");
  expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kTolerance});
}

TEST(RocketFusedAdd, StaysSeparateWhenTheConvolutionOutputIsAlsoAnOutput) {
  const FusedGraph f = conv_add_graph(DType::kInt8, 8, 1.0f, true);
  const auto ops = lowered(f.graph);
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(rocket::fusion_blocker(f.graph, ops[0], ops[1]), "the convolution's output leaves the partition");
  expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kTolerance});
}

TEST(RocketFusedAdd, DepthwiseProducerIsNotFused) {
  GraphBuilder b(47);
  const int x = b.input(DType::kUInt8, {1, 4, 4, 16}, 0.02f, 128);
  const int w = b.random_constant(DType::kUInt8, {1, 1, 1, 16}, 0.01f, 128);
  const int bias = b.constant(DType::kInt32, {16}, std::vector<uint8_t>(64, 0), 0.0002f, 0);
  const int y = b.tensor(DType::kUInt8, {1, 4, 4, 16}, 1.0f, 128);  // cannot saturate
  const int e = b.input(DType::kUInt8, {1, 4, 4, 16}, 0.5f, 128);
  const int out = b.tensor(DType::kUInt8, {1, 4, 4, 16}, 1.0f, 128);
  b.op(ir::OpType::kDepthwiseConv2D, {x, w, bias}, {y}, ir::ConvParams{});
  b.op(ir::OpType::kAdd, {y, e}, {out}, ir::ElementwiseParams{});
  b.mark_output(out);
  const auto ops = lowered(b.graph());
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(rocket::fusion_blocker(b.graph(), ops[0], ops[1]), "fusing into a depthwise convolution is not evidenced");
  expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = kTolerance});
}

// MobileNetV2's residual ADDs follow linear projection convolutions whose
// int8 output TFLite clamps; no input bound rules that out, so all ten stay
// separate ADD tasks (Mesa fuses them and skips the clamp).
TEST(RocketFusedAdd, MobilenetV2AddsStaySeparate) {
  NONSTICK_REQUIRE_SHARED_DATA();
  ir::Graph g;
  ASSERT_TRUE(golden::load_model(golden::model_path("mobilenet_v2_1.0_224_quant"), &g));
  int adds = 0;
  for (size_t i = 0; i + 1 < g.ops.size(); ++i) {
    if (g.ops[i + 1].type != ir::OpType::kAdd) continue;
    rocket::NpuConv conv, add;
    ASSERT_TRUE(rocket::lower_op(g, g.ops[i], static_cast<int>(i), &conv).supported);
    ASSERT_TRUE(rocket::lower_op(g, g.ops[i + 1], static_cast<int>(i + 1), &add).supported);
    EXPECT_EQ(rocket::fusion_blocker(g, conv, add), "the convolution's output can saturate before the ADD")
        << conv.label << " + " << add.label;
    ++adds;
  }
  EXPECT_EQ(adds, 10);
}

}  // namespace
}  // namespace nonstick::testing
