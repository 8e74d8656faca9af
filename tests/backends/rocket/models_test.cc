// Real models through the delegate on the rocket device (virtual RK3588 on a
// machine without the NPU) against TFLite 2.9's CPU kernels, with the exact
// input Mesa's captures used (goldens/<model>/input_0.bin).
//
// Per-layer results are within one step of TFLite (see conv_ops_test.cc);
// through a whole network such steps propagate, so whole-model outputs are
// compared by top-1 class and by a bound on the largest byte difference,
// both pinned per model below. Placement is pinned too: which nodes the NPU
// takes, and why it refuses the others.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "delegate/delegate.h"
#include "golden.h"
#include "no_fallback.h"
#include "tflite/interpreter.h"

namespace nonstick {
namespace {

struct ModelCase {
  const char* file;
  int delegated;        // nodes the rocket device takes
  int max_diff;         // bound on |rocket - CPU| over the output bytes
  int max_differing;    // bound on the number of differing output bytes
  const char* refusal;  // a reason expected among the refused nodes ("" = none)
};

// Bounds are the values measured on the virtual NPU (in brackets where lower),
// kept as regression limits. All outputs are softmax probabilities (uint8
// step 1/256), which amplify one-step logit differences.
const ModelCase kModels[] = {
    {"mobilenet_v1_0.25_128_quant", 28, 2, 10, "no NPU lowering for this op"},
    {"mobilenet_v1_0.75_192_quant", 28, 5, 20, "no NPU lowering for this op"},  // [5, 8]; row-split layers
    {"mobilenet_v2_1.0_224_quant", 63, 22, 20, "no NPU lowering for this op"},  // [22, 8]
    {"mobilenet_v1_224_head_layers_quant", 1, 1, 10, "no NPU lowering for this op"},
    // int8 per-channel: encoding from third-party notes, modelled (docs/virtual-rk3588.md §9).
    {"tf2_mobilenet_v2_1.0_224_ptq", 63, 12, 20, "no NPU lowering for this op"},  // [12, 9]
};

class RocketModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(RocketModel, MatchesTfliteCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ModelCase& c = GetParam();
  std::string error;
  const std::vector<uint8_t> model = tflite::read_file(testing::golden::model_path(c.file), &error);
  ASSERT_FALSE(model.empty()) << error;
  auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
  ASSERT_TRUE(cpu) << error;
  DelegateOptions options;
  options.device = "rocket";
  options.log_level = LogLevel::kQuiet;
  auto delegate = Delegate::create(options, &error);
  ASSERT_TRUE(delegate) << error;
  auto npu = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  ASSERT_TRUE(npu) << error;

  const DelegateReport& report = delegate->report();
  EXPECT_EQ(report.device_description, "virtual RK3588 (simulated)");
  EXPECT_EQ(report.delegated_nodes(), c.delegated) << format_placement_table(report);
  bool found = *c.refusal == 0;
  for (const NodePlacement& p : report.nodes) found |= !p.delegated && p.reason == c.refusal;
  EXPECT_TRUE(found) << "no node refused with \"" << c.refusal << "\"\n" << format_placement_table(report);

  // The capture's input where there is one, else a deterministic ramp.
  std::vector<uint8_t> input =
      testing::golden::read_bytes(testing::golden::goldens_dir() + "/" + c.file + "/input_0.bin");
  const tflite::TensorInfo info = cpu->input_info(0);
  if (input.size() != info.bytes) {
    input.resize(info.bytes);
    for (size_t k = 0; k < input.size(); ++k) input[k] = static_cast<uint8_t>((7 * k + 3) % 256);
  }
  ASSERT_TRUE(cpu->set_input(0, input.data(), input.size()).ok());
  ASSERT_TRUE(npu->set_input(0, input.data(), input.size()).ok());
  ASSERT_TRUE(cpu->invoke().ok());
  const Status s = npu->invoke();
  ASSERT_TRUE(s.ok()) << s.message();
  std::vector<uint8_t> want, got;
  ASSERT_TRUE(cpu->get_output(0, &want).ok());
  ASSERT_TRUE(npu->get_output(0, &got).ok());
  ASSERT_EQ(want.size(), got.size());
  const bool is_signed = info.type == kTfLiteInt8;
  int max_diff = 0;
  size_t differing = 0;
  auto value = [&](uint8_t b) { return is_signed ? static_cast<int>(static_cast<int8_t>(b)) : static_cast<int>(b); };
  for (size_t k = 0; k < want.size(); ++k) {
    const int d = std::abs(value(want[k]) - value(got[k]));
    max_diff = std::max(max_diff, d);
    differing += d != 0;
  }
  auto top1 = [&](const std::vector<uint8_t>& v) {
    size_t best = 0;
    for (size_t k = 1; k < v.size(); ++k) best = value(v[k]) > value(v[best]) ? k : best;
    return best;
  };
  RecordProperty("max_diff", max_diff);
  RecordProperty("differing", static_cast<int>(differing));
  EXPECT_EQ(top1(got), top1(want));
  EXPECT_LE(max_diff, c.max_diff) << differing << " of " << want.size() << " output bytes differ";
  EXPECT_LE(differing, static_cast<size_t>(c.max_differing)) << "max difference " << max_diff;
  const ProgramStats& st = report.stats;
  EXPECT_GT(st.tasks, 0);
  EXPECT_GT(st.macs, 0u);
}

std::string case_name(const ::testing::TestParamInfo<ModelCase>& info) {
  std::string n = info.param.file;
  for (char& ch : n) {
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Shared, RocketModel, ::testing::ValuesIn(kModels), case_name);

}  // namespace
}  // namespace nonstick
