// MEAN on the reference backend against TFLite's CPU kernels, bit for bit,
// through each of TFLite 2.9's integer paths for uint8 and int8:
//  - 4-D input over axes {1, 2} with keep_dims (fixed-point rescale; uint8
//    and int8 differ), with equal and different input/output quantization;
//  - identical quantization elsewhere (truncating integer division);
//  - different quantization elsewhere (float rescale), including equal
//    scales with different zero points.
// Ranks 1-4, single and multiple axes, keep_dims on and off, batch 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "support/op_harness.h"
#include "support/test_names.h"

namespace nonstick::testing {
namespace {

using ir::DType;

struct MeanCase {
  DType dtype = DType::kUInt8;
  std::vector<int32_t> shape;
  std::vector<int> axes;
  bool keep_dims = true;
  float in_scale = 0.05f;
  int32_t in_zp = 0;
  float out_scale = 0.05f;
  int32_t out_zp = 0;
};

std::string mean_name(const ::testing::TestParamInfo<MeanCase>& info) {
  const MeanCase& c = info.param;
  std::string n = c.dtype == DType::kUInt8 ? "u8_in" : "i8_in";
  for (size_t i = 0; i < c.shape.size(); ++i) {
    if (i) n += 'x';
    n += std::to_string(c.shape[i]);
  }
  n += "_axes";
  for (int a : c.axes) n += "_" + std::to_string(a);
  return n + (c.keep_dims ? "_keepdims" : "_dropdims") + "_in" + num(c.in_scale) + "z" + num(c.in_zp) + "_out" +
         num(c.out_scale) + "z" + num(c.out_zp);
}

class Mean : public ::testing::TestWithParam<MeanCase> {};

TEST_P(Mean, MatchesTflite) {
  const MeanCase& c = GetParam();
  GraphBuilder b(19);
  const int in = b.input(c.dtype, c.shape, c.in_scale, c.in_zp);
  std::vector<int32_t> out_shape;
  for (int d = 0; d < static_cast<int>(c.shape.size()); ++d) {
    if (std::find(c.axes.begin(), c.axes.end(), d) == c.axes.end()) {
      out_shape.push_back(c.shape[static_cast<size_t>(d)]);
    } else if (c.keep_dims) {
      out_shape.push_back(1);
    }
  }
  const int out = b.tensor(c.dtype, out_shape, c.out_scale, c.out_zp);
  b.op(ir::OpType::kMean, {in}, {out}, ir::MeanParams{c.axes, c.keep_dims});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<MeanCase> mean_cases() {
  std::vector<MeanCase> cases;
  auto add = [&](DType t, std::vector<int32_t> shape, std::vector<int> axes, bool keep, float is, int32_t izp,
                 float os, int32_t ozp) {
    cases.push_back({t, std::move(shape), std::move(axes), keep, is, izp, os, ozp});
  };
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const bool u8 = t == DType::kUInt8;
    const int32_t zp_a = u8 ? 131 : 3, zp_b = u8 ? 77 : -60;
    // Spatial mean (global average pooling as MEAN): different scales, the
    // zero-point term rounding up and down, odd and large windows, batch 2.
    add(t, {1, 7, 7, 17}, {1, 2}, true, 0.0235f, zp_a, 0.0191f, zp_b);
    add(t, {1, 7, 7, 17}, {1, 2}, true, 0.0191f, zp_b, 0.0235f, zp_a);
    add(t, {1, 7, 7, 64}, {1, 2}, true, 0.0235f, u8 ? 0 : -128, 0.0191f, u8 ? 0 : -128);
    add(t, {2, 5, 3, 8}, {1, 2}, true, 0.1f, zp_a, 0.03f, zp_b);
    add(t, {1, 14, 13, 3}, {1, 2}, true, 0.02f, zp_b, 0.07f, zp_a);
    add(t, {1, 1, 1, 8}, {1, 2}, true, 0.05f, zp_a, 0.02f, zp_b);
    add(t, {1, 16, 16, 5}, {1, 2}, true, 0.05f, zp_a, 0.05f, zp_a);
    add(t, {1, 3, 9, 256}, {1, 2}, true, 0.04f, zp_b, 0.011f, zp_b);
    add(t, {1, 4, 4, 3}, {1, 2}, true, 0.5f, zp_a, 0.25f, zp_b);  // power-of-two scales
    // Identical quantization: truncating division of the raw sum.
    add(t, {1, 7, 7, 8}, {1, 2}, false, 0.05f, zp_a, 0.05f, zp_a);
    add(t, {2, 5, 6, 3}, {3}, true, 0.05f, zp_b, 0.05f, zp_b);
    add(t, {2, 5, 6, 3}, {1}, false, 0.05f, zp_a, 0.05f, zp_a);
    add(t, {2, 5, 6, 3}, {0, 2}, true, 0.05f, zp_b, 0.05f, zp_b);
    add(t, {4, 9, 3}, {0, 1, 2}, false, 0.05f, zp_a, 0.05f, zp_a);
    add(t, {6, 7}, {1}, false, 0.05f, zp_b, 0.05f, zp_b);
    add(t, {17}, {0}, true, 0.05f, zp_a, 0.05f, zp_a);
    // Different quantization: float rescale.
    add(t, {1, 7, 7, 8}, {1, 2}, false, 0.05f, zp_a, 0.03f, zp_b);
    add(t, {2, 5, 6, 3}, {3}, false, 0.05f, zp_b, 0.08f, zp_a);
    add(t, {2, 5, 6, 3}, {2}, true, 0.02f, zp_a, 0.02f, zp_b);  // same scale, other zero point
    add(t, {2, 5, 6, 3}, {0, 3}, false, 0.07f, zp_a, 0.02f, zp_b);
    add(t, {3, 8, 5}, {1}, true, 0.05f, zp_b, 0.1f, zp_a);
    add(t, {6, 7}, {0}, false, 0.01f, zp_a, 0.05f, zp_b);
    add(t, {33}, {0}, false, 0.01f, zp_b, 0.004f, zp_a);
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Mean, ::testing::ValuesIn(mean_cases()), mean_name);

TEST(MeanCheck, RefusesInt16AndMismatchedShapes) {
  auto refusal = [](DType t, std::vector<int32_t> out_shape) {
    GraphBuilder b(41);
    const int in = b.input(t, {1, 3, 3, 4}, 0.05f, 0);
    const int out = b.tensor(t, std::move(out_shape), 0.05f, 0);
    b.op(ir::OpType::kMean, {in}, {out}, ir::MeanParams{{1, 2}, true});
    const ir::Graph& g = b.graph();
    const Support s = reference::find_kernel(ir::OpType::kMean)->check(g, g.ops[0]);
    return s.supported ? std::string() : s.reason;
  };
  EXPECT_EQ(refusal(DType::kInt8, {1, 1, 1, 4}), "");
  EXPECT_EQ(refusal(DType::kInt16, {1, 1, 1, 4}), "int16 activations not supported");
  EXPECT_EQ(refusal(DType::kInt8, {1, 4}), "output shape does not match the reduction");
}

}  // namespace
}  // namespace nonstick::testing
