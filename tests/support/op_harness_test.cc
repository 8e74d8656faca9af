// The harness itself: deterministic inputs, a passing comparison, and a
// failure when a node stays on TFLite's CPU.
#include "support/op_harness.h"
#include "support/scoped_env.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "support/test_data.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

ir::Graph reshape_graph() {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 4, 4, 3}, 0.1f, 128);
  int out = b.tensor(DType::kUInt8, {1, 48}, 0.1f, 128);
  b.op(OpType::kReshape, {in}, {out});
  b.mark_output(out);
  return b.graph();
}

TEST(Harness, CpuInputsAreDeterministicPerSeed) {
  ir::Graph g = reshape_graph();
  auto a = run_tflite_cpu(g, 7);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a, run_tflite_cpu(g, 7));
  EXPECT_NE(a, run_tflite_cpu(g, 8));
}

TEST(Harness, FloatInputsOfQuantizeSpanItsRange) {
  GraphBuilder b;
  int in = b.input(DType::kFloat32, {1, 16, 16, 1});
  int out = b.tensor(DType::kInt8, {1, 16, 16, 1}, 0.02f, -10);
  b.op(OpType::kQuantize, {in}, {out});
  b.mark_output(out);
  auto outputs = run_tflite_cpu(b.graph(), 3);
  ASSERT_EQ(outputs.size(), 1u);
  auto [lo, hi] = std::minmax_element(outputs[0].begin(), outputs[0].end(), [](uint8_t x, uint8_t y) {
    return static_cast<int8_t>(x) < static_cast<int8_t>(y);
  });
  EXPECT_EQ(static_cast<int8_t>(*lo), -128);  // saturated at both ends
  EXPECT_EQ(static_cast<int8_t>(*hi), 127);
}

TEST(Harness, PassesWhenTheDelegateAgrees) { EXPECT_TRUE(expect_matches_tflite(reshape_graph())); }

TEST(Harness, FailsWhenANodeStaysOnTheCpu) {
  // The reference backend is integer-only: a float ADD stays on the CPU.
  GraphBuilder b;
  int x = b.input(DType::kFloat32, {1, 2, 2, 1});
  int y = b.input(DType::kFloat32, {1, 2, 2, 1});
  int out = b.tensor(DType::kFloat32, {1, 2, 2, 1});
  b.op(OpType::kAdd, {x, y}, {out}, ir::ElementwiseParams{});
  b.mark_output(out);
  bool matched = true;
  EXPECT_NONFATAL_FAILURE(matched = expect_matches_tflite(b.graph()), "were not delegated");
  EXPECT_FALSE(matched);
}

TEST(SharedData, DirectoryFollowsNonstickData) {
  const ScopedEnv env("NONSTICK_DATA", "/nonexistent/nonstick");
  EXPECT_EQ(shared_dir(), "/nonexistent/nonstick");
  EXPECT_FALSE(shared_dir_available());
}

}  // namespace
}  // namespace nonstick::testing
