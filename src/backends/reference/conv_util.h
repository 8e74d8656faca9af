// Shared pieces of the convolution-family kernels (CONV_2D, DEPTHWISE_CONV_2D,
// FULLY_CONNECTED, pooling): window geometry and the operand checks and
// requantization setup TFLite's kernels perform at prepare time.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "backends/reference/fixed_point.h"
#include "backends/reference/kernel.h"

namespace nonstick::reference {

// One spatial dimension of a sliding window.
struct WindowDim {
  int in = 0, out = 0;
  int filter = 1, stride = 1, dilation = 1;
  int pad = 0;  // leading padding; TFLite puts any odd extra cell at the end
};

// Output size and leading padding as TFLite's ComputePaddingHeightWidth
// derives them (TensorFlow's GetWindowedOutputSize rules).
inline WindowDim window_dim(ir::Padding padding, int in, int filter, int stride, int dilation) {
  WindowDim d{in, 0, filter, stride, dilation, 0};
  const int effective = (filter - 1) * dilation + 1;
  d.out = padding == ir::Padding::kSame ? (in + stride - 1) / stride : (in - effective + stride) / stride;
  const int total = (d.out - 1) * stride + effective - in;
  d.pad = total > 0 ? total / 2 : 0;
  return d;
}

// The NHWC sliding-window geometry of one op.
struct Window {
  int batches = 1;
  WindowDim h, w;
  int in_channels = 1, out_channels = 1;

  // Whether `out` has the shape this window produces (and it is non-empty).
  bool matches(const ir::Tensor& out) const {
    return h.out > 0 && w.out > 0 && out.rank() == 4 && out.dim(0) == batches && out.dim(1) == h.out &&
           out.dim(2) == w.out && out.dim(3) == out_channels;
  }
};

inline bool is_quantized_8bit(ir::DType t) { return t == ir::DType::kUInt8 || t == ir::DType::kInt8; }

// Sums of up to this many 8-bit values fit an int32 (pooling and MEAN).
constexpr int64_t kMaxSummedValues = int64_t{1} << 23;

inline int32_t dtype_min(ir::DType t) { return t == ir::DType::kUInt8 ? 0 : -128; }
inline int32_t dtype_max(ir::DType t) { return t == ir::DType::kUInt8 ? 255 : 127; }

// Input/output checks shared by every op here: 8-bit, same dtype, per-tensor
// affine quantization with zero points inside the dtype's range.
inline Support check_activation_pair(const ir::Tensor& in, const ir::Tensor& out) {
  if (in.dtype == ir::DType::kInt16) return Support::no("int16 activations not supported");
  if (!is_quantized_8bit(in.dtype)) {
    return Support::no(std::string(ir::dtype_name(in.dtype)) + " activations not supported");
  }
  if (out.dtype != in.dtype) return Support::no("output dtype differs from input dtype");
  for (const ir::Tensor* t : {&in, &out}) {
    if (t->quant.empty() || !(t->quant.scale() > 0.0f)) return Support::no("activation not quantized");
    if (t->quant.per_channel()) return Support::no("per-channel quantized activation");
    const int32_t zp = t->quant.zero_point();
    if (zp < dtype_min(t->dtype) || zp > dtype_max(t->dtype)) return Support::no("zero point out of range");
  }
  return Support::yes();
}

// The operands of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED:
// (input, filter, optional bias) -> output.
struct WeightedOperands {
  const ir::Tensor* input = nullptr;
  const ir::Tensor* filter = nullptr;
  const ir::Tensor* bias = nullptr;  // null when absent
  const ir::Tensor* output = nullptr;
};

inline Support weighted_operands(const ir::Graph& g, const ir::Operation& op, WeightedOperands* o) {
  if (op.inputs.size() < 2 || op.inputs.size() > 3 || op.outputs.size() != 1) {
    return Support::no("needs input, filter, optional bias and one output");
  }
  o->input = g.input(op, 0);
  o->filter = g.input(op, 1);
  o->bias = op.inputs.size() > 2 ? g.input(op, 2) : nullptr;
  o->output = &g.output(op, 0);
  if (!o->input || !o->filter) return Support::no("missing input or filter");
  return Support::yes();
}

// How a weighted op's multiplier is derived. TFLite's CONV_2D and
// DEPTHWISE_CONV_2D compute per-channel (and int8 per-tensor) multipliers as
// double products, but their uint8 path and FULLY_CONNECTED multiply
// input_scale * filter_scale in float first; the last bit can differ.
enum class ScaleProduct { kFloat, kDouble };

// Filter and bias checks for CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.
// `channel_axis` is the filter dimension holding output channels;
// `allow_per_channel` is false for ops whose TFLite kernel ignores
// per-channel scales.
inline Support check_weights(const ir::Tensor& in, const ir::Tensor& filter, const ir::Tensor* bias,
                             const ir::Tensor& out, int channel_axis, bool allow_per_channel) {
  if (filter.dtype != in.dtype) {
    return Support::no(std::string(ir::dtype_name(filter.dtype)) + " filter with " +
                       std::string(ir::dtype_name(in.dtype)) + " input not supported");
  }
  if (!filter.constant) return Support::no("filter must be constant");
  const ir::Quantization& fq = filter.quant;
  if (fq.empty()) return Support::no("filter not quantized");
  if (!fq.zero_points.empty() && fq.zero_points.size() != fq.scales.size()) {
    return Support::no("filter zero point count mismatch");
  }
  for (float s : fq.scales) {
    if (!(s > 0.0f)) return Support::no("filter scale must be positive");
  }
  const int channels = filter.dim(channel_axis);
  if (channels < 1 || filter.num_elements() < 1) return Support::no("empty filter");
  if (fq.per_channel()) {
    if (in.dtype != ir::DType::kInt8) return Support::no("per-channel filter needs int8");
    if (!allow_per_channel) return Support::no("per-channel filter not supported");
    if (fq.axis != channel_axis) return Support::no("per-channel axis is not the output channel axis");
    if (static_cast<int>(fq.scales.size()) != channels) return Support::no("per-channel scale count mismatch");
  }
  for (int32_t zp : fq.zero_points) {
    // TFLite's int8 kernels assume symmetric weights and drop the zero point.
    if (in.dtype == ir::DType::kInt8 && zp != 0) return Support::no("int8 filter zero point must be 0");
    if (zp < dtype_min(in.dtype) || zp > dtype_max(in.dtype)) return Support::no("filter zero point out of range");
  }
  // Each output sums filter.size / channels products; refuse what could
  // overflow the int32 accumulator (TFLite would silently wrap).
  const int64_t depth = filter.num_elements() / channels;
  const int64_t max_product = 255 * (in.dtype == ir::DType::kUInt8 ? 255 : 128);
  int64_t max_bias = 0;
  if (bias) {
    if (bias->dtype != ir::DType::kInt32) return Support::no("bias must be int32");
    if (!bias->constant) return Support::no("bias must be constant");
    if (bias->num_elements() != channels) return Support::no("bias size differs from output channels");
    for (int32_t b : bias->values<int32_t>()) {
      max_bias = std::max<int64_t>(max_bias, std::abs(static_cast<int64_t>(b)));
    }
    if (bias->quant.zero_point() != 0) return Support::no("bias zero point must be 0");
    // TFLite refuses per-tensor models whose bias scale strays from
    // input_scale * filter_scale (the kernel assumes they are equal).
    if (!fq.per_channel() && !bias->quant.empty()) {
      const double product = static_cast<double>(in.quant.scale()) * static_cast<double>(fq.scale());
      const double diff = std::abs(product - static_cast<double>(bias->quant.scale()));
      if (diff / static_cast<double>(out.quant.scale()) > 0.02) {
        return Support::no("bias scale differs from input_scale * filter_scale");
      }
    }
  }
  if (depth * max_product + max_bias > std::numeric_limits<int32_t>::max()) {
    return Support::no("accumulation too deep for a 32-bit accumulator");
  }
  return Support::yes();
}

// One requantization multiplier per output channel (per-tensor filters are
// broadcast), computed as TFLite's prepare step does.
inline std::vector<QuantizedMultiplier> channel_multipliers(const ir::Tensor& in, const ir::Tensor& filter,
                                                            const ir::Tensor& out, int channels,
                                                            ScaleProduct product) {
  std::vector<QuantizedMultiplier> m(static_cast<size_t>(channels));
  const double out_scale = static_cast<double>(out.quant.scale());
  for (int c = 0; c < channels; ++c) {
    const float fs = filter.quant.per_channel() ? filter.quant.scales[static_cast<size_t>(c)] : filter.quant.scale();
    const double input_product = product == ScaleProduct::kFloat
                                     ? static_cast<double>(in.quant.scale() * fs)
                                     : static_cast<double>(in.quant.scale()) * static_cast<double>(fs);
    m[static_cast<size_t>(c)] = quantize_multiplier(input_product / out_scale);
  }
  return m;
}

// x * multiplier * 2^shift as the output stage of ruy, the GEMM library
// TFLite 2.9 uses on x86 for CONV_2D and FULLY_CONNECTED, both uint8 and
// int8 (measured on an AVX-512 host): the same saturating doubling high
// multiply as TFLite's own helper, but the final right shift rounds ties
// upward (toward +infinity) rather than away from zero: -4.5 becomes -4.
inline int32_t multiply_by_quantized_multiplier_gemm(int32_t x, QuantizedMultiplier q) {
  const int left_shift = q.shift > 0 ? q.shift : 0;
  const int right_shift = q.shift > 0 ? 0 : -q.shift;
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  const int32_t high = saturating_rounding_doubling_high_mul(shifted, q.multiplier);
  if (right_shift == 0) return high;
  return static_cast<int32_t>((static_cast<int64_t>(high) + (int64_t{1} << (right_shift - 1))) >> right_shift);
}

// How a weighted op's requantization rounds. Most runtimes double-round
// (the doubling high multiply, then a right shift) and differ in how that
// final shift breaks ties: half up (ruy's output stage above, TFLite's NEON
// vector code) or half away from zero (TFLite's own helper in
// fixed_point.h). ruy's arm64 kernels round the exact product once instead,
// and TFLite's arm64 3x3 depthwise kernel applies a left shift only after the
// multiply. docs/reference-backend.md has the table of who does what.
enum class TieRounding {
  kUp,                 // double rounding, final shift half up
  kAwayFromZero,       // double rounding, final shift half away from zero
  kSingleUp,           // x * M * 2^(shift - 31) rounded once, half up
  kUpLeftShiftLast,    // kUp, except a left shift comes after the multiply
};

// x * M * 2^(shift - 31) with one rounding, half up: what ruy's arm64
// kernels compute with a truncating doubling high multiply followed by a
// rounding right shift (the truncated bits cannot change the rounded result).
inline int32_t multiply_by_quantized_multiplier_single(int32_t x, QuantizedMultiplier q) {
  const int total_shift = 31 - q.shift;
  const int64_t product = static_cast<int64_t>(x) * q.multiplier;
  if (total_shift < 1) {  // multipliers of 2^30 and more: saturate like the vector code
    return x == 0 ? 0 : (x > 0 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min());
  }
  return static_cast<int32_t>((product + (int64_t{1} << (total_shift - 1))) >> total_shift);
}

// How the arm64 build of TFLite 2.9 requantizes a CONV_2D or FULLY_CONNECTED
// GEMM of `rows` output channels, `depth` and `cols` output columns (pixels
// or batches): a matrix-vector product with at least 4 rows and a depth of 8
// goes through TFLite's own NEON GEMV (double rounding, final shift half up),
// everything else through ruy (single rounding).
inline TieRounding arm64_gemm_rounding(int64_t rows, int64_t depth, int64_t cols) {
  return cols == 1 && rows >= 4 && depth >= 8 ? TieRounding::kUp : TieRounding::kSingleUp;
}

inline int32_t requantize_accumulator(int32_t acc, QuantizedMultiplier q, TieRounding ties) {
  switch (ties) {
    case TieRounding::kUp: return multiply_by_quantized_multiplier_gemm(acc, q);
    case TieRounding::kAwayFromZero: return multiply_by_quantized_multiplier(acc, q);
    case TieRounding::kSingleUp: return multiply_by_quantized_multiplier_single(acc, q);
    case TieRounding::kUpLeftShiftLast:
      if (q.shift <= 0) return multiply_by_quantized_multiplier_gemm(acc, q);
      if (q.shift > 31) return 0;
      return static_cast<int32_t>(
          static_cast<uint32_t>(saturating_rounding_doubling_high_mul(acc, q.multiplier)) << q.shift);
  }
  return multiply_by_quantized_multiplier(acc, q);
}

// How each profile's CONV_2D, FULLY_CONNECTED and DEPTHWISE_CONV_2D kernels
// requantize `op` (which their check() accepted): the rules the reference
// kernels run, exposed so that accelerator backends can target the same
// arithmetic. Depthwise gives one rule per output channel.
TieRounding conv2d_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics);
TieRounding fully_connected_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics);
std::vector<TieRounding> depthwise_conv2d_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics);

// The bias values, or zeros when the op has none.
inline std::vector<int32_t> bias_values(const ir::Tensor* bias, int channels) {
  if (!bias) return std::vector<int32_t>(static_cast<size_t>(channels), 0);
  auto v = bias->values<int32_t>();
  return {v.begin(), v.end()};
}

}  // namespace nonstick::reference
