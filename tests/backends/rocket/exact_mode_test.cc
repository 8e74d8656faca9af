// The delegate's default, exact=1, on the rocket device (the virtual RK3588
// here): every model in ../shared/models against TFLite 2.9's CPU kernels,
// inputs as in every_model_test.cc (the goldens' ramp), every output
// byte-identical. Ops the encoder cannot prove exact stay on the CPU; how
// many, per model, is pinned, and the exact=0 placement report's per-op
// exactness notes must name exactly those ops.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "delegate/delegate.h"
#include "cpu_and_rocket.h"
#include "support/scoped_env.h"
#include "support/test_data.h"
#include "tflite/interpreter.h"

namespace nonstick {
namespace {

struct ExactModel {
  const char* file;
  int nodes;              // in the TFLite graph
  int on_npu_exact0;     // nodes on the rocket device with exact=0
  int kept_for_exactness; // refused with exact=1 because their proof fails
};

// Placement on the virtual RK3588 (simulated), precise requantization, TFLite
// 2.9 x86 numerics. The proofs themselves are against the DPU arithmetic the
// compiler targets, unverified on a board (docs/virtual-rk3588.md §11).
const ExactModel kExactModels[] = {
    {"coco_ssd_mobilenet_v1_1.0_quant_detect", 64, 47, 0},
    {"mobilenet_v1_0.25_128_quant", 31, 28, 0},
    {"mobilenet_v1_0.5_160_quant", 31, 28, 0},
    {"mobilenet_v1_0.75_192_quant", 31, 28, 0},
    {"mobilenet_v1_1.0_224_quant_embedding_extractor", 28, 27, 0},
    {"mobilenet_v1_224_head_layers_quant", 3, 1, 0},
    {"mobilenet_v2_1.0_224_quant", 66, 63, 0},
    // The eight unclamped 5x5 depthwise layers (negative outputs rounded
    // half away from zero; one BN constant serves one sign).
    {"mobilenet_v3_small_224_1.0_uint8", 119, 60, 8},
    {"split_concat", 3, 0, 0},
    // Int8 per-channel: one 16-bit BS multiplier per channel (§9.3); every
    // per-channel convolution stays on the CPU (for most, no program can be
    // exact: §11.2), the ADDs (tf2) and the per-tensor FULLY_CONNECTED (vww)
    // remain.
    {"tf2_mobilenet_v2_1.0_224_ptq", 68, 63, 54},
    {"vww_mobilenet_v1_0.25_96_int8", 31, 28, 27},
    {"yolov8n_320_full_integer_quant", 253, 71, 0},
};

constexpr const char kRefusal[] = "not bit-exact on the NPU: ";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

class RocketExactMode : public ::testing::TestWithParam<ExactModel> {};

TEST_P(RocketExactMode, BitExactWithTfliteCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ExactModel& c = GetParam();
  std::string error;
  const std::vector<uint8_t> model = tflite::read_file(testing::model_path(c.file), &error);
  ASSERT_FALSE(model.empty()) << error;

  // exact=0 placement: the proofs say which placed ops are not exact.
  const testing::CpuAndRocket loose = testing::open_cpu_and_rocket(model, &error);
  ASSERT_TRUE(loose.npu) << error;
  const DelegateReport& before = loose.delegate->report();
  std::vector<int> noted_off;
  for (const NodePlacement& p : before.nodes) {
    if (!p.delegated) continue;
    EXPECT_FALSE(p.note.empty()) << "node " << p.node_index << " " << p.op << " placed without an exactness note";
    EXPECT_EQ(p.proven_exact, starts_with(p.note, "bit-exact over all ")) << p.note;
    if (!p.proven_exact) noted_off.push_back(p.node_index);
  }

  auto [exact, cpu, npu] = testing::open_cpu_and_rocket(model, &error, /*exact=*/true);
  ASSERT_TRUE(npu) << error;
  const DelegateReport& after = exact->report();
  EXPECT_EQ(after.device_description, "virtual RK3588 (simulated)");

  std::vector<int> refused;
  for (const NodePlacement& p : after.nodes) {
    if (p.delegated) {
      EXPECT_TRUE(p.proven_exact) << "node " << p.node_index << ": " << p.note;
    } else if (starts_with(p.reason, kRefusal)) {
      refused.push_back(p.node_index);
    }
  }
  EXPECT_EQ(refused, noted_off) << "exact=1 refuses exactly the ops the exact=0 report notes as off";
  EXPECT_EQ(static_cast<int>(after.nodes.size()), c.nodes);
  EXPECT_EQ(before.delegated_nodes(), c.on_npu_exact0) << format_placement_table(before);
  EXPECT_EQ(static_cast<int>(refused.size()), c.kept_for_exactness) << format_placement_table(after);
  EXPECT_EQ(after.delegated_nodes(), c.on_npu_exact0 - c.kept_for_exactness) << format_placement_table(after);

  const Status s = testing::invoke_on_ramp(*cpu, *npu);
  ASSERT_TRUE(s.ok()) << s.message();

  size_t differing = 0, bytes = 0;
  for (int o = 0; o < cpu->output_count(); ++o) {
    std::vector<uint8_t> want, got;
    ASSERT_TRUE(cpu->get_output(o, &want).ok());
    ASSERT_TRUE(npu->get_output(o, &got).ok());
    ASSERT_EQ(want.size(), got.size());
    for (size_t k = 0; k < want.size(); ++k) differing += want[k] != got[k];
    bytes += want.size();
  }
  std::printf("[ exact=1  ] %-48s %3d nodes: %3d on NPU with exact=0, %3d with exact=1 (%d kept for exactness); "
              "%zu of %zu output bytes differ\n",
              c.file, static_cast<int>(after.nodes.size()), before.delegated_nodes(), after.delegated_nodes(),
              static_cast<int>(refused.size()), differing, bytes);
  RecordProperty("on_npu_exact", after.delegated_nodes());
  EXPECT_EQ(differing, 0u) << "exact=1 must reproduce TFLite's CPU output byte for byte";
}

INSTANTIATE_TEST_SUITE_P(Models, RocketExactMode, ::testing::ValuesIn(kExactModels), [](const auto& info) {
  std::string name = info.param.file;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
});

// NONSTICK_ROCKET_EXACT=1, the encoder's own switch, keeps working without
// the delegate option.
TEST(RocketExactMode, RocketExactEnvironmentStillRefuses) {
  NONSTICK_REQUIRE_SHARED_DATA();
  std::string error;
  const std::vector<uint8_t> model =
      tflite::read_file(testing::shared_dir() + "/models/mobilenet_v3_small_224_1.0_uint8.tflite", &error);
  ASSERT_FALSE(model.empty()) << error;
  testing::CpuAndRocket opened;
  {
    const testing::ScopedEnv env("NONSTICK_ROCKET_EXACT", "1");  // read when the backend is created
    opened = testing::open_cpu_and_rocket(model, &error);
  }
  ASSERT_TRUE(opened.npu) << error;
  int refused = 0;
  for (const NodePlacement& p : opened.delegate->report().nodes) refused += !p.delegated && starts_with(p.reason, kRefusal);
  EXPECT_EQ(refused, 8) << format_placement_table(opened.delegate->report());
}

}  // namespace
}  // namespace nonstick
