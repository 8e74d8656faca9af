// translate_tensor() is the front end's first line of defence against
// hostile or unusual tensors: each case here must be refused with a reason,
// never passed on to a backend.
#include "delegate/translate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>

namespace nonstick {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

template <typename Array, typename T>
std::unique_ptr<Array, FreeDeleter> make_array(std::initializer_list<T> values) {
  auto* a = static_cast<Array*>(std::malloc(sizeof(Array) + sizeof(T) * values.size()));
  a->size = static_cast<int>(values.size());
  int i = 0;
  for (T v : values) a->data[i++] = v;
  return std::unique_ptr<Array, FreeDeleter>(a);
}

// A uint8 activation tensor of the given shape, consistent unless altered.
struct FakeTensor {
  explicit FakeTensor(std::initializer_list<int> shape) : dims(make_array<TfLiteIntArray>(shape)) {
    t.type = kTfLiteUInt8;
    t.dims = dims.get();
    t.allocation_type = kTfLiteArenaRw;
    t.name = "fake";
    size_t n = 1;
    for (int d : shape) n *= static_cast<size_t>(std::max(d, 0));
    t.bytes = n;
    t.params = {0.5f, 3};
  }
  std::unique_ptr<TfLiteIntArray, FreeDeleter> dims;
  TfLiteTensor t{};
};

std::string refusal(const TfLiteTensor& t) {
  ir::Tensor out;
  std::string error;
  return translate_tensor(t, &out, &error) ? std::string() : error;
}

TEST(TranslateTensor, AcceptsAnOrdinaryQuantizedTensor) {
  FakeTensor f({1, 4, 4, 3});
  ir::Tensor out;
  std::string error;
  ASSERT_TRUE(translate_tensor(f.t, &out, &error)) << error;
  EXPECT_EQ(out.shape, (std::vector<int32_t>{1, 4, 4, 3}));
  EXPECT_FLOAT_EQ(out.quant.scale(), 0.5f);
  EXPECT_EQ(out.quant.zero_point(), 3);
  EXPECT_FALSE(out.constant);
}

TEST(TranslateTensor, RefusesZeroSized) {
  FakeTensor f({1, 0, 4, 3});
  EXPECT_NE(refusal(f.t).find("zero-sized"), std::string::npos);
}

TEST(TranslateTensor, RefusesHugeTensors) {
  FakeTensor f({1, 40000, 40000, 3});
  EXPECT_NE(refusal(f.t).find("larger than 1 GiB"), std::string::npos);
}

TEST(TranslateTensor, RefusesOverflowingShapes) {
  FakeTensor f({65536, 65536, 65536, 65536});
  EXPECT_NE(refusal(f.t).find("larger than 1 GiB"), std::string::npos);
}

TEST(TranslateTensor, RefusesByteCountThatDisagreesWithShape) {
  FakeTensor f({1, 4, 4, 3});
  f.t.bytes = 7;
  EXPECT_NE(refusal(f.t).find("byte size"), std::string::npos);
}

TEST(TranslateTensor, RefusesDynamicTensors) {
  FakeTensor f({1, 4, 4, 3});
  f.t.allocation_type = kTfLiteDynamic;
  EXPECT_NE(refusal(f.t).find("dynamic"), std::string::npos);
}

TEST(TranslateTensor, AcceptsAFreeBatchDimensionInTheSignature) {
  // Models exported with batch None carry dims_signature [-1, ...]; TFLite
  // re-prepares the delegate if the application resizes.
  FakeTensor f({1, 4, 4, 3});
  auto sig = make_array<TfLiteIntArray>({-1, 4, 4, 3});
  f.t.dims_signature = sig.get();
  EXPECT_EQ(refusal(f.t), "");
}

TEST(TranslateTensor, RefusesMissingShape) {
  FakeTensor f({1});
  f.t.dims = nullptr;
  EXPECT_NE(refusal(f.t).find("no shape"), std::string::npos);
}

TEST(TranslateTensor, RefusesBadScales) {
  for (float scale : {-1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    FakeTensor f({1, 2, 2, 1});
    f.t.params.scale = scale;
    EXPECT_NE(refusal(f.t).find("scale"), std::string::npos) << scale;
  }
}

TEST(TranslateTensor, RefusesZeroPointOutsideType) {
  FakeTensor f({1, 2, 2, 1});
  f.t.params.zero_point = 300;
  EXPECT_NE(refusal(f.t).find("zero point"), std::string::npos);
}

TEST(TranslateTensor, RefusesPerChannelScalesThatDoNotMatchTheShape) {
  FakeTensor f({4, 1, 1, 2});
  f.t.type = kTfLiteInt8;
  auto scales = make_array<TfLiteFloatArray>({0.1f, 0.2f, 0.3f});
  auto zps = make_array<TfLiteIntArray>({0, 0, 0});
  TfLiteAffineQuantization q{scales.get(), zps.get(), 0};
  f.t.quantization = {kTfLiteAffineQuantization, &q};
  EXPECT_NE(refusal(f.t).find("per-channel"), std::string::npos);
  q.quantized_dimension = 7;
  EXPECT_NE(refusal(f.t).find("per-channel"), std::string::npos);
}

TEST(TranslateTensor, RefusesMalformedQuantization) {
  FakeTensor f({1, 2, 2, 1});
  TfLiteAffineQuantization q{nullptr, nullptr, 0};
  f.t.quantization = {kTfLiteAffineQuantization, &q};
  EXPECT_NE(refusal(f.t).find("malformed quantization"), std::string::npos);
}

TEST(TranslateTensor, RefusesUnsupportedTypes) {
  FakeTensor f({1, 2});
  f.t.type = kTfLiteString;
  EXPECT_NE(refusal(f.t).find("unsupported type"), std::string::npos);
}

TEST(TranslateTensor, CopiesConstantData) {
  FakeTensor f({2, 2});
  uint8_t data[4] = {1, 2, 3, 4};
  f.t.data = data;
  f.t.allocation_type = kTfLiteMmapRo;
  ir::Tensor out;
  std::string error;
  ASSERT_TRUE(translate_tensor(f.t, &out, &error)) << error;
  EXPECT_TRUE(out.constant);
  EXPECT_EQ(out.data, (std::vector<uint8_t>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace nonstick
