#include "tools/rocket_mesa_diff/diff.h"

#include <algorithm>
#include <cstdio>

#include "rocket/registers.h"

namespace nonstick::mesa_diff {
namespace {

namespace r = rocket::reg;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// A regcmd word split into its parts; `occurrence` counts earlier writes of
// the same (target, register) in the task, so repeated writes pair up.
struct Entry {
  uint16_t target = 0, offset = 0;
  uint32_t value = 0;
  int occurrence = 0;
  uint64_t key() const { return uint64_t{target} << 32 | uint64_t{offset} << 16 | static_cast<uint16_t>(occurrence); }
};

std::vector<Entry> entries(const std::vector<uint64_t>& words) {
  std::vector<Entry> out;
  std::map<uint32_t, int> seen;
  for (uint64_t w : words) {
    Entry e;
    e.target = static_cast<uint16_t>(w >> 48);
    e.offset = static_cast<uint16_t>(w & 0xffff);
    e.value = static_cast<uint32_t>(w >> 16);
    e.occurrence = seen[uint32_t{e.target} << 16 | e.offset]++;
    out.push_back(e);
  }
  return out;
}

std::map<uint16_t, uint32_t> last_values(const std::vector<Entry>& es) {
  std::map<uint16_t, uint32_t> m;
  for (const Entry& e : es) {
    if ((e.target & 0xff) == 0x01) m[e.offset] = e.value;
  }
  return m;
}

bool is_address(uint16_t offset) {
  switch (offset) {
    case r::CNA_FEATURE_DATA_ADDR::offset:
    case r::CNA_DCOMP_ADDR0::offset:
    case r::DPU_DST_BASE_ADDR::offset:
    case r::DPU_RDMA_RDMA_SRC_BASE_ADDR::offset:
    case r::DPU_RDMA_RDMA_BS_BASE_ADDR::offset:
    case r::DPU_RDMA_RDMA_BN_BASE_ADDR::offset:
    case r::DPU_RDMA_RDMA_EW_BASE_ADDR::offset:
    case r::PC_BASE_ADDRESS::offset:
      return true;
    default:
      return false;
  }
}

bool contains(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// An address as (role, offset): which buffer it points into, described the
// same way for both sides, and where inside it.
std::string relocate(const Streams& side, size_t job_index, const TaskStream& task, uint16_t offset, uint32_t value) {
  if (value == 0) return "0";
  const JobRecord& job = side.jobs[job_index];
  if (offset == r::PC_BASE_ADDRESS::offset) {
    const int64_t d = int64_t{value} - int64_t{task.regcmd_dma};
    return "this task's regcmd " + std::string(d < 0 ? "-" : "+") + hex(static_cast<uint64_t>(d < 0 ? -d : d));
  }
  const BoRecord* bo = side.bo_at(value);
  if (!bo) return "unmapped " + hex(value);
  std::string role;
  if (contains(job.out_handles, bo->handle)) {
    role = "job output";
  } else if (contains(job.in_handles, bo->handle)) {
    role = "partition input";
    for (size_t j = 0; j < job_index; ++j) {
      const JobRecord& p = side.jobs[j];
      if (p.submit == job.submit && contains(p.out_handles, bo->handle) && !p.nodes.empty()) {
        role = "output of node " + std::to_string(p.nodes.back());
      }
    }
  } else if (offset == r::CNA_DCOMP_ADDR0::offset) {
    role = "weights";
  } else if (offset == r::DPU_RDMA_RDMA_BS_BASE_ADDR::offset) {
    role = "biases";
  } else {
    role = "unlisted BO";
  }
  return role + " +" + hex(value - bo->dma);
}

std::string register_name(const r::RegisterInfo* info, const Entry& e) {
  if (e.target == r::kTaskMarkerOp) return "TAIL_MARKER";
  if (e.target == r::kOpEnableOp) return "PC_OPERATION_ENABLE(op 0x81)";
  if (e.target == 0 && e.offset == 0) return "ZERO_WORD";
  if (!info) return "UNKNOWN_" + hex(e.offset);
  return std::string(info->block) + "_" + info->name;
}

}  // namespace

ModelDiff diff_model(const MesaModel& mesa, const OurModel& ours) {
  ModelDiff md;
  md.model = mesa.name;
  static const OurOp kNoOp;
  for (size_t mj = 0; mj < mesa.streams.jobs.size(); ++mj) {
    const JobRecord& mjob = mesa.streams.jobs[mj];
    JobDiff jd;
    jd.label = job_label(mjob);
    jd.mesa_tasks = static_cast<int>(mjob.tasks.size());
    size_t oj = ours.streams.jobs.size();
    for (size_t k = 0; k < ours.streams.jobs.size() && !mjob.nodes.empty(); ++k) {
      const JobRecord& j = ours.streams.jobs[k];
      if (!j.nodes.empty() && j.nodes[0] == mjob.nodes[0]) oj = k;
    }
    if (oj == ours.streams.jobs.size()) {
      // Not run on our NPU at all: one difference for the whole job.
      FieldDiff d;
      d.reg = "JOB";
      d.field = "placement";
      d.mesa = "NPU job";
      const int node = mjob.nodes.empty() ? -1 : mjob.nodes[0];
      auto why = ours.cpu_reasons.find(node);
      d.ours = why == ours.cpu_reasons.end() ? "no job" : "CPU: " + why->second;
      static const JobRecord kNoJob;
      const std::map<uint16_t, uint32_t> none;
      const DiffContext ctx{d.reg, d.field, 0, 0, d.mesa, d.ours, mesa, mjob, kNoJob, kNoOp, ours, -1, none, none};
      d.reason = explain(ctx);
      jd.diffs.push_back(d);
      md.by_reason[d.reason]++;
      md.jobs.push_back(std::move(jd));
      continue;
    }
    const JobRecord& ojob = ours.streams.jobs[oj];
    const OurOp& op = oj < ours.ops.size() ? ours.ops[oj] : kNoOp;
    jd.our_label = job_label(ojob);
    for (int n : mjob.nodes) {  // ADDs Mesa fuses that we run separately
      auto why = ours.unfused_adds.find(n);
      if (why != ours.unfused_adds.end()) {
        jd.note += (jd.note.empty() ? "" : "; ") + std::string("ADD#") + std::to_string(n) + " runs as its own job (" + why->second + ")";
      }
    }
    jd.our_tasks = static_cast<int>(ojob.tasks.size());
    const size_t tasks = std::min(mjob.tasks.size(), ojob.tasks.size());
    if (mjob.tasks.size() != ojob.tasks.size()) {
      FieldDiff d;
      d.reg = "JOB";
      d.field = "task_count";
      d.mesa = std::to_string(mjob.tasks.size());
      d.ours = std::to_string(ojob.tasks.size());
      const std::map<uint16_t, uint32_t> none;
      const DiffContext ctx{d.reg,  d.field, static_cast<uint32_t>(mjob.tasks.size()),
                            static_cast<uint32_t>(ojob.tasks.size()), d.mesa, d.ours, mesa, mjob, ojob, op, ours, -1,
                            none, none};
      d.reason = explain(ctx);
      md.by_reason[d.reason]++;
      jd.diffs.push_back(d);
    }
    for (size_t t = 0; t < tasks; ++t) {
      const TaskStream& mt = mjob.tasks[t];
      const TaskStream& ot = ojob.tasks[t];
      const std::vector<Entry> me = entries(mt.words), oe = entries(ot.words);
      const auto mregs = last_values(me), oregs = last_values(oe);
      std::map<uint64_t, const Entry*> ours_by_key;
      for (const Entry& e : oe) ours_by_key[e.key()] = &e;
      std::map<uint64_t, bool> matched;
      ++jd.tasks_compared;
      for (size_t w = 0; w < me.size(); ++w) {
        const Entry& m = me[w];
        ++jd.words;
        if (w < ot.words.size() && mt.words[w] == ot.words[w]) ++jd.words_identical;
        auto it = ours_by_key.find(m.key());
        const Entry* o = it == ours_by_key.end() ? nullptr : it->second;
        if (o) matched[m.key()] = true;
        const r::RegisterInfo* info = (m.target & 0xff) == 0x01 ? r::find_register(m.offset) : nullptr;
        const std::string reg = register_name(info, m);
        std::vector<FieldDiff> word_diffs;
        auto add = [&](const std::string& field, uint32_t mv, uint32_t ov, std::string mtext, std::string otext) {
          FieldDiff d;
          d.task = static_cast<int>(t);
          d.reg = reg;
          d.field = field;
          d.mesa = std::move(mtext);
          d.ours = std::move(otext);
          const DiffContext ctx{d.reg, d.field, mv,   ov,   d.mesa, d.ours, mesa, mjob, ojob,
                                op,    ours,    static_cast<int>(t), mregs, oregs};
          d.reason = explain(ctx);
          word_diffs.push_back(std::move(d));
        };
        if (!o) {
          add("(write)", m.value, 0, hex(m.value), "not written");
        } else if (info && is_address(m.offset)) {
          const std::string a = relocate(mesa.streams, mj, mt, m.offset, m.value);
          const std::string b = relocate(ours.streams, oj, ot, o->offset, o->value);
          if (a != b) add(info->field_count ? info->fields[0].name : "value", m.value, o->value, a, b);
        } else if (info) {
          for (uint8_t f = 0; f < info->field_count; ++f) {
            const r::FieldInfo& fi = info->fields[f];
            const uint32_t mask = fi.hi - fi.lo >= 31 ? 0xffffffffu : ((1u << (fi.hi - fi.lo + 1)) - 1);
            const uint32_t a = (m.value >> fi.lo) & mask, b = (o->value >> fi.lo) & mask;
            if (a != b) add(fi.name, a, b, hex(a), hex(b));
          }
          // Bits no field covers.
          uint32_t covered = 0;
          for (uint8_t f = 0; f < info->field_count; ++f) {
            const r::FieldInfo& fi = info->fields[f];
            for (int bit = fi.lo; bit <= fi.hi; ++bit) covered |= 1u << bit;
          }
          if ((m.value & ~covered) != (o->value & ~covered)) {
            add("(undefined bits)", m.value & ~covered, o->value & ~covered, hex(m.value & ~covered), hex(o->value & ~covered));
          }
        } else if (m.value != o->value) {
          add("value", m.value, o->value, hex(m.value), hex(o->value));
        }
        if (word_diffs.empty()) ++jd.words_relocated;
        for (FieldDiff& d : word_diffs) {
          md.by_reason[d.reason]++;
          jd.diffs.push_back(std::move(d));
        }
      }
      for (const Entry& o : oe) {  // writes only we make
        if (matched.count(o.key())) continue;
        const r::RegisterInfo* info = (o.target & 0xff) == 0x01 ? r::find_register(o.offset) : nullptr;
        FieldDiff d;
        d.task = static_cast<int>(t);
        d.reg = register_name(info, o);
        d.field = "(write)";
        d.mesa = "not written";
        d.ours = hex(o.value);
        const DiffContext ctx{d.reg, d.field, 0,    o.value, d.mesa, d.ours, mesa, mjob, ojob,
                              op,    ours,    static_cast<int>(t), mregs, oregs};
        d.reason = explain(ctx);
        md.by_reason[d.reason]++;
        jd.diffs.push_back(std::move(d));
      }
    }
    md.tasks_compared += jd.tasks_compared;
    md.words += jd.words;
    md.words_identical += jd.words_identical;
    md.words_relocated += jd.words_relocated;
    md.jobs.push_back(std::move(jd));
  }
  // Jobs of ours that pair with no Mesa job.
  std::map<int, bool> mesa_first;  // the node each Mesa job is paired by
  for (const JobRecord& j : mesa.streams.jobs) {
    if (!j.nodes.empty()) mesa_first[j.nodes[0]] = true;
  }
  for (const JobRecord& j : ours.streams.jobs) {
    if (j.nodes.empty() || mesa_first.count(j.nodes[0])) continue;
    std::string why = kUnexplained;
    auto add = ours.unfused_adds.find(j.nodes[0]);
    const CapturedNode* node = nullptr;
    for (const CapturedNode& n : mesa.nodes) node = n.index == j.nodes[0] ? &n : node;
    if (add != ours.unfused_adds.end() && node && node->delegated) {
      why = "`add-kept-separate`: Mesa fuses this ADD into " + add->second;
    } else if (node && !node->delegated) {
      why = "Mesa leaves this node on the CPU";
    } else {
      md.by_reason[kUnexplained]++;
    }
    md.extra_jobs.push_back({job_label(j), why});
  }
  return md;
}

}  // namespace nonstick::mesa_diff
