// Emission order and the values not derived from the operation (burst
// lengths, ping-pong pointers, op-enable mask) follow Mesa's captured streams
// (/work/shared/goldens/rocket), which run on hardware; the order is kept
// because the hardware consumes the stream sequentially. Differences from
// those streams, on purpose:
//  - width is the NHWC contiguous axis, strides and padding per axis;
//  - requantization mantissas are rounded to nearest, not truncated + 1;
//  - fused ReLU/ReLU6 clamp in the accumulator domain (BN or EW stage), so
//    they hold for any output zero point;
//  - CNA PAD_CON1 always carries the pad byte replicated in 16 bits;
//  - per-channel requantization on the BS multiplier (BRDMA_DATA_USE 7), an
//    encoding from third-party notes that no Mesa stream contains
//    (docs/virtual-rk3588.md §9);
//  - precise requantization: the BS multiplier with equal C per channel,
//    and TFLite's rounding offset added by the BN ALU (§10, unverified);
//    for a standalone ADD the EW operand added after the BS multiplier
//    (§10.6, unverified).
#include "backends/rocket/regcmd.h"

#include "backends/rocket/hw.h"
#include "rocket/registers.h"

namespace nonstick::rocket {
namespace {

namespace r = reg;

// FEATURE_GRAINS: Mesa's empirical 50 + stride + 1, which every captured
// stream uses; no source explains the field (rocket.md §9 q2). Quarantined
// here, pinned by a golden test.
constexpr uint32_t kFeatureGrainsBase = 51;
constexpr uint32_t kBurstLen = 15;
constexpr uint32_t kDpuOutputToMemory = 2;  // DPU OUTPUT_MODE: write DMA
constexpr uint32_t kDepthwiseMode = 3;      // CONV_MODE of CNA/DPU/RDMA
constexpr uint32_t kAluAdd = 2;             // BS/EW ALU_ALGO
constexpr uint32_t kEwCombine = 5;          // RDMA COMB_USE with an ERDMA stream
constexpr uint32_t kBrdmaBias = 1;          // BRDMA_DATA_USE: int32 ALU operand per channel
constexpr uint32_t kBrdmaBiasOwMul = 7;     // ... plus int16 OW and multiplier operands
constexpr uint64_t kTailMarker = uint64_t{0x0041} << 48;
constexpr uint16_t kOpEnableTarget = 0x0081;

class Emitter {
 public:
  explicit Emitter(std::vector<uint64_t>* out) : out_(out) {}
  template <typename R>
  void set(uint32_t value) { out_->push_back(R::cmd(value)); }
  void raw(uint64_t word) { out_->push_back(word); }

 private:
  std::vector<uint64_t>* out_;
};

uint32_t pad_value(int32_t zp) {
  // The byte (x_zp) replicated into 16 bits, sign-extended (captured values
  // 0xffff8080 for -128, 0x0b0b for 11).
  const uint32_t b = static_cast<uint8_t>(static_cast<int8_t>(zp));
  const uint32_t v = b << 8 | b;
  return (v & 0x8000) ? (v | 0xffff0000u) : v;
}

uint32_t s32(int64_t v) { return r::twos_complement(v, 32); }

}  // namespace

void emit_task(const NpuConv& op, const DpuEncoding& enc, const TaskPlan& plan, size_t index,
               const TaskAddresses& addr, std::vector<uint64_t>* out) {
  const TaskSlice& t = plan.slices[index];
  Emitter e(out);
  const uint32_t atom = CoreConfig::kAtomChannels;
  const uint32_t in_w = static_cast<uint32_t>(op.in_w), in_h = static_cast<uint32_t>(op.in_h);
  const uint32_t out_w = static_cast<uint32_t>(op.out_w), out_h = static_cast<uint32_t>(op.out_h);
  const uint32_t rows = static_cast<uint32_t>(t.out_rows);
  const uint32_t cin = static_cast<uint32_t>(padded_in_channels(op));
  const uint32_t cout = static_cast<uint32_t>(op.out_c_padded());
  const uint32_t window = static_cast<uint32_t>(op.kernel_w * op.kernel_h);
  const uint32_t mode = op.depthwise ? kDepthwiseMode : 0;
  const bool add = op.has_addend();
  const uint32_t input = addr.input + static_cast<uint32_t>(t.in_row) * in_w * atom;
  const uint32_t out_offset = static_cast<uint32_t>(t.out_row) * out_w * atom;
  const uint32_t plane = out_w * out_h;  // one output surface, in atoms

  const uint32_t cbuf0 = r::CNA_CBUF_CON0::WEIGHT_REUSE(index > 0 && plan.weights_resident ? 1 : 0) |
                         r::CNA_CBUF_CON0::WEIGHT_BANK(static_cast<uint32_t>(plan.weight_banks)) |
                         r::CNA_CBUF_CON0::DATA_BANK(static_cast<uint32_t>(plan.data_banks));
  const uint32_t conv1 = r::CNA_CONV_CON1::CONV_MODE(mode);
  const uint32_t ping_pong = r::DPU_S_POINTER::POINTER_PP_MODE(1) | r::DPU_S_POINTER::EXECUTER_PP_EN(1) |
                             r::DPU_S_POINTER::POINTER_PP_EN(1);

  // ---- CNA: input/weight DMA, CBUF, conversion, padding.
  e.set<r::CNA_CBUF_CON0>(cbuf0);
  e.set<r::CNA_DCOMP_REGNUM>(0);
  e.set<r::CNA_DCOMP_CTRL>(0);
  e.set<r::CNA_CONV_CON1>(conv1);
  e.set<r::DPU_S_POINTER>(ping_pong);
  e.set<r::DPU_RDMA_RDMA_S_POINTER>(ping_pong);
  e.set<r::CNA_CONV_CON1>(conv1);
  e.set<r::CNA_CONV_CON2>(r::CNA_CONV_CON2::FEATURE_GRAINS(kFeatureGrainsBase + static_cast<uint32_t>(op.stride_h)));
  e.set<r::CNA_CONV_CON3>(r::CNA_CONV_CON3::CONV_Y_STRIDE(static_cast<uint32_t>(op.stride_h)) |
                          r::CNA_CONV_CON3::CONV_X_STRIDE(static_cast<uint32_t>(op.stride_w)));
  e.set<r::CNA_DATA_SIZE0>(r::CNA_DATA_SIZE0::DATAIN_WIDTH(in_w) |
                           r::CNA_DATA_SIZE0::DATAIN_HEIGHT(static_cast<uint32_t>(t.in_rows)));
  e.set<r::CNA_DATA_SIZE1>(r::CNA_DATA_SIZE1::DATAIN_CHANNEL_REAL(static_cast<uint32_t>(op.in_c - 1)) |
                           r::CNA_DATA_SIZE1::DATAIN_CHANNEL(cin));
  e.set<r::CNA_DATA_SIZE2>(r::CNA_DATA_SIZE2::DATAOUT_WIDTH(out_w));
  e.set<r::CNA_DATA_SIZE3>(r::CNA_DATA_SIZE3::DATAOUT_ATOMICS(out_w * rows));
  e.set<r::CNA_WEIGHT_SIZE0>(r::CNA_WEIGHT_SIZE0::WEIGHT_BYTES(static_cast<uint32_t>(packed_weight_bytes(op))));
  e.set<r::CNA_WEIGHT_SIZE1>(r::CNA_WEIGHT_SIZE1::WEIGHT_BYTES_PER_KERNEL(window * cin));
  e.set<r::CNA_WEIGHT_SIZE2>(r::CNA_WEIGHT_SIZE2::WEIGHT_WIDTH(static_cast<uint32_t>(op.kernel_w)) |
                             r::CNA_WEIGHT_SIZE2::WEIGHT_HEIGHT(static_cast<uint32_t>(op.kernel_h)) |
                             r::CNA_WEIGHT_SIZE2::WEIGHT_KERNELS(static_cast<uint32_t>(weight_kernels(op))));
  e.set<r::CNA_CBUF_CON0>(cbuf0);
  e.set<r::CNA_CBUF_CON1>(r::CNA_CBUF_CON1::DATA_ENTRIES(static_cast<uint32_t>(plan.data_entries)));
  // Input is already signed int8: converter bypassed, unit scale.
  e.set<r::CNA_CVT_CON0>(r::CNA_CVT_CON0::DATA_SIGN(1) | r::CNA_CVT_CON0::CVT_TYPE(1) |
                         r::CNA_CVT_CON0::CVT_BYPASS(1));
  e.set<r::CNA_CVT_CON1>(r::CNA_CVT_CON1::CVT_SCALE0(1));
  e.set<r::CNA_CVT_CON2>(r::CNA_CVT_CON2::CVT_SCALE1(1));
  e.set<r::CNA_CVT_CON3>(r::CNA_CVT_CON3::CVT_SCALE2(1));
  e.set<r::CNA_CVT_CON4>(r::CNA_CVT_CON4::CVT_SCALE3(1));
  e.set<r::CNA_FC_CON0>(0);
  e.set<r::CNA_FC_CON1>(0);
  e.set<r::CNA_PAD_CON0>(r::CNA_PAD_CON0::PAD_LEFT(static_cast<uint32_t>(op.pad_left)) |
                         r::CNA_PAD_CON0::PAD_TOP(static_cast<uint32_t>(t.pad_top)));
  e.set<r::CNA_FEATURE_DATA_ADDR>(r::CNA_FEATURE_DATA_ADDR::FEATURE_BASE_ADDR(input));
  e.set<r::CNA_FC_CON2>(0);
  e.set<r::CNA_DMA_CON0>(r::CNA_DMA_CON0::WEIGHT_BURST_LEN(kBurstLen) | r::CNA_DMA_CON0::DATA_BURST_LEN(kBurstLen));
  // Strides of the whole tensor: a line is 4 units per pixel; the surface
  // field holds the surface size minus one line stride (wraps to a negative
  // 28-bit value for 1-row tensors, as in the captured FC-shaped streams).
  const uint32_t line_stride = in_w * 4;
  const uint32_t surf_stride = (in_w * in_h - line_stride) & 0x0fffffffu;
  e.set<r::CNA_DMA_CON1>(r::CNA_DMA_CON1::LINE_STRIDE(line_stride));
  e.set<r::CNA_DMA_CON2>(r::CNA_DMA_CON2::SURF_STRIDE(surf_stride));
  e.set<r::CNA_FC_DATA_SIZE0>(r::CNA_FC_DATA_SIZE0::DMA_WIDTH(in_w) |
                              r::CNA_FC_DATA_SIZE0::DMA_HEIGHT(static_cast<uint32_t>(t.in_rows)));
  e.set<r::CNA_FC_DATA_SIZE1>(r::CNA_FC_DATA_SIZE1::DMA_CHANNEL(cin));
  e.set<r::CNA_DCOMP_CTRL>(0);
  e.set<r::CNA_DCOMP_REGNUM>(0);
  e.set<r::CNA_DCOMP_ADDR0>(r::CNA_DCOMP_ADDR0::DECOMPRESS_ADDR0(addr.weights));
  e.set<r::CNA_DCOMP_AMOUNT0>(0);
  e.set<r::CNA_DCOMP_AMOUNT1>(0);
  e.set<r::CNA_DCOMP_AMOUNT2>(0);
  e.set<r::CNA_DCOMP_AMOUNT3>(0);
  e.set<r::CNA_DCOMP_AMOUNT4>(0);
  e.set<r::CNA_DCOMP_AMOUNT5>(0);
  e.set<r::CNA_DCOMP_AMOUNT6>(0);
  e.set<r::CNA_DCOMP_AMOUNT7>(0);
  e.set<r::CNA_DCOMP_AMOUNT8>(0);
  e.set<r::CNA_DCOMP_AMOUNT9>(0);
  e.set<r::CNA_DCOMP_AMOUNT10>(0);
  e.set<r::CNA_DCOMP_AMOUNT11>(0);
  e.set<r::CNA_DCOMP_AMOUNT12>(0);
  e.set<r::CNA_DCOMP_AMOUNT13>(0);
  e.set<r::CNA_DCOMP_AMOUNT14>(0);
  e.set<r::CNA_DCOMP_AMOUNT15>(0);
  e.set<r::CNA_CVT_CON5>(0);
  e.set<r::CNA_PAD_CON1>(r::CNA_PAD_CON1::PAD_VALUE(pad_value(op.in_zp)));

  // ---- CORE: MAC array output cube.
  e.set<r::CORE_MISC_CFG>(r::CORE_MISC_CFG::DW_EN(op.depthwise ? 1 : 0) | r::CORE_MISC_CFG::QD_EN(1));
  e.set<r::CORE_DATAOUT_SIZE_0>(r::CORE_DATAOUT_SIZE_0::DATAOUT_HEIGHT(rows - 1) |
                                r::CORE_DATAOUT_SIZE_0::DATAOUT_WIDTH(out_w - 1));
  e.set<r::CORE_DATAOUT_SIZE_1>(r::CORE_DATAOUT_SIZE_1::DATAOUT_CHANNEL(cout - 1));
  e.set<r::CORE_CLIP_TRUNCATE>(0);  // accumulator bound checked at lowering
  e.set<r::CORE_UNK3030>(0);

  // ---- DPU: bias, clamps, element-wise add, requantization, write DMA.
  e.set<r::DPU_FEATURE_MODE_CFG>(r::DPU_FEATURE_MODE_CFG::BURST_LEN(kBurstLen) |
                                 r::DPU_FEATURE_MODE_CFG::CONV_MODE(mode) |
                                 r::DPU_FEATURE_MODE_CFG::OUTPUT_MODE(kDpuOutputToMemory));
  // int8 everywhere; with the BS multiplier, its shift for negative products
  // (the positive one is in BS_MUL_CFG; both the same).
  e.set<r::DPU_DATA_FORMAT>(r::DPU_DATA_FORMAT::BS_MUL_SHIFT_VALUE_NEG(enc.bs_multiplier ? enc.bs_shift : 0));
  e.set<r::DPU_OFFSET_PEND>(0);
  e.set<r::DPU_DST_BASE_ADDR>(addr.output + out_offset);
  e.set<r::DPU_DST_SURF_STRIDE>(r::DPU_DST_SURF_STRIDE::DST_SURF_STRIDE(plane));
  e.set<r::DPU_DATA_CUBE_WIDTH>(r::DPU_DATA_CUBE_WIDTH::WIDTH(out_w - 1));
  e.set<r::DPU_DATA_CUBE_HEIGHT>(r::DPU_DATA_CUBE_HEIGHT::HEIGHT(rows - 1));
  e.set<r::DPU_DATA_CUBE_NOTCH_ADDR>(0);
  e.set<r::DPU_DATA_CUBE_CHANNEL>(r::DPU_DATA_CUBE_CHANNEL::ORIG_CHANNEL(static_cast<uint32_t>(op.out_c - 1)) |
                                  r::DPU_DATA_CUBE_CHANNEL::CHANNEL(cout - 1));
  // BS: add the per-channel bias stream (BRDMA), no ReLU; with the BS
  // multiplier, multiply by C[c] from the same stream, then shift.
  e.set<r::DPU_BS_CFG>(r::DPU_BS_CFG::BS_ALU_ALGO(kAluAdd) | r::DPU_BS_CFG::BS_ALU_SRC(1) |
                       r::DPU_BS_CFG::BS_RELU_BYPASS(1) | r::DPU_BS_CFG::BS_MUL_BYPASS(enc.bs_multiplier ? 0 : 1));
  e.set<r::DPU_BS_ALU_CFG>(0);
  e.set<r::DPU_BS_MUL_CFG>(enc.bs_multiplier ? r::DPU_BS_MUL_CFG::BS_MUL_SHIFT_VALUE(enc.bs_shift) |
                                                   r::DPU_BS_MUL_CFG::BS_MUL_SRC(1)
                                             : 0);
  e.set<r::DPU_BS_RELUX_CMP_VALUE>(0);
  const uint32_t ow_size = op.depthwise ? 3 : 1;
  e.set<r::DPU_BS_OW_CFG>(r::DPU_BS_OW_CFG::SIZE_E_2(ow_size) | r::DPU_BS_OW_CFG::SIZE_E_1(ow_size) |
                          r::DPU_BS_OW_CFG::SIZE_E_0(ow_size));
  e.set<r::DPU_BS_OW_OP>(r::DPU_BS_OW_OP::OW_OP(r::twos_complement(enc.ow_op, 16)));
  e.set<r::DPU_WDMA_SIZE_0>(r::DPU_WDMA_SIZE_0::CHANNEL_WDMA(cout - 1));
  e.set<r::DPU_WDMA_SIZE_1>(r::DPU_WDMA_SIZE_1::HEIGHT_WDMA(rows - 1) | r::DPU_WDMA_SIZE_1::WIDTH_WDMA(out_w - 1));
  // BN: the constant rounding offset (ALU add of BN_ALU_CFG), and the
  // output clamp when nothing is added afterwards.
  const bool bn_clamp = !add && enc.relu;
  const bool bn_on = bn_clamp || enc.bn_add;
  e.set<r::DPU_BN_CFG>(r::DPU_BN_CFG::BN_ALU_ALGO(enc.bn_add ? kAluAdd : 0) |
                       r::DPU_BN_CFG::BN_RELUX_EN(bn_clamp && enc.relux ? 1 : 0) |
                       r::DPU_BN_CFG::BN_RELU_BYPASS(bn_clamp ? 0 : 1) | r::DPU_BN_CFG::BN_MUL_BYPASS(1) |
                       r::DPU_BN_CFG::BN_ALU_BYPASS(enc.bn_add ? 0 : 1) | r::DPU_BN_CFG::BN_BYPASS(bn_on ? 0 : 1));
  e.set<r::DPU_BN_ALU_CFG>(enc.bn_add ? s32(enc.bn_operand) : 0);
  e.set<r::DPU_BN_MUL_CFG>(0);
  e.set<r::DPU_BN_RELUX_CMP_VALUE>(
      r::DPU_BN_RELUX_CMP_VALUE::BN_RELUX_CMP_DAT(bn_clamp && enc.relux ? s32(enc.relux_cap) : 0));
  // EW: the addend (ERDMA), converted to the units of v (accumulator units,
  // or after the BS multiplier for a precise ADD), then the clamp.
  const bool ew_clamp = add && enc.relu;
  if (add) {
    e.set<r::DPU_EW_CFG>(r::DPU_EW_CFG::EW_CVT_TYPE(1) | r::DPU_EW_CFG::EW_DATA_MODE(1) |
                         r::DPU_EW_CFG::EDATA_SIZE(1) | r::DPU_EW_CFG::EW_ALU_ALGO(kAluAdd) |
                         r::DPU_EW_CFG::EW_RELUX_EN(ew_clamp && enc.relux ? 1 : 0) |
                         r::DPU_EW_CFG::EW_RELU_BYPASS(ew_clamp ? 0 : 1) | r::DPU_EW_CFG::EW_LUT_BYPASS(1) |
                         r::DPU_EW_CFG::EW_OP_SRC(1));
    e.set<r::DPU_EW_CVT_OFFSET_VALUE>(r::DPU_EW_CVT_OFFSET_VALUE::EW_OP_CVT_OFFSET(s32(enc.ew_offset)));
    e.set<r::DPU_EW_CVT_SCALE_VALUE>(r::DPU_EW_CVT_SCALE_VALUE::EW_OP_CVT_SHIFT(enc.ew.shift) |
                                     r::DPU_EW_CVT_SCALE_VALUE::EW_OP_CVT_SCALE(enc.ew.scale));
  } else {
    e.set<r::DPU_EW_CFG>(r::DPU_EW_CFG::EW_RELU_BYPASS(1) | r::DPU_EW_CFG::EW_OP_CVT_BYPASS(1) |
                         r::DPU_EW_CFG::EW_LUT_BYPASS(1) | r::DPU_EW_CFG::EW_OP_BYPASS(1) |
                         r::DPU_EW_CFG::EW_BYPASS(1));
    e.set<r::DPU_EW_CVT_OFFSET_VALUE>(0);
    e.set<r::DPU_EW_CVT_SCALE_VALUE>(r::DPU_EW_CVT_SCALE_VALUE::EW_OP_CVT_SCALE(1));
  }
  e.set<r::DPU_EW_RELUX_CMP_VALUE>(
      r::DPU_EW_RELUX_CMP_VALUE::EW_RELUX_CMP_DAT(ew_clamp && enc.relux ? s32(enc.relux_cap) : 0));
  // Output conversion: ((v * scale) >> shift) + offset, saturated to int8.
  e.set<r::DPU_OUT_CVT_OFFSET>(r::DPU_OUT_CVT_OFFSET::OUT_CVT_OFFSET(s32(enc.out_offset)));
  e.set<r::DPU_OUT_CVT_SCALE>(r::DPU_OUT_CVT_SCALE::OUT_CVT_SCALE(enc.out.scale));
  e.set<r::DPU_OUT_CVT_SHIFT>(r::DPU_OUT_CVT_SHIFT::OUT_CVT_SHIFT(enc.out.shift));
  e.set<r::DPU_EW_OP_VALUE_0>(0);
  e.set<r::DPU_EW_OP_VALUE_1>(0);
  e.set<r::DPU_EW_OP_VALUE_2>(0);
  e.set<r::DPU_EW_OP_VALUE_3>(0);
  e.set<r::DPU_EW_OP_VALUE_4>(0);
  e.set<r::DPU_EW_OP_VALUE_5>(0);
  e.set<r::DPU_EW_OP_VALUE_6>(0);
  e.set<r::DPU_EW_OP_VALUE_7>(0);
  // Two surfaces per write group (four for depthwise), as captured.
  e.set<r::DPU_SURFACE_ADD>(r::DPU_SURFACE_ADD::SURF_ADD(plane * (op.depthwise ? 4 : 2)));
  e.set<r::DPU_UNK40C4>(0);
  e.set<r::DPU_LUT_ACCESS_CFG>(0);
  e.set<r::DPU_LUT_ACCESS_DATA>(0);
  e.set<r::DPU_LUT_CFG>(0);
  e.set<r::DPU_LUT_INFO>(0);
  e.set<r::DPU_LUT_LE_START>(0);
  e.set<r::DPU_LUT_LE_END>(0);
  e.set<r::DPU_LUT_LO_START>(0);
  e.set<r::DPU_LUT_LO_END>(0);
  e.set<r::DPU_LUT_LE_SLOPE_SCALE>(0);
  e.set<r::DPU_LUT_LE_SLOPE_SHIFT>(0);
  e.set<r::DPU_LUT_LO_SLOPE_SCALE>(0);
  e.set<r::DPU_LUT_LO_SLOPE_SHIFT>(0);

  // ---- DPU_RDMA: bias stream and (with an addend) the element-wise stream,
  // which reads even surfaces from SRC_BASE_ADDR and odd ones from
  // EW_BASE_ADDR, each stepping over two surfaces (the notch skips the rows
  // of this band's surface that other tasks cover).
  e.set<r::DPU_RDMA_RDMA_DATA_CUBE_WIDTH>(r::DPU_RDMA_RDMA_DATA_CUBE_WIDTH::WIDTH(out_w - 1));
  e.set<r::DPU_RDMA_RDMA_DATA_CUBE_HEIGHT>(r::DPU_RDMA_RDMA_DATA_CUBE_HEIGHT::HEIGHT(rows - 1));
  e.set<r::DPU_RDMA_RDMA_DATA_CUBE_CHANNEL>(r::DPU_RDMA_RDMA_DATA_CUBE_CHANNEL::CHANNEL(cout - 1));
  e.set<r::DPU_RDMA_RDMA_SRC_BASE_ADDR>(add ? addr.addend + out_offset : 0);
  e.set<r::DPU_RDMA_RDMA_BRDMA_CFG>(
      r::DPU_RDMA_RDMA_BRDMA_CFG::BRDMA_DATA_USE(enc.bs_multiplier ? kBrdmaBiasOwMul : kBrdmaBias));
  e.set<r::DPU_RDMA_RDMA_BS_BASE_ADDR>(addr.biases);
  e.set<r::DPU_RDMA_RDMA_NRDMA_CFG>(0);
  e.set<r::DPU_RDMA_RDMA_BN_BASE_ADDR>(0);
  const uint32_t notch = plane + out_w * (out_h - rows);
  if (add) {
    e.set<r::DPU_RDMA_RDMA_ERDMA_CFG>(r::DPU_RDMA_RDMA_ERDMA_CFG::ERDMA_DATA_MODE(1) |
                                      r::DPU_RDMA_RDMA_ERDMA_CFG::ERDMA_DATA_SIZE(1));
    e.set<r::DPU_RDMA_RDMA_EW_BASE_ADDR>(addr.addend + out_offset + plane * atom);
    e.set<r::DPU_RDMA_RDMA_EW_SURF_STRIDE>(r::DPU_RDMA_RDMA_EW_SURF_STRIDE::EW_SURF_STRIDE(plane));
  } else {
    e.set<r::DPU_RDMA_RDMA_ERDMA_CFG>(r::DPU_RDMA_RDMA_ERDMA_CFG::ERDMA_DISABLE(1));
    e.set<r::DPU_RDMA_RDMA_EW_BASE_ADDR>(0);
    e.set<r::DPU_RDMA_RDMA_EW_SURF_STRIDE>(0);
  }
  e.set<r::DPU_RDMA_RDMA_FEATURE_MODE_CFG>(
      r::DPU_RDMA_RDMA_FEATURE_MODE_CFG::BURST_LEN(kBurstLen) |
      r::DPU_RDMA_RDMA_FEATURE_MODE_CFG::COMB_USE(add ? kEwCombine : 0) |
      r::DPU_RDMA_RDMA_FEATURE_MODE_CFG::MRDMA_DISABLE(add ? 0 : 1) |
      r::DPU_RDMA_RDMA_FEATURE_MODE_CFG::CONV_MODE(mode));
  e.set<r::DPU_RDMA_RDMA_SRC_DMA_CFG>(0);
  e.set<r::DPU_RDMA_RDMA_SURF_NOTCH>(r::DPU_RDMA_RDMA_SURF_NOTCH::SURF_NOTCH_ADDR(add ? notch : 0));
  e.set<r::DPU_RDMA_RDMA_PAD_CFG>(0);
  e.set<r::DPU_RDMA_RDMA_WEIGHT>(r::DPU_RDMA_RDMA_WEIGHT::E_WEIGHT(1) | r::DPU_RDMA_RDMA_WEIGHT::N_WEIGHT(1) |
                                 r::DPU_RDMA_RDMA_WEIGHT::B_WEIGHT(1) | r::DPU_RDMA_RDMA_WEIGHT::M_WEIGHT(1));
  e.set<r::DPU_RDMA_RDMA_EW_SURF_NOTCH>(r::DPU_RDMA_RDMA_EW_SURF_NOTCH::EW_SURF_NOTCH(add ? notch : 0));

  // ---- PC tail: next task (or an all-zero word), its fetch amount, the
  // marker that must precede op-enable, and op-enable of the four blocks.
  if (addr.next_regcmd != 0) {
    e.set<r::PC_BASE_ADDRESS>(r::PC_BASE_ADDRESS::PC_SOURCE_ADDR(addr.next_regcmd >> 4));
    e.set<r::PC_REGISTER_AMOUNTS>(r::PC_REGISTER_AMOUNTS::PC_DATA_AMOUNT((addr.next_words + 1) / 2 - 1));
  } else {
    if (addr.chained) {
      e.set<r::PC_BASE_ADDRESS>(0);
    } else {
      e.raw(0);
    }
    e.set<r::PC_REGISTER_AMOUNTS>(0);
  }
  e.raw(kTailMarker);
  const uint32_t enable = r::GLOBAL_OPERATION_ENABLE::DPU_RDMA_OP_EN(1) | r::GLOBAL_OPERATION_ENABLE::DPU_OP_EN(1) |
                          r::GLOBAL_OPERATION_ENABLE::CORE_OP_EN(1) | r::GLOBAL_OPERATION_ENABLE::CNA_OP_EN(1);
  e.raw(uint64_t{kOpEnableTarget} << 48 | uint64_t{enable} << 16 | r::PC_OPERATION_ENABLE::offset);
}

}  // namespace nonstick::rocket
