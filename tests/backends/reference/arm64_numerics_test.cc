// The tflite-2.9-arm64 numerics profile: the reference kernels against
// outputs recorded from the arm64 build of the TFLite 2.9 C library (run
// under qemu-aarch64, scripts/arm64.sh), so that x86 hosts check the profile
// too. On an arm64 host the same graphs also run against TFLite live.
//
// Every probe sets the weights to their zero point, so each output channel's
// accumulator is exactly its bias; the biases are chosen where double
// rounding with ties away, double rounding with ties up and single rounding
// disagree, for a multiplier (0.75 * 2^-13) whose products hit exact ties.
#include <gtest/gtest.h>

#include <cstring>

#include "backends/reference/backend.h"
#include "delegate/cpu_profile.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using reference::Numerics;

enum class Probe {
  kConvRuy,      // CONV_2D over 6 pixels: ruy, single rounding
  kConvGemv,     // CONV_2D with one output pixel, depth 8: TFLite's GEMV, double rounding, ties up
  kFcRuy,        // FULLY_CONNECTED, 2 batches
  kFcGemv,       // FULLY_CONNECTED, 1 batch, depth 8
  kDwGeneral,    // DEPTHWISE_CONV_2D 1x1, 12 channels: int8 rounds 8 channels up, 4 away
  kDw3x3,        // DEPTHWISE_CONV_2D 3x3 on the 3x3 kernel: ties up
  kDw3x3Left,    // the same with a multiplier of 4: int8 shifts left after the multiply
};

enum class Weights { kUInt8, kInt8, kInt8PerChannel };

// Witnesses for the multiplier 0.75 * 2^-13 (see the file comment).
const std::vector<int32_t> kTieBiases = {-977579, -748203, -442368, -49152, -256683, 486058, 496981, 813738,
                                         -933888, -212992, 387754,  486058, -770048, -737280, -442368, -16384};
// Odd accumulators for a multiplier of 4 (M = 2^30, shift 3).
const std::vector<int32_t> kLeftShiftBiases = {-23, 19, 17, -15, -7, 21, -1, -21, -5, 1, 3, -3, 5, 7, 9, 11};

std::vector<uint8_t> int32_bytes(const std::vector<int32_t>& v) {
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

ir::Graph probe_graph(Probe probe, Weights w) {
  const DType dtype = w == Weights::kUInt8 ? DType::kUInt8 : DType::kInt8;
  const int32_t filter_zp = w == Weights::kUInt8 ? 77 : 0;
  const int32_t in_zp = w == Weights::kUInt8 ? 140 : -3;
  const int32_t out_zp = w == Weights::kUInt8 ? 128 : 0;
  const bool left = probe == Probe::kDw3x3Left;
  const float in_scale = left ? 0.5f : 0.75f, filter_scale = 0.25f, out_scale = left ? 0.03125f : 2048.0f;
  std::vector<int32_t> biases = left ? kLeftShiftBiases : kTieBiases;
  // The general depthwise probe keeps the ties-away witnesses in the last 4 channels.
  if (probe == Probe::kDwGeneral) biases.erase(biases.begin(), biases.begin() + 4);
  const int channels = static_cast<int>(biases.size());

  GraphBuilder b(31);
  int in = 0, filter = 0, out = 0;
  int filter_axis = 0;
  auto filter_of = [&](std::vector<int32_t> shape) {
    int64_t n = 1;
    for (int32_t d : shape) n *= d;
    return b.constant(dtype, shape, std::vector<uint8_t>(static_cast<size_t>(n), static_cast<uint8_t>(filter_zp)),
                      filter_scale, filter_zp);
  };
  switch (probe) {
    case Probe::kConvRuy:
    case Probe::kConvGemv: {
      const int depth = probe == Probe::kConvRuy ? 1 : 8;
      const int height = probe == Probe::kConvRuy ? 2 : 1, width = probe == Probe::kConvRuy ? 3 : 1;
      in = b.input(dtype, {1, height, width, depth}, in_scale, in_zp);
      filter = filter_of({channels, 1, 1, depth});
      out = b.tensor(dtype, {1, height, width, channels}, out_scale, out_zp);
      break;
    }
    case Probe::kFcRuy:
    case Probe::kFcGemv: {
      const int batches = probe == Probe::kFcRuy ? 2 : 1;
      in = b.input(dtype, {batches, 8}, in_scale, in_zp);
      filter = filter_of({channels, 8});
      out = b.tensor(dtype, {batches, channels}, out_scale, out_zp);
      break;
    }
    case Probe::kDwGeneral:
    case Probe::kDw3x3:
    case Probe::kDw3x3Left: {
      const int k = probe == Probe::kDwGeneral ? 1 : 3, size = probe == Probe::kDwGeneral ? 2 : 4;
      in = b.input(dtype, {1, size, size, channels}, in_scale, in_zp);
      filter = filter_of({1, k, k, channels});
      filter_axis = 3;
      out = b.tensor(dtype, {1, size, size, channels}, out_scale, out_zp);
      break;
    }
  }
  if (w == Weights::kInt8PerChannel) {
    b.set_per_channel(filter, std::vector<float>(static_cast<size_t>(channels), filter_scale),
                      std::vector<int32_t>(static_cast<size_t>(channels), 0), filter_axis);
  }
  const int bias = b.constant(DType::kInt32, {channels}, int32_bytes(biases), in_scale * filter_scale, 0);
  const bool fc = probe == Probe::kFcRuy || probe == Probe::kFcGemv;
  const bool depthwise = probe == Probe::kDwGeneral || probe == Probe::kDw3x3 || probe == Probe::kDw3x3Left;
  if (fc) {
    b.op(ir::OpType::kFullyConnected, {in, filter, bias}, {out}, ir::FullyConnectedParams{});
  } else {
    ir::ConvParams p;
    p.padding = ir::Padding::kSame;
    b.op(depthwise ? ir::OpType::kDepthwiseConv2D : ir::OpType::kConv2D, {in, filter, bias}, {out}, p);
  }
  b.mark_output(out);
  return b.graph();
}

// The reference backend's output for one probe (every pixel or batch holds
// the same channel values, since accumulators equal the biases).
std::vector<int32_t> reference_channels(const ir::Graph& g, Numerics numerics) {
  auto backend = reference::create_reference_backend(numerics);
  std::unique_ptr<Program> program;
  const Status s = backend->compile(g, &program);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  const ir::Tensor& in = g.tensor(g.inputs[0]);
  std::vector<uint8_t> input(static_cast<size_t>(in.num_bytes()), 3);
  EXPECT_TRUE(program->set_input(0, input.data(), input.size()).ok());
  EXPECT_TRUE(program->invoke().ok());
  const ir::Tensor& out = g.tensor(g.outputs[0]);
  std::vector<uint8_t> bytes(static_cast<size_t>(out.num_bytes()));
  EXPECT_TRUE(program->get_output(0, bytes.data(), bytes.size()).ok());
  const size_t channels = static_cast<size_t>(out.shape.back());
  std::vector<int32_t> first;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int32_t v = out.dtype == DType::kUInt8 ? bytes[i] : static_cast<int8_t>(bytes[i]);
    if (i < channels) {
      first.push_back(v);
    } else {
      EXPECT_EQ(v, first[i % channels]) << "element " << i;
    }
  }
  return first;
}

struct Recorded {
  Probe probe;
  Weights weights;
  std::vector<int32_t> arm64;  // TFLite 2.9 arm64, per channel (uint8 values include the zero point)
};

std::string recorded_name(const ::testing::TestParamInfo<Recorded>& info) {
  static const char* probes[] = {"conv_ruy", "conv_gemv", "fc_ruy", "fc_gemv", "dw_general", "dw_3x3", "dw_3x3_left"};
  static const char* weights[] = {"u8", "i8", "i8pc"};
  return std::string(probes[static_cast<int>(info.param.probe)]) + "_" + weights[static_cast<int>(info.param.weights)];
}

class Arm64Numerics : public ::testing::TestWithParam<Recorded> {};

TEST_P(Arm64Numerics, ReferenceMatchesRecordedArm64Tflite) {
  const Recorded& r = GetParam();
  const ir::Graph g = probe_graph(r.probe, r.weights);
  EXPECT_EQ(reference_channels(g, Numerics::kTflite29Arm64), r.arm64);
#if defined(__aarch64__)
  expect_matches_tflite(g);  // auto picks tflite-2.9-arm64 here
#endif
}

// Recorded with scripts/arm64.sh (qemu-aarch64, any of -cpu cortex-a53,
// cortex-a76, max). Where a line differs from the x86 build, the comment
// says how (x86 values from the tflite-2.9 profile, which matches x86 TFLite).
const std::vector<Recorded> kRecorded = {
    // x86 double-rounds: 39, 60, 88, 124, 105, 173, ...
    {Probe::kConvRuy, Weights::kUInt8, {38, 59, 88, 124, 104, 172, 173, 202, 43, 109, 163, 172, 58, 61, 88, 127}},
    {Probe::kConvRuy, Weights::kInt8, {-90, -69, -40, -4, -24, 44, 45, 74, -85, -19, 35, 44, -70, -67, -40, -1}},
    {Probe::kConvRuy, Weights::kInt8PerChannel,
     {-90, -69, -40, -4, -24, 44, 45, 74, -85, -19, 35, 44, -70, -67, -40, -1}},
    // As x86.
    {Probe::kConvGemv, Weights::kUInt8, {39, 60, 88, 124, 105, 173, 174, 203, 43, 109, 164, 173, 58, 61, 88, 127}},
    {Probe::kConvGemv, Weights::kInt8, {-89, -68, -40, -4, -23, 45, 46, 75, -85, -19, 36, 45, -70, -67, -40, -1}},
    {Probe::kConvGemv, Weights::kInt8PerChannel,
     {-89, -68, -40, -4, -23, 45, 46, 75, -85, -19, 36, 45, -70, -67, -40, -1}},
    // x86 double-rounds.
    {Probe::kFcRuy, Weights::kUInt8, {38, 59, 88, 124, 104, 172, 173, 202, 43, 109, 163, 172, 58, 61, 88, 127}},
    {Probe::kFcRuy, Weights::kInt8, {-90, -69, -40, -4, -24, 44, 45, 74, -85, -19, 35, 44, -70, -67, -40, -1}},
    // As x86.
    {Probe::kFcGemv, Weights::kUInt8, {39, 60, 88, 124, 105, 173, 174, 203, 43, 109, 164, 173, 58, 61, 88, 127}},
    {Probe::kFcGemv, Weights::kInt8, {-89, -68, -40, -4, -23, 45, 46, 75, -85, -19, 36, 45, -70, -67, -40, -1}},
    // uint8 as x86; int8: x86 rounds every channel away (-24, ..., -86, -20, ...), arm64 the first 8 up.
    {Probe::kDwGeneral, Weights::kUInt8, {104, 173, 174, 203, 42, 108, 164, 173, 57, 60, 87, 126}},
    {Probe::kDwGeneral, Weights::kInt8, {-23, 45, 46, 75, -85, -19, 36, 45, -71, -68, -41, -2}},
    {Probe::kDwGeneral, Weights::kInt8PerChannel, {-23, 45, 46, 75, -85, -19, 36, 45, -71, -68, -41, -2}},
    // x86 rounds away: 38, 59, 87, 123, ... / -90, -69, -41, -5, ...
    {Probe::kDw3x3, Weights::kUInt8, {39, 60, 88, 124, 105, 173, 174, 203, 43, 109, 164, 173, 58, 61, 88, 127}},
    {Probe::kDw3x3, Weights::kInt8, {-89, -68, -40, -4, -23, 45, 46, 75, -85, -19, 36, 45, -70, -67, -40, -1}},
    {Probe::kDw3x3, Weights::kInt8PerChannel,
     {-89, -68, -40, -4, -23, 45, 46, 75, -85, -19, 36, 45, -70, -67, -40, -1}},
    // uint8 as x86 (exact); int8: x86 gives 4 * acc (-92, 76, ...), arm64 8 * round(acc / 2).
    {Probe::kDw3x3Left, Weights::kUInt8, {36, 204, 196, 68, 100, 212, 124, 44, 108, 132, 140, 116, 148, 156, 164, 172}},
    {Probe::kDw3x3Left, Weights::kInt8, {-88, 80, 72, -56, -24, 88, 0, -80, -16, 8, 16, -8, 24, 32, 40, 48}},
    {Probe::kDw3x3Left, Weights::kInt8PerChannel, {-88, 80, 72, -56, -24, 88, 0, -80, -16, 8, 16, -8, 24, 32, 40, 48}},
};

INSTANTIATE_TEST_SUITE_P(Reference, Arm64Numerics, ::testing::ValuesIn(kRecorded), recorded_name);

TEST(Arm64Profile, NamedAndChosenForTflite29OnArm64) {
  reference::Numerics n;
  ASSERT_TRUE(reference::parse_numerics("tflite-2.9-arm64", &n));
  EXPECT_EQ(n, Numerics::kTflite29Arm64);
  EXPECT_STREQ(reference::numerics_name(n), "tflite-2.9-arm64");
  EXPECT_FALSE(reference::parse_numerics("tflite-2.9-x86", &n));
  EXPECT_EQ(choose_cpu_profile("tflite-2.9-arm64", nullptr).numerics, Numerics::kTflite29Arm64);
  EXPECT_EQ(choose_cpu_profile("tflite-2.9", nullptr).numerics, Numerics::kTflite29);
  // This test binary links the TFLite 2.9 C library of its own architecture.
#if defined(__aarch64__)
  EXPECT_EQ(choose_cpu_profile("auto", nullptr).numerics, Numerics::kTflite29Arm64);
#else
  EXPECT_EQ(choose_cpu_profile("auto", nullptr).numerics, Numerics::kTflite29);
#endif
}

}  // namespace
}  // namespace nonstick::testing
