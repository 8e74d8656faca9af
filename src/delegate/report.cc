// Human-readable placement reports: the table behind `log_level=placement`
// and `nonstick inspect`, and the one-line summary.
#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "delegate/delegate.h"

namespace nonstick {

std::string format_placement_summary(const DelegateReport& r) {
  std::ostringstream s;
  s << r.delegated_nodes() << " of " << r.nodes.size() << " nodes on " << r.device << " ("
    << r.device_description << ") in " << r.partitions << " partition" << (r.partitions == 1 ? "" : "s");
  std::map<std::string, int> cpu;
  for (const NodePlacement& p : r.nodes) {
    if (!p.delegated) ++cpu[p.op];
  }
  // The backend's compile-time proofs (against its arithmetic as modelled;
  // inspect --json has each), when it gives any.
  int noted = 0, exact = 0;
  for (const NodePlacement& p : r.nodes) {
    noted += p.delegated && !p.note.empty();
    exact += p.delegated && p.proven_exact;
  }
  if (noted > 0) s << "; " << exact << " of " << noted << " proven bit-exact for every input";
  if (!cpu.empty()) {
    s << "; on CPU:";
    bool first = true;
    for (const auto& [op, n] : cpu) {
      s << (first ? " " : ", ") << op << " x" << n;
      first = false;
    }
  }
  return s.str();
}

std::string format_program_stats(const ProgramStats& s, bool simulated_device) {
  if (s.jobs == 0 && s.command_words == 0) return {};
  char buf[768];
  std::string out;
  std::snprintf(buf, sizeof buf,
                "device program per inference: %d submit%s, %d jobs, %d tasks, %llu command words\n",
                s.submits, s.submits == 1 ? "" : "s", s.jobs, s.tasks,
                static_cast<unsigned long long>(s.command_words));
  out += buf;
  std::snprintf(buf, sizeof buf, "  %.1f M MACs; DRAM read %.2f MB, written %.2f MB (%s)\n",
                static_cast<double>(s.macs) / 1e6, static_cast<double>(s.bytes_read) / 1e6,
                static_cast<double>(s.bytes_written) / 1e6,
                s.traffic_simulated ? "counted by the simulated device" : "planned by the compiler");
  out += buf;
  if (s.estimated_us > 0) {
    const double utilisation =
        s.peak_macs_per_s > 0 ? static_cast<double>(s.macs) / (s.peak_macs_per_s * s.estimated_us * 1e-6) : 0;
    std::snprintf(buf, sizeof buf,
                  "  estimated device time %.2f ms, MAC utilisation %.0f%% (ESTIMATE from a documented model, "
                  "not a measurement%s)\n",
                  s.estimated_us / 1000.0, utilisation * 100.0, simulated_device ? "; device is simulated" : "");
    out += buf;
  }
  return out;
}

std::string format_placement_table(const DelegateReport& r) {
  size_t op_width = 2;
  for (const NodePlacement& p : r.nodes) op_width = std::max(op_width, p.op.size());
  std::ostringstream s;
  char line[512];
  std::snprintf(line, sizeof line, "%5s  %-*s  %-10s  %4s  %s\n", "node", static_cast<int>(op_width), "op",
                "placement", "part", "detail");
  s << line;
  for (const NodePlacement& p : r.nodes) {
    const std::string where = p.delegated ? r.device : "cpu";
    const std::string part = p.partition >= 0 ? std::to_string(p.partition) : "-";
    const std::string detail = p.delegated ? p.signature : p.reason;
    const int indent = std::snprintf(line, sizeof line, "%5d  %-*s  %-10s  %4s  ", p.node_index,
                                     static_cast<int>(op_width), p.op.c_str(), where.c_str(), part.c_str());
    s << line << detail << "\n";
    // The backend's remark (the rocket backend's exactness proof) under the
    // detail column, where it is not simply "proven bit-exact" (counted below).
    if (p.delegated && !p.note.empty() && !p.proven_exact) {
      s << std::string(static_cast<size_t>(std::max(indent, 0)), ' ') << p.note << "\n";
    }
  }
  s << format_placement_summary(r) << "\n";
  return s.str();
}

}  // namespace nonstick
