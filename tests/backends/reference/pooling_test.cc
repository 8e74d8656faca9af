// AVERAGE_POOL_2D and MAX_POOL_2D on the reference backend against TFLite's
// CPU kernels, bit for bit: uint8 and int8, filter sizes 1-7 and non-square
// (including global windows larger than 16x16, which TFLite accumulates
// differently), strides 1/2/3 and unequal, SAME padding with partially
// outside windows (averages count only inside cells), VALID, odd sizes,
// batch 2, zero points at the range ends and every fused activation.
#include <gtest/gtest.h>

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
using ir::OpType;
using ir::Padding;

struct PoolCase {
  OpType op = OpType::kAveragePool2D;
  DType dtype = DType::kUInt8;
  int batch = 1, height = 7, width = 9, channels = 3;
  int filter_h = 3, filter_w = 3;
  int stride_h = 2, stride_w = 2;
  Padding padding = Padding::kSame;
  Activation activation = Activation::kNone;
  float scale = 0.05f;
  int32_t zp = 120;
};

std::string pool_name(const ::testing::TestParamInfo<PoolCase>& info) {
  const PoolCase& c = info.param;
  return std::string(c.op == OpType::kAveragePool2D ? "avg_" : "max_") + (c.dtype == DType::kUInt8 ? "u8" : "i8") +
         "_b" + std::to_string(c.batch) + "_in" + std::to_string(c.height) + "x" + std::to_string(c.width) + "x" +
         std::to_string(c.channels) + "_k" + std::to_string(c.filter_h) + "x" + std::to_string(c.filter_w) + "_s" +
         std::to_string(c.stride_h) + "x" + std::to_string(c.stride_w) +
         (c.padding == Padding::kSame ? "_same_" : "_valid_") + act_name(c.activation) + "_s" + num(c.scale) + "z" +
         num(c.zp);
}

class Pool2D : public ::testing::TestWithParam<PoolCase> {};

TEST_P(Pool2D, MatchesTflite) {
  const PoolCase& c = GetParam();
  GraphBuilder b(17);
  const int in = b.input(c.dtype, {c.batch, c.height, c.width, c.channels}, c.scale, c.zp);
  auto out_size = [&](int size, int k, int s) {
    return c.padding == Padding::kSame ? (size + s - 1) / s : (size - k + s) / s;
  };
  const int out = b.tensor(c.dtype,
                           {c.batch, out_size(c.height, c.filter_h, c.stride_h),
                            out_size(c.width, c.filter_w, c.stride_w), c.channels},
                           c.scale, c.zp);
  ir::PoolParams p;
  p.padding = c.padding;
  p.stride_h = c.stride_h;
  p.stride_w = c.stride_w;
  p.filter_h = c.filter_h;
  p.filter_w = c.filter_w;
  p.activation = c.activation;
  b.op(c.op, {in}, {out}, p);
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> cases;
  for (OpType op : {OpType::kAveragePool2D, OpType::kMaxPool2D}) {
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      PoolCase base;
      base.op = op;
      base.dtype = t;
      if (t == DType::kInt8) base.zp = -10;
      auto add = [&](auto&& edit) {
        PoolCase c = base;
        edit(c);
        cases.push_back(c);
      };
      for (int k : {1, 2, 3, 5}) {
        for (Padding pad : {Padding::kSame, Padding::kValid}) {
          add([&](PoolCase& c) {
            c.filter_h = c.filter_w = k;
            c.padding = pad;
            c.stride_h = c.stride_w = k == 1 ? 1 : 2;
          });
        }
      }
      add([](PoolCase& c) { c.filter_h = 3; c.filter_w = 1; c.stride_h = 1; c.stride_w = 2; });
      add([](PoolCase& c) {
        c.filter_h = 2;
        c.filter_w = 5;
        c.stride_h = 3;
        c.stride_w = 1;
        c.padding = Padding::kValid;
      });
      add([](PoolCase& c) {
        c.filter_h = 7;
        c.filter_w = 7;
        c.stride_h = c.stride_w = 1;
        c.height = c.width = 7;
        c.channels = 17;
        c.padding = Padding::kValid;
      });
      // Global pools beyond 16x16 cells (TFLite switches to 32-bit sums).
      add([](PoolCase& c) {
        c.filter_h = 17;
        c.filter_w = 19;
        c.stride_h = c.stride_w = 1;
        c.height = 17;
        c.width = 19;
        c.channels = 8;
        c.padding = Padding::kValid;
      });
      add([](PoolCase& c) {
        c.filter_h = c.filter_w = 5;
        c.stride_h = c.stride_w = 1;
        c.height = 11;
        c.width = 13;
        c.channels = 1;
      });
      add([](PoolCase& c) { c.batch = 2; c.channels = 64; c.height = 5; c.width = 4; });
      for (Activation a : {Activation::kRelu, Activation::kRelu6, Activation::kReluN1To1}) {
        add([&](PoolCase& c) { c.activation = a; c.scale = 0.01f; });
      }
      const int32_t lo = t == DType::kUInt8 ? 0 : -128, hi = t == DType::kUInt8 ? 255 : 127;
      add([&](PoolCase& c) { c.zp = lo; c.activation = Activation::kRelu6; });
      add([&](PoolCase& c) { c.zp = hi; c.activation = Activation::kRelu; });
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Pool2D, ::testing::ValuesIn(pool_cases()), pool_name);

// TFLite pools raw values and only debug-checks that input and output share
// their quantization; differing quantization is refused here.
TEST(Pool2DCheck, RefusesDifferentQuantization) {
  for (OpType op : {OpType::kAveragePool2D, OpType::kMaxPool2D}) {
    GraphBuilder b(37);
    const int in = b.input(DType::kInt8, {1, 4, 4, 2}, 0.05f, 3);
    const int out = b.tensor(DType::kInt8, {1, 2, 2, 2}, 0.05f, 4);
    ir::PoolParams p;
    p.filter_h = p.filter_w = p.stride_h = p.stride_w = 2;
    b.op(op, {in}, {out}, p);
    const ir::Graph& g = b.graph();
    const Support s = reference::find_kernel(op)->check(g, g.ops[0]);
    EXPECT_FALSE(s.supported);
    EXPECT_EQ(s.reason, "input and output quantization differ");
  }
}

}  // namespace
}  // namespace nonstick::testing
