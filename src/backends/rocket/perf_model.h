// A deliberately simple latency model for the RK3588 NPU, so `nonstick
// bench/inspect` can give an *estimate* without a board. Every number below
// is an assumption, written down with its source; none is a measurement.
// See docs/rocket-performance-model.md.
#pragma once

#include <cstdint>

namespace nonstick::rocket {

struct PerfAssumptions {
  // NPU core clock. Vendor figures are quoted at ~1 GHz (rocket.md §1.1);
  // mainline DTs may leave it at 200 MHz, which would make every estimate 5x.
  double clock_hz = 1.0e9;
  // int8 MACs per cycle per core (TRM as cited in rocket.md §2.1).
  double macs_per_cycle = 1024;
  // Fraction of peak the MAC array sustains on real layers: channel padding
  // to 16/32 and pipeline bubbles. A round guess, not measured.
  double mac_efficiency = 0.5;
  // DRAM bandwidth one core sees: LPDDR4x peak is ~17 GB/s shared by the
  // SoC; assume about half.
  double dram_bytes_per_s = 8.0e9;
  // Kernel round trip per task under rocket: one IRQ, scheduler and PC kick
  // per task (rocket.md §1.5). Assumed.
  double task_overhead_us = 20;
  // Per submit ioctl: job setup, IOMMU attach, fences. Assumed.
  double submit_overhead_us = 50;
};

struct OpCost {
  uint64_t macs = 0;   // useful multiply-accumulates of the op
  uint64_t bytes = 0;  // DRAM bytes read + written by its tasks
  int tasks = 0;
};

// Per op: the slower of compute and memory, plus per-task overhead.
double estimate_op_us(const OpCost& cost, const PerfAssumptions& a = {});
double estimate_submit_overhead_us(int submits, const PerfAssumptions& a = {});
// Useful MACs over what the array could do at peak in `us`.
double mac_utilisation(uint64_t macs, double us, const PerfAssumptions& a = {});

}  // namespace nonstick::rocket
