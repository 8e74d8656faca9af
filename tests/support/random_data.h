// Deterministic pseudo-random test data. Our own generator (splitmix64) so
// the values are the same with every standard library and compiler.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace nonstick::testing {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // Mixes several seeds (graph seed, tensor number, invocation) into one.
  static uint64_t combine(uint64_t a, uint64_t b);

  uint64_t next();
  int64_t uniform_int(int64_t lo, int64_t hi);  // inclusive
  float uniform_float(float lo, float hi);

 private:
  uint64_t state_;
};

// The value range random data of a dtype spans: the integer range (int32
// range for int64 too), [0, 1] for bool, [-1, 1] for float32.
void dtype_range(ir::DType dtype, double* lo, double* hi);

// `count` values of `dtype` as raw little-endian bytes, uniform over [lo, hi]
// (clamped to the dtype's range; integers inclusive).
std::vector<uint8_t> random_values(ir::DType dtype, int64_t count, double lo, double hi, Rng* rng);

}  // namespace nonstick::testing
