#include "support/random_data.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nonstick::testing {

uint64_t Rng::combine(uint64_t a, uint64_t b) {
  Rng r(a ^ (b * 0x9e3779b97f4a7c15ull));
  return r.next();
}

uint64_t Rng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

int64_t Rng::uniform_int(int64_t lo, int64_t hi) {
  // The modulo bias is negligible for spans far below 2^64.
  auto span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(next() % span);
}

float Rng::uniform_float(float lo, float hi) {
  float unit = static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);  // 24 bits in [0, 1)
  return lo + unit * (hi - lo);
}

void dtype_range(ir::DType dtype, double* lo, double* hi) {
  switch (dtype) {
    case ir::DType::kUInt8: *lo = 0; *hi = 255; return;
    case ir::DType::kInt8: *lo = -128; *hi = 127; return;
    case ir::DType::kInt16: *lo = -32768; *hi = 32767; return;
    case ir::DType::kInt32:
    case ir::DType::kInt64: *lo = -2147483648.0; *hi = 2147483647.0; return;
    case ir::DType::kBool: *lo = 0; *hi = 1; return;
    case ir::DType::kFloat32: *lo = -1; *hi = 1; return;
  }
}

namespace {

template <typename T>
void store(std::vector<uint8_t>* out, size_t i, T v) {
  std::memcpy(out->data() + i * sizeof(T), &v, sizeof(T));
}

}  // namespace

std::vector<uint8_t> random_values(ir::DType dtype, int64_t count, double lo, double hi, Rng* rng) {
  double type_lo = 0, type_hi = 0;
  dtype_range(dtype, &type_lo, &type_hi);
  if (dtype != ir::DType::kFloat32) {
    lo = std::max(std::ceil(lo), type_lo);
    hi = std::min(std::floor(hi), type_hi);
  }
  std::vector<uint8_t> out(static_cast<size_t>(count) * ir::dtype_size(dtype));
  auto ilo = static_cast<int64_t>(lo), ihi = static_cast<int64_t>(hi);
  for (size_t i = 0; i < static_cast<size_t>(count); ++i) {
    switch (dtype) {
      case ir::DType::kUInt8:
      case ir::DType::kBool: store(&out, i, static_cast<uint8_t>(rng->uniform_int(ilo, ihi))); break;
      case ir::DType::kInt8: store(&out, i, static_cast<int8_t>(rng->uniform_int(ilo, ihi))); break;
      case ir::DType::kInt16: store(&out, i, static_cast<int16_t>(rng->uniform_int(ilo, ihi))); break;
      case ir::DType::kInt32: store(&out, i, static_cast<int32_t>(rng->uniform_int(ilo, ihi))); break;
      case ir::DType::kInt64: store(&out, i, rng->uniform_int(ilo, ihi)); break;
      case ir::DType::kFloat32:
        store(&out, i, rng->uniform_float(static_cast<float>(lo), static_cast<float>(hi)));
        break;
    }
  }
  return out;
}

}  // namespace nonstick::testing
