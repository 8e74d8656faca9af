// Constant data and quantization encodings of one NPU convolution:
// weights in the CNA's packed layout, biases with the zero points folded in,
// and the DPU's fixed-point multipliers and clamps (rocket.md §3.2-3.5, 3.7).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/backend.h"
#include "backends/reference/fixed_point.h"
#include "backends/rocket/encoding.h"
#include "backends/rocket/exactness.h"
#include "backends/rocket/lower.h"

namespace nonstick::rocket {

// Weights as the CNA reads them from DCOMP_ADDR0 (signed int8 bytes):
//   dense:     for each group of 32 kernels, for each group of 32 input
//              channels, for ky, for kx, for each kernel of the group, for
//              each channel of the group (channels padded to a multiple of
//              16 with the weight zero point; an odd kernel count gets one
//              all-zero kernel);
//   depthwise: for each group of 64 channels, for ky, for kx, the channels.
// Checked byte for byte against Mesa's captured weight BOs.
std::vector<uint8_t> pack_weights(const NpuConv& op);
// Bytes of pack_weights() without building it (WEIGHT_SIZE0).
int64_t packed_weight_bytes(const NpuConv& op);
// Kernels the CNA is told about (WEIGHT_KERNELS): 1 for depthwise, else out_c
// rounded up to even.
int weight_kernels(const NpuConv& op);
// Input channels as the CNA reads them: in_c rounded up to 16 (min 16).
int padded_in_channels(const NpuConv& op);

// Per output channel (out_c_padded() entries, zeros past out_c): the bias with
// the input zero point folded in, bias - in_zp * sum(w - w_zp), so that
// sum(x * w) + (-w_zp) * sum(x) + folded == TFLite's accumulator.
// Fails when a folded value leaves int32.
Status folded_biases(const NpuConv& op, std::vector<int32_t>* out);

// The BRDMA operand stream at RDMA_BS_BASE_ADDR for `op` encoded under
// `options` (encode_dpu), as little-endian 32-bit words:
//   BS multiplier bypassed (BRDMA_DATA_USE 1): DpuEncoding::bs_add, one word
//     per channel;
//   BS multiplier live (BRDMA_DATA_USE 7): per group of 8 output channels,
//     64 bytes: int32 A[8] (bs_add) at byte 0, int16 B[8] (per-channel OW
//     operand, 0: unused) at 32, int16 C[8] (bs_mul) at 48.
// The data-use-7 layout is a third-party claim (docs/virtual-rk3588.md §9).
Status fold_biases(const NpuConv& op, const EncodingOptions& options, std::vector<int32_t>* out);

// A real multiplier as mantissa * 2^-shift, mantissa in [2^14, 2^15), rounded
// to nearest and renormalised when rounding carries.
struct FixedMultiplier {
  uint32_t scale = 0;
  uint32_t shift = 0;
  double value() const;
};
// False when `m` needs a shift outside [0, max_shift].
bool encode_multiplier(double m, int max_shift, FixedMultiplier* out);

// The rounding offset that makes one half-up rounding of acc * M + offset
// (OUT_CVT's rounding) reproduce a CPU kernel's requantization by the
// multiplier M = `m` (reference::quantize_multiplier of it) under `rule`, in
// output steps (docs/virtual-rk3588.md §10.2):
//  - kUp (TFLite 2.9's ruy on x86, arm64's GEMV and 3x3 depthwise): two
//    roundings, of acc * M0 / 2^31 and then of the right shift r, are
//    exactly one half-up rounding of acc * M + 2^-(r+1);
//  - kAwayFromZero (2.9's own helper: depthwise on x86): the same for
//    outputs >= 0; negative ones are acc * M - 2^-(r+1) rounded half up, which
//    one constant cannot follow (a share 2^-r of negative outputs differs);
//  - kSingleUp (ruy on arm64): acc * M rounded once: 0;
//  - kUpLeftShiftLast (arm64 int8 3x3 depthwise): as kUp without a left
//    shift; with one (M >= 1) the output is a multiple of 2^shift, which no
//    offset gives: 0, the nearest rounding.
// 0 when there is no right shift.
double requant_offset(double m, reference::TieRounding rule);
// requant_offset(m, kUp): TFLite 2.9 x86's CONV_2D and FULLY_CONNECTED.
double tflite_rounding_offset(double m);

// TFLite 2.9's quantized ADD of two uint8/int8 inputs as its reference and
// optimized kernels compute it (and the reference backend does): each input
// (x - zp) << 20 times its own Q31 multiplier, the two summed, the sum
// times the output multiplier, each product rounded twice (the last shift
// half away from zero). operator() takes the centred inputs and returns the
// result before the output zero point and the clamp.
class TfliteAdd {
 public:
  TfliteAdd(float scale1, float scale2, float output_scale);
  int32_t operator()(int32_t x1, int32_t x2) const;
  // The linear map the three roundings approximate, in output steps per
  // input step: with 20 bits of headroom TFLite's ADD is
  // round_half_away(x1 * m1() + x2 * m2()) to ~2^-19 steps.
  double m1() const { return m1_; }
  double m2() const { return m2_; }

 private:
  reference::QuantizedMultiplier q1_, q2_, out_;
  double m1_ = 0, m2_ = 0;
};

// Everything the DPU needs beyond geometry and addresses. The stages, in
// order (docs/virtual-rk3588.md §4, §9, §10):
//   BS:      v1 = acc + bs_add[c]                    (multiplier bypassed)
//            v1 = sat32(rne((acc + bs_add[c]) * bs_mul[c] >> bs_shift))
//   BN:      v2 = sat32(v1 + bn_operand)             (with bn_add; else v2 = v1)
//            then the clamp (relu/relux) when there is no addend
//   EW:      v2 += (addend + ew_offset) * ew.scale >> ew.shift, then the clamp
//   OUT_CVT: out = round_half_up(v2 * out.scale >> out.shift) + out_offset
// with acc = sum(x * w) + ow_op * sum(x) over the raw int8 inputs (the
// CORE's accumulator; bs_add folds the zero points and the bias).
//
// Four encodings (encode_dpu picks one):
//  - OUT_CVT (EncodingOptions::Requant::kOutCvt, and fused ADDs):
//    multiplier bypassed, out = the 15-bit mantissa of TFLite's
//    multiplier M, bs_add = the folded bias plus round(delta / M) for
//    TFLite's rounding offset delta (not with an addend: TFLite's ADD
//    rounds on its own terms). Mesa-evidenced registers only.
//  - precise, per-tensor: bs_mul = one C for every channel, chosen jointly
//    with out.scale so that C * out.scale / 2^(bs_shift + out.shift)
//    equals M to ~2^-28; bn_operand = delta in units of v (§10). Of the
//    closest candidates, the first that check_exactness proves bit-exact
//    (§11).
//  - precise, standalone ADD: v = x1 * C * 2^(6 - bs_shift) (the identity
//    weight 64 shifted out exactly) plus x2 * ew.scale (ew.shift 0, so
//    exact), the EW stage adding after the BS multiplier; C, ew.scale and
//    out chosen together so that out = round_half_up(v * out.value())
//    equals TFLite's ADD on as many of the 65536 input pairs as possible
//    (add_pairs_off: 0 for mobilenet_v2's ten ADDs; a few pairs where
//    TFLite's own roundings are not linear, §10.6). No BN stage. Scales
//    beyond its ranges fall back to the OUT_CVT-only form.
//  - per-channel (int8 filters with several scales; precise or not): C per
//    channel (see below); with Requant::kPrecise also bn_operand.
struct DpuEncoding {
  FixedMultiplier out;      // OUT_CVT_SCALE / OUT_CVT_SHIFT
  int32_t out_offset = 0;   // OUT_CVT_OFFSET = output zero point (signed domain)
  int32_t ow_op = 0;        // BS_OW_OP = -weight zero point
  // Output clamp, applied in the last active stage (BN without addend, EW
  // with one) to v2: `relu` keeps v2 >= 0 (output >= zero point); `relux`
  // also caps it at relux_cap, the smallest v2 whose requantized value
  // reaches act_max.
  bool relu = false;
  bool relux = false;
  int32_t relux_cap = 0;
  // Element-wise addend conversion: (addend + ew_offset) * ew.scale >> ew.shift.
  FixedMultiplier ew;
  int32_t ew_offset = 0;

  // BS stage: A per output channel (out_c_padded() entries), the stream's
  // ALU operand. With bs_multiplier also C per channel (0 past out_c) and
  // the shift s (BS_MUL_SHIFT_VALUE and BS_MUL_SHIFT_VALUE_NEG), from the
  // data-use-7 stream.
  //
  // Per-channel split, chosen for precision: channel c's multiplier is
  // bs_mul[c] * unit, unit = out.value() / 2^bs_shift;
  //  - unit is the smallest 15-bit-mantissa value with M_max / unit <=
  //    32767, so bs_mul carries every channel's ratio at full int16
  //    resolution (the largest channel ~32767; none below 1, so a channel
  //    with a tiny scale keeps its bias);
  //  - bs_add is the folded bias re-centred for bs_mul's rounding (see
  //    coefs.cc), so that rounding error scales with acc alone; it also
  //    carries each channel's rounding offset, less the one constant the BN
  //    stage adds (the offsets differ between channels of different
  //    exponents);
  //  - bs_shift is the smallest that keeps out.shift within the OUT_CVT
  //    shifts we emit and v1, v2 inside int32 for every input (the BS stage
  //    never saturates). One output step is then 2^11 or more units of v,
  //    so the BS stage's own rounding (ties to even, as claimed) can only
  //    move an output lying within 2^-11 of a rounding boundary.
  bool bs_multiplier = false;
  uint32_t bs_shift = 0;
  std::vector<int16_t> bs_mul;
  std::vector<int32_t> bs_add;
  // BN stage: the ALU adds the constant BN_ALU_CFG (unverified on RK3588, §10).
  bool bn_add = false;
  int32_t bn_operand = 0;
  // Worst case, over inputs whose exact output is not clamped and over
  // channels, of |v2 * out.value() - TFLite's value before its final
  // rounding| in output steps, for the BS-multiplier encodings (0 for the
  // OUT_CVT one). Below 1 keeps every output within one step of TFLite;
  // encode_dpu refuses above 0.5.
  double max_error_steps = 0;
  // Precise standalone ADD: how many input pairs (x1, x2) over both
  // operands' full 8-bit ranges (the diagonal when a tensor is added to
  // itself) give an output other than TFLite's ADD; checked exhaustively
  // at compile time. 0 for the other encodings.
  int add_pairs_off = 0;
  // The compile-time proof (or disproof) that this encoding gives the CPU
  // runtime's output for every input (exactness.h).
  Exactness exactness;
};
// Chooses the encoding for `op` under `options` (see DpuEncoding). Refuses,
// with the reason, what the options or the DPU's ranges do not allow; the
// lowering calls it, so supports() and compilation agree.
Support encode_dpu(const NpuConv& op, const EncodingOptions& options, DpuEncoding* out);

// Largest |accumulator| any input can produce (bias and addend included);
// the DPU path is 32 bits wide.
double accumulator_bound(const NpuConv& op);
// The same for output channel c alone (bias included, no addend).
double channel_accumulator_bound(const NpuConv& op, int c);

}  // namespace nonstick::rocket
