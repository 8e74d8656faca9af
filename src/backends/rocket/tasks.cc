// Bank accounting follows NVDLA's CBUF model, which Mesa's rocket driver
// also uses and which its captured streams confirm on RK3588 (task splits of
// mobilenet_v1_0.75_192 and mobilenet_v1_1.0_224 in the goldens):
//  - one input row occupies whole 128-byte entries, 8 atoms per entry, except
//    that a remainder of 3 atoms takes a full entry per pixel (NVDLA packs
//    3-atom pixels one per entry);
//  - a bank holds 256 entries;
//  - weights take ceil(bytes / bank) banks plus one spare bank. The spare bank
//    is Mesa's, unexplained in any source; it is kept as a safety margin
//    because every stream known to work on hardware has it.
#include "backends/rocket/tasks.h"

#include <algorithm>

#include "backends/rocket/coefs.h"
#include "backends/rocket/hw.h"

namespace nonstick::rocket {
namespace {

constexpr int kEntriesPerBank = CoreConfig::kCbufBankBytes / CoreConfig::kCbufEntryBytes;
constexpr int kAtomsPerEntry = CoreConfig::kCbufEntryBytes / CoreConfig::kAtomChannels;
// Weights that cannot stay resident are streamed through the banks left
// after this many data banks (Mesa's split for that case; provenance only).
constexpr int kStreamingDataBanks = 7;

int64_t row_entries(const NpuConv& op) {
  const int atoms = padded_in_channels(op) / CoreConfig::kAtomChannels;
  const int64_t w = op.in_w;
  const int rest = atoms % kAtomsPerEntry;
  const int64_t tail = rest == 3 ? w : (rest * w + kAtomsPerEntry - 1) / kAtomsPerEntry;
  return (atoms / kAtomsPerEntry) * w + tail;
}

int64_t banks_for_rows(int64_t rows, int64_t entries_per_row) {
  return (rows * entries_per_row + kEntriesPerBank - 1) / kEntriesPerBank;
}

// Input rows [first, last] needed by output rows [oy, oy + n).
void input_rows(const NpuConv& op, int oy, int n, int* first, int* count) {
  const int start = oy * op.stride_h - op.pad_top;
  const int end = (oy + n - 1) * op.stride_h - op.pad_top + op.kernel_h;  // exclusive
  *first = std::max(0, start);
  *count = std::min(op.in_h, end) - *first;
}

}  // namespace

Support plan_tasks(const NpuConv& op, TaskPlan* plan) {
  TaskPlan p;
  const int64_t per_row = row_entries(op);
  const int atoms = padded_in_channels(op) / CoreConfig::kAtomChannels;
  p.data_entries = div_up(op.in_w * atoms * CoreConfig::kAtomChannels, CoreConfig::kDataEntryBytes);

  const int64_t weight_banks =
      (packed_weight_bytes(op) + CoreConfig::kCbufBankBytes - 1) / CoreConfig::kCbufBankBytes + 1;
  // Resident weights must leave at least two banks for data.
  p.weights_resident = weight_banks <= CoreConfig::kCbufBanks - 2;
  const int data_budget =
      p.weights_resident ? CoreConfig::kCbufBanks - static_cast<int>(weight_banks) : kStreamingDataBanks;

  const int64_t all_rows = banks_for_rows(op.in_h, per_row);
  const bool one_task_fits = int64_t{op.out_w} * op.out_h <= CoreConfig::kMaxOutputAtoms;
  if (all_rows <= data_budget && op.in_h <= CoreConfig::kMaxInputDim && one_task_fits) {
    p.data_banks = static_cast<int>(all_rows);
    p.weight_banks = CoreConfig::kCbufBanks - p.data_banks;
    p.slices.push_back({0, op.in_h, 0, op.out_h, op.pad_top});
    *plan = std::move(p);
    return Support::yes();
  }

  p.data_banks = data_budget;
  p.weight_banks = CoreConfig::kCbufBanks - data_budget;
  const int64_t max_rows = int64_t{data_budget} * kEntriesPerBank / per_row;
  for (int oy = 0; oy < op.out_h;) {
    int n = 0, first = 0, count = 0;
    // Grow the band while its input rows still fit.
    while (oy + n < op.out_h) {
      int f = 0, c = 0;
      input_rows(op, oy, n + 1, &f, &c);
      if (c > max_rows || c > CoreConfig::kMaxInputDim) break;
      if (int64_t{op.out_w} * (n + 1) > CoreConfig::kMaxOutputAtoms) break;
      ++n;
      first = f;
      count = c;
    }
    if (n == 0) {
      return Support::no("input rows of one output row need more CBUF than the " +
                         std::to_string(data_budget) + " banks left beside the weights");
    }
    TaskSlice s;
    s.in_row = first;
    s.in_rows = count;
    s.out_row = oy;
    s.out_rows = n;
    s.pad_top = std::max(0, op.pad_top - oy * op.stride_h);
    p.slices.push_back(s);
    oy += n;
  }
  *plan = std::move(p);
  return Support::yes();
}

}  // namespace nonstick::rocket
