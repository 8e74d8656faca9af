#include "backends/rocket/perf_model.h"

#include <algorithm>

namespace nonstick::rocket {

double estimate_op_us(const OpCost& c, const PerfAssumptions& a) {
  const double compute_s = static_cast<double>(c.macs) / (a.macs_per_cycle * a.clock_hz * a.mac_efficiency);
  const double memory_s = static_cast<double>(c.bytes) / a.dram_bytes_per_s;
  return std::max(compute_s, memory_s) * 1e6 + c.tasks * a.task_overhead_us;
}

double estimate_submit_overhead_us(int submits, const PerfAssumptions& a) {
  return submits * a.submit_overhead_us;
}

double mac_utilisation(uint64_t macs, double us, const PerfAssumptions& a) {
  if (us <= 0) return 0;
  return static_cast<double>(macs) / (a.macs_per_cycle * a.clock_hz * us * 1e-6);
}

}  // namespace nonstick::rocket
