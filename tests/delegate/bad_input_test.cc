// Bad input never crashes the host application: corrupt models, parameters
// nonstick refuses, failing compiles and invokes. Either the output equals
// TFLite's CPU result or the call fails loudly.
#include <gtest/gtest.h>

#include "delegate/delegate.h"
#include "support/model_writer.h"
#include "support/op_harness.h"
#include "support/random_data.h"
#include "support/test_data.h"
#include "tflite/interpreter.h"

namespace nonstick {
namespace {

std::unique_ptr<Delegate> reference_delegate(const std::string& inject = "none") {
  DelegateOptions options;
  options.device = "reference";
  options.log_level = LogLevel::kQuiet;
  options.inject_failure = inject;
  std::string error;
  auto d = Delegate::create(options, &error);
  EXPECT_TRUE(d) << error;
  return d;
}

std::vector<uint8_t> shared_model(const char* name) {
  std::string error;
  auto bytes = tflite::read_file(testing::shared_dir() + "/models/" + name, &error);
  EXPECT_FALSE(bytes.empty()) << error;
  return bytes;
}

// Runs `model` through TFLite alone and through the delegate with the same
// input; both must agree (or both must refuse the model).
void expect_same_as_cpu(const std::vector<uint8_t>& model, Delegate* delegate, uint64_t seed) {
  std::string cpu_error, npu_error;
  auto cpu = tflite::Interpreter::create(model, nullptr, 1, &cpu_error);
  auto npu = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &npu_error);
  if (!cpu) {
    EXPECT_FALSE(npu) << "delegate accepted a model TFLite refuses: " << cpu_error;
    return;
  }
  ASSERT_TRUE(npu) << npu_error;
  for (int i = 0; i < cpu->input_count(); ++i) {
    testing::Rng rng(seed + static_cast<uint64_t>(i));
    auto bytes = testing::random_values(ir::DType::kUInt8, static_cast<int64_t>(cpu->input_info(i).bytes), 0, 255, &rng);
    ASSERT_TRUE(cpu->set_input(i, bytes.data(), bytes.size()).ok());
    ASSERT_TRUE(npu->set_input(i, bytes.data(), bytes.size()).ok());
  }
  const bool cpu_ok = cpu->invoke().ok();
  const bool npu_ok = npu->invoke().ok();
  ASSERT_EQ(cpu_ok, npu_ok);
  if (!cpu_ok) return;
  for (int o = 0; o < cpu->output_count(); ++o) {
    std::vector<uint8_t> want, got;
    ASSERT_TRUE(cpu->get_output(o, &want).ok());
    ASSERT_TRUE(npu->get_output(o, &got).ok());
    EXPECT_EQ(want, got) << "output " << o;
  }
}

TEST(BadInput, TruncatedModelsAreRefusedCleanly) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto model = shared_model("mobilenet_v1_0.25_128_quant.tflite");
  auto delegate = reference_delegate();
  for (size_t length : {size_t{0}, size_t{4}, size_t{64}, size_t{1000}, model.size() / 2}) {
    std::vector<uint8_t> cut(model.begin(), model.begin() + static_cast<long>(length));
    std::string error;
    auto it = tflite::Interpreter::create(cut, delegate->tflite_delegate(), 1, &error);
    EXPECT_FALSE(it) << "truncated to " << length << " bytes but accepted";
    EXPECT_FALSE(error.empty());
  }
  // The verifier tolerates a missing final padding byte: then it must run
  // exactly as on the CPU.
  std::vector<uint8_t> almost(model.begin(), model.end() - 1);
  expect_same_as_cpu(almost, delegate.get(), 4);
}

// Flipped bytes across the whole file: whatever TFLite still accepts must
// give the CPU's answer through the delegate.
TEST(BadInput, CorruptedModelsNeverCrashAndMatchCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto model = shared_model("mobilenet_v1_0.25_128_quant.tflite");
  testing::Rng rng(2024);
  int accepted = 0;
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<uint8_t> bad = model;
    for (int k = 0; k < 8; ++k) {
      const size_t at = static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(bad.size()) - 1));
      bad[at] = static_cast<uint8_t>(rng.uniform_int(0, 255));
    }
    auto delegate = reference_delegate();
    std::string error;
    if (auto probe = tflite::Interpreter::create(bad, nullptr, 1, &error)) ++accepted;
    expect_same_as_cpu(bad, delegate.get(), static_cast<uint64_t>(trial));
  }
  RecordProperty("accepted_corruptions", accepted);
}

TEST(BadInput, UnsupportedParametersStayOnCpuWithAReason) {
  // A convolution whose filter is a run-time input: TFLite's CPU kernel
  // accepts it, nonstick's backends need constant weights.
  testing::GraphBuilder b(5);
  const int in = b.input(ir::DType::kUInt8, {1, 6, 6, 3}, 0.05f, 120);
  const int filter = b.input(ir::DType::kUInt8, {4, 3, 3, 3}, 0.02f, 130);
  const int bias = b.random_constant(ir::DType::kInt32, {4}, 0.05f * 0.02f, 0);
  const int out = b.tensor(ir::DType::kUInt8, {1, 4, 4, 4}, 0.2f, 128);
  b.mark_output(out);
  ir::ConvParams conv;
  b.op(ir::OpType::kConv2D, {in, filter, bias}, {out}, conv);
  std::string error;
  const auto model = testing::write_tflite_model(b.graph(), &error);
  ASSERT_FALSE(model.empty()) << error;
  auto delegate = reference_delegate();
  expect_same_as_cpu(model, delegate.get(), 1);
  const auto& nodes = delegate->report().nodes;
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_FALSE(nodes[0].delegated);
  EXPECT_FALSE(nodes[0].reason.empty());
}

TEST(BadInput, FailedCompileFallsBackToCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto model = shared_model("mobilenet_v1_0.25_128_quant.tflite");
  auto delegate = reference_delegate("compile");
  expect_same_as_cpu(model, delegate.get(), 9);
  EXPECT_EQ(delegate->report().delegated_nodes(), 0);
  for (const NodePlacement& p : delegate->report().nodes) {
    if (p.reason.find("not") == 0) continue;  // ops the backend refused outright
    EXPECT_NE(p.reason.find("injected failure"), std::string::npos) << p.op << ": " << p.reason;
  }
}

TEST(BadInput, FailedInvokeFailsLoudly) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto model = shared_model("mobilenet_v1_0.25_128_quant.tflite");
  auto delegate = reference_delegate("invoke");
  std::string error;
  auto it = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  ASSERT_TRUE(it) << error;
  ASSERT_GT(delegate->report().delegated_nodes(), 0);
  Status s = it->invoke();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("injected failure"), std::string::npos) << s.message();
}

TEST(BadInput, OptionErrorsAreOneLineAndKeepValidOptions) {
  DelegateOptions o;
  std::string error;
  EXPECT_FALSE(parse_options({{"device", "reference"}, {"bogus", "1"}}, &o, &error));
  EXPECT_NE(error.find("unknown option 'bogus'"), std::string::npos);
  EXPECT_EQ(error.find('\n'), std::string::npos);
  EXPECT_EQ(o.device, "reference");
  EXPECT_FALSE(parse_options({{"log_level", "loud"}}, &o, &error));
  EXPECT_NE(error.find("log_level"), std::string::npos);
  EXPECT_FALSE(parse_options({{"max_partitions", "-3"}}, &o, &error));
  EXPECT_TRUE(parse_options({{"log_level", "placement"}, {"disable_ops", "SOFTMAX,MEAN"}}, &o, &error));
  EXPECT_EQ(o.disabled_ops, (std::vector<std::string>{"SOFTMAX", "MEAN"}));
}

TEST(BadInput, UnknownDeviceIsReported) {
  DelegateOptions o;
  o.device = "no-such-npu";
  std::string error;
  EXPECT_FALSE(Delegate::create(o, &error));
  EXPECT_NE(error.find("unknown device 'no-such-npu'"), std::string::npos);
  auto fallback = Delegate::create_cpu_only(o, error);
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->report().device, "cpu");
}

}  // namespace
}  // namespace nonstick
