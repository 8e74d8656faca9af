// PAD on the reference backend against TFLite's CPU kernels, bit for bit:
// ranks 1-5, asymmetric and zero widths, the 4-D "image style" pattern TFLite
// special-cases ({0,0} on batch and channels), padding of batch/channels, and
// pad values from the output zero point (TFLite's choice).
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

std::string tag(DType t) { return std::string(ir::dtype_name(t)); }

struct PadCase {
  DType dtype;
  std::vector<int32_t> shape;
  std::vector<std::pair<int32_t, int32_t>> paddings;
  int32_t in_zero_point;
  int32_t out_zero_point;
};

std::string pad_name(const PadCase& c) {
  std::string name = tag(c.dtype) + "_shape";
  for (int32_t d : c.shape) name += "_" + std::to_string(d);
  name += "_pads";
  for (auto [before, after] : c.paddings) {
    name += "_" + std::to_string(before) + "x" + std::to_string(after);
  }
  auto zp = [](int32_t v) { return v < 0 ? "m" + std::to_string(-v) : std::to_string(v); };
  return name + "_zp" + zp(c.in_zero_point) + "to" + zp(c.out_zero_point);
}

// Readable parameters in failure messages and test listings.
void PrintTo(const PadCase& c, std::ostream* os) { *os << pad_name(c); }

class Pad : public ::testing::TestWithParam<PadCase> {};

TEST_P(Pad, MatchesTflite) {
  const PadCase& c = GetParam();
  GraphBuilder b(3);
  int in = b.input(c.dtype, c.shape, 0.02f, c.in_zero_point);
  std::vector<int32_t> out_shape = c.shape;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    out_shape[d] += c.paddings[d].first + c.paddings[d].second;
  }
  int out = b.tensor(c.dtype, out_shape, 0.02f, c.out_zero_point);
  b.op(OpType::kPad, {in}, {out}, ir::PadParams{c.paddings});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<PadCase> pad_cases() {
  std::vector<PadCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    const int32_t zp = t == DType::kUInt8 ? 131 : -7;
    cases.push_back({t, {7}, {{2, 3}}, zp, zp});
    cases.push_back({t, {5}, {{0, 4}}, zp, zp});
    cases.push_back({t, {3, 5}, {{1, 0}, {2, 3}}, zp, zp});
    cases.push_back({t, {2, 3, 5}, {{0, 1}, {3, 0}, {1, 2}}, zp, zp});
    // Image style: spatial only; YOLO's symmetric 1-pixel pad.
    cases.push_back({t, {1, 5, 5, 3}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}, zp, zp});
    cases.push_back({t, {2, 3, 7, 1}, {{0, 0}, {2, 0}, {0, 3}, {0, 0}}, zp, zp});
    cases.push_back({t, {1, 4, 3, 17}, {{0, 0}, {1, 2}, {3, 1}, {0, 0}}, zp, zp});
    cases.push_back({t, {1, 6, 6, 8}, {{0, 0}, {0, 0}, {0, 0}, {0, 0}}, zp, zp});
    // Generic: batch and channel padding too.
    cases.push_back({t, {1, 3, 3, 3}, {{1, 0}, {0, 1}, {2, 0}, {1, 2}}, zp, zp});
    cases.push_back({t, {2, 2, 3, 8}, {{0, 1}, {0, 0}, {0, 0}, {3, 0}}, zp, zp});
    // Rank 5.
    cases.push_back({t, {1, 2, 3, 2, 3}, {{0, 1}, {1, 0}, {0, 2}, {1, 1}, {2, 0}}, zp, zp});
  }
  // Zero points at the range ends, and differing input/output zero points
  // (TFLite pads with the output's and copies the input raw).
  cases.push_back({DType::kUInt8, {1, 3, 4, 3}, {{0, 0}, {1, 2}, {2, 1}, {0, 0}}, 0, 0});
  cases.push_back({DType::kUInt8, {1, 3, 4, 3}, {{0, 0}, {1, 2}, {2, 1}, {0, 0}}, 255, 255});
  cases.push_back({DType::kInt8, {1, 3, 4, 3}, {{0, 0}, {1, 2}, {2, 1}, {0, 0}}, -128, -128});
  cases.push_back({DType::kInt8, {1, 3, 4, 3}, {{0, 0}, {1, 2}, {2, 1}, {0, 0}}, 127, 127});
  cases.push_back({DType::kUInt8, {1, 3, 4, 3}, {{0, 0}, {1, 1}, {1, 1}, {0, 0}}, 128, 10});
  cases.push_back({DType::kInt8, {2, 5, 3}, {{1, 1}, {0, 2}, {1, 0}}, 0, -100});
  // Wider types.
  cases.push_back({DType::kInt16, {1, 3, 4, 2}, {{0, 0}, {1, 2}, {0, 1}, {0, 0}}, 0, 0});
  cases.push_back({DType::kInt32, {3, 4}, {{1, 2}, {2, 1}}, 0, 0});
  cases.push_back({DType::kFloat32, {2, 3, 2}, {{0, 1}, {1, 1}, {2, 0}}, 0, 0});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Pad, ::testing::ValuesIn(pad_cases()),
                         [](const auto& info) { return pad_name(info.param); });

}  // namespace
}  // namespace nonstick::testing
