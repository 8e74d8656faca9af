// CONV_2D on the reference backend against TFLite's CPU kernels, bit for bit:
// kernel sizes 1/3/5 and non-square, strides 1/2 and unequal, SAME/VALID,
// dilation, odd input sizes, channel counts 1-256, batch 2, every fused
// activation, no bias, uint8 (non-zero filter zero points), int8 per-tensor
// and int8 per-channel with varied scales, multipliers above one, and
// power-of-two scales whose rounding ties tell rounding schemes apart.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "backends/reference/backend.h"
#include "backends/reference/kernel.h"
#include "support/op_harness.h"
#include "support/test_names.h"
#include "support/random_data.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;
using ir::Padding;

enum class Weights { kUInt8, kInt8PerTensor, kInt8PerChannel };

struct ConvCase {
  Weights weights = Weights::kUInt8;
  int batch = 1, height = 7, width = 5, in_channels = 3, out_channels = 8;
  int filter_h = 3, filter_w = 3;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  Padding padding = Padding::kSame;
  Activation activation = Activation::kNone;
  bool bias = true;
  float in_scale = 0.02f;
  int32_t in_zp = 128;
  float filter_scale = 0.005f;
  int32_t filter_zp = 120;
  // Output scale = in_scale * filter_scale * out_factor; the default factor
  // keeps most outputs in range for full-range random data.
  float out_factor = 0;
  int32_t out_zp = 130;
};

float out_factor(const ConvCase& c) {
  if (c.out_factor > 0) return c.out_factor;
  return 70.0f * std::sqrt(static_cast<float>(c.filter_h * c.filter_w * c.in_channels));
}

int32_t filter_zero_point(const ConvCase& c) { return c.weights == Weights::kUInt8 ? c.filter_zp : 0; }

std::string conv_name(const ::testing::TestParamInfo<ConvCase>& info) {
  const ConvCase& c = info.param;
  const char* w = c.weights == Weights::kUInt8 ? "u8" : (c.weights == Weights::kInt8PerTensor ? "i8" : "i8pc");
  std::string n = std::string(w) + "_b" + std::to_string(c.batch) + "_in" + std::to_string(c.height) + "x" +
                  std::to_string(c.width) + "x" + std::to_string(c.in_channels) + "_k" + std::to_string(c.filter_h) +
                  "x" + std::to_string(c.filter_w) + "_out" + std::to_string(c.out_channels) + "_s" +
                  std::to_string(c.stride_h) + "x" + std::to_string(c.stride_w) + "_d" +
                  std::to_string(c.dilation_h) + "x" + std::to_string(c.dilation_w) +
                  (c.padding == Padding::kSame ? "_same_" : "_valid_") + act_name(c.activation) +
                  (c.bias ? "_bias" : "_nobias") + "_in" + num(c.in_scale) + "z" + num(c.in_zp) + "_f" +
                  num(c.filter_scale) + "z" + num(filter_zero_point(c)) + "_of" + num(out_factor(c)) + "z" +
                  num(c.out_zp);
  return n;
}

// Per-channel scales spread over 0.5x-2x of the base, in no monotone order.
std::vector<float> channel_scales(float base, int channels) {
  std::vector<float> s;
  for (int i = 0; i < channels; ++i) s.push_back(base * (0.5f + 0.15f * static_cast<float>((i * 7) % 11)));
  return s;
}

enum class Bias { kRandom, kZero, kAbsent };

ir::Graph conv_graph(const ConvCase& c, Bias bias_kind) {
  const DType dtype = c.weights == Weights::kUInt8 ? DType::kUInt8 : DType::kInt8;
  GraphBuilder b(11);
  const int in = b.input(dtype, {c.batch, c.height, c.width, c.in_channels}, c.in_scale, c.in_zp);
  const int filter = b.random_constant(dtype, {c.out_channels, c.filter_h, c.filter_w, c.in_channels},
                                       c.filter_scale, filter_zero_point(c));
  const float product = c.in_scale * c.filter_scale;
  int bias = -1;
  if (bias_kind == Bias::kRandom) bias = b.random_constant(DType::kInt32, {c.out_channels}, product, 0, 3000);
  if (bias_kind == Bias::kZero) {
    bias = b.constant(DType::kInt32, {c.out_channels}, std::vector<uint8_t>(4 * static_cast<size_t>(c.out_channels)),
                      product, 0);
  }
  if (c.weights == Weights::kInt8PerChannel) {
    std::vector<float> scales = channel_scales(c.filter_scale, c.out_channels);
    b.set_per_channel(filter, scales, std::vector<int32_t>(scales.size(), 0), 0);
    if (bias >= 0) {
      for (float& s : scales) s *= c.in_scale;
      b.set_per_channel(bias, scales, std::vector<int32_t>(scales.size(), 0), 0);
    }
  }
  ir::ConvParams p;
  p.padding = c.padding;
  p.stride_h = c.stride_h;
  p.stride_w = c.stride_w;
  p.dilation_h = c.dilation_h;
  p.dilation_w = c.dilation_w;
  p.activation = c.activation;
  auto out_size = [&](int in_size, int k, int s, int d) {
    const int eff = (k - 1) * d + 1;
    return c.padding == Padding::kSame ? (in_size + s - 1) / s : (in_size - eff + s) / s;
  };
  const int out = b.tensor(dtype,
                           {c.batch, out_size(c.height, c.filter_h, c.stride_h, c.dilation_h),
                            out_size(c.width, c.filter_w, c.stride_w, c.dilation_w), c.out_channels},
                           product * out_factor(c), c.out_zp);
  b.op(ir::OpType::kConv2D, {in, filter, bias}, {out}, p);
  b.mark_output(out);
  return b.graph();
}

class Conv2D : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2D, MatchesTflite) {
  const ConvCase& c = GetParam();
  if (c.bias) {
    expect_matches_tflite(conv_graph(c, Bias::kRandom));
    return;
  }
  // TFLite 2.9 requires a CONV_2D bias and 2.14/litert refuse a bias operand
  // of -1, so check the zero-bias graph against TFLite and the bias-less one
  // against it.
  expect_matches_tflite(conv_graph(c, Bias::kZero));
  expect_same_reference_output(conv_graph(c, Bias::kAbsent), conv_graph(c, Bias::kZero));
}

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> cases;
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6, Activation::kReluN1To1};
  for (Weights w : {Weights::kUInt8, Weights::kInt8PerTensor, Weights::kInt8PerChannel}) {
    ConvCase base;
    base.weights = w;
    if (w != Weights::kUInt8) {
      base.in_zp = 3;
      base.out_zp = -5;
    }
    auto add = [&](auto&& edit) {
      ConvCase c = base;
      edit(c);
      cases.push_back(c);
    };
    // Kernel sizes, padding, strides.
    for (int k : {1, 3, 5}) {
      for (Padding pad : {Padding::kSame, Padding::kValid}) {
        for (int s : {1, 2}) {
          add([&](ConvCase& c) {
            c.filter_h = c.filter_w = k;
            c.padding = pad;
            c.stride_h = c.stride_w = s;
            c.height = 7 + k % 2;
            c.width = 5 + s;
          });
        }
      }
    }
    // Non-square kernels and unequal strides.
    add([](ConvCase& c) { c.filter_h = 3; c.filter_w = 1; c.stride_h = 2; c.stride_w = 1; });
    add([](ConvCase& c) { c.filter_h = 1; c.filter_w = 5; c.stride_h = 1; c.stride_w = 2; c.width = 9; });
    add([](ConvCase& c) {
      c.filter_h = 2;
      c.filter_w = 3;
      c.padding = Padding::kValid;
      c.stride_h = 2;
      c.stride_w = 3;
      c.height = 9;
      c.width = 8;
    });
    // Dilation, symmetric and not.
    add([](ConvCase& c) { c.dilation_h = c.dilation_w = 2; c.height = 9; c.width = 8; });
    add([](ConvCase& c) {
      c.dilation_h = 1;
      c.dilation_w = 3;
      c.height = 6;
      c.width = 9;
      c.padding = Padding::kValid;
    });
    add([](ConvCase& c) {
      c.dilation_h = 2;
      c.dilation_w = 2;
      c.stride_h = c.stride_w = 2;
      c.height = 11;
      c.width = 10;
    });
    // Channel counts.
    add([](ConvCase& c) { c.in_channels = 1; c.out_channels = 1; });
    add([](ConvCase& c) { c.in_channels = 17; c.out_channels = 3; c.height = 5; c.width = 5; });
    add([](ConvCase& c) { c.in_channels = 8; c.out_channels = 17; c.height = 4; c.width = 6; });
    add([](ConvCase& c) {
      c.in_channels = 64;
      c.out_channels = 256;
      c.filter_h = c.filter_w = 1;
      c.height = 3;
      c.width = 3;
    });
    add([](ConvCase& c) { c.in_channels = 256; c.out_channels = 8; c.height = 3; c.width = 3; });
    // Batch > 1.
    add([](ConvCase& c) { c.batch = 2; c.stride_h = c.stride_w = 2; });
    // Activations (also with a scale that makes them bite), no bias.
    for (Activation a : acts) {
      add([&](ConvCase& c) { c.activation = a; });
      add([&](ConvCase& c) { c.activation = a; c.bias = false; c.out_factor = 8.0f; });
    }
    // Multiplier above one: output scale below input_scale * filter_scale.
    add([](ConvCase& c) { c.filter_h = c.filter_w = 1; c.in_channels = 1; c.out_factor = 0.37f; });
    add([](ConvCase& c) { c.in_channels = 1; c.out_channels = 3; c.out_factor = 0.9f; });
    // Power-of-two scales: the multiplier is an exact power of two, so many
    // results land exactly on .5 and expose the rounding scheme.
    add([](ConvCase& c) { c.in_scale = 0.0625f; c.filter_scale = 0.0078125f; c.out_factor = 512.0f; });
    add([](ConvCase& c) {
      c.in_scale = 0.5f;
      c.filter_scale = 0.03125f;
      c.out_factor = 64.0f;
      c.filter_h = c.filter_w = 1;
    });
  }
  // Zero points at the ends of the ranges.
  auto zp_case = [&](Weights w, int32_t in_zp, int32_t filter_zp, int32_t out_zp) {
    ConvCase c;
    c.weights = w;
    c.in_zp = in_zp;
    c.filter_zp = filter_zp;
    c.out_zp = out_zp;
    cases.push_back(c);
  };
  zp_case(Weights::kUInt8, 0, 128, 0);
  zp_case(Weights::kUInt8, 255, 127, 255);
  zp_case(Weights::kUInt8, 128, 0, 128);
  zp_case(Weights::kUInt8, 100, 255, 70);
  zp_case(Weights::kInt8PerTensor, -128, 0, -128);
  zp_case(Weights::kInt8PerTensor, 127, 0, 127);
  zp_case(Weights::kInt8PerChannel, -128, 0, 5);
  zp_case(Weights::kInt8PerChannel, 0, 0, -128);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Conv2D, ::testing::ValuesIn(conv_cases()), conv_name);

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

std::string weights_name(const ::testing::TestParamInfo<Weights>& info) {
  return info.param == Weights::kUInt8 ? "u8" : (info.param == Weights::kInt8PerTensor ? "i8" : "i8pc");
}

class Conv2DRequantization : public ::testing::TestWithParam<Weights> {};

TEST_P(Conv2DRequantization, ProbesMultiplierAndRounding) {
  const Weights w = GetParam();
  const DType dtype = w == Weights::kUInt8 ? DType::kUInt8 : DType::kInt8;
  const int32_t filter_zp = w == Weights::kUInt8 ? 77 : 0;
  const int32_t out_zp = w == Weights::kUInt8 ? 128 : 0;
  const int channels = static_cast<int>(kProbeBiases.size());
  GraphBuilder b(23);
  const int in = b.input(dtype, {1, 2, 3, 1}, kProbeInScale, w == Weights::kUInt8 ? 140 : -3);
  const int filter = b.constant(dtype, {channels, 1, 1, 1}, std::vector<uint8_t>(static_cast<size_t>(channels),
                                static_cast<uint8_t>(filter_zp)), kProbeFilterScale, filter_zp);
  const int bias =
      b.constant(DType::kInt32, {channels}, int32_bytes(kProbeBiases), kProbeInScale * kProbeFilterScale, 0);
  if (w == Weights::kInt8PerChannel) {
    b.set_per_channel(filter, std::vector<float>(static_cast<size_t>(channels), kProbeFilterScale),
                      std::vector<int32_t>(static_cast<size_t>(channels), 0), 0);
  }
  const int out = b.tensor(dtype, {1, 2, 3, channels}, kProbeOutScale, out_zp);
  b.op(ir::OpType::kConv2D, {in, filter, bias}, {out}, ir::ConvParams{});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

INSTANTIATE_TEST_SUITE_P(Reference, Conv2DRequantization,
                         ::testing::Values(Weights::kUInt8, Weights::kInt8PerTensor, Weights::kInt8PerChannel),
                         weights_name);

// What the kernel does not implement is refused with a reason, so the
// delegate leaves the node to TFLite.
std::string conv_refusal(DType in_dtype, DType filter_dtype, bool constant_filter, int32_t filter_zp,
                         bool per_channel, int filter_depth = 3, int out_h = 5) {
  GraphBuilder b(29);
  const int in = b.input(in_dtype, {1, 5, 5, 3}, 0.02f, 0);
  int filter = constant_filter ? b.random_constant(filter_dtype, {4, 3, 3, filter_depth}, 0.01f, filter_zp)
                               : b.input(filter_dtype, {4, 3, 3, filter_depth}, 0.01f, filter_zp);
  if (per_channel) b.set_per_channel(filter, {0.01f, 0.02f, 0.03f, 0.04f}, {0, 0, 0, 0}, 0);
  const int bias = b.random_constant(DType::kInt32, {4}, 0.0002f, 0);
  const int out = b.tensor(in_dtype, {1, out_h, 5, 4}, 0.1f, 0);
  ir::ConvParams p;
  p.padding = Padding::kSame;
  b.op(ir::OpType::kConv2D, {in, filter, bias}, {out}, p);
  const ir::Graph& g = b.graph();
  const Support s = reference::find_kernel(ir::OpType::kConv2D)->check(g, g.ops[0]);
  return s.supported ? "" : s.reason;
}

TEST(Conv2DCheck, RefusesWhatItCannotMatch) {
  EXPECT_EQ(conv_refusal(DType::kUInt8, DType::kUInt8, true, 128, false), "");
  EXPECT_EQ(conv_refusal(DType::kInt16, DType::kInt8, true, 0, false), "int16 activations not supported");
  EXPECT_EQ(conv_refusal(DType::kFloat32, DType::kInt8, true, 0, false), "float32 activations not supported");
  EXPECT_EQ(conv_refusal(DType::kUInt8, DType::kInt8, true, 0, false), "int8 filter with uint8 input not supported");
  EXPECT_EQ(conv_refusal(DType::kInt8, DType::kInt8, false, 0, false), "filter must be constant");
  EXPECT_EQ(conv_refusal(DType::kInt8, DType::kInt8, true, 3, false), "int8 filter zero point must be 0");
  EXPECT_EQ(conv_refusal(DType::kUInt8, DType::kUInt8, true, 128, true), "per-channel filter needs int8");
  EXPECT_EQ(conv_refusal(DType::kInt8, DType::kInt8, true, 0, false, 2), "filter depth differs from input channels");
  EXPECT_EQ(conv_refusal(DType::kInt8, DType::kInt8, true, 0, false, 3, 4),
            "output shape does not match the convolution window");
}

}  // namespace
}  // namespace nonstick::testing
