// LOGISTIC, HARD_SWISH, RELU and RELU6 on the reference backend against
// TFLite's CPU kernels, bit for bit. Each case has a 2048-element shape (all
// 256 input values occur) or an odd small one; quantizations come from the
// real models (YOLOv8n's SiLU sigmoid, SSD's class scores, MobileNetV3's
// hard-swish) plus the edges of what TFLite accepts: hard-swish output scales
// just above input/128, input scales either side of the "reluish" multiplier's
// exponent changing sign, RELU/RELU6 requantizing to smaller and larger
// output scales, zero points at the ends of the range.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "support/op_harness.h"
#include "support/test_names.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

struct Quant {
  float scale;
  int32_t zero_point;
};

struct UnaryCase {
  OpType op;
  DType dtype;
  std::vector<int32_t> shape;
  Quant in, out;
};

std::string unary_name(const UnaryCase& c) {
  std::string name =
      std::string(ir::op_name(c.op)) + "_" + std::string(ir::dtype_name(c.dtype)) + "_";
  for (size_t i = 0; i < c.shape.size(); ++i) name += (i ? "x" : "") + std::to_string(c.shape[i]);
  return name + "_in_s" + num(c.in.scale) + "_z" + num(c.in.zero_point) + "_out_s" +
         num(c.out.scale) + "_z" + num(c.out.zero_point);
}

void PrintTo(const UnaryCase& c, std::ostream* os) { *os << unary_name(c); }

class ActivationOp : public ::testing::TestWithParam<UnaryCase> {};

TEST_P(ActivationOp, MatchesTflite) {
  const UnaryCase& c = GetParam();
  GraphBuilder b(4);
  int in = b.input(c.dtype, c.shape, c.in.scale, c.in.zero_point);
  int out = b.tensor(c.dtype, c.shape, c.out.scale, c.out.zero_point);
  b.op(c.op, {in}, {out});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<UnaryCase> activation_cases() {
  const std::vector<std::vector<int32_t>> odd_shapes = {
      {1, 7, 7, 3}, {5}, {2, 3, 17}, {1, 1, 1, 1}};
  const std::vector<int32_t> full = {1, 16, 16, 8};
  std::vector<UnaryCase> cases;
  // Quantizations are written for uint8; int8 shifts the zero points by -128.
  auto add = [&](OpType op, Quant in, Quant out) {
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      const int32_t shift = t == DType::kInt8 ? -128 : 0;
      const Quant i{in.scale, in.zero_point + shift}, o{out.scale, out.zero_point + shift};
      cases.push_back({op, t, full, i, o});
      const size_t n = cases.size();
      cases.push_back({op, t, odd_shapes[n % odd_shapes.size()], i, o});
    }
  };
  const float k256 = 1.0f / 256;
  add(OpType::kLogistic, {0.0837998f, 158}, {k256, 0});   // YOLOv8n SiLU
  add(OpType::kLogistic, {0.0497368f, 223}, {k256, 0});   // SSD class scores
  add(OpType::kLogistic, {0.854146f, 128}, {k256, 0});    // saturates both ways
  add(OpType::kLogistic, {0.002f, 128}, {k256, 0});       // stays near one half
  add(OpType::kLogistic, {0.1f, 100}, {k256, 128});       // zero point TFLite leaves free
  add(OpType::kHardSwish, {0.292073f, 99}, {0.173324f, 2});    // MobileNetV3
  add(OpType::kHardSwish, {0.0578348f, 170}, {0.01954f, 19});  // MobileNetV3
  add(OpType::kHardSwish, {0.910687f, 131}, {0.402124f, 1});   // MobileNetV3
  add(OpType::kHardSwish, {0.005f, 128}, {0.003f, 10});        // reluish exponent < 0
  add(OpType::kHardSwish, {0.5f, 128}, {0.5f / 127, 0});       // output scale near the limit
  add(OpType::kHardSwish, {0.1f, 100}, {0.1f, 100});
  add(OpType::kRelu, {0.05f, 128}, {0.05f, 128});
  add(OpType::kRelu, {0.05f, 100}, {0.03f, 0});
  add(OpType::kRelu, {0.03f, 255}, {0.1f, 3});
  add(OpType::kRelu6, {0.05f, 128}, {0.05f, 128});     // 6 / scale = 120 above the zero point
  add(OpType::kRelu6, {0.05f, 100}, {0.03f, 0});
  add(OpType::kRelu6, {0.01f, 0}, {0.01f, 255});       // 6 is far out of range
  add(OpType::kRelu6, {0.2f, 30}, {0.05f, 5});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, ActivationOp, ::testing::ValuesIn(activation_cases()),
                         [](const ::testing::TestParamInfo<UnaryCase>& info) {
                           return unary_name(info.param);
                         });

std::string refusal(OpType op, DType t, Quant in, Quant out) {
  GraphBuilder b;
  int x = b.input(t, {2, 8}, in.scale, in.zero_point);
  int y = b.tensor(t, {2, 8}, out.scale, out.zero_point);
  b.op(op, {x}, {y});
  std::string error;
  auto backend = create_backend("reference", &error);
  Support s = backend->supports(b.graph(), b.graph().ops[0]);
  return s.supported ? "supported" : s.reason;
}

TEST(ActivationCheck, RefusesWhatTfliteRejectsAndOtherTypes) {
  EXPECT_EQ(refusal(OpType::kLogistic, DType::kInt8, {0.1f, 0}, {1.0f / 255, -128}),
            "output scale must be 1/256");
  EXPECT_EQ(refusal(OpType::kHardSwish, DType::kUInt8, {0.5f, 0}, {0.5f / 128, 0}),
            "output scale below input scale / 128");
  EXPECT_EQ(refusal(OpType::kRelu, DType::kInt16, {0.1f, 0}, {0.1f, 0}), "int16 not supported");
  EXPECT_EQ(refusal(OpType::kRelu6, DType::kUInt8, {0.1f, 0}, {0.0f, 0}), "non-positive scale");
  EXPECT_EQ(refusal(OpType::kRelu6, DType::kUInt8, {0.1f, 0}, {1e-9f, 0}),
            "activation bound beyond int32");
  EXPECT_EQ(refusal(OpType::kRelu, DType::kInt8, {0.1f, 0}, {1e-8f, 0}),
            "rescale factor of 2^23 or more");
}

}  // namespace
}  // namespace nonstick::testing
