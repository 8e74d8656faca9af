// Functional model of one RK3588 NPU core: executes one task's register
// command stream against device memory, the way the hardware's PC fetches
// and the CNA/CORE/DPU/DPU_RDMA blocks compute. Used by the virtual kernel
// (virtual_kernel.h) for every task of a submitted job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"

namespace nonstick::virt {

// Device memory as the NPU sees it: IOVA ranges backed by host memory.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // Host pointer for [iova, iova + bytes), or null when the range is not
  // inside one mapped BO (a DMA fault on hardware).
  virtual uint8_t* resolve(uint64_t iova, uint64_t bytes) = 0;
};

// What one task did, counted by the model (simulated figures).
struct TaskCounters {
  uint64_t regcmd_words = 0;
  uint64_t macs = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t cbuf_bytes = 0;  // CBUF banks programmed x bank size
};

class NpuCore {
 public:
  virtual ~NpuCore() = default;
  // Executes the task whose regcmd words start at `regcmd_iova`. Register
  // programming the model does not implement is an error naming the
  // register/field, never a silent wrong answer.
  virtual Status run_task(DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count,
                          TaskCounters* counters) = 0;
};

std::unique_ptr<NpuCore> create_npu_core();

}  // namespace nonstick::virt
