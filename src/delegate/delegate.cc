// The front end: decides placement node by node, lets TFLite split the
// accepted nodes into partitions, compiles every partition up front (so a
// partition that fails to compile simply stays on the CPU), and replaces the
// rest with one delegate kernel per partition.
#include "delegate/delegate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "delegate/cpu_profile.h"
#include "delegate/translate.h"

namespace nonstick {

namespace {

// A partition compiled in Prepare, waiting for TFLite's init() to claim it.
struct Partition {
  std::set<int> nodes;
  std::unique_ptr<Program> program;
  std::vector<int> inputs;   // TFLite tensor index per Program input
  std::vector<int> outputs;  // TFLite tensor index per Program output
  int id = -1;
  bool fail_invoke = false;  // inject_failure=invoke
  // Partitions TFLite currently owns, for live statistics; shared so a
  // kernel freed after its Delegate does not touch freed memory.
  std::shared_ptr<std::set<Partition*>> live;
  ~Partition() {
    if (live) live->erase(this);
  }
};

void log_line(const DelegateOptions& o, LogLevel level, const std::string& line) {
  if (static_cast<int>(o.log_level) >= static_cast<int>(level)) {
    std::fprintf(stderr, "nonstick: %s\n", line.c_str());
  }
}

struct IntArray {
  explicit IntArray(const std::vector<int>& v)
      : p(static_cast<TfLiteIntArray*>(std::malloc(sizeof(int) * (v.size() + 1)))) {
    p->size = static_cast<int>(v.size());
    if (!v.empty()) std::memcpy(p->data, v.data(), v.size() * sizeof(int));
  }
  ~IntArray() { std::free(p); }
  IntArray(const IntArray&) = delete;
  IntArray& operator=(const IntArray&) = delete;
  TfLiteIntArray* p;
};

std::vector<int> to_vector(const TfLiteIntArray* a) {
  return a ? std::vector<int>(a->data, a->data + a->size) : std::vector<int>();
}

void add_stats(const ProgramStats& s, ProgramStats* sum) {
  sum->ops += s.ops;
  sum->jobs += s.jobs;
  sum->tasks += s.tasks;
  sum->submits += s.submits;
  sum->command_words += s.command_words;
  sum->macs += s.macs;
  sum->bytes_read += s.bytes_read;
  sum->bytes_written += s.bytes_written;
  sum->traffic_simulated = sum->traffic_simulated || s.traffic_simulated;
  sum->estimated_us += s.estimated_us;
  sum->peak_macs_per_s = std::max(sum->peak_macs_per_s, s.peak_macs_per_s);
}

BackendConfig backend_config(const DelegateOptions& o, reference::Numerics numerics) {
  BackendConfig c;
  c.numerics = numerics;
  c.bit_exact_only = o.exact;
  return c;
}

// Empty when every fixed-size tensor's byte count agrees with its shape.
std::string check_tensor_layout(const TfLiteContext* ctx) {
  size_t checked = 0, bad = 0;
  for (size_t i = 0; i < ctx->tensors_size; ++i) {
    const TfLiteTensor& t = ctx->tensors[i];
    size_t element = 0;
    switch (t.type) {
      case kTfLiteUInt8: case kTfLiteInt8: case kTfLiteBool: element = 1; break;
      case kTfLiteInt16: element = 2; break;
      case kTfLiteInt32: case kTfLiteFloat32: element = 4; break;
      case kTfLiteInt64: element = 8; break;
      default: continue;
    }
    if (!t.dims || t.allocation_type == kTfLiteDynamic || t.dims->size < 0 || t.dims->size > 16) continue;
    size_t n = element;
    for (int d = 0; d < t.dims->size; ++d) n *= static_cast<size_t>(std::max(t.dims->data[d], 0));
    ++checked;
    bad += n != t.bytes;
  }
  if (checked > 0 && bad * 2 > checked) {
    return "TFLite ABI mismatch: " + std::to_string(bad) + " of " + std::to_string(checked) +
           " tensors disagree with nonstick's TfLiteTensor layout";
  }
  return {};
}

}  // namespace

struct Delegate::State {
  Delegate* owner = nullptr;
  DelegateOptions options;
  std::unique_ptr<Backend> backend;
  std::string backend_error;  // why backend is null
  TfLiteDelegate tfl{};
  DelegateReport report;
  std::vector<std::unique_ptr<Partition>> pending;
  std::shared_ptr<std::set<Partition*>> live = std::make_shared<std::set<Partition*>>();
  // Set when the delegate made its own reference backend, which is remade
  // when the numerics settled at Prepare differ (other backends adopt them
  // through Backend::set_numerics).
  bool settles_numerics = false;
  reference::Numerics numerics = reference::Numerics::kTflite29;

  NodePlacement* placement(int node) {
    for (NodePlacement& p : report.nodes) {
      if (p.node_index == node) return &p;
    }
    return nullptr;
  }

  // Builds the IR graph of a partition and compiles it.
  std::unique_ptr<Partition> compile(const TfLiteContext* ctx, const std::vector<int>& plan,
                                     const std::set<int>& nodes, const std::vector<int>& inputs,
                                     const std::vector<int>& outputs, std::string* error) {
    GraphAssembler assembler(ctx);
    for (int node_index : plan) {
      if (!nodes.count(node_index)) continue;
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (ctx->GetNodeAndRegistration(const_cast<TfLiteContext*>(ctx), node_index, &node, &reg) != kTfLiteOk) {
        *error = "cannot read node " + std::to_string(node_index);
        return nullptr;
      }
      TranslatedNode t = translate_node(ctx, node, reg, node_index);
      if (!t.ok) {
        *error = t.reason;
        return nullptr;
      }
      if (!assembler.add_op(t.op, error)) return nullptr;
    }
    auto part = std::make_unique<Partition>();
    part->nodes = nodes;
    for (int t : inputs) {
      if (!assembler.add_input(t, error)) return nullptr;
    }
    for (int t : outputs) {
      if (!assembler.add_output(t, error)) return nullptr;
    }
    const ir::Graph& g = assembler.graph();
    for (int i : g.inputs) part->inputs.push_back(assembler.tflite_index()[static_cast<size_t>(i)]);
    for (int o : g.outputs) part->outputs.push_back(assembler.tflite_index()[static_cast<size_t>(o)]);
    if (std::string problem = ir::validate(g); !problem.empty()) {
      *error = "invalid partition: " + problem;
      return nullptr;
    }
    if (options.inject_failure == "compile") {
      *error = "injected failure (inject_failure=compile)";
      return nullptr;
    }
    part->fail_invoke = options.inject_failure == "invoke";
    const auto start = std::chrono::steady_clock::now();
    Status s = backend->compile(g, &part->program);
    report.compile_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!s.ok()) {
      *error = s.message();
      return nullptr;
    }
    add_stats(part->program->stats(), &report.stats);
    return part;
  }

  // For cpu_profile=auto the TFLite build calling Prepare is the host whose
  // rounding counts: a backend that assumed another adopts it (the rocket
  // encoder targets it), or, if it cannot, the reference backend is remade.
  void settle_numerics(TfLiteContext* ctx) {
    if (!backend) return;  // no device: everything stays on the CPU anyway
    const CpuProfileChoice choice =
        choose_cpu_profile(options.cpu_profile, reinterpret_cast<const void*>(ctx->GetExecutionPlan));
    if (choice.numerics != numerics && backend->set_numerics(choice.numerics)) {
      numerics = choice.numerics;
    } else if (choice.numerics != numerics && settles_numerics) {
      std::string error;
      if (auto remade = create_backend("reference", &error, backend_config(options, choice.numerics))) {
        backend = std::move(remade);
        numerics = choice.numerics;
        report.device_description = std::string(backend->description());
      }
    }
    log_line(options, LogLevel::kInfo,
             std::string("reference kernels use ") + reference::numerics_name(numerics) + " numerics (" +
                 choice.why + ")");
  }

  TfLiteStatus prepare(TfLiteContext* ctx);
};

namespace {

// ---- Delegate kernel callbacks (one kernel per partition) ----

void* kernel_init(TfLiteContext* ctx, const char* buffer, size_t) {
  const auto* params = reinterpret_cast<const TfLiteDelegateParams*>(buffer);
  auto* state = static_cast<Delegate::State*>(params->delegate->data_);
  const std::vector<int> wanted = to_vector(params->nodes_to_replace);
  const std::set<int> wanted_set(wanted.begin(), wanted.end());
  auto claim = [state](std::unique_ptr<Partition> p) {
    p->live = state->live;
    state->live->insert(p.get());
    return p.release();
  };
  for (auto& p : state->pending) {
    if (p && p->nodes == wanted_set) return claim(std::move(p));
  }
  // TFLite split differently from the preview: compile this set now.
  std::vector<int> plan;
  TfLiteIntArray* exec = nullptr;
  if (ctx->GetExecutionPlan(ctx, &exec) == kTfLiteOk) plan = to_vector(exec);
  std::string error;
  std::unique_ptr<Partition> part = state->compile(ctx, plan, wanted_set, to_vector(params->input_tensors),
                                                   to_vector(params->output_tensors), &error);
  if (!part) {
    ctx->ReportError(ctx, "nonstick: partition failed to compile: %s", error.c_str());
    return nullptr;
  }
  return claim(std::move(part));
}

void kernel_free(TfLiteContext*, void* buffer) { delete static_cast<Partition*>(buffer); }

TfLiteStatus kernel_prepare(TfLiteContext* ctx, TfLiteNode* node) {
  if (!node->user_data) {
    ctx->ReportError(ctx, "nonstick: partition has no compiled program");
    return kTfLiteError;
  }
  return kTfLiteOk;
}

TfLiteStatus kernel_invoke(TfLiteContext* ctx, TfLiteNode* node) {
  auto* part = static_cast<Partition*>(node->user_data);
  if (part->fail_invoke) {
    ctx->ReportError(ctx, "nonstick: invoke failed: injected failure (inject_failure=invoke)");
    return kTfLiteError;
  }
  // Tensor data pointers may move between invocations: look them up each time.
  for (size_t i = 0; i < part->inputs.size(); ++i) {
    const TfLiteTensor& t = ctx->tensors[part->inputs[i]];
    if (Status s = part->program->set_input(i, t.data, t.bytes); !s.ok()) {
      ctx->ReportError(ctx, "nonstick: input %d: %s", static_cast<int>(i), s.message().c_str());
      return kTfLiteError;
    }
  }
  if (Status s = part->program->invoke(); !s.ok()) {
    ctx->ReportError(ctx, "nonstick: invoke failed: %s", s.message().c_str());
    return kTfLiteError;
  }
  for (size_t i = 0; i < part->outputs.size(); ++i) {
    TfLiteTensor& t = ctx->tensors[part->outputs[i]];
    if (Status s = part->program->get_output(i, t.data, t.bytes); !s.ok()) {
      ctx->ReportError(ctx, "nonstick: output %d: %s", static_cast<int>(i), s.message().c_str());
      return kTfLiteError;
    }
  }
  return kTfLiteOk;
}

TfLiteStatus delegate_prepare(TfLiteContext* ctx, TfLiteDelegate* delegate) {
  return static_cast<Delegate::State*>(delegate->data_)->prepare(ctx);
}

}  // namespace

TfLiteStatus Delegate::State::prepare(TfLiteContext* ctx) {
  report.nodes.clear();
  report.partitions = 0;
  report.compile_ms = 0;
  report.stats = {};
  pending.clear();

  settle_numerics(ctx);
  TfLiteIntArray* exec = nullptr;
  if (ctx->GetExecutionPlan(ctx, &exec) != kTfLiteOk) return kTfLiteError;
  const std::vector<int> plan = to_vector(exec);

  // 0. A runtime whose TfLiteTensor layout differs from abi.h would show up
  //    as byte counts that disagree with shapes: then take nothing.
  std::string abi_problem = check_tensor_layout(ctx);
  if (!abi_problem.empty()) log_line(options, LogLevel::kQuiet, abi_problem + "; every operation stays on the CPU");

  // 1. Per-node decision.
  std::vector<int> accepted;
  for (int node_index : plan) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    NodePlacement p;
    p.node_index = node_index;
    if (ctx->GetNodeAndRegistration(ctx, node_index, &node, &reg) != kTfLiteOk) {
      p.op = "?";
      p.reason = "TFLite could not return the node";
      report.nodes.push_back(p);
      continue;
    }
    TranslatedNode t = translate_node(ctx, node, reg, node_index);
    p.op = t.op_name;
    if (t.ok) {
      GraphAssembler one(ctx);
      std::string error;
      if (!one.add_op(t.op, &error)) {
        t.ok = false;
        t.reason = error;
      } else {
        const ir::Graph& g = one.graph();
        p.signature = ir::describe(g, g.ops[0]);
        if (!abi_problem.empty()) {
          t.ok = false;
          t.reason = abi_problem;
        } else if (!backend) {
          t.ok = false;
          t.reason = backend_error;
        } else if (std::find(options.disabled_ops.begin(), options.disabled_ops.end(), t.op_name) !=
                   options.disabled_ops.end()) {
          t.ok = false;
          t.reason = "disabled by the disable_ops option";
        } else if (Support s = backend->supports(g, g.ops[0]); !s.supported) {
          t.ok = false;
          t.reason = s.reason;
        } else {
          p.note = s.note;
          p.proven_exact = s.proven_exact;
        }
      }
    }
    p.delegated = t.ok;
    p.reason = t.reason;
    if (t.ok) accepted.push_back(node_index);
    report.nodes.push_back(p);
  }

  // 2. Partitions as TFLite will form them, each compiled now.
  std::vector<std::unique_ptr<Partition>> parts;
  if (!accepted.empty()) {
    IntArray accepted_array(accepted);
    TfLiteDelegateParams* preview = nullptr;
    int count = 0;
    if (ctx->PreviewDelegatePartitioning(ctx, accepted_array.p, &preview, &count) != kTfLiteOk) {
      return kTfLiteError;
    }
    for (int i = 0; i < count; ++i) {
      const std::vector<int> nodes = to_vector(preview[i].nodes_to_replace);
      const std::set<int> node_set(nodes.begin(), nodes.end());
      std::string error;
      std::unique_ptr<Partition> part;
      if (static_cast<int>(nodes.size()) < options.min_partition_ops) {
        error = "partition of " + std::to_string(nodes.size()) + " ops is below min_partition_ops";
      } else {
        part = compile(ctx, plan, node_set, to_vector(preview[i].input_tensors),
                       to_vector(preview[i].output_tensors), &error);
        if (!part) error = "partition failed to compile: " + error;
      }
      if (!part) {
        for (int n : nodes) {
          NodePlacement* p = placement(n);
          p->delegated = false;
          p->reason = error;
        }
        log_line(options, LogLevel::kInfo, error);
        continue;
      }
      parts.push_back(std::move(part));
    }
  }
  if (options.max_partitions > 0 && static_cast<int>(parts.size()) > options.max_partitions) {
    std::stable_sort(parts.begin(), parts.end(),
                     [](const auto& a, const auto& b) { return a->nodes.size() > b->nodes.size(); });
    for (size_t i = static_cast<size_t>(options.max_partitions); i < parts.size(); ++i) {
      for (int n : parts[i]->nodes) {
        NodePlacement* p = placement(n);
        p->delegated = false;
        p->reason = "beyond max_partitions";
      }
    }
    parts.resize(static_cast<size_t>(options.max_partitions));
  }

  // 3. Hand the surviving partitions to TFLite.
  std::vector<int> delegated;
  for (auto& part : parts) {
    part->id = report.partitions++;
    for (int n : part->nodes) {
      delegated.push_back(n);
      placement(n)->partition = part->id;
    }
  }
  pending = std::move(parts);
  TfLiteStatus status = kTfLiteOk;
  if (!delegated.empty()) {
    TfLiteRegistration reg{};
    reg.init = kernel_init;
    reg.free = kernel_free;
    reg.prepare = kernel_prepare;
    reg.invoke = kernel_invoke;
    reg.builtin_code = 51;  // BuiltinOperator_DELEGATE
    reg.custom_name = "nonstick";
    reg.version = 1;
    std::sort(delegated.begin(), delegated.end());
    IntArray delegated_array(delegated);
    status = ctx->ReplaceNodeSubsetsWithDelegateKernels(ctx, reg, delegated_array.p, &tfl);
  }
  pending.clear();  // whatever init() did not claim

  log_line(options, LogLevel::kInfo, format_placement_summary(report));
  if (static_cast<int>(options.log_level) >= static_cast<int>(LogLevel::kPlacement)) {
    std::fputs(format_placement_table(report).c_str(), stderr);
  }
  return status;
}

int DelegateReport::delegated_nodes() const {
  int n = 0;
  for (const NodePlacement& p : nodes) n += p.delegated ? 1 : 0;
  return n;
}

Delegate::Delegate(std::unique_ptr<State> state) : state_(std::move(state)) { state_->owner = this; }

Delegate* Delegate::from_tflite(TfLiteDelegate* delegate) {
  if (!delegate || delegate->Prepare != delegate_prepare || !delegate->data_) return nullptr;
  return static_cast<State*>(delegate->data_)->owner;
}
Delegate::~Delegate() = default;

std::unique_ptr<Delegate> Delegate::create(const DelegateOptions& options, std::string* error) {
  auto state = std::make_unique<State>();
  state->options = options;
  // A first guess from the libraries in the process; Prepare settles it.
  const CpuProfileChoice profile = choose_cpu_profile(options.cpu_profile, nullptr);
  state->backend = create_backend(options.device, &state->backend_error, backend_config(options, profile.numerics));
  if (!state->backend) {
    if (error) *error = state->backend_error;
    return nullptr;
  }
  state->settles_numerics = state->backend->name() == "reference";
  state->numerics = profile.numerics;
  state->report.device = std::string(state->backend->name());
  state->report.device_description = std::string(state->backend->description());
  state->report.device_simulated = state->backend->simulated();
  state->tfl.data_ = state.get();
  state->tfl.Prepare = delegate_prepare;
  state->tfl.flags = kTfLiteDelegateFlagsNone;
  return std::unique_ptr<Delegate>(new Delegate(std::move(state)));
}

std::unique_ptr<Delegate> Delegate::create_with_backend(const DelegateOptions& options,
                                                        std::unique_ptr<Backend> backend) {
  if (!backend) return nullptr;
  auto state = std::make_unique<State>();
  state->options = options;
  state->backend = std::move(backend);
  state->report.device = std::string(state->backend->name());
  state->report.device_description = std::string(state->backend->description());
  state->report.device_simulated = state->backend->simulated();
  state->tfl.data_ = state.get();
  state->tfl.Prepare = delegate_prepare;
  state->tfl.flags = kTfLiteDelegateFlagsNone;
  return std::unique_ptr<Delegate>(new Delegate(std::move(state)));
}

std::unique_ptr<Delegate> Delegate::create_cpu_only(const DelegateOptions& options, std::string reason) {
  auto state = std::make_unique<State>();
  state->options = options;
  state->backend_error = std::move(reason);
  state->report.device = "cpu";
  state->report.device_description = "TFLite CPU kernels (delegate inactive)";
  state->tfl.data_ = state.get();
  state->tfl.Prepare = delegate_prepare;
  return std::unique_ptr<Delegate>(new Delegate(std::move(state)));
}

TfLiteDelegate* Delegate::tflite_delegate() { return &state_->tfl; }

ProgramStats Delegate::live_stats() const {
  ProgramStats sum;
  for (const Partition* p : *state_->live) add_stats(p->program->stats(), &sum);
  return sum;
}
const DelegateReport& Delegate::report() const { return state_->report; }
const DelegateOptions& Delegate::options() const { return state_->options; }

}  // namespace nonstick
