// TRANSPOSE on the reference backend against TFLite's CPU kernels, bit for
// bit: all 24 permutations of a 4-D uint8 tensor with distinct odd-ish
// sizes, YOLOv8's permutations in int8 at channel counts 1/3/8/17, and
// ranks 1-3 and 5 (TFLite 2.9 has no 6-D transpose).
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

struct TransposeCase {
  DType dtype;
  std::vector<int32_t> shape;
  std::vector<int32_t> perm;
};

std::string transpose_name(const TransposeCase& c) {
  std::string name = std::string(ir::dtype_name(c.dtype)) + "_shape";
  for (int32_t d : c.shape) name += "_" + std::to_string(d);
  name += "_perm";
  for (int32_t p : c.perm) name += std::to_string(p);
  return name;
}

// Readable parameters in failure messages and test listings.
void PrintTo(const TransposeCase& c, std::ostream* os) { *os << transpose_name(c); }

class Transpose : public ::testing::TestWithParam<TransposeCase> {};

TEST_P(Transpose, MatchesTflite) {
  const TransposeCase& c = GetParam();
  GraphBuilder b(23);
  const int32_t zp = c.dtype == DType::kUInt8 ? 77 : (c.dtype == DType::kInt8 ? 63 : 0);
  int in = b.input(c.dtype, c.shape, 0.265465f, zp);
  std::vector<int32_t> out_shape;
  for (int32_t p : c.perm) out_shape.push_back(c.shape[static_cast<size_t>(p)]);
  int out = b.tensor(c.dtype, out_shape, 0.265465f, zp);
  b.op(OpType::kTranspose, {in}, {out}, ir::TransposeParams{c.perm});
  b.mark_output(out);
  expect_matches_tflite(b.graph());
}

std::vector<TransposeCase> transpose_cases() {
  std::vector<TransposeCase> cases;
  std::vector<int32_t> perm = {0, 1, 2, 3};
  do {
    cases.push_back({DType::kUInt8, {2, 3, 5, 4}, perm});
  } while (std::next_permutation(perm.begin(), perm.end()));
  // YOLOv8's head permutations, channel counts 1, 3, 8, 17.
  for (int32_t ch : {1, 3, 8, 17}) {
    cases.push_back({DType::kInt8, {1, 5, 3, ch}, {0, 3, 1, 2}});
    cases.push_back({DType::kInt8, {1, 4, ch, 7}, {0, 1, 3, 2}});
  }
  cases.push_back({DType::kInt8, {2, 3, 5, 4}, {3, 2, 1, 0}});
  cases.push_back({DType::kInt8, {2, 3, 5, 4}, {0, 2, 3, 1}});
  // Other ranks.
  cases.push_back({DType::kUInt8, {7}, {0}});
  cases.push_back({DType::kUInt8, {3, 7}, {1, 0}});
  cases.push_back({DType::kInt8, {3, 7}, {0, 1}});
  cases.push_back({DType::kUInt8, {3, 4, 5}, {2, 0, 1}});
  cases.push_back({DType::kInt8, {3, 4, 5}, {1, 2, 0}});
  cases.push_back({DType::kUInt8, {2, 3, 1, 4, 3}, {4, 1, 3, 0, 2}});
  cases.push_back({DType::kInt8, {2, 3, 2, 4, 3}, {0, 3, 1, 4, 2}});
  // Wider types.
  cases.push_back({DType::kInt16, {2, 3, 5}, {2, 1, 0}});
  cases.push_back({DType::kInt32, {2, 3, 5}, {1, 2, 0}});
  cases.push_back({DType::kFloat32, {1, 3, 5, 2}, {0, 3, 1, 2}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, Transpose, ::testing::ValuesIn(transpose_cases()),
                         [](const auto& info) { return transpose_name(info.param); });

TEST(TransposeCheck, RefusesRank6AndNonPermutations) {
  const std::vector<TransposeCase> bad = {
      {DType::kInt8, {2, 1, 3, 2, 2, 3}, {5, 4, 3, 2, 1, 0}},  // TFLite 2.9 stops at 5-D
      {DType::kInt8, {2, 3, 4}, {0, 0, 1}},
      {DType::kInt8, {2, 3, 4}, {0, 1, 3}},
  };
  for (const TransposeCase& c : bad) {
    GraphBuilder b;
    int in = b.input(c.dtype, c.shape, 0.1f, 0);
    int out = b.tensor(c.dtype, c.shape, 0.1f, 0);
    b.op(OpType::kTranspose, {in}, {out}, ir::TransposeParams{c.perm});
    const ir::Graph& g = b.graph();
    EXPECT_FALSE(reference::find_kernel(OpType::kTranspose)->check(g, g.ops[0]).supported);
  }
}

}  // namespace
}  // namespace nonstick::testing
