// What the rocket backend accepts and refuses, with the exact reasons the
// delegate's placement report shows, through Backend::supports().
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "backends/rocket/lower.h"
#include "kernel/device.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;

struct ConvSpec {
  DType dtype = DType::kUInt8;
  std::vector<int32_t> in = {1, 8, 8, 4};
  int cout = 8, kh = 3, kw = 3, sh = 1, sw = 1, dh = 1, dw = 1;
  ir::Activation act = ir::Activation::kNone;
  bool per_channel_varied = false, per_channel_equal = false;
};

ir::Graph conv(const ConvSpec& s) {
  GraphBuilder b(3);
  const bool u8 = s.dtype == DType::kUInt8;
  const int in = b.input(s.dtype, s.in, 0.02f, u8 ? 128 : 0);
  const int w = b.random_constant(s.dtype, {s.cout, s.kh, s.kw, s.in[3]}, 0.01f, u8 ? 120 : 0);
  const int bias = b.random_constant(DType::kInt32, {s.cout}, 0.0002f, 0, 100);
  if (s.per_channel_varied || s.per_channel_equal) {
    std::vector<float> scales(static_cast<size_t>(s.cout), 0.01f);
    if (s.per_channel_varied) scales[1] = 0.02f;
    b.set_per_channel(w, scales, std::vector<int32_t>(scales.size(), 0), 0);
    for (float& f : scales) f *= 0.02f;
    b.set_per_channel(bias, scales, std::vector<int32_t>(scales.size(), 0), 0);
  }
  ir::ConvParams p;
  p.padding = ir::Padding::kValid;
  p.stride_h = s.sh;
  p.stride_w = s.sw;
  p.dilation_h = s.dh;
  p.dilation_w = s.dw;
  p.activation = s.act;
  const int oh = (s.in[1] - ((s.kh - 1) * s.dh + 1)) / s.sh + 1;
  const int ow = (s.in[2] - ((s.kw - 1) * s.dw + 1)) / s.sw + 1;
  const int out = b.tensor(s.dtype, {s.in[0], oh, ow, s.cout}, 0.05f, u8 ? 128 : 0);
  b.op(ir::OpType::kConv2D, {in, w, bias}, {out}, p);
  b.mark_output(out);
  return b.graph();
}

Support rocket_supports(const ir::Graph& g) {
  std::string error;
  auto backend = create_backend("rocket", &error);
  EXPECT_TRUE(backend) << error;
  return backend->supports(g, g.ops[0]);
}

void expect_refused(const ir::Graph& g, const std::string& reason) {
  const Support s = rocket_supports(g);
  EXPECT_FALSE(s.supported);
  EXPECT_EQ(s.reason, reason);
}

TEST(RocketSupports, BackendNameAndDescription) {
  std::string error;
  auto backend = create_backend("rocket", &error);
  ASSERT_TRUE(backend) << error;
  EXPECT_EQ(backend->name(), "rocket");
  // CI machines have no NPU: the virtual one stands in, and says so.
  std::string why;
  if (!kernel::open_rocket_device(&why)) {
    EXPECT_EQ(backend->description(), "virtual RK3588 (simulated)");
    EXPECT_EQ(create_backend("auto", &error)->description(), "virtual RK3588 (simulated)");
  } else {
    EXPECT_EQ(backend->description().rfind("RK3588 NPU via /dev/accel/accel", 0), 0u);
    EXPECT_EQ(create_backend("auto", &error)->name(), "rocket");
  }
}

TEST(RocketSupports, AcceptsPlainConvolutions) {
  EXPECT_TRUE(rocket_supports(conv({})).supported);
  ConvSpec s;
  s.dtype = DType::kInt8;
  s.per_channel_equal = true;  // per-channel in name only: one scale
  EXPECT_TRUE(rocket_supports(conv(s)).supported) << rocket_supports(conv(s)).reason;
}

TEST(RocketSupports, RefusalsNameTheLimit) {
  ConvSpec s;
  s.in = {1, 40, 40, 4};
  s.kh = 3;
  s.kw = 33;
  expect_refused(conv(s), "kernel 33x3 exceeds the NPU's 31x31");
  s = {};
  s.in = {1, 20, 20, 4};
  s.sh = 8;
  expect_refused(conv(s), "stride 1x8 exceeds the NPU's 7");
  s = {};
  s.dh = s.dw = 2;
  expect_refused(conv(s), "dilation not supported");
  s = {};
  s.in = {2, 8, 8, 4};
  expect_refused(conv(s), "batch > 1 not supported");
  s = {};
  s.in = {1, 4, 2050, 4};
  s.kh = s.kw = 1;
  expect_refused(conv(s), "input width exceeds the NPU's 2047");
  s = {};
  s.in = {1, 6, 2047, 512};
  s.cout = 4;
  expect_refused(conv(s), "input rows of one output row need more CBUF than the 10 banks left beside the weights");
  s = {};
  s.act = ir::Activation::kReluN1To1;
  expect_refused(conv(s), "activation clamp below the output zero point is not expressible");
}

TEST(RocketSupports, RefusesInt16AndOtherOps) {
  GraphBuilder b;
  const int in = b.input(DType::kInt16, {1, 4, 4, 8}, 0.01f, 0);
  const int out = b.tensor(DType::kInt16, {1, 2, 2, 8}, 0.01f, 0);
  ir::PoolParams p;
  p.filter_h = p.filter_w = 2;
  p.stride_h = p.stride_w = 2;
  b.op(ir::OpType::kMaxPool2D, {in}, {out}, p);
  expect_refused(b.graph(), "no NPU lowering for this op");

  GraphBuilder c;
  const int x = c.input(DType::kInt16, {1, 4, 4, 8}, 0.01f, 0);
  const int y = c.input(DType::kInt16, {1, 4, 4, 8}, 0.01f, 0);
  const int z = c.tensor(DType::kInt16, {1, 4, 4, 8}, 0.02f, 0);
  c.op(ir::OpType::kAdd, {x, y}, {z}, ir::ElementwiseParams{});
  const Support s = rocket_supports(c.graph());
  EXPECT_FALSE(s.supported);
  EXPECT_NE(s.reason.find("int16"), std::string::npos) << s.reason;
}

TEST(RocketSupports, AddRefusals) {
  GraphBuilder b;
  const int x = b.input(DType::kUInt8, {1, 4, 4, 8}, 0.01f, 128);
  const int y = b.input(DType::kUInt8, {1, 1, 1, 8}, 0.01f, 128);
  const int z = b.tensor(DType::kUInt8, {1, 4, 4, 8}, 0.02f, 128);
  b.op(ir::OpType::kAdd, {x, y}, {z}, ir::ElementwiseParams{});
  expect_refused(b.graph(), "broadcasting ADD not supported");
}

TEST(RocketSupports, FullyConnectedNeedingAFlattenIsRefused) {
  GraphBuilder b;
  const int in = b.input(DType::kUInt8, {1, 2, 2, 8}, 0.02f, 128);
  const int w = b.random_constant(DType::kUInt8, {4, 32}, 0.01f, 120);
  const int out = b.tensor(DType::kUInt8, {1, 4}, 0.05f, 128);
  b.op(ir::OpType::kFullyConnected, {in, w, -1}, {out}, ir::FullyConnectedParams{});
  expect_refused(b.graph(), "input would need flattening (last dimension != filter depth)");
}

}  // namespace
}  // namespace nonstick::testing
