// CNA + CORE of the virtual NPU: feature and weight fetch, input converter,
// padding, direct/depthwise convolution MACs, the BS_OW zero-point term and
// CORE CLIP_TRUNCATE. Produces the 32-bit stream the DPU post-processes.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "virtual/rk3588/npu_regs.h"

namespace nonstick::virt {

// The CORE's output for one task: one int32 per output element, element
// (y, x, c) at acc[(y * width + x) * channels + c].
struct ConvOutput {
  uint32_t width = 0, height = 0;
  uint32_t channels = 0;  // CORE DATAOUT_CHANNEL + 1 (padded channel count)
  bool depthwise = false;
  std::vector<int32_t> acc;
};

// What CBUF still holds from the previous task, for CNA_CBUF_CON0.WEIGHT_REUSE.
struct CbufState {
  bool weights_valid = false;
  uint32_t weight_addr = 0;
  uint32_t weight_bytes = 0;
  uint32_t data_banks = 0;      // the bank split they were loaded with
  std::vector<int8_t> weights;  // the bytes as loaded
};

// Runs CNA and CORE for the programmed task. `ow_op` is the DPU's BS_OW_OP
// operand (validated by the DPU model), which acts on the accumulator before
// CLIP_TRUNCATE (see docs/virtual-rk3588.md).
Status run_cna_core(const RegisterFile& regs, DeviceMemory& memory, int32_t ow_op, CbufState* cbuf,
                    ConvOutput* out, TaskCounters* counters);

}  // namespace nonstick::virt
