// The reason table: why a field of our stream differs from Mesa's. Each
// entry names the fields it covers and a predicate that checks, on the
// values at hand, that the difference is really that one (a rounding reason
// only applies when ours is the nearer encoding, a tiling reason only when
// ours still covers the band's receptive field, ...). Anything else is
// UNEXPLAINED. Facts cited from /work/shared/hardware/rocket.md (§) and the
// captures' README.
#include <cmath>

#include "backends/rocket/coefs.h"
#include "rocket/registers.h"
#include "tools/rocket_mesa_diff/diff.h"

namespace nonstick::mesa_diff {
namespace {

namespace r = rocket::reg;

uint32_t reg_of(const std::map<uint16_t, uint32_t>& regs, uint16_t offset) {
  auto it = regs.find(offset);
  return it == regs.end() ? 0 : it->second;
}

bool mesa_fused_add(const DiffContext& c) {
  for (const std::string& t : c.mesa_job.types) {
    if (t == "ADD") return true;
  }
  return false;
}

// The multiplier OUT_CVT applies to the accumulator: scale / 2^shift, with
// one more halving when CORE CLIP_TRUNCATE pre-shifts the accumulator.
double out_multiplier(const std::map<uint16_t, uint32_t>& regs) {
  const uint32_t scale = r::DPU_OUT_CVT_SCALE::get_OUT_CVT_SCALE(reg_of(regs, r::DPU_OUT_CVT_SCALE::offset));
  const uint32_t shift = r::DPU_OUT_CVT_SHIFT::get_OUT_CVT_SHIFT(reg_of(regs, r::DPU_OUT_CVT_SHIFT::offset));
  const uint32_t clip = r::CORE_CLIP_TRUNCATE::get_CLIP_TRUNCATE(reg_of(regs, r::CORE_CLIP_TRUNCATE::offset));
  return std::ldexp(static_cast<double>(scale), -static_cast<int>(shift + clip));
}

uint32_t clip_truncate(const std::map<uint16_t, uint32_t>& regs) {
  return r::CORE_CLIP_TRUNCATE::get_CLIP_TRUNCATE(reg_of(regs, r::CORE_CLIP_TRUNCATE::offset));
}

// ---- Predicates.

bool add_kept_separate(const DiffContext& c) { return mesa_fused_add(c) && !c.op.has_addend; }

bool requant_rounding(const DiffContext& c) {
  const double m = c.op.out_multiplier;
  if (!(m > 0) || mesa_fused_add(c) != c.op.has_addend) return false;
  const double mesa = out_multiplier(c.mesa_regs), ours = out_multiplier(c.our_regs);
  // Both 15-bit encodings of m; ours the nearer one (to double rounding).
  return std::fabs(mesa - m) <= std::ldexp(m, -13) && std::fabs(ours - m) <= std::fabs(mesa - m) * (1 + 1e-12);
}

// Our task requantizes precisely (docs/virtual-rk3588.md §10): the BS
// multiplier live with C from the data-use-7 stream, the BN ALU adding its
// constant, OUT_CVT's gain such that TFLite's M needs a C in [2^14, 2^15),
// and the BN constant within half a unit of v of TFLite's rounding offset,
// or one unit more where that makes the layer provably bit-exact (§11).
bool precise_requant(const DiffContext& c) {
  using Bs = r::DPU_BS_CFG;
  using Bn = r::DPU_BN_CFG;
  const uint32_t bs = reg_of(c.our_regs, Bs::offset), bn = reg_of(c.our_regs, Bn::offset);
  const uint32_t mul = reg_of(c.our_regs, r::DPU_BS_MUL_CFG::offset);
  const uint32_t brdma = reg_of(c.our_regs, r::DPU_RDMA_RDMA_BRDMA_CFG::offset);
  if (c.op.has_addend || !(c.op.out_multiplier > 0) || Bs::get_BS_MUL_BYPASS(bs) ||
      !r::DPU_BS_MUL_CFG::get_BS_MUL_SRC(mul) || r::DPU_RDMA_RDMA_BRDMA_CFG::get_BRDMA_DATA_USE(brdma) != 7) {
    return false;
  }
  if (Bn::get_BN_BYPASS(bn) || Bn::get_BN_ALU_BYPASS(bn) || Bn::get_BN_ALU_ALGO(bn) != 2 || Bn::get_BN_ALU_SRC(bn)) {
    return false;
  }
  const double gain = out_multiplier(c.our_regs);  // output steps per unit of v
  const int bs_shift = static_cast<int>(r::DPU_BS_MUL_CFG::get_BS_MUL_SHIFT_VALUE(mul));
  const double needed_c = std::ldexp(c.op.out_multiplier, bs_shift) / gain;
  if (needed_c < 16384 - 0.5 || needed_c > 32767 + 0.5) return false;
  const double b = static_cast<int32_t>(reg_of(c.our_regs, r::DPU_BN_ALU_CFG::offset));
  return std::fabs(b * gain - rocket::tflite_rounding_offset(c.op.out_multiplier)) <= gain * 1.5 * (1 + 1e-9);
}

bool clip_truncate_dropped(const DiffContext& c) {
  if (clip_truncate(c.mesa_regs) != 1 || clip_truncate(c.our_regs) != 0) return false;
  if (c.reg == "CORE_CLIP_TRUNCATE") return true;
  return c.mesa_value + 1 == c.our_value;  // OUT_CVT_SHIFT: the same multiplier
}

bool ew_scale_rounding(const DiffContext& c) {
  if (!mesa_fused_add(c) || !c.op.has_addend || !(c.op.addend_multiplier > 0)) return false;
  const uint32_t o = reg_of(c.our_regs, r::DPU_EW_CVT_SCALE_VALUE::offset);
  const uint32_t mz = reg_of(c.mesa_regs, r::DPU_EW_CVT_SCALE_VALUE::offset);
  if (r::DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SHIFT(o) != r::DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SHIFT(mz)) {
    return false;
  }
  // The exact mantissa at our shift: ours rounds it, Mesa truncates it.
  const double exact = std::ldexp(c.op.addend_multiplier, static_cast<int>(r::DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SHIFT(o)));
  const double ours = r::DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SCALE(o);
  const double mesa = r::DPU_EW_CVT_SCALE_VALUE::get_EW_OP_CVT_SCALE(mz);
  return std::fabs(ours - exact) <= 0.5 + 1e-9 && mesa == std::floor(exact);
}

bool pad_unread(const DiffContext& c) {
  return c.op.pad_left == 0 && c.op.pad_top == 0 && c.op.pad_right == 0 && c.op.pad_bottom == 0;
}

bool spare_input_row(const DiffContext& c) {
  if (c.mesa_job.tasks.size() != c.our_job.tasks.size() || c.mesa_value <= c.our_value) return false;
  // Our band still covers the receptive field of its output rows (the last
  // band may end on bottom padding).
  const uint32_t out0 = reg_of(c.our_regs, r::CORE_DATAOUT_SIZE_0::offset);
  if (out0 != reg_of(c.mesa_regs, r::CORE_DATAOUT_SIZE_0::offset)) return false;
  const int rows = static_cast<int>(r::CORE_DATAOUT_SIZE_0::get_DATAOUT_HEIGHT(out0)) + 1;
  const int pad = static_cast<int>(r::CNA_PAD_CON0::get_PAD_TOP(reg_of(c.our_regs, r::CNA_PAD_CON0::offset)));
  const int need = (rows - 1) * c.op.stride_h + c.op.kernel_h - pad;
  return static_cast<int>(c.our_value) >= need - c.op.pad_bottom;
}

bool clamp_programmed(const DiffContext& c) { return c.op.act_min > -128 || c.op.act_max < 127; }

bool producer_on_mesa_cpu(const DiffContext& c) {
  const std::string prefix = "output of node ";
  if (c.mesa_text.rfind("partition input", 0) != 0 || c.our_text.rfind(prefix, 0) != 0) return false;
  const int node = std::atoi(c.our_text.c_str() + prefix.size());
  for (const CapturedNode& n : c.mesa.nodes) {
    if (n.index == node) return !n.delegated;
  }
  return false;
}

}  // namespace

const std::vector<Reason>& reasons() {
  static const std::vector<Reason> table = {
      {"add-kept-separate",
       {"DPU_EW_CFG.*", "DPU_EW_CVT_OFFSET_VALUE.*", "DPU_EW_CVT_SCALE_VALUE.*", "DPU_EW_RELUX_CMP_VALUE.*",
        "DPU_OUT_CVT_OFFSET.*", "DPU_OUT_CVT_SCALE.*", "DPU_OUT_CVT_SHIFT.*", "DPU_BN_CFG.*", "DPU_BN_RELUX_CMP_VALUE.*",
        "DPU_RDMA_RDMA_SRC_BASE_ADDR.*", "DPU_RDMA_RDMA_ERDMA_CFG.*", "DPU_RDMA_RDMA_EW_BASE_ADDR.*",
        "DPU_RDMA_RDMA_EW_SURF_STRIDE.*", "DPU_RDMA_RDMA_FEATURE_MODE_CFG.*", "DPU_RDMA_RDMA_SURF_NOTCH.*",
        "DPU_RDMA_RDMA_EW_SURF_NOTCH.*"},
       "Residual ADD not fused. Mesa fuses every ADD into the convolution before it (EW stage reads the other "
       "operand, OUT_CVT requantizes to the ADD's output). nonstick fuses only when that is exact: TFLite saturates "
       "the convolution's output to 8 bits before adding, so when some input can make the convolution saturate, the "
       "fused sum would differ; the ADD then runs as its own NPU job (identity 1x1 convolution plus the EW add). The "
       "per-layer notes give the blocker (`fusion_blocker()`, src/backends/rocket/lower.cc). The ADD's fields are in "
       "that job, which has no Mesa counterpart.",
       add_kept_separate},
      {"clip-truncate",
       {"CORE_CLIP_TRUNCATE.CLIP_TRUNCATE", "DPU_OUT_CVT_SHIFT.OUT_CVT_SHIFT"},
       "Accumulator pre-shift. Mesa sets CORE CLIP_TRUNCATE=1 (accumulator shifted right one bit, biases halved, "
       "OUT_CVT_SHIFT one less) when the weight scale's float bit pattern is one of 15 values copied from vendor "
       "traces (rocket.md §3.3). nonstick never truncates: lowering checks that every accumulator fits the DPU's "
       "32-bit path (`accumulator_bound()`), so the product is rounded once instead of twice, with the same "
       "effective multiplier (checked: Mesa's shift + 1 = ours).",
       clip_truncate_dropped},
      {"requant-rounding",
       {"DPU_OUT_CVT_SCALE.OUT_CVT_SCALE", "DPU_OUT_CVT_SHIFT.OUT_CVT_SHIFT"},
       "Requantization mantissa. nonstick rounds m = s_in*s_w/s_out to the nearest 15-bit mantissa (renormalising "
       "when rounding carries); Mesa truncates the float's mantissa and adds 1 (rocket.md §3.3), so its multiplier "
       "is up to 2^-14 too large. Checked per field: both encode m within 2^-13 and ours is the nearer one.",
       requant_rounding},
      {"precise-requant",
       {"DPU_DATA_FORMAT.BS_MUL_SHIFT_VALUE_NEG", "DPU_BS_CFG.BS_MUL_BYPASS", "DPU_BS_MUL_CFG.*",
        "DPU_RDMA_RDMA_BRDMA_CFG.BRDMA_DATA_USE", "DPU_BN_CFG.BN_ALU_ALGO", "DPU_BN_CFG.BN_ALU_BYPASS",
        "DPU_BN_CFG.BN_BYPASS", "DPU_BN_ALU_CFG.*", "DPU_OUT_CVT_SCALE.OUT_CVT_SCALE", "DPU_OUT_CVT_SHIFT.OUT_CVT_SHIFT"},
       "Precise requantization (nonstick's default; docs/virtual-rk3588.md §10). TFLite requantizes with a 31-bit "
       "multiplier M and two roundings, which equal one rounding of acc*M plus 2^-(r+1) steps. Mesa's OUT_CVT has a "
       "15-bit scale and no such offset, so ~1 % of outputs per layer land one step off. nonstick runs the BS "
       "multiplier (BS_MUL_BYPASS 0, BS_MUL_SRC 1, shift in BS_MUL_CFG and DATA_FORMAT) with one int16 C for every "
       "channel from the BRDMA_DATA_USE 7 stream (the per-channel form of §9), chooses C and OUT_CVT_SCALE together "
       "so that C*SCALE/2^(shift+OUT_CVT_SHIFT) is M to ~2^-25, and lets the BN ALU add the offset as the constant "
       "BN_ALU_CFG (BN_ALU_ALGO 2, BN_ALU_BYPASS 0). Checked per field: M needs a C in [2^14, 2^15) at our gain "
       "and BN_ALU_CFG is the offset to half a unit (one unit more where that makes the layer provably bit-exact, "
       "§11). Unverified on RK3588: no Mesa stream uses the BS multiplier "
       "or the BN ALU; NONSTICK_ROCKET_REQUANT=outcvt returns to Mesa's registers.",
       precise_requant},
      {"ew-scale-rounding",
       {"DPU_EW_CVT_SCALE_VALUE.EW_OP_CVT_SCALE"},
       "Fused ADD operand scale. nonstick rounds the addend's multiplier (s_addend/(s_in*s_w)) to the nearest "
       "mantissa; Mesa truncates it (rocket.md §3.5). Checked: same shift, ours = round(exact), Mesa = floor(exact).",
       ew_scale_rounding},
      {"pad-unread",
       {"CNA_PAD_CON1.PAD_VALUE"},
       "Pad value of a convolution without padding (no padding on any side, e.g. 1x1 VALID): the CNA never reads "
       "it. nonstick always writes the input zero point's byte replicated into 16 bits, the form of Mesa's own "
       "values for padded 3x3 kernels (0xffff8080 for zero point -128, 0x0b0b for 11; rocket.md §3.4); Mesa "
       "writes the plain zx-128 here.",
       pad_unread},
      {"tiling-spare-row",
       {"CNA_DATA_SIZE0.DATAIN_HEIGHT", "CNA_FC_DATA_SIZE0.DMA_HEIGHT"},
       "Row-band height (tiling choice). For layers split into row bands Mesa sizes a band by what the CBUF "
       "banks hold (rocket.md §4.3) and reads one input row more than the band's output rows use; nonstick's "
       "planner (src/backends/rocket/tasks.cc) reads exactly their receptive field. Same output rows per task "
       "(CORE DATAOUT_SIZE_0 equal, checked), same banks; the spare row is never used.",
       spare_input_row},
      {"relu-clamp",
       {"DPU_BN_CFG.*", "DPU_BN_RELUX_CMP_VALUE.*", "DPU_EW_CFG.EW_RELU_BYPASS", "DPU_EW_CFG.EW_RELUX_EN",
        "DPU_EW_RELUX_CMP_VALUE.*"},
       "Fused ReLU/ReLU6. Mesa never programs a clamp (every ReLU stage bypassed) and relies on int8 saturation at "
       "-128, which is a ReLU only when the output zero point is 0 (rocket.md §3.7); these layers have a clamp "
       "inside the int8 range. nonstick clamps in the accumulator domain, in the BN stage (EW when an ADD is "
       "fused): at the output zero point, and for ReLU6 below the int8 maximum at the accumulator that "
       "requantizes to 6.0.",
       clamp_programmed},
      {"producer-on-mesa-cpu",
       {"CNA_FEATURE_DATA_ADDR.*", "DPU_RDMA_RDMA_SRC_BASE_ADDR.*", "DPU_RDMA_RDMA_EW_BASE_ADDR.*"},
       "Partitioning. The input is produced by a node Mesa leaves on the CPU (in coco_ssd the ReLU6 convolutions "
       "Teflon refuses because their output range does not saturate at 6.0, rocket.md §3.7, teflon_debug.txt), so "
       "for Mesa it is a partition input written by the CPU; nonstick runs that node on the NPU in the same "
       "partition and reads its output BO directly. Same offset.",
       producer_on_mesa_cpu},
  };
  return table;
}

std::string explain(const DiffContext& ctx) {
  const std::string exact = ctx.reg + "." + ctx.field, any = ctx.reg + ".*";
  for (const Reason& r : reasons()) {
    bool key = false;
    for (const std::string& k : r.keys) key |= k == exact || k == any;
    if (key && r.applies(ctx)) return r.id;
  }
  return kUnexplained;
}

}  // namespace nonstick::mesa_diff
