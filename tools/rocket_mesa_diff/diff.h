// Field-by-field comparison of our regcmd streams with Mesa's captured ones.
// Jobs are paired by the TFLite convolution node they run (Mesa: one job per
// delegated convolution in op order, a following ADD fused in; ours: one job
// per lowered NPU operation), tasks by position. Each task's words are keyed
// by (target, register, occurrence), decoded with the generated register
// tables (rocket/registers.h) and compared field by field. Addresses are
// compared after relocation, as (role, offset inside the BO), because BO IOVAs
// depend on allocation order. Every differing field gets a reason from the
// table in reasons.cc, or "UNEXPLAINED".
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/rocket_mesa_diff/capture.h"
#include "tools/rocket_mesa_diff/ours.h"
#include "tools/rocket_mesa_diff/streams.h"

namespace nonstick::mesa_diff {

inline constexpr const char* kUnexplained = "UNEXPLAINED";

struct FieldDiff {
  int task = 0;
  std::string reg;    // full register name, e.g. "DPU_OUT_CVT_SCALE"
  std::string field;  // field name, e.g. "OUT_CVT_SCALE" ("value" for raw words)
  std::string mesa, ours;  // values as text (relocated for addresses)
  std::string reason;      // reason id from the table, or kUnexplained
};

struct JobDiff {
  std::string label;       // Mesa's job, e.g. "CONV_2D#8+ADD#9"
  std::string our_label;   // the job of ours it was paired with ("" if none)
  std::string note;        // e.g. why an ADD Mesa fuses runs as its own job here
  int mesa_tasks = 0, our_tasks = 0;
  int tasks_compared = 0;
  uint64_t words = 0;            // words compared (Mesa's count)
  uint64_t words_identical = 0;  // raw 64-bit words equal
  uint64_t words_relocated = 0;  // equal once addresses are relocated
  std::vector<FieldDiff> diffs;
};

struct ModelDiff {
  std::string model;
  std::vector<JobDiff> jobs;
  int tasks_compared = 0;
  uint64_t words = 0, words_identical = 0, words_relocated = 0;
  std::map<std::string, int> by_reason;  // reason id -> differing fields
  // Our jobs no Mesa job runs (label, why): ADDs we keep separate, nodes
  // Mesa leaves on the CPU. A job with no known cause counts as UNEXPLAINED.
  std::vector<std::pair<std::string, std::string>> extra_jobs;
  int unexplained() const {
    auto it = by_reason.find(kUnexplained);
    return it == by_reason.end() ? 0 : it->second;
  }
};

ModelDiff diff_model(const MesaModel& mesa, const OurModel& ours);

// ---- The reason table (reasons.cc).

// Everything a reason's predicate may look at for one differing field.
struct DiffContext {
  const std::string& reg;
  const std::string& field;
  uint32_t mesa_value, our_value;  // raw field values (before relocation)
  const std::string& mesa_text;    // values as reported (relocated for addresses)
  const std::string& our_text;
  const MesaModel& mesa;
  const JobRecord& mesa_job;
  const JobRecord& our_job;
  const OurOp& op;
  const OurModel& ours;
  int task;
  // Register values (last write) of the two tasks being compared.
  const std::map<uint16_t, uint32_t>& mesa_regs;
  const std::map<uint16_t, uint32_t>& our_regs;
};

struct Reason {
  std::string id;           // short key used in the report's counts
  std::vector<std::string> keys;  // "REGISTER.FIELD" or "REGISTER.*"
  std::string text;         // the explanation printed in the report
  bool (*applies)(const DiffContext&);
};

const std::vector<Reason>& reasons();
// First reason whose key and predicate match, or kUnexplained.
std::string explain(const DiffContext& ctx);

}  // namespace nonstick::mesa_diff
