// CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED through the rocket backend
// on the virtual RK3588 (the same command streams and UAPI bytes as on a
// board), against TFLite 2.9's CPU kernels.
//
// Precise requantization (the default, docs/virtual-rk3588.md §10) is
// bit-exact on every CONV_2D and FULLY_CONNECTED case below. Tolerance 1
// remains, each case saying why, for:
//  - DEPTHWISE_CONV_2D without a clamp at the zero point: TFLite's depthwise
//    kernel rounds negative values half away from zero, so its rounding
//    offset changes sign with the value; the DPU adds one constant offset
//    (the positive one), so a negative output lying within 2^-(r+1) steps
//    of a rounding boundary comes out one step higher (~0.2 % of outputs
//    here). With ReLU/ReLU6 every negative value clamps to the zero point
//    either way, so those cases are exact;
//  - layers whose outputs are so many that the encoding's residual error
//    (about 2^-17 steps: the resolution of v behind OUT_CVT's 31-bit shift)
//    meets a rounding boundary (~2e-6 of outputs; row_split_96x64x32_i8).
// The OUT_CVT-only encoding (Mesa's registers, 15-bit mantissa) is checked
// on a subset with tolerance 1: its multiplier is within 2^-15 of TFLite's,
// so an output within that of a rounding boundary can land one step away.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "no_fallback.h"
#include "requant_mode.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::Activation;
using ir::DType;
using ir::Padding;

struct ConvCase {
  std::string name;
  DType dtype = DType::kUInt8;
  bool depthwise = false;
  int multiplier = 1;  // depthwise channel multiplier
  int h = 7, w = 5, cin = 3, cout = 8;
  int kh = 3, kw = 3;
  int sh = 1, sw = 1;
  Padding padding = Padding::kSame;
  Activation act = Activation::kNone;
  int32_t in_zp = 128, w_zp = 120, out_zp = 130;
  float in_scale = 0.02f, w_scale = 0.005f;
  float out_factor = 0;  // output scale = in * w * factor; 0 = sized to the window
  const char* mode = "precise";  // requantization encoding (requant_mode.h)
  int tolerance = 0;             // see the top of the file
};

int out_size(Padding p, int in, int k, int s) { return p == Padding::kSame ? (in + s - 1) / s : (in - k + s) / s; }

ir::Graph conv_graph(const ConvCase& c) {
  GraphBuilder b(23);
  const int in = b.input(c.dtype, {1, c.h, c.w, c.cin}, c.in_scale, c.in_zp);
  const int cout = c.depthwise ? c.cin * c.multiplier : c.cout;
  const int32_t wzp = c.dtype == DType::kUInt8 ? c.w_zp : 0;
  const int filter = c.depthwise ? b.random_constant(c.dtype, {1, c.kh, c.kw, cout}, c.w_scale, wzp)
                                 : b.random_constant(c.dtype, {cout, c.kh, c.kw, c.cin}, c.w_scale, wzp);
  const float product = c.in_scale * c.w_scale;
  const int bias = b.random_constant(DType::kInt32, {cout}, product, 0, 3000);
  const float window = static_cast<float>(c.kh * c.kw * (c.depthwise ? 1 : c.cin));
  const float factor = c.out_factor > 0 ? c.out_factor : 70.0f * std::sqrt(window);
  const int out = b.tensor(c.dtype,
                           {1, out_size(c.padding, c.h, c.kh, c.sh), out_size(c.padding, c.w, c.kw, c.sw), cout},
                           product * factor, c.out_zp);
  ir::ConvParams p;
  p.padding = c.padding;
  p.stride_h = c.sh;
  p.stride_w = c.sw;
  p.activation = c.act;
  p.depth_multiplier = c.multiplier;
  b.op(c.depthwise ? ir::OpType::kDepthwiseConv2D : ir::OpType::kConv2D, {in, filter, bias}, {out}, p);
  b.mark_output(out);
  return b.graph();
}

class RocketConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(RocketConv, MatchesTflite) {
  const ConvCase& c = GetParam();
  ScopedRequantMode mode(c.mode);
  expect_matches_tflite(conv_graph(c), {.device = "rocket", .tolerance = c.tolerance});
}

std::vector<ConvCase> conv_cases() {
  std::vector<ConvCase> v;
  auto add = [&](std::string name, auto&& edit) {
    for (DType t : {DType::kUInt8, DType::kInt8}) {
      ConvCase c;
      c.dtype = t;
      if (t == DType::kInt8) {
        c.in_zp = -3;
        c.out_zp = 5;
      }
      edit(c);
      // TFLite's depthwise rounding offset follows the sign (see the top).
      if (c.depthwise && c.act == Activation::kNone) c.tolerance = 1;
      c.name = name + (t == DType::kUInt8 ? "_u8" : "_i8");
      v.push_back(c);
    }
  };
  for (int k : {1, 3, 5}) {
    for (Padding pad : {Padding::kSame, Padding::kValid}) {
      for (int s : {1, 2}) {
        add("k" + std::to_string(k) + (pad == Padding::kSame ? "_same" : "_valid") + "_s" + std::to_string(s),
            [&](ConvCase& c) {
              c.kh = c.kw = k;
              c.padding = pad;
              c.sh = c.sw = s;
              c.h = 9;
              c.w = 6 + s;
            });
      }
    }
  }
  add("nonsquare_k3x1", [](ConvCase& c) { c.kh = 3; c.kw = 1; });
  add("nonsquare_k1x5", [](ConvCase& c) { c.kh = 1; c.kw = 5; c.w = 11; });
  add("nonsquare_k2x4_valid", [](ConvCase& c) { c.kh = 2; c.kw = 4; c.padding = Padding::kValid; c.w = 9; });
  add("stride_h2_w1", [](ConvCase& c) { c.sh = 2; c.sw = 1; c.h = 11; c.w = 6; });
  add("stride_h1_w3", [](ConvCase& c) { c.sh = 1; c.sw = 3; c.h = 5; c.w = 13; });
  add("stride_h3_w2_k5", [](ConvCase& c) { c.sh = 3; c.sw = 2; c.kh = c.kw = 5; c.h = 17; c.w = 10; });
  add("wide_13x31", [](ConvCase& c) { c.h = 13; c.w = 31; });
  add("tall_31x4", [](ConvCase& c) { c.h = 31; c.w = 4; });
  add("one_pixel", [](ConvCase& c) { c.h = c.w = 1; });
  for (int cin : {1, 3, 8, 17, 64, 256}) {
    add("cin" + std::to_string(cin), [&](ConvCase& c) { c.cin = cin; c.cout = 17; c.h = 6; c.w = 5; });
  }
  for (int cout : {1, 3, 17, 64, 256}) {
    add("cout" + std::to_string(cout), [&](ConvCase& c) { c.cin = 8; c.cout = cout; c.h = 5; c.w = 6; });
  }
  add("c64_to_33_k3", [](ConvCase& c) { c.cin = 64; c.cout = 33; c.h = 10; c.w = 9; });
  add("relu", [](ConvCase& c) { c.act = Activation::kRelu; });
  add("relu6_zp0", [](ConvCase& c) {
    c.act = Activation::kRelu6;
    c.out_zp = c.dtype == DType::kUInt8 ? 0 : -128;
  });
  // Output range wider than [0, 6] around a mid zero point: both clamps bite.
  add("relu6_midzp", [](ConvCase& c) {
    c.act = Activation::kRelu6;
    c.out_zp = c.dtype == DType::kUInt8 ? 100 : -20;
    c.out_factor = 6.0f / (c.in_scale * c.w_scale) / 60.0f;  // 6.0 = 60 steps above zp
  });
  add("relu_highzp", [](ConvCase& c) {
    c.act = Activation::kRelu;
    c.out_zp = c.dtype == DType::kUInt8 ? 200 : 70;
  });
  add("zero_points_extreme", [](ConvCase& c) {
    c.in_zp = c.dtype == DType::kUInt8 ? 0 : -128;
    c.w_zp = 255;
    c.out_zp = c.dtype == DType::kUInt8 ? 255 : 127;
  });
  // Larger than the CBUF: split into row bands.
  // 98 304 outputs: the encoding's residual error meets a boundary (i8: 2).
  add("row_split_96x64x32", [](ConvCase& c) { c.h = 96; c.w = 64; c.cin = 32; c.cout = 16; c.tolerance = 1; });
  add("row_split_s2_80x40x64", [](ConvCase& c) { c.h = 80; c.w = 40; c.cin = 64; c.cout = 8; c.sh = c.sw = 2; });
  // Depthwise.
  for (int ch : {8, 17, 64, 256}) {
    add("dw_c" + std::to_string(ch), [&](ConvCase& c) { c.depthwise = true; c.cin = ch; c.h = 6; c.w = 7; });
  }
  add("dw_s2_valid_k5", [](ConvCase& c) {
    c.depthwise = true; c.cin = 24; c.kh = c.kw = 5; c.sh = c.sw = 2; c.padding = Padding::kValid; c.h = 13; c.w = 11;
  });
  add("dw_stride_h1_w2_k3x5", [](ConvCase& c) {
    c.depthwise = true; c.cin = 16; c.kh = 3; c.kw = 5; c.sh = 1; c.sw = 2; c.h = 8; c.w = 12;
  });
  add("dw_relu6_midzp", [](ConvCase& c) {
    c.depthwise = true; c.cin = 32; c.act = Activation::kRelu6;
    c.out_zp = c.dtype == DType::kUInt8 ? 90 : -30;
    c.out_factor = 6.0f / (c.in_scale * c.w_scale) / 50.0f;
  });
  add("dw_row_split_120x96x32", [](ConvCase& c) { c.depthwise = true; c.cin = 32; c.h = 120; c.w = 96; });
  add("dw_multiplier2", [](ConvCase& c) { c.depthwise = true; c.cin = 5; c.multiplier = 2; });
  add("dw_multiplier3_s2", [](ConvCase& c) { c.depthwise = true; c.cin = 8; c.multiplier = 3; c.sh = c.sw = 2; });
  add("dw_c1_multiplier4", [](ConvCase& c) { c.depthwise = true; c.cin = 1; c.multiplier = 4; });
  add("dw_c1", [](ConvCase& c) { c.depthwise = true; c.cin = 1; });
  return v;
}

INSTANTIATE_TEST_SUITE_P(Sweep, RocketConv, ::testing::ValuesIn(conv_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; });

// The OUT_CVT-only encoding on every third case and every clamped one.
std::vector<ConvCase> outcvt_cases() {
  std::vector<ConvCase> v;
  const std::vector<ConvCase> all = conv_cases();
  for (size_t i = 0; i < all.size(); ++i) {
    if (i % 3 != 0 && all[i].act == Activation::kNone) continue;
    ConvCase c = all[i];
    c.mode = "outcvt";
    c.tolerance = 1;  // 15-bit OUT_CVT mantissa (see the top of the file)
    v.push_back(c);
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(OutCvt, RocketConv, ::testing::ValuesIn(outcvt_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& i) { return i.param.name; });

// ---- FULLY_CONNECTED as a 1x1 convolution over the rows.

struct FcCase {
  std::string name;
  DType dtype = DType::kUInt8;
  int rows = 1, depth = 32, units = 10;
  bool keep_dims_4d = false;  // input [1, 1, rows, depth]
  Activation act = Activation::kNone;
  int32_t out_zp = 120;
  const char* mode = "precise";
};

class RocketFullyConnected : public ::testing::TestWithParam<FcCase> {};

TEST_P(RocketFullyConnected, MatchesTflite) {
  const FcCase& c = GetParam();
  const bool u8 = c.dtype == DType::kUInt8;
  GraphBuilder b(31);
  const float in_s = 0.03f, w_s = 0.004f;
  const int in = c.keep_dims_4d ? b.input(c.dtype, {1, 1, c.rows, c.depth}, in_s, u8 ? 130 : 2)
                                : b.input(c.dtype, {c.rows, c.depth}, in_s, u8 ? 130 : 2);
  const int w = b.random_constant(c.dtype, {c.units, c.depth}, w_s, u8 ? 140 : 0);
  const int bias = b.random_constant(DType::kInt32, {c.units}, in_s * w_s, 0, 2000);
  const float out_s = in_s * w_s * 70.0f * std::sqrt(static_cast<float>(c.depth));
  const int out = c.keep_dims_4d ? b.tensor(c.dtype, {1, 1, c.rows, c.units}, out_s, u8 ? c.out_zp : c.out_zp - 128)
                                 : b.tensor(c.dtype, {c.rows, c.units}, out_s, u8 ? c.out_zp : c.out_zp - 128);
  ir::FullyConnectedParams p;
  p.activation = c.act;
  p.keep_num_dims = c.keep_dims_4d;
  b.op(ir::OpType::kFullyConnected, {in, w, bias}, {out}, p);
  b.mark_output(out);
  ScopedRequantMode mode(c.mode);
  // Precise: bit-exact; OUT_CVT only: its 15-bit mantissa (see the top).
  const bool precise = std::string(c.mode) == "precise";
  expect_matches_tflite(b.graph(), {.device = "rocket", .tolerance = precise ? 0 : 1});
}

std::vector<FcCase> fc_cases() {
  std::vector<FcCase> v;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const std::string s = t == DType::kUInt8 ? "_u8" : "_i8";
    v.push_back({"d32_u10" + s, t});
    v.push_back({"d1_u1" + s, t, 1, 1, 1});
    v.push_back({"d300_u17" + s, t, 1, 300, 17});
    v.push_back({"d1024_u1001" + s, t, 1, 1024, 1001});
    v.push_back({"rows3_d40_u64" + s, t, 3, 40, 64});
    v.push_back({"rows5_4d_d16_u8" + s, t, 5, 16, 8, true});
    v.push_back({"relu" + s, t, 2, 24, 12, false, Activation::kRelu, 180});
    v.push_back({"d1024_u1001_outcvt" + s, t, 1, 1024, 1001, false, Activation::kNone, 120, "outcvt"});
    v.push_back({"relu_outcvt" + s, t, 2, 24, 12, false, Activation::kRelu, 180, "outcvt"});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Sweep, RocketFullyConnected, ::testing::ValuesIn(fc_cases()),
                         [](const ::testing::TestParamInfo<FcCase>& i) { return i.param.name; });

}  // namespace
}  // namespace nonstick::testing
