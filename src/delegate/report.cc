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
    std::snprintf(line, sizeof line, "%5d  %-*s  %-10s  %4s  ", p.node_index, static_cast<int>(op_width),
                  p.op.c_str(), where.c_str(), part.c_str());
    s << line << detail << "\n";
  }
  s << format_placement_summary(r) << "\n";
  return s.str();
}

}  // namespace nonstick
