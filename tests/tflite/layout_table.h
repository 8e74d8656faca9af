// Layout facts compiled from TFLite 2.9's own headers (tflite29_layout.cc).
#pragma once

#include <cstddef>

namespace nonstick::testing {

struct LayoutEntry {
  const char* name;
  size_t offset;
};

const LayoutEntry* tflite29_layout(size_t* count);
size_t tflite29_sizeof(const char* struct_name);
long tflite29_enum(const char* name);

}  // namespace nonstick::testing
