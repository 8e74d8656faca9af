#include "backends/rocket/coefs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "backends/reference/fixed_point.h"
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
// Largest OUT_CVT shift behind the BS multiplier. Per-channel: the largest
// in Mesa's hardware-run streams (16..26 captured), so OUT_CVT sees values
// and products of the sizes it is known to handle (31 would not help: C's
// 15 bits limit those layers; tf2_mobilenet_v2 has 0.2264 % of outputs one
// step off with 26, 0.2255 % with 31). Precise per-tensor requantization
// (itself unverified on hardware) goes to the limit the OUT_CVT-only
// encoding already uses for small multipliers: the five more fractional
// bits of v take the uint8 MobileNets from 0.0027 % / 0.0015 % of outputs
// one step off to 0 / 0.00002 % (docs/virtual-rk3588.md §10).
constexpr int kMaxPerChannelOutShift = 26;
constexpr int kMaxPreciseOutShift = CoreConfig::kMaxOutShift;
// Largest tolerated encoding error before the final rounding, in output
// steps (see DpuEncoding::max_error_steps): below one, every output stays
// within one step of TFLite; half a step keeps a margin. Real models stay
// far below (the worst layer of tf2_mobilenet_v2 and vww: 0.19).
constexpr double kMaxErrorSteps = 0.5;
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
// Per-channel: OUT_CVT mantissas tried for the unit of C above the smallest
// that fits (a search of at most a few ms per layer).
constexpr int64_t kUnitCandidates = 1024;
// TFLite's ADD shifts both inputs left by 20 bits before rescaling them.
constexpr int kAddLeftShift = 20;
// Precise ADD: OUT_CVT scales from 2^10 on. Where OUT_CVT's shift limit
// binds (output steps much coarser than the inputs'), a smaller S makes the
// unit of v finer and C, E larger, at the same 45 bits between the three.
constexpr int kMinAddOutScaleBits = 10;
// Precise ADD: candidates whose worst-case slope error is within this many
// output steps (or 4x the best) are checked pair by pair.
constexpr double kAddCandidateBound = 1.0 / 1024;

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

// TFLite's multiplier exactly as its kernels apply it: the Q31 mantissa of
// quantize_multiplier times 2^shift.
double tflite_multiplier(double m) {
  const reference::QuantizedMultiplier q = reference::quantize_multiplier(m);
  return std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
}

// sum over the channel's kernel of |w - w_zp|: times 128 it bounds the
// CORE's accumulator (raw int8 inputs and the OW term) for any input.
double weight_abs_sum(const NpuConv& op, size_t c) {
  const size_t window = static_cast<size_t>(op.kernel_h) * op.kernel_w * (op.depthwise ? 1 : op.in_c);
  double sum = 0;
  for (size_t k = 0; k < window; ++k) {
    const size_t i = op.depthwise ? k * op.in_c + c : c * window + k;
    sum += std::abs(static_cast<double>(op.weights[i]) - op.weight_zp);
  }
  return sum;
}

// (x * 2^-shift) rounded half up: OUT_CVT's rounding, and for a bound
// x >= 0 the worst |v1| after the BS shift.
int64_t shifted_bound(int64_t x, int shift) {
  return shift == 0 ? x : (x + (int64_t{1} << (shift - 1))) >> shift;
}

// OUT_CVT only: the 15-bit mantissa of M, and TFLite's rounding offset
// folded into the integer bias where the op is a TFLite convolution.
Support encode_out_cvt(const NpuConv& op, DpuEncoding* e) {
  if (!encode_multiplier(op.out_multiplier, CoreConfig::kMaxOutShift, &e->out)) {
    return Support::no("requantization multiplier " + std::to_string(op.out_multiplier) +
                       " outside the OUT_CVT range");
  }
  if (Status s = folded_biases(op, &e->bs_add); !s.ok()) return Support::no(s.message());
  if (op.has_addend()) return Support::yes();
  // delta / M is in (1/2, 1]: usually one more accumulator unit.
  for (int c = 0; c < op.out_c; ++c) {
    const int64_t k = std::llround(requant_offset(op.out_multiplier, op.rounding_of(c)) / e->out.value());
    const int64_t a = int64_t{e->bs_add[static_cast<size_t>(c)]} + k;
    if (a > kInt32Max) return Support::no("bias with rounding offset leaves int32");
    e->bs_add[static_cast<size_t>(c)] = static_cast<int32_t>(a);
  }
  return Support::yes();
}

// Precise per-tensor requantization (see DpuEncoding): C and OUT_CVT's scale
// S chosen together so that C * S / 2^E equals TFLite's M, the BN stage
// adding TFLite's rounding offset delta.
struct PreciseSplit {
  int64_t c = 0, s = 0, b = 0;
  int bs_shift = 0, out_shift = 0;
  double error = std::numeric_limits<double>::infinity();
};

// Candidates closest first (by worst-case error before the final rounding),
// at most `keep`: every C with its nearest S at the largest OUT_CVT shift
// (the most fractional bits of v) that keeps v1 and v2 inside int32 for
// every input. The error sums the multiplier's error over the unclamped
// outputs, delta's rounding to a whole B, and half a unit of v for the BS
// shift's rounding.
Support precise_splits(const NpuConv& op, size_t keep, std::vector<PreciseSplit>* out) {
  const reference::QuantizedMultiplier q = reference::quantize_multiplier(op.out_multiplier);
  if (q.multiplier == 0) return Support::no("requantization multiplier not positive");
  const double m = tflite_multiplier(op.out_multiplier);
  // One offset for the op: the per-channel rules of one op (arm64's depthwise
  // blocks of 8) differ only for negative outputs, where kAwayFromZero
  // mirrors it, never in the offset itself.
  const double delta = requant_offset(op.out_multiplier, op.rounding_of(0));
  std::vector<int32_t> folded;
  if (Status s = folded_biases(op, &folded); !s.ok()) return Support::no(s.message());
  int64_t acc_bound = 0;  // max |acc + A| over channels and inputs
  for (int c = 0; c < op.out_c; ++c) {
    const auto i = static_cast<size_t>(c);
    acc_bound = std::max(acc_bound, static_cast<int64_t>(std::ceil(128.0 * weight_abs_sum(op, i))) +
                                        std::abs(int64_t{folded[i]}));
  }
  // Largest |exact output| (in steps, before the zero point) that is not
  // clamped: the slope error matters only up to there.
  const double clamp_edge = std::max(std::abs(op.act_min - 1.0 - op.out_zp), std::abs(op.act_max + 1.0 - op.out_zp));
  const double unclamped = std::min(static_cast<double>(acc_bound) * m, clamp_edge);

  // M = M0 * 2^(shift - 31). With T = M * 2^E in [2^28, 2^30), C and S both
  // in [2^14, 2^15): T is M0 / 4 or M0 / 2.
  auto worse = [](const PreciseSplit& a, const PreciseSplit& b) { return a.error < b.error; };
  std::vector<PreciseSplit> best;  // a heap of the `keep` smallest errors
  for (int k : {2, 1}) {
    const double t = std::ldexp(static_cast<double>(q.multiplier), -k);
    const int total_shift = 31 - q.shift - k;  // E
    for (int64_t c = int64_t{1} << 14; c < (int64_t{1} << 15); ++c) {
      const int64_t s = std::llround(t / static_cast<double>(c));
      if (s < (int64_t{1} << 14) || s >= (int64_t{1} << 15)) continue;
      const double slope = std::abs(static_cast<double>(c * s) - t) / t;  // relative
      if (best.size() == keep && slope * unclamped >= best.front().error) continue;
      for (int out_shift = std::min(kMaxPreciseOutShift, total_shift); out_shift >= 0; --out_shift) {
        const int bs_shift = total_shift - out_shift;
        if (bs_shift > kMaxBsShift) break;
        const double unit = std::ldexp(static_cast<double>(s), -out_shift);  // output steps per unit of v
        const int64_t b = std::llround(delta / unit);
        if (shifted_bound(acc_bound * c, bs_shift) + std::abs(b) + 1 > kInt32Max) continue;
        const double error = slope * unclamped + std::abs(static_cast<double>(b) * unit - delta) + 0.5 * unit;
        if (best.size() < keep) {
          best.push_back({c, s, b, bs_shift, out_shift, error});
          std::push_heap(best.begin(), best.end(), worse);
        } else if (error < best.front().error) {
          std::pop_heap(best.begin(), best.end(), worse);
          best.back() = {c, s, b, bs_shift, out_shift, error};
          std::push_heap(best.begin(), best.end(), worse);
        }
        break;
      }
    }
  }
  if (best.empty()) {
    return Support::no("requantization multiplier " + std::to_string(op.out_multiplier) +
                       " outside the BS multiplier's range");
  }
  std::sort_heap(best.begin(), best.end(), worse);
  *out = std::move(best);
  return Support::yes();
}

void apply_precise(const NpuConv& op, const PreciseSplit& x, const std::vector<int32_t>& folded, DpuEncoding* e) {
  e->bs_multiplier = true;
  e->bs_shift = static_cast<uint32_t>(x.bs_shift);
  e->out.scale = static_cast<uint32_t>(x.s);
  e->out.shift = static_cast<uint32_t>(x.out_shift);
  e->bs_add = folded;
  e->bs_mul.assign(folded.size(), 0);
  std::fill(e->bs_mul.begin(), e->bs_mul.begin() + op.out_c, static_cast<int16_t>(x.c));
  e->bn_add = true;
  e->bn_operand = static_cast<int32_t>(x.b);
  e->max_error_steps = x.error;
}

// Precise standalone ADD (see DpuEncoding): the BS multiplier scales the
// identity operand x1, the EW stage adds x2 * E exactly after it, OUT_CVT
// rounds v = x1 * C' + x2 * E once. With a unit u = S / 2^SH of v, TFLite's
// ADD is round_half_away(x1 * m1 + x2 * m2) to ~2^-19 steps (TfliteAdd), so
// C' * u ~ m1 and E * u ~ m2 with one S for both. Candidates: every S in
// [2^14, 2^15) (lower where SH is at its limit), at the largest SH that
// keeps C and E in range, with C and E rounded down and up; each has a
// worst-case slope error x1max * |C' u - m1| + x2max * |E u - m2|.
//
// The winner is decided on the input pairs themselves. A candidate whose
// bound is b rounds every pair farther than b from a rounding boundary as
// TFLite does, unless TFLite's own roundings moved that pair off
// round(x1 m1 + x2 m2) (a pseudo-tie, within ~2^-19 of a half step). So
// only the pairs near a boundary and the pseudo-ties are evaluated, with
// the DPU's integer arithmetic, and the candidate with the fewest differing
// pairs (then the smallest bound) wins. That settles exact ties too (equal
// or power-of-two scale ratios), which TFLite rounds away from zero and
// OUT_CVT up: a multiplier a hair too large rounds them away from zero.
Support encode_precise_add(const NpuConv& op, DpuEncoding* e) {
  const TfliteAdd add(op.add_scales.input, op.add_scales.addend, op.add_scales.output);
  const double m1 = add.m1(), m2 = add.m2();
  if (!(m1 > 0) || !(m2 > 0)) return Support::no("ADD multipliers not positive");
  static_assert(kAddIdentityWeight == 1 << 6, "the identity weight is shifted out by the BS shift");
  constexpr int kIdentityShift = 6;
  constexpr int64_t kEwScaleMax = 32767;  // EW_OP_CVT_SCALE below 0x8000 (sign unknown above)
  const int lo1 = -128 - op.in_zp, hi1 = 127 - op.in_zp;
  const int lo2 = -128 - op.addend_zp, hi2 = 127 - op.addend_zp;
  const double x1max = std::max(-lo1, hi1), x2max = std::max(-lo2, hi2);

  struct Split {
    int64_t c = 0, ew = 0, s = 0;
    int k = 0, sh = 0;  // C' = C * 2^k, u = S / 2^SH
    double bound = 0;
  };
  std::vector<Split> splits;
  double best_bound = std::numeric_limits<double>::infinity();
  const double c_max = static_cast<double>(kBsMulMax << kIdentityShift);
  for (int64_t s = int64_t{1} << kMinAddOutScaleBits; s < (int64_t{1} << 15); ++s) {
    const double sd = static_cast<double>(s);
    int sh = std::min({kMaxPreciseOutShift, std::ilogb(c_max * sd / m1), std::ilogb(kEwScaleMax * sd / m2)});
    auto fits = [&](int shift) {
      return std::ldexp(m1, shift) / static_cast<double>(s) <= c_max &&
             std::ldexp(m2, shift) / static_cast<double>(s) <= static_cast<double>(kEwScaleMax);
    };
    while (sh >= 0 && !fits(sh)) --sh;
    // Below 2^14, S at a shift under the limit only repeats 2S one shift up.
    if (sh < 0 || (s < (int64_t{1} << 14) && sh < kMaxPreciseOutShift)) continue;
    const double u = std::ldexp(static_cast<double>(s), -sh);
    const double c_exact = m1 / u, ew_exact = m2 / u;
    int k = 0;
    while (std::ceil(std::ldexp(c_exact, -k)) > static_cast<double>(kBsMulMax)) ++k;
    const double cs = std::ldexp(c_exact, -k);
    for (double c : {std::floor(cs), std::ceil(cs)}) {
      for (double ew : {std::floor(ew_exact), std::ceil(ew_exact)}) {
        if (c < 1 || c > static_cast<double>(kBsMulMax) || ew > static_cast<double>(kEwScaleMax)) continue;
        const double bound = x1max * std::abs(std::ldexp(c, k) * u - m1) + x2max * std::abs(ew * u - m2);
        splits.push_back({static_cast<int64_t>(c), static_cast<int64_t>(ew), s, k, sh, bound});
        best_bound = std::min(best_bound, bound);
      }
    }
  }
  if (splits.empty() || best_bound > kMaxErrorSteps) {
    return Support::no("ADD multipliers outside the BS multiplier's and EW_OP_CVT's ranges");
  }
  // Candidates within `cap`, best bound first; the pairs they may round
  // differently from TFLite.
  const double cap = std::max(kAddCandidateBound, 4 * best_bound);
  std::erase_if(splits, [&](const Split& x) { return x.bound > cap; });
  std::sort(splits.begin(), splits.end(), [](const Split& a, const Split& b) { return a.bound < b.bound; });
  // The pairs within `cap` of a boundary, nearest first (TFLite's
  // pseudo-ties at distance 0): a candidate can only differ on those within
  // its own bound.
  struct Pair {
    double distance;
    int32_t x1, x2, want;
  };
  std::vector<Pair> critical;
  auto clamp_out = [&](int64_t q) {
    return static_cast<int32_t>(std::clamp<int64_t>(q + op.out_zp, op.act_min, op.act_max));
  };
  auto consider = [&](int x1, int x2) {
    const double x = x1 * m1 + x2 * m2;
    const double nearest = std::floor(x + 0.5);
    const double distance = 0.5 - std::abs(x - nearest);
    const int32_t want = clamp_out(add(x1, x2));
    const bool pseudo_tie = want != clamp_out(static_cast<int64_t>(nearest));
    // 1e-9: the double error of x is ~1e-13.
    if (pseudo_tie || distance <= cap + 1e-9) critical.push_back({pseudo_tie ? 0.0 : distance, x1, x2, want});
  };
  if (op.input == op.addend) {
    for (int x = lo1; x <= hi1; ++x) consider(x, x + op.in_zp - op.addend_zp);
  } else {
    for (int x1 = lo1; x1 <= hi1; ++x1) {
      for (int x2 = lo2; x2 <= hi2; ++x2) consider(x1, x2);
    }
  }
  std::sort(critical.begin(), critical.end(), [](const Pair& a, const Pair& b) { return a.distance < b.distance; });
  const Split* best = nullptr;
  int best_off = std::numeric_limits<int>::max();
  for (const Split& x : splits) {
    int off = 0;
    for (const Pair& p : critical) {
      if (p.distance > x.bound + 1e-9 || off >= best_off) break;
      const int64_t v = int64_t{p.x1} * (x.c << x.k) + int64_t{p.x2} * x.ew;
      off += clamp_out(shifted_bound(v * x.s, x.sh)) != p.want;
    }
    if (off < best_off) {
      best_off = off;
      best = &x;
      if (off == 0) break;
    }
  }
  e->bs_multiplier = true;
  e->bs_shift = static_cast<uint32_t>(kIdentityShift - best->k);
  e->bs_mul.assign(static_cast<size_t>(op.out_c_padded()), 0);
  std::fill(e->bs_mul.begin(), e->bs_mul.begin() + op.out_c, static_cast<int16_t>(best->c));
  if (Status st = folded_biases(op, &e->bs_add); !st.ok()) return Support::no(st.message());
  e->ew.scale = static_cast<uint32_t>(best->ew);
  e->ew.shift = 0;
  e->out.scale = static_cast<uint32_t>(best->s);
  e->out.shift = static_cast<uint32_t>(best->sh);
  e->max_error_steps = best->bound;
  e->add_pairs_off = best_off;
  return Support::yes();
}

// Per-channel requantization on the BS multiplier (see DpuEncoding).
//
// Channel c computes (acc + A'[c]) * C[c] * unit + B * g (before the final
// rounding), where acc = sum(x * w) over raw int8 inputs, unit = the OUT_CVT
// gain g / 2^bs_shift and B the BN stage's constant (0 without
// `bn_offset`); TFLite computes (acc + A[c]) * M[c] + delta[c] with A the
// folded bias and delta[c] its rounding offset. C[c] = round(M[c] / unit)
// leaves a slope error d = C[c] * unit - M[c]; A'[c] is then chosen so that
// the error is centred over the accumulators that can still reach an
// unclamped output, which also removes the slope error from the (often
// large) constant A, and so that it carries delta[c] less the common B * g.
Support encode_per_channel(const NpuConv& op, bool bn_offset, DpuEncoding* e) {
  const size_t channels = static_cast<size_t>(op.out_c);
  std::vector<double> m(channels), delta(channels);
  for (size_t c = 0; c < channels; ++c) {
    m[c] = tflite_multiplier(op.channel_multipliers[c]);
    delta[c] = requant_offset(op.channel_multipliers[c], op.rounding_of(static_cast<int>(c)));
  }
  const double m_max = *std::max_element(m.begin(), m.end());
  if (!(m_max > 0.0) || !std::isfinite(m_max)) return Support::no("per-channel multipliers not positive");
  std::vector<int32_t> folded;
  if (Status s = folded_biases(op, &folded); !s.ok()) return Support::no(s.message());
  std::vector<double> acc_max(channels), lo(channels), hi(channels), d(channels);
  for (size_t c = 0; c < channels; ++c) {
    acc_max[c] = 128.0 * weight_abs_sum(op, c);  // |sum(x * w)| for x in [-128, 127]
    const double a = folded[c];
    // Accumulators whose exact output lies within one step of the clamp
    // range; outside it both results clamp (the error stays below one step
    // at the edges and both are monotonic in acc).
    lo[c] = std::clamp((op.act_min - 1 - op.out_zp) / m[c] - a, -acc_max[c], acc_max[c]);
    hi[c] = std::clamp((op.act_max + 1 - op.out_zp) / m[c] - a, -acc_max[c], acc_max[c]);
  }
  // The unit of C: at least the smallest 15-bit-mantissa value that keeps
  // the largest channel's C within int16 (that channel gets ~15 bits), and
  // among the next kUnitCandidates mantissas the one whose rounding of the
  // channels' C leaves the least slope error over their accumulator ranges
  // (the mean error, which the share of one-step differences follows).
  int64_t unit_scale = 0;
  int unit_shift = 0;
  encode_multiplier_up(m_max / static_cast<double>(kBsMulMax), &unit_scale, &unit_shift);
  auto slope_cost = [&](double u) {
    double cost = 0;
    for (size_t c = 0; c < channels; ++c) {
      const double mul = std::clamp<double>(std::round(m[c] / u), 1, kBsMulMax);
      cost += std::abs(mul * u - m[c]) * (hi[c] - lo[c]);
    }
    return cost;
  };
  {
    const int64_t first = unit_scale;
    const int64_t last = std::min(first + kUnitCandidates, (int64_t{1} << CoreConfig::kScaleBits) - 1);
    double best = std::numeric_limits<double>::infinity();
    for (int64_t candidate = first; candidate <= last; ++candidate) {
      const double cost = slope_cost(std::ldexp(static_cast<double>(candidate), -unit_shift));
      if (cost < best) {
        best = cost;
        unit_scale = candidate;
      }
    }
  }
  const double unit = std::ldexp(static_cast<double>(unit_scale), -unit_shift);

  e->bs_mul.assign(static_cast<size_t>(op.out_c_padded()), 0);
  e->bs_add.assign(static_cast<size_t>(op.out_c_padded()), 0);
  for (size_t c = 0; c < channels; ++c) {
    const int64_t mul = std::clamp<int64_t>(std::llround(m[c] / unit), 1, kBsMulMax);
    e->bs_mul[c] = static_cast<int16_t>(mul);
    d[c] = static_cast<double>(mul) * unit - m[c];
  }
  // A' for a common offset (B * g, in output steps); returns the summed
  // error of A's rounding, which each channel's share of mismatches follows.
  std::vector<double> a_error(channels);
  auto choose_a = [&](double common) {
    double total = 0;
    for (size_t c = 0; c < channels; ++c) {
      const double step = static_cast<double>(e->bs_mul[c]) * unit;  // one unit of A, in output steps
      const double target = folded[c] * m[c] - d[c] * (lo[c] + hi[c]) / 2 + delta[c] - common;  // wanted A' * step
      const double add = std::round(target / step);
      e->bs_add[c] = static_cast<int32_t>(std::clamp<double>(add, -kInt32Max, kInt32Max));
      a_error[c] = std::abs(add * step - target);
      total += a_error[c];
    }
    return total;
  };
  // The BN constant is one for all channels, delta[c] depends on each
  // channel's exponent: take the delta that leaves the least for the biases.
  double common = 0;
  if (bn_offset) {
    std::vector<double> candidates = delta;
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    double best = choose_a(0);
    for (double candidate : candidates) {
      const double total = choose_a(candidate);
      if (total < best) {
        best = total;
        common = candidate;
      }
    }
  }
  choose_a(common);
  std::vector<double> slope_error(channels);
  std::vector<int64_t> v_bound(channels);  // max |acc + A'|
  for (size_t c = 0; c < channels; ++c) {
    if (std::abs(static_cast<double>(e->bs_add[c])) + acc_max[c] > static_cast<double>(kInt32Max)) {
      return Support::no("per-channel bias leaves int32 in the BS stage");
    }
    slope_error[c] = std::abs(d[c]) * (hi[c] - lo[c]) / 2 + a_error[c];
    v_bound[c] = static_cast<int64_t>(std::ceil(acc_max[c])) + std::abs(int64_t{e->bs_add[c]});
  }
  // The smallest BS shift that puts the OUT_CVT gain (unit * 2^shift) inside
  // the OUT_CVT shifts we emit and keeps every v1, v2 inside int32 (so the BS
  // stage never saturates); smaller shifts keep more fractional bits in v.
  auto bn_operand = [&](int shift) {
    return bn_offset ? std::llround(common / std::ldexp(unit, shift)) : int64_t{0};
  };
  auto fits = [&](int shift) {
    for (size_t c = 0; c < channels; ++c) {
      const int64_t p = v_bound[c] * e->bs_mul[c];  // < 2^47
      if (shifted_bound(p, shift) + std::abs(bn_operand(shift)) > kInt32Max) return false;
    }
    return true;
  };
  int shift = std::max(0, unit_shift - kMaxPerChannelOutShift);
  while (shift <= kMaxBsShift && !fits(shift)) ++shift;
  if (shift > kMaxBsShift || unit_shift - shift < 0) {
    return Support::no("per-channel multipliers outside the BS multiplier's range");
  }
  e->bs_multiplier = true;
  e->bs_shift = static_cast<uint32_t>(shift);
  e->out.scale = static_cast<uint32_t>(unit_scale);
  e->out.shift = static_cast<uint32_t>(unit_shift - shift);
  e->bn_add = bn_offset;
  e->bn_operand = static_cast<int32_t>(bn_operand(shift));
  // Plus half a unit of v (the BS stage's own rounding) and B's rounding.
  const double g = e->out.value();
  const double b_error = std::abs(e->bn_operand * g - common);
  double worst = 0;
  size_t worst_channel = 0;
  for (size_t c = 0; c < channels; ++c) {
    const double err = slope_error[c] + 0.5 * g + b_error;
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

Status fold_biases(const NpuConv& op, const EncodingOptions& options, std::vector<int32_t>* out) {
  DpuEncoding e;
  const Support ok = encode_dpu(op, options, &e);
  if (!ok.supported) return Status::error(ok.reason);
  if (!e.bs_multiplier) {
    *out = std::move(e.bs_add);
    return {};
  }
  // out_c_padded() is a multiple of 32, so groups are whole.
  const size_t groups = e.bs_add.size() / kBsGroupChannels;
  out->assign(groups * kBsGroupWords, 0);
  for (size_t g = 0; g < groups; ++g) {
    int32_t* w = out->data() + g * kBsGroupWords;
    for (size_t k = 0; k < kBsGroupChannels; ++k) {
      const size_t c = g * kBsGroupChannels + k;
      w[k] = e.bs_add[c];
      // Two int16 per little-endian word, the lower channel in the low half.
      const uint32_t mul = static_cast<uint16_t>(e.bs_mul[c]);
      w[kBsMulWord + k / 2] = static_cast<int32_t>(static_cast<uint32_t>(w[kBsMulWord + k / 2]) |
                                                   mul << (16 * (k % 2)));
    }
  }
  return {};
}

TfliteAdd::TfliteAdd(float scale1, float scale2, float output_scale) {
  // As TFLite prepares it: both inputs onto twice the larger scale, the
  // output multiplier for 20 bits of headroom, in float where TFLite is.
  const double twice_max = static_cast<double>(2.0f * std::max(scale1, scale2));
  q1_ = reference::quantize_multiplier(static_cast<double>(scale1) / twice_max);
  q2_ = reference::quantize_multiplier(static_cast<double>(scale2) / twice_max);
  out_ = reference::quantize_multiplier(twice_max /
                                        static_cast<double>(static_cast<float>(1 << kAddLeftShift) * output_scale));
  auto real = [](const reference::QuantizedMultiplier& q) {
    return std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
  };
  m1_ = std::ldexp(real(q1_) * real(out_), kAddLeftShift);
  m2_ = std::ldexp(real(q2_) * real(out_), kAddLeftShift);
}

int32_t TfliteAdd::operator()(int32_t x1, int32_t x2) const {
  const int32_t a = reference::multiply_by_quantized_multiplier(x1 * (1 << kAddLeftShift), q1_);
  const int32_t b = reference::multiply_by_quantized_multiplier(x2 * (1 << kAddLeftShift), q2_);
  return reference::multiply_by_quantized_multiplier(a + b, out_);
}

double requant_offset(double m, reference::TieRounding rule) {
  if (rule == reference::TieRounding::kSingleUp) return 0.0;
  const reference::QuantizedMultiplier q = reference::quantize_multiplier(m);
  return q.multiplier != 0 && q.shift < 0 ? std::ldexp(1.0, q.shift - 1) : 0.0;
}

double tflite_rounding_offset(double m) { return requant_offset(m, reference::TieRounding::kUp); }

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

namespace {

// What every encoding shares once its requantization is chosen: zero
// points, the EW operand conversion, the activation clamps, the 32-bit
// accumulator bound.
Support finish_encoding(const NpuConv& op, DpuEncoding* e) {
  e->out_offset = op.out_zp;
  e->ow_op = -op.weight_zp;
  if (op.has_addend()) e->ew_offset = -op.addend_zp;
  if (op.has_addend() && !e->bs_multiplier) {
    if (!encode_multiplier(op.addend_multiplier, CoreConfig::kMaxEwShift, &e->ew)) {
      return Support::no("ADD operand scale ratio " + std::to_string(op.addend_multiplier) +
                         " outside the EW_OP_CVT range");
    }
  }
  // Clamps, in units of v2, which OUT_CVT requantizes alone (accumulator
  // units when the BS multiplier is bypassed). ReLU at the output zero
  // point is exactly "v2 >= 0" because requantizing 0 gives 0.
  const bool need_low = op.act_min > -128;
  const bool need_high = op.act_max < 127;
  if ((need_low || need_high) && op.act_min != std::max(-128, op.out_zp)) {
    return Support::no("activation clamp below the output zero point is not expressible");
  }
  e->relu = need_low || need_high;
  if (need_high) {
    // Smallest v2 whose requantized value reaches act_max. With a gain
    // below 1/2 it requantizes to exactly act_max under both
    // round-to-nearest and truncation, so capping there equals clamping the
    // output.
    const double m = e->out.value();
    if (m >= 0.5) return Support::no("ReLU6 clamp needs a requantization multiplier below 0.5");
    const int64_t steps = int64_t{op.act_max} - op.out_zp;
    const int64_t num = steps << e->out.shift;
    const int64_t cap = (num + e->out.scale - 1) / e->out.scale;
    if (cap > std::numeric_limits<int32_t>::max()) return Support::no("ReLU6 cap leaves int32");
    e->relux = true;
    e->relux_cap = static_cast<int32_t>(cap);
  }
  if (accumulator_bound(op) > static_cast<double>(std::numeric_limits<int32_t>::max())) {
    return Support::no("accumulator may exceed 32 bits");
  }
  e->exactness = check_exactness(op, *e);
  return Support::yes();
}

// Precise per-tensor candidates tried for a bit-exact one, closest first;
// each B (TFLite's rounding offset in units of v) also one unit either side.
// A proof costs ~0.1 ms; most layers take the first candidate.
constexpr size_t kPreciseCandidates = 48;

// A CPU rule that rounds negative outputs half away from zero needs the
// rounding offset mirrored below zero, which one BN constant cannot give:
// once a negative output is reachable, every negative level has an
// accumulator value one step off (docs/virtual-rk3588.md §10.1, §11).
bool needs_mirrored_offset(const NpuConv& op) {
  if (op.per_channel() || op.act_min >= op.out_zp) return false;
  if (requant_offset(op.out_multiplier, reference::TieRounding::kUp) <= 0) return false;
  for (int c = 0; c < op.out_c; ++c) {
    if (op.rounding_of(c) == reference::TieRounding::kAwayFromZero) return true;
  }
  return false;
}

Support encode_precise(const NpuConv& op, DpuEncoding* out) {
  std::vector<PreciseSplit> splits;
  if (Support s = precise_splits(op, kPreciseCandidates, &splits); !s.supported) return s;
  std::vector<int32_t> folded;
  if (Status s = folded_biases(op, &folded); !s.ok()) return Support::no(s.message());
  // No candidate can be proven exact then: the search would only cost time.
  if (needs_mirrored_offset(op)) splits.resize(1);
  DpuEncoding best;
  Support best_support = Support::no("no precise encoding");
  for (const PreciseSplit& split : splits) {
    for (int64_t nudge : {0, -1, 1}) {
      PreciseSplit x = split;
      x.b += nudge;
      x.error += std::abs(static_cast<double>(nudge)) * std::ldexp(static_cast<double>(x.s), -x.out_shift);
      DpuEncoding e;
      apply_precise(op, x, folded, &e);
      const Support s = finish_encoding(op, &e);
      if (!s.supported) {
        if (!best_support.supported) best_support = s;
        continue;
      }
      if (!best_support.supported || e.exactness.off < best.exactness.off) {
        best = e;
        best_support = s;
      }
      if (e.exactness.exact()) {
        *out = std::move(best);
        return best_support;
      }
    }
  }
  if (best_support.supported) *out = std::move(best);
  return best_support;
}

// Why an op stays off the NPU under exact_only: what rules out every
// program where that is known (docs/virtual-rk3588.md §11), then the
// chosen encoding's first counterexample.
std::string inexact_reason(const NpuConv& op, const DpuEncoding& e) {
  std::string why;
  if (op.per_channel() && !op.has_addend()) {
    const PerChannelLimit limit = per_channel_limit(op);
    if (limit.impossible_one_shift) why = limit.summary() + "; ";
  } else if (!op.has_addend() && e.bs_multiplier && needs_mirrored_offset(op)) {
    why = "the CPU rounds negative outputs half away from zero, which no single offset follows; ";
  }
  return why + "this encoding: " + e.exactness.summary();
}

}  // namespace

Support encode_dpu(const NpuConv& op, const EncodingOptions& options, DpuEncoding* out) {
  DpuEncoding e;
  const bool precise = options.requant == EncodingOptions::Requant::kPrecise;
  Support s = Support::yes();
  if (op.per_channel()) {
    if (!options.per_channel) {
      return Support::no("int8 per-channel needs the BS multiplier, disabled (EncodingOptions::per_channel off)");
    }
    if (op.has_addend()) return Support::no("element-wise addend with per-channel requantization not implemented");
    s = encode_per_channel(op, precise, &e);
    if (s.supported) s = finish_encoding(op, &e);
  } else if (precise && !op.has_addend()) {
    s = encode_precise(op, &e);
  } else if (precise && op.standalone_add()) {
    s = encode_precise_add(op, &e);
    if (s.supported) s = finish_encoding(op, &e);
    if (!s.supported) {  // scales beyond its ranges: Mesa's form still may fit
      e = DpuEncoding{};
      s = encode_out_cvt(op, &e);
      if (s.supported) s = finish_encoding(op, &e);
    }
  } else {
    // Fused ADDs (lowered only with the OUT_CVT-only encoding) and kOutCvt.
    s = encode_out_cvt(op, &e);
    if (s.supported) s = finish_encoding(op, &e);
  }
  if (!s.supported) return s;
  if (options.exact_only && !e.exactness.exact()) {
    return Support::no("not bit-exact on the NPU: " + inexact_reason(op, e) + " (the op runs there with the exact=0 option)");
  }
  *out = std::move(e);
  return Support::yes();
}

}  // namespace nonstick::rocket
