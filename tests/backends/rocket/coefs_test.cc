// Weight packing, bias folding and multiplier encoding of the rocket backend:
// hand-computed cases, and every convolution of two real uint8 models
// against the weight and bias BOs Mesa's rocket driver submitted for them.
#include "backends/rocket/coefs.h"

#include <gtest/gtest.h>

#include <cmath>

#include "backends/rocket/lower.h"
#include "golden.h"

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
  ASSERT_TRUE(fold_biases(c, &b).ok());
  ASSERT_EQ(b.size(), 32u);  // one per written channel
  for (int o = 0; o < 3; ++o) {
    int64_t sum = 0;
    for (int k = 0; k < 6; ++k) sum += c.weights[static_cast<size_t>(o * 6 + k)] - c.weight_zp;
    EXPECT_EQ(b[static_cast<size_t>(o)], c.bias[static_cast<size_t>(o)] - 5 * sum) << o;
  }
  EXPECT_EQ(b[3], 0);
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
    const Support s = lower_op(graph, op, static_cast<int>(i), &c);
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
    ASSERT_TRUE(fold_biases(c, &mine_b).ok());
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
