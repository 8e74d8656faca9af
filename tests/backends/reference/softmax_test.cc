// SOFTMAX on the reference backend against TFLite's CPU kernel, bit for bit.
// TFLite 2.9 runs a float lookup-table kernel for 8-bit softmax, so the sweep
// covers what feeds its float arithmetic: row lengths (1001 classes, VWW's 2,
// YOLOv8n's 16-bin distribution focal loss rows, odd sizes, a single element),
// input scales from nearly flat to sharply peaked, beta, and the output
// parameters TFLite accepts (int8 within 0.1% of 1/256; any uint8 scale, with
// the zero point ignored).
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

struct SoftmaxCase {
  DType dtype;
  std::vector<int32_t> shape;
  float in_scale;
  int32_t in_zero_point;
  float beta = 1.0f;
  float out_scale = 1.0f / 256;
  int32_t out_zero_point = 0;  // for int8, -128 is filled in
};

// 0.0146362 -> "0p0146362", -53 -> "m53": names GoogleTest accepts.
std::string softmax_name(const SoftmaxCase& c) {
  std::string name = std::string(ir::dtype_name(c.dtype)) + "_";
  for (size_t i = 0; i < c.shape.size(); ++i) name += (i ? "x" : "") + std::to_string(c.shape[i]);
  return name + "_in_s" + num(c.in_scale) + "_z" + num(c.in_zero_point) + "_beta" + num(c.beta) +
         "_out_s" + num(c.out_scale) + "_z" + num(c.out_zero_point);
}

void PrintTo(const SoftmaxCase& c, std::ostream* os) { *os << softmax_name(c); }

class Softmax : public ::testing::TestWithParam<SoftmaxCase> {};

TEST_P(Softmax, MatchesTflite) {
  const SoftmaxCase& c = GetParam();
  GraphBuilder b(2);
  int in = b.input(c.dtype, c.shape, c.in_scale, c.in_zero_point);
  int out = b.tensor(c.dtype, c.shape, c.out_scale, c.out_zero_point);
  b.op(OpType::kSoftmax, {in}, {out}, ir::SoftmaxParams{c.beta});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<SoftmaxCase> softmax_cases() {
  std::vector<SoftmaxCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const bool u8 = t == DType::kUInt8;
    const int32_t lo = u8 ? 0 : -128, out_zp = lo;
    auto add = [&](std::vector<int32_t> shape, float scale, int32_t zp, float beta = 1.0f) {
      cases.push_back({t, std::move(shape), scale, zp, beta, 1.0f / 256, out_zp});
    };
    // Shapes, with the models' input quantizations.
    add({1, 1001}, u8 ? 0.0786214f : 0.063365f, u8 ? 77 : -53);  // MobileNet classifiers
    add({1, 2}, 0.0146362f, lo + 123);                           // VWW person / no person
    add({1, 4, 40, 16}, 0.265465f, lo + 191);                     // YOLOv8n box distributions
    add({3, 17}, 0.1f, lo + 128);
    add({1, 5, 5, 3}, 0.1f, lo + 128);
    add({7}, 0.1f, lo + 128);
    add({2, 1, 64}, 0.1f, lo + 128);
    add({1, 1}, 0.1f, lo + 128);
    add({8, 256}, 0.05f, lo + 30);
    // Input scales: a nearly flat distribution to one where exp underflows.
    add({4, 100}, 0.001f, lo + 128);
    add({4, 100}, 0.5f, lo + 128);
    add({4, 100}, 2.0f, lo + 10);
    // Beta scales the table's exponent.
    add({4, 100}, 0.1f, lo + 128, 0.5f);
    add({4, 100}, 0.1f, lo + 128, 2.0f);
    add({4, 100}, 0.05f, lo + 128, 0.1f);
  }
  // Output parameters beyond the canonical ones that TFLite 2.9 accepts.
  cases.push_back({DType::kUInt8, {4, 100}, 0.1f, 128, 1.0f, 1.0f / 255, 0});
  cases.push_back({DType::kUInt8, {4, 100}, 0.1f, 128, 1.0f, 1.0f / 256, 5});
  cases.push_back({DType::kUInt8, {4, 100}, 0.1f, 128, 1.0f, 0.01f, 17});
  cases.push_back({DType::kInt8, {4, 100}, 0.1f, 0, 1.0f, 1.0f / 256 * 1.0005f, -128});
  cases.push_back({DType::kInt8, {4, 100}, 0.1f, 0, 1.0f, 1.0f / 256 * 0.9995f, -128});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Sweep, Softmax, ::testing::ValuesIn(softmax_cases()),
                         [](const ::testing::TestParamInfo<SoftmaxCase>& info) {
                           return softmax_name(info.param);
                         });

std::string refusal(DType in_type, DType out_type, float out_scale, int32_t out_zp) {
  GraphBuilder b;
  int in = b.input(in_type, {2, 8}, 0.1f, 0);
  int out = b.tensor(out_type, {2, 8}, out_scale, out_zp);
  b.op(OpType::kSoftmax, {in}, {out}, ir::SoftmaxParams{1.0f});
  std::string error;
  auto backend = create_backend("reference", &error);
  Support s = backend->supports(b.graph(), b.graph().ops[0]);
  return s.supported ? "supported" : s.reason;
}

TEST(SoftmaxCheck, RefusesOutputsTfliteRejectsAndOtherTypes) {
  EXPECT_EQ(refusal(DType::kInt8, DType::kInt8, 1.0f / 256, -127),
            "int8 output zero point must be -128");
  EXPECT_EQ(refusal(DType::kInt8, DType::kInt8, 1.0f / 255, -128),
            "int8 output scale must be 1/256");
  EXPECT_EQ(refusal(DType::kInt8, DType::kInt16, 1.0f / 32768, 0), "int16 output not supported");
  EXPECT_EQ(refusal(DType::kInt16, DType::kInt16, 1.0f / 32768, 0), "int16 not supported");
  EXPECT_EQ(refusal(DType::kUInt8, DType::kUInt8, 0.02f, 200), "supported");
}

}  // namespace
}  // namespace nonstick::testing
