// QUANTIZE and DEQUANTIZE on the reference backend against TFLite's CPU
// kernels, bit for bit: float32 to uint8/int8 (random floats spanning the
// output range plus 10% either side, and exact rounding ties), requantization
// between every pair of 8-bit types including the edges of
// tf2_mobilenet_v2_1.0_224_ptq (uint8 input -> int8, int8 -> uint8 output) and
// YOLOv8n's int8 -> int8 rescale, and uint8/int8 back to float32.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
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

struct ConvertCase {
  OpType op;
  DType from, to;
  std::vector<int32_t> shape;
  Quant in, out;  // the float side's entry is unused
};

std::string side(DType t, Quant q) {
  std::string name(ir::dtype_name(t));
  if (t == DType::kFloat32) return name;
  return name + "_s" + num(q.scale) + "_z" + num(q.zero_point);
}

std::string convert_name(const ConvertCase& c) {
  std::string name = std::string(ir::op_name(c.op)) + "_";
  for (size_t i = 0; i < c.shape.size(); ++i) name += (i ? "x" : "") + std::to_string(c.shape[i]);
  return name + "_" + side(c.from, c.in) + "_to_" + side(c.to, c.out);
}

void PrintTo(const ConvertCase& c, std::ostream* os) { *os << convert_name(c); }

class QuantizeDequantize : public ::testing::TestWithParam<ConvertCase> {};

TEST_P(QuantizeDequantize, MatchesTflite) {
  const ConvertCase& c = GetParam();
  GraphBuilder b(6);
  int in = b.input(c.from, c.shape, c.in.scale, c.in.zero_point);
  int out = b.tensor(c.to, c.shape, c.out.scale, c.out.zero_point);
  b.op(c.op, {in}, {out});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<ConvertCase> convert_cases() {
  const std::vector<int32_t> full = {1, 16, 16, 8};  // every 8-bit input value occurs
  const std::vector<int32_t> odd = {3, 7, 5};
  std::vector<ConvertCase> cases;
  const DType u8 = DType::kUInt8, i8 = DType::kInt8, f32 = DType::kFloat32;
  const Quant none{1.0f, 0};
  // float32 -> 8 bit.
  for (DType t : {u8, i8}) {
    const int32_t lo = t == u8 ? 0 : -128;
    for (Quant q : {Quant{1.0f / 255, lo}, Quant{0.00784314f, lo + 127}, Quant{0.1f, lo + 3},
                    Quant{0.5f, lo + 200}, Quant{0.002f, lo + 128}}) {
      cases.push_back({OpType::kQuantize, f32, t, full, none, q});
    }
    cases.push_back({OpType::kQuantize, f32, t, odd, none, {0.037f, lo + 90}});
  }
  // Requantization.
  const std::vector<ConvertCase> requant = {
      // tf2_mobilenet_v2 ptq's input and output, YOLOv8n's class scores.
      {OpType::kQuantize, u8, i8, {1, 16, 16, 3}, {0.00784314f, 127}, {0.00784314f, -1}},
      {OpType::kQuantize, i8, u8, {1, 1001}, {1.0f / 256, -128}, {1.0f / 256, 0}},
      {OpType::kQuantize, i8, i8, {1, 80, 21}, {1.0f / 256, -128}, {0.00419447f, -128}},
      {OpType::kQuantize, u8, u8, full, {0.1f, 10}, {0.05f, 200}},
      {OpType::kQuantize, u8, u8, odd, {0.1f, 10}, {0.1f, 10}},
      {OpType::kQuantize, i8, i8, full, {0.02f, 5}, {0.3f, -20}},
      {OpType::kQuantize, i8, i8, odd, {0.001f, 0}, {1.0f, 0}},
      {OpType::kQuantize, u8, i8, full, {0.05f, 128}, {0.01f, 0}},
      {OpType::kQuantize, i8, u8, full, {0.2f, -3}, {0.07f, 128}},
      {OpType::kQuantize, i8, u8, odd, {0.01f, 127}, {0.3f, 0}},
  };
  cases.insert(cases.end(), requant.begin(), requant.end());
  // 8 bit -> float32.
  const std::vector<ConvertCase> dequant = {
      {OpType::kDequantize, u8, f32, full, {0.00784314f, 127}, none},
      {OpType::kDequantize, i8, f32, full, {1.0f / 256, -128}, none},
      {OpType::kDequantize, u8, f32, odd, {0.3f, 0}, none},
      {OpType::kDequantize, i8, f32, odd, {0.001f, 100}, none},
      {OpType::kDequantize, i8, f32, full, {123.456f, -5}, none},
  };
  cases.insert(cases.end(), dequant.begin(), dequant.end());
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, QuantizeDequantize, ::testing::ValuesIn(convert_cases()),
                         [](const ::testing::TestParamInfo<ConvertCase>& info) {
                           return convert_name(info.param);
                         });

// Exact halves: x / scale = k + 0.5 for every k in range and beyond, both
// signs. TFLite rounds these away from zero (not to even).
class QuantizeTies : public ::testing::TestWithParam<DType> {};

TEST_P(QuantizeTies, RoundHalfAwayFromZero) {
  const DType t = GetParam();
  const float scale = 0.25f;
  std::vector<float> values;
  for (int k = -300; k <= 300; ++k) values.push_back(static_cast<float>(k) * scale / 2);
  std::vector<uint8_t> bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  const auto n = static_cast<int32_t>(values.size());
  GraphBuilder b(1);
  // A run-time input keeps the graph ordinary; the ties come from a constant.
  int x = b.input(DType::kFloat32, {4, 4});
  int ties = b.constant(DType::kFloat32, {n}, bytes);
  const int32_t zp = t == DType::kUInt8 ? 100 : -3;
  int y = b.tensor(t, {4, 4}, scale, zp);
  int z = b.tensor(t, {n}, scale, zp);
  b.op(OpType::kQuantize, {x}, {y});
  b.op(OpType::kQuantize, {ties}, {z});
  b.mark_output(y);
  b.mark_output(z);
  expect_matches_tflite(b.graph());
}

INSTANTIATE_TEST_SUITE_P(Sweep, QuantizeTies, ::testing::Values(DType::kUInt8, DType::kInt8),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(ir::dtype_name(info.param));
                         });

std::string refusal(OpType op, DType from, DType to, float out_scale = 0.1f) {
  GraphBuilder b;
  int x = b.input(from, {2, 8}, 0.1f, 0);
  int y = b.tensor(to, {2, 8}, out_scale, 0);
  b.op(op, {x}, {y});
  std::string error;
  auto backend = create_backend("reference", &error);
  Support s = backend->supports(b.graph(), b.graph().ops[0]);
  return s.supported ? "supported" : s.reason;
}

TEST(QuantizeCheck, RefusesSixteenBitFloatOutputsAndHugeRescales) {
  EXPECT_EQ(refusal(OpType::kQuantize, DType::kFloat32, DType::kInt16),
            "int16 output not supported");
  EXPECT_EQ(refusal(OpType::kQuantize, DType::kInt16, DType::kInt8), "int16 input not supported");
  EXPECT_EQ(refusal(OpType::kDequantize, DType::kInt16, DType::kFloat32),
            "int16 input not supported");
  EXPECT_EQ(refusal(OpType::kDequantize, DType::kInt8, DType::kInt8), "int8 output not supported");
  // (q - zp) << 24 would overflow 32 bits.
  EXPECT_EQ(refusal(OpType::kQuantize, DType::kInt8, DType::kUInt8, 1e-8f),
            "rescale factor of 2^23 or more");
}

}  // namespace
}  // namespace nonstick::testing
