// The other side of abi_layout_test: the same fields, compiled against the
// TFLite 2.9 C headers shipped in tfjs-tflite-node (third_party/tflite/include).
#include <cstddef>
#include <cstring>

#include "tensorflow/lite/c/common.h"
#include "tflite/layout_table.h"

namespace nonstick::testing {
namespace {

#define ABI_FIELD(s, f) {#s "." #f, offsetof(s, f)},
const LayoutEntry kTheirs[] = {
#include "tflite/abi_fields.inc"
};
#undef ABI_FIELD

}  // namespace

const LayoutEntry* tflite29_layout(size_t* count) {
  *count = sizeof(kTheirs) / sizeof(kTheirs[0]);
  return kTheirs;
}

size_t tflite29_sizeof(const char* s) {
  if (!std::strcmp(s, "TfLiteTensor")) return sizeof(TfLiteTensor);
  if (!std::strcmp(s, "TfLiteDelegate")) return sizeof(TfLiteDelegate);
  if (!std::strcmp(s, "TfLiteRegistration")) return sizeof(TfLiteRegistration);
  return 0;
}

long tflite29_enum(const char* n) {
  struct Named {
    const char* name;
    long value;
  };
  static const Named kValues[] = {
      {"kTfLiteInt8", kTfLiteInt8}, {"kTfLiteUInt8", kTfLiteUInt8}, {"kTfLiteInt16", kTfLiteInt16},
      {"kTfLiteInt32", kTfLiteInt32}, {"kTfLiteFloat32", kTfLiteFloat32}, {"kTfLiteMmapRo", kTfLiteMmapRo},
      {"kTfLitePersistentRo", kTfLitePersistentRo}, {"kTfLiteDynamic", kTfLiteDynamic},
      {"kTfLiteAffineQuantization", kTfLiteAffineQuantization}, {"kTfLiteDelegateError", kTfLiteDelegateError},
  };
  for (const Named& v : kValues) {
    if (!std::strcmp(v.name, n)) return v.value;
  }
  return -1;
}

}  // namespace nonstick::testing
