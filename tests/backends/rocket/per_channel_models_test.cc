// The two real int8 per-channel models on the rocket backend (virtual
// RK3588), against TFLite 2.9's CPU kernels. The per-channel encoding is a
// third-party claim modelled in our virtual NPU (docs/virtual-rk3588.md §9),
// so these show agreement of compiler, model and claim with TFLite, not
// hardware behaviour.
//   - Every convolution of each model alone, on random inputs over the whole
//     int8 range (harder than the models' own activations): within one step.
//   - Each model end to end on the capture's ramp input and three photos:
//     every convolution placed on the NPU, output difference pinned, top-1
//     equal wherever the CPU's lead is decisive.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "delegate/delegate.h"
#include "golden.h"
#include "host_numerics.h"
#include "layer_agreement.h"
#include "no_fallback.h"
#include "requant_mode.h"
#include "support/op_harness.h"
#include "tflite/interpreter.h"
#include "cpu_and_rocket.h"

namespace nonstick::testing {
namespace {

// Every convolution of the two real per-channel models, alone, on random
// inputs over the whole int8 range (harder than the models' own
// activations), in both requantization modes: no output further than one
// step from TFLite; the share of one-step differences is pinned (measured
// values in the comments). Per-channel layers keep differences in both
// modes: C has 15 bits for the largest channel and fewer for the others
// (coefs.h), a slope error of up to ~2^-9 steps over the int8 range.
struct LayerBound {
  const char* mode;
  double max_rate;        // bound on the share of differing outputs over all layers
  double max_layer_rate;  // bound on the worst layer's share
};

void expect_every_conv_within_one_step(const std::string& model, int expected_convs,
                                       std::initializer_list<LayerBound> bounds) {
  NONSTICK_REQUIRE_SHARED_DATA();
  for (const LayerBound& b : bounds) {
    ScopedRequantMode mode(b.mode);
    const LayerAgreement s = measure_layers(model, {ir::OpType::kConv2D, ir::OpType::kDepthwiseConv2D});
    print_layer_agreement(model + " (" + b.mode + ")", s);
    EXPECT_EQ(s.layers, expected_convs);
    EXPECT_EQ(s.off_by_more, 0) << b.mode;
    EXPECT_LE(s.rate(), b.max_rate) << b.mode;
    EXPECT_LE(s.worst_layer_rate, b.max_layer_rate) << b.mode << ": " << s.worst_layer;
  }
}

TEST(RocketPerChannelLayers, EveryConvOfVwwWithinOneStep) {
  // precise 0.0605 % of 231 552 outputs (worst DEPTHWISE_CONV_2D#11,
  // 0.304 %); OUT_CVT only 0.0838 % (0.347 %).
  expect_every_conv_within_one_step("vww_mobilenet_v1_0.25_96_int8", 27,
                                    {{"precise", 0.00061, 0.0031}, {"outcvt", 0.00085, 0.0035}});
}

TEST(RocketPerChannelLayers, EveryConvOfTf2MobilenetV2WithinOneStep) {
  // precise 0.226 % of 6 679 113 outputs (worst DEPTHWISE_CONV_2D#2,
  // 0.742 %); OUT_CVT only 0.234 % (DEPTHWISE_CONV_2D#8, 0.734 %).
  expect_every_conv_within_one_step("tf2_mobilenet_v2_1.0_224_ptq", 53,
                                    {{"precise", 0.0023, 0.0075}, {"outcvt", 0.0024, 0.0075}});
}

// 24-bit uncompressed BMP, bilinear-resized to h x w RGB.
std::vector<uint8_t> load_bmp_resized(const std::string& path, int h, int w) {
  const std::vector<uint8_t> f = golden::read_bytes(path);
  if (f.size() < 54 || f[0] != 'B' || f[1] != 'M') return {};
  auto u32 = [&](size_t o) { return uint32_t{f[o]} | uint32_t{f[o + 1]} << 8 | uint32_t{f[o + 2]} << 16 | uint32_t{f[o + 3]} << 24; };
  const uint32_t offset = u32(10);
  const int sw = static_cast<int>(u32(18)), sh_signed = static_cast<int32_t>(u32(22));
  if ((f[28] | f[29] << 8) != 24 || u32(30) != 0) return {};
  const int sh = std::abs(sh_signed);
  const size_t row = (static_cast<size_t>(sw) * 3 + 3) / 4 * 4;
  auto pixel = [&](int y, int x, int c) {
    const int fy = sh_signed > 0 ? sh - 1 - y : y;  // bottom-up rows
    return static_cast<double>(f[offset + static_cast<size_t>(fy) * row + static_cast<size_t>(x) * 3 + (2 - c)]);
  };
  std::vector<uint8_t> out(static_cast<size_t>(h) * w * 3);
  for (int y = 0; y < h; ++y) {
    const double fy = std::clamp((y + 0.5) * sh / h - 0.5, 0.0, sh - 1.0);
    const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, sh - 1);
    for (int x = 0; x < w; ++x) {
      const double fx = std::clamp((x + 0.5) * sw / w - 0.5, 0.0, sw - 1.0);
      const int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, sw - 1);
      for (int c = 0; c < 3; ++c) {
        const double top = pixel(y0, x0, c) * (1 - (fx - x0)) + pixel(y0, x1, c) * (fx - x0);
        const double bottom = pixel(y1, x0, c) * (1 - (fx - x0)) + pixel(y1, x1, c) * (fx - x0);
        out[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>(std::lround(top * (1 - (fy - y0)) + bottom * (fy - y0)));
      }
    }
  }
  return out;
}

struct ModelCase {
  const char* file;
  const char* mode;     // requantization encoding (requant_mode.h)
  int delegated;        // every CONV_2D / DEPTHWISE_CONV_2D plus what else the NPU takes
  int max_diff;         // pinned bound on |rocket - CPU| over all inputs' output bytes
  int max_differing;    // pinned bound on differing output bytes, all inputs
  int decisive_inputs;  // inputs whose CPU top-1 lead makes top-1 comparable
  // The bounds against arm64 TFLite 2.9 where they differ (host_numerics.h;
  // negative: as above), measured under qemu.
  struct {
    int max_diff = -1, max_differing = -1, decisive_inputs = -1;
  } arm64 = {};
};

// Measured on the virtual NPU (see docs/virtual-rk3588.md §9, §10), pinned
// as regression bounds. Inputs: the capture's deterministic ramp and three
// photographs. Every layer is within one step of TFLite (above); over 28-65
// layers those steps add up, most on the ramp input, whose flat softmax
// amplifies logit differences.
const ModelCase kModels[] = {
    // precise: max |diff| ramp 4 (8 of 1001 differ), grace_hopper 1, cat 13,
    // bird 0 (its ten ADDs exact since §10.6; before: 7, 5, 10, 4); OUT_CVT
    // only: 17, 5, 19, 1. CPU top-1 leads 30, 211, 124, 228.
    // arm64 (ruy rounds CONV once; C's 15 bits amplify differently): ramp
    // 22 (its CPU lead of 15 then too close to compare), grace_hopper 3,
    // cat 8, bird 3; OUT_CVT only: 24, 3, 17, 4.
    {"tf2_mobilenet_v2_1.0_224_ptq", "precise", 63, 13, 16, 4, {22, 19, 3}},
    {"tf2_mobilenet_v2_1.0_224_ptq", "outcvt", 63, 19, 18, 3, {24, 25, 3}},
    // 2 outputs; precise: ramp 0, grace_hopper 5, cat 0, bird 0; OUT_CVT
    // only: 0, 2, 0, 0. CPU leads 244, 108, 238 and 6 (bird: a near tie,
    // 0.512 vs 0.488).
    {"vww_mobilenet_v1_0.25_96_int8", "precise", 28, 5, 2, 3},
    {"vww_mobilenet_v1_0.25_96_int8", "outcvt", 28, 2, 2, 4},
};

class RocketPerChannelModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(RocketPerChannelModel, MatchesTfliteCpuWithEveryConvolutionOnTheNpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ModelCase& c = GetParam();
  const int bound_diff = host_bound(c.max_diff, c.arm64.max_diff);
  const int bound_differing = host_bound(c.max_differing, c.arm64.max_differing);
  ScopedRequantMode mode(c.mode);
  std::string error;
  const std::vector<uint8_t> model = tflite::read_file(golden::model_path(c.file), &error);
  ASSERT_FALSE(model.empty()) << error;
  auto [delegate, cpu, npu] = testing::open_cpu_and_rocket(model, &error);
  ASSERT_TRUE(npu) << error;

  const DelegateReport& report = delegate->report();
  EXPECT_EQ(report.device_description, "virtual RK3588 (simulated)");
  EXPECT_EQ(report.delegated_nodes(), c.delegated) << format_placement_table(report);
  int convs = 0;
  for (const NodePlacement& p : report.nodes) {
    if (p.op != "CONV_2D" && p.op != "DEPTHWISE_CONV_2D") continue;
    ++convs;
    EXPECT_TRUE(p.delegated) << "node " << p.node_index << " " << p.op << ": " << p.reason;
  }
  EXPECT_GT(convs, 0);

  const tflite::TensorInfo info = cpu->input_info(0);
  ASSERT_EQ(info.shape.size(), 4u);
  std::vector<std::vector<uint8_t>> inputs = {golden::read_bytes(golden::goldens_dir() + "/" + c.file + "/input_0.bin")};
  for (const char* image : {"grace_hopper", "cat", "bird"}) {
    std::vector<uint8_t> rgb = load_bmp_resized(shared_dir() + "/images/" + image + ".bmp", info.shape[1], info.shape[2]);
    ASSERT_EQ(rgb.size(), info.bytes) << image;
    if (info.type == kTfLiteInt8) {
      for (uint8_t& b : rgb) b = static_cast<uint8_t>(b - 128);
    }
    inputs.push_back(std::move(rgb));
  }
  const bool is_signed = cpu->output_info(0).type == kTfLiteInt8;
  auto value = [&](uint8_t b) { return is_signed ? static_cast<int>(static_cast<int8_t>(b)) : static_cast<int>(b); };
  int max_diff = 0, decisive_inputs = 0;
  size_t differing = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(inputs[i].size(), info.bytes);
    ASSERT_TRUE(cpu->set_input(0, inputs[i].data(), inputs[i].size()).ok());
    ASSERT_TRUE(npu->set_input(0, inputs[i].data(), inputs[i].size()).ok());
    ASSERT_TRUE(cpu->invoke().ok());
    const Status s = npu->invoke();
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<uint8_t> want, got;
    ASSERT_TRUE(cpu->get_output(0, &want).ok());
    ASSERT_TRUE(npu->get_output(0, &got).ok());
    ASSERT_EQ(want.size(), got.size());
    int input_max = 0, input_differing = 0;
    for (size_t k = 0; k < want.size(); ++k) {
      const int d = std::abs(value(want[k]) - value(got[k]));
      input_max = std::max(input_max, d);
      input_differing += d != 0;
    }
    differing += static_cast<size_t>(input_differing);
    max_diff = std::max(max_diff, input_max);
    auto top1 = [&](const std::vector<uint8_t>& v) {
      size_t best = 0;
      for (size_t k = 1; k < v.size(); ++k) best = value(v[k]) > value(v[best]) ? k : best;
      return best;
    };
    // Top-1 must agree wherever the CPU's lead over the runner-up exceeds
    // twice the pinned difference bound; a closer call can flip on
    // one-step differences and only the bound applies to it.
    const size_t best = top1(want);
    int runner_up = std::numeric_limits<int>::min();
    for (size_t k = 0; k < want.size(); ++k) {
      if (k != best) runner_up = std::max(runner_up, value(want[k]));
    }
    const int margin = value(want[best]) - runner_up;
    const bool decisive = margin > 2 * bound_diff;
    decisive_inputs += decisive;
    if (decisive) {
      EXPECT_EQ(top1(got), best) << "input " << i;
    }
    std::printf("[ per-chan ] %s (%s) input %zu: top-1 %zu (CPU %zu, lead %d%s), %d of %zu outputs differ, max |diff| %d\n",
                c.file, c.mode, i, top1(got), best, margin, decisive ? "" : ", too close to compare", input_differing,
                want.size(), input_max);
  }
  EXPECT_GE(decisive_inputs, host_bound(c.decisive_inputs, c.arm64.decisive_inputs));
  RecordProperty("max_diff", max_diff);
  RecordProperty("differing", static_cast<int>(differing));
  EXPECT_LE(max_diff, bound_diff);
  EXPECT_LE(differing, static_cast<size_t>(bound_differing));
}

INSTANTIATE_TEST_SUITE_P(RocketPerChannel, RocketPerChannelModel, ::testing::ValuesIn(kModels),
                         [](const ::testing::TestParamInfo<ModelCase>& i) {
                           std::string n = std::string(i.param.file) + "_" + i.param.mode;
                           for (char& ch : n) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace nonstick::testing
