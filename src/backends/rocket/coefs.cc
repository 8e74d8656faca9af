#include "backends/rocket/coefs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/rocket/hw.h"

namespace nonstick::rocket {
namespace {

// BRDMA_DATA_USE 7 stream (docs/virtual-rk3588.md §9): groups of 8 output
// channels, 64 bytes = 16 words: A int32[8], B int16[8], C int16[8].
constexpr size_t kBsGroupChannels = 8;
constexpr size_t kBsGroupWords = 16;
constexpr size_t kBsMulWord = 12;  // C starts at byte 48
// The BS multiplier C is read as int16; only positive values are used.
constexpr int64_t kBsMulMax = 32767;
constexpr int kMaxBsShift = 63;  // BS_MUL_SHIFT_VALUE(_NEG), 6 bits
// OUT_CVT shift of the per-channel gain: at most the largest one in Mesa's
// hardware-run streams (16..26 captured), so OUT_CVT sees values and
// products of the sizes it is known to handle; precision does not need more
// (one output step stays >= 2^11 units of v).
constexpr int kMaxPerChannelOutShift = 26;
// Largest tolerated encoding error before the final rounding, in output
// steps (see DpuEncoding::max_error_steps): below one, every output stays
// within one step of TFLite; half a step keeps a margin. Real models stay
// far below (the worst layer of tf2_mobilenet_v2 and vww: 0.24).
constexpr double kMaxErrorSteps = 0.5;

// m as mantissa * 2^-shift with a 15-bit mantissa, rounded up (so the value
// is >= m); shift unbounded, possibly above the OUT_CVT range.
void encode_multiplier_up(double m, int64_t* scale, int* shift) {
  int exponent = 0;
  const double mantissa = std::frexp(m, &exponent);
  *shift = CoreConfig::kScaleBits - exponent;
  *scale = static_cast<int64_t>(std::ceil(std::ldexp(mantissa, CoreConfig::kScaleBits)));
  if (*scale == (int64_t{1} << CoreConfig::kScaleBits)) {
    *scale >>= 1;
    --*shift;
  }
}

// Per-channel requantization on the BS multiplier (see DpuEncoding).
//
// Channel c computes (acc + A'[c]) * C[c] * unit (before the final
// rounding), where acc = sum(x * w) over raw int8 inputs and unit = the
// OUT_CVT gain / 2^bs_shift; TFLite computes (acc + A[c]) * M[c] with A the
// folded bias. C[c] = round(M[c] / unit) leaves a slope error
// d = C[c] * unit - M[c]; A'[c] is then chosen so that the error is centred
// over the accumulators that can still reach an unclamped output, which
// also removes the slope error from the (often large) constant A.
Support encode_per_channel(const NpuConv& op, DpuEncoding* e) {
  const std::vector<double>& m = op.channel_multipliers;
  const double m_max = *std::max_element(m.begin(), m.end());
  if (!(m_max > 0.0) || !std::isfinite(m_max)) return Support::no("per-channel multipliers not positive");
  // The unit of C: the smallest 15-bit-mantissa value that keeps the
  // largest channel's C within int16, so that channel gets ~15 bits.
  int64_t unit_scale = 0;
  int unit_shift = 0;
  encode_multiplier_up(m_max / static_cast<double>(kBsMulMax), &unit_scale, &unit_shift);
  const double unit = std::ldexp(static_cast<double>(unit_scale), -unit_shift);
  std::vector<int32_t> folded;
  if (Status s = folded_biases(op, &folded); !s.ok()) return Support::no(s.message());

  const size_t channels = static_cast<size_t>(op.out_c);
  const size_t window = static_cast<size_t>(op.kernel_h) * op.kernel_w * (op.depthwise ? 1 : op.in_c);
  e->bs_mul.assign(static_cast<size_t>(op.out_c_padded()), 0);
  e->bs_add.assign(static_cast<size_t>(op.out_c_padded()), 0);
  std::vector<double> slope_error(channels);  // |d| * half the accumulator range that matters
  std::vector<int64_t> v_bound(channels);     // max |acc + A'|
  for (size_t c = 0; c < channels; ++c) {
    double w_abs = 0;
    for (size_t k = 0; k < window; ++k) {
      const size_t i = op.depthwise ? k * op.in_c + c : c * window + k;
      w_abs += std::abs(static_cast<double>(op.weights[i]) - op.weight_zp);
    }
    const double acc_max = 128.0 * w_abs;  // |sum(x * w)| for x in [-128, 127]
    const double a = folded[c];
    // Accumulators whose exact output lies within one step of the clamp
    // range; outside it both results clamp (the error stays below one step
    // at the edges and both are monotonic in acc).
    const double lo = std::clamp((op.act_min - 1 - op.out_zp) / m[c] - a, -acc_max, acc_max);
    const double hi = std::clamp((op.act_max + 1 - op.out_zp) / m[c] - a, -acc_max, acc_max);
    const int64_t mul = std::clamp<int64_t>(std::llround(m[c] / unit), 1, kBsMulMax);
    const double d = static_cast<double>(mul) * unit - m[c];
    const double target = a * m[c] - d * (lo + hi) / 2;  // wanted A' * C * unit
    const double add = std::round(target / (static_cast<double>(mul) * unit));
    if (std::abs(add) + acc_max > static_cast<double>(std::numeric_limits<int32_t>::max())) {
      return Support::no("per-channel bias leaves int32 in the BS stage");
    }
    e->bs_mul[c] = static_cast<int16_t>(mul);
    e->bs_add[c] = static_cast<int32_t>(add);
    slope_error[c] = std::abs(d) * (hi - lo) / 2 + std::abs(add * static_cast<double>(mul) * unit - target);
    v_bound[c] = static_cast<int64_t>(std::ceil(acc_max)) + std::abs(static_cast<int64_t>(add));
  }
  // The smallest BS shift that puts the OUT_CVT gain (unit * 2^shift) inside
  // the captured OUT_CVT shift range and keeps every v inside int32 (so the
  // BS stage never saturates); smaller shifts keep more fractional bits in v.
  auto fits = [&](int shift) {
    for (size_t c = 0; c < channels; ++c) {
      const int64_t p = v_bound[c] * e->bs_mul[c];  // < 2^47
      const int64_t v = shift == 0 ? p : (p + (int64_t{1} << (shift - 1))) >> shift;
      if (v > std::numeric_limits<int32_t>::max()) return false;
    }
    return true;
  };
  int shift = std::max(0, unit_shift - kMaxPerChannelOutShift);
  while (shift <= kMaxBsShift && !fits(shift)) ++shift;
  if (shift > kMaxBsShift || unit_shift - shift < 0) {
    return Support::no("per-channel multipliers outside the BS multiplier's range");
  }
  e->per_channel = true;
  e->bs_shift = static_cast<uint32_t>(shift);
  e->out.scale = static_cast<uint32_t>(unit_scale);
  e->out.shift = static_cast<uint32_t>(unit_shift - shift);
  // Plus half a unit of v, the BS stage's own rounding.
  double worst = 0;
  size_t worst_channel = 0;
  for (size_t c = 0; c < channels; ++c) {
    const double err = slope_error[c] + 0.5 * e->out.value();
    if (err > worst) {
      worst = err;
      worst_channel = c;
    }
  }
  e->max_error_steps = worst;
  if (worst > kMaxErrorSteps) {
    return Support::no("per-channel scale spread too wide for one BS multiplier (channel " +
                       std::to_string(worst_channel) + " could be off by " + std::to_string(worst) +
                       " steps before rounding)");
  }
  return Support::yes();
}

}  // namespace

int padded_in_channels(const NpuConv& op) {
  return align_up(std::max(op.in_c, CoreConfig::kAtomChannels), CoreConfig::kAtomChannels);
}

int weight_kernels(const NpuConv& op) { return op.depthwise ? 1 : align_up(op.out_c, 2); }

int64_t packed_weight_bytes(const NpuConv& op) {
  return int64_t{op.kernel_w} * op.kernel_h * padded_in_channels(op) * weight_kernels(op);
}

std::vector<uint8_t> pack_weights(const NpuConv& op) {
  const int kh = op.kernel_h, kw = op.kernel_w;
  const int cin = op.in_c, cin_pad = padded_in_channels(op);
  // Padding channels carry the weight zero point: (w - w_zp) is then 0, so
  // whatever sits in the matching input channels contributes nothing.
  const auto pad = static_cast<uint8_t>(static_cast<int8_t>(op.weight_zp));
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(packed_weight_bytes(op)));
  if (op.depthwise) {
    const int group = CoreConfig::kDepthwiseChannelGroup;
    for (int g = 0; g < cin_pad; g += group) {
      for (int y = 0; y < kh; ++y) {
        for (int x = 0; x < kw; ++x) {
          for (int c = g; c < std::min(g + group, cin_pad); ++c) {
            out.push_back(c < cin ? static_cast<uint8_t>(op.weights[(static_cast<size_t>(y) * kw + x) * cin + c]) : pad);
          }
        }
      }
    }
    return out;
  }
  const int kernels = weight_kernels(op);
  const int kgroup = CoreConfig::kWeightKernelGroup, cgroup = CoreConfig::kWeightChannelGroup;
  for (int og = 0; og < kernels; og += kgroup) {
    for (int ig = 0; ig < cin_pad; ig += cgroup) {
      for (int y = 0; y < kh; ++y) {
        for (int x = 0; x < kw; ++x) {
          for (int o = og; o < std::min(og + kgroup, kernels); ++o) {
            for (int c = ig; c < std::min(ig + cgroup, cin_pad); ++c) {
              uint8_t v = 0;  // the extra kernel of an odd count: all zero
              if (o < op.out_c) {
                v = c < cin ? static_cast<uint8_t>(
                                  op.weights[((static_cast<size_t>(o) * kh + y) * kw + x) * cin + c])
                            : pad;
              }
              out.push_back(v);
            }
          }
        }
      }
    }
  }
  return out;
}

Status folded_biases(const NpuConv& op, std::vector<int32_t>* out) {
  out->assign(static_cast<size_t>(op.out_c_padded()), 0);
  const size_t window = static_cast<size_t>(op.kernel_h) * op.kernel_w;
  for (int c = 0; c < op.out_c; ++c) {
    int64_t sum = 0;  // sum of (w - w_zp) over the channel's kernel
    if (op.depthwise) {
      for (size_t k = 0; k < window; ++k) sum += op.weights[k * op.in_c + c] - op.weight_zp;
    } else {
      const size_t n = window * op.in_c;
      const int8_t* w = op.weights.data() + static_cast<size_t>(c) * n;
      for (size_t k = 0; k < n; ++k) sum += w[k] - op.weight_zp;
    }
    const int64_t folded = int64_t{op.bias[static_cast<size_t>(c)]} - int64_t{op.in_zp} * sum;
    if (folded < std::numeric_limits<int32_t>::min() || folded > std::numeric_limits<int32_t>::max()) {
      return Status::error("bias with folded zero point leaves int32 (channel " + std::to_string(c) + ")");
    }
    (*out)[static_cast<size_t>(c)] = static_cast<int32_t>(folded);
  }
  return {};
}

Status fold_biases(const NpuConv& op, std::vector<int32_t>* out) {
  std::vector<int32_t> a;
  Status s = folded_biases(op, &a);
  if (!s.ok() || !op.per_channel()) {
    *out = std::move(a);
    return s;
  }
  DpuEncoding e;
  const Support ok = encode_dpu(op, &e);
  if (!ok.supported) return Status::error(ok.reason);
  // out_c_padded() is a multiple of 32, so groups are whole.
  a = e.bs_add;
  const size_t groups = a.size() / kBsGroupChannels;
  out->assign(groups * kBsGroupWords, 0);
  for (size_t g = 0; g < groups; ++g) {
    int32_t* w = out->data() + g * kBsGroupWords;
    for (size_t k = 0; k < kBsGroupChannels; ++k) {
      const size_t c = g * kBsGroupChannels + k;
      w[k] = a[c];
      // Two int16 per little-endian word, the lower channel in the low half.
      const uint32_t mul = static_cast<uint16_t>(e.bs_mul[c]);
      w[kBsMulWord + k / 2] = static_cast<int32_t>(static_cast<uint32_t>(w[kBsMulWord + k / 2]) |
                                                   mul << (16 * (k % 2)));
    }
  }
  return {};
}

double FixedMultiplier::value() const { return std::ldexp(static_cast<double>(scale), -static_cast<int>(shift)); }

bool encode_multiplier(double m, int max_shift, FixedMultiplier* out) {
  if (!(m > 0.0) || !std::isfinite(m)) return false;
  int exponent = 0;
  const double mantissa = std::frexp(m, &exponent);  // m = mantissa * 2^exponent, mantissa in [0.5, 1)
  int shift = CoreConfig::kScaleBits - exponent;
  int64_t scale = std::llround(std::ldexp(mantissa, CoreConfig::kScaleBits));
  if (scale == (int64_t{1} << CoreConfig::kScaleBits)) {  // rounding carried out of 15 bits
    scale >>= 1;
    --shift;
  }
  if (shift < 0 || shift > max_shift) return false;
  out->scale = static_cast<uint32_t>(scale);
  out->shift = static_cast<uint32_t>(shift);
  return true;
}

double channel_accumulator_bound(const NpuConv& op, int c) {
  // Each product (x - x_zp)(w - w_zp) is largest with x at one end of int8.
  const double x_span = std::max(std::abs(-128.0 - op.in_zp), std::abs(127.0 - op.in_zp));
  const size_t window = static_cast<size_t>(op.kernel_h) * op.kernel_w * (op.depthwise ? 1 : op.in_c);
  double sum = 0;
  for (size_t k = 0; k < window; ++k) {
    const size_t i = op.depthwise ? k * op.in_c + static_cast<size_t>(c) : static_cast<size_t>(c) * window + k;
    sum += std::abs(static_cast<double>(op.weights[i]) - op.weight_zp);
  }
  return sum * x_span + std::abs(static_cast<double>(op.bias[static_cast<size_t>(c)]));
}

double accumulator_bound(const NpuConv& op) {
  double worst = 0;
  for (int c = 0; c < op.out_c; ++c) worst = std::max(worst, channel_accumulator_bound(op, c));
  if (op.has_addend()) {
    const double e_span = std::max(std::abs(-128.0 - op.addend_zp), std::abs(127.0 - op.addend_zp));
    worst += e_span * op.addend_multiplier;
  }
  return worst;
}

Support encode_dpu(const NpuConv& op, DpuEncoding* out) {
  DpuEncoding e;
  if (op.per_channel()) {
    if (op.has_addend()) return Support::no("element-wise addend with per-channel requantization not implemented");
    const Support s = encode_per_channel(op, &e);
    if (!s.supported) return s;
  } else if (!encode_multiplier(op.out_multiplier, CoreConfig::kMaxOutShift, &e.out)) {
    return Support::no("requantization multiplier " + std::to_string(op.out_multiplier) +
                       " outside the OUT_CVT range");
  }
  e.out_offset = op.out_zp;
  e.ow_op = -op.weight_zp;
  if (op.has_addend()) {
    if (!encode_multiplier(op.addend_multiplier, CoreConfig::kMaxEwShift, &e.ew)) {
      return Support::no("ADD operand scale ratio " + std::to_string(op.addend_multiplier) +
                         " outside the EW_OP_CVT range");
    }
    e.ew_offset = -op.addend_zp;
  }
  // Clamps, in accumulator units (per-channel: in units of the BS stage's
  // output v, which OUT_CVT requantizes alone). ReLU at the output zero
  // point is exactly "value >= 0" because requantizing 0 gives 0.
  const bool need_low = op.act_min > -128;
  const bool need_high = op.act_max < 127;
  if ((need_low || need_high) && op.act_min != std::max(-128, op.out_zp)) {
    return Support::no("activation clamp below the output zero point is not expressible");
  }
  e.relu = need_low || need_high;
  if (need_high) {
    // Smallest accumulator whose requantized value reaches act_max. With a
    // multiplier below 1/2 it requantizes to exactly act_max under both
    // round-to-nearest and truncation, so capping there equals clamping the
    // output.
    const double m = e.out.value();
    if (m >= 0.5) return Support::no("ReLU6 clamp needs a requantization multiplier below 0.5");
    const int64_t steps = int64_t{op.act_max} - op.out_zp;
    const int64_t num = steps << e.out.shift;
    const int64_t cap = (num + e.out.scale - 1) / e.out.scale;
    if (cap > std::numeric_limits<int32_t>::max()) return Support::no("ReLU6 cap leaves int32");
    e.relux = true;
    e.relux_cap = static_cast<int32_t>(cap);
  }
  if (accumulator_bound(op) > static_cast<double>(std::numeric_limits<int32_t>::max())) {
    return Support::no("accumulator may exceed 32 bits");
  }
  *out = e;
  return Support::yes();
}

}  // namespace nonstick::rocket
