// FULLY_CONNECTED on the reference backend against TFLite's CPU kernels, bit
// for bit: uint8 (non-zero filter zero points) and int8, batch 1-3, depths
// and unit counts 1-256, inputs of rank 2-4 flattened to [batch, depth],
// keep_num_dims, every fused activation, no bias, multipliers above one and
// power-of-two scales (frequent rounding ties).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "support/op_harness.h"
#include "support/test_names.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;

struct FcCase {
  DType dtype = DType::kUInt8;
  std::vector<int32_t> input_shape = {2, 17};  // last dims flatten into depth
  int depth = 17, units = 8;
  bool keep_num_dims = false;
  Activation activation = Activation::kNone;
  bool bias = true;
  float in_scale = 0.02f;
  int32_t in_zp = 128;
  float filter_scale = 0.005f;
  int32_t filter_zp = 120;  // uint8 only; int8 weights are symmetric
  float out_factor = 0;     // output scale / (in_scale * filter_scale); 0 = fit the data
  int32_t out_zp = 130;
};

float out_factor(const FcCase& c) {
  return c.out_factor > 0 ? c.out_factor : 70.0f * std::sqrt(static_cast<float>(c.depth));
}

int32_t filter_zero_point(const FcCase& c) { return c.dtype == DType::kUInt8 ? c.filter_zp : 0; }

std::string fc_name(const ::testing::TestParamInfo<FcCase>& info) {
  const FcCase& c = info.param;
  std::string n = c.dtype == DType::kUInt8 ? "u8_in" : "i8_in";
  for (size_t i = 0; i < c.input_shape.size(); ++i) {
    if (i) n += 'x';
    n += std::to_string(c.input_shape[i]);
  }
  return n + "_depth" + std::to_string(c.depth) + "_units" + std::to_string(c.units) +
         (c.keep_num_dims ? "_keepdims_" : "_flat_") + act_name(c.activation) + (c.bias ? "_bias" : "_nobias") +
         "_in" + num(c.in_scale) + "z" + num(c.in_zp) + "_f" + num(c.filter_scale) + "z" +
         num(filter_zero_point(c)) + "_of" + num(out_factor(c)) + "z" + num(c.out_zp);
}

class FullyConnected : public ::testing::TestWithParam<FcCase> {};

TEST_P(FullyConnected, MatchesTflite) {
  const FcCase& c = GetParam();
  GraphBuilder b(13);
  const int in = b.input(c.dtype, c.input_shape, c.in_scale, c.in_zp);
  const int filter = b.random_constant(c.dtype, {c.units, c.depth}, c.filter_scale, filter_zero_point(c));
  const float product = c.in_scale * c.filter_scale;
  const int bias = c.bias ? b.random_constant(DType::kInt32, {c.units}, product, 0, 3000) : -1;
  std::vector<int32_t> out_shape;
  if (c.keep_num_dims) {
    out_shape = c.input_shape;
    out_shape.back() = c.units;
  } else {
    int32_t elements = 1;
    for (int32_t d : c.input_shape) elements *= d;
    out_shape = {elements / c.depth, c.units};
  }
  const int out = b.tensor(c.dtype, out_shape, product * out_factor(c), c.out_zp);
  ir::FullyConnectedParams p;
  p.activation = c.activation;
  p.keep_num_dims = c.keep_num_dims;
  b.op(ir::OpType::kFullyConnected, {in, filter, bias}, {out}, p);
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<FcCase> fc_cases() {
  std::vector<FcCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    FcCase base;
    base.dtype = t;
    if (t == DType::kInt8) {
      base.in_zp = -7;
      base.out_zp = 4;
    }
    auto add = [&](std::vector<int32_t> shape, int depth, int units, auto&& edit) {
      FcCase c = base;
      c.input_shape = std::move(shape);
      c.depth = depth;
      c.units = units;
      edit(c);
      cases.push_back(c);
    };
    auto none = [](FcCase&) {};
    // Depths and unit counts.
    for (int depth : {1, 3, 8, 17, 64}) {
      for (int units : {1, 3, 8, 17}) add({2, depth}, depth, units, none);
    }
    add({1, 256}, 256, 64, none);
    add({3, 64}, 64, 256, none);
    // Higher-rank inputs, flattened or kept.
    add({2, 3, 8}, 8, 5, none);
    add({1, 2, 2, 6}, 24, 4, none);
    add({3, 1, 17}, 17, 8, none);
    add({2, 3, 8}, 8, 5, [](FcCase& c) { c.keep_num_dims = true; });
    add({1, 2, 3, 17}, 17, 3, [](FcCase& c) { c.keep_num_dims = true; });
    // Activations, with a scale that makes them bite, and no bias.
    for (Activation a : {Activation::kNone, Activation::kRelu, Activation::kRelu6, Activation::kReluN1To1}) {
      add({2, 17}, 17, 8, [&](FcCase& c) { c.activation = a; c.out_factor = 10.0f; });
      add({2, 17}, 17, 8, [&](FcCase& c) { c.activation = a; c.bias = false; });
    }
    // Multiplier above one; power-of-two scales (rounding ties).
    add({2, 1}, 1, 8, [](FcCase& c) { c.out_factor = 0.4f; });
    add({2, 3}, 3, 8, [](FcCase& c) { c.out_factor = 0.85f; });
    add({3, 8}, 8, 8, [](FcCase& c) {
      c.in_scale = 0.0625f;
      c.filter_scale = 0.0078125f;
      c.out_factor = 256.0f;
    });
    add({3, 17}, 17, 8, [](FcCase& c) {
      c.in_scale = 0.5f;
      c.filter_scale = 0.03125f;
      c.out_factor = 128.0f;
    });
    // Zero points at the ends of the ranges.
    const int32_t lo = t == DType::kUInt8 ? 0 : -128, hi = t == DType::kUInt8 ? 255 : 127;
    add({2, 17}, 17, 8, [&](FcCase& c) { c.in_zp = lo; c.out_zp = hi; c.filter_zp = 255; });
    add({2, 17}, 17, 8, [&](FcCase& c) { c.in_zp = hi; c.out_zp = lo; c.filter_zp = 0; });
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, FullyConnected, ::testing::ValuesIn(fc_cases()), fc_name);

// Requantization probes: weights equal to the filter zero point make every
// accumulator exactly its bias, so each output channel checks one chosen
// accumulator. The scales make TFLite's float and double scale products
// give different multipliers, and the biases sit where those multipliers,
// or round-half-up and round-half-away-from-zero, disagree.
const float kProbeInScale = 0.01215796f, kProbeFilterScale = 0.010389811f, kProbeOutScale = 1.1642973f;
const std::vector<int32_t> kProbeBiases = {-917104, -907887, -880236, -880235, -871019, -871018, -861801, -806498,
                                           -797282, -732761, -723545, 0,       1234,    732761,  806498,  880235};

std::vector<uint8_t> int32_bytes(const std::vector<int32_t>& v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

class FullyConnectedRequantization : public ::testing::TestWithParam<DType> {};

TEST_P(FullyConnectedRequantization, ProbesMultiplierAndRounding) {
  const DType dtype = GetParam();
  const bool u8 = dtype == DType::kUInt8;
  const int32_t filter_zp = u8 ? 77 : 0;
  const int units = static_cast<int>(kProbeBiases.size());
  GraphBuilder b(23);
  const int in = b.input(dtype, {2, 3}, kProbeInScale, u8 ? 140 : -3);
  const int filter = b.constant(dtype, {units, 3}, std::vector<uint8_t>(3 * static_cast<size_t>(units),
                                static_cast<uint8_t>(filter_zp)), kProbeFilterScale, filter_zp);
  const int bias =
      b.constant(DType::kInt32, {units}, int32_bytes(kProbeBiases), kProbeInScale * kProbeFilterScale, 0);
  const int out = b.tensor(dtype, {2, units}, kProbeOutScale, u8 ? 128 : 0);
  b.op(ir::OpType::kFullyConnected, {in, filter, bias}, {out}, ir::FullyConnectedParams{});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

INSTANTIATE_TEST_SUITE_P(Reference, FullyConnectedRequantization, ::testing::Values(DType::kUInt8, DType::kInt8),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(info.param == DType::kUInt8 ? "u8" : "i8");
                         });

// TFLite 2.9's FULLY_CONNECTED would silently apply the first of several
// per-channel scales; the reference backend refuses instead.
TEST(FullyConnectedCheck, RefusesPerChannelAndMismatchedShapes) {
  auto refusal = [](bool per_channel, std::vector<int32_t> out_shape) {
    GraphBuilder b(31);
    const int in = b.input(DType::kInt8, {2, 6}, 0.02f, 0);
    const int filter = b.random_constant(DType::kInt8, {3, 6}, 0.01f, 0);
    if (per_channel) b.set_per_channel(filter, {0.01f, 0.02f, 0.03f}, {0, 0, 0}, 0);
    const int out = b.tensor(DType::kInt8, std::move(out_shape), 0.1f, 0);
    b.op(ir::OpType::kFullyConnected, {in, filter, -1}, {out}, ir::FullyConnectedParams{});
    const ir::Graph& g = b.graph();
    const Support s = reference::find_kernel(ir::OpType::kFullyConnected)->check(g, g.ops[0]);
    return s.supported ? std::string() : s.reason;
  };
  EXPECT_EQ(refusal(false, {2, 3}), "");
  EXPECT_EQ(refusal(true, {2, 3}), "per-channel filter not supported");
  EXPECT_EQ(refusal(false, {3, 2}), "output shape does not match [batches, units]");
}

}  // namespace
}  // namespace nonstick::testing
