// Register-command stream of one hardware task (rocket.md §2.2-2.4): the
// full CNA/CORE/DPU/DPU_RDMA programming of one row band of a convolution,
// then the 4-word PC tail.
#pragma once

#include <cstdint>
#include <vector>

#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/tasks.h"

namespace nonstick::rocket {

// Device addresses (IOVAs) a task refers to.
struct TaskAddresses {
  uint32_t input = 0;    // start of the input tensor (NC1HWC2)
  uint32_t output = 0;   // start of the output tensor
  uint32_t weights = 0;  // packed weights
  uint32_t biases = 0;   // the BRDMA stream (fold_biases)
  uint32_t addend = 0;   // start of the added tensor, when the op has one
  // The next task of the same job, chained through the tail like Mesa does;
  // 0 for the last task.
  uint32_t next_regcmd = 0;
  uint32_t next_words = 0;
  // Whether the task belongs to a job of several tasks: the last one then
  // ends with a PC_BASE_ADDRESS of 0, a lone task with an all-zero word (both
  // as captured from Mesa).
  bool chained = false;
};

// Words of every task this emitter produces.
constexpr uint32_t kTaskWords = 130;

// Appends task `index` of `plan` for `op` to `out` (kTaskWords words).
void emit_task(const NpuConv& op, const DpuEncoding& enc, const TaskPlan& plan, size_t index,
               const TaskAddresses& addr, std::vector<uint64_t>* out);

}  // namespace nonstick::rocket
