// Compile-time proof that one encoded NPU convolution gives the CPU's answer
// for every input (docs/virtual-rk3588.md §11).
//
// A convolution's output channel is a function of one integer, TFLite's
// accumulator T (bias and zero points included), and both the CPU's
// requantization and the DPU's are non-decreasing in T. So they agree on
// every T an input can produce exactly when they change level at the same
// accumulators: at most 256 places per channel, each found with a handful
// of evaluations. No sampling, no test inputs: the check covers the whole
// input space of the op, against the DPU arithmetic this compiler targets
// (itself a model, unverified on an RK3588 where docs §9-§10 say so).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace nonstick::rocket {

struct NpuConv;
struct DpuEncoding;

struct Exactness {
  // False for encodings the check does not cover: fused ADDs and
  // standalone ADDs in the OUT_CVT-only form. Standalone precise ADDs are
  // checked pair by pair by their encoder (DpuEncoding::add_pairs_off);
  // then `pairs` is set and the counts below are of input pairs.
  bool checked = false;
  bool pairs = false;
  // Accumulator values checked, summed over output channels (each channel
  // over the range its weights and bias allow), and how many of them give
  // an output other than the CPU's (never by more than max_steps).
  int64_t accumulators = 0;
  int64_t off = 0;
  int max_steps = 0;
  int channels_off = 0;
  // The first differing case, for the report.
  int channel = -1;
  int64_t accumulator = 0;
  int32_t npu = 0, cpu = 0;  // outputs in the signed domain

  bool exact() const { return checked && off == 0; }
  // One line: "bit-exact over N accumulator values" or
  // "K of N accumulator values one step off (first: channel c, T = t: NPU
  // y, CPU z)".
  std::string summary() const;
};

// Checks `e` (from encode_dpu) for `op` against the CPU arithmetic the
// encoding targets: TFLite's requantization with op.rounding_of(c) per
// channel, the zero point and the fused activation clamp.
Exactness check_exactness(const NpuConv& op, const DpuEncoding& e);

// The pieces check_exactness is made of, for programs this compiler did not
// emit (tools/rocket_mesa_diff proves Mesa's captured streams with them):
// the accumulators channel c can reach (TFLite's sum over every int8
// input, bias included; clamped to int32), and one channel's walk of any
// non-decreasing `device` output of T against the CPU's, over [lo, hi],
// added to *x (x->checked is the caller's to set).
void accumulator_range(const NpuConv& op, int c, int64_t* lo, int64_t* hi);
void walk_channel(const NpuConv& op, int channel, int64_t lo, int64_t hi,
                  const std::function<int32_t(int64_t)>& device, Exactness* x);

// Whether any per-channel program of the DPU could be exact for `op`, not
// just the one the encoder chose (docs/virtual-rk3588.md §11.2). The form
// covered: per channel an int32 offset and an int16 multiplier C[c] in the
// BS stage (one shift, or separate shifts for negative products); then any
// per-tensor monotone chain (BN constant or multiplier, clamps, OUT_CVT
// scale, shift and offset); per-channel BN offsets too, with one BS shift;
// CORE truncation of any width. Such a program moves channel c's output
// from level k1 to k2 when v1 crosses the same two thresholds in every
// channel, D units of v1 apart; so some integer X = D * 2^shift satisfies
// (span_c - 1) * |C[c]| <= X <= (span_c + 1) * |C[c]| for every channel,
// span_c being the accumulator distance TFLite puts between the two
// levels. If no X does for a set of channels, no program does.
struct PerChannelLimit {
  // No program with one BS shift (the form this compiler and the virtual
  // NPU use): the levels low and high compared.
  bool impossible_one_shift = false;
  // Not even with separate shifts for negative products: the pairs (low,
  // mid) and (mid, high) compared, one of which lies on one side of v1 = 0
  // whatever the program.
  bool impossible = false;
  int level_low = 0, level_mid = 0, level_high = 0;  // outputs, signed domain
  // The channels whose spacings no common X fits: for the pairs, or
  // (channels_low alone) for low..high when only impossible_one_shift.
  std::vector<int> channels_low, channels_high;
  // Why the question stays open, when it does.
  std::string undecided;
  std::string summary() const;
};
PerChannelLimit per_channel_limit(const NpuConv& op);
// The search behind it: is there an integer X with
// (span - 1) * C <= X <= (span + 1) * C for some C in [1, 32768], for every
// (span, channel) at once? kNone: no (*witness gets the channels, most
// constraining first, that already leave none); kTooManyToFollow: the
// candidate set grew past a million intervals, nothing is claimed.
enum class CommonScale { kNone, kMayExist, kTooManyToFollow };
CommonScale common_scale(const std::vector<std::pair<int64_t, int>>& spans, std::vector<int>* witness);

}  // namespace nonstick::rocket
