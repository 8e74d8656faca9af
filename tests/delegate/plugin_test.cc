// libnonstick.so as applications load it: through TFLite's own external
// delegate loader (TfLiteExternalDelegateCreate from the TFLite 2.9 C
// package), which dlopens the library and calls its two entry points.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include "support/random_data.h"
#include "support/test_data.h"
#include "tflite/interpreter.h"

// TFLite's external_delegate.h, declared here from its documented layout.
extern "C" {
struct TfLiteExternalDelegateOptions {
  const char* lib_path;
  int count;
  const char* keys[256];
  const char* values[256];
  TfLiteStatus (*insert)(TfLiteExternalDelegateOptions* options, const char* key, const char* value);
};
TfLiteExternalDelegateOptions TfLiteExternalDelegateOptionsDefault(const char* lib_path);
TfLiteDelegate* TfLiteExternalDelegateCreate(const TfLiteExternalDelegateOptions* options);
void TfLiteExternalDelegateDelete(TfLiteDelegate* delegate);
}

namespace nonstick {
namespace {

TEST(Plugin, ExportsExactlyTheTwoEntryPoints) {
  void* lib = dlopen(NONSTICK_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
  ASSERT_TRUE(lib) << dlerror();
  EXPECT_TRUE(dlsym(lib, "tflite_plugin_create_delegate"));
  EXPECT_TRUE(dlsym(lib, "tflite_plugin_destroy_delegate"));
  EXPECT_FALSE(dlsym(lib, "_ZN8nonstick8Delegate6createERKNS_15DelegateOptionsEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"));
  dlclose(lib);
}

TEST(Plugin, LoadsThroughTfliteExternalDelegateAndMatchesCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  std::string error;
  const auto model = tflite::read_file(testing::shared_dir() + "/models/mobilenet_v1_0.25_128_quant.tflite", &error);
  ASSERT_FALSE(model.empty()) << error;

  TfLiteExternalDelegateOptions options = TfLiteExternalDelegateOptionsDefault(NONSTICK_PLUGIN_PATH);
  options.insert(&options, "device", "reference");
  options.insert(&options, "log_level", "quiet");
  TfLiteDelegate* delegate = TfLiteExternalDelegateCreate(&options);
  ASSERT_TRUE(delegate);
  {
    auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
    auto npu = tflite::Interpreter::create(model, delegate, 1, &error);
    ASSERT_TRUE(cpu && npu) << error;
    testing::Rng rng(11);
    const auto input = testing::random_values(ir::DType::kUInt8, static_cast<int64_t>(cpu->input_info(0).bytes), 0, 255, &rng);
    ASSERT_TRUE(cpu->set_input(0, input.data(), input.size()).ok());
    ASSERT_TRUE(npu->set_input(0, input.data(), input.size()).ok());
    ASSERT_TRUE(cpu->invoke().ok());
    ASSERT_TRUE(npu->invoke().ok());
    std::vector<uint8_t> want, got;
    ASSERT_TRUE(cpu->get_output(0, &want).ok());
    ASSERT_TRUE(npu->get_output(0, &got).ok());
    EXPECT_EQ(want, got);
  }
  TfLiteExternalDelegateDelete(delegate);
}

TEST(Plugin, UnknownOptionStillYieldsAWorkingDelegate) {
  TfLiteExternalDelegateOptions options = TfLiteExternalDelegateOptionsDefault(NONSTICK_PLUGIN_PATH);
  options.insert(&options, "no_such_option", "1");
  options.insert(&options, "device", "no-such-npu");
  TfLiteDelegate* delegate = TfLiteExternalDelegateCreate(&options);
  ASSERT_TRUE(delegate);  // a CPU-only delegate, after one line on stderr per problem
  TfLiteExternalDelegateDelete(delegate);
}

}  // namespace
}  // namespace nonstick
