// RESHAPE on the reference backend against TFLite's CPU kernels, bit for
// bit: rank changes both ways (1-5), odd sizes, SSD's and YOLOv8's shapes.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

struct ReshapeCase {
  DType dtype;
  std::vector<int32_t> from;
  std::vector<int32_t> to;
};

std::string shape_tag(const std::vector<int32_t>& shape) {
  std::string s;
  for (int32_t d : shape) s += "_" + std::to_string(d);
  return s;
}

std::string reshape_name(const ReshapeCase& c) {
  return std::string(ir::dtype_name(c.dtype)) + "_from" + shape_tag(c.from) + "_to" +
         shape_tag(c.to);
}

// Readable parameters in failure messages and test listings.
void PrintTo(const ReshapeCase& c, std::ostream* os) { *os << reshape_name(c); }

class Reshape : public ::testing::TestWithParam<ReshapeCase> {};

TEST_P(Reshape, MatchesTflite) {
  const ReshapeCase& c = GetParam();
  GraphBuilder b(9);
  int in = b.input(c.dtype, c.from, 0.0790279f, c.dtype == DType::kUInt8 ? 191 : -3);
  int out = b.tensor(c.dtype, c.to, 0.0790279f, c.dtype == DType::kUInt8 ? 191 : -3);
  b.op(OpType::kReshape, {in}, {out});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

INSTANTIATE_TEST_SUITE_P(
    Reference, Reshape,
    ::testing::Values(ReshapeCase{DType::kUInt8, {1, 3, 3, 12}, {1, 27, 1, 4}},  // SSD box head
                      ReshapeCase{DType::kUInt8, {1, 2, 2, 273}, {1, 12, 91}},   // SSD class head
                      ReshapeCase{DType::kUInt8, {1, 17}, {17}},
                      ReshapeCase{DType::kUInt8, {7}, {1, 7, 1}},
                      ReshapeCase{DType::kUInt8, {2, 3, 5, 1, 2}, {6, 10}},
                      ReshapeCase{DType::kInt8, {1, 8, 5, 5}, {1, 8, 25}},  // YOLOv8 head
                      ReshapeCase{DType::kInt8, {1, 12, 7}, {1, 3, 4, 7}},
                      ReshapeCase{DType::kInt8, {3, 5}, {5, 3}},
                      ReshapeCase{DType::kInt8, {2, 3, 4}, {1, 2, 3, 2, 2}},
                      ReshapeCase{DType::kInt16, {4, 6}, {2, 12}},
                      ReshapeCase{DType::kFloat32, {2, 9}, {3, 3, 2}}),
    [](const auto& info) { return reshape_name(info.param); });

}  // namespace
}  // namespace nonstick::testing
