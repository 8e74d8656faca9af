#include "tools/rocket_mesa_diff/replay.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "tools/rocket_mesa_diff/json.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::mesa_diff {
namespace {

class CapturedMemory final : public virt::DeviceMemory {
 public:
  void add(uint64_t dma, uint32_t size, const std::string& contents) {
    std::vector<uint8_t>& b = bos_[dma];
    b.assign((uint64_t{size} + 4095) / 4096 * 4096, 0);  // shmem pages, zero-filled
    std::memcpy(b.data(), contents.data(), std::min<size_t>(contents.size(), b.size()));
  }
  uint8_t* resolve(uint64_t iova, uint64_t bytes) override {
    auto it = bos_.upper_bound(iova);
    if (it == bos_.begin()) return nullptr;
    --it;
    if (iova + bytes > it->first + it->second.size()) return nullptr;
    return it->second.data() + (iova - it->first);
  }

 private:
  std::map<uint64_t, std::vector<uint8_t>> bos_;
};

}  // namespace

ReplayCounts replay_mesa(const MesaModel& model, ReplayObserver* observer) {
  ReplayCounts c;
  auto core = virt::create_npu_core();
  for (int s = 0; s < model.streams.submits; ++s) {
    CapturedMemory memory;
    for (const CapturedBlob& b : captured_blobs(model, s)) memory.add(b.dma, b.size, read_text_file(b.path));
    for (size_t j = 0; j < model.streams.jobs.size(); ++j) {
      const JobRecord& job = model.streams.jobs[j];
      if (job.submit != s) continue;
      if (observer) observer->before(j, memory);
      for (const TaskStream& t : job.tasks) {
        virt::TaskCounters counters;
        Status st = core->run_task(memory, t.regcmd_dma, static_cast<uint32_t>(t.words.size()), &counters);
        if (!st.ok()) {
          c.error = job_label(job) + ": " + st.message();
          return c;
        }
        c.bytes_read += counters.bytes_read;
        c.bytes_written += counters.bytes_written;
        c.macs += counters.macs;
      }
      if (observer) observer->after(j, memory);
    }
  }
  c.ok = true;
  return c;
}

}  // namespace nonstick::mesa_diff
