// nonstick bench: latency distribution of TFLite's CPU path and the delegate
// path, measured side by side in one run on the same pseudo-random input.
#include <chrono>
#include <cstdio>

#include "tools/nonstick/cli.h"

namespace nonstick::cli {
namespace {

bool time_runs(tflite::Interpreter& it, const std::vector<std::vector<uint8_t>>& inputs, int iterations,
               std::vector<double>* ms, std::string* error) {
  for (int i = -1; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (Status s = it.set_input(static_cast<int>(k), inputs[k].data(), inputs[k].size()); !s.ok()) {
        *error = s.message();
        return false;
      }
    }
    if (Status s = it.invoke(); !s.ok()) {
      *error = s.message();
      return false;
    }
    std::vector<uint8_t> out;
    for (int o = 0; o < it.output_count(); ++o) (void)it.get_output(o, &out);
    const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 0) ms->push_back(t);
  }
  return true;
}

}  // namespace

int run_bench(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.parse(argc, argv, {"model", "iterations", "device", "threads"}, {"exact", "no-exact"}, &error) || !args.has("model")) {
    std::fprintf(stderr, "nonstick bench: %s\n", error.empty() ? "--model is required" : error.c_str());
    return 2;
  }
  std::optional<bool> exact;
  if (!exact_flag(args, &exact, &error)) {
    std::fprintf(stderr, "nonstick bench: %s\n", error.c_str());
    return 2;
  }
  const int iterations = std::max(1, args.get_int("iterations", 20));
  const int threads = std::max(1, args.get_int("threads", 1));
  std::vector<uint8_t> model = tflite::read_file(args.get("model"), &error);
  if (model.empty()) {
    std::fprintf(stderr, "nonstick bench: %s\n", error.c_str());
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto cpu = tflite::Interpreter::create(model, nullptr, threads, &error);
  const double cpu_setup = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  DelegatedInterpreter npu;
  if (!cpu || !make_delegated(model, args.get("device", "auto"), exact, threads, &npu, &error)) {
    std::fprintf(stderr, "nonstick bench: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::vector<uint8_t>> inputs(static_cast<size_t>(cpu->input_count()));
  for (size_t k = 0; k < inputs.size(); ++k) {
    inputs[k].resize(cpu->input_info(static_cast<int>(k)).bytes);
    fill_pseudo_random(&inputs[k], static_cast<uint32_t>(k + 1));
  }
  std::vector<double> cpu_ms, npu_ms;
  if (!time_runs(*cpu, inputs, iterations, &cpu_ms, &error) ||
      !time_runs(*npu.interpreter, inputs, iterations, &npu_ms, &error)) {
    std::fprintf(stderr, "nonstick bench: %s\n", error.c_str());
    return 1;
  }
  const DelegateReport& r = npu.delegate->report();
  const LatencySummary c = summarize(cpu_ms), n = summarize(npu_ms);
  std::printf("model    %s\ndevice   %s: %s\n", args.get("model").c_str(), r.device.c_str(), r.device_description.c_str());
  std::printf("setup    TFLite CPU interpreter %.1f ms; nonstick interpreter %.1f ms (of which compile %.1f ms)\n",
              cpu_setup, npu.setup_ms, r.compile_ms);
  std::printf("latency  %d iterations after 1 warm-up, %d thread%s, invoke + output read (ms)\n", iterations, threads,
              threads == 1 ? "" : "s");
  std::printf("  %-22s min %8.2f  median %8.2f  mean %8.2f  max %8.2f\n", "TFLite CPU", c.min_ms, c.median_ms,
              c.mean_ms, c.max_ms);
  const std::string label = "nonstick " + r.device + (r.device_simulated ? " (sim)" : "");
  std::printf("  %-22s min %8.2f  median %8.2f  mean %8.2f  max %8.2f\n", label.c_str(), n.min_ms,
              n.median_ms, n.mean_ms, n.max_ms);
  std::printf("  ratio (CPU median / nonstick median): %.2fx%s\n", c.median_ms / std::max(n.median_ms, 1e-9),
              r.device_simulated ? "  [wall time of the SIMULATION on the host CPU, not NPU speed]"
              : r.device == "reference" ? "  [reference backend runs on the host CPU: not an NPU figure]" : "");
  std::printf("program  %d ops in %d partitions\n", r.stats.ops, r.partitions);
  std::fputs(format_program_stats(npu.delegate->live_stats(), r.device_simulated).c_str(), stdout);
  std::printf("placement %s\n", format_placement_summary(r).c_str());
  return 0;
}

}  // namespace nonstick::cli
