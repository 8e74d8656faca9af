// Parameters of one RK3588 NPU core that the compiler plans against, in one
// place (rocket.md §2.1, §4.1, §4.4). Register-width limits come from the
// field widths of registers.xml; the capacity figures from the fact sheet.
#pragma once

#include <cstdint>

namespace nonstick::rocket {

struct CoreConfig {
  // Convolution buffer: banks shared between input rows and weights.
  static constexpr int kCbufBanks = 12;
  static constexpr int kCbufBankBytes = 32 * 1024;
  // Bank planning counts input rows in 128-byte entries (NVDLA-style, see
  // tasks.cc); the DATA_ENTRIES register counts a row in 64-byte units.
  static constexpr int kCbufEntryBytes = 128;
  static constexpr int kDataEntryBytes = 64;

  // Feature maps are NC1HWC2 with a 16-byte atom (C2 = 16 int8 channels).
  static constexpr int kAtomChannels = 16;
  // Weights are packed in groups of 32 kernels x 32 channels (dense) and in
  // groups of 64 channels (depthwise).
  static constexpr int kWeightKernelGroup = 32;
  static constexpr int kWeightChannelGroup = 32;
  static constexpr int kDepthwiseChannelGroup = 64;
  // The DPU writes output channels in whole groups: 32 for a dense
  // convolution, 64 for depthwise (rocket.md §4.4, every golden stream).
  static constexpr int kDenseOutputAlign = 32;
  static constexpr int kDepthwiseOutputAlign = 64;

  // Limits from the field widths (rocket.md §4.4; vendor limits §2.1 agree).
  static constexpr int kMaxKernel = 31;      // WEIGHT_WIDTH/HEIGHT, 5 bits
  static constexpr int kMaxStride = 7;       // CONV_X/Y_STRIDE, 3 bits
  static constexpr int kMaxPad = 15;         // PAD_LEFT/TOP, 4 bits
  static constexpr int kMaxInputDim = 2047;  // DATAIN_WIDTH/HEIGHT, 11 bits
  static constexpr int kMaxOutputDim = 8191; // DPU cube sizes, 13 bits (value - 1)
  static constexpr int kMaxChannels = 8191;  // DPU cube channel, 13 bits (value - 1)
  static constexpr int64_t kMaxKernelBytes = (1 << 19) - 1;    // WEIGHT_BYTES_PER_KERNEL, 19 bits
  static constexpr int64_t kMaxOutputAtoms = (1 << 22) - 1;    // DATAOUT_ATOMICS per task, 22 bits

  // Multiplier encodings (DPU OUT_CVT and EW_OP_CVT): a 15-bit mantissa in
  // [2^14, 2^15) and a right shift.
  static constexpr int kScaleBits = 15;
  static constexpr int kMaxOutShift = 31;  // kept inside a 48-bit product
  static constexpr int kMaxEwShift = 63;   // EW_OP_CVT_SHIFT, 6 bits

  // Tasks start 64-byte aligned in a regcmd BO (130 words -> 1088-byte
  // slots, as in the captured streams).
  static constexpr int kTaskAlignBytes = 64;
};

inline constexpr int align_up(int v, int a) { return (v + a - 1) / a * a; }
inline constexpr int div_up(int v, int a) { return (v + a - 1) / a; }

}  // namespace nonstick::rocket
