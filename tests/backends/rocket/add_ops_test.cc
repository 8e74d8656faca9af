// ADD through the rocket backend on the virtual RK3588 against TFLite 2.9:
// standalone (identity convolution of one operand plus the other through the
// DPU's element-wise stage) and, with the OUT_CVT-only encoding, fused into
// the convolution producing one operand; plus the lowering decisions.
//
// Precise requantization (the default, docs/virtual-rk3588.md §10.6) is
// bit-exact: every case below has tolerance 0, and the all-pairs tests run
// every one of the 65536 input pairs of a quantization (and of each of
// mobilenet_v2's ten ADDs) through the virtual NPU. It never fuses: TFLite
// rounds a convolution's output to 8 bits before the ADD, which the fused
// form skips (measured below).
//
// The OUT_CVT-only encoding (Mesa's registers) keeps tolerance 1 where:
//  - the exact sum is often a half step (equal input scales, half the output
//    step): TFLite's ADD rounds those ties away from zero, the DPU's
//    OUT_CVT up, so negative ties come out one step higher; or nearly one
//    (coarse_output), where the 15-bit multiplier decides differently;
//  - an ADD is fused: the fused form skips TFLite's rounding of the
//    convolution output, which lowering only allows when that moves the
//    result by less than one step (lower.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/reference/fixed_point.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"
#include "golden.h"
#include "host_numerics.h"
#include "layer_agreement.h"
#include "no_fallback.h"
#include "requant_mode.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;

constexpr int kFusedTolerance = 1;  // OUT_CVT only, see the top of the file

struct AddCase {
  std::string name;
  DType dtype = DType::kUInt8;
  std::vector<int32_t> shape = {1, 5, 7, 16};
  float sa = 0.05f, sb = 0.03f, so = 0.07f;
  int32_t za = 120, zb = 135, zo = 128;
  Activation act = Activation::kNone;
  bool b_constant = false;
  const char* mode = "precise";
  int tolerance = 0;  // see the top of the file
};

// Raw-domain zero points of a case in its dtype.
int32_t raw_zp(const AddCase& c, int32_t zp) { return zp - (c.dtype == DType::kUInt8 ? 0 : 128); }

class RocketAdd : public ::testing::TestWithParam<AddCase> {};

TEST_P(RocketAdd, MatchesTflite) {
  const AddCase& c = GetParam();
  ScopedRequantMode mode(c.mode);
  GraphBuilder b(41);
  const int a = b.input(c.dtype, c.shape, c.sa, raw_zp(c, c.za));
  const int in_b = c.b_constant ? b.random_constant(c.dtype, c.shape, c.sb, raw_zp(c, c.zb))
                                : b.input(c.dtype, c.shape, c.sb, raw_zp(c, c.zb));
  const int out = b.tensor(c.dtype, c.shape, c.so, raw_zp(c, c.zo));
  ir::ElementwiseParams p;
  p.activation = c.act;
  b.op(ir::OpType::kAdd, {a, in_b}, {out}, p);
  b.mark_output(out);
  expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = c.tolerance});
}

// The quantizations of the sweep (one case each), in both modes.
std::vector<AddCase> quantizations(const char* mode) {
  std::vector<AddCase> v;
  const bool outcvt = std::string(mode) == "outcvt";
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const std::string s = std::string(t == DType::kUInt8 ? "_u8_" : "_i8_") + mode;
    auto add = [&](std::string name, auto&& edit) {
      AddCase c;
      c.dtype = t;
      c.mode = mode;
      edit(c);
      c.name = name + s;
      v.push_back(c);
    };
    add("default", [](AddCase&) {});
    add("b_coarser", [](AddCase& c) { c.sa = 0.02f; c.sb = 0.09f; });
    // Half-step sums: TFLite rounds ties away from zero, OUT_CVT up; the
    // precise encoding's multiplier rounds them away as well.
    add("equal_scales", [&](AddCase& c) {
      c.sa = c.sb = 0.04f;
      c.so = 0.08f;
      c.tolerance = outcvt ? 1 : 0;
    });
    add("simple_ratio", [&](AddCase& c) {  // s_a = 2 s_b = s_o: ties again
      c.sa = c.so = 0.5f;
      c.sb = 0.25f;
      c.tolerance = outcvt ? 1 : 0;
    });
    add("fine_output", [](AddCase& c) { c.so = 0.01f; });  // saturates a lot
    // x1 / 18 + x2 / 30: a half step in real arithmetic for 1 in 90 pairs,
    // which TFLite's own roundings leave a hair above or below; OUT_CVT's
    // 15-bit multiplier falls on the other side for ~1 % of pairs.
    add("coarse_output", [&](AddCase& c) {
      c.so = 0.9f;
      // arm64: TFLite's ADD differs from the encoder's model of it on a few
      // pairs (PreciseIsBitExactOnEveryInputPair; unexplained): measured 1 step.
      c.tolerance = outcvt ? 1 : host_bound(0, 1);
    });
    add("zero_points_extreme", [](AddCase& c) { c.za = 0; c.zb = 255; c.zo = 3; });
    add("relu_midzp", [](AddCase& c) { c.act = Activation::kRelu; c.zo = 100; });
    add("relu6_midzp", [](AddCase& c) { c.act = Activation::kRelu6; c.zo = 90; c.so = 0.05f; });
    add("constant_first_operand_coarser", [](AddCase& c) { c.b_constant = true; c.sb = 0.2f; });
  }
  return v;
}

std::vector<AddCase> add_cases() {
  std::vector<AddCase> v;
  for (const char* mode : {"precise", "outcvt"}) {
    for (AddCase c : quantizations(mode)) {
      if (c.name.rfind("default", 0) == 0) {
        for (int ch : {1, 3, 16, 17, 64, 256}) {
          AddCase d = c;
          d.shape = {1, 4, 6, ch};
          d.name = "c" + std::to_string(ch) + c.name.substr(7);
          v.push_back(d);
        }
        for (auto [name, shape] : {std::pair<const char*, std::vector<int32_t>>{"rank2", {3, 40}},
                                   {"wide_1x300x8", {1, 1, 300, 8}}}) {
          AddCase d = c;
          d.shape = shape;
          d.name = name + c.name.substr(7);
          v.push_back(d);
        }
        AddCase d = c;
        d.b_constant = true;
        d.name = "constant_operand" + c.name.substr(7);
        v.push_back(d);
        continue;
      }
      v.push_back(c);
    }
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Sweep, RocketAdd, ::testing::ValuesIn(add_cases()),
                         [](const ::testing::TestParamInfo<AddCase>& i) { return i.param.name; });

TEST(RocketAddSame, TensorAddedToItself) {
  for (const char* mode : {"precise", "outcvt"}) {
    ScopedRequantMode scoped(mode);
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      GraphBuilder b(42);
      const int a = b.input(t, {1, 3, 5, 20}, 0.05f, t == DType::kUInt8 ? 120 : -8);
      const int out = b.tensor(t, {1, 3, 5, 20}, 0.09f, t == DType::kUInt8 ? 128 : 0);
      b.op(ir::OpType::kAdd, {a, a}, {out}, ir::ElementwiseParams{});
      b.mark_output(out);
      expect_matches_tflite(b.graph(), {.device = "rocket"});
    }
  }
}

// ---- Every input pair: a [1, 16, 256, 16] ADD whose first operand holds
// i / 256 and second i % 256 at flat index i (raw bytes), i.e. all 65536
// pairs, run on TFLite's CPU and on the virtual NPU.

struct PairsResult {
  int64_t differing = 0;  // output elements (= input pairs) that differ
  int max_diff = 0;
  int add_pairs_off = -1;  // the encoder's own count (precise only)
  int64_t model_differing = 0;  // pairs where rocket::TfliteAdd is not TFLite's CPU result
};

struct AddQuant {
  DType dtype = DType::kUInt8;
  float sa = 0, sb = 0, so = 0;
  int32_t za = 0, zb = 0, zo = 0;  // raw domain
  Activation act = Activation::kNone;
  bool b_constant = false;
};

PairsResult run_all_pairs(const AddQuant& q, const std::string& name) {
  const std::vector<int32_t> shape = {1, 16, 256, 16};
  std::vector<uint8_t> first(65536), second(65536);
  for (size_t i = 0; i < first.size(); ++i) {
    first[i] = static_cast<uint8_t>(i >> 8);
    second[i] = static_cast<uint8_t>(i & 255);
  }
  GraphBuilder b(43);
  const int a = b.input(q.dtype, shape, q.sa, q.za);
  const int in_b = q.b_constant ? b.constant(q.dtype, shape, second, q.sb, q.zb) : b.input(q.dtype, shape, q.sb, q.zb);
  const int out = b.tensor(q.dtype, shape, q.so, q.zo);
  ir::ElementwiseParams p;
  p.activation = q.act;
  b.op(ir::OpType::kAdd, {a, in_b}, {out}, p);
  b.mark_output(out);
  std::vector<std::vector<uint8_t>> inputs = {first};
  if (!q.b_constant) inputs.push_back(second);
  PairsResult r;
  std::vector<uint8_t> want, got;
  run_cpu_and_rocket(b.graph(), name, inputs, &want, &got);
  if (::testing::Test::HasFatalFailure()) return r;
  const bool is_signed = q.dtype == DType::kInt8;
  // The encoder's model of TFLite's ADD, checked against TFLite itself.
  const rocket::TfliteAdd model(q.sa, q.sb, q.so);
  const reference::ActivationRange range = reference::activation_range(q.act, q.dtype, q.so, q.zo);
  auto value = [&](uint8_t b) { return is_signed ? static_cast<int>(static_cast<int8_t>(b)) : static_cast<int>(b); };
  for (size_t k = 0; k < want.size(); ++k) {
    const int w = value(want[k]), g = value(got[k]);
    r.differing += w != g;
    r.max_diff = std::max(r.max_diff, std::abs(w - g));
    const int32_t predicted = std::clamp(model(value(first[k]) - q.za, value(second[k]) - q.zb) + q.zo, range.min, range.max);
    r.model_differing += predicted != w;
  }
  const rocket::EncodingOptions options = rocket::encoding_options_from_env();
  rocket::NpuConv c;
  const ir::Graph& g = b.graph();
  if (rocket::lower_op(g, g.ops[0], 0, options, &c).supported) {
    rocket::DpuEncoding e;
    if (rocket::encode_dpu(c, options, &e).supported && e.bs_multiplier) r.add_pairs_off = e.add_pairs_off;
  }
  return r;
}

AddQuant quant_of(const AddCase& c) {
  return {c.dtype, c.sa, c.sb, c.so, raw_zp(c, c.za), raw_zp(c, c.zb), raw_zp(c, c.zo), c.act, c.b_constant};
}

// Input pairs where arm64 TFLite 2.9's ADD is not what rocket::TfliteAdd
// (the encoder's model of TFLite's ADD) predicts, so the NPU is one step
// off, measured under qemu. Unexplained (docs/arm64.md): the reference
// kernels find arm64's ADD differing from x86's only where the rescaled sum
// leaves int16, which these quantizations do not reach.
int64_t arm64_pairs_off(const std::string& quantization) {
  if (quantization == "coarse_output_u8_precise") return 17;
  if (quantization == "coarse_output_i8_precise") return 14;
  return 0;
}

// Precise: every pair of every sweep quantization equals TFLite, and the
// encoder's compile-time count (DpuEncoding::add_pairs_off) says so too
// (on arm64, but for the pinned pairs above).
TEST(RocketAddAllPairs, PreciseIsBitExactOnEveryInputPair) {
  ScopedRequantMode mode("precise");
  for (const AddCase& c : quantizations("precise")) {
    const PairsResult r = run_all_pairs(quant_of(c), c.name);
    const int64_t unmodelled = host_bound<int64_t>(0, arm64_pairs_off(c.name));
    EXPECT_EQ(r.differing, unmodelled) << c.name << ": max |diff| " << r.max_diff;
    EXPECT_LE(r.max_diff, 1) << c.name;
    EXPECT_EQ(r.add_pairs_off, r.differing - unmodelled) << c.name;
    EXPECT_EQ(r.model_differing, unmodelled) << c.name;
  }
}

// OUT_CVT only, for the record: within one step everywhere.
TEST(RocketAddAllPairs, OutCvtOnlyIsWithinOneStep) {
  ScopedRequantMode mode("outcvt");
  for (const AddCase& c : quantizations("outcvt")) {
    const PairsResult r = run_all_pairs(quant_of(c), c.name);
    std::printf("[ pairs    ] %s: %lld of 65536 input pairs differ\n", c.name.c_str(),
                static_cast<long long>(r.differing));
    EXPECT_LE(r.max_diff, 1) << c.name;
  }
}

// The ten residual ADDs of mobilenet_v2 (uint8) and of tf2_mobilenet_v2
// (int8), each quantization on all input pairs. Precise: mobilenet_v2's
// are bit-exact (compare the 0.32 % of their outputs one step off with the
// OUT_CVT-only encoding, models_test.cc); of tf2's 655360 pairs two are off,
// both in ADD#28: x = (+-10, -+4) sums to +-6.4999988 steps, which TFLite's
// own per-input roundings carry past the half step (to +-7), while
// (+-30, -+12), at exactly three times the sum, rounds to +-19; an error
// linear in x cannot cross the boundary in the first and not in the second
// (docs/virtual-rk3588.md §10.6). The encoder counts them itself.
TEST(RocketAddAllPairs, MobilenetV2AddsAreBitExact) {
  NONSTICK_REQUIRE_SHARED_DATA();
  for (auto [file, expected_off] : {std::pair<const char*, int64_t>{"mobilenet_v2_1.0_224_quant", 0},
                                    {"tf2_mobilenet_v2_1.0_224_ptq", 2}}) {
    ir::Graph g;
    ASSERT_TRUE(golden::load_model(golden::model_path(file), &g));
    int adds = 0;
    int64_t outcvt_differing = 0, precise_differing = 0;
    for (const ir::Operation& op : g.ops) {
      if (op.type != ir::OpType::kAdd) continue;
      const ir::Tensor& a = *g.input(op, 0);
      const ir::Tensor& b = *g.input(op, 1);
      const ir::Tensor& o = g.output(op, 0);
      const AddQuant q{o.dtype, a.quant.scale(), b.quant.scale(), o.quant.scale(), a.quant.zero_point(),
                       b.quant.zero_point(), o.quant.zero_point(), op.get<ir::ElementwiseParams>().activation};
      const std::string name = std::string(file) + " ADD#" + std::to_string(op.source_index);
      {
        ScopedRequantMode mode("precise");
        const PairsResult r = run_all_pairs(q, name);
        EXPECT_LE(r.max_diff, 1) << name;
        EXPECT_EQ(r.add_pairs_off, r.differing) << name;
        EXPECT_EQ(r.model_differing, 0) << name;
        precise_differing += r.differing;
      }
      {
        ScopedRequantMode mode("outcvt");
        const PairsResult r = run_all_pairs(q, name);
        EXPECT_LE(r.max_diff, 1) << name;
        outcvt_differing += r.differing;
      }
      ++adds;
    }
    EXPECT_EQ(adds, 10) << file;
    EXPECT_EQ(precise_differing, expected_off) << file;
    std::printf("[ pairs    ] %s ADDs: %lld of %d input pairs differ, OUT_CVT only %lld\n", file,
                static_cast<long long>(precise_differing), adds * 65536, static_cast<long long>(outcvt_differing));
  }
}

// ---- CONV_2D -> ADD: fused (OUT_CVT only) when the convolution's output
// cannot saturate.

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

std::vector<rocket::NpuConv> lowered(const ir::Graph& g, const rocket::EncodingOptions& options) {
  std::vector<rocket::NpuConv> ops;
  const Status s = rocket::lower_graph(g, options, &ops);
  EXPECT_TRUE(s.ok()) << s.message();
  return ops;
}

TEST(RocketFusedAdd, FusesWithOutCvtWhenTheConvolutionCannotSaturate) {
  ScopedRequantMode mode("outcvt");
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (int channels : {8, 40}) {
      const FusedGraph f = conv_add_graph(t, channels, 1.0f, false);
      const auto ops = lowered(f.graph, outcvt_requant());
      ASSERT_EQ(ops.size(), 1u);
      EXPECT_NE(ops[0].label.find("+ADD"), std::string::npos) << ops[0].label;
      EXPECT_TRUE(ops[0].has_addend());
      expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kFusedTolerance});
    }
  }
}

TEST(RocketFusedAdd, PreciseKeepsTheAddSeparateAndExact) {
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (int channels : {8, 40}) {
      const FusedGraph f = conv_add_graph(t, channels, 1.0f, false);
      const auto ops = lowered(f.graph, precise_requant());
      ASSERT_EQ(ops.size(), 2u);
      EXPECT_EQ(rocket::fusion_blocker(f.graph, ops[0], ops[1], precise_requant()),
                "precise requantization keeps the ADD separate (TFLite rounds the convolution's output first)");
      EXPECT_TRUE(rocket::fusion_blocker(f.graph, ops[0], ops[1], outcvt_requant()).empty());
      expect_matches_tflite(f.graph, {.device = "rocket"});
    }
  }
}

// What fusing would cost in exactness: on the graphs above (random inputs
// over the full range, 4 seeds each), the fused OUT_CVT-only form against
// the separate precise ADD. Measured: fused 2098 of 9600 outputs (21.9 %)
// one step off, separate 0. Fusing would save one task (and y's DRAM round
// trip) per ADD; no ADD of the shared models fuses anyway (models_test.cc).
TEST(RocketFusedAdd, FusionCostsExactness) {
  int64_t outputs = 0, fused_off = 0, separate_off = 0;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const FusedGraph f = conv_add_graph(t, 40, 1.0f, false);
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      std::vector<std::vector<uint8_t>> inputs;
      for (int input : f.graph.inputs) {
        double lo = 0, hi = 0;
        dtype_range(t, &lo, &hi);
        Rng rng(Rng::combine(seed, static_cast<uint64_t>(input)));
        inputs.push_back(random_values(t, f.graph.tensor(input).num_elements(), lo, hi, &rng));
      }
      for (const char* mode : {"outcvt", "precise"}) {
        ScopedRequantMode scoped(mode);
        std::vector<uint8_t> want, got;
        run_cpu_and_rocket(f.graph, mode, inputs, &want, &got);
        ASSERT_FALSE(::testing::Test::HasFatalFailure());
        int64_t off = 0;
        for (size_t k = 0; k < want.size(); ++k) {
          const int d = t == DType::kInt8 ? static_cast<int8_t>(want[k]) - static_cast<int8_t>(got[k])
                                          : want[k] - got[k];
          EXPECT_LE(std::abs(d), 1);
          off += d != 0;
        }
        (std::string(mode) == "outcvt" ? fused_off : separate_off) += off;
        if (std::string(mode) == "outcvt") outputs += static_cast<int64_t>(want.size());
      }
    }
  }
  std::printf("[ fusion   ] fused (OUT_CVT only): %lld of %lld outputs off by one; separate (precise): %lld\n",
              static_cast<long long>(fused_off), static_cast<long long>(outputs),
              static_cast<long long>(separate_off));
  EXPECT_EQ(separate_off, 0);
  EXPECT_GT(fused_off, 0);
}

TEST(RocketFusedAdd, FusedAddWithRelu6) {
  ScopedRequantMode mode("outcvt");
  const FusedGraph f = conv_add_graph(DType::kUInt8, 16, 1.0f, false, Activation::kRelu6);
  ASSERT_EQ(lowered(f.graph, outcvt_requant()).size(), 1u);
  expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = kFusedTolerance});
}

TEST(RocketFusedAdd, StaysSeparateWhenTheConvolutionCanSaturate) {
  // y's step too fine for the worst-case accumulator: TFLite clamps y.
  for (const char* mode : {"outcvt", "precise"}) {
    ScopedRequantMode scoped(mode);
    const rocket::EncodingOptions options = rocket::encoding_options_from_env();
    const FusedGraph f = conv_add_graph(DType::kUInt8, 8, 0.25f, false);
    const auto ops = lowered(f.graph, options);
    ASSERT_EQ(ops.size(), 2u);
    EXPECT_EQ(rocket::fusion_blocker(f.graph, ops[0], ops[1], options),
              "the convolution's output can saturate before the ADD");
    // Separate: bit-exact in precise mode; OUT_CVT only requantizes the
    // convolution with a 15-bit multiplier, one step off here and there.
    expect_matches_tflite(f.graph, {.device = "rocket", .tolerance = std::string(mode) == "outcvt" ? 1 : 0});
  }
}

TEST(RocketFusedAdd, StaysSeparateWhenTheConvolutionOutputIsAlsoAnOutput) {
  ScopedRequantMode mode("outcvt");
  const FusedGraph f = conv_add_graph(DType::kInt8, 8, 1.0f, true);
  const auto ops = lowered(f.graph, outcvt_requant());
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(rocket::fusion_blocker(f.graph, ops[0], ops[1], outcvt_requant()),
            "the convolution's output leaves the partition");
  expect_matches_tflite(f.graph, {.device = "rocket"});  // separate: bit-exact
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
  const auto ops = lowered(b.graph(), outcvt_requant());
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(rocket::fusion_blocker(b.graph(), ops[0], ops[1], outcvt_requant()),
            "fusing into a depthwise convolution is not evidenced");
  // Precise: the depthwise output unclamped keeps its tolerance of 1 (the
  // offset cannot follow the sign, §10.1); the ADD (scales 1 and 0.5,
  // half-step sums) is exact.
  expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = 1});
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
    ASSERT_TRUE(rocket::lower_op(g, g.ops[i], static_cast<int>(i), outcvt_requant(), &conv).supported);
    ASSERT_TRUE(rocket::lower_op(g, g.ops[i + 1], static_cast<int>(i + 1), outcvt_requant(), &add).supported);
    EXPECT_EQ(rocket::fusion_blocker(g, conv, add, outcvt_requant()),
              "the convolution's output can saturate before the ADD")
        << conv.label << " + " << add.label;
    ++adds;
  }
  EXPECT_EQ(adds, 10);
}

}  // namespace
}  // namespace nonstick::testing
