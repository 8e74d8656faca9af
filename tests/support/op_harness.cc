// expect_matches_tflite / run_tflite_cpu: the graph goes through the model
// writer, then runs on TFLite's builtin CPU kernels and through the nonstick
// delegate, with the same deterministic inputs, and the outputs are compared.
#include "support/op_harness.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "backends/reference/backend.h"
#include "delegate/delegate.h"
#include "support/model_writer.h"
#include "support/random_data.h"
#include "tflite/interpreter.h"

namespace nonstick::testing {
namespace {

using ir::DType;

// Float inputs feeding QUANTIZE span the output's representable range plus
// 10% on each side, so rounding and saturation are both exercised.
void input_range(const ir::Graph& g, int tensor, double* lo, double* hi) {
  dtype_range(g.tensor(tensor).dtype, lo, hi);
  if (g.tensor(tensor).dtype != DType::kFloat32) return;
  for (const ir::Operation& op : g.ops) {
    if (op.type != ir::OpType::kQuantize || op.inputs.empty() || op.inputs[0] != tensor) continue;
    const ir::Tensor& q = g.output(op, 0);
    double qlo, qhi;
    dtype_range(q.dtype, &qlo, &qhi);
    double a = (qlo - q.quant.zero_point()) * q.quant.scale();
    double b = (qhi - q.quant.zero_point()) * q.quant.scale();
    *lo = a - 0.1 * (b - a);
    *hi = b + 0.1 * (b - a);
    return;
  }
}

// Fresh inputs for each invocation, the same for both runs.
std::vector<std::vector<uint8_t>> random_inputs(const ir::Graph& g, uint32_t seed, int invocation) {
  std::vector<std::vector<uint8_t>> inputs;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const ir::Tensor& t = g.tensor(g.inputs[i]);
    double lo, hi;
    input_range(g, g.inputs[i], &lo, &hi);
    Rng rng(Rng::combine(Rng::combine(seed, static_cast<uint64_t>(invocation)), i));
    inputs.push_back(random_values(t.dtype, t.num_elements(), lo, hi, &rng));
  }
  return inputs;
}

std::string last_error(const tflite::Interpreter& it) {
  return it.errors().empty() ? std::string() : ": " + it.errors().back();
}

// Feeds, invokes and reads back; reports failures with `who` ("TFLite CPU"
// or the delegate's device) and returns false.
bool run_once(tflite::Interpreter* it, const std::string& who,
              const std::vector<std::vector<uint8_t>>& inputs,
              std::vector<std::vector<uint8_t>>* outputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status s = it->set_input(static_cast<int>(i), inputs[i].data(), inputs[i].size());
    if (!s.ok()) {
      ADD_FAILURE() << who << ": " << s.message();
      return false;
    }
  }
  if (Status s = it->invoke(); !s.ok()) {
    ADD_FAILURE() << who << " invoke failed: " << s.message() << last_error(*it);
    return false;
  }
  outputs->assign(static_cast<size_t>(it->output_count()), {});
  for (int i = 0; i < it->output_count(); ++i) {
    if (Status s = it->get_output(i, &(*outputs)[static_cast<size_t>(i)]); !s.ok()) {
      ADD_FAILURE() << who << ": " << s.message();
      return false;
    }
  }
  return true;
}

double element(const std::vector<uint8_t>& bytes, DType dtype, size_t i) {
  auto read = [&]<typename T>(T) {
    T v;
    std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
    return static_cast<double>(v);
  };
  switch (dtype) {
    case DType::kUInt8:
    case DType::kBool: return read(uint8_t{});
    case DType::kInt8: return read(int8_t{});
    case DType::kInt16: return read(int16_t{});
    case DType::kInt32: return read(int32_t{});
    case DType::kInt64: return read(int64_t{});
    case DType::kFloat32: return read(float{});
  }
  return 0;
}

std::string coordinates(const std::vector<int32_t>& shape, size_t flat) {
  std::vector<int64_t> coord(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    coord[d] = static_cast<int64_t>(flat) % shape[d];
    flat /= static_cast<size_t>(shape[d]);
  }
  std::ostringstream s;
  s << (shape.size() == 4 ? "NHWC [" : "[");
  for (size_t d = 0; d < coord.size(); ++d) s << (d ? "," : "") << coord[d];
  s << "]";
  return s.str();
}

// Compares one output; on a mismatch reports where and by how much.
bool compare_output(const ir::Graph& g, size_t index, int invocation, int tolerance,
                    const std::string& device, const std::vector<uint8_t>& cpu,
                    const std::vector<uint8_t>& got) {
  const ir::Tensor& t = g.tensor(g.outputs[index]);
  std::string where = "output " + std::to_string(index) + " (" + t.name + ", " + ir::describe(t) +
                      "), invocation " + std::to_string(invocation);
  if (cpu.size() != got.size()) {
    ADD_FAILURE() << where << ": TFLite produced " << cpu.size() << " bytes, " << device << " "
                  << got.size();
    return false;
  }
  const size_t n = cpu.size() / ir::dtype_size(t.dtype);
  size_t differing = 0, first = 0;
  double max_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    double a = element(cpu, t.dtype, i), b = element(got, t.dtype, i);
    if (a == b || (std::isnan(a) && std::isnan(b))) continue;
    double diff = std::isnan(a) || std::isnan(b) ? INFINITY : std::fabs(a - b);
    max_diff = std::max(max_diff, diff);
    if (diff <= tolerance) continue;
    if (differing++ == 0) first = i;
  }
  if (differing == 0) return true;
  ADD_FAILURE() << where << ": " << differing << " of " << n << " elements differ by more than "
                << tolerance << "; first at flat index " << first << " = "
                << coordinates(t.shape, first) << ": TFLite " << element(cpu, t.dtype, first)
                << ", " << device << " " << element(got, t.dtype, first)
                << "; max |difference| " << max_diff;
  return false;
}

// Every node must have gone to the device: an op that silently fell back to
// TFLite's CPU kernels would compare TFLite with itself.
bool check_all_delegated(const DelegateReport& report, size_t ops) {
  std::ostringstream missing;
  int count = 0;
  for (const NodePlacement& node : report.nodes) {
    if (node.delegated) continue;
    ++count;
    missing << "\n  node " << node.node_index << " ";
    if (node.signature.rfind(node.op, 0) != 0) missing << node.op << " ";  // unless it names it
    missing << node.signature << ": " << (node.reason.empty() ? "no reason given" : node.reason);
  }
  if (report.nodes.size() != ops) {
    ADD_FAILURE() << "the delegate reported " << report.nodes.size() << " nodes, the graph has "
                  << ops << " ops";
    return false;
  }
  if (count == 0) return true;
  ADD_FAILURE() << count << " of " << ops << " nodes were not delegated to " << report.device << ":"
                << missing.str();
  return false;
}

// For a model TFLite refuses: each op as written, with its version, since
// "Registration failed" means a version TFLite 2.9 does not have.
std::string ops_written(const ir::Graph& g) {
  std::string s;
  for (const ir::Operation& op : g.ops) {
    s += "\n  " + ir::describe(g, op) + " (version " + std::to_string(tflite_op_version(g, op)) + ")";
  }
  return s;
}

// With NONSTICK_DUMP_MODELS=<dir>, every model is also saved as
// <dir>/<test name>.tflite ('/' in parameterised names becomes '_'; a test's
// second model gets "-2", and so on), so that other TFLite runtimes can be
// compared on exactly the same graphs (tests/python/test_op_sweeps.py).
void dump_model(const std::vector<uint8_t>& model) {
  const char* dir = std::getenv("NONSTICK_DUMP_MODELS");
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  if (!dir || !*dir || !test) return;
  std::string name = std::string(test->test_suite_name()) + "." + test->name();
  std::replace(name.begin(), name.end(), '/', '_');
  static std::map<std::string, int> models_per_test;
  if (const int n = ++models_per_test[name]; n > 1) name += "-" + std::to_string(n);
  const std::string path = std::string(dir) + "/" + name + ".tflite";
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(model.data()), static_cast<std::streamsize>(model.size()));
  if (!file) ADD_FAILURE() << "NONSTICK_DUMP_MODELS: cannot write " << path;
}

std::vector<uint8_t> model_or_fail(const ir::Graph& graph) {
  std::string error;
  std::vector<uint8_t> model = write_tflite_model(graph, &error);
  if (model.empty()) {
    ADD_FAILURE() << "cannot write the TFLite model: " << error;
  } else {
    dump_model(model);
  }
  return model;
}

}  // namespace

std::vector<std::vector<uint8_t>> run_tflite_cpu(const ir::Graph& graph, uint32_t input_seed) {
  std::vector<uint8_t> model = model_or_fail(graph);
  if (model.empty()) return {};
  std::string error;
  auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
  if (!cpu) {
    ADD_FAILURE() << "TFLite CPU refuses the model: " << error << ops_written(graph);
    return {};
  }
  std::vector<std::vector<uint8_t>> outputs;
  if (!run_once(cpu.get(), "TFLite CPU", random_inputs(graph, input_seed, 0), &outputs)) return {};
  return outputs;
}

bool expect_matches_tflite(const ir::Graph& graph, const HarnessOptions& options) {
  std::vector<uint8_t> model = model_or_fail(graph);
  if (model.empty()) return false;
  std::string error;
  auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
  if (!cpu) {
    ADD_FAILURE() << "TFLite CPU refuses the model: " << error << ops_written(graph);
    return false;
  }
  // The delegate must outlive the interpreter that uses it.
  DelegateOptions delegate_options;
  delegate_options.device = options.device;
  delegate_options.log_level = LogLevel::kQuiet;
  delegate_options.exact = options.exact;
  auto delegate = Delegate::create(delegate_options, &error);
  if (!delegate) {
    ADD_FAILURE() << "cannot create the nonstick delegate for device '" << options.device
                  << "': " << error;
    return false;
  }
  auto delegated = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  if (!delegated) {
    ADD_FAILURE() << "TFLite with the nonstick delegate: " << error;
    return false;
  }
  bool ok = true;
  if (options.require_all_delegated) ok = check_all_delegated(delegate->report(), graph.ops.size());
  const std::string device = "nonstick/" + options.device;
  for (int inv = 0; inv < options.invocations; ++inv) {
    auto inputs = random_inputs(graph, options.input_seed, inv);
    std::vector<std::vector<uint8_t>> want, got;
    if (!run_once(cpu.get(), "TFLite CPU", inputs, &want) ||
        !run_once(delegated.get(), device, inputs, &got)) {
      return false;
    }
    if (want.size() != got.size()) {
      ADD_FAILURE() << "TFLite has " << want.size() << " outputs, " << device << " " << got.size();
      return false;
    }
    for (size_t o = 0; o < want.size(); ++o) {
      ok &= compare_output(graph, o, inv, options.tolerance, device, want[o], got[o]);
    }
  }
  return ok;
}

void expect_same_reference_output(const ir::Graph& a, const ir::Graph& b) {
  auto backend = reference::create_reference_backend();
  std::vector<std::vector<uint8_t>> outputs;
  for (const ir::Graph* g : {&a, &b}) {
    std::unique_ptr<Program> program;
    const Status s = backend->compile(*g, &program);
    ASSERT_TRUE(s.ok()) << s.message();
    const ir::Tensor& in = g->tensor(g->inputs[0]);
    double lo, hi;
    dtype_range(in.dtype, &lo, &hi);
    Rng rng(5);
    const std::vector<uint8_t> data = random_values(in.dtype, in.num_elements(), lo, hi, &rng);
    ASSERT_TRUE(program->set_input(0, data.data(), data.size()).ok());
    ASSERT_TRUE(program->invoke().ok());
    outputs.emplace_back(g->tensor(g->outputs[0]).num_bytes());
    ASSERT_TRUE(program->get_output(0, outputs.back().data(), outputs.back().size()).ok());
  }
  EXPECT_EQ(outputs[0], outputs[1]) << "no-bias output differs from zero-bias output";
}

}  // namespace nonstick::testing
