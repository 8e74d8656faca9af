// DPU (BS, BN, EW, OUT_CVT, WDMA) and DPU_RDMA (BRDMA bias stream,
// MRDMA/ERDMA element-wise operand) of the virtual NPU. Semantics and the
// evidence for each are in docs/virtual-rk3588.md; the BS multiplier with
// its per-channel stream (§9) follows third-party notes, and the BN ALU's
// constant add and the EW operand after the BS multiplier (§10) NVDLA's
// SDP design, not Mesa's streams.
#include "virtual/rk3588/npu_dpu.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

namespace nonstick::virt {

namespace {

constexpr uint32_t kAtomBytes = 16;
constexpr uint32_t kAluAdd = 2;  // BS/BN/EW ALU_ALGO 2: add (Mesa's bias and residual add)
// BRDMA_DATA_USE values: 1 = one int32 ALU operand per channel (Mesa);
// 7 = per group of 8 channels, int32 A[8] (ALU), int16 B[8] (OW), int16
// C[8] (multiplier) in 64 bytes (claimed, docs §9).
constexpr uint32_t kBrdmaAlu = 1;
constexpr uint32_t kBrdmaAluOwMul = 7;
constexpr uint32_t kBsGroupChannels = 8;
constexpr uint32_t kBsGroupBytes = 64;
constexpr uint32_t kBsOwOffset = 32, kBsMulOffset = 48;

// Arithmetic shift right with ties to even: the BS multiplier's rounding as
// claimed by the third-party measurements (docs §9).
int64_t round_shift_even(int64_t v, unsigned shift) {
  if (shift == 0) return v;
  const int64_t half = int64_t{1} << (shift - 1);
  const int64_t rem = v & ((int64_t{1} << shift) - 1);
  const int64_t q = v >> shift;
  return rem > half || (rem == half && (q & 1)) ? q + 1 : q;
}

// One ReLU/ReLUX stage (BS, BN or EW): ReLU clamps at 0, ReLUX at the
// stage's compare value (signed, in the stage's integer domain).
struct Relu {
  bool relu = false, relux = false;
  int64_t limit = 0;
  int64_t apply(int64_t v) const {
    if (relu) v = std::max<int64_t>(v, 0);
    if (relux) v = std::min<int64_t>(v, limit);
    return v;
  }
};

struct EwSetup {
  bool enabled = false;
  int64_t offset = 0, scale = 1;
  uint32_t shift = 0;
  uint32_t src_addr = 0, ew_addr = 0;
  uint64_t src_notch = 0, ew_notch = 0;  // bytes skipped after each task band
  Relu relu;
};

struct DpuSetup {
  uint32_t dst = 0;
  uint64_t surface_stride = 0;
  bool bias_from_memory = false;
  int64_t bias_constant = 0;
  uint32_t bias_addr = 0;
  // BS multiplier: C per channel from the data-use-7 stream, then a shift.
  bool bs_mul = false;
  uint32_t bs_shift = 0;
  // BN ALU: adds the constant BN_ALU_CFG (§10).
  bool bn_add = false;
  int64_t bn_operand = 0;
  Relu bs_relu, bn_relu;
  EwSetup ew;
  int64_t out_offset = 0, out_scale = 1;
  uint32_t out_shift = 0;
};

template <typename R>
Status require(const char* field, uint32_t value, uint32_t expected, const char* why) {
  if (value == expected) return {};
  return unmodelled<R>(field, value, why);
}

Status decode_cube(const RegisterFile& regs, const ConvOutput& in, DpuSetup* d) {
  using namespace reg;
  const uint32_t mode = regs.get<DPU_FEATURE_MODE_CFG>();
  const uint32_t conv_mode = in.depthwise ? 3 : 0;
  if (DPU_FEATURE_MODE_CFG::get_CONV_MODE(mode) != conv_mode || DPU_FEATURE_MODE_CFG::get_OUTPUT_MODE(mode) != 2 ||
      DPU_FEATURE_MODE_CFG::get_FLYING_MODE(mode) || DPU_FEATURE_MODE_CFG::get_COMB_USE(mode) ||
      DPU_FEATURE_MODE_CFG::get_TP_EN(mode) || DPU_FEATURE_MODE_CFG::get_RGP_TYPE(mode) ||
      DPU_FEATURE_MODE_CFG::get_NONALIGN(mode) || DPU_FEATURE_MODE_CFG::get_SURF_LEN(mode)) {
    return unmodelled<DPU_FEATURE_MODE_CFG>("", mode,
                                            "modelled: CONV_MODE as the CNA (0/3), OUTPUT_MODE 2 (to memory), "
                                            "no flying/transpose/regroup/nonalign/SURF_LEN");
  }
  // BS_MUL_SHIFT_VALUE_NEG belongs to the BS multiplier (decode_bs_bn).
  const uint32_t format = regs.get<DPU_DATA_FORMAT>();
  VNPU_TRY(require<DPU_DATA_FORMAT>("", format & ~DPU_DATA_FORMAT::BS_MUL_SHIFT_VALUE_NEG(0x3f), 0,
                                    "only int8 in/out with no EW/BN pre-shifts is modelled"));
  VNPU_TRY(require<DPU_OFFSET_PEND>("", regs.get<DPU_OFFSET_PEND>(), 0, "not modelled"));

  const uint32_t chan = regs.get<DPU_DATA_CUBE_CHANNEL>();
  const uint32_t height = regs.get<DPU_DATA_CUBE_HEIGHT>();
  if (DPU_DATA_CUBE_WIDTH::get_WIDTH(regs.get<DPU_DATA_CUBE_WIDTH>()) + 1 != in.width ||
      DPU_DATA_CUBE_HEIGHT::get_HEIGHT(height) + 1 != in.height || DPU_DATA_CUBE_HEIGHT::get_MINMAX_CTL(height) ||
      DPU_DATA_CUBE_CHANNEL::get_CHANNEL(chan) + 1 != in.channels ||
      DPU_DATA_CUBE_CHANNEL::get_ORIG_CHANNEL(chan) > DPU_DATA_CUBE_CHANNEL::get_CHANNEL(chan)) {
    return unmodelled<DPU_DATA_CUBE_CHANNEL>("", chan, "DPU cube differs from the CORE output cube");
  }
  VNPU_TRY(require<DPU_DATA_CUBE_NOTCH_ADDR>("", regs.get<DPU_DATA_CUBE_NOTCH_ADDR>(), 0, "not modelled"));
  const uint32_t w0 = regs.get<DPU_WDMA_SIZE_0>(), w1 = regs.get<DPU_WDMA_SIZE_1>();
  if (DPU_WDMA_SIZE_0::get_CHANNEL_WDMA(w0) + 1 != in.channels || DPU_WDMA_SIZE_0::get_SIZE_C_WDMA(w0) ||
      DPU_WDMA_SIZE_0::get_TP_PRECISION(w0) || DPU_WDMA_SIZE_1::get_WIDTH_WDMA(w1) + 1 != in.width ||
      DPU_WDMA_SIZE_1::get_HEIGHT_WDMA(w1) + 1 != in.height) {
    return unmodelled<DPU_WDMA_SIZE_0>("", w0, "write DMA cube differs from the DPU cube");
  }
  d->dst = regs.get<DPU_DST_BASE_ADDR>();
  d->surface_stride = uint64_t{DPU_DST_SURF_STRIDE::get_DST_SURF_STRIDE(regs.get<DPU_DST_SURF_STRIDE>())} * 16;
  const uint64_t surface = uint64_t{in.width} * in.height * kAtomBytes;
  if (in.channels > kAtomBytes && d->surface_stride < surface) {
    return unmodelled<DPU_DST_SURF_STRIDE>("", d->surface_stride, "output surfaces would overlap");
  }
  // SURFACE_ADD has no functional effect in the model; the only relation
  // evidenced by working streams is 2 (direct) or 4 (depthwise) surfaces.
  const uint64_t surf_add = DPU_SURFACE_ADD::get_SURF_ADD(regs.get<DPU_SURFACE_ADD>());
  if (surf_add * 16 != d->surface_stride * (in.depthwise ? 4 : 2)) {
    return unmodelled<DPU_SURFACE_ADD>("SURF_ADD", surf_add,
                                       "only 2x (direct) / 4x (depthwise) DST_SURF_STRIDE is evidenced");
  }

  const uint32_t rc = regs.get<DPU_RDMA_RDMA_DATA_CUBE_HEIGHT>();
  if (DPU_RDMA_RDMA_DATA_CUBE_WIDTH::get_WIDTH(regs.get<DPU_RDMA_RDMA_DATA_CUBE_WIDTH>()) + 1 != in.width ||
      DPU_RDMA_RDMA_DATA_CUBE_HEIGHT::get_HEIGHT(rc) + 1 != in.height ||
      DPU_RDMA_RDMA_DATA_CUBE_HEIGHT::get_EW_LINE_NOTCH_ADDR(rc) ||
      DPU_RDMA_RDMA_DATA_CUBE_CHANNEL::get_CHANNEL(regs.get<DPU_RDMA_RDMA_DATA_CUBE_CHANNEL>()) + 1 != in.channels) {
    return unmodelled<DPU_RDMA_RDMA_DATA_CUBE_HEIGHT>("", rc, "RDMA cube differs from the DPU cube");
  }
  VNPU_TRY(require<DPU_RDMA_RDMA_SRC_DMA_CFG>("", regs.get<DPU_RDMA_RDMA_SRC_DMA_CFG>(), 0, "not modelled"));
  VNPU_TRY(require<DPU_RDMA_RDMA_PAD_CFG>("", regs.get<DPU_RDMA_RDMA_PAD_CFG>(), 0, "not modelled"));
  VNPU_TRY(require<DPU_RDMA_RDMA_NRDMA_CFG>("", regs.get<DPU_RDMA_RDMA_NRDMA_CFG>(), 0,
                                            "the BN operand stream is not modelled"));
  return {};
}

Status decode_bs_bn(const RegisterFile& regs, bool rdma_enabled, DpuSetup* d) {
  using namespace reg;
  const uint32_t bs = regs.get<DPU_BS_CFG>();
  // The OW term lives in BS (dpu_ow_operand); a bypassed BS stage has no
  // evidenced meaning for it, so BS must run.
  if (DPU_BS_CFG::get_BS_BYPASS(bs) || DPU_BS_CFG::get_BS_MUL_PRELU(bs)) {
    return unmodelled<DPU_BS_CFG>("", bs, "modelled: BS stage on, no PReLU");
  }
  d->bs_mul = !DPU_BS_CFG::get_BS_MUL_BYPASS(bs);
  if (!DPU_BS_CFG::get_BS_ALU_BYPASS(bs)) {
    if (DPU_BS_CFG::get_BS_ALU_ALGO(bs) != kAluAdd) {
      return unmodelled<DPU_BS_CFG>("BS_ALU_ALGO", DPU_BS_CFG::get_BS_ALU_ALGO(bs), "only 2 (add) is modelled");
    }
    d->bias_from_memory = DPU_BS_CFG::get_BS_ALU_SRC(bs);
    d->bias_constant = static_cast<int32_t>(regs.get<DPU_BS_ALU_CFG>());
  }
  const uint32_t brdma = DPU_RDMA_RDMA_BRDMA_CFG::get_BRDMA_DATA_USE(regs.get<DPU_RDMA_RDMA_BRDMA_CFG>());
  // The one BS-multiplier form modelled (claimed by third-party hardware
  // notes, docs §9): the ALU adds A from the data-use-7 stream, then the
  // product with C[c] from the same stream is shifted by one amount for
  // both signs.
  if (d->bs_mul && (!d->bias_from_memory || brdma != kBrdmaAluOwMul)) {
    return unmodelled<DPU_BS_CFG>("", bs,
                                  "the BS multiplier is modelled only with the ALU adding A and multiplying by C "
                                  "from the BRDMA_DATA_USE 7 stream");
  }
  if (d->bias_from_memory) {
    if (!rdma_enabled) {
      return unmodelled<DPU_BS_CFG>("BS_ALU_SRC", 1, "bias from memory needs DPU_RDMA in the op-enable mask");
    }
    if (brdma != (d->bs_mul ? kBrdmaAluOwMul : kBrdmaAlu)) {
      return unmodelled<DPU_RDMA_RDMA_BRDMA_CFG>(
          "BRDMA_DATA_USE", brdma,
          d->bs_mul ? "with the BS multiplier only 7 (A, B, C per channel) is modelled"
                    : "without the BS multiplier only 1 (one int32 ALU operand per channel) is modelled");
    }
    d->bias_addr = regs.get<DPU_RDMA_RDMA_BS_BASE_ADDR>();
  } else if (brdma != 0) {
    return unmodelled<DPU_RDMA_RDMA_BRDMA_CFG>("BRDMA_DATA_USE", brdma, "bias stream enabled but not used by BS");
  }
  const uint32_t mul = regs.get<DPU_BS_MUL_CFG>();
  const uint32_t shift_neg = DPU_DATA_FORMAT::get_BS_MUL_SHIFT_VALUE_NEG(regs.get<DPU_DATA_FORMAT>());
  if (!d->bs_mul) {
    if (mul || shift_neg) {
      return unmodelled<DPU_BS_MUL_CFG>("", mul, "BS multiplier fields set while BS_MUL_BYPASS is 1");
    }
  } else {
    if (!DPU_BS_MUL_CFG::get_BS_MUL_SRC(mul) || DPU_BS_MUL_CFG::get_BS_MUL_OPERAND(mul) ||
        DPU_BS_MUL_CFG::get_BS_TRUNCATE_SRC(mul)) {
      return unmodelled<DPU_BS_MUL_CFG>("", mul,
                                        "modelled: BS_MUL_SRC 1 (C from the stream), BS_MUL_OPERAND and "
                                        "BS_TRUNCATE_SRC 0");
    }
    d->bs_shift = DPU_BS_MUL_CFG::get_BS_MUL_SHIFT_VALUE(mul);
    if (shift_neg != d->bs_shift) {
      return unmodelled<DPU_DATA_FORMAT>("BS_MUL_SHIFT_VALUE_NEG", shift_neg,
                                         "modelled only equal to BS_MUL_SHIFT_VALUE (one shift for both signs)");
    }
  }
  d->bs_relu = {!DPU_BS_CFG::get_BS_RELU_BYPASS(bs), static_cast<bool>(DPU_BS_CFG::get_BS_RELUX_EN(bs)),
                static_cast<int32_t>(regs.get<DPU_BS_RELUX_CMP_VALUE>())};

  const uint32_t bn = regs.get<DPU_BN_CFG>();
  if (!DPU_BN_CFG::get_BN_BYPASS(bn)) {
    // ReLU/ReLUX (vendor ReLU6 streams, rocket.md §3.7), and the ALU adding
    // the constant operand (NVDLA SDP lineage, §10).
    if (!DPU_BN_CFG::get_BN_MUL_BYPASS(bn) || DPU_BN_CFG::get_BN_MUL_PRELU(bn)) {
      return unmodelled<DPU_BN_CFG>("", bn, "the BN multiplier is not modelled (BN_MUL_BYPASS must be 1)");
    }
    if (!DPU_BN_CFG::get_BN_ALU_BYPASS(bn)) {
      if (DPU_BN_CFG::get_BN_ALU_ALGO(bn) != kAluAdd) {
        return unmodelled<DPU_BN_CFG>("BN_ALU_ALGO", DPU_BN_CFG::get_BN_ALU_ALGO(bn), "only 2 (add) is modelled");
      }
      if (DPU_BN_CFG::get_BN_ALU_SRC(bn)) {
        return unmodelled<DPU_BN_CFG>("BN_ALU_SRC", 1,
                                      "the BN ALU is modelled only with its constant operand (BN_ALU_CFG)");
      }
      d->bn_add = true;
      d->bn_operand = static_cast<int32_t>(regs.get<DPU_BN_ALU_CFG>());
    }
    d->bn_relu = {!DPU_BN_CFG::get_BN_RELU_BYPASS(bn), static_cast<bool>(DPU_BN_CFG::get_BN_RELUX_EN(bn)),
                  static_cast<int32_t>(regs.get<DPU_BN_RELUX_CMP_VALUE>())};
  }
  return {};
}

Status decode_ew(const RegisterFile& regs, const ConvOutput& in, bool rdma_enabled, DpuSetup* d) {
  using namespace reg;
  const uint32_t ew = regs.get<DPU_EW_CFG>();
  const uint32_t erdma = regs.get<DPU_RDMA_RDMA_ERDMA_CFG>();
  const uint32_t rmode = regs.get<DPU_RDMA_RDMA_FEATURE_MODE_CFG>();
  using RMode = DPU_RDMA_RDMA_FEATURE_MODE_CFG;
  using Erdma = DPU_RDMA_RDMA_ERDMA_CFG;
  if (RMode::get_IN_PRECISION(rmode) || RMode::get_PROC_PRECISION(rmode) ||
      RMode::get_CONV_MODE(rmode) != (in.depthwise ? 3u : 0u) || RMode::get_FLYING_MODE(rmode) ||
      RMode::get_MRDMA_FP16TOFP32_EN(rmode)) {
    return unmodelled<RMode>("", rmode, "modelled: int8, CONV_MODE as the CNA, no flying mode");
  }
  const bool mrdma_on = !RMode::get_MRDMA_DISABLE(rmode);
  const bool erdma_on = !Erdma::get_ERDMA_DISABLE(erdma);
  const uint32_t comb = RMode::get_COMB_USE(rmode);
  if (DPU_EW_CFG::get_EW_BYPASS(ew)) {
    if (mrdma_on || erdma_on || comb) {
      return unmodelled<RMode>("", rmode, "MRDMA/ERDMA streams enabled while EW is bypassed");
    }
    return {};
  }
  // After the BS multiplier the EW stage adds to its (and BN's) output as it
  // adds to the accumulator without it: NVDLA's Y unit follows X1 and X2
  // (docs §10.6), unverified on RK3588.
  // The one EW configuration evidenced (Mesa's fused ADD, rocket.md §3.5).
  using Ew = DPU_EW_CFG;
  if (Ew::get_EW_OP_BYPASS(ew) || Ew::get_EW_OP_TYPE(ew) || !Ew::get_EW_OP_SRC(ew) || !Ew::get_EW_LUT_BYPASS(ew) ||
      Ew::get_EW_OP_CVT_BYPASS(ew) || Ew::get_EW_MUL_PRELU(ew) || Ew::get_EW_ALU_ALGO(ew) != kAluAdd ||
      Ew::get_EW_BINARY_EN(ew) || Ew::get_EW_EQUAL_EN(ew) || Ew::get_EW_DATA_MODE(ew) != 1 ||
      Ew::get_EDATA_SIZE(ew) != 1 || !Ew::get_EW_CVT_TYPE(ew) || Ew::get_EW_CVT_ROUND(ew)) {
    return unmodelled<DPU_EW_CFG>("", ew,
                                  "modelled: int8 operand from memory, converted (offset, scale, shift), added "
                                  "(EW_CFG 0x904202c0 plus optional ReLU/ReLUX)");
  }
  if (!rdma_enabled || !mrdma_on || !erdma_on || comb != 5 || Erdma::get_ERDMA_DATA_MODE(erdma) != 1 ||
      Erdma::get_ERDMA_DATA_SIZE(erdma) != 1 || Erdma::get_ERDMA_SURF_MODE(erdma) || Erdma::get_ERDMA_NONALIGN(erdma)) {
    return unmodelled<Erdma>("", erdma,
                                               "EW operand modelled only as MRDMA+ERDMA combined (COMB_USE 5, "
                                               "ERDMA DATA_MODE 1, DATA_SIZE 1)");
  }
  const uint32_t ew_stride = DPU_RDMA_RDMA_EW_SURF_STRIDE::get_EW_SURF_STRIDE(regs.get<DPU_RDMA_RDMA_EW_SURF_STRIDE>());
  if (uint64_t{ew_stride} * 16 != d->surface_stride) {
    return unmodelled<DPU_RDMA_RDMA_EW_SURF_STRIDE>("", ew_stride,
                                                    "only EW_SURF_STRIDE == DST_SURF_STRIDE is evidenced");
  }
  const uint32_t scale_reg = regs.get<DPU_EW_CVT_SCALE_VALUE>();
  d->ew.enabled = true;
  d->ew.offset = static_cast<int32_t>(regs.get<DPU_EW_CVT_OFFSET_VALUE>());
  d->ew.scale = DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SCALE(scale_reg);
  d->ew.shift = DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SHIFT(scale_reg);
  if (DPU_EW_CVT_SCALE_VALUE::get_EW_TRUNCATE(scale_reg)) {
    return unmodelled<DPU_EW_CVT_SCALE_VALUE>("EW_TRUNCATE", DPU_EW_CVT_SCALE_VALUE::get_EW_TRUNCATE(scale_reg),
                                              "not modelled");
  }
  if (d->ew.scale >= 0x8000) {
    return unmodelled<DPU_EW_CVT_SCALE_VALUE>("EW_OP_CVT_SCALE", d->ew.scale,
                                              "scales >= 0x8000 (sign unknown) are not evidenced");
  }
  d->ew.src_addr = regs.get<DPU_RDMA_RDMA_SRC_BASE_ADDR>();
  d->ew.ew_addr = regs.get<DPU_RDMA_RDMA_EW_BASE_ADDR>();
  d->ew.src_notch = uint64_t{DPU_RDMA_RDMA_SURF_NOTCH::get_SURF_NOTCH_ADDR(regs.get<DPU_RDMA_RDMA_SURF_NOTCH>())} * 16;
  const uint32_t ew_notch = regs.get<DPU_RDMA_RDMA_EW_SURF_NOTCH>();
  d->ew.ew_notch = uint64_t{DPU_RDMA_RDMA_EW_SURF_NOTCH::get_EW_SURF_NOTCH(ew_notch)} * 16;
  d->ew.relu = {!DPU_EW_CFG::get_EW_RELU_BYPASS(ew), static_cast<bool>(DPU_EW_CFG::get_EW_RELUX_EN(ew)),
                static_cast<int32_t>(regs.get<DPU_EW_RELUX_CMP_VALUE>())};
  return {};
}

Status decode_out_cvt(const RegisterFile& regs, DpuSetup* d) {
  using namespace reg;
  const uint32_t scale = regs.get<DPU_OUT_CVT_SCALE>(), shift = regs.get<DPU_OUT_CVT_SHIFT>();
  if (DPU_OUT_CVT_SCALE::get_FP32TOFP16_EN(scale)) {
    return unmodelled<DPU_OUT_CVT_SCALE>("FP32TOFP16_EN", 1, "not modelled");
  }
  if (DPU_OUT_CVT_SHIFT::get_CVT_TYPE(shift) || DPU_OUT_CVT_SHIFT::get_CVT_ROUND(shift) ||
      DPU_OUT_CVT_SHIFT::get_MINUS_EXP(shift)) {
    return unmodelled<DPU_OUT_CVT_SHIFT>("", shift, "only CVT_TYPE 0, CVT_ROUND 0, MINUS_EXP 0 are modelled");
  }
  d->out_scale = DPU_OUT_CVT_SCALE::get_OUT_CVT_SCALE(scale);
  d->out_shift = DPU_OUT_CVT_SHIFT::get_OUT_CVT_SHIFT(shift);
  d->out_offset = static_cast<int32_t>(regs.get<DPU_OUT_CVT_OFFSET>());
  if (d->out_scale >= 0x8000) {
    return unmodelled<DPU_OUT_CVT_SCALE>("OUT_CVT_SCALE", d->out_scale,
                                         "scales >= 0x8000 (sign unknown) are not evidenced");
  }
  if (d->out_shift > 48) {
    return unmodelled<DPU_OUT_CVT_SHIFT>("OUT_CVT_SHIFT", d->out_shift, "shifts above 48 are not modelled");
  }
  return {};
}

// The EW operand of channel c at (y, x): MRDMA reads the even surfaces at
// SRC_BASE_ADDR, ERDMA the odd ones at EW_BASE_ADDR; after each task band of
// one surface each skips its NOTCH to the next surface it owns.
struct EwOperand {
  std::vector<const int8_t*> surface;  // start of the task band of each surface
};

Status fetch_ew(const DpuSetup& d, DeviceMemory& memory, const ConvOutput& in, EwOperand* op, TaskCounters* counters) {
  const uint64_t band = uint64_t{in.width} * in.height * kAtomBytes;
  const uint32_t surfaces = (in.channels + kAtomBytes - 1) / kAtomBytes;
  for (uint32_t sf = 0; sf < surfaces; ++sf) {
    const bool odd = sf % 2;
    const uint64_t base = odd ? d.ew.ew_addr : d.ew.src_addr;
    const uint64_t addr = base + (sf / 2) * (band + (odd ? d.ew.ew_notch : d.ew.src_notch));
    const uint8_t* p = nullptr;
    VNPU_TRY(read_device(memory, addr, band, odd ? "ERDMA element-wise operand" : "MRDMA element-wise operand", &p));
    op->surface.push_back(reinterpret_cast<const int8_t*>(p));
  }
  counters->bytes_read += band * surfaces;
  return {};
}

// The BRDMA_DATA_USE 7 stream: per group of 8 channels, A (int32, the ALU
// operand), B (int16, the per-channel OW operand, read only with
// BS_OW_CFG.OW_SRC, which is not modelled: must be 0) and C (int16, the
// multiplier).
Status read_bs_stream(const DpuSetup& d, DeviceMemory& memory, uint32_t channels, std::vector<int64_t>* bias,
                      std::vector<int64_t>* mul, TaskCounters* counters) {
  using namespace reg;
  if (channels % kBsGroupChannels) {
    return unmodelled<DPU_RDMA_RDMA_DATA_CUBE_CHANNEL>("CHANNEL", channels - 1,
                                                       "the data-use-7 stream is modelled for whole groups of 8");
  }
  const uint64_t bytes = uint64_t{channels} / kBsGroupChannels * kBsGroupBytes;
  const uint8_t* p = nullptr;
  VNPU_TRY(read_device(memory, d.bias_addr, bytes, "BRDMA bias/OW/multiplier stream", &p));
  mul->resize(channels);
  for (uint32_t c = 0; c < channels; ++c) {
    const uint8_t* group = p + uint64_t{c / kBsGroupChannels} * kBsGroupBytes;
    const uint32_t k = c % kBsGroupChannels;
    int32_t a;
    int16_t b, m;
    std::memcpy(&a, group + 4 * k, 4);
    std::memcpy(&b, group + kBsOwOffset + 2 * k, 2);
    std::memcpy(&m, group + kBsMulOffset + 2 * k, 2);
    if (b != 0) {
      return unmodelled<DPU_RDMA_RDMA_BS_BASE_ADDR>("(stream operand B)", b,
                                                    "a non-zero per-channel OW operand is not modelled");
    }
    (*bias)[c] = a;
    (*mul)[c] = m;
  }
  counters->bytes_read += bytes;
  return {};
}

}  // namespace

Status dpu_ow_operand(const RegisterFile& regs, bool depthwise, int32_t* ow_op) {
  using namespace reg;
  const uint32_t cfg = regs.get<DPU_BS_OW_CFG>();
  const uint32_t size_e = depthwise ? 3 : 1;
  using Ow = DPU_BS_OW_CFG;
  if (Ow::get_SIZE_E_0(cfg) != size_e || Ow::get_SIZE_E_1(cfg) != size_e || Ow::get_SIZE_E_2(cfg) != size_e ||
      Ow::get_OD_BYPASS(cfg) || Ow::get_OW_SRC(cfg) || Ow::get_TP_ORG_EN(cfg) || Ow::get_RGP_CNTER(cfg)) {
    return unmodelled<DPU_BS_OW_CFG>("", cfg, depthwise ? "modelled for depthwise: SIZE_E_0/1/2 = 3, nothing else"
                                                        : "modelled for direct: SIZE_E_0/1/2 = 1, nothing else");
  }
  *ow_op = static_cast<int32_t>(sign_extend(DPU_BS_OW_OP::get_OW_OP(regs.get<DPU_BS_OW_OP>()), 16));
  return {};
}

Status run_dpu(const RegisterFile& regs, DeviceMemory& memory, const ConvOutput& in, bool rdma_enabled,
               TaskCounters* counters) {
  DpuSetup d;
  VNPU_TRY(decode_cube(regs, in, &d));
  VNPU_TRY(decode_bs_bn(regs, rdma_enabled, &d));
  VNPU_TRY(decode_ew(regs, in, rdma_enabled, &d));
  VNPU_TRY(decode_out_cvt(regs, &d));

  std::vector<int64_t> bias(in.channels, d.bias_constant);
  std::vector<int64_t> mul;
  if (d.bias_from_memory && !d.bs_mul) {
    // BRDMA reads one int32 per channel of the RDMA cube (padded channels too).
    const uint8_t* p = nullptr;
    VNPU_TRY(read_device(memory, d.bias_addr, uint64_t{in.channels} * 4, "BRDMA bias", &p));
    for (uint32_t c = 0; c < in.channels; ++c) {
      int32_t v;
      std::memcpy(&v, p + uint64_t{c} * 4, 4);
      bias[c] = v;
    }
    counters->bytes_read += uint64_t{in.channels} * 4;
  } else if (d.bs_mul) {
    VNPU_TRY(read_bs_stream(d, memory, in.channels, &bias, &mul, counters));
  }
  EwOperand ew;
  if (d.ew.enabled) {
    VNPU_TRY(fetch_ew(d, memory, in, &ew, counters));
  }
  const uint32_t surfaces = (in.channels + kAtomBytes - 1) / kAtomBytes;
  const uint64_t pixels = uint64_t{in.width} * in.height;
  std::vector<uint8_t*> out(surfaces);
  for (uint32_t sf = 0; sf < surfaces; ++sf) {
    VNPU_TRY(write_device(memory, d.dst + sf * d.surface_stride, pixels * kAtomBytes, "DPU write DMA", &out[sf]));
  }
  for (uint64_t px = 0; px < pixels; ++px) {
    const int32_t* acc = &in.acc[px * in.channels];
    for (uint32_t c = 0; c < in.channels; ++c) {
      int64_t v = int64_t{acc[c]} + bias[c];
      if (d.bs_mul) {
        // Held wide, rounded, then saturated to int32 (claimed, docs §9).
        v = std::clamp<int64_t>(round_shift_even(v * mul[c], d.bs_shift),
                                std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
      }
      v = d.bs_relu.apply(v);
      if (d.bn_add) {
        // Exact, then saturated to int32 like the BS stage's result (§10).
        v = std::clamp<int64_t>(v + d.bn_operand, std::numeric_limits<int32_t>::min(),
                                std::numeric_limits<int32_t>::max());
      }
      v = d.bn_relu.apply(v);
      if (d.ew.enabled) {
        const int64_t e = ew.surface[c / kAtomBytes][px * kAtomBytes + c % kAtomBytes];
        v = d.ew.relu.apply(v + round_shift((e + d.ew.offset) * d.ew.scale, d.ew.shift));
      }
      const int64_t q = round_shift(v * d.out_scale, d.out_shift) + d.out_offset;
      out[c / kAtomBytes][px * kAtomBytes + c % kAtomBytes] =
          static_cast<uint8_t>(static_cast<int8_t>(std::clamp<int64_t>(q, -128, 127)));
    }
  }
  counters->bytes_written += pixels * kAtomBytes * surfaces;
  return {};
}

}  // namespace nonstick::virt
