// RESIZE_NEAREST_NEIGHBOR on the reference backend against TFLite's CPU
// kernels, bit for bit: 2x, 3x, non-integer and downscaling factors, each
// with no flag, align_corners, half_pixel_centers; channel counts 1/3/8/17;
// and size pairs where TFLite's fixed-point uint8 path and its float path
// pick different source pixels (26 -> 22, 14 -> 46).
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

struct ResizeCase {
  DType dtype;
  int32_t batch, in_h, in_w, channels, out_h, out_w;
  bool align_corners, half_pixel_centers;
};

std::string resize_name(const ResizeCase& c) {
  const std::string t(ir::dtype_name(c.dtype));
  auto n = [](int32_t v) { return std::to_string(v); };
  std::string name = t + "_b" + n(c.batch) + "_" + n(c.in_h) + "x" + n(c.in_w) + "_to_" +
                     n(c.out_h) + "x" + n(c.out_w) + "_c" + n(c.channels);
  if (c.align_corners) name += "_align";
  if (c.half_pixel_centers) name += "_halfpixel";
  if (!c.align_corners && !c.half_pixel_centers) name += "_noflags";
  return name;
}

// Readable parameters in failure messages and test listings.
void PrintTo(const ResizeCase& c, std::ostream* os) { *os << resize_name(c); }

class ResizeNearest : public ::testing::TestWithParam<ResizeCase> {};

TEST_P(ResizeNearest, MatchesTflite) {
  const ResizeCase& c = GetParam();
  GraphBuilder b(13);
  const int32_t zp = c.dtype == DType::kUInt8 ? 140 : (c.dtype == DType::kInt8 ? -116 : 0);
  int in = b.input(c.dtype, {c.batch, c.in_h, c.in_w, c.channels}, 0.0240311f, zp);
  int out = b.tensor(c.dtype, {c.batch, c.out_h, c.out_w, c.channels}, 0.0240311f, zp);
  b.op(OpType::kResizeNearestNeighbor, {in}, {out},
       ir::ResizeParams{c.align_corners, c.half_pixel_centers});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<ResizeCase> resize_cases() {
  struct Sizes {
    int32_t batch, in_h, in_w, out_h, out_w;
  };
  const std::vector<Sizes> sizes = {
      {1, 4, 5, 8, 10},  // 2x
      {2, 3, 3, 9, 9},   // 3x
      {1, 5, 3, 7, 8},   // non-integer upscale
      {1, 7, 6, 5, 4},   // downscale
      {1, 1, 3, 3, 1},   // from and to a single row/column
  };
  const int32_t channels[] = {1, 3, 8, 17};
  std::vector<ResizeCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    for (int flags = 0; flags < 3; ++flags) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        const Sizes& s = sizes[i];
        const int32_t ch = channels[(i + static_cast<size_t>(flags)) % 4];
        cases.push_back({t, s.batch, s.in_h, s.in_w, ch, s.out_h, s.out_w, flags == 1, flags == 2});
      }
    }
    // Fixed-point vs float disagreements; also under the flags.
    cases.push_back({t, 1, 26, 14, 3, 22, 46, false, false});
    cases.push_back({t, 1, 39, 26, 1, 33, 22, false, false});
    cases.push_back({t, 1, 26, 14, 3, 22, 46, true, false});
    cases.push_back({t, 1, 26, 14, 3, 22, 46, false, true});
    // Both flags at once (TFLite's nearest-neighbour kernel accepts it).
    cases.push_back({t, 1, 5, 3, 8, 7, 8, true, true});
    cases.push_back({t, 1, 7, 6, 3, 5, 4, true, true});
  }
  // YOLOv8's 2x upsampling.
  cases.push_back({DType::kInt8, 1, 10, 10, 17, 20, 20, false, false});
  cases.push_back({DType::kInt16, 1, 3, 5, 2, 7, 9, false, false});
  cases.push_back({DType::kInt16, 1, 3, 5, 2, 7, 9, false, true});
  cases.push_back({DType::kFloat32, 1, 3, 5, 2, 7, 9, true, false});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, ResizeNearest, ::testing::ValuesIn(resize_cases()),
                         [](const auto& info) { return resize_name(info.param); });

}  // namespace
}  // namespace nonstick::testing
