// The common form both sides are reduced to before diffing: the jobs of every
// submit of one inference, with each task's regcmd words and the TFLite nodes
// the job implements, plus the BOs the addresses point into. Mesa's side
// comes from its captured session (capture.h), ours from running the model
// through the delegate on the virtual RK3588 (ours.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nonstick::mesa_diff {

struct TaskStream {
  uint32_t regcmd_dma = 0;
  std::vector<uint64_t> words;
};

struct JobRecord {
  int submit = 0;                  // which submit of the inference
  std::vector<int> nodes;          // TFLite node indices: the convolution first, a fused ADD after
  std::vector<std::string> types;  // their TFLite op names, same order
  std::vector<TaskStream> tasks;
  std::vector<uint32_t> in_handles, out_handles;
};

struct BoRecord {
  uint32_t handle = 0;
  uint64_t dma = 0;
  uint32_t size = 0;
};

struct Streams {
  std::vector<JobRecord> jobs;  // every job of every submit, in submission order
  std::vector<BoRecord> bos;    // BOs alive during the submits
  int submits = 0;

  const BoRecord* bo_at(uint64_t address) const {
    for (const BoRecord& b : bos) {
      if (address >= b.dma && address < b.dma + b.size) return &b;
    }
    return nullptr;
  }
  uint64_t task_count() const {
    uint64_t n = 0;
    for (const JobRecord& j : jobs) n += j.tasks.size();
    return n;
  }
  uint64_t word_count() const {
    uint64_t n = 0;
    for (const JobRecord& j : jobs) {
      for (const TaskStream& t : j.tasks) n += t.words.size();
    }
    return n;
  }
};

// "CONV#3+ADD#4": the job's nodes with their op names.
std::string job_label(const JobRecord& job);

}  // namespace nonstick::mesa_diff
