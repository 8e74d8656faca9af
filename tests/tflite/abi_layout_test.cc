// nonstick declares TFLite's C ABI itself (src/tflite/abi.h). This test puts
// its layout beside the one compiled from TFLite 2.9's real headers
// (tflite29_layout.cc, a separate translation unit because the two sets of
// declarations cannot meet in one). Python runtimes (2.14, ai-edge-litert)
// are checked at run time by tests/python: every tensor's byte count must
// agree with its shape, or the delegate refuses to run (see delegate.cc).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "tflite/layout_table.h"
#include "tflite/abi.h"

namespace {

#define ABI_FIELD(s, f) {#s "." #f, offsetof(s, f)},
const nonstick::testing::LayoutEntry kOurs[] = {
#include "tflite/abi_fields.inc"
};
#undef ABI_FIELD

TEST(AbiLayout, FieldOffsetsMatchTflite29Headers) {
  size_t count = 0;
  const nonstick::testing::LayoutEntry* theirs = nonstick::testing::tflite29_layout(&count);
  ASSERT_EQ(count, sizeof(kOurs) / sizeof(kOurs[0]));
  for (size_t i = 0; i < count; ++i) {
    EXPECT_STREQ(kOurs[i].name, theirs[i].name);
    EXPECT_EQ(kOurs[i].offset, theirs[i].offset) << kOurs[i].name;
  }
}

TEST(AbiLayout, TensorArrayStrideMatchesTflite29) {
  // context->tensors is indexed as an array, so the size must match exactly.
  EXPECT_EQ(sizeof(TfLiteTensor), nonstick::testing::tflite29_sizeof("TfLiteTensor"));
}

TEST(AbiLayout, StructsWeHandToTfliteAreSupersets) {
  // Newer runtimes read trailing fields we zero-fill; older ones ignore them.
  EXPECT_GE(sizeof(TfLiteDelegate), nonstick::testing::tflite29_sizeof("TfLiteDelegate"));
  EXPECT_GE(sizeof(TfLiteRegistration), nonstick::testing::tflite29_sizeof("TfLiteRegistration"));
}

TEST(AbiLayout, EnumValuesMatchTflite29) {
  EXPECT_EQ(kTfLiteInt8, nonstick::testing::tflite29_enum("kTfLiteInt8"));
  EXPECT_EQ(kTfLiteUInt8, nonstick::testing::tflite29_enum("kTfLiteUInt8"));
  EXPECT_EQ(kTfLiteInt16, nonstick::testing::tflite29_enum("kTfLiteInt16"));
  EXPECT_EQ(kTfLiteInt32, nonstick::testing::tflite29_enum("kTfLiteInt32"));
  EXPECT_EQ(kTfLiteFloat32, nonstick::testing::tflite29_enum("kTfLiteFloat32"));
  EXPECT_EQ(kTfLiteMmapRo, nonstick::testing::tflite29_enum("kTfLiteMmapRo"));
  EXPECT_EQ(kTfLitePersistentRo, nonstick::testing::tflite29_enum("kTfLitePersistentRo"));
  EXPECT_EQ(kTfLiteDynamic, nonstick::testing::tflite29_enum("kTfLiteDynamic"));
  EXPECT_EQ(kTfLiteAffineQuantization, nonstick::testing::tflite29_enum("kTfLiteAffineQuantization"));
  EXPECT_EQ(kTfLiteDelegateError, nonstick::testing::tflite29_enum("kTfLiteDelegateError"));
}

}  // namespace
