// CBUF planning against the task splits in Mesa's captured streams (which
// run on RK3588 hardware), plus hand-made edge cases.
#include "backends/rocket/tasks.h"

#include <gtest/gtest.h>

#include "backends/rocket/coefs.h"
#include "golden.h"

namespace nonstick::rocket {
namespace {

namespace g = testing::golden;

// For each convolution of `model` (job j of submit 0 = j-th convolution):
// same banks, entries and band boundaries as Mesa; our bands never read more
// input rows than Mesa's (Mesa sometimes reads one spare row).
void expect_plans_match_mesa(const std::string& model) {
  ir::Graph graph;
  ASSERT_TRUE(g::load_model(g::model_path(model), &graph));
  g::Submit sub;
  ASSERT_TRUE(g::load_submit(model, 0, &sub));
  size_t job = 0;
  int split_ops = 0;
  for (size_t i = 0; i < graph.ops.size() && job < sub.jobs.size(); ++i) {
    const ir::Operation& op = graph.ops[i];
    if (op.type == ir::OpType::kAdd) continue;
    NpuConv c;
    ASSERT_TRUE(lower_op(graph, op, static_cast<int>(i), EncodingOptions{}, &c).supported);
    TaskPlan plan;
    ASSERT_TRUE(plan_tasks(c, &plan).supported);
    const g::Job& j = sub.jobs[job];
    const std::string where = model + " job " + std::to_string(job) + " (" + c.label + ")";
    ASSERT_EQ(plan.slices.size(), j.tasks.size()) << where;
    split_ops += j.tasks.size() > 1;
    const uint64_t in_base = sub.bo_by_handle(j.in_handles[0])->dma;
    const uint64_t out_base = sub.bo_by_handle(j.out_handles[0])->dma;
    for (size_t t = 0; t < plan.slices.size(); ++t) {
      const std::vector<uint64_t>& w = j.tasks[t].words;
      const TaskSlice& s = plan.slices[t];
      const uint32_t cbuf0 = g::reg_value(w, 0x1040);
      EXPECT_EQ(static_cast<int>(cbuf0 & 0xf), plan.data_banks) << where << " task " << t;
      EXPECT_EQ(static_cast<int>((cbuf0 >> 4) & 0xf), plan.weight_banks) << where;
      EXPECT_EQ((cbuf0 >> 13) & 1, t > 0 && plan.weights_resident ? 1u : 0u) << where << " task " << t;
      EXPECT_EQ(static_cast<int>(g::reg_value(w, 0x1044)), plan.data_entries) << where;
      EXPECT_EQ(static_cast<int>(g::reg_value(w, 0x3014) >> 16) + 1, s.out_rows) << where << " task " << t;
      EXPECT_EQ(g::reg_value(w, 0x4020) - out_base, uint64_t(s.out_row) * c.out_w * 16) << where << " task " << t;
      EXPECT_EQ(g::reg_value(w, 0x1070) - in_base, uint64_t(s.in_row) * c.in_w * 16) << where << " task " << t;
      EXPECT_EQ(static_cast<int>(g::reg_value(w, 0x1068) & 0xf), s.pad_top) << where << " task " << t;
      const int mesa_rows = static_cast<int>(g::reg_value(w, 0x1020) & 0x7ff);
      EXPECT_LE(s.in_rows, mesa_rows) << where << " task " << t;
      EXPECT_GE(s.in_rows, mesa_rows - 1) << where << " task " << t;
    }
    ++job;
  }
  EXPECT_EQ(job, sub.jobs.size());
  EXPECT_GT(split_ops, 0) << model << " has no split operation to compare";
}

TEST(RocketTasks, SplitsMatchMesaMobilenetV1_075_192) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_plans_match_mesa("mobilenet_v1_0.75_192_quant");
}

TEST(RocketTasks, SplitsMatchMesaMobilenetV1_224) {
  NONSTICK_REQUIRE_SHARED_DATA();
  // 14x14x512 1x1 convolutions: 9 weight banks resident, 13 + 1 rows.
  expect_plans_match_mesa("mobilenet_v1_1.0_224_quant_embedding_extractor");
}

TEST(RocketTasks, SplitsMatchMesaMobilenetV2) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_plans_match_mesa("mobilenet_v2_1.0_224_quant");
}

NpuConv conv(int w, int h, int cin, int cout, int k, int stride, int pad) {
  NpuConv c;
  c.in_w = w;
  c.in_h = h;
  c.in_c = cin;
  c.out_c = cout;
  c.kernel_w = c.kernel_h = k;
  c.stride_w = c.stride_h = stride;
  c.pad_left = c.pad_top = pad;
  c.out_w = (w + 2 * pad - k) / stride + 1;
  c.out_h = (h + 2 * pad - k) / stride + 1;
  return c;
}

TEST(RocketTasks, BandsCoverEveryOutputRowOnceWithTheirInputRows) {
  for (int stride : {1, 2, 3}) {
    for (int k : {1, 3, 5}) {
      const NpuConv c = conv(300, 700, 64, 32, k, stride, k / 2);
      TaskPlan p;
      ASSERT_TRUE(plan_tasks(c, &p).supported);
      ASSERT_GT(p.slices.size(), 1u);
      int next = 0;
      for (const TaskSlice& s : p.slices) {
        EXPECT_EQ(s.out_row, next);
        next += s.out_rows;
        // The band's input rows are exactly what its outputs read.
        const int first = std::max(0, s.out_row * stride - c.pad_top);
        const int last = std::min(c.in_h, (s.out_row + s.out_rows - 1) * stride - c.pad_top + k);
        EXPECT_EQ(s.in_row, first);
        EXPECT_EQ(s.in_rows, last - first);
        EXPECT_EQ(s.pad_top, s.out_row == 0 ? c.pad_top : 0);
        // And fit the data banks (8 atoms per 128-byte entry: 300*4/8 entries a row).
        EXPECT_LE(int64_t{s.in_rows} * 150, int64_t{p.data_banks} * 256);
      }
      EXPECT_EQ(next, c.out_h);
    }
  }
}

TEST(RocketTasks, RefusesWhenOneOutputRowDoesNotFit) {
  // 2047 pixels x 512 channels = 32 atoms: 8188 entries a row, 3 rows for a
  // 3x3 kernel, far beyond 12 banks of 256 entries.
  const NpuConv c = conv(2047, 8, 512, 16, 3, 1, 1);
  TaskPlan p;
  const Support s = plan_tasks(c, &p);
  EXPECT_FALSE(s.supported);
  EXPECT_NE(s.reason.find("CBUF"), std::string::npos) << s.reason;
}

TEST(RocketTasks, StreamedWeightsLeaveSevenDataBanks) {
  // 1x1 conv with 1024 -> 1024 channels: 1 MiB of weights cannot stay resident.
  const NpuConv c = conv(7, 7, 1024, 1024, 1, 1, 0);
  TaskPlan p;
  ASSERT_TRUE(plan_tasks(c, &p).supported);
  EXPECT_FALSE(p.weights_resident);
  EXPECT_EQ(p.data_banks, 2);  // 7 rows x 7 pixels x 64 atoms fit in 2 banks
  EXPECT_EQ(p.weight_banks, 10);
  EXPECT_EQ(p.slices.size(), 1u);
}

}  // namespace
}  // namespace nonstick::rocket
