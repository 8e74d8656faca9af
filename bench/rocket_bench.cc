// The rocket runtime alone, on the partitions the delegate makes of each
// model, over a transport that completes every job instantly without running
// it (tests/support/instant_transport.h): so nothing here is NPU time, and
// nothing is simulated either.
//  - compile: rocket::compile_program for every partition of the model
//    (lowering, register streams, weight packing, BO set-up, and the
//    reference fallback compiled alongside as the runtime does by default;
//    compile_no_fallback without it);
//  - invoke_overhead: per invoke of every partition, set_input (NHWC ->
//    NC1HWC2 into the BOs), invoke (one prepared SUBMIT, PREP_BO waits) and
//    get_output (NC1HWC2 -> NHWC): the host-side cost a board pays per
//    inference on top of NPU time. The transport's ioctls are plain function
//    calls here; on a board each is a system call (not measured).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/rocket/backend.h"
#include "backends/rocket/program.h"
#include "bench/bench.h"
#include "delegate/delegate.h"
#include "kernel/rocket_device.h"
#include "tests/support/instant_transport.h"
#include "tflite/interpreter.h"

namespace nonstick::bench {
namespace {

using testing::InstantTransport;

// Forwards to the rocket backend and keeps a copy of every partition it is
// asked to compile.
class CapturingBackend final : public Backend {
 public:
  CapturingBackend(std::unique_ptr<Backend> inner, std::vector<ir::Graph>* graphs)
      : inner_(std::move(inner)), graphs_(graphs) {}
  std::string_view name() const override { return inner_->name(); }
  std::string_view description() const override { return inner_->description(); }
  bool simulated() const override { return inner_->simulated(); }
  Support supports(const ir::Graph& graph, const ir::Operation& op) const override {
    return inner_->supports(graph, op);
  }
  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    graphs_->push_back(graph);
    return inner_->compile(graph, program);
  }

 private:
  std::unique_ptr<Backend> inner_;
  std::vector<ir::Graph>* graphs_;
};

std::shared_ptr<kernel::Device> instant_device(InstantTransport** transport = nullptr) {
  auto t = std::make_unique<InstantTransport>();
  if (transport) *transport = t.get();
  return std::make_shared<kernel::RocketDevice>(std::move(t));
}

// The rocket partitions of a model, as the delegate hands them to the backend.
struct Partitions {
  std::vector<ir::Graph> graphs;
  std::string error;
};

const Partitions& partitions_of(const std::string& model_path) {
  static std::map<std::string, Partitions> cache;
  auto [it, fresh] = cache.try_emplace(model_path);
  Partitions& p = it->second;
  if (!fresh) return p;
  const std::vector<uint8_t> model = tflite::read_file(model_path, &p.error);
  if (model.empty()) return p;
  DelegateOptions options;
  options.log_level = LogLevel::kQuiet;
  auto backend = std::make_unique<CapturingBackend>(
      create_rocket_backend(std::make_unique<kernel::RocketDevice>(std::make_unique<InstantTransport>())), &p.graphs);
  auto delegate = Delegate::create_with_backend(options, std::move(backend));
  if (!tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &p.error)) return p;
  if (p.graphs.empty()) p.error = "no partition for the rocket backend";
  return p;
}

void compile_partitions(benchmark::State& state, const std::string& model_path, bool fallback) {
  const Partitions& p = partitions_of(model_path);
  if (!p.error.empty()) {
    state.SkipWithError(p.error.c_str());
    return;
  }
  rocket::ProgramOptions options;
  options.fallback_on_fault = fallback;
  for (auto _ : state) {
    for (const ir::Graph& graph : p.graphs) {
      std::unique_ptr<Program> program;
      if (Status s = rocket::compile_program(instant_device(), graph, options, &program); !s.ok()) {
        state.SkipWithError(s.message().c_str());
        return;
      }
      benchmark::DoNotOptimize(program.get());
    }
  }
  state.counters["partitions"] = static_cast<double>(p.graphs.size());
}

// Programs compiled once over one instant transport, with I/O buffers.
struct Runtime {
  InstantTransport* transport = nullptr;
  std::vector<std::unique_ptr<Program>> programs;
  std::vector<std::vector<std::vector<uint8_t>>> inputs, outputs;  // [partition][index]
  uint64_t bytes_in = 0, bytes_out = 0;
  std::string error;
};

Runtime& runtime_of(const std::string& model_path) {
  static std::map<std::string, Runtime> cache;
  auto [it, fresh] = cache.try_emplace(model_path);
  Runtime& r = it->second;
  if (!fresh) return r;
  const Partitions& p = partitions_of(model_path);
  if (!p.error.empty()) {
    r.error = p.error;
    return r;
  }
  const std::shared_ptr<kernel::Device> device = instant_device(&r.transport);
  for (const ir::Graph& graph : p.graphs) {
    std::unique_ptr<Program> program;
    if (Status s = rocket::compile_program(device, graph, rocket::ProgramOptions{}, &program); !s.ok()) {
      r.error = s.message();
      return r;
    }
    r.programs.push_back(std::move(program));
    auto& in = r.inputs.emplace_back();
    for (int t : graph.inputs) {
      in.emplace_back(graph.tensor(t).num_bytes(), uint8_t{0x5a});
      r.bytes_in += in.back().size();
    }
    auto& out = r.outputs.emplace_back();
    for (int t : graph.outputs) {
      out.emplace_back(graph.tensor(t).num_bytes());
      r.bytes_out += out.back().size();
    }
  }
  return r;
}

void invoke_overhead(benchmark::State& state, const std::string& model_path) {
  Runtime& r = runtime_of(model_path);
  if (!r.error.empty()) {
    state.SkipWithError(r.error.c_str());
    return;
  }
  const InstantTransport::Counts before = r.transport->counts();
  for (auto _ : state) {
    for (size_t p = 0; p < r.programs.size(); ++p) {
      Program& program = *r.programs[p];
      for (size_t i = 0; i < r.inputs[p].size(); ++i) (void)program.set_input(i, r.inputs[p][i].data(), r.inputs[p][i].size());
      if (Status s = program.invoke(); !s.ok()) {
        state.SkipWithError(s.message().c_str());
        return;
      }
      for (size_t o = 0; o < r.outputs[p].size(); ++o) {
        (void)program.get_output(o, r.outputs[p][o].data(), r.outputs[p][o].size());
      }
      benchmark::DoNotOptimize(r.outputs[p].data());
    }
  }
  const InstantTransport::Counts& after = r.transport->counts();
  const double n = static_cast<double>(state.iterations());
  state.counters["partitions"] = static_cast<double>(r.programs.size());
  state.counters["ioctls"] = static_cast<double>(after.submits + after.preps + after.finis - before.submits -
                                                 before.preps - before.finis) / n;
  state.counters["nhwc_bytes"] = static_cast<double>(r.bytes_in + r.bytes_out);
}

}  // namespace

void register_rocket_benchmarks(const std::vector<std::string>& models) {
  for (const std::string& path : models) {
    const std::string prefix = "rocket_runtime/" + model_name(path) + "/";
    benchmark::RegisterBenchmark((prefix + "compile").c_str(),
                                 [path = path](benchmark::State& s) { compile_partitions(s, path, true); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((prefix + "compile_no_fallback").c_str(),
                                 [path = path](benchmark::State& s) { compile_partitions(s, path, false); })
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((prefix + "invoke_overhead").c_str(),
                                 [path = path](benchmark::State& s) { invoke_overhead(s, path); })
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace nonstick::bench
