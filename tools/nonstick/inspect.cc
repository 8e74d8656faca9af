// nonstick inspect: placement of every operation without running the model.
#include <cstdio>

#include "tools/nonstick/cli.h"

namespace nonstick::cli {

int run_inspect(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.parse(argc, argv, {"model", "device"}, {"json", "exact", "no-exact"}, &error) || !args.has("model")) {
    std::fprintf(stderr, "nonstick inspect: %s\n", error.empty() ? "--model is required" : error.c_str());
    return 2;
  }
  std::optional<bool> exact;
  if (!exact_flag(args, &exact, &error)) {
    std::fprintf(stderr, "nonstick inspect: %s\n", error.c_str());
    return 2;
  }
  const std::string path = args.get("model");
  std::vector<uint8_t> model = tflite::read_file(path, &error);
  DelegatedInterpreter npu;
  if (model.empty() || !make_delegated(model, args.get("device", "auto"), exact, 1, &npu, &error)) {
    std::fprintf(stderr, "nonstick inspect: %s\n", error.c_str());
    return 1;
  }
  const DelegateReport& r = npu.delegate->report();
  if (args.has("json")) {
    std::printf("{\"model\": %s, \"device\": %s, \"device_description\": %s, \"partitions\": %d, \"ops\": [",
                json_string(path).c_str(), json_string(r.device).c_str(),
                json_string(r.device_description).c_str(), r.partitions);
    for (size_t i = 0; i < r.nodes.size(); ++i) {
      const NodePlacement& p = r.nodes[i];
      std::printf("%s\n  {\"index\": %d, \"op\": %s, \"placement\": %s, \"partition\": %d, \"signature\": %s, \"reason\": %s, \"note\": %s, \"proven_exact\": %s}",
                  i ? "," : "", p.node_index, json_string(p.op).c_str(),
                  json_string(p.delegated ? r.device : "cpu").c_str(), p.partition,
                  json_string(p.signature).c_str(), json_string(p.reason).c_str(),
                  json_string(p.delegated ? p.note : std::string()).c_str(),
                  p.delegated && p.proven_exact ? "true" : "false");
    }
    const ProgramStats& st = r.stats;
    std::printf("\n], \"program\": {\"submits\": %d, \"jobs\": %d, \"tasks\": %d, \"command_words\": %llu, "
                "\"macs\": %llu, \"bytes_read\": %llu, \"bytes_written\": %llu, \"estimated_us\": %.1f, "
                "\"simulated\": %s}}\n",
                st.submits, st.jobs, st.tasks, static_cast<unsigned long long>(st.command_words),
                static_cast<unsigned long long>(st.macs), static_cast<unsigned long long>(st.bytes_read),
                static_cast<unsigned long long>(st.bytes_written), st.estimated_us,
                r.device_simulated ? "true" : "false");
    return 0;
  }
  std::printf("model   %s\ndevice  %s: %s\n\n", path.c_str(), r.device.c_str(), r.device_description.c_str());
  std::fputs(format_placement_table(r).c_str(), stdout);
  std::fputs(format_program_stats(r.stats, r.device_simulated).c_str(), stdout);
  return 0;
}

}  // namespace nonstick::cli
