// Mesa's captured streams executed on the virtual RK3588's core model, for
// the DRAM traffic they cause (simulated, like ours). The captured BOs are
// placed at their captured IOVAs with their captured contents; activations
// hold whatever the capture saw, which does not change the byte counts.
#pragma once

#include <cstdint>
#include <string>

#include "tools/rocket_mesa_diff/capture.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::mesa_diff {

struct ReplayCounts {
  bool ok = false;
  std::string error;
  uint64_t bytes_read = 0, bytes_written = 0, macs = 0;
};

// Sees the replay's memory around each job's tasks (job: index into
// model.streams.jobs).
class ReplayObserver {
 public:
  virtual ~ReplayObserver() = default;
  virtual void before(size_t job, virt::DeviceMemory& memory) = 0;
  virtual void after(size_t job, virt::DeviceMemory& memory) = 0;
};

ReplayCounts replay_mesa(const MesaModel& model, ReplayObserver* observer = nullptr);

}  // namespace nonstick::mesa_diff
