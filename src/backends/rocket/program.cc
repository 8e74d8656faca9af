#include "backends/rocket/program.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "backends/reference/backend.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/hw.h"
#include "backends/rocket/perf_model.h"
#include "backends/rocket/layout.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/regcmd.h"
#include "backends/rocket/tasks.h"

namespace nonstick::rocket {
namespace {

// Generous against the kernel's 500 ms per job: a whole partition's jobs.
constexpr int64_t kWaitNs = 5'000'000'000;

bool contains(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

int8_t signed_zero_point(const ir::Tensor& t) {
  return static_cast<int8_t>(t.quant.zero_point() - (t.dtype == ir::DType::kUInt8 ? 128 : 0));
}

class CompiledProgram final : public RocketProgram {
 public:
  CompiledProgram(std::shared_ptr<kernel::Device> device, ir::Graph graph, ProgramOptions options)
      : device_(std::move(device)), graph_(std::move(graph)), options_(options) {}

  ~CompiledProgram() override {
    for (const kernel::BufferObject& bo : bos_) device_->destroy_bo(bo);
  }

  Status build();

  // Converts the caller's NHWC bytes straight into the input's BO. A device
  // fault here is kept for invoke() to report (or recover from), with the
  // bytes, since the BO may not hold them.
  Status set_input(size_t index, const void* data, size_t bytes) override {
    if (index >= in_ports_.size()) return Status::error("input index out of range");
    Port& port = in_ports_[index];
    if (bytes != port.bytes) return Status::error("input size mismatch");
    if (fell_back_) return fallback_->set_input(index, data, bytes);
    const auto* src = static_cast<const uint8_t*>(data);
    if (port.bo) {
      Status s = write_input(port, src);
      if (s.ok()) {
        port.host_valid = port.keep_host;
        if (!port.keep_host) return {};
      } else if (input_fault_.ok()) {
        input_fault_ = std::move(s);
      }
    }
    // Sized at compile time for the inputs that always keep a copy; only a
    // fault makes this allocate.
    port.host.assign(src, src + bytes);
    port.host_valid = true;
    return {};
  }

  Status invoke() override {
    if (fell_back_) return fallback_->invoke();
    Status s = run_on_device();
    if (s.ok() || !fallback_) return s;
    std::fprintf(stderr, "nonstick: rocket: %s; running this partition on the reference backend from now on\n",
                 s.message().c_str());
    fell_back_ = true;
    return run_fallback();
  }

  // Reads the NPU's result straight from the output BO, which invoke() left
  // open for CPU access.
  Status get_output(size_t index, void* data, size_t bytes) override {
    if (index >= out_ports_.size()) return Status::error("output index out of range");
    const Port& port = out_ports_[index];
    if (bytes != port.bytes) return Status::error("output size mismatch");
    if (fell_back_) return fallback_->get_output(index, data, bytes);
    auto* dst = static_cast<uint8_t*>(data);
    if (port.bo) {
      if (!port.open) return Status::error("no NPU result to read: invoke() did not succeed");
      from_npu_layout(port.bo->map, port.shape.pixels, port.shape.channels, port.dtype, dst);
    } else if (bytes) {
      std::memcpy(dst, in_ports_[port.passthrough].host.data(), bytes);
    }
    return {};
  }

  ProgramStats stats() const override {
    ProgramStats s;
    s.ops = static_cast<int>(graph_.ops.size());
    s.jobs = stats_.jobs;
    s.tasks = stats_.tasks;
    s.submits = submission_ ? 1 : 0;
    s.command_words = stats_.regcmd_words;
    s.macs = macs_;
    const RocketStats r = rocket_stats();
    s.bytes_read = r.bytes_read;
    s.bytes_written = r.bytes_written;
    s.traffic_simulated = r.simulated;
    s.estimated_us = estimated_us_ + estimate_submit_overhead_us(s.submits);
    const PerfAssumptions assumed;
    s.peak_macs_per_s = assumed.macs_per_cycle * assumed.clock_hz;
    return s;
  }

  RocketStats rocket_stats() const override {
    RocketStats r = stats_;
    r.fell_back = fell_back_;
    if (simulated_stats_) {
      r.simulated = true;
      r.bytes_read = last_.bytes_read;
      r.bytes_written = last_.bytes_written;
    }
    return r;
  }

 private:
  Status new_bo(size_t bytes, kernel::BufferObject* bo) {
    Status s = device_->create_bo(static_cast<uint32_t>(std::max<size_t>(bytes, 1)), bo);
    if (s.ok()) bos_.push_back(*bo);
    return s;
  }
  // Copies `bytes` into a new BO, bracketed as CPU access.
  Status upload(const void* data, size_t bytes, kernel::BufferObject* bo) {
    Status s = new_bo(bytes, bo);
    if (!s.ok()) return s;
    if (!(s = device_->prep_bo(*bo, kWaitNs)).ok()) return s;
    std::memcpy(bo->map, data, bytes);
    return device_->fini_bo(*bo);
  }
  // A partition input or output: where its bytes live on the NPU side.
  struct Port {
    const kernel::BufferObject* bo = nullptr;  // null: an input no NPU op reads, or an output that is an input
    FeatureShape shape;
    ir::DType dtype = ir::DType::kUInt8;
    int8_t pad = 0;           // inputs: signed zero point for the padding channels
    size_t bytes = 0;         // NHWC size
    // Inputs: an NHWC copy, kept always when there is no BO or the input is
    // also an output, else only after a fault (for the fallback).
    bool keep_host = false;
    bool host_valid = false;
    std::vector<uint8_t> host;
    // Outputs: CPU access open since the last successful wait; the input
    // index for an output that is an input.
    bool open = false;
    size_t passthrough = 0;
  };

  Status tensor_bo(int tensor);
  void make_ports();
  Status write_input(const Port& port, const uint8_t* src);
  Status run_on_device();
  Status run_fallback();

  std::shared_ptr<kernel::Device> device_;
  ir::Graph graph_;
  ProgramOptions options_;
  std::vector<kernel::BufferObject> bos_;          // every BO, destroyed with the program
  std::map<int, kernel::BufferObject> tensor_bos_;  // activation tensors
  std::unique_ptr<kernel::Submission> submission_;  // every job, one SUBMIT; null when there are none
  std::vector<Port> in_ports_, out_ports_;
  Status input_fault_;  // the first device fault of set_input since the last invoke
  std::unique_ptr<nonstick::Program> fallback_;
  bool fell_back_ = false;
  RocketStats stats_;
  uint64_t macs_ = 0;
  double estimated_us_ = 0;  // perf_model.h, summed over ops
  bool simulated_stats_ = false;
  kernel::SubmitStats last_;
};

Status CompiledProgram::tensor_bo(int tensor) {
  if (tensor_bos_.count(tensor)) return {};
  const ir::Tensor& t = graph_.tensor(tensor);
  const FeatureShape f = feature_shape(t);
  // Room for every channel group the DPU may write (depthwise writes groups
  // of 64), plus one spare surface.
  const int surfaces = align_up(f.channels, CoreConfig::kDepthwiseOutputAlign) / CoreConfig::kAtomChannels + 1;
  kernel::BufferObject bo;
  Status s = new_bo(feature_bytes(f.pixels, surfaces), &bo);
  if (!s.ok()) return s;
  if (t.constant) {  // a constant ADD operand: converted once, here
    if (!(s = device_->prep_bo(bo, kWaitNs)).ok()) return s;
    to_npu_layout(t.data.data(), f.pixels, f.channels, t.dtype, signed_zero_point(t), bo.map);
    if (!(s = device_->fini_bo(bo)).ok()) return s;
  }
  tensor_bos_[tensor] = bo;
  return {};
}

Status CompiledProgram::build() {
  std::vector<NpuConv> ops;
  Status s = lower_graph(graph_, options_.encoding, &ops);
  if (!s.ok()) return s;

  // Plans, encodings and the regcmd layout first: one BO holds every task.
  struct Compiled {
    DpuEncoding enc;
    TaskPlan plan;
    kernel::BufferObject weights, biases;
    size_t first_task = 0;  // index into the regcmd BO's task slots
  };
  std::vector<Compiled> compiled(ops.size());
  std::vector<kernel::Job> jobs;
  size_t slots = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    Support ok = encode_dpu(ops[i], options_.encoding, &compiled[i].enc);
    if (ok.supported) ok = plan_tasks(ops[i], &compiled[i].plan);
    if (!ok.supported) return Status::error(ops[i].label + ": " + ok.reason);
    compiled[i].first_task = slots;
    slots += compiled[i].plan.slices.size();
  }
  const size_t slot_bytes = static_cast<size_t>(
      align_up(static_cast<int>(kTaskWords * sizeof(uint64_t)), CoreConfig::kTaskAlignBytes));
  kernel::BufferObject regcmd;
  if (!(s = new_bo(slots * slot_bytes, &regcmd)).ok()) return s;
  if (!(s = device_->prep_bo(regcmd, kWaitNs)).ok()) return s;
  std::memset(regcmd.map, 0, slots * slot_bytes);

  for (size_t i = 0; i < ops.size(); ++i) {
    const NpuConv& op = ops[i];
    Compiled& c = compiled[i];
    const std::vector<uint8_t> weights = pack_weights(op);
    std::vector<int32_t> biases;
    if (!(s = fold_biases(op, options_.encoding, &biases)).ok()) return Status::error(op.label + ": " + s.message());
    if (!(s = upload(weights.data(), weights.size(), &c.weights)).ok()) return s;
    if (!(s = upload(biases.data(), biases.size() * sizeof(int32_t), &c.biases)).ok()) return s;
    for (int t : {op.input, op.output, op.addend}) {
      if (t >= 0 && !(s = tensor_bo(t)).ok()) return s;
    }
    TaskAddresses a;
    a.input = static_cast<uint32_t>(tensor_bos_[op.input].dma_address);
    a.output = static_cast<uint32_t>(tensor_bos_[op.output].dma_address);
    a.weights = static_cast<uint32_t>(c.weights.dma_address);
    a.biases = static_cast<uint32_t>(c.biases.dma_address);
    if (op.has_addend()) a.addend = static_cast<uint32_t>(tensor_bos_[op.addend].dma_address);

    kernel::Job job;
    const size_t n = c.plan.slices.size();
    for (size_t k = 0; k < n; ++k) {
      const size_t slot = c.first_task + k;
      const uint32_t iova = static_cast<uint32_t>(regcmd.dma_address + slot * slot_bytes);
      a.next_regcmd = k + 1 < n ? iova + static_cast<uint32_t>(slot_bytes) : 0;
      a.next_words = k + 1 < n ? kTaskWords : 0;
      a.chained = n > 1;
      std::vector<uint64_t> words;
      emit_task(op, c.enc, c.plan, k, a, &words);
      std::memcpy(regcmd.map + slot * slot_bytes, words.data(), words.size() * sizeof(uint64_t));
      job.tasks.push_back({iova, static_cast<uint32_t>(words.size())});
      stats_.regcmd_words += words.size();
    }
    // Only activations go in the BO lists: they carry the implicit fences.
    for (int t : {op.input, op.addend}) {
      if (t >= 0 && !graph_.tensor(t).constant) job.in_handles.push_back(tensor_bos_[t].handle);
    }
    job.out_handles.push_back(tensor_bos_[op.output].handle);
    jobs.push_back(std::move(job));

    OpCost cost;
    cost.bytes = stats_.bytes_read + stats_.bytes_written;  // traffic before this op
    stats_.tasks += static_cast<int>(n);
    stats_.fused_adds += op.has_addend() && op.source_ops.size() > 1 ? 1 : 0;
    stats_.weight_bytes += weights.size();
    macs_ += op.macs();
    // Estimated DRAM traffic: input rows per task, weights, biases, addend, output.
    const int in_surfaces = div_up(padded_in_channels(op), CoreConfig::kAtomChannels);
    const int out_surfaces = div_up(op.out_c_padded(), CoreConfig::kAtomChannels);
    for (const TaskSlice& t : c.plan.slices) {
      stats_.bytes_read += feature_bytes(int64_t{op.in_w} * t.in_rows, in_surfaces);
    }
    stats_.bytes_read += weights.size() + biases.size() * sizeof(int32_t);
    if (op.has_addend()) stats_.bytes_read += feature_bytes(int64_t{op.out_w} * op.out_h, out_surfaces);
    stats_.bytes_written += feature_bytes(int64_t{op.out_w} * op.out_h, out_surfaces);
    cost.macs = op.macs();
    cost.bytes = stats_.bytes_read + stats_.bytes_written - cost.bytes;
    cost.tasks = static_cast<int>(n);
    estimated_us_ += estimate_op_us(cost);
  }
  if (!(s = device_->fini_bo(regcmd)).ok()) return s;
  for (int t : graph_.outputs) {
    if (!tensor_bos_.count(t) && !contains(graph_.inputs, t)) {
      return Status::error("partition output " + std::to_string(t) + " is not produced on the NPU");
    }
  }
  stats_.npu_ops = static_cast<int>(ops.size());
  stats_.jobs = static_cast<int>(jobs.size());
  if (!jobs.empty() && !(s = device_->prepare_submit(std::move(jobs), &submission_)).ok()) return s;
  make_ports();

  // The fault fallback: compiled now, so a fault at run time costs nothing to
  // recover from. Its failure only means there is no fallback.
  if (options_.fallback_on_fault) {
    auto reference = reference::create_reference_backend(options_.fallback_numerics);
    if (!reference->compile(graph_, &fallback_).ok()) fallback_.reset();
  }
  return {};
}

void CompiledProgram::make_ports() {
  auto port_of = [&](int t) {
    Port p;
    const ir::Tensor& tensor = graph_.tensor(t);
    auto it = tensor_bos_.find(t);
    if (it != tensor_bos_.end()) p.bo = &it->second;  // std::map: stable addresses
    p.shape = feature_shape(tensor);
    p.dtype = tensor.dtype;
    p.pad = signed_zero_point(tensor);
    p.bytes = tensor.num_bytes();
    return p;
  };
  for (int t : graph_.inputs) {
    Port p = port_of(t);
    p.keep_host = !p.bo || contains(graph_.outputs, t);
    if (p.keep_host) p.host.resize(p.bytes);
    in_ports_.push_back(std::move(p));
  }
  for (int t : graph_.outputs) {
    Port p = port_of(t);
    const auto in = std::find(graph_.inputs.begin(), graph_.inputs.end(), t);
    if (in != graph_.inputs.end()) {  // read from the input's copy, not a BO no job writes
      p.bo = nullptr;
      p.passthrough = static_cast<size_t>(in - graph_.inputs.begin());
    }
    out_ports_.push_back(std::move(p));
  }
}

Status CompiledProgram::write_input(const Port& port, const uint8_t* src) {
  Status s;
  if (!(s = device_->prep_bo(*port.bo, kWaitNs)).ok()) return Status::error("PREP_BO on an input: " + s.message());
  to_npu_layout(src, port.shape.pixels, port.shape.channels, port.dtype, port.pad, port.bo->map);
  if (!(s = device_->fini_bo(*port.bo)).ok()) return Status::error("FINI_BO on an input: " + s.message());
  return {};
}

Status CompiledProgram::run_on_device() {
  if (!input_fault_.ok()) {
    Status fault = std::move(input_fault_);
    input_fault_ = Status();
    return fault;
  }
  Status s;
  // The NPU is about to write the outputs again: end the CPU access the last
  // invoke left open on them.
  for (Port& port : out_ports_) {
    if (!port.open) continue;
    port.open = false;
    if (!(s = device_->fini_bo(*port.bo)).ok()) return Status::error("FINI_BO on an output: " + s.message());
  }
  if (submission_ && !(s = submission_->issue()).ok()) return Status::error("SUBMIT failed: " + s.message());
  for (Port& port : out_ports_) {
    if (!port.bo) continue;
    if (!(s = device_->prep_bo(*port.bo, kWaitNs)).ok()) {
      return Status::error("waiting for the NPU (PREP_BO) failed: " + s.message());
    }
    port.open = true;
  }
  if (device_->simulated()) {
    last_ = device_->last_submit_stats();
    simulated_stats_ = true;
  }
  return {};
}

// Runs once, at the fault; afterwards set_input/invoke/get_output go to the
// fallback directly. Inputs come from the kept NHWC copies, or back out of
// their BOs: the CPU wrote those bytes itself and no job writes a partition
// input, so they are read without another PREP_BO (which may be what failed).
Status CompiledProgram::run_fallback() {
  Status s;
  std::vector<uint8_t> nhwc;
  for (size_t i = 0; i < in_ports_.size(); ++i) {
    const Port& port = in_ports_[i];
    if (port.host_valid || !port.bo) {
      nhwc = port.host;
    } else {
      nhwc.resize(port.bytes);
      from_npu_layout(port.bo->map, port.shape.pixels, port.shape.channels, port.dtype, nhwc.data());
    }
    if (!(s = fallback_->set_input(i, nhwc.data(), nhwc.size())).ok()) return s;
  }
  return fallback_->invoke();
}

}  // namespace

ProgramOptions program_options_from_env() {
  ProgramOptions o;
  o.encoding = encoding_options_from_env();
  const char* v = std::getenv("NONSTICK_ROCKET_FALLBACK");
  if (v && std::strcmp(v, "0") == 0) o.fallback_on_fault = false;
  return o;
}

Status compile_program(std::shared_ptr<kernel::Device> device, const ir::Graph& graph,
                       const ProgramOptions& options, std::unique_ptr<nonstick::Program>* out) {
  auto program = std::make_unique<CompiledProgram>(std::move(device), graph, options);
  Status s = program->build();
  if (!s.ok()) return s;
  *out = std::move(program);
  return {};
}

}  // namespace nonstick::rocket
