// Weight packing, bias folding and multiplier encoding of the rocket backend:
// hand-computed cases, the requantization encodings of both modes (precise
// and OUT_CVT only, docs/virtual-rk3588.md §10) against TFLite's arithmetic,
// and every convolution of two real uint8 models against the weight and
// bias BOs Mesa's rocket driver submitted for them.
#include "backends/rocket/coefs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "backends/reference/conv_util.h"
#include "backends/rocket/lower.h"
#include "golden.h"
#include "requant_mode.h"
#include "support/op_harness.h"

namespace nonstick::rocket {
namespace {

namespace g = testing::golden;

TEST(RocketCoefs, MultiplierRoundsToNearestAndRenormalises) {
  FixedMultiplier m;
  ASSERT_TRUE(encode_multiplier(0.5, 31, &m));
  EXPECT_EQ(m.scale, 16384u);  // 0.5 = 16384 / 2^15
  EXPECT_EQ(m.shift, 15u);
  // 0.0123: 0.0123 * 2^21 = 25795.0...: scale 25795, shift 21.
  ASSERT_TRUE(encode_multiplier(0.0123, 31, &m));
  EXPECT_EQ(m.shift, 21u);
  EXPECT_EQ(m.scale, static_cast<uint32_t>(std::llround(0.0123 * (1 << 21))));
  // Just below a power of two the mantissa rounds up to 2^15 and must be
  // renormalised to 2^14 with one shift less (Mesa's truncate+1 loses this).
  ASSERT_TRUE(encode_multiplier(std::nextafter(0.25, 0.0), 31, &m));
  EXPECT_EQ(m.scale, 16384u);
  EXPECT_EQ(m.shift, 16u);
  EXPECT_DOUBLE_EQ(m.value(), 0.25);
  // Relative error of any encoding is at most half a unit in 15 bits.
  for (double x = 1e-6; x < 1.9; x *= 1.37) {
    ASSERT_TRUE(encode_multiplier(x, 40, &m));
    EXPECT_GE(m.scale, 16384u);
    EXPECT_LT(m.scale, 32768u);
    EXPECT_LE(std::abs(m.value() - x) / x, 1.0 / 32768) << x;
  }
  ASSERT_TRUE(encode_multiplier(3.0, 31, &m));     // > 1 is fine: 24576 / 2^13
  EXPECT_EQ(m.shift, 13u);
  EXPECT_FALSE(encode_multiplier(70000.0, 31, &m));  // would need a negative shift
  EXPECT_FALSE(encode_multiplier(1e-12, 31, &m));  // shift beyond the limit
  EXPECT_FALSE(encode_multiplier(0.0, 31, &m));
}

NpuConv small_dense() {
  NpuConv c;
  c.in_c = 3;
  c.out_c = 3;
  c.kernel_w = 2;
  c.kernel_h = 1;
  c.in_zp = 5;
  c.weight_zp = -2;
  // [o][y][x][c] = o*100 + x*10 + c (values fit int8 for o < 2; o = 2 uses -o).
  for (int o = 0; o < 3; ++o) {
    for (int x = 0; x < 2; ++x) {
      for (int ch = 0; ch < 3; ++ch) c.weights.push_back(static_cast<int8_t>((o == 2 ? -50 : o * 40) + x * 10 + ch));
    }
  }
  c.bias = {1000, -7, 3};
  return c;
}

TEST(RocketCoefs, DensePackingByHand) {
  const NpuConv c = small_dense();
  const std::vector<uint8_t> p = pack_weights(c);
  // 4 kernels (3 rounded up to even) x 2 positions x 16 channels.
  ASSERT_EQ(p.size(), 4u * 2 * 16);
  ASSERT_EQ(static_cast<int64_t>(p.size()), packed_weight_bytes(c));
  auto at = [&](int pos, int kernel, int ch) { return static_cast<int8_t>(p[(pos * 4 + kernel) * 16 + ch]); };
  EXPECT_EQ(at(0, 0, 0), 0);
  EXPECT_EQ(at(0, 1, 2), 42);
  EXPECT_EQ(at(1, 1, 1), 51);
  EXPECT_EQ(at(1, 2, 0), -40);
  EXPECT_EQ(at(0, 1, 3), -2);   // channel padding = weight zero point
  EXPECT_EQ(at(1, 0, 15), -2);
  EXPECT_EQ(at(0, 3, 0), 0);    // the extra kernel is all zero
  EXPECT_EQ(at(1, 3, 15), 0);
}

TEST(RocketCoefs, DepthwisePackingGroupsOf64Channels) {
  NpuConv c;
  c.depthwise = true;
  c.in_c = c.out_c = 70;
  c.kernel_w = 1;
  c.kernel_h = 2;
  c.weight_zp = 9;
  for (int k = 0; k < 2; ++k) {
    for (int ch = 0; ch < 70; ++ch) c.weights.push_back(static_cast<int8_t>(k * 50 + ch % 50));
  }
  const std::vector<uint8_t> p = pack_weights(c);
  // Channels padded to 80: group 0 = 64 channels x 2 positions, group 1 = 16 x 2.
  ASSERT_EQ(p.size(), 2u * 80);
  EXPECT_EQ(static_cast<int8_t>(p[63]), 13);            // pos 0, channel 63
  EXPECT_EQ(static_cast<int8_t>(p[64 + 5]), 55);        // pos 1, channel 5
  EXPECT_EQ(static_cast<int8_t>(p[128 + 3]), 17);       // group 1, pos 0, channel 67
  EXPECT_EQ(static_cast<int8_t>(p[128 + 16 + 5]), 69);  // group 1, pos 1, channel 69
  EXPECT_EQ(static_cast<int8_t>(p[128 + 16 + 6]), 9);   // channel 70: padding
}

TEST(RocketCoefs, BiasFoldsTheInputZeroPoint) {
  const NpuConv c = small_dense();
  std::vector<int32_t> b;
  ASSERT_TRUE(folded_biases(c, &b).ok());
  ASSERT_EQ(b.size(), 32u);  // one per written channel
  for (int o = 0; o < 3; ++o) {
    int64_t sum = 0;
    for (int k = 0; k < 6; ++k) sum += c.weights[static_cast<size_t>(o * 6 + k)] - c.weight_zp;
    EXPECT_EQ(b[static_cast<size_t>(o)], c.bias[static_cast<size_t>(o)] - 5 * sum) << o;
  }
  EXPECT_EQ(b[3], 0);
}

// ---- Requantization encodings.

// TFLite's two roundings (ruy: the doubling high multiply rounds half away,
// the final shift half up) are one half-up rounding of acc * M plus
// 2^-(r+1) steps, for every accumulator away from an exact tie of the first
// rounding (none in these ranges: the mantissas have few trailing zeros).
TEST(RocketCoefs, TfliteDoubleRoundingIsOneRoundingWithAnOffset) {
  for (double m : {0.000731, 0.00413, 0.0123, 0.1, 0.3, 0.49}) {
    const reference::QuantizedMultiplier q = reference::quantize_multiplier(m);
    const int r = -q.shift;
    ASSERT_GE(r, 1);
    EXPECT_EQ(tflite_rounding_offset(m), std::ldexp(1.0, -(r + 1))) << m;
    for (int64_t acc = -300007; acc <= 300007; acc += 13) {
      // floor(acc * M0 / 2^(31+r) + 2^-(r+1) + 1/2), exactly.
      const int64_t one = (acc * q.multiplier + (int64_t{1} << 30) + (int64_t{1} << (30 + r))) >> (31 + r);
      ASSERT_EQ(reference::multiply_by_quantized_multiplier_gemm(static_cast<int32_t>(acc), q), one)
          << "m " << m << " acc " << acc;
    }
  }
  EXPECT_EQ(tflite_rounding_offset(0.7), 0.0);  // no right shift, one rounding
  EXPECT_EQ(tflite_rounding_offset(1.5), 0.0);
}

// A dense 3x3x16 -> 8 convolution with random weights and biases.
NpuConv random_conv(double multiplier, uint32_t seed) {
  NpuConv c;
  c.in_w = c.out_w = 4;
  c.in_h = c.out_h = 4;
  c.in_c = 16;
  c.out_c = 8;
  c.kernel_w = c.kernel_h = 3;
  c.pad_left = c.pad_top = 1;
  c.in_zp = -7;
  c.weight_zp = 3;
  c.out_zp = -2;
  uint32_t x = seed;
  auto next = [&] { return x = x * 1664525u + 1013904223u; };
  for (int i = 0; i < 8 * 9 * 16; ++i) c.weights.push_back(static_cast<int8_t>(next() >> 24));
  for (int o = 0; o < 8; ++o) c.bias.push_back(static_cast<int32_t>(next() >> 18) - 8192);
  c.out_multiplier = multiplier;
  return c;
}

// Largest |acc + A| of the CORE accumulator over every int8 input.
int64_t precise_acc_bound(const NpuConv& c, const std::vector<int32_t>& a) {
  int64_t worst = 0;
  for (int o = 0; o < c.out_c; ++o) {
    int64_t sum = 0;
    for (int k = 0; k < 9 * 16; ++k) sum += std::abs(c.weights[static_cast<size_t>(o * 144 + k)] - c.weight_zp);
    worst = std::max(worst, 128 * sum + std::abs(int64_t{a[static_cast<size_t>(o)]}));
  }
  return worst;
}

// Precise per-tensor: C (one for all channels) and OUT_CVT's scale S chosen
// jointly so that C * S / 2^(s + SH) is TFLite's M (its Q31 mantissa and
// shift, not the real ratio) to ~2^-28, the BN constant B is TFLite's
// rounding offset to half a unit of v, and v1, v2 stay inside int32 for
// every input.
// requant_offset() against the reference kernels' own requantization
// (reference::requantize_accumulator) for each rounding rule a profile uses:
// exact for every accumulator, except kAwayFromZero's negative outputs,
// which take the mirrored offset (documented residual), and a left shift
// after the multiply (kUpLeftShiftLast with M >= 1), which no offset gives.
TEST(RocketCoefs, RequantOffsetFollowsEachProfilesRounding) {
  using reference::TieRounding;
  for (double m : {0.000731, 0.00413, 0.0123, 0.0328, 0.1, 0.449, 0.7}) {
    const reference::QuantizedMultiplier q = reference::quantize_multiplier(m);
    const int total = 31 - q.shift;  // M = M0 / 2^total
    // floor(acc * M + offset + 1/2) in exact integers, offset in 2^-(total) units.
    auto rounded = [&](int64_t acc, int64_t offset) {
      return (acc * q.multiplier + offset + (int64_t{1} << (total - 1))) >> total;
    };
    const int64_t delta = q.shift < 0 ? int64_t{1} << (30) : 0;  // 2^-(r+1) steps
    for (TieRounding rule : {TieRounding::kUp, TieRounding::kAwayFromZero, TieRounding::kSingleUp,
                             TieRounding::kUpLeftShiftLast}) {
      const double offset = requant_offset(m, rule);
      const int64_t units = static_cast<int64_t>(std::ldexp(offset, total));
      ASSERT_EQ(std::ldexp(static_cast<double>(units), -total), offset);
      EXPECT_EQ(units, rule == TieRounding::kSingleUp ? 0 : delta) << m;
      for (int64_t acc = -300007; acc <= 300007; acc += 7) {
        const int32_t want = reference::requantize_accumulator(static_cast<int32_t>(acc), q, rule);
        // Half away from zero mirrors the offset below zero.
        const bool mirrored = rule == TieRounding::kAwayFromZero && rounded(acc, -units) < 0;
        ASSERT_EQ(want, rounded(acc, mirrored ? -units : units)) << m << " acc " << acc << " rule "
                                                                  << static_cast<int>(rule);
      }
    }
  }
}

// The backend's numerics profile reaches the encoding: a multi-pixel
// CONV_2D rounds once (ruy) on arm64, so the precise encoding adds no
// offset there, and TFLite's 2^-(r+1) on x86.
TEST(RocketCoefs, PreciseOffsetFollowsTheNumericsProfile) {
  testing::GraphBuilder b(3);
  const int in = b.input(ir::DType::kUInt8, {1, 8, 8, 16}, 0.05f, 120);
  const int w = b.random_constant(ir::DType::kUInt8, {16, 3, 3, 16}, 0.01f, 120);
  const int bias = b.random_constant(ir::DType::kInt32, {16}, 0.0005f, 0, 100);
  const int out = b.tensor(ir::DType::kUInt8, {1, 8, 8, 16}, 0.11f, 128);
  ir::ConvParams p;
  p.padding = ir::Padding::kSame;
  b.op(ir::OpType::kConv2D, {in, w, bias}, {out}, p);
  b.mark_output(out);
  const ir::Graph& graph = b.graph();
  for (reference::Numerics n : reference::kAllNumerics) {
    EncodingOptions options = testing::precise_requant();
    options.numerics = n;
    NpuConv c;
    ASSERT_TRUE(lower_op(graph, graph.ops[0], 0, options, &c).supported) << reference::numerics_name(n);
    const reference::TieRounding rule = reference::conv2d_rounding(graph, graph.ops[0], n);
    ASSERT_EQ(c.rounding, std::vector<reference::TieRounding>(16, rule));
    DpuEncoding e;
    ASSERT_TRUE(encode_dpu(c, options, &e).supported);
    const double unit = e.out.value();
    const double want = n == reference::Numerics::kTflite29Arm64 ? 0.0 : tflite_rounding_offset(c.out_multiplier);
    EXPECT_GT(want == 0.0 ? 1.0 : want, unit);  // B resolves it
    EXPECT_LE(std::abs(e.bn_operand * unit - want), unit / 2 + 1e-15) << reference::numerics_name(n);
  }
}

TEST(RocketCoefs, PreciseSplitApproximatesTfliteMultiplier) {
  double worst_relative = 0, worst_error = 0;
  uint32_t seed = 1;
  for (double m = 1.3e-5; m < 0.9; m *= 1.0917) {
    const NpuConv c = random_conv(m, seed++);
    DpuEncoding e;
    ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported) << m;
    ASSERT_TRUE(e.bs_multiplier && e.bn_add) << m;
    const int64_t mul = e.bs_mul[0];
    for (int o = 0; o < c.out_c; ++o) ASSERT_EQ(e.bs_mul[static_cast<size_t>(o)], mul);
    EXPECT_GE(mul, 1 << 14);
    EXPECT_LT(mul, 1 << 15);
    EXPECT_GE(e.out.scale, 1u << 14);
    EXPECT_LT(e.out.scale, 1u << 15);
    EXPECT_LE(e.out.shift, 31u);
    const reference::QuantizedMultiplier q = reference::quantize_multiplier(m);
    const double tflite = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
    const double ours = std::ldexp(static_cast<double>(mul * e.out.scale), -static_cast<int>(e.bs_shift + e.out.shift));
    if (m < 0.05) worst_relative = std::max(worst_relative, std::abs(ours - tflite) / tflite);
    const double unit = e.out.value();  // output steps per unit of v
    // Half a unit, or one more where the exactness search moved B (§11).
    EXPECT_LE(std::abs(e.bn_operand * unit - tflite_rounding_offset(m)), 1.5 * unit + 1e-15) << m;
    // The bias is the folded one, unchanged.
    std::vector<int32_t> folded;
    ASSERT_TRUE(folded_biases(c, &folded).ok());
    EXPECT_EQ(e.bs_add, folded);
    const int64_t p = precise_acc_bound(c, folded) * mul;
    const int64_t v1 = e.bs_shift ? (p + (int64_t{1} << (e.bs_shift - 1))) >> e.bs_shift : p;
    EXPECT_LE(v1 + std::abs(int64_t{e.bn_operand}), int64_t{std::numeric_limits<int32_t>::max()}) << m;
    if (m < 0.05) worst_error = std::max(worst_error, e.max_error_steps);
    // Above, the int32 range of v, not the search, limits the precision:
    // with M near 1 the worst-case output is ~2^20 steps, leaving v 11
    // fractional bits.
    EXPECT_LE(e.max_error_steps, std::ldexp(1.0, -11)) << m;
  }
  // For the multipliers of real layers (below 0.05: OUT_CVT's shift at 31).
  std::printf("[ precise  ] M < 0.05: worst |C*S/2^E - M| / M %.3g, worst error before rounding %.3g steps\n",
              worst_relative, worst_error);
  // The search weighs the multiplier's error against B's rounding and v's
  // resolution; with these random full-range weights (outputs up to ~2^16
  // steps) v has fewer fractional bits than in real layers (below). The
  // exactness search (§11) may take a candidate up to one unit of v worse
  // by this bound when that one is proven bit-exact.
  EXPECT_LE(worst_relative, std::ldexp(1.0, -23));
  EXPECT_LE(worst_error, std::ldexp(1.0, -14));
}

// Every per-tensor convolution of two real uint8 models.
TEST(RocketCoefs, PreciseSplitOfRealLayers) {
  NONSTICK_REQUIRE_SHARED_DATA();
  double worst_relative = 0, worst_error = 0;
  int layers = 0;
  for (const char* model : {"mobilenet_v1_0.25_128_quant", "mobilenet_v2_1.0_224_quant"}) {
    ir::Graph graph;
    ASSERT_TRUE(g::load_model(g::model_path(model), &graph));
    for (size_t i = 0; i < graph.ops.size(); ++i) {
      NpuConv c;
      if (graph.ops[i].type == ir::OpType::kAdd) continue;
      ASSERT_TRUE(lower_op(graph, graph.ops[i], static_cast<int>(i), testing::precise_requant(), &c).supported);
      DpuEncoding e;
      ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
      ASSERT_TRUE(e.bs_multiplier && e.bn_add) << c.label;
      const reference::QuantizedMultiplier q = reference::quantize_multiplier(c.out_multiplier);
      const double tflite = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
      const double ours = std::ldexp(static_cast<double>(int64_t{e.bs_mul[0]} * e.out.scale),
                                     -static_cast<int>(e.bs_shift + e.out.shift));
      worst_relative = std::max(worst_relative, std::abs(ours - tflite) / tflite);
      worst_error = std::max(worst_error, e.max_error_steps);
      ++layers;
    }
  }
  std::printf("[ precise  ] %d real layers: worst |C*S/2^E - M| / M %.3g, worst error before rounding %.3g steps\n",
              layers, worst_relative, worst_error);
  // Measured 2.3e-8 (2^-25.4) and 3.2e-5 steps (2^-14.9): the search takes
  // a multiplier error below v's resolution where that lets B hit delta.
  EXPECT_EQ(layers, 28 + 53);
  EXPECT_LE(worst_relative, std::ldexp(1.0, -25));
  EXPECT_LE(worst_error, std::ldexp(1.0, -14.5));
}

// OUT_CVT only (Mesa's registers): the 15-bit mantissa, TFLite's rounding
// offset folded into the bias as a whole accumulator unit (delta / M is in
// (1/2, 1]); not for an op with an addend, whose TFLite ADD rounds on its own.
TEST(RocketCoefs, OutCvtFoldsTheRoundingOffsetIntoTheBias) {
  NpuConv c = random_conv(0.00413, 5);
  DpuEncoding e;
  ASSERT_TRUE(encode_dpu(c, testing::outcvt_requant(), &e).supported);
  EXPECT_FALSE(e.bs_multiplier);
  EXPECT_FALSE(e.bn_add);
  std::vector<int32_t> folded, stream;
  ASSERT_TRUE(folded_biases(c, &folded).ok());
  ASSERT_TRUE(fold_biases(c, testing::outcvt_requant(), &stream).ok());
  EXPECT_EQ(std::llround(tflite_rounding_offset(c.out_multiplier) / e.out.value()), 1);
  for (int o = 0; o < c.out_c; ++o) {
    EXPECT_EQ(e.bs_add[static_cast<size_t>(o)], folded[static_cast<size_t>(o)] + 1) << o;
    EXPECT_EQ(stream[static_cast<size_t>(o)], folded[static_cast<size_t>(o)] + 1) << o;
  }
  c.addend = 0;  // a fused ADD (lowered only with OUT_CVT only): no offset
  c.addend_multiplier = 0.7;
  for (const EncodingOptions& options : {testing::outcvt_requant(), testing::precise_requant()}) {
    ASSERT_TRUE(encode_dpu(c, options, &e).supported);
    EXPECT_FALSE(e.bs_multiplier);
    EXPECT_EQ(e.bs_add, folded);
  }
}

// ---- Standalone ADD (docs/virtual-rk3588.md §10.6).

struct AddQuant {
  float s1, s2, so;
  int z1, z2, zo;  // uint8
  int pairs_off = 0;  // input pairs the precise encoding leaves off (measured)
};

// ADD quantizations: the sweep's of add_ops_test.cc (equal scales and a
// power-of-two ratio put exact ties at every odd sum), and the first
// residual ADD of mobilenet_v2 to 6 digits.
//
// The one with pairs off: x1 / 18 + x2 / 30 (s = 0.05, 0.03, 0.9) is a half
// step exactly in real arithmetic for 1 in 90 pairs, and not in TFLite's,
// whose Q31 multipliers and 2^-19-step roundings put each such pair a hair
// above or below the tie: a pattern no pair of multipliers reproduces
// everywhere (the best found leaves 18 of the ~728 such pairs off).
const AddQuant kSyntheticAdds[] = {
    {0.05f, 0.03f, 0.07f, 120, 135, 128},    {0.04f, 0.04f, 0.08f, 128, 128, 128},
    {0.5f, 0.25f, 0.5f, 128, 128, 128},      {0.02f, 0.09f, 0.07f, 120, 135, 128},
    {0.05f, 0.03f, 0.01f, 120, 135, 128},    {0.05f, 0.03f, 0.9f, 0, 255, 3, 18},
    {0.401493f, 0.275834f, 0.432169f, 136, 119, 133},
};

// TFLite's ADD differs from round_half_away(x1 * m1 + x2 * m2) only where
// that sum lies within TFLite's own rounding residue of a half step; the
// bound used for it: 1.5 units of the rescaled inputs (2^-19.6 steps and
// less here) plus half a unit of the output's high multiply.
TEST(RocketCoefs, TfliteAddIsOneRoundingOfItsLinearSum) {
  int64_t pairs = 0, differ = 0;
  double worst = 0;
  for (const AddQuant& q : kSyntheticAdds) {
    const TfliteAdd add(q.s1, q.s2, q.so);
    for (int x1 = -q.z1; x1 <= 255 - q.z1; ++x1) {
      for (int x2 = -q.z2; x2 <= 255 - q.z2; ++x2) {
        const double x = x1 * add.m1() + x2 * add.m2();
        const double away = x < 0 ? -std::floor(-x + 0.5) : std::floor(x + 0.5);
        ++pairs;
        if (add(x1, x2) == away) continue;
        ++differ;
        const double from_half = std::abs(std::abs(x - std::trunc(x)) - 0.5);
        worst = std::max(worst, from_half);
        EXPECT_LT(from_half, std::ldexp(1.0, -17)) << x1 << " " << x2;
        EXPECT_EQ(std::abs(add(x1, x2) - away), 1);
      }
    }
  }
  std::printf("[ add      ] TFLite ADD vs round_half_away(linear sum): %lld of %lld pairs differ, all within %.3g "
              "steps of a half\n",
              static_cast<long long>(differ), static_cast<long long>(pairs), worst);
}

// A standalone ADD as lowering produces it.
NpuConv lowered_add(const AddQuant& q, ir::Activation act = ir::Activation::kNone) {
  testing::GraphBuilder b(5);
  const int a = b.input(ir::DType::kUInt8, {1, 2, 3, 16}, q.s1, q.z1);
  const int in_b = b.input(ir::DType::kUInt8, {1, 2, 3, 16}, q.s2, q.z2);
  const int out = b.tensor(ir::DType::kUInt8, {1, 2, 3, 16}, q.so, q.zo);
  ir::ElementwiseParams p;
  p.activation = act;
  b.op(ir::OpType::kAdd, {a, in_b}, {out}, p);
  b.mark_output(out);
  NpuConv c;
  EXPECT_TRUE(lower_op(b.graph(), b.graph().ops[0], 0, testing::precise_requant(), &c).supported);
  return c;
}

// The DPU's arithmetic for a precise ADD encoding, on every input pair,
// against TfliteAdd (independent of the encoder's own count).
int pairs_off(const NpuConv& c, const DpuEncoding& e) {
  const TfliteAdd add(c.add_scales.input, c.add_scales.addend, c.add_scales.output);
  int off = 0;
  for (int x1 = -128 - c.in_zp; x1 <= 127 - c.in_zp; ++x1) {
    for (int x2 = -128 - c.addend_zp; x2 <= 127 - c.addend_zp; ++x2) {
      // BS: (acc + A) * C >> s with acc + A = 64 * x1; EW: (x2 raw + offset) * scale >> shift.
      const int64_t p = int64_t{kAddIdentityWeight} * x1 * e.bs_mul[0];
      const int64_t v1 = e.bs_shift ? (p + (int64_t{1} << (e.bs_shift - 1))) >> e.bs_shift : p;
      const int64_t ew = int64_t{x2 + c.addend_zp + e.ew_offset} * e.ew.scale;
      int64_t v = v1 + (e.ew.shift ? (ew + (int64_t{1} << (e.ew.shift - 1))) >> e.ew.shift : ew);
      if (e.relu) v = std::max<int64_t>(v, 0);
      if (e.relux) v = std::min<int64_t>(v, e.relux_cap);
      const int64_t q = ((v * e.out.scale + (int64_t{1} << e.out.shift >> 1)) >> e.out.shift) + e.out_offset;
      const int32_t want = std::clamp(add(x1, x2) + c.out_zp, c.act_min, c.act_max);
      off += std::clamp<int64_t>(q, -128, 127) != want;
    }
  }
  return off;
}

void expect_precise_add_form(const NpuConv& c, const DpuEncoding& e) {
  EXPECT_TRUE(e.bs_multiplier);
  EXPECT_FALSE(e.bn_add);  // no offset: TFLite's ADD rounds its sum once, half away
  EXPECT_LE(e.bs_shift, 6u);
  for (int o = 0; o < c.out_c; ++o) EXPECT_EQ(e.bs_mul[static_cast<size_t>(o)], e.bs_mul[0]);
  EXPECT_GE(e.bs_mul[0], 1);
  EXPECT_EQ(e.ew.shift, 0u);  // the addend enters v exactly
  EXPECT_LE(e.ew.scale, 32767u);
  EXPECT_GE(e.out.scale, e.out.shift < 31 ? 1u << 14 : 1u << 10);  // below 2^14 only at the shift limit
  EXPECT_LT(e.out.scale, 1u << 15);
  EXPECT_LE(e.out.shift, 31u);
  // |v| stays far inside int32: 255 * (32767 * 64 + 32767) < 2^30.
  EXPECT_LT(255.0 * (static_cast<double>(e.bs_mul[0]) * 64 / (1 << e.bs_shift) + e.ew.scale), std::ldexp(1.0, 30));
}

// The joint search of C, the EW scale and OUT_CVT's scale: every input
// pair of these quantizations (ties and power-of-two ratios included)
// requantizes as TFLite's ADD, by the DPU arithmetic emulated here and by
// the encoder's own count, except where noted above.
TEST(RocketCoefs, PreciseAddSplitIsExactOnEveryPair) {
  for (const AddQuant& q : kSyntheticAdds) {
    for (ir::Activation act : {ir::Activation::kNone, ir::Activation::kRelu6}) {
      const NpuConv c = lowered_add(q, act);
      ASSERT_TRUE(c.standalone_add());
      DpuEncoding e;
      ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
      expect_precise_add_form(c, e);
      EXPECT_LE(e.add_pairs_off, q.pairs_off) << q.s1 << " " << q.s2 << " " << q.so;
      EXPECT_EQ(pairs_off(c, e), e.add_pairs_off) << q.s1 << " " << q.s2 << " " << q.so;
    }
  }
}

TEST(RocketCoefs, PreciseAddSplitOfMobilenetV2) {
  NONSTICK_REQUIRE_SHARED_DATA();
  ir::Graph graph;
  ASSERT_TRUE(g::load_model(g::model_path("mobilenet_v2_1.0_224_quant"), &graph));
  int adds = 0;
  double worst = 0;
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    if (graph.ops[i].type != ir::OpType::kAdd) continue;
    NpuConv c;
    ASSERT_TRUE(lower_op(graph, graph.ops[i], static_cast<int>(i), testing::precise_requant(), &c).supported);
    DpuEncoding e;
    ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
    expect_precise_add_form(c, e);
    EXPECT_EQ(e.add_pairs_off, 0) << c.label;
    EXPECT_EQ(pairs_off(c, e), 0) << c.label;
    worst = std::max(worst, e.max_error_steps);
    ++adds;
  }
  EXPECT_EQ(adds, 10);
  // Worst-case slope error of the chosen splits (every pair is exact
  // anyway: the pairs near a boundary were checked one by one).
  std::printf("[ add      ] mobilenet_v2 ADDs: worst slope error bound %.3g steps\n", worst);
  EXPECT_LT(worst, std::ldexp(1.0, -12));
}

// Random scale triples (uint8, random zero points): the share the search
// makes exact on every pair, and the pairs left where it cannot.
TEST(RocketCoefs, PreciseAddSplitOfRandomScales) {
  uint32_t x = 12345;
  auto uniform = [&] {
    x = x * 1664525u + 1013904223u;
    return (x >> 8) / 16777216.0;
  };
  int exact = 0, cases = 0, worst_off = 0;
  for (int i = 0; i < 100; ++i) {
    const float s1 = static_cast<float>(0.01 + 0.2 * uniform());
    const float s2 = static_cast<float>(s1 * (0.05 + 1.5 * uniform()));
    const float so = static_cast<float>((s1 + s2) * (0.3 + 1.2 * uniform()));
    const AddQuant q{s1, s2, so, static_cast<int>(255 * uniform()), static_cast<int>(255 * uniform()),
                     static_cast<int>(255 * uniform())};
    const NpuConv c = lowered_add(q);
    DpuEncoding e;
    ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
    expect_precise_add_form(c, e);
    ASSERT_EQ(pairs_off(c, e), e.add_pairs_off) << s1 << " " << s2 << " " << so;
    exact += e.add_pairs_off == 0;
    worst_off = std::max(worst_off, e.add_pairs_off);
    ++cases;
  }
  std::printf("[ add      ] random ADD scales: %d of %d exact on all 65536 pairs, worst %d pairs off\n", exact,
              cases, worst_off);
  EXPECT_GE(exact, 90);
  EXPECT_LE(worst_off, 3);
}

// The precise stream is the data-use-7 one with one C for every channel.
TEST(RocketCoefs, PreciseStreamCarriesOneMultiplier) {
  const NpuConv c = random_conv(0.0021, 9);
  DpuEncoding e;
  ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
  std::vector<int32_t> words;
  ASSERT_TRUE(fold_biases(c, testing::precise_requant(), &words).ok());
  ASSERT_EQ(words.size(), 4u * 16);  // 32 written channels, 64 bytes per 8
  for (int o = 0; o < 32; ++o) {
    const int32_t* group = words.data() + (o / 8) * 16;
    EXPECT_EQ(group[o % 8], e.bs_add[static_cast<size_t>(o)]);
    const auto mul = static_cast<int16_t>(static_cast<uint32_t>(group[12 + (o % 8) / 2]) >> (16 * (o % 2)));
    EXPECT_EQ(mul, o < c.out_c ? e.bs_mul[0] : 0) << o;
  }
}

// ReLU6 stays exact in v2 units: the cap is the smallest v2 reaching act_max.
TEST(RocketCoefs, PreciseRelu6CapIsTheFirstValueReachingTheTop) {
  NpuConv c = random_conv(0.0041, 3);
  c.act_min = c.out_zp;
  c.act_max = 60;
  DpuEncoding e;
  ASSERT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
  ASSERT_TRUE(e.relu && e.relux);
  const double steps = c.act_max - c.out_zp;
  EXPECT_GE(e.relux_cap * e.out.value(), steps);
  EXPECT_LT((e.relux_cap - 1) * e.out.value(), steps);
}

TEST(RocketCoefs, RequantModeFromTheEnvironment) {
  using Requant = EncodingOptions::Requant;
  {
    testing::ScopedRequantMode mode("outcvt");
    EXPECT_EQ(encoding_options_from_env().requant, Requant::kOutCvt);
  }
  {
    testing::ScopedRequantMode mode("precise");
    EXPECT_EQ(encoding_options_from_env().requant, Requant::kPrecise);
  }
  {
    testing::ScopedRequantMode mode("fastest");  // unknown: a warning, the default
    EXPECT_EQ(encoding_options_from_env().requant, Requant::kPrecise);
  }
  EXPECT_TRUE(encoding_options_from_env().per_channel);
}

TEST(RocketCoefs, PerChannelRefusedWhenTheBsMultiplierIsOff) {
  NpuConv c = random_conv(0.003, 4);
  c.weight_zp = 0;
  c.channel_multipliers.assign(8, 0.003);
  c.channel_multipliers[1] = 0.0007;
  EncodingOptions off = testing::precise_requant();
  off.per_channel = false;
  DpuEncoding e;
  const Support s = encode_dpu(c, off, &e);
  EXPECT_FALSE(s.supported);
  EXPECT_EQ(s.reason, "int8 per-channel needs the BS multiplier, disabled (EncodingOptions::per_channel off)");
  EXPECT_TRUE(encode_dpu(c, testing::precise_requant(), &e).supported);
}

// Lowers every convolution of `model` and compares weights and biases with
// the BOs of Mesa's submit `index` (one job per convolution, in order).
void expect_coefs_match_mesa(const std::string& model, int submit, size_t first_conv, size_t convs) {
  ir::Graph graph;
  ASSERT_TRUE(g::load_model(g::model_path(model), &graph));
  g::Submit sub;
  ASSERT_TRUE(g::load_submit(model, submit, &sub));
  ASSERT_EQ(sub.jobs.size(), convs);
  size_t job = 0, seen = 0;
  for (size_t i = 0; i < graph.ops.size() && job < convs; ++i) {
    const ir::Operation& op = graph.ops[i];
    if (op.type == ir::OpType::kAdd) continue;
    if (seen++ < first_conv) continue;
    NpuConv c;
    const Support s = lower_op(graph, op, static_cast<int>(i), testing::outcvt_requant(), &c);
    ASSERT_TRUE(s.supported) << model << " op " << i << ": " << s.reason;
    const std::vector<uint64_t>& words = sub.jobs[job].tasks[0].words;
    const g::Bo* wbo = sub.bo_at(g::reg_value(words, 0x1110));  // CNA_DCOMP_ADDR0
    const g::Bo* bbo = sub.bo_at(g::reg_value(words, 0x5020));  // DPU_RDMA BS_BASE_ADDR
    ASSERT_TRUE(wbo && bbo);
    const std::vector<uint8_t> mesa_w = sub.blob(*wbo), mine_w = pack_weights(c);
    ASSERT_LE(mine_w.size(), mesa_w.size());
    EXPECT_TRUE(std::equal(mine_w.begin(), mine_w.end(), mesa_w.begin()))
        << model << " job " << job << " (" << c.label << "): packed weights differ";
    const std::vector<uint8_t> mesa_b = sub.blob(*bbo);
    std::vector<int32_t> mine_b;
    ASSERT_TRUE(folded_biases(c, &mine_b).ok());
    ASSERT_EQ(mesa_b.size(), static_cast<size_t>(c.out_c) * 4);
    EXPECT_EQ(std::memcmp(mesa_b.data(), mine_b.data(), mesa_b.size()), 0)
        << model << " job " << job << " (" << c.label << "): folded biases differ";
    ++job;
  }
  EXPECT_EQ(job, convs);
}

TEST(RocketCoefs, MobilenetV1WeightsAndBiasesEqualMesa) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_coefs_match_mesa("mobilenet_v1_0.25_128_quant", 0, 0, 27);
  expect_coefs_match_mesa("mobilenet_v1_0.25_128_quant", 1, 27, 1);  // 1001 outputs: odd kernel count
}

TEST(RocketCoefs, MobilenetV2WeightsAndBiasesEqualMesa) {
  NONSTICK_REQUIRE_SHARED_DATA();
  // 24-channel inputs (padded to 32), 144/960-channel depthwise, input zero
  // points != 128 (folded into the bias).
  expect_coefs_match_mesa("mobilenet_v2_1.0_224_quant", 0, 0, 52);
}

}  // namespace
}  // namespace nonstick::rocket
