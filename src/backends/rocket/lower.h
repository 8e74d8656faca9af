// Lowering: IR operations -> operations as the RK3588 NPU runs them.
//
// Everything the NPU runs here is one convolution (dense or depthwise) whose
// DPU post-processing can add a second tensor:
//   CONV_2D                 -> dense convolution
//   DEPTHWISE_CONV_2D       -> depthwise convolution (multiplier 1, C > 1), or
//                              a dense one with block-diagonal weights
//   FULLY_CONNECTED         -> 1x1 dense convolution over the rows
//   ADD                     -> an identity 1x1 convolution of one operand plus
//                              the other through the DPU's element-wise stage;
//                              with the OUT_CVT-only encoding, fused into the
//                              convolution producing one operand when that is
//                              exact within one step.
// All values are in the NPU's signed int8 domain: uint8 tensors are moved
// there by subtracting 128 (rocket.md §3.8); int8 tensors are used as is.
// Int8 per-channel filters keep one multiplier per output channel
// (channel_multipliers), requantized on the DPU's BS multiplier (coefs.h).
//
// Geometry uses the NHWC axes directly: width = dims[2] (the contiguous
// axis), height = dims[1] (Mesa swaps them; rocket.md §3.6).
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/reference/conv_util.h"
#include "backends/rocket/encoding.h"
#include "ir/graph.h"

namespace nonstick::rocket {

// Weight of the identity convolution a standalone ADD runs on its first
// operand: the accumulator holds 64 * (a - a_zp), six fractional bits below
// a's step, so the OUT_CVT-only encoding's addend conversion rounds far
// below one output step; a power of two, so the precise encoding's BS
// shift can take it out exactly.
constexpr int kAddIdentityWeight = 64;

struct NpuConv {
  std::vector<int> source_ops;  // graph op indices this operation implements
  std::string label;            // e.g. "CONV_2D#3", "CONV_2D#3+ADD#4", "ADD#7"
  bool depthwise = false;       // NPU depthwise mode (in_c == out_c)

  int input = -1;   // graph tensor indices
  int output = -1;
  int in_w = 1, in_h = 1, in_c = 1;
  int out_w = 1, out_h = 1, out_c = 1;
  int kernel_w = 1, kernel_h = 1;
  int stride_w = 1, stride_h = 1;
  int pad_left = 0, pad_top = 0;  // right/bottom follow from the sizes

  // Signed-domain weights: dense [out_c][kh][kw][in_c], depthwise [kh][kw][c].
  std::vector<int8_t> weights;
  std::vector<int32_t> bias;  // TFLite's int32 bias per output channel (0 if absent)

  // Zero points in the signed domain.
  int32_t in_zp = 0, weight_zp = 0, out_zp = 0;
  // Real value of one accumulator unit (s_in * s_w), and output steps per
  // accumulator unit (acc_scale / s_out). For a per-channel op, acc_scale is
  // unused (0) and out_multiplier is the largest channel multiplier.
  double acc_scale = 0;
  double out_multiplier = 0;
  // Per-channel requantization (int8 filter, one scale per output channel,
  // all zero points 0): output steps per accumulator unit of each output
  // channel, s_in * s_w[c] / s_out as TFLite forms it. Empty for per-tensor
  // ops. Encoded on the DPU's BS multiplier (coefs.h, encode_dpu).
  std::vector<double> channel_multipliers;
  // How the CPU runtime (EncodingOptions::numerics) rounds each output
  // channel's requantization, from the reference kernels; empty means
  // TFLite 2.9 x86's ruy rule (kUp) everywhere. ADDs leave it empty.
  std::vector<reference::TieRounding> rounding;
  // Output clamp in the signed domain; [-128, 127] means none.
  int32_t act_min = -128, act_max = 127;

  // Fused element-wise addend: before requantization the DPU adds
  // addend_multiplier * (addend - addend_zp) (in accumulator units).
  int addend = -1;  // graph tensor index; -1 when none
  int32_t addend_zp = 0;
  double addend_multiplier = 0;
  // A standalone ADD (identity convolution of `input`, weight
  // kAddIdentityWeight, plus `addend`): TFLite's scales of the two operands
  // and the output, from which the precise encoding reproduces TFLite's ADD
  // arithmetic (coefs.h). All 0 for every other op, fused ADDs included.
  struct AddScales {
    float input = 0, addend = 0, output = 0;
  } add_scales;

  bool has_addend() const { return addend >= 0; }
  bool standalone_add() const { return add_scales.output > 0; }
  bool per_channel() const { return !channel_multipliers.empty(); }
  reference::TieRounding rounding_of(int channel) const {
    return rounding.empty() ? reference::TieRounding::kUp : rounding[static_cast<size_t>(channel)];
  }
  // Output channels the DPU writes (whole groups).
  int out_c_padded() const;
  // Multiply-accumulates the NPU performs (real channels).
  uint64_t macs() const;
};

// Lowers one op of `graph` on its own (an ADD becomes the identity form),
// checking that it encodes under `options`. The same function answers
// Backend::supports() and feeds compilation, so with the same options a
// supported op always compiles. On refusal the Support carries the reason;
// on success its note is the encoding's exactness proof (exactness.h).
Support lower_op(const ir::Graph& graph, const ir::Operation& op, int op_index, const EncodingOptions& options,
                 NpuConv* out);

// Lowers a whole partition in execution order and, with the OUT_CVT-only
// encoding, fuses ADDs into their producing convolution where that is exact
// within one output step.
Status lower_graph(const ir::Graph& graph, const EncodingOptions& options, std::vector<NpuConv>* ops);

// Why an ADD cannot be fused into `conv` under `options` (empty when it
// can). Precise requantization never fuses: the fused form skips TFLite's
// rounding of the convolution's output, the separate ADD is exact.
// Exposed for tests.
std::string fusion_blocker(const ir::Graph& graph, const NpuConv& conv, const NpuConv& add,
                           const EncodingOptions& options);
// `conv` with the lowered ADD `add` (one operand being conv's output) folded
// into its DPU stage; does not check fusion_blocker().
NpuConv fuse_add(const ir::Graph& graph, const NpuConv& conv, const NpuConv& add);

// Pixels x channels of a tensor as the NPU stores it (NC1HWC2): channels =
// the last dimension, pixels = everything else. Layout depends only on these.
struct FeatureShape {
  int64_t pixels = 1;
  int channels = 1;
};
FeatureShape feature_shape(const ir::Tensor& t);

}  // namespace nonstick::rocket
