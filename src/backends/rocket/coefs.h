// Constant data and quantization encodings of one NPU convolution:
// weights in the CNA's packed layout, biases with the zero points folded in,
// and the DPU's fixed-point multipliers and clamps (rocket.md §3.2-3.5, 3.7).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/backend.h"
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

// The BRDMA operand stream at RDMA_BS_BASE_ADDR, as little-endian 32-bit
// words:
//   per-tensor (BRDMA_DATA_USE 1): folded_biases(), one word per channel;
//   per-channel (BRDMA_DATA_USE 7): per group of 8 output channels, 64 bytes:
//     int32 A[8] (DpuEncoding::bs_add) at byte 0, int16 B[8] (per-channel
//     OW operand, 0: unused) at 32, int16 C[8] (DpuEncoding::bs_mul) at 48.
// The data-use-7 layout is a third-party claim (docs/virtual-rk3588.md §9).
Status fold_biases(const NpuConv& op, std::vector<int32_t>* out);

// A real multiplier as mantissa * 2^-shift, mantissa in [2^14, 2^15), rounded
// to nearest and renormalised when rounding carries.
struct FixedMultiplier {
  uint32_t scale = 0;
  uint32_t shift = 0;
  double value() const;
};
// False when `m` needs a shift outside [0, max_shift].
bool encode_multiplier(double m, int max_shift, FixedMultiplier* out);

// Everything the DPU needs beyond geometry and addresses.
struct DpuEncoding {
  FixedMultiplier out;      // OUT_CVT_SCALE / OUT_CVT_SHIFT
  int32_t out_offset = 0;   // OUT_CVT_OFFSET = output zero point (signed domain)
  int32_t ow_op = 0;        // BS_OW_OP = -weight zero point
  // Output clamp, applied in the last active stage (BN without addend, EW
  // with one): `relu` keeps the accumulator >= 0 (output >= zero point);
  // `relux` also caps it at relux_cap, the smallest accumulator whose
  // requantized value reaches act_max.
  bool relu = false;
  bool relux = false;
  int32_t relux_cap = 0;
  // Element-wise addend conversion: (addend + ew_offset) * ew.scale >> ew.shift.
  FixedMultiplier ew;
  int32_t ew_offset = 0;

  // Per-channel requantization (op.per_channel()), in two stages:
  //   BS:      v = sat32(rne((acc + bs_add[c]) * bs_mul[c] >> bs_shift))
  //   OUT_CVT: out = round(v * out.scale >> out.shift) + out_offset
  // with acc = sum(x * w) over the raw int8 inputs, so channel c's
  // multiplier is bs_mul[c] * unit, unit = out.value() / 2^bs_shift. The
  // split, chosen for precision:
  //  - unit is the smallest 15-bit-mantissa value with M_max / unit <=
  //    32767, so bs_mul carries every channel's ratio at full int16
  //    resolution (the largest channel ~32767; none below 1, so a channel
  //    with a tiny scale keeps its bias);
  //  - bs_add is the folded bias re-centred for bs_mul's rounding (see
  //    coefs.cc), so that rounding error scales with acc alone;
  //  - bs_shift is the smallest that keeps out.shift <= 26 (the largest
  //    OUT_CVT shift in Mesa's hardware-run streams) and v inside int32 for
  //    every input (the BS stage never saturates). One output step is then
  //    2^11 or more units of v, so the BS stage's own rounding (ties to
  //    even, as claimed) can only move an output lying within 2^-11 of a
  //    rounding boundary.
  // The clamps above act on v, not on the accumulator.
  bool per_channel = false;
  uint32_t bs_shift = 0;         // BS_MUL_SHIFT_VALUE and BS_MUL_SHIFT_VALUE_NEG
  std::vector<int16_t> bs_mul;   // C per output channel, out_c_padded() entries (0 past out_c)
  std::vector<int32_t> bs_add;   // A per output channel (the stream's ALU operand)
  // Worst case, over inputs whose exact output is not clamped and over
  // channels, of |v * out.value() - exact output| in output steps: the
  // encoding's error before the final rounding. Below 1 keeps every output
  // within one step of TFLite; encode_dpu refuses above 0.5.
  double max_error_steps = 0;
};
Support encode_dpu(const NpuConv& op, DpuEncoding* out);

// Largest |accumulator| any input can produce (bias and addend included);
// the DPU path is 32 bits wide.
double accumulator_bound(const NpuConv& op);
// The same for output channel c alone (bias included, no addend).
double channel_accumulator_bound(const NpuConv& op, int c);

}  // namespace nonstick::rocket
