// The register diff against Mesa's captured streams (tools/rocket_mesa_diff):
// every field our rocket backend programs differently from Mesa, on every
// captured model with submits, must have a known reason. Also checks that the
// diff really detects differences: a corrupted word of ours must come out
// UNEXPLAINED, and a reason's predicate must refuse values it does not cover.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "backends/rocket/lower.h"
#include "backends/rocket/requant_mode.h"
#include "rocket/registers.h"
#include "support/test_data.h"
#include "tools/rocket_mesa_diff/proof.h"
#include "tools/rocket_mesa_diff/report.h"

namespace nonstick::mesa_diff {
namespace {

namespace r = rocket::reg;

std::string goldens() { return testing::shared_dir() + "/goldens/rocket"; }

std::string unexplained_list(const ModelDiff& d) {
  std::ostringstream s;
  for (const JobDiff& j : d.jobs) {
    for (const FieldDiff& f : j.diffs) {
      if (f.reason == kUnexplained) {
        s << "\n  " << j.label << " task " << f.task << " " << f.reg << "." << f.field << ": Mesa " << f.mesa
          << ", ours " << f.ours;
      }
    }
  }
  for (const auto& [label, why] : d.extra_jobs) {
    if (why == kUnexplained) s << "\n  our job " << label << " has no Mesa counterpart";
  }
  return s.str();
}

// Our word writing register `offset` in task 0 of the job running `node`.
uint64_t* our_word(OurModel* ours, int node, uint16_t offset) {
  for (JobRecord& j : ours->streams.jobs) {
    if (j.nodes.empty() || j.nodes[0] != node) continue;
    for (uint64_t& w : j.tasks[0].words) {
      if ((w & 0xffff) == offset && (w >> 48) != 0) return &w;
    }
  }
  return nullptr;
}

// In both requantization modes (the precise default and Mesa's OUT_CVT-only
// registers).
TEST(RocketMesaDiff, EveryDifferenceFromMesaHasAKnownReason) {
  NONSTICK_REQUIRE_SHARED_DATA();
  std::string error;
  const std::vector<std::string> names = captured_models(goldens(), &error);
  ASSERT_FALSE(names.empty()) << error;
  for (const char* mode : {"precise", "outcvt"}) {
    SCOPED_TRACE(mode);
    testing::ScopedRequantMode requant(mode);
    int models = 0;
    for (const std::string& name : names) {
      const ModelResult res = analyse_model(testing::shared_dir(), name, true);
      ASSERT_TRUE(res.has_mesa) << name << ": " << res.mesa.status;
      if (res.mesa.streams.jobs.empty()) continue;  // Mesa never submitted
      ++models;
      ASSERT_TRUE(res.ours.ran) << name << ": " << res.ours.error;
      const ModelDiff& d = res.diff;
      EXPECT_EQ(d.jobs.size(), res.mesa.streams.jobs.size()) << name;
      EXPECT_EQ(static_cast<uint64_t>(d.tasks_compared), res.mesa.streams.task_count()) << name;
      EXPECT_EQ(d.unexplained(), 0) << name << ": UNEXPLAINED differences:" << unexplained_list(d);
      // Most words agree once addresses are relocated; a collapse means the
      // pairing or the relocation broke, not that the streams drifted apart.
      EXPECT_GT(d.words_relocated, d.words * 9 / 10) << name;
      EXPECT_TRUE(res.mesa_replay.ok) << name << ": " << res.mesa_replay.error;
      // The program's own counters (nonstick inspect/bench) match what it submitted.
      EXPECT_EQ(static_cast<size_t>(res.ours.stats_jobs), res.ours.streams.jobs.size()) << name;
      EXPECT_EQ(static_cast<uint64_t>(res.ours.stats_tasks), res.ours.streams.task_count()) << name;
      EXPECT_EQ(res.ours.stats_words, res.ours.streams.word_count()) << name;
    }
    EXPECT_EQ(models, 6);  // the six captured models with submits (goldens README)
  }
}

class RocketMesaDiffCorrupted : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::shared_dir_available()) GTEST_SKIP() << "shared test data not found";
    std::string error;
    ASSERT_TRUE(load_mesa_model(goldens(), "mobilenet_v1_0.25_128_quant", &mesa_, &error)) << error;
    ours_ = run_ours(model_file_for(testing::shared_dir(), mesa_.name), {});
    ASSERT_TRUE(ours_.ran) << ours_.error;
    ASSERT_EQ(diff_model(mesa_, ours_).unexplained(), 0);
  }
  MesaModel mesa_;
  OurModel ours_;
};

TEST_F(RocketMesaDiffCorrupted, WrongStrideIsUnexplained) {
  uint64_t* w = our_word(&ours_, 1, r::CNA_CONV_CON3::offset);  // depthwise #1, stride 2
  ASSERT_NE(w, nullptr);
  *w ^= uint64_t{r::CNA_CONV_CON3::CONV_Y_STRIDE(3)} << 16;
  EXPECT_EQ(diff_model(mesa_, ours_).unexplained(), 1);
}

TEST_F(RocketMesaDiffCorrupted, RequantMantissaOffByMoreThanRoundingIsUnexplained) {
  testing::ScopedRequantMode requant("outcvt");  // "requant-rounding" covers Mesa's OUT_CVT-only form
  ours_ = run_ours(model_file_for(testing::shared_dir(), mesa_.name), {});
  ASSERT_TRUE(ours_.ran) << ours_.error;
  ASSERT_EQ(diff_model(mesa_, ours_).unexplained(), 0);
  uint64_t* w = our_word(&ours_, 4, r::DPU_OUT_CVT_SCALE::offset);
  ASSERT_NE(w, nullptr);
  *w += uint64_t{8} << 16;  // the mantissa 8 steps away from both encodings
  EXPECT_EQ(diff_model(mesa_, ours_).unexplained(), 1);
}

// Precise requantization: a BN constant that is not TFLite's rounding
// offset (at our OUT_CVT gain) leaves the task's precise fields unexplained.
TEST_F(RocketMesaDiffCorrupted, PreciseOffsetNotTflitesIsUnexplained) {
  uint64_t* w = our_word(&ours_, 4, r::DPU_BN_ALU_CFG::offset);
  ASSERT_NE(w, nullptr);
  *w += uint64_t{1000} << 16;
  const ModelDiff d = diff_model(mesa_, ours_);
  EXPECT_GE(d.unexplained(), 1);
  EXPECT_NE(unexplained_list(d).find("DPU_BN_ALU_CFG.BN_ALU_OPERAND"), std::string::npos) << unexplained_list(d);
}

TEST_F(RocketMesaDiffCorrupted, RelocatedAddressWithWrongOffsetIsUnexplained) {
  uint64_t* w = our_word(&ours_, 2, r::DPU_DST_BASE_ADDR::offset);
  ASSERT_NE(w, nullptr);
  *w += uint64_t{0x40} << 16;  // same BO, wrong offset
  EXPECT_EQ(diff_model(mesa_, ours_).unexplained(), 1);
}

TEST_F(RocketMesaDiffCorrupted, PadValueOfAPaddedConvolutionIsNotExcused) {
  // Depthwise #1 is 3x3 SAME: its pad value is read, so "pad-unread" must
  // not cover a change there.
  uint64_t* w = our_word(&ours_, 1, r::CNA_PAD_CON1::offset);
  ASSERT_NE(w, nullptr);
  *w ^= uint64_t{0x7f} << 16;
  EXPECT_EQ(diff_model(mesa_, ours_).unexplained(), 1);
}

TEST_F(RocketMesaDiffCorrupted, MissingJobIsUnexplained) {
  ours_.streams.jobs.erase(ours_.streams.jobs.begin() + 3);
  ours_.ops.erase(ours_.ops.begin() + 3);
  EXPECT_GE(diff_model(mesa_, ours_).unexplained(), 1);
}


// The exactness proof applied to Mesa's captured programming (proof.h):
// per model, how many covered layers Mesa's stream makes bit-exact for
// every input (all of nonstick's are), and at most how many of TFLite's
// accumulator values it maps to another output. Every covered layer's
// replay on the virtual RK3588 agrees, element for element, with the
// proof's function of Mesa's registers.
TEST(RocketMesaProof, MesaExactLayersAndOffCountsPerModel) {
  NONSTICK_REQUIRE_SHARED_DATA();
  struct Pin {
    const char* model;
    int covered, mesa_exact;
    int64_t mesa_off_max;  // accumulator values off, over all covered layers
  };
  const Pin pins[] = {
      {"mobilenet_quant_v1_224_head_layers", 1, 0, 227},
      {"mobilenet_v1_0.25_128_quant", 28, 0, 3902},
      {"mobilenet_v1_0.75_192_quant", 28, 0, 4461},
      {"mobilenet_v2_1.0_224_quant", 43, 1, 7444},  // + 10 jobs with a fused ADD, not covered
      {"coco_ssd_mobilenet_v1_1.0_quant_detect", 41, 0, 980475},  // 2 ReLU layers Mesa leaves unclamped
      {"mobilenet_v1_1.0_224_quant_embedding_extractor", 27, 0, 9233},
  };
  for (const Pin& pin : pins) {
    SCOPED_TRACE(pin.model);
    const ModelResult res = analyse_model(testing::shared_dir(), pin.model, true);
    ASSERT_TRUE(res.diffed && res.ours.ran) << res.ours.error;
    ASSERT_TRUE(res.mesa_replay.ok) << res.mesa_replay.error;
    const ModelProof& p = res.proof;
    EXPECT_EQ(p.covered(), pin.covered);
    EXPECT_EQ(p.mesa_exact(), pin.mesa_exact);
    EXPECT_EQ(p.ours_exact(), pin.covered);
    EXPECT_EQ(p.ours_off(), 0);
    EXPECT_GT(p.mesa_off(), 0);
    EXPECT_LE(p.mesa_off(), pin.mesa_off_max);
    for (const LayerProof& l : p.layers) {
      if (!l.covered) {
        EXPECT_EQ(l.why_not, "fused ADD") << l.label;
        continue;
      }
      // Both walks count channel classes over the union of their ranges;
      // the classes differ only where Mesa truncates.
      if (l.truncate == 0) {
        EXPECT_EQ(l.mesa.accumulators, l.ours.accumulators) << l.label;
      }
      // Only the two coco_ssd ReLU layers are ever more than one step off.
      if (std::string(pin.model).rfind("coco", 0) != 0) {
        EXPECT_LE(l.mesa.max_steps, 1) << l.label;
      }
      EXPECT_TRUE(l.replayed) << l.label;
      EXPECT_GT(l.replay_elements, 0u) << l.label;
      EXPECT_EQ(l.replay_model_mismatch, 0u) << l.label;
      if (l.mesa.exact()) {
        EXPECT_EQ(l.replay_off, 0u) << l.label;
      }
    }
  }
}

// Mesa's function walked through rocket::walk_channel (needed for
// CLIP_TRUNCATE) against check_exactness where both apply, and against
// brute force on one truncating channel of the embedding extractor.
TEST(RocketMesaProof, OwnWalkAgreesWithCheckExactnessAndBruteForce) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ModelResult res = analyse_model(testing::shared_dir(), "mobilenet_v1_1.0_224_quant_embedding_extractor", true);
  ASSERT_TRUE(res.diffed && res.ours.ran);
  int compared = 0, brute = 0;
  for (size_t j = 0; j < res.mesa.streams.jobs.size(); ++j) {
    const JobRecord& job = res.mesa.streams.jobs[j];
    const rocket::NpuConv* op = nullptr;
    for (size_t k = 0; k < res.ours.streams.jobs.size(); ++k) {
      if (res.ours.streams.jobs[k].nodes[0] == job.nodes[0]) op = res.ours.ops[k].conv.get();
    }
    ASSERT_NE(op, nullptr);
    MesaDpu m;
    std::string why;
    ASSERT_TRUE(read_mesa_dpu(res.mesa, job, *op, &m, &why)) << why;
    const rocket::Exactness walked = walk_mesa_exactness(*op, m);
    if (m.truncate == 0) {
      const rocket::Exactness proved = rocket::check_exactness(*op, m.encoding);
      EXPECT_EQ(walked.accumulators, proved.accumulators) << job_label(job);
      EXPECT_EQ(walked.off, proved.off) << job_label(job);
      EXPECT_EQ(walked.max_steps, proved.max_steps) << job_label(job);
      ++compared;
      continue;
    }
    if (brute || !op->depthwise) continue;
    // One channel of a truncating depthwise layer, every accumulator its
    // weights allow.
    const int c = walked.channel;
    rocket::NpuConv one = *op;
    one.in_c = one.out_c = 1;
    one.bias = {op->bias[static_cast<size_t>(c)]};
    one.weights.clear();
    for (int k = 0; k < op->kernel_h * op->kernel_w; ++k) one.weights.push_back(op->weights[static_cast<size_t>(k * op->in_c + c)]);
    if (!op->rounding.empty()) one.rounding = {op->rounding_of(c)};
    MesaDpu m1 = m;
    m1.folded.assign(m.folded.size(), 0);
    m1.encoding.bs_add.assign(m.folded.size(), 0);
    m1.folded[0] = m.folded[static_cast<size_t>(c)];
    m1.encoding.bs_add[0] = m.encoding.bs_add[static_cast<size_t>(c)];
    int64_t lo = one.bias[0], hi = lo;
    for (int8_t w : one.weights) {
      const int64_t d = int64_t{w} - one.weight_zp, a = d * (-128 - one.in_zp), b = d * (127 - one.in_zp);
      lo += std::min(a, b);
      hi += std::max(a, b);
    }
    int64_t off = 0;
    for (int64_t t = lo; t <= hi; ++t) off += mesa_npu(m1, 0, t) != tflite_output(one, 0, t);
    const rocket::Exactness x = walk_mesa_exactness(one, m1);
    EXPECT_EQ(x.accumulators, hi - lo + 1) << job_label(job);
    EXPECT_EQ(x.off, off) << job_label(job) << " channel " << c;
    EXPECT_GT(off, 0) << job_label(job);
    ++brute;
  }
  EXPECT_GT(compared, 10);
  EXPECT_EQ(brute, 1);
}

}  // namespace
}  // namespace nonstick::mesa_diff
