// rocket_mesa_diff: compares nonstick's RK3588 command streams with Mesa's
// captured ones (<data>/goldens/rocket) and writes docs/rocket-register-diff.md
// and docs/rocket-vs-mesa.md. See scripts/gen-rocket-docs.sh.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/rocket_mesa_diff/report.h"

int main(int argc, char** argv) {
  nonstick::mesa_diff::ToolOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string* into) {
      if (i + 1 >= argc) return false;
      *into = argv[++i];
      return true;
    };
    bool ok = true;
    if (a == "--data") ok = value(&o.data_dir);
    else if (a == "--diff-out") ok = value(&o.diff_out);
    else if (a == "--table-out") ok = value(&o.table_out);
    else if (a == "--model") ok = value(&o.only_model);
    else if (a == "--check") o.check = true;
    else if (a == "--verbose") o.verbose = true;
    else ok = false;
    if (!ok) {
      std::fprintf(stderr,
                   "usage: rocket_mesa_diff [--data DIR] [--diff-out FILE] [--table-out FILE] [--model NAME]\n"
                   "                        [--check] [--verbose]\n"
                   "  --data       shared data directory (default $NONSTICK_DATA, else ../shared)\n"
                   "  --check      exit 1 when any differing field is UNEXPLAINED\n");
      return 2;
    }
  }
  return nonstick::mesa_diff::run_tool(o);
}
