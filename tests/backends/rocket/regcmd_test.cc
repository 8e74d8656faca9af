// The emitted register-command streams against Mesa's captured ones, word by
// word, for every task of three real uint8 models, with the buffers placed
// where Mesa's were, in the OUT_CVT-only requantization mode (Mesa's
// registers). Every difference must be one of the deliberate ones (see
// regcmd.cc): rounded requantization mantissas and the pad byte of
// convolutions that have no padding. Also hand checks of the fields Mesa's
// streams cannot show (per-axis strides/padding, clamps, identity ADD, the
// precise mode's BS multiplier and BN add).
#include "backends/rocket/regcmd.h"

#include <gtest/gtest.h>

#include <sstream>

#include "golden.h"
#include "requant_mode.h"
#include "rocket/registers.h"

namespace nonstick::rocket {
namespace {

namespace g = testing::golden;
namespace r = reg;

struct Emitted {
  std::vector<uint64_t> words;
  TaskPlan plan;
  DpuEncoding enc;
};

// Compares one task; returns a description of unexpected differences.
std::string compare_task(const std::vector<uint64_t>& mesa, const std::vector<uint64_t>& mine, bool padded) {
  std::ostringstream bad;
  if (mesa.size() != mine.size()) {
    bad << "word count " << mine.size() << " vs Mesa " << mesa.size();
    return bad.str();
  }
  for (size_t k = 0; k < mesa.size(); ++k) {
    if (mesa[k] == mine[k]) continue;
    const uint16_t off = static_cast<uint16_t>(mine[k]);
    const auto a = static_cast<uint32_t>(mesa[k] >> 16), b = static_cast<uint32_t>(mine[k] >> 16);
    const bool same_target = (mesa[k] & 0xffff00000000ffffull) == (mine[k] & 0xffff00000000ffffull);
    bool allowed = false;
    if (same_target && off == r::DPU_OUT_CVT_SCALE::offset) {
      allowed = b + 1 == a;  // Mesa truncates the mantissa and adds 1; we round
    } else if (same_target && off == r::DPU_EW_CVT_SCALE_VALUE::offset) {
      allowed = (a >> 16) == (b >> 16) && (a & 0xffff) + 1 == (b & 0xffff);  // Mesa truncates here
    } else if (same_target && off == r::CNA_PAD_CON1::offset && !padded) {
      allowed = true;  // no padding cell is read: the value is unused
    }
    if (!allowed) {
      const r::RegisterInfo* info = r::find_register(off);
      bad << " word " << k << " (" << (info ? info->name : "?") << "): Mesa 0x" << std::hex << a << " ours 0x" << b
          << std::dec << ";";
    }
  }
  return bad.str();
}

void expect_streams_match_mesa(const std::string& model, int submit, size_t first_conv) {
  ir::Graph graph;
  ASSERT_TRUE(g::load_model(g::model_path(model), &graph));
  g::Submit sub;
  ASSERT_TRUE(g::load_submit(model, submit, &sub));
  size_t job = 0, seen = 0;
  int compared_tasks = 0, fused = 0;
  for (size_t i = 0; i < graph.ops.size() && job < sub.jobs.size(); ++i) {
    const ir::Operation& op = graph.ops[i];
    if (op.type == ir::OpType::kAdd) continue;
    if (seen++ < first_conv) continue;
    NpuConv c;
    ASSERT_TRUE(lower_op(graph, op, static_cast<int>(i), testing::outcvt_requant(), &c).supported);
    // Mesa fuses an ADD that directly follows its producer.
    if (i + 1 < graph.ops.size() && graph.ops[i + 1].type == ir::OpType::kAdd) {
      NpuConv add;
      ASSERT_TRUE(
          lower_op(graph, graph.ops[i + 1], static_cast<int>(i + 1), testing::outcvt_requant(), &add).supported);
      c = fuse_add(graph, c, add);
      ++fused;
    }
    const g::Job& j = sub.jobs[job];
    const std::string where = model + " job " + std::to_string(job) + " (" + c.label + ")";
    Emitted e;
    ASSERT_TRUE(encode_dpu(c, testing::outcvt_requant(), &e.enc).supported) << where;
    ASSERT_TRUE(plan_tasks(c, &e.plan).supported) << where;
    ASSERT_EQ(e.plan.slices.size(), j.tasks.size()) << where;
    const std::vector<uint64_t>& first = j.tasks[0].words;
    TaskAddresses a;
    a.input = static_cast<uint32_t>(sub.bo_at(g::reg_value(first, r::CNA_FEATURE_DATA_ADDR::offset))->dma);
    a.output = static_cast<uint32_t>(sub.bo_by_handle(j.out_handles[0])->dma);
    a.weights = g::reg_value(first, r::CNA_DCOMP_ADDR0::offset);
    a.biases = g::reg_value(first, r::DPU_RDMA_RDMA_BS_BASE_ADDR::offset);
    if (c.has_addend()) a.addend = static_cast<uint32_t>(sub.bo_at(g::reg_value(first, r::DPU_RDMA_RDMA_SRC_BASE_ADDR::offset))->dma);
    const bool padded = c.kernel_w > 1 || c.kernel_h > 1;
    for (size_t t = 0; t < j.tasks.size(); ++t) {
      // Isolate the encoding from the planner (tested in tasks_test): use
      // Mesa's input row count, which may include one spare row.
      TaskPlan plan = e.plan;
      plan.slices[t].in_rows =
          static_cast<int>(r::CNA_DATA_SIZE0::get_DATAIN_HEIGHT(g::reg_value(j.tasks[t].words, r::CNA_DATA_SIZE0::offset)));
      a.next_regcmd = t + 1 < j.tasks.size() ? j.tasks[t + 1].dma : 0;
      a.next_words = t + 1 < j.tasks.size() ? static_cast<uint32_t>(j.tasks[t + 1].words.size()) : 0;
      a.chained = j.tasks.size() > 1;
      std::vector<uint64_t> words;
      emit_task(c, e.enc, plan, t, a, &words);
      EXPECT_EQ(compare_task(j.tasks[t].words, words, padded), "") << where << " task " << t;
      ++compared_tasks;
    }
    ++job;
  }
  EXPECT_EQ(job, sub.jobs.size());
  EXPECT_GT(compared_tasks, 0);
  if (model.find("v2") != std::string::npos && submit == 0) {
    EXPECT_EQ(fused, 10);
  }
}

TEST(RocketRegcmd, StreamsEqualMesaMobilenetV1_025) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_streams_match_mesa("mobilenet_v1_0.25_128_quant", 0, 0);
  expect_streams_match_mesa("mobilenet_v1_0.25_128_quant", 1, 27);
}

TEST(RocketRegcmd, StreamsEqualMesaMobilenetV1_075_192WithRowSplits) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_streams_match_mesa("mobilenet_v1_0.75_192_quant", 0, 0);
}

TEST(RocketRegcmd, StreamsEqualMesaMobilenetV2WithFusedAdds) {
  NONSTICK_REQUIRE_SHARED_DATA();
  expect_streams_match_mesa("mobilenet_v2_1.0_224_quant", 0, 0);
}

// ---- Fields Mesa's square, stride-symmetric, zero-point-0 streams cannot show.

NpuConv rect_conv() {
  NpuConv c;
  c.label = "test";
  c.in_w = 20;  // width: the contiguous NHWC axis
  c.in_h = 9;
  c.in_c = 5;
  c.out_c = 7;
  c.kernel_w = 3;
  c.kernel_h = 5;
  c.stride_w = 1;
  c.stride_h = 2;
  c.pad_left = 1;
  c.pad_top = 2;
  c.out_w = 20;
  c.out_h = 5;
  c.in_zp = -3;
  c.out_zp = 17;
  c.weights.assign(static_cast<size_t>(7 * 15 * 5), 1);
  c.bias.assign(7, 0);
  c.acc_scale = 0.001;
  c.out_multiplier = 0.01;
  return c;
}

std::vector<uint64_t> emit_one(const NpuConv& c, DpuEncoding* enc_out = nullptr,
                               const EncodingOptions& options = testing::outcvt_requant()) {
  DpuEncoding enc;
  EXPECT_TRUE(encode_dpu(c, options, &enc).supported);
  TaskPlan plan;
  EXPECT_TRUE(plan_tasks(c, &plan).supported);
  TaskAddresses a{0x10000000, 0x10100000, 0x10200000, 0x10300000, 0, 0, 0, false};
  std::vector<uint64_t> words;
  emit_task(c, enc, plan, 0, a, &words);
  EXPECT_EQ(words.size(), kTaskWords);
  if (enc_out) *enc_out = enc;
  return words;
}

TEST(RocketRegcmd, WidthIsTheContiguousAxisAndStridesPaddingArePerAxis) {
  const auto w = emit_one(rect_conv());
  const uint32_t size0 = g::reg_value(w, r::CNA_DATA_SIZE0::offset);
  EXPECT_EQ(r::CNA_DATA_SIZE0::get_DATAIN_WIDTH(size0), 20u);
  EXPECT_EQ(r::CNA_DATA_SIZE0::get_DATAIN_HEIGHT(size0), 9u);
  const uint32_t con3 = g::reg_value(w, r::CNA_CONV_CON3::offset);
  EXPECT_EQ(r::CNA_CONV_CON3::get_CONV_X_STRIDE(con3), 1u);
  EXPECT_EQ(r::CNA_CONV_CON3::get_CONV_Y_STRIDE(con3), 2u);
  const uint32_t pad = g::reg_value(w, r::CNA_PAD_CON0::offset);
  EXPECT_EQ(r::CNA_PAD_CON0::get_PAD_LEFT(pad), 1u);
  EXPECT_EQ(r::CNA_PAD_CON0::get_PAD_TOP(pad), 2u);
  const uint32_t ws2 = g::reg_value(w, r::CNA_WEIGHT_SIZE2::offset);
  EXPECT_EQ(r::CNA_WEIGHT_SIZE2::get_WEIGHT_WIDTH(ws2), 3u);
  EXPECT_EQ(r::CNA_WEIGHT_SIZE2::get_WEIGHT_HEIGHT(ws2), 5u);
  EXPECT_EQ(g::reg_value(w, r::CNA_DMA_CON1::offset), 80u);  // 4 units per pixel of a 20-wide row
  const uint32_t out0 = g::reg_value(w, r::CORE_DATAOUT_SIZE_0::offset);
  EXPECT_EQ(r::CORE_DATAOUT_SIZE_0::get_DATAOUT_WIDTH(out0), 19u);
  EXPECT_EQ(r::CORE_DATAOUT_SIZE_0::get_DATAOUT_HEIGHT(out0), 4u);
  EXPECT_EQ(g::reg_value(w, r::DPU_DATA_CUBE_WIDTH::offset), 19u);
  // Pad byte -3 replicated: 0xfdfd sign-extended.
  EXPECT_EQ(g::reg_value(w, r::CNA_PAD_CON1::offset), 0xfffffdfdu);
  EXPECT_EQ(g::reg_value(w, r::DPU_OUT_CVT_OFFSET::offset), 17u);
}

TEST(RocketRegcmd, Relu6WithNonzeroZeroPointClampsInTheBnStage) {
  NpuConv c = rect_conv();
  c.act_min = c.out_zp;  // ReLU at the zero point
  c.act_max = 100;       // and a 6.0 cap below the int8 maximum
  DpuEncoding enc;
  const auto w = emit_one(c, &enc);
  const uint32_t bn = g::reg_value(w, r::DPU_BN_CFG::offset);
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_BYPASS(bn), 0u);
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_RELU_BYPASS(bn), 0u);
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_RELUX_EN(bn), 1u);
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_ALU_BYPASS(bn), 1u);
  EXPECT_EQ(r::DPU_BN_CFG::get_BN_MUL_BYPASS(bn), 1u);
  // The cap is the smallest accumulator that requantizes to act_max: 83
  // steps / 0.01 = 8300 accumulator units (up to the mantissa's rounding).
  const auto cap = static_cast<int32_t>(g::reg_value(w, r::DPU_BN_RELUX_CMP_VALUE::offset));
  EXPECT_EQ(cap, enc.relux_cap);
  const double m = enc.out.value();
  EXPECT_GE(cap * m, 83.0);
  EXPECT_LT((cap - 1) * m, 83.0);
  // EW stays bypassed.
  EXPECT_EQ(r::DPU_EW_CFG::get_EW_BYPASS(g::reg_value(w, r::DPU_EW_CFG::offset)), 1u);
}

// Precise requantization (docs/virtual-rk3588.md §10): the BS multiplier
// with one C from the data-use-7 stream, the BN ALU adding B, and the
// ReLU6 cap in units of v2, in the BN stage after the add.
TEST(RocketRegcmd, PreciseRequantUsesTheBsMultiplierAndTheBnAdd) {
  NpuConv c = rect_conv();
  DpuEncoding enc;
  auto w = emit_one(c, &enc, testing::precise_requant());
  ASSERT_TRUE(enc.bs_multiplier && enc.bn_add);
  const uint32_t s = enc.bs_shift;
  EXPECT_EQ(g::reg_value(w, r::DPU_BS_CFG::offset), 0x20140u);
  EXPECT_EQ(g::reg_value(w, r::DPU_BS_MUL_CFG::offset), (s << 8) | 1u);
  EXPECT_EQ(g::reg_value(w, r::DPU_DATA_FORMAT::offset), s << 4);
  EXPECT_EQ(g::reg_value(w, r::DPU_RDMA_RDMA_BRDMA_CFG::offset), 0xEu);  // BRDMA_DATA_USE 7
  // BN: ALU add (ALGO 2) of the constant BN_ALU_CFG (ALU_SRC 0), multiplier
  // and ReLU bypassed.
  EXPECT_EQ(g::reg_value(w, r::DPU_BN_CFG::offset), 0x20050u);
  EXPECT_EQ(static_cast<int32_t>(g::reg_value(w, r::DPU_BN_ALU_CFG::offset)), enc.bn_operand);
  EXPECT_GT(enc.bn_operand, 0);
  EXPECT_EQ(g::reg_value(w, r::DPU_RDMA_RDMA_NRDMA_CFG::offset), 0u);
  EXPECT_EQ(g::reg_value(w, r::DPU_OUT_CVT_SCALE::offset), enc.out.scale);
  EXPECT_EQ(g::reg_value(w, r::DPU_OUT_CVT_SHIFT::offset), enc.out.shift);

  c.act_min = c.out_zp;
  c.act_max = 100;
  w = emit_one(c, &enc, testing::precise_requant());
  EXPECT_EQ(g::reg_value(w, r::DPU_BN_CFG::offset), 0x20090u);  // + ReLU and ReLUX
  const auto cap = static_cast<int32_t>(g::reg_value(w, r::DPU_BN_RELUX_CMP_VALUE::offset));
  EXPECT_EQ(cap, enc.relux_cap);
  EXPECT_GE(cap * enc.out.value(), 83.0);
  EXPECT_LT((cap - 1) * enc.out.value(), 83.0);
}

TEST(RocketRegcmd, SingleTaskTailIsZeroWordMarkerAndOpEnable) {
  const auto w = emit_one(rect_conv());
  EXPECT_EQ(w[126], 0u);
  EXPECT_EQ(w[127], r::PC_REGISTER_AMOUNTS::cmd(0));
  EXPECT_EQ(w[128], 0x0041000000000000ull);
  EXPECT_EQ(w[129], 0x00810000001d0008ull);
}

}  // namespace
}  // namespace nonstick::rocket
