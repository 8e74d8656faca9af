// The functional model of one RK3588 NPU core (npu_core.h): the PC fetches a
// task's regcmd words into the register file (npu_regs), the op-enable word
// starts CNA + CORE (npu_cna) and DPU + DPU_RDMA (npu_dpu). Whatever the
// model does not implement fails the task with the register and value named.
// Semantics and evidence: docs/virtual-rk3588.md.
#include "virtual/rk3588/npu_core.h"

#include <algorithm>
#include <initializer_list>

#include "virtual/rk3588/npu_cna.h"
#include "virtual/rk3588/npu_dpu.h"
#include "virtual/rk3588/npu_regs.h"

namespace nonstick::virt {

namespace {

using namespace reg;

// Registers the model reads, or ignores on purpose because they only tune
// performance (burst lengths, CBUF entry bookkeeping, RDMA arbitration) or
// select register groups (S_POINTER). Any other register must hold 0.
bool modelled_register(uint16_t offset) {
  static const std::initializer_list<uint16_t> known = {
      PC_BASE_ADDRESS::offset, PC_REGISTER_AMOUNTS::offset,
      // CNA
      CNA_CONV_CON1::offset, CNA_CONV_CON2::offset, CNA_CONV_CON3::offset, CNA_DATA_SIZE0::offset,
      CNA_DATA_SIZE1::offset, CNA_DATA_SIZE2::offset, CNA_DATA_SIZE3::offset, CNA_WEIGHT_SIZE0::offset,
      CNA_WEIGHT_SIZE1::offset, CNA_WEIGHT_SIZE2::offset, CNA_CBUF_CON0::offset, CNA_CBUF_CON1::offset,
      CNA_CVT_CON0::offset, CNA_CVT_CON1::offset, CNA_CVT_CON2::offset, CNA_CVT_CON3::offset,
      CNA_CVT_CON4::offset, CNA_CVT_CON5::offset, CNA_PAD_CON0::offset, CNA_PAD_CON1::offset,
      CNA_FEATURE_DATA_ADDR::offset, CNA_DMA_CON0::offset, CNA_DMA_CON1::offset, CNA_DMA_CON2::offset,
      CNA_FC_DATA_SIZE0::offset, CNA_FC_DATA_SIZE1::offset, CNA_DCOMP_ADDR0::offset,
      // CORE
      CORE_MISC_CFG::offset, CORE_DATAOUT_SIZE_0::offset, CORE_DATAOUT_SIZE_1::offset,
      CORE_CLIP_TRUNCATE::offset,
      // DPU
      DPU_S_POINTER::offset, DPU_FEATURE_MODE_CFG::offset, DPU_DATA_FORMAT::offset, DPU_OFFSET_PEND::offset,
      DPU_DST_BASE_ADDR::offset, DPU_DST_SURF_STRIDE::offset, DPU_DATA_CUBE_WIDTH::offset,
      DPU_DATA_CUBE_HEIGHT::offset, DPU_DATA_CUBE_NOTCH_ADDR::offset, DPU_DATA_CUBE_CHANNEL::offset,
      DPU_BS_CFG::offset, DPU_BS_ALU_CFG::offset, DPU_BS_MUL_CFG::offset, DPU_BS_RELUX_CMP_VALUE::offset,
      DPU_BS_OW_CFG::offset, DPU_BS_OW_OP::offset, DPU_WDMA_SIZE_0::offset, DPU_WDMA_SIZE_1::offset,
      DPU_BN_CFG::offset, DPU_BN_ALU_CFG::offset, DPU_BN_MUL_CFG::offset, DPU_BN_RELUX_CMP_VALUE::offset,
      DPU_EW_CFG::offset, DPU_EW_CVT_OFFSET_VALUE::offset, DPU_EW_CVT_SCALE_VALUE::offset,
      DPU_EW_RELUX_CMP_VALUE::offset, DPU_OUT_CVT_OFFSET::offset, DPU_OUT_CVT_SCALE::offset,
      DPU_OUT_CVT_SHIFT::offset, DPU_SURFACE_ADD::offset,
      // DPU_RDMA
      DPU_RDMA_RDMA_S_POINTER::offset, DPU_RDMA_RDMA_DATA_CUBE_WIDTH::offset,
      DPU_RDMA_RDMA_DATA_CUBE_HEIGHT::offset, DPU_RDMA_RDMA_DATA_CUBE_CHANNEL::offset,
      DPU_RDMA_RDMA_SRC_BASE_ADDR::offset, DPU_RDMA_RDMA_BRDMA_CFG::offset, DPU_RDMA_RDMA_BS_BASE_ADDR::offset,
      DPU_RDMA_RDMA_NRDMA_CFG::offset, DPU_RDMA_RDMA_BN_BASE_ADDR::offset, DPU_RDMA_RDMA_ERDMA_CFG::offset,
      DPU_RDMA_RDMA_EW_BASE_ADDR::offset, DPU_RDMA_RDMA_EW_SURF_STRIDE::offset,
      DPU_RDMA_RDMA_FEATURE_MODE_CFG::offset, DPU_RDMA_RDMA_SRC_DMA_CFG::offset, DPU_RDMA_RDMA_SURF_NOTCH::offset,
      DPU_RDMA_RDMA_PAD_CFG::offset, DPU_RDMA_RDMA_WEIGHT::offset, DPU_RDMA_RDMA_EW_SURF_NOTCH::offset,
  };
  return std::find(known.begin(), known.end(), offset) != known.end();
}

// Bits of a register covered by its documented fields.
uint32_t documented_bits(const RegisterInfo& info) {
  uint32_t mask = 0;
  for (uint8_t i = 0; i < info.field_count; ++i) {
    const FieldInfo& f = info.fields[i];
    mask |= (f.hi == 31 ? 0xFFFFFFFFu : (1u << (f.hi + 1)) - 1) & ~((1u << f.lo) - 1);
  }
  return mask;
}

// Every register holding a value must be one the model understands, and
// use only documented bits.
Status check_register_file(const RegisterFile& regs) {
  for (const RegisterInfo& info : all_registers()) {
    if (!regs.written(info.offset)) continue;
    const uint32_t v = regs.get(info.offset);
    if (v == 0) continue;
    if (!modelled_register(info.offset)) return unmodelled(info.offset, "", v, "register not modelled (must be 0)");
    if (const uint32_t stray = v & ~documented_bits(info)) {
      return unmodelled(info.offset, "", v, "undocumented bits set");
    }
  }
  return {};
}

class NpuCoreModel : public NpuCore {
 public:
  Status run_task(DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count,
                  TaskCounters* counters) override {
    Status s = run(memory, regcmd_iova, regcmd_count, counters);
    // After a failed task nothing is known about what CBUF holds.
    if (!s.ok()) cbuf_.weights_valid = false;
    return s;
  }

 private:
  Status run(DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count, TaskCounters* counters) {
    TaskCounters local;
    TaskCounters& c = counters ? *counters : local;
    c.regcmd_words += regcmd_count;
    FetchedTask task;
    if (Status s = pc_fetch_task(memory, regcmd_iova, regcmd_count, &regs_, &task); !s.ok()) return s;

    const uint32_t blocks = task.op_enable;
    const uint32_t conv = GLOBAL_OPERATION_ENABLE::CNA_OP_EN(1) | GLOBAL_OPERATION_ENABLE::CORE_OP_EN(1) |
                          GLOBAL_OPERATION_ENABLE::DPU_OP_EN(1);
    const uint32_t rdma = GLOBAL_OPERATION_ENABLE::DPU_RDMA_OP_EN(1);
    if ((blocks & conv) != conv || (blocks & ~(conv | rdma))) {
      return unmodelled(PC_OPERATION_ENABLE::offset, "(op-enable blocks)", blocks,
                        "only CNA+CORE+DPU (+DPU_RDMA) convolution tasks are modelled; PPU is not");
    }
    if (Status s = check_register_file(regs_); !s.ok()) return s;

    const bool depthwise = CNA_CONV_CON1::get_CONV_MODE(regs_.get<CNA_CONV_CON1>()) == 3;
    int32_t ow_op = 0;
    if (Status s = dpu_ow_operand(regs_, depthwise, &ow_op); !s.ok()) return s;
    ConvOutput out;
    if (Status s = run_cna_core(regs_, memory, ow_op, &cbuf_, &out, &c); !s.ok()) return s;
    return run_dpu(regs_, memory, out, (blocks & rdma) != 0, &c);
  }

  RegisterFile regs_;
  CbufState cbuf_;
};

}  // namespace

std::unique_ptr<NpuCore> create_npu_core() { return std::make_unique<NpuCoreModel>(); }

}  // namespace nonstick::virt
