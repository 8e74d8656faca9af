// STRIDED_SLICE on the reference backend against TFLite's CPU kernels, bit
// for bit: ranks 1-5, positive and negative strides, negative and clamped
// indices, begin/end masks, shrink_axis (with and without the other masks on
// the same axis), and YOLOv8's channel slices. Output shapes are worked out
// by hand in each case.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"
#include "support/op_harness.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

struct SliceCase {
  std::string label;
  DType dtype;
  std::vector<int32_t> shape;
  std::vector<int32_t> begin, end, strides;
  int begin_mask, end_mask, shrink_mask;
  std::vector<int32_t> out_shape;
};

std::string slice_name(const SliceCase& c) {
  auto list = [](const char* key, const std::vector<int32_t>& v) {
    std::string s = key;
    for (int32_t x : v) s += "_" + (x < 0 ? "m" + std::to_string(-x) : std::to_string(x));
    return s;
  };
  return std::string(ir::dtype_name(c.dtype)) + "_" + list("shape", c.shape) + "_" +
         list("begin", c.begin) + "_" + list("end", c.end) + "_" + list("strides", c.strides) +
         "_bm" + std::to_string(c.begin_mask) + "_em" + std::to_string(c.end_mask) + "_sm" +
         std::to_string(c.shrink_mask) + "_" + c.label;
}

// Readable parameters in failure messages and test listings.
void PrintTo(const SliceCase& c, std::ostream* os) { *os << slice_name(c); }

class StridedSlice : public ::testing::TestWithParam<SliceCase> {};

ir::Graph slice_graph(const SliceCase& c) {
  GraphBuilder b(17);
  const int32_t zp = c.dtype == DType::kUInt8 ? 100 : (c.dtype == DType::kInt8 ? -124 : 0);
  int in = b.input(c.dtype, c.shape, 0.135635f, zp);
  int out = b.tensor(c.dtype, c.out_shape, 0.135635f, zp);
  ir::StridedSliceParams p;
  p.begin = c.begin;
  p.end = c.end;
  p.strides = c.strides;
  p.begin_mask = c.begin_mask;
  p.end_mask = c.end_mask;
  p.shrink_axis_mask = c.shrink_mask;
  b.op(OpType::kStridedSlice, {in}, {out}, p);
  b.mark_output(out);
  return b.graph();
}

TEST_P(StridedSlice, MatchesTflite) { expect_matches_tflite(slice_graph(GetParam())); }

std::vector<SliceCase> slice_cases() {
  std::vector<SliceCase> cases;
  for (DType t : {DType::kUInt8, DType::kInt8}) {
    // Rank 1.
    cases.push_back({"range", t, {9}, {2}, {7}, {1}, 0, 0, 0, {5}});
    cases.push_back({"negindex", t, {9}, {-3}, {-1}, {1}, 0, 0, 0, {2}});
    cases.push_back({"stride2", t, {9}, {1}, {9}, {2}, 0, 0, 0, {4}});
    cases.push_back({"backstride2", t, {9}, {7}, {1}, {-2}, 0, 0, 0, {3}});
    cases.push_back({"reverse", t, {9}, {0}, {0}, {-1}, 1, 1, 0, {9}});
    cases.push_back({"backclamped", t, {9}, {-1}, {-10}, {-3}, 0, 0, 0, {3}});
    cases.push_back({"clamped", t, {6}, {-100}, {100}, {1}, 0, 0, 0, {6}});
    cases.push_back({"bigstride", t, {5}, {1}, {5}, {10}, 0, 0, 0, {1}});
    // Rank 2.
    cases.push_back({"strides2x3", t, {5, 7}, {1, 0}, {4, 7}, {2, 3}, 0, 0, 0, {2, 3}});
    cases.push_back({"shrinkrow", t, {5, 7}, {2, 1}, {3, 6}, {1, 2}, 0, 0, 1, {3}});
    cases.push_back({"shrinknegrow", t, {5, 7}, {-1, 0}, {0, 0}, {1, 1}, 0, 2, 1, {7}});
    cases.push_back({"negend", t, {6, 4}, {1, 0}, {-1, -1}, {1, 1}, 0, 0, 0, {4, 3}});
    cases.push_back({"shrinkcol", t, {6, 4}, {0, -2}, {6, 0}, {1, 1}, 0, 0, 2, {6}});
    // Rank 3.
    cases.push_back({"masked", t, {3, 4, 5}, {2, 1, 3}, {0, 3, 1}, {1, 1, 1}, 5, 5, 0, {3, 2, 5}});
    cases.push_back({"allbackward", t, {3, 4, 5},
                     {-1, -1, -1}, {0, 0, 0}, {-1, -2, -2}, 0, 7, 0, {3, 2, 3}});
    cases.push_back({"yolohead", t, {1, 12, 21},
                     {0, 4, 0}, {0, 12, 0}, {1, 1, 1}, 5, 5, 0, {1, 8, 21}});
    cases.push_back({"shrinkmasks", t, {4, 3, 5},
                     {2, 0, 0}, {0, 3, 5}, {1, 1, 1}, 1, 1, 1, {3, 5}});
    // Rank 4.
    cases.push_back({"yolochannels", t, {1, 6, 5, 32},
                     {0, 0, 0, 16}, {0, 0, 0, 32}, {1, 1, 1, 1}, 7, 7, 0, {1, 6, 5, 16}});
    cases.push_back({"yolofirsthalf", t, {1, 4, 3, 17},
                     {0, 0, 0, 0}, {0, 0, 0, 8}, {1, 1, 1, 1}, 7, 7, 0, {1, 4, 3, 8}});
    cases.push_back({"mixedstrides", t, {2, 5, 6, 3},
                     {1, 0, -2, 0}, {2, 5, 0, 3}, {1, 2, -1, 1}, 0, 0, 0, {1, 3, 4, 3}});
    cases.push_back({"shrink0and3", t, {2, 3, 4, 5},
                     {1, 0, 0, 2}, {2, 3, 4, 3}, {1, 1, 1, 1}, 0, 0, 9, {3, 4}});
    cases.push_back({"spatialstep", t, {1, 7, 8, 3},
                     {0, 1, 0, 0}, {1, 7, 8, 3}, {1, 3, 3, 1}, 0, 0, 0, {1, 2, 3, 3}});
    cases.push_back({"channelsback", t, {1, 2, 3, 8},
                     {0, 0, 0, 6}, {1, 2, 3, -9}, {1, 1, 1, -3}, 0, 0, 0, {1, 2, 3, 3}});
    // Rank 5.
    cases.push_back({"steps", t, {2, 3, 2, 4, 3},
                     {0, 1, 0, 1, 0}, {2, 3, 2, 4, 3}, {1, 1, 1, 2, 2}, 0, 0, 0, {2, 2, 2, 2, 2}});
    cases.push_back({"backmasked", t, {2, 3, 2, 4, 3}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0},
                     {-1, 2, 1, -3, 1}, 31, 31, 0, {2, 2, 2, 2, 3}});
  }
  cases.push_back({"range", DType::kInt16, {4, 6}, {1, 1}, {3, 6}, {1, 2}, 0, 0, 0, {2, 3}});
  cases.push_back({"range", DType::kInt32, {4, 6}, {3, 1}, {0, 6}, {-1, 2}, 0, 0, 0, {3, 3}});
  cases.push_back({"range", DType::kFloat32, {4, 6}, {1, 0}, {3, 6}, {1, 1}, 0, 0, 1, {6}});
  cases.push_back({"range", DType::kBool, {4, 6}, {1, 5}, {3, 0}, {1, -2}, 0, 0, 0, {2, 3}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Reference, StridedSlice, ::testing::ValuesIn(slice_cases()),
                         [](const auto& info) { return slice_name(info.param); });

TEST(StridedSliceCheck, RefusesEllipsisAndNewAxisMasks) {
  for (int which = 0; which < 2; ++which) {
    SliceCase c{"", DType::kInt8, {2, 3}, {0, 0}, {2, 3}, {1, 1}, 0, 0, 0, {2, 3}};
    ir::Graph g = slice_graph(c);
    auto& p = std::get<ir::StridedSliceParams>(g.ops[0].params);
    (which == 0 ? p.ellipsis_mask : p.new_axis_mask) = 1;
    EXPECT_FALSE(reference::find_kernel(OpType::kStridedSlice)->check(g, g.ops[0]).supported);
  }
}

// An out-of-range begin is clamped differently across TFLite versions; the
// only cases where that matters give an empty axis, which is refused.
TEST(StridedSliceCheck, RefusesEmptySlices) {
  const std::vector<SliceCase> empty = {
      {"", DType::kInt8, {6}, {8}, {10}, {1}, 0, 0, 0, {0}},
      {"", DType::kInt8, {6}, {-8}, {-10}, {-1}, 0, 0, 0, {0}},
      {"", DType::kUInt8, {4, 6}, {0, 3}, {4, 3}, {1, 1}, 0, 0, 0, {4, 0}},
      {"", DType::kUInt8, {4, 6}, {1, 0}, {2, 6}, {-1, 1}, 0, 0, 1, {6}},  // shrunk, backwards
  };
  for (const SliceCase& c : empty) {
    ir::Graph g = slice_graph(c);
    EXPECT_FALSE(reference::find_kernel(OpType::kStridedSlice)->check(g, g.ops[0]).supported);
  }
}

TEST(StridedSliceCheck, RefusesShrinkingOutOfRange) {
  SliceCase c{"", DType::kInt8, {4, 6}, {4, 0}, {5, 6}, {1, 1}, 0, 0, 1, {6}};
  ir::Graph g = slice_graph(c);
  EXPECT_FALSE(reference::find_kernel(OpType::kStridedSlice)->check(g, g.ops[0]).supported);
}

}  // namespace
}  // namespace nonstick::testing
