// Every real model in ../shared/models through the delegate (reference
// device) against TFLite 2.9's builtin CPU kernels: outputs byte-identical,
// and the number of delegated nodes pinned per model so that a change in
// placement shows up here.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "delegate/delegate.h"
#include "support/random_data.h"
#include "support/test_data.h"
#include "tflite/interpreter.h"

namespace nonstick {
namespace {

struct ModelCase {
  const char* file;
  int nodes;      // nodes in the model
  int delegated;  // nodes the reference device takes
};

// Non-delegated node: TFLite_Detection_PostProcess in SSD (a custom op).
const ModelCase kModels[] = {
    {"mobilenet_v1_0.25_128_quant", 31, 31},
    {"mobilenet_v1_0.5_160_quant", 31, 31},
    {"mobilenet_v1_0.75_192_quant", 31, 31},
    {"mobilenet_v2_1.0_224_quant", 66, 66},
    {"tf2_mobilenet_v2_1.0_224_ptq", 68, 68},
    {"mobilenet_v1_224_head_layers_quant", 3, 3},
    {"split_concat", 3, 3},
    {"mobilenet_v1_1.0_224_quant_embedding_extractor", 28, 28},
    {"mobilenet_v3_small_224_1.0_uint8", 119, 119},
    {"vww_mobilenet_v1_0.25_96_int8", 31, 31},
    {"coco_ssd_mobilenet_v1_1.0_quant_detect", 64, 63},
    {"yolov8n_320_full_integer_quant", 253, 253},
};

class RealModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(RealModel, DelegateMatchesTfliteCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ModelCase& c = GetParam();
  std::string error;
  const std::vector<uint8_t> model = tflite::read_file(testing::model_path(c.file), &error);
  ASSERT_FALSE(model.empty()) << error;

  auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
  ASSERT_TRUE(cpu) << error;
  DelegateOptions options;
  options.device = "reference";
  options.log_level = LogLevel::kQuiet;
  auto delegate = Delegate::create(options, &error);
  ASSERT_TRUE(delegate) << error;
  auto npu = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  ASSERT_TRUE(npu) << error;

  const DelegateReport& report = delegate->report();
  RecordProperty("nodes", static_cast<int>(report.nodes.size()));
  RecordProperty("delegated_nodes", report.delegated_nodes());
  RecordProperty("partitions", report.partitions);
  {
    EXPECT_EQ(static_cast<int>(report.nodes.size()), c.nodes);
    EXPECT_EQ(report.delegated_nodes(), c.delegated) << format_placement_table(report);
  }
  ASSERT_GT(report.delegated_nodes(), 0) << format_placement_table(report);

  for (uint64_t seed : {1u, 2u, 3u}) {
    for (int i = 0; i < cpu->input_count(); ++i) {
      const tflite::TensorInfo info = cpu->input_info(i);
      ASSERT_TRUE(info.type == kTfLiteUInt8 || info.type == kTfLiteInt8) << "input " << i;
      testing::Rng rng(testing::Rng::combine(seed, static_cast<uint64_t>(i)));
      const ir::DType dtype = info.type == kTfLiteUInt8 ? ir::DType::kUInt8 : ir::DType::kInt8;
      double lo = 0, hi = 0;
      testing::dtype_range(dtype, &lo, &hi);
      const std::vector<uint8_t> bytes =
          testing::random_values(dtype, static_cast<int64_t>(info.bytes), lo, hi, &rng);
      ASSERT_TRUE(cpu->set_input(i, bytes.data(), bytes.size()).ok());
      ASSERT_TRUE(npu->set_input(i, bytes.data(), bytes.size()).ok());
    }
    ASSERT_TRUE(cpu->invoke().ok());
    Status s = npu->invoke();
    ASSERT_TRUE(s.ok()) << s.message();
    for (int o = 0; o < cpu->output_count(); ++o) {
      std::vector<uint8_t> want, got;
      ASSERT_TRUE(cpu->get_output(o, &want).ok());
      ASSERT_TRUE(npu->get_output(o, &got).ok());
      ASSERT_EQ(want.size(), got.size());
      size_t differing = 0, first = want.size();
      for (size_t k = 0; k < want.size(); ++k) {
        if (want[k] != got[k]) {
          ++differing;
          first = std::min(first, k);
        }
      }
      EXPECT_EQ(differing, 0u) << "seed " << seed << " output " << o << ": " << differing << " of "
                               << want.size() << " bytes differ, first at " << first;
    }
  }
}

// MobileNet V1/V2 must run their compute layers on the device: a report
// that puts any of these on the CPU is a regression even if outputs match.
TEST(RealModel, MobileNetComputeOpsAllDelegated) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const std::set<std::string> must = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "SOFTMAX"};
  for (const char* name : {"mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.5_160_quant",
                           "mobilenet_v1_0.75_192_quant", "mobilenet_v2_1.0_224_quant",
                           "tf2_mobilenet_v2_1.0_224_ptq"}) {
    std::string error;
    const std::vector<uint8_t> model = tflite::read_file(testing::model_path(name), &error);
    ASSERT_FALSE(model.empty()) << error;
    DelegateOptions options;
    options.device = "reference";
    options.log_level = LogLevel::kQuiet;
    auto delegate = Delegate::create(options, &error);
    auto it = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
    ASSERT_TRUE(it) << error;
    for (const NodePlacement& p : delegate->report().nodes) {
      if (must.count(p.op)) {
        EXPECT_TRUE(p.delegated) << name << " node " << p.node_index << " " << p.op << ": " << p.reason;
      }
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<ModelCase>& info) {
  std::string n = info.param.file;
  for (char& ch : n) {
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Shared, RealModel, ::testing::ValuesIn(kModels), case_name);

}  // namespace
}  // namespace nonstick
