// DPU + DPU_RDMA of the virtual NPU: bias (BS), BN, element-wise (EW, the
// fused residual ADD read through MRDMA/ERDMA), ReLU stages, OUT_CVT
// requantization, int8 saturation and the write DMA.
#pragma once

#include <cstdint>

#include "common/status.h"
#include "virtual/rk3588/npu_cna.h"
#include "virtual/rk3588/npu_regs.h"

namespace nonstick::virt {

// Validates DPU_BS_OW_CFG and returns DPU_BS_OW_OP as a signed operand. The
// OW unit multiplies it with the sum of the inputs each output consumed and
// adds that to the accumulator before CORE CLIP_TRUNCATE (run_cna_core).
Status dpu_ow_operand(const RegisterFile& regs, bool depthwise, int32_t* ow_op);

// Post-processes the CORE output and writes the int8 result cube.
// `rdma_enabled`: DPU_RDMA is in the op-enable mask (bias/EW streams).
Status run_dpu(const RegisterFile& regs, DeviceMemory& memory, const ConvOutput& in, bool rdma_enabled,
               TaskCounters* counters);

}  // namespace nonstick::virt
