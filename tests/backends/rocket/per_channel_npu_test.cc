// The virtual NPU's BS stage with the per-channel multiplier (the
// BRDMA_DATA_USE 7 form of docs/virtual-rk3588.md §9, a third-party claim)
// and its BN stage adding a constant (§10, NVDLA lineage, unverified on
// RK3588): a task emitted by the rocket compiler runs on the NPU core model,
// and every output is compared with a host model of the claimed arithmetic,
// v1 = sat32(rne((acc + A) * C >> s)), v2 = sat32(v1 + BN_ALU_CFG),
// computed from the very stream and register values the core reads. Also the
// claimed corner cases (ties to even for both signs, the product held wide,
// int32 saturation of v1 and v2), a precise per-tensor task against TFLite's
// own arithmetic, and the refusal of every form the model does not
// implement. These pin the model to the claim; whether hardware agrees is not
// testable here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "backends/reference/conv_util.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/regcmd.h"
#include "backends/rocket/tasks.h"
#include "golden.h"
#include "requant_mode.h"
#include "rocket/registers.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::testing {
namespace {

namespace r = rocket::reg;

// A 1x1 convolution, 3x2 pixels, 16 -> 32 channels, filter scales spread
// 20x, symmetric int8 weights (deterministic).
rocket::NpuConv per_channel_conv() {
  rocket::NpuConv c;
  c.label = "bs";
  c.in_w = c.out_w = 3;
  c.in_h = c.out_h = 2;
  c.in_c = 16;
  c.out_c = 32;
  c.in_zp = -3;
  c.out_zp = 5;
  uint32_t x = 99;
  auto next = [&] { return x = x * 1664525u + 1013904223u; };
  for (int i = 0; i < 32 * 16; ++i) c.weights.push_back(static_cast<int8_t>(static_cast<int>(next() >> 24) % 255 - 127));
  for (int o = 0; o < 32; ++o) {
    c.bias.push_back(static_cast<int32_t>(next() >> 20) - 2048);
    c.channel_multipliers.push_back(0.004 * std::pow(20.0, -static_cast<double>(next() >> 8) / (1 << 24)));
  }
  c.out_multiplier = *std::max_element(c.channel_multipliers.begin(), c.channel_multipliers.end());
  return c;
}

// One flat BO at kBase standing for every buffer of a task.
class FlatMemory : public virt::DeviceMemory {
 public:
  static constexpr uint64_t kBase = 0x10000000;
  FlatMemory() : bytes_(0x400000, 0) {}
  uint8_t* resolve(uint64_t iova, uint64_t bytes) override {
    if (iova < kBase || iova + bytes > kBase + bytes_.size()) return nullptr;
    return bytes_.data() + (iova - kBase);
  }
  uint8_t* at(uint32_t iova) { return resolve(iova, 1); }

 private:
  std::vector<uint8_t> bytes_;
};

// A 1x1 per-channel convolution, 2x3 pixels, 16 -> 32 channels, placed in
// FlatMemory and run on the NPU core model, with a host model of the claimed
// arithmetic computed from the very stream and words the core reads.
class RocketBsStage : public ::testing::Test {
 protected:
  static constexpr uint32_t kIn = 0x10000000, kOut = 0x10100000, kWeights = 0x10200000, kStream = 0x10300000,
                            kRegcmd = 0x10380000;

  virtual rocket::NpuConv make_conv() { return per_channel_conv(); }

  void SetUp() override {
    conv_ = make_conv();
    const Support ok = rocket::encode_dpu(conv_, precise_requant(), &enc_);
    ASSERT_TRUE(ok.supported) << ok.reason;
    ASSERT_TRUE(enc_.bs_multiplier);
    rocket::TaskPlan plan;
    ASSERT_TRUE(rocket::plan_tasks(conv_, &plan).supported);
    rocket::TaskAddresses a{kIn, kOut, kWeights, kStream, 0, 0, 0, false};
    rocket::emit_task(conv_, enc_, plan, 0, a, &words_);
    const std::vector<uint8_t> w = rocket::pack_weights(conv_);
    std::memcpy(mem_.at(kWeights), w.data(), w.size());
    std::vector<int32_t> stream;
    ASSERT_TRUE(rocket::fold_biases(conv_, precise_requant(), &stream).ok());
    std::memcpy(mem_.at(kStream), stream.data(), stream.size() * 4);
    // Inputs -128..127 spread over pixels and channels (one surface).
    for (int px = 0; px < 6; ++px) {
      for (int ch = 0; ch < 16; ++ch) mem_.at(kIn)[px * 16 + ch] = static_cast<uint8_t>(px * 41 + ch * 17 - 128);
    }
  }

  // Replaces the value of every write of register `offset` in the task.
  void set(uint16_t offset, uint32_t value) {
    for (uint64_t& w : words_) {
      if ((w & 0xFFFF) == offset && (w >> 48) != 0x41 && (w >> 48) != 0x81 && (w >> 48) != 0) {
        w = (w & 0xFFFF00000000FFFFull) | uint64_t{value} << 16;
      }
    }
  }
  uint32_t get(uint16_t offset) const { return golden::reg_value(words_, offset); }
  // Stream operands of channel c.
  uint8_t* a_of(int c) { return mem_.at(kStream) + (c / 8) * 64 + 4 * (c % 8); }
  uint8_t* b_of(int c) { return mem_.at(kStream) + (c / 8) * 64 + 32 + 2 * (c % 8); }
  uint8_t* c_of(int c) { return mem_.at(kStream) + (c / 8) * 64 + 48 + 2 * (c % 8); }

  std::string run() {
    std::memcpy(mem_.at(kRegcmd), words_.data(), words_.size() * 8);
    auto core = virt::create_npu_core();
    virt::TaskCounters counters;
    const Status s = core->run_task(mem_, kRegcmd, static_cast<uint32_t>(words_.size()), &counters);
    return s.ok() ? "ok" : s.message();
  }
  int8_t npu_out(int px, int ch) { return static_cast<int8_t>(mem_.at(kOut)[(ch / 16) * 6 * 16 + px * 16 + ch % 16]); }

  // The claimed arithmetic, read from the stream and registers in memory:
  // v1 = sat32(rne((acc + A) * C >> s)); v2 = sat32(v1 + BN_ALU_CFG) when the
  // BN ALU is live; out = sat8(round_half_up(v2 * SCALE >> SHIFT) + OFFSET).
  int64_t claimed_v(int px, int ch) {
    int64_t acc = 0;
    for (int k = 0; k < 16; ++k) {
      acc += int64_t{static_cast<int8_t>(mem_.at(kIn)[px * 16 + k])} * conv_.weights[static_cast<size_t>(ch * 16 + k)];
    }
    int32_t a;
    int16_t m;
    std::memcpy(&a, a_of(ch), 4);
    std::memcpy(&m, c_of(ch), 2);
    const int64_t p = (acc + a) * m;
    const uint32_t s = r::DPU_BS_MUL_CFG::get_BS_MUL_SHIFT_VALUE(get(r::DPU_BS_MUL_CFG::offset));
    int64_t q = p;
    if (s > 0) {
      const int64_t floor = p >> s, rem = p - (floor << s), half = int64_t{1} << (s - 1);
      q = rem > half || (rem == half && (floor & 1)) ? floor + 1 : floor;
    }
    return std::clamp<int64_t>(q, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
  }
  int64_t claimed_v2(int px, int ch) {
    const int64_t v1 = claimed_v(px, ch);
    if (r::DPU_BN_CFG::get_BN_ALU_BYPASS(get(r::DPU_BN_CFG::offset))) return v1;
    return std::clamp<int64_t>(v1 + static_cast<int32_t>(get(r::DPU_BN_ALU_CFG::offset)),
                               std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
  }
  int claimed_out(int px, int ch) {
    const uint32_t scale = get(r::DPU_OUT_CVT_SCALE::offset), shift = get(r::DPU_OUT_CVT_SHIFT::offset);
    const int64_t prod = claimed_v2(px, ch) * scale;
    const int64_t q = shift ? (prod + (int64_t{1} << (shift - 1))) >> shift : prod;
    return static_cast<int>(std::clamp<int64_t>(q + static_cast<int32_t>(get(r::DPU_OUT_CVT_OFFSET::offset)), -128, 127));
  }
  void expect_claimed() {
    ASSERT_EQ(run(), "ok");
    for (int px = 0; px < 6; ++px) {
      for (int ch = 0; ch < 32; ++ch) EXPECT_EQ(npu_out(px, ch), claimed_out(px, ch)) << "pixel " << px << " channel " << ch;
    }
  }
  // OUT_CVT as the identity (v * 2^14 >> 14), so v itself reaches memory;
  // BN_ALU_CFG 0.
  void identity_out_cvt() {
    set(r::DPU_BN_ALU_CFG::offset, 0);
    set(r::DPU_OUT_CVT_SCALE::offset, 1u << 14);
    set(r::DPU_OUT_CVT_SHIFT::offset, 14);
    set(r::DPU_OUT_CVT_OFFSET::offset, 0);
  }
  void set_operands(int ch, int32_t a, int16_t m) {
    std::memcpy(a_of(ch), &a, 4);
    std::memcpy(c_of(ch), &m, 2);
  }

  rocket::NpuConv conv_;
  rocket::DpuEncoding enc_;
  std::vector<uint64_t> words_;
  FlatMemory mem_;
};

TEST_F(RocketBsStage, ComputesTheClaimedArithmetic) {
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_ALU_BYPASS(get(r::DPU_BN_CFG::offset)), 0u);  // precise: BN adds B
  expect_claimed();
}

TEST_F(RocketBsStage, ShiftRoundsTiesToEvenForBothSigns) {
  identity_out_cvt();
  const uint32_t s = 4;
  set(r::DPU_BS_MUL_CFG::offset, (s << 8) | 1);
  set(r::DPU_DATA_FORMAT::offset, s << 4);
  // Channels 0..3 ignore the input (C = 1 over an A that dwarfs nothing:
  // zero weights would need repacking, so pick A - acc on the host instead).
  const int32_t halves[] = {1, 3, -1, -3, 5, -5};  // x.5 in units of 2^s: 0.5, 1.5, -0.5, -1.5, 2.5, -2.5
  const int expect[] = {0, 2, 0, -2, 2, -2};
  for (int ch = 0; ch < 6; ++ch) {
    int64_t acc = 0;
    for (int k = 0; k < 16; ++k) {
      acc += int64_t{static_cast<int8_t>(mem_.at(kIn)[k])} * conv_.weights[static_cast<size_t>(ch * 16 + k)];
    }
    set_operands(ch, static_cast<int32_t>(halves[ch] * 8 - acc), 1);  // (acc + A) * 1 = halves * 2^(s-1)
  }
  ASSERT_EQ(run(), "ok");
  for (int ch = 0; ch < 6; ++ch) EXPECT_EQ(npu_out(0, ch), expect[ch]) << "channel " << ch;
  expect_claimed();
}

TEST_F(RocketBsStage, ProductIsHeldWideAndVSaturatesToInt32) {
  identity_out_cvt();
  set(r::DPU_OUT_CVT_SHIFT::offset, 14 + 25);  // v / 2^25: int32 max reads 64
  set(r::DPU_BS_MUL_CFG::offset, 1);           // shift 0
  set(r::DPU_DATA_FORMAT::offset, 0);
  set_operands(0, 1 << 30, 16);  // (acc + 2^30) * 16 ~ 2^34: past int32 before any shift
  set_operands(1, -(1 << 30), 16);
  ASSERT_EQ(run(), "ok");
  EXPECT_EQ(npu_out(0, 0), 64);
  EXPECT_EQ(npu_out(0, 1), -64);
  // With a shift the same product fits again: held wide, shifted, not clipped first.
  set(r::DPU_BS_MUL_CFG::offset, (4u << 8) | 1);
  set(r::DPU_DATA_FORMAT::offset, 4u << 4);
  ASSERT_EQ(run(), "ok");
  EXPECT_EQ(npu_out(0, 0), claimed_out(0, 0));
  EXPECT_EQ(claimed_out(0, 0), 32);
  expect_claimed();
}

TEST_F(RocketBsStage, RefusesWhatItDoesNotModel) {
  const auto words = words_;
  set(r::DPU_RDMA_RDMA_BRDMA_CFG::offset, 1u << 1);  // multiplier without the data-use-7 stream
  EXPECT_EQ(run().rfind("DPU_BS_CFG = 0x20140: ", 0), 0u) << run();
  words_ = words;
  set(r::DPU_BS_MUL_CFG::offset, get(r::DPU_BS_MUL_CFG::offset) & ~1u);  // BS_MUL_SRC 0: register operand
  EXPECT_EQ(run().rfind("DPU_BS_MUL_CFG = ", 0), 0u) << run();
  words_ = words;
  set(r::DPU_DATA_FORMAT::offset, get(r::DPU_DATA_FORMAT::offset) + (1u << 4));  // sign-split shifts
  EXPECT_EQ(run().rfind("DPU_DATA_FORMAT.BS_MUL_SHIFT_VALUE_NEG = ", 0), 0u) << run();
  words_ = words;
  const int16_t b = 3;  // a per-channel OW operand
  std::memcpy(b_of(5), &b, 2);
  EXPECT_NE(run().find("non-zero per-channel OW operand"), std::string::npos) << run();
  std::memset(b_of(5), 0, 2);
  EXPECT_EQ(run(), "ok");
  set(r::DPU_BS_CFG::offset, get(r::DPU_BS_CFG::offset) | (1u << 4));  // bypassed, stream still 7
  EXPECT_EQ(run().rfind("DPU_RDMA_RDMA_BRDMA_CFG.BRDMA_DATA_USE = 0x7: ", 0), 0u) << run();
}

// The BN stage's constant add (§10): v2 = sat32(v1 + BN_ALU_CFG), exact
// before the saturation, then BN ReLU/ReLUX and OUT_CVT.
TEST_F(RocketBsStage, BnAluAddsItsConstantOperandThenSaturates) {
  identity_out_cvt();
  set(r::DPU_BS_MUL_CFG::offset, 1);  // shift 0: v1 = (acc + A) * C exactly
  set(r::DPU_DATA_FORMAT::offset, 0);
  int64_t acc[4] = {};
  for (int ch = 0; ch < 4; ++ch) {
    for (int k = 0; k < 16; ++k) {
      acc[ch] += int64_t{static_cast<int8_t>(mem_.at(kIn)[k])} * conv_.weights[static_cast<size_t>(ch * 16 + k)];
    }
  }
  set_operands(0, static_cast<int32_t>(20 - acc[0]), 1);   // v1 = 20
  set_operands(1, static_cast<int32_t>(-20 - acc[1]), 1);  // v1 = -20
  for (int32_t b : {0, 7, -50}) {
    set(r::DPU_BN_ALU_CFG::offset, static_cast<uint32_t>(b));
    ASSERT_EQ(run(), "ok");
    EXPECT_EQ(npu_out(0, 0), std::clamp(20 + b, -128, 127)) << b;
    EXPECT_EQ(npu_out(0, 1), std::clamp(-20 + b, -128, 127)) << b;
  }
  // Near int32's ends: the sum saturates rather than wraps. OUT_CVT reads
  // v2 / 2^24, so int32 max gives 128 -> 127 and min -128 (wrapping would
  // give the opposite sign).
  set(r::DPU_OUT_CVT_SHIFT::offset, 14 + 24);
  set_operands(2, static_cast<int32_t>(std::numeric_limits<int32_t>::max() - 5 - acc[2]), 1);
  set_operands(3, static_cast<int32_t>(std::numeric_limits<int32_t>::min() + 5 - acc[3]), 1);
  set(r::DPU_BN_ALU_CFG::offset, 10);
  ASSERT_EQ(run(), "ok");
  EXPECT_EQ(npu_out(0, 2), 127);
  EXPECT_EQ(claimed_v2(0, 2), std::numeric_limits<int32_t>::max());
  set(r::DPU_BN_ALU_CFG::offset, static_cast<uint32_t>(-10));
  ASSERT_EQ(run(), "ok");
  EXPECT_EQ(npu_out(0, 3), -128);
  EXPECT_EQ(claimed_v2(0, 3), std::numeric_limits<int32_t>::min());
  expect_claimed();
}

TEST_F(RocketBsStage, RefusesTheBnFormsItDoesNotModel) {
  const uint32_t bn = get(r::DPU_BN_CFG::offset);
  set(r::DPU_BN_CFG::offset, bn | r::DPU_BN_CFG::BN_ALU_SRC(1));  // operand from the NRDMA stream
  EXPECT_EQ(run().rfind("DPU_BN_CFG.BN_ALU_SRC = 0x1: ", 0), 0u) << run();
  set(r::DPU_BN_CFG::offset, (bn & ~r::DPU_BN_CFG::BN_ALU_ALGO(0xf)) | r::DPU_BN_CFG::BN_ALU_ALGO(0));  // max
  EXPECT_EQ(run().rfind("DPU_BN_CFG.BN_ALU_ALGO = 0x0: ", 0), 0u) << run();
  set(r::DPU_BN_CFG::offset, bn & ~r::DPU_BN_CFG::BN_MUL_BYPASS(1));  // BN multiplier live
  EXPECT_EQ(run().rfind("DPU_BN_CFG = ", 0), 0u) << run();
  set(r::DPU_BN_CFG::offset, bn);
  EXPECT_EQ(run(), "ok");
}

// Precise per-tensor requantization (§10) end to end on the core model: one
// C for every channel from the data-use-7 stream, the BN stage adding
// TFLite's rounding offset; every output equals both the host model of the
// modelled arithmetic and TFLite's own requantization of the accumulator
// (ruy's, as CONV_2D runs it on x86), on every one of 192 outputs.
class RocketPreciseTask : public RocketBsStage {
 protected:
  rocket::NpuConv make_conv() override {
    rocket::NpuConv c = per_channel_conv();
    c.channel_multipliers.clear();
    c.out_multiplier = 0.000731;  // outputs mostly inside int8
    return c;
  }
};

TEST_F(RocketPreciseTask, EqualsTheModelAndTflite) {
  ASSERT_TRUE(enc_.bn_add);
  for (int ch = 1; ch < 32; ++ch) ASSERT_EQ(enc_.bs_mul[static_cast<size_t>(ch)], enc_.bs_mul[0]);
  expect_claimed();
  const reference::QuantizedMultiplier q = reference::quantize_multiplier(conv_.out_multiplier);
  std::vector<int32_t> folded;
  ASSERT_TRUE(rocket::folded_biases(conv_, &folded).ok());
  int inside = 0;
  for (int px = 0; px < 6; ++px) {
    for (int ch = 0; ch < 32; ++ch) {
      int64_t acc = folded[static_cast<size_t>(ch)];
      for (int k = 0; k < 16; ++k) {
        const int64_t x = static_cast<int8_t>(mem_.at(kIn)[px * 16 + k]);
        acc += x * conv_.weights[static_cast<size_t>(ch * 16 + k)];
      }
      const int tflite = std::clamp(
          reference::multiply_by_quantized_multiplier_gemm(static_cast<int32_t>(acc), q) + conv_.out_zp, -128, 127);
      EXPECT_EQ(npu_out(px, ch), tflite) << "pixel " << px << " channel " << ch << " acc " << acc;
      inside += tflite > -128 && tflite < 127;
    }
  }
  EXPECT_GT(inside, 150);
}

}  // namespace
}  // namespace nonstick::testing
