// The register diff against Mesa's captured streams (tools/rocket_mesa_diff):
// every field our rocket backend programs differently from Mesa, on every
// captured model with submits, must have a known reason. Also checks that the
// diff really detects differences: a corrupted word of ours must come out
// UNEXPLAINED, and a reason's predicate must refuse values it does not cover.
#include <gtest/gtest.h>

#include <sstream>

#include "backends/rocket/requant_mode.h"
#include "rocket/registers.h"
#include "support/test_data.h"
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

}  // namespace
}  // namespace nonstick::mesa_diff
