// CBUF planning: how one convolution is cut into hardware tasks so that the
// input rows each task needs fit the convolution buffer (12 banks x 32 KiB,
// shared with the weights). Splitting is along output rows only; every task
// covers the full width and all channels (rocket.md §4).
#pragma once

#include <vector>

#include "backends/backend.h"
#include "backends/rocket/lower.h"

namespace nonstick::rocket {

struct TaskSlice {
  int in_row = 0;    // first input row read (FEATURE_DATA_ADDR offset)
  int in_rows = 0;   // DATAIN_HEIGHT
  int out_row = 0;   // first output row written (DST_BASE_ADDR offset)
  int out_rows = 0;  // output rows of this task
  int pad_top = 0;   // padding rows above in_row (only the first task)
};

struct TaskPlan {
  int data_banks = 0;             // CBUF_CON0 DATA_BANK
  int weight_banks = 0;           // CBUF_CON0 WEIGHT_BANK
  bool weights_resident = false;  // all weights fit: tasks after the first reuse them
  int data_entries = 0;           // CBUF_CON1: one input row in 64-byte units
  std::vector<TaskSlice> slices;
};

// Plans `op`. Fails (with the reason) when even one output row's input rows
// do not fit the banks left for data.
Support plan_tasks(const NpuConv& op, TaskPlan* plan);

}  // namespace nonstick::rocket
