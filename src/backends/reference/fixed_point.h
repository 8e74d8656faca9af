// Integer requantization arithmetic with TFLite's exact rounding behaviour:
// the gemmlowp "double rounding" scheme (a rounding doubling high multiply,
// then a right shift rounding half away from zero), which TFLite's builtin
// depthwise, pooling, element-wise and MEAN kernels use. CONV_2D and
// FULLY_CONNECTED on x86 go through ruy, whose final shift rounds half up
// instead (conv_util.h). docs/reference-backend.md lists which runtime
// rounds which way.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "ir/graph.h"

namespace nonstick::reference {

struct QuantizedMultiplier {
  int32_t multiplier = 0;  // Q31 mantissa in [2^30, 2^31)
  int shift = 0;           // positive = left shift
};

// Splits a real multiplier into a Q31 mantissa and a power-of-two exponent,
// rounding the mantissa half away from zero as TFLite's QuantizeMultiplier does.
inline QuantizedMultiplier quantize_multiplier(double real) {
  QuantizedMultiplier q;
  if (real == 0.0) return q;
  int shift = 0;
  const double mantissa = std::frexp(real, &shift);
  int64_t fixed = static_cast<int64_t>(std::round(mantissa * static_cast<double>(1LL << 31)));
  if (fixed == (1LL << 31)) {
    fixed /= 2;
    ++shift;
  }
  if (shift < -31) {
    shift = 0;
    fixed = 0;
  }
  q.multiplier = static_cast<int32_t>(fixed);
  q.shift = shift;
  return q;
}

inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  const bool overflow = a == b && a == std::numeric_limits<int32_t>::min();
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  const int32_t high = static_cast<int32_t>((ab + nudge) / (1LL << 31));
  return overflow ? std::numeric_limits<int32_t>::max() : high;
}

// Arithmetic right shift rounding half away from zero.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * multiplier * 2^shift with TFLite's double rounding.
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left_shift = shift > 0 ? shift : 0;
  const int right_shift = shift > 0 ? 0 : -shift;
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier),
                                right_shift);
}

inline int32_t multiply_by_quantized_multiplier(int32_t x, QuantizedMultiplier q) {
  return multiply_by_quantized_multiplier(x, q.multiplier, q.shift);
}

template <typename T>
inline T clamp_to(int32_t v, int32_t lo, int32_t hi) {
  return static_cast<T>(v < lo ? lo : (v > hi ? hi : v));
}

struct ActivationRange {
  int32_t min;
  int32_t max;
};

// Quantized bounds of a fused activation for an output of the given type,
// as TFLite's CalculateActivationRangeQuantized computes them (float divide,
// round half away from zero).
inline ActivationRange activation_range(ir::Activation act, ir::DType dtype, float scale,
                                        int32_t zero_point) {
  const int32_t qmin = dtype == ir::DType::kInt8 ? -128 : (dtype == ir::DType::kUInt8 ? 0 : -32768);
  const int32_t qmax = dtype == ir::DType::kInt8 ? 127 : (dtype == ir::DType::kUInt8 ? 255 : 32767);
  auto quantize = [&](float f) {
    return zero_point + static_cast<int32_t>(std::round(f / scale));
  };
  switch (act) {
    case ir::Activation::kNone:
      return {qmin, qmax};
    case ir::Activation::kRelu:
      return {std::max(qmin, quantize(0.0f)), qmax};
    case ir::Activation::kRelu6:
      return {std::max(qmin, quantize(0.0f)), std::min(qmax, quantize(6.0f))};
    case ir::Activation::kReluN1To1:
      return {std::max(qmin, quantize(-1.0f)), std::min(qmax, quantize(1.0f))};
  }
  return {qmin, qmax};
}

}  // namespace nonstick::reference
