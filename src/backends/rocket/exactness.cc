#include "backends/rocket/exactness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <tuple>

#include "backends/reference/conv_util.h"
#include "backends/reference/fixed_point.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"

namespace nonstick::rocket {
namespace {

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

int64_t sat32(int64_t v) { return std::clamp(v, kInt32Min, kInt32Max); }

// Right shift rounding half up (OUT_CVT) or half to even (the BS
// multiplier), as the DPU model has them (docs/virtual-rk3588.md §5, §9).
int64_t shift_half_up(int64_t v, unsigned shift) {
  return shift == 0 ? v : (v + (int64_t{1} << (shift - 1))) >> shift;
}
int64_t shift_half_even(int64_t v, unsigned shift) {
  if (shift == 0) return v;
  const int64_t half = int64_t{1} << (shift - 1);
  const int64_t rem = v & ((int64_t{1} << shift) - 1);
  const int64_t q = v >> shift;
  return rem > half || (rem == half && (q & 1)) ? q + 1 : q;
}

// The first x in [lo, hi] where `reached` turns true (it stays true above),
// or hi + 1.
template <typename Predicate>
int64_t first_where(int64_t lo, int64_t hi, const Predicate& reached) {
  int64_t below = lo - 1, above = hi + 1;
  while (above - below > 1) {
    const int64_t mid = below + (above - below) / 2;
    (reached(mid) ? above : below) = mid;
  }
  return above;
}

// TFLite's output of channel c as a function of its accumulator T.
struct CpuChannel {
  CpuChannel(const NpuConv& op, int c) : op(op) {
    q = reference::quantize_multiplier(op.per_channel() ? op.channel_multipliers[static_cast<size_t>(c)]
                                                        : op.out_multiplier);
    rule = op.rounding_of(c);
  }
  int32_t operator()(int64_t t) const {
    const int32_t r = reference::requantize_accumulator(static_cast<int32_t>(t), q, rule);
    return static_cast<int32_t>(std::clamp<int64_t>(int64_t{r} + op.out_zp, op.act_min, op.act_max));
  }
  // The first T in [lo, hi] whose output is at least `level` (hi + 1 if none).
  int64_t first_reaching(int32_t level, int64_t lo, int64_t hi) const {
    return first_where(lo, hi, [&](int64_t t) { return (*this)(t) >= level; });
  }
  const NpuConv& op;
  reference::QuantizedMultiplier q;
  reference::TieRounding rule = reference::TieRounding::kUp;
};

// One distinct requantization: channels sharing it share both functions
// of T, so they are walked once over the union of their ranges.
struct Channel {
  reference::QuantizedMultiplier q;
  reference::TieRounding rule = reference::TieRounding::kUp;
  int64_t a_shift = 0;  // bs_add - folded bias: what the DPU adds to T
  int64_t c = 0;        // BS multiplier (0 when bypassed)
  int64_t lo = 0, hi = 0;
  int first_channel = 0;
};

// The DPU output of channel `ch` for accumulator t, as this compiler
// programs it (coefs.h: DpuEncoding).
int32_t dpu_output(const DpuEncoding& e, const Channel& ch, int64_t t) {
  int64_t v = t + ch.a_shift;
  if (e.bs_multiplier) v = sat32(shift_half_even(v * ch.c, e.bs_shift));
  if (e.bn_add) v = sat32(v + e.bn_operand);
  if (e.relu) v = std::max<int64_t>(v, 0);
  if (e.relux) v = std::min<int64_t>(v, e.relux_cap);
  const int64_t q = shift_half_up(v * e.out.scale, e.out.shift) + e.out_offset;
  return static_cast<int32_t>(std::clamp<int64_t>(q, -128, 127));
}

// Compares one channel's CPU function with a non-decreasing device
// function `npu` of T over [lo, hi].
template <typename Device>
class Walk {
 public:
  Walk(const NpuConv& op, int channel, int64_t lo, int64_t hi, const Device& npu)
      : op_(op), channel_(channel), lo_(lo), hi_(hi), npu_(npu), cpu_(op, channel) {
    m_ = std::ldexp(static_cast<double>(cpu_.q.multiplier), cpu_.q.shift - 31);
  }

  int32_t cpu(int64_t t) const { return cpu_(t); }
  int32_t npu(int64_t t) const { return npu_(t); }

  void run(Exactness* x) {
    int64_t t = lo_;
    while (t <= hi_) {
      const int32_t y = cpu(t);
      const int64_t next = first_cpu_above(t, y);
      compare_level(t, next - 1, y, x);
      t = next;
    }
    x->accumulators += hi_ - lo_ + 1;
  }

 private:
  // The first accumulator in (t, hi] whose CPU output exceeds y (= cpu(t)),
  // or hi + 1: bracketed around the real crossing point, then bisected.
  int64_t first_cpu_above(int64_t t, int32_t y) const {
    const int64_t end = hi_ + 1;
    if (y >= op_.act_max) return end;
    const double crossing = (y + 0.5 - op_.out_zp) / m_;
    int64_t guess = std::isfinite(crossing) && std::abs(crossing) < 4e18 ? std::llround(crossing) : end;
    guess = std::clamp(guess, t + 1, end);
    int64_t below = t, above = end;  // cpu(below) <= y < cpu(above) (end: by definition)
    if (guess < end && cpu(guess) <= y) {
      below = guess;
      for (int64_t step = 1; below + step < end; step *= 2) {
        if (cpu(below + step) > y) {
          above = below + step;
          break;
        }
        below += step;
      }
    } else {
      above = guess;
      for (int64_t step = 1; above - step > t; step *= 2) {
        if (cpu(above - step) <= y) {
          below = above - step;
          break;
        }
        above -= step;
      }
    }
    while (above - below > 1) {
      const int64_t mid = below + (above - below) / 2;
      (mid < end && cpu(mid) > y ? above : below) = mid;
    }
    return above;
  }

  // The first t in [lo, hi] with npu(t) >= y (or > y when `strictly`), or
  // hi + 1.
  int64_t first_npu_reaching(int64_t lo, int64_t hi, int32_t y, bool strictly) const {
    return first_where(lo, hi, [&](int64_t t) { return strictly ? npu(t) > y : npu(t) >= y; });
  }

  // Over [s, e] the CPU gives y; the NPU, non-decreasing, can differ only
  // on a prefix (below y) and a suffix (above it).
  void compare_level(int64_t s, int64_t e, int32_t y, Exactness* x) const {
    const int32_t first = npu(s), last = npu(e);
    if (first == y && last == y) return;
    const int64_t low_end = first < y ? first_npu_reaching(s, e, y, false) : s;
    const int64_t high_start = last > y ? first_npu_reaching(s, e, y, true) : e + 1;
    const int64_t off = (low_end - s) + (e + 1 - high_start);
    if (off == 0) return;
    if (x->off == 0 || x->channel < 0) {
      const int64_t at = low_end > s ? s : high_start;
      x->channel = channel_;
      x->accumulator = at;
      x->npu = npu(at);
      x->cpu = y;
    }
    x->off += off;
    x->max_steps = std::max({x->max_steps, y - first, last - y});
  }

  const NpuConv& op_;
  int channel_;
  int64_t lo_, hi_;
  const Device& npu_;
  CpuChannel cpu_;
  double m_ = 0;
};

}  // namespace

void accumulator_range(const NpuConv& op, int c, int64_t* lo, int64_t* hi) {
  const int64_t x_lo = -128 - int64_t{op.in_zp}, x_hi = 127 - int64_t{op.in_zp};
  const size_t window = static_cast<size_t>(op.kernel_h) * op.kernel_w * (op.depthwise ? 1 : op.in_c);
  int64_t a = op.bias[static_cast<size_t>(c)], b = a;
  for (size_t k = 0; k < window; ++k) {
    const size_t i = op.depthwise ? k * op.in_c + static_cast<size_t>(c) : static_cast<size_t>(c) * window + k;
    const int64_t d = int64_t{op.weights[i]} - op.weight_zp;
    a += std::min(d * x_lo, d * x_hi);
    b += std::max(d * x_lo, d * x_hi);
  }
  *lo = std::max(a, kInt32Min);
  *hi = std::min(b, kInt32Max);
}

void walk_channel(const NpuConv& op, int channel, int64_t lo, int64_t hi,
                  const std::function<int32_t(int64_t)>& device, Exactness* x) {
  const int64_t before = x->off;
  Walk<std::function<int32_t(int64_t)>>(op, channel, lo, hi, device).run(x);
  if (x->off > before) ++x->channels_off;
}

Exactness check_exactness(const NpuConv& op, const DpuEncoding& e) {
  Exactness x;
  if (op.standalone_add() && e.bs_multiplier) {
    x.checked = x.pairs = true;
    x.accumulators = op.input == op.addend ? 256 : 65536;
    x.off = e.add_pairs_off;
    x.max_steps = x.off ? 1 : 0;
    return x;
  }
  if (op.has_addend()) return x;
  std::vector<int32_t> folded;
  if (!folded_biases(op, &folded).ok()) return x;
  x.checked = true;
  using Key = std::tuple<int32_t, int, int, int64_t, int64_t>;
  std::map<Key, Channel> distinct;
  for (int c = 0; c < op.out_c; ++c) {
    const auto i = static_cast<size_t>(c);
    Channel ch;
    ch.q = reference::quantize_multiplier(op.per_channel() ? op.channel_multipliers[i] : op.out_multiplier);
    ch.rule = op.rounding_of(c);
    ch.a_shift = int64_t{e.bs_add[i]} - folded[i];
    ch.c = e.bs_multiplier ? e.bs_mul[i] : 0;
    accumulator_range(op, c, &ch.lo, &ch.hi);
    ch.first_channel = c;
    const Key key{ch.q.multiplier, ch.q.shift, static_cast<int>(ch.rule), ch.a_shift, ch.c};
    auto [it, fresh] = distinct.emplace(key, ch);
    if (!fresh) {
      it->second.lo = std::min(it->second.lo, ch.lo);
      it->second.hi = std::max(it->second.hi, ch.hi);
    }
  }
  for (const auto& [key, ch] : distinct) {
    const int64_t before = x.off;
    const auto device = [&e, &ch = ch](int64_t t) { return dpu_output(e, ch, t); };
    Walk<decltype(device)>(op, ch.first_channel, ch.lo, ch.hi, device).run(&x);
    if (x.off > before) ++x.channels_off;
  }
  return x;
}

namespace {

constexpr int64_t kMaxMultiplier = 32768;  // |int16|
constexpr size_t kMaxPieces = size_t{1} << 20;

// Appends [a, b] to increasing closed intervals, merging it with the last
// one when they touch (for large C a channel's intervals overlap into one).
void add_piece(std::vector<std::pair<int64_t, int64_t>>* pieces, int64_t a, int64_t b) {
  if (!pieces->empty() && a <= pieces->back().second + 1) {
    pieces->back().second = std::max(pieces->back().second, b);
  } else {
    pieces->emplace_back(a, b);
  }
}

}  // namespace

CommonScale common_scale(const std::vector<std::pair<int64_t, int>>& spans, std::vector<int>* witness) {
  std::vector<std::pair<int64_t, int>> order;
  for (const auto& s : spans) {
    if (s.first > 1) order.push_back(s);  // a span of 1 allows every X up to 2 * 32768: left out
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  using Piece = std::pair<int64_t, int64_t>;  // closed X interval
  std::vector<Piece> pieces{{1, std::numeric_limits<int64_t>::max()}}, next;
  witness->clear();
  for (const auto& [span, channel] : order) {
    witness->push_back(channel);
    // From C = (span - 1) / 2 on, consecutive intervals touch: one piece.
    const int64_t merged_from = std::max<int64_t>(1, (span - 1) / 2);
    next.clear();
    for (const Piece& p : pieces) {
      const int64_t c_lo = std::max<int64_t>(1, (p.first + span) / (span + 1));  // ceil(p.first / (span + 1))
      const int64_t c_hi = std::min(kMaxMultiplier, p.second / (span - 1));
      for (int64_t c = c_lo; c <= std::min(c_hi, merged_from - 1); ++c) {
        const int64_t a = std::max(p.first, (span - 1) * c), b = std::min(p.second, (span + 1) * c);
        if (a <= b) add_piece(&next, a, b);
      }
      const int64_t c_merged = std::max(c_lo, merged_from);
      if (c_merged <= c_hi) {
        const int64_t a = std::max(p.first, (span - 1) * c_merged), b = std::min(p.second, (span + 1) * c_hi);
        if (a <= b) add_piece(&next, a, b);
      }
      if (next.size() > kMaxPieces) return CommonScale::kTooManyToFollow;
    }
    pieces.swap(next);
    if (pieces.empty()) return CommonScale::kNone;
  }
  return CommonScale::kMayExist;
}

PerChannelLimit per_channel_limit(const NpuConv& op) {
  PerChannelLimit r;
  if (!op.per_channel() || op.has_addend()) {
    r.undecided = "not a per-channel convolution";
    return r;
  }
  // Each channel's reachable accumulators and the levels TFLite changes to
  // inside them.
  struct Range {
    int64_t lo = 0, hi = 0;
    int32_t first = 0, last = 0;  // levels whose boundary lies in (lo, hi]
  };
  std::vector<Range> ranges(static_cast<size_t>(op.out_c));
  std::vector<int32_t> firsts, lasts;
  for (int c = 0; c < op.out_c; ++c) {
    Range& g = ranges[static_cast<size_t>(c)];
    accumulator_range(op, c, &g.lo, &g.hi);
    const CpuChannel cpu(op, c);
    g.first = cpu(g.lo) + 1;
    g.last = cpu(g.hi);
    if (g.last >= g.first) {
      firsts.push_back(g.first);
      lasts.push_back(g.last);
    }
  }
  if (firsts.size() < 2) {
    r.undecided = "fewer than two channels change level";
    return r;
  }
  // Levels most channels reach: the medians of where their ranges start
  // and end.
  std::nth_element(firsts.begin(), firsts.begin() + firsts.size() / 2, firsts.end());
  std::nth_element(lasts.begin(), lasts.begin() + lasts.size() / 2, lasts.end());
  r.level_low = firsts[firsts.size() / 2];
  r.level_high = lasts[lasts.size() / 2];
  if (r.level_high - r.level_low < 2) {
    r.undecided = "too few output levels in common";
    return r;
  }
  r.level_mid = r.level_low + (r.level_high - r.level_low) / 2;

  // True when no program can move every channel spanning levels k1..k2
  // between them as TFLite does, under any CORE truncation t (with t the
  // spans are multiples of 2^t, compared in units of 2^t). *witness: the
  // channels that already leave no common scale (t = 0).
  auto pair_impossible = [&](int32_t k1, int32_t k2, std::vector<int>* witness) {
    std::vector<std::pair<int64_t, int>> spans;
    for (int c = 0; c < op.out_c; ++c) {
      const Range& g = ranges[static_cast<size_t>(c)];
      if (g.first > k1 || g.last < k2) continue;
      const CpuChannel cpu(op, c);
      spans.emplace_back(cpu.first_reaching(k2, g.lo, g.hi) - cpu.first_reaching(k1, g.lo, g.hi), c);
    }
    if (spans.size() < 2) {
      r.undecided = "fewer than two channels span levels " + std::to_string(k1) + " to " + std::to_string(k2);
      return false;
    }
    std::vector<int> at_t;
    for (int t = 0; t < 32; ++t) {
      std::vector<std::pair<int64_t, int>> scaled;
      for (const auto& [span, c] : spans) {
        if (span % (int64_t{1} << t) != 0) return true;  // no truncation this wide or wider
        scaled.emplace_back(span >> t, c);
      }
      switch (common_scale(scaled, &at_t)) {
        case CommonScale::kNone: break;
        case CommonScale::kMayExist:
          r.undecided = "a common scale may exist for levels " + std::to_string(k1) + " to " + std::to_string(k2);
          return false;
        case CommonScale::kTooManyToFollow: r.undecided = "too many candidate scales to follow"; return false;
      }
      if (t == 0) *witness = at_t;
    }
    return true;
  };
  std::vector<int> whole;
  r.impossible_one_shift = pair_impossible(r.level_low, r.level_high, &whole);
  if (!r.impossible_one_shift) return r;
  r.impossible = pair_impossible(r.level_low, r.level_mid, &r.channels_low) &&
                 pair_impossible(r.level_mid, r.level_high, &r.channels_high);
  if (!r.impossible) {
    r.channels_low = whole;  // the one-shift witness
    r.channels_high.clear();
  }
  r.undecided.clear();
  return r;
}

std::string PerChannelLimit::summary() const {
  // "channels 59,0,5,22 (+43)": the most constraining first.
  auto list = [](const std::vector<int>& channels) {
    constexpr size_t kShown = 4;
    std::string s = channels.size() == 1 ? "channel " : "channels ";
    for (size_t i = 0; i < channels.size() && i < kShown; ++i) s += (i ? "," : "") + std::to_string(channels[i]);
    if (channels.size() > kShown) s += " (+" + std::to_string(channels.size() - kShown) + ")";
    return s;
  };
  auto levels = [](int a, int b) { return "levels " + std::to_string(a) + ".." + std::to_string(b); };
  const std::string cannot = ": one scale and int16 multipliers cannot give ";
  if (impossible) {
    return "no per-channel program can be exact" + cannot + list(channels_low) + " TFLite's spacing of " +
           levels(level_low, level_mid) + ", nor " + list(channels_high) + " that of " + levels(level_mid, level_high);
  }
  if (impossible_one_shift) {
    return "no per-channel program with one BS shift can be exact" + cannot + list(channels_low) +
           " TFLite's spacing of " + levels(level_low, level_high) + " (sign-split shifts, unmodelled, not ruled out)";
  }
  return "whether a per-channel program can be exact is undecided: " + undecided;
}

std::string Exactness::summary() const {
  if (!checked) return "exactness not checked (element-wise operand in the OUT_CVT-only form)";
  char text[200];
  if (pairs) {
    if (off == 0) {
      std::snprintf(text, sizeof text, "bit-exact over all %lld input pairs", static_cast<long long>(accumulators));
    } else {
      std::snprintf(text, sizeof text, "%lld of %lld input pairs one step off", static_cast<long long>(off),
                    static_cast<long long>(accumulators));
    }
  } else if (off == 0) {
    std::snprintf(text, sizeof text, "bit-exact over all %lld accumulator values its weights allow",
                  static_cast<long long>(accumulators));
  } else {
    std::snprintf(text, sizeof text,
                  "%lld of %lld accumulator values %d step%s off (first: channel %d, accumulator %lld: NPU %d, CPU %d as int8)",
                  static_cast<long long>(off), static_cast<long long>(accumulators), max_steps,
                  max_steps == 1 ? "" : "s", channel, static_cast<long long>(accumulator), npu, cpu);
  }
  return text;
}

}  // namespace nonstick::rocket
