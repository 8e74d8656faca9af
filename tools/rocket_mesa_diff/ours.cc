#include "tools/rocket_mesa_diff/ours.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "backends/rocket/backend.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/program.h"
#include "delegate/delegate.h"
#include "tflite/interpreter.h"
#include "virtual/rk3588/virtual_device.h"

namespace nonstick::mesa_diff {
namespace {

// One submit as the backend made it, before it is tied to nodes.
struct RecordedSubmit {
  int partition = -1;
  std::vector<JobRecord> jobs;
};

// kernel::Device in front of the virtual RK3588 that keeps what passes.
class RecordingDevice final : public kernel::Device {
 public:
  explicit RecordingDevice(std::unique_ptr<kernel::Device> inner) : inner_(std::move(inner)) {}

  std::string name() const override { return inner_->name(); }
  bool simulated() const override { return inner_->simulated(); }
  Status create_bo(uint32_t size, kernel::BufferObject* out) override {
    Status s = inner_->create_bo(size, out);
    if (s.ok()) {
      live_[out->handle] = *out;
      ++created_;
      created_bytes_ += size;
    }
    return s;
  }
  Status destroy_bo(const kernel::BufferObject& bo) override {
    live_.erase(bo.handle);
    return inner_->destroy_bo(bo);
  }
  Status prep_bo(const kernel::BufferObject& bo, int64_t timeout_ns) override { return inner_->prep_bo(bo, timeout_ns); }
  Status fini_bo(const kernel::BufferObject& bo) override { return inner_->fini_bo(bo); }
  kernel::SubmitStats last_submit_stats() const override { return inner_->last_submit_stats(); }

  Status submit(const std::vector<kernel::Job>& jobs) override {
    RecordedSubmit rec;
    rec.partition = partition_;
    for (const kernel::Job& j : jobs) {
      JobRecord job;
      job.in_handles = j.in_handles;
      job.out_handles = j.out_handles;
      for (const kernel::Task& t : j.tasks) {
        TaskStream task;
        task.regcmd_dma = t.regcmd;
        const uint8_t* src = host(t.regcmd, uint64_t{t.regcmd_count} * 8);
        if (src) {
          task.words.resize(t.regcmd_count);
          std::memcpy(task.words.data(), src, task.words.size() * 8);
        }
        job.tasks.push_back(std::move(task));
      }
      rec.jobs.push_back(std::move(job));
    }
    submits_.push_back(std::move(rec));
    Status s = inner_->submit(jobs);
    if (s.ok()) {
      const kernel::SubmitStats st = inner_->last_submit_stats();
      stats_.bytes_read += st.bytes_read;
      stats_.bytes_written += st.bytes_written;
      stats_.macs += st.macs;
    }
    return s;
  }

  void set_partition(int p) { partition_ = p; }
  const std::vector<RecordedSubmit>& submits() const { return submits_; }
  std::vector<BoRecord> live_bos() const {
    std::vector<BoRecord> v;
    for (const auto& [h, b] : live_) v.push_back({h, b.dma_address, b.size});
    return v;
  }
  int created() const { return created_; }
  uint64_t created_bytes() const { return created_bytes_; }
  const kernel::SubmitStats& totals() const { return stats_; }

 private:
  const uint8_t* host(uint64_t iova, uint64_t bytes) const {
    for (const auto& [h, b] : live_) {
      if (iova >= b.dma_address && iova + bytes <= b.dma_address + b.size) return b.map + (iova - b.dma_address);
    }
    return nullptr;
  }

  std::unique_ptr<kernel::Device> inner_;
  std::map<uint32_t, kernel::BufferObject> live_;
  std::vector<RecordedSubmit> submits_;
  int partition_ = -1;
  int created_ = 0;
  uint64_t created_bytes_ = 0;
  kernel::SubmitStats stats_;
};

// What a compiled partition contributes to the records.
struct PartitionRec {
  std::vector<std::vector<int>> job_nodes;
  std::vector<std::vector<std::string>> job_types;
  std::vector<OurOp> ops;
  std::map<int, std::string> unfused_adds;
  const rocket::RocketProgram* program = nullptr;
};

class TracingProgram final : public Program {
 public:
  TracingProgram(std::unique_ptr<Program> inner, int partition, RecordingDevice* device)
      : inner_(std::move(inner)), partition_(partition), device_(device) {}
  Status set_input(size_t i, const void* d, size_t n) override { return inner_->set_input(i, d, n); }
  Status invoke() override {
    device_->set_partition(partition_);
    return inner_->invoke();
  }
  Status get_output(size_t i, void* d, size_t n) override { return inner_->get_output(i, d, n); }
  ProgramStats stats() const override { return inner_->stats(); }

 private:
  std::unique_ptr<Program> inner_;
  int partition_;
  RecordingDevice* device_;
};

OurOp describe_op(const rocket::NpuConv& c) {
  OurOp o;
  o.label = c.label;
  o.depthwise = c.depthwise;
  o.has_addend = c.has_addend();
  o.kernel_w = c.kernel_w;
  o.kernel_h = c.kernel_h;
  o.stride_w = c.stride_w;
  o.stride_h = c.stride_h;
  o.in_w = c.in_w;
  o.in_h = c.in_h;
  o.out_w = c.out_w;
  o.out_h = c.out_h;
  o.pad_left = c.pad_left;
  o.pad_top = c.pad_top;
  o.pad_right = std::max(0, (c.out_w - 1) * c.stride_w + c.kernel_w - c.in_w - c.pad_left);
  o.pad_bottom = std::max(0, (c.out_h - 1) * c.stride_h + c.kernel_h - c.in_h - c.pad_top);
  o.in_zp = c.in_zp;
  o.out_zp = c.out_zp;
  o.act_min = c.act_min;
  o.act_max = c.act_max;
  o.out_multiplier = c.out_multiplier;
  o.addend_multiplier = c.addend_multiplier;
  o.conv = std::make_shared<const rocket::NpuConv>(c);
  return o;
}

class TracingBackend final : public Backend {
 public:
  TracingBackend(std::unique_ptr<Backend> inner, RecordingDevice* device, std::vector<PartitionRec>* partitions)
      : inner_(std::move(inner)), device_(device), partitions_(partitions) {}
  std::string_view name() const override { return inner_->name(); }
  std::string_view description() const override { return inner_->description(); }
  Support supports(const ir::Graph& g, const ir::Operation& op) const override { return inner_->supports(g, op); }

  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    PartitionRec rec;
    std::vector<rocket::NpuConv> ops;
    // The encoding options the backend reads too.
    const rocket::EncodingOptions options = rocket::encoding_options_from_env();
    Status s = rocket::lower_graph(graph, options, &ops);
    if (!s.ok()) return s;
    for (size_t i = 0; i < ops.size(); ++i) {
      const rocket::NpuConv& c = ops[i];
      std::vector<int> nodes;
      std::vector<std::string> types;
      for (int k : c.source_ops) {
        const ir::Operation& op = graph.ops[static_cast<size_t>(k)];
        nodes.push_back(op.source_index);
        types.emplace_back(ir::op_name(op.type));
      }
      // A standalone ADD: why it did not join its producer.
      if (c.source_ops.size() == 1 && graph.ops[static_cast<size_t>(c.source_ops[0])].type == ir::OpType::kAdd) {
        std::string why = "no convolution in this partition produces either operand";
        for (size_t j = i; j-- > 0;) {
          if (ops[j].output != c.input && ops[j].output != c.addend) continue;
          why = rocket::fusion_blocker(graph, ops[j], c, options);
          if (why.empty()) why = "the other operand is produced after the convolution, or the fused form does not encode";
          why = ops[j].label + ": " + why;
          break;
        }
        rec.unfused_adds[nodes[0]] = why;
      }
      rec.job_nodes.push_back(std::move(nodes));
      rec.job_types.push_back(std::move(types));
      rec.ops.push_back(describe_op(c));
    }
    std::unique_ptr<Program> inner;
    if (!(s = inner_->compile(graph, &inner)).ok()) return s;
    rec.program = dynamic_cast<const rocket::RocketProgram*>(inner.get());
    const int index = static_cast<int>(partitions_->size());
    partitions_->push_back(std::move(rec));
    *program = std::make_unique<TracingProgram>(std::move(inner), index, device_);
    return {};
  }

 private:
  std::unique_ptr<Backend> inner_;
  RecordingDevice* device_;
  std::vector<PartitionRec>* partitions_;
};

}  // namespace

OurModel run_ours(const std::string& model_path, const std::vector<uint8_t>& input) {
  OurModel m;
  std::string error;
  const std::vector<uint8_t> model = tflite::read_file(model_path, &error);
  if (model.empty()) {
    m.error = error;
    return m;
  }
  auto recording = std::make_unique<RecordingDevice>(virt::open_virtual_rk3588());
  RecordingDevice* device = recording.get();
  std::vector<PartitionRec> partitions;
  DelegateOptions options;
  parse_options({{"device", "rocket"}, {"log_level", "quiet"}}, &options, &error);
  auto delegate = Delegate::create_with_backend(
      options, std::make_unique<TracingBackend>(create_rocket_backend(std::move(recording)), device, &partitions));
  auto interpreter = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  if (!interpreter) {
    m.error = error;
    return m;
  }
  for (int i = 0; i < interpreter->input_count(); ++i) {
    std::vector<uint8_t> bytes(interpreter->input_info(i).bytes);
    for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<uint8_t>((7 * k + 13 * static_cast<size_t>(i) + 3) % 256);
    if (i == 0 && input.size() == bytes.size()) bytes = input;
    interpreter->set_input(i, bytes.data(), bytes.size());
  }
  Status s = interpreter->invoke();
  if (!s.ok()) m.error = "invoke: " + s.message();
  m.ran = s.ok();

  const DelegateReport& r = delegate->report();
  m.nodes = static_cast<int>(r.nodes.size());
  m.delegated_nodes = r.delegated_nodes();
  m.partitions = r.partitions;
  for (const NodePlacement& p : r.nodes) {
    m.node_types[p.node_index] = p.op;
    if (!p.delegated) m.cpu_reasons[p.node_index] = p.reason;
  }
  for (const RecordedSubmit& sub : device->submits()) {
    const PartitionRec& part = partitions[static_cast<size_t>(sub.partition)];
    for (size_t j = 0; j < sub.jobs.size(); ++j) {
      JobRecord job = sub.jobs[j];
      job.submit = m.streams.submits;
      if (j < part.job_nodes.size()) {
        job.nodes = part.job_nodes[j];
        job.types = part.job_types[j];
      }
      m.streams.jobs.push_back(std::move(job));
      m.ops.push_back(j < part.ops.size() ? part.ops[j] : OurOp{});
    }
    ++m.streams.submits;
  }
  for (const PartitionRec& p : partitions) {
    m.unfused_adds.insert(p.unfused_adds.begin(), p.unfused_adds.end());
    if (p.program) {
      const rocket::RocketStats st = p.program->rocket_stats();
      m.npu_ops += st.npu_ops;
      m.fused_adds += st.fused_adds;
      m.stats_jobs += st.jobs;
      m.stats_tasks += st.tasks;
      m.stats_words += st.regcmd_words;
      m.fell_back |= st.fell_back;
    }
  }
  m.streams.bos = device->live_bos();
  m.bos_created = device->created();
  m.bo_bytes = device->created_bytes();
  m.dram_read = device->totals().bytes_read;
  m.dram_written = device->totals().bytes_written;
  m.macs = device->totals().macs;
  return m;
}

}  // namespace nonstick::mesa_diff
