// Per model, side by side in one run: TFLite's own CPU kernels, the delegate
// on the reference backend (host CPU), and the delegate on the rocket backend.
// Without a board the rocket device is the virtual RK3588, and its figure is
// the host wall time of the SIMULATION, not NPU time: the benchmark is then
// named rocket_virtual_simulated. One iteration = set every input + Invoke.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench.h"
#include "delegate/delegate.h"
#include "delegate/options.h"
#include "tflite/interpreter.h"

namespace nonstick::bench {
namespace {

// An interpreter, with the delegate it uses (if any) outliving it.
struct Loaded {
  std::unique_ptr<Delegate> delegate;
  std::unique_ptr<tflite::Interpreter> interpreter;
  std::vector<std::vector<uint8_t>> inputs;
  std::string error;
};

void fill_inputs(Loaded* l) {
  for (int i = 0; i < l->interpreter->input_count(); ++i) {
    std::vector<uint8_t> bytes(l->interpreter->input_info(i).bytes);
    uint32_t x = 2463534242u + static_cast<uint32_t>(i);  // xorshift32: same bytes every run
    for (uint8_t& b : bytes) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      b = static_cast<uint8_t>(x >> 24);
    }
    l->inputs.push_back(std::move(bytes));
  }
}

// Created on first use and kept: Google Benchmark calls a benchmark function
// several times, and compiling for the virtual RK3588 is not what is timed.
// device "" = TFLite CPU alone.
Loaded& load(const std::string& model_path, const std::string& device) {
  static std::map<std::pair<std::string, std::string>, Loaded> cache;
  auto [it, fresh] = cache.try_emplace({model_path, device});
  Loaded& l = it->second;
  if (!fresh) return l;
  const std::vector<uint8_t> model = tflite::read_file(model_path, &l.error);
  if (model.empty()) return l;
  TfLiteDelegate* tflite_delegate = nullptr;
  if (!device.empty()) {
    DelegateOptions options;
    if (!parse_options({{"device", device}, {"log_level", "quiet"}}, &options, &l.error)) return l;
    l.delegate = Delegate::create(options, &l.error);
    if (!l.delegate) return l;
    tflite_delegate = l.delegate->tflite_delegate();
  }
  l.interpreter = tflite::Interpreter::create(model, tflite_delegate, /*threads=*/1, &l.error);
  if (l.interpreter) fill_inputs(&l);
  return l;
}

void run_model(benchmark::State& state, const std::string& model_path, const std::string& device) {
  Loaded& l = load(model_path, device);
  if (!l.interpreter) {
    state.SkipWithError(l.error.c_str());
    return;
  }
  for (auto _ : state) {
    for (size_t i = 0; i < l.inputs.size(); ++i) {
      (void)l.interpreter->set_input(static_cast<int>(i), l.inputs[i].data(), l.inputs[i].size());
    }
    if (Status s = l.interpreter->invoke(); !s.ok()) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(l.interpreter->output_data(0));
  }
  if (l.delegate) {
    const DelegateReport& r = l.delegate->report();
    state.counters["nodes"] = static_cast<double>(r.nodes.size());
    state.counters["delegated"] = r.delegated_nodes();
    state.counters["partitions"] = r.partitions;
    if (r.device_simulated) state.SetLabel("SIMULATED: host time of the virtual RK3588, not NPU time");
  }
}

}  // namespace

void register_delegate_benchmarks(const std::vector<std::string>& models) {
  // Whether "rocket" is a board or the simulator, decided once.
  std::string error;
  DelegateOptions probe_options;
  parse_options({{"device", "rocket"}, {"log_level", "quiet"}}, &probe_options, &error);
  const std::unique_ptr<Delegate> probe = Delegate::create(probe_options, &error);
  const bool simulated = !probe || probe->report().device_simulated;
  const std::string rocket_label = simulated ? "rocket_virtual_simulated" : "rocket_board";

  for (const std::string& path : models) {
    const std::string prefix = "delegate/" + model_name(path) + "/";
    const std::pair<std::string, std::string> variants[] = {
        {"tflite_cpu", ""}, {"reference", "reference"}, {rocket_label, "rocket"}};
    for (const auto& [label, device] : variants) {
      benchmark::RegisterBenchmark((prefix + label).c_str(),
                                   [path = path, device = device](benchmark::State& s) { run_model(s, path, device); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace nonstick::bench
