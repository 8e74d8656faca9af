// Evidence for the virtual NPU core (src/virtual/rk3588/npu_*.cc): Mesa's
// captured command streams (<shared>/goldens/rocket) replayed on the model,
// inside the real model run by TFLite 2.9.
//
// A replay backend behind the nonstick delegate takes exactly the nodes Mesa
// delegated. Per partition (in order) it converts TFLite's NHWC uint8 input
// to Mesa's NC1HWC2 int8 layout, writes it into the captured input BO (for
// partition 0 the result must equal the captured BO byte for byte), executes
// every task of every captured job on NpuCore over the captured BOs at their
// captured addresses, and converts the output BO back. TFLite runs the CPU
// nodes in between, so the final output compares with cpu_output_*.bin.
//
// Per layer, every job's output is also compared with the reference backend
// (bit-exact with TFLite) run on the same input the job read, so a wrong
// model shows up at the layer that is wrong, not only as drift at the end.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "backends/rocket/host_numerics.h"
#include "delegate/delegate.h"
#include "support/test_data.h"
#include "tflite/interpreter.h"
#include "virtual/golden_capture.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick {
namespace {

using testing::CaptureMemory;
using testing::CapturedJob;
using testing::GoldenCapture;

// ---- Layout conversion (rocket.md §3.1): NHWC uint8 <-> NC1HWC2 int8.

struct Shape {
  int h = 1, w = 1, c = 1;
};

Shape nhwc(const ir::Tensor& t) {
  const int r = t.rank();
  return {r >= 3 ? t.dim(r - 3) : 1, r >= 2 ? t.dim(r - 2) : 1, t.dim(r - 1)};
}

// Channels past C get the zero point (Mesa fills them so), values shift by 0x80.
void to_npu(const uint8_t* src, const Shape& s, uint8_t zero_point, uint8_t* dst) {
  const int surfaces = (s.c + 15) / 16;
  for (int sf = 0; sf < surfaces; ++sf) {
    for (int p = 0; p < s.h * s.w; ++p) {
      for (int k = 0; k < 16; ++k) {
        const int c = sf * 16 + k;
        const uint8_t v = c < s.c ? src[p * s.c + c] : zero_point;
        dst[(uint64_t{static_cast<uint32_t>(sf)} * s.h * s.w + p) * 16 + k] = v ^ 0x80;
      }
    }
  }
}

void from_npu(const uint8_t* src, const Shape& s, uint8_t* dst) {
  for (int p = 0; p < s.h * s.w; ++p) {
    for (int c = 0; c < s.c; ++c) {
      dst[p * s.c + c] = src[((uint64_t{static_cast<uint32_t>(c / 16)} * s.h * s.w) + p) * 16 + c % 16] ^ 0x80;
    }
  }
}

const char* mesa_type(ir::OpType t) {
  switch (t) {
    case ir::OpType::kConv2D: return "CONV";
    case ir::OpType::kDepthwiseConv2D: return "DWCONV";
    case ir::OpType::kAdd: return "ADD";
    default: return "?";
  }
}

// ---- What a replay run records.

// One job's output against the reference kernels run on the job's own
// inputs: as Mesa programmed the op (fused activations dropped) and as TFLite
// defines it.
struct LayerRecord {
  int partition = 0, job = 0;
  std::string ops;
  uint64_t elements = 0;
  int max_diff = 0;                  // vs the op as programmed
  uint64_t differing = 0;
  uint64_t beyond_one = 0;           // |diff| > 1
  uint64_t beyond_one_clamped = 0;   // ... where TFLite clamps the fused ADD's conv output to uint8
  int max_diff_tflite = 0;           // vs the op with TFLite's fused activation
  uint64_t beyond_one_tflite = 0;
};

struct ReplayState {
  explicit ReplayState(const GoldenCapture& c) : capture(c), memory(c), core(virt::create_npu_core()) {}
  const GoldenCapture& capture;
  CaptureMemory memory;
  std::unique_ptr<virt::NpuCore> core;
  virt::TaskCounters counters;
  int partitions_compiled = 0;
  int tasks_run = 0;
  int64_t input_bo_mismatches = -1;  // partition 0 input vs the captured BO (-1: not checked)
  // Experiment: clamp the outputs of convs whose fused ReLU/ReLU6 Mesa drops
  // (output zero point != 0) on the CPU after the job, as a ReLU stage would.
  bool restore_dropped_relu = false;
  int relu_restored_jobs = 0;
  std::vector<LayerRecord> layers;
  std::string error;
};

// A single- or two-op graph (conv [+ fused add]) cut out of a partition, for
// the reference backend. Outputs: the conv output, then the add output.
// With `drop_activation` the fused activations are removed: what Mesa's
// streams compute, since it never programs a ReLU stage (rocket.md §3.7).
ir::Graph cut_job_graph(const ir::Graph& g, const std::vector<const ir::Operation*>& ops, bool drop_activation) {
  ir::Graph sub;
  std::map<int, int> remap;
  const auto take = [&](int t) {
    if (t < 0) return -1;
    auto it = remap.find(t);
    if (it != remap.end()) return it->second;
    sub.tensors.push_back(g.tensor(t));
    return remap[t] = static_cast<int>(sub.tensors.size()) - 1;
  };
  for (const ir::Operation* op : ops) {
    ir::Operation copy = *op;
    if (drop_activation) {
      if (auto* conv = std::get_if<ir::ConvParams>(&copy.params)) conv->activation = ir::Activation::kNone;
      if (auto* ew = std::get_if<ir::ElementwiseParams>(&copy.params)) ew->activation = ir::Activation::kNone;
    }
    for (int& t : copy.inputs) t = take(t);
    for (int& t : copy.outputs) t = take(t);
    sub.ops.push_back(copy);
  }
  std::set<int> produced;
  for (const ir::Operation& op : sub.ops) produced.insert(op.outputs.begin(), op.outputs.end());
  for (const ir::Operation& op : sub.ops) {
    for (int t : op.inputs) {
      if (t >= 0 && !sub.tensor(t).constant && !produced.count(t) &&
          std::find(sub.inputs.begin(), sub.inputs.end(), t) == sub.inputs.end()) {
        sub.inputs.push_back(t);
      }
    }
  }
  for (const ir::Operation& op : sub.ops) sub.outputs.push_back(op.outputs[0]);
  return sub;
}

class ReplayProgram : public Program {
 public:
  ReplayProgram(ReplayState* state, const ir::Graph& graph, int partition)
      : state_(state), graph_(graph), partition_(partition), inputs_(graph.inputs.size()) {}

  // Pairs the partition's ops with the captured jobs (ADD fused into the
  // conv before it) and the tensors with the captured BOs.
  Status bind() {
    const std::vector<CapturedJob>& jobs = state_->capture.submits.at(partition_).jobs;
    for (const ir::Operation& op : graph_.ops) {
      if (op.type == ir::OpType::kAdd) {
        if (ops_.empty()) return Status::error("ADD without a producing job");
        ops_.back().push_back(&op);
      } else {
        ops_.push_back({&op});
      }
    }
    if (ops_.size() != jobs.size()) {
      return Status::error(std::to_string(ops_.size()) + " fused ops, " + std::to_string(jobs.size()) +
                           " captured jobs");
    }
    for (size_t j = 0; j < jobs.size(); ++j) {
      const CapturedJob& job = jobs[j];
      const ir::Operation& conv = *ops_[j][0];
      if (job.ops.size() != ops_[j].size() || job.in_handles.size() != ops_[j].size() || job.out_handles.size() != 1) {
        return Status::error("job " + std::to_string(j) + " does not match the partition's ops");
      }
      for (size_t k = 0; k < ops_[j].size(); ++k) {
        if (job.ops[k].rfind(mesa_type(ops_[j][k]->type), 0) != 0) {
          return Status::error("job " + std::to_string(j) + " runs " + job.ops[k] + ", the partition has " +
                               mesa_type(ops_[j][k]->type));
        }
      }
      bo_of_[conv.inputs[0]].insert(job.in_handles[0]);
      if (ops_[j].size() == 2) {
        const ir::Operation& add = *ops_[j][1];
        const int addend = add.inputs[0] == conv.outputs[0] ? add.inputs[1] : add.inputs[0];
        bo_of_[addend].insert(job.in_handles[1]);
      }
      bo_of_[ops_[j].back()->outputs[0]].insert(job.out_handles[0]);
    }
    for (int t : graph_.inputs) {
      if (!bo_of_.count(t)) return Status::error("graph input without a captured BO");
    }
    for (int t : graph_.outputs) {
      if (bo_of_[t].size() != 1) return Status::error("graph output without exactly one captured BO");
    }
    return {};
  }

  Status set_input(size_t index, const void* data, size_t bytes) override {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    inputs_.at(index).assign(p, p + bytes);
    return {};
  }

  Status invoke() override {
    for (size_t i = 0; i < graph_.inputs.size(); ++i) {
      const ir::Tensor& t = graph_.tensor(graph_.inputs[i]);
      for (uint32_t handle : bo_of_[graph_.inputs[i]]) {
        uint64_t size = 0;
        uint8_t* bo = state_->memory.bo(handle, &size);
        std::vector<uint8_t> converted(size, 0);
        to_npu(inputs_[i].data(), nhwc(t), static_cast<uint8_t>(t.quant.zero_point()), converted.data());
        if (partition_ == 0 && state_->input_bo_mismatches < 0) {
          // Mesa's own conversion of input_0.bin, as captured.
          const auto& captured = state_->capture.bos.at(handle).contents;
          int64_t n = 0;
          for (size_t k = 0; k < captured.size(); ++k) n += captured[k] != converted[k];
          state_->input_bo_mismatches = n;
        }
        std::memcpy(bo, converted.data(), size);
      }
    }
    const std::vector<CapturedJob>& jobs = state_->capture.submits.at(partition_).jobs;
    for (size_t j = 0; j < jobs.size(); ++j) {
      std::vector<std::vector<uint8_t>> job_inputs;
      for (size_t k = 0; k < ops_[j].size(); ++k) {
        job_inputs.push_back(read_tensor(job_input(j, k), jobs[j].in_handles[k]));
      }
      for (const auto& task : jobs[j].tasks) {
        Status s = state_->core->run_task(state_->memory, task.regcmd_dma, task.regcmd_count, &state_->counters);
        if (!s.ok()) {
          return Status::error("partition " + std::to_string(partition_) + " job " + std::to_string(j) + ": " +
                               s.message());
        }
        ++state_->tasks_run;
      }
      if (Status s = check_layer(j, job_inputs); !s.ok()) return s;
      if (state_->restore_dropped_relu) restore_relu(j);
    }
    return {};
  }

  Status get_output(size_t index, void* data, size_t bytes) override {
    const int t = graph_.outputs.at(index);
    std::vector<uint8_t> v = read_tensor(t, *bo_of_[t].begin());
    if (v.size() != bytes) return Status::error("output size mismatch");
    std::memcpy(data, v.data(), bytes);
    return {};
  }

 private:
  int job_input(size_t j, size_t k) const {
    const ir::Operation& conv = *ops_[j][0];
    if (k == 0) return conv.inputs[0];
    const ir::Operation& add = *ops_[j][1];
    return add.inputs[0] == conv.outputs[0] ? add.inputs[1] : add.inputs[0];
  }

  std::vector<uint8_t> read_tensor(int tensor, uint32_t handle) {
    const Shape s = nhwc(graph_.tensor(tensor));
    std::vector<uint8_t> v(static_cast<size_t>(s.h) * s.w * s.c);
    from_npu(state_->memory.bo(handle), s, v.data());
    return v;
  }

  void restore_relu(size_t j) {
    const ir::Operation& op = *ops_[j].back();
    ir::Activation act = ir::Activation::kNone;
    if (const auto* conv = std::get_if<ir::ConvParams>(&op.params)) act = conv->activation;
    const ir::Tensor& t = graph_.tensor(op.outputs[0]);
    const int zp = t.quant.zero_point();
    if ((act != ir::Activation::kRelu && act != ir::Activation::kRelu6) || zp == 0) return;
    const int hi = act == ir::Activation::kRelu6
                       ? std::min(255, zp + static_cast<int>(std::lround(6.0f / t.quant.scale())))
                       : 255;
    const Shape s = nhwc(t);
    uint8_t* bo = state_->memory.bo(state_->capture.submits[partition_].jobs[j].out_handles[0]);
    for (int c = 0; c < s.c; ++c) {
      for (int p = 0; p < s.h * s.w; ++p) {
        uint8_t& v = bo[(uint64_t{static_cast<uint32_t>(c / 16)} * s.h * s.w + p) * 16 + c % 16];
        v = static_cast<uint8_t>(std::clamp<int>(v ^ 0x80, zp, hi) ^ 0x80);
      }
    }
    ++state_->relu_restored_jobs;
  }

  // Runs the reference backend on `sub` with the job's inputs.
  Status reference(const ir::Graph& sub, const std::vector<std::vector<uint8_t>>& job_inputs,
                   std::vector<std::vector<uint8_t>>* want) {
    std::string error;
    auto backend = create_backend("reference", &error);
    std::unique_ptr<Program> ref;
    if (!backend) return Status::error("reference backend: " + error);
    if (Status s = backend->compile(sub, &ref); !s.ok()) return s;
    for (size_t k = 0; k < job_inputs.size(); ++k) {
      // sub.inputs follow first use: the conv input, then the addend.
      if (Status s = ref->set_input(k, job_inputs[k].data(), job_inputs[k].size()); !s.ok()) return s;
    }
    if (Status s = ref->invoke(); !s.ok()) return s;
    want->assign(sub.outputs.size(), {});
    for (size_t o = 0; o < sub.outputs.size(); ++o) {
      (*want)[o].resize(sub.tensor(sub.outputs[o]).num_bytes());
      if (Status s = ref->get_output(o, (*want)[o].data(), (*want)[o].size()); !s.ok()) return s;
    }
    return {};
  }

  Status check_layer(size_t j, const std::vector<std::vector<uint8_t>>& job_inputs) {
    std::vector<std::vector<uint8_t>> programmed, tflite;
    if (Status s = reference(cut_job_graph(graph_, ops_[j], true), job_inputs, &programmed); !s.ok()) return s;
    if (Status s = reference(cut_job_graph(graph_, ops_[j], false), job_inputs, &tflite); !s.ok()) return s;
    const std::vector<uint8_t> got =
        read_tensor(ops_[j].back()->outputs[0], state_->capture.submits[partition_].jobs[j].out_handles[0]);
    LayerRecord r;
    r.partition = partition_;
    r.job = static_cast<int>(j);
    for (const ir::Operation* op : ops_[j]) r.ops += std::string(r.ops.empty() ? "" : "+") + mesa_type(op->type);
    r.elements = got.size();
    for (size_t e = 0; e < got.size(); ++e) {
      const int d = std::abs(int{got[e]} - int{programmed.back()[e]});
      r.max_diff = std::max(r.max_diff, d);
      r.differing += d != 0;
      if (d > 1) {
        ++r.beyond_one;
        // TFLite requantizes the conv output to uint8 (clamping it) before
        // the ADD; Mesa's fused stream adds the unclamped accumulator.
        if (programmed.size() == 2 && (programmed[0][e] == 0 || programmed[0][e] == 255)) ++r.beyond_one_clamped;
      }
      const int dt = std::abs(int{got[e]} - int{tflite.back()[e]});
      r.max_diff_tflite = std::max(r.max_diff_tflite, dt);
      r.beyond_one_tflite += dt > 1;
    }
    state_->layers.push_back(r);
    return {};
  }

  ReplayState* state_;
  ir::Graph graph_;
  int partition_;
  std::vector<std::vector<uint8_t>> inputs_;
  std::vector<std::vector<const ir::Operation*>> ops_;  // per job: conv [, add]
  std::map<int, std::set<uint32_t>> bo_of_;             // tensor -> captured BOs holding it
};

class ReplayBackend : public Backend {
 public:
  explicit ReplayBackend(ReplayState* state) : state_(state) {
    for (const auto& n : state->capture.nodes) {
      if (n.delegated) delegated_.insert(n.index);
    }
  }
  std::string_view name() const override { return "golden-replay"; }
  std::string_view description() const override {
    return "Mesa's captured streams on the virtual RK3588 core (simulated)";
  }
  Support supports(const ir::Graph&, const ir::Operation& op) const override {
    return delegated_.count(op.source_index) ? Support::yes() : Support::no("not delegated by Mesa");
  }
  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    const int partition = state_->partitions_compiled++;
    if (partition >= static_cast<int>(state_->capture.submits.size())) {
      return Status::error("more partitions than submits");
    }
    const auto& types = state_->capture.partitions.at(partition);
    if (types.size() != graph.ops.size()) return Status::error("partition size differs from Mesa's");
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] != mesa_type(graph.ops[i].type)) return Status::error("partition op types differ from Mesa's");
    }
    auto p = std::make_unique<ReplayProgram>(state_, graph, partition);
    if (Status s = p->bind(); !s.ok()) return s;
    *program = std::move(p);
    return {};
  }

 private:
  ReplayState* state_;
  std::set<int> delegated_;
};

// ---- The models.

struct ReplayCase {
  const char* capture;  // folder under goldens/rocket
  const char* model;    // file under models/
  // Bound on the final output vs cpu_output_*.bin: the measured value. Per
  // layer the model is within 1 LSB; docs/virtual-rk3588.md explains how the
  // per-layer differences accumulate to these.
  int max_abs_diff;
  bool classifier;  // the argmax must agree with cpu_output_0.bin
  bool detector;    // SSD post-processed outputs: boxes, classes, scores, count
  // Upper bound on per-layer elements that differ (by 1 LSB) from the
  // reference kernels: the measured count. Any other rounding in the model
  // (floor, half away, half even) exceeds it (docs/virtual-rk3588.md §5).
  uint64_t layer_diffs;
  // The same against arm64 TFLite 2.9 where it differs (negative: as x86),
  // measured under qemu.
  int64_t arm64_layer_diffs = -1;
};

const ReplayCase kCases[] = {
    {"mobilenet_v1_0.25_128_quant", "mobilenet_v1_0.25_128_quant", 7, true, false, 3853},
    {"mobilenet_v1_0.75_192_quant", "mobilenet_v1_0.75_192_quant", 3, true, false, 51295},
    {"mobilenet_v2_1.0_224_quant", "mobilenet_v2_1.0_224_quant", 10, true, false, 238065},
    {"mobilenet_quant_v1_224_head_layers", "mobilenet_v1_224_head_layers_quant", 0, true, false, 0},
    {"mobilenet_v1_1.0_224_quant_embedding_extractor", "mobilenet_v1_1.0_224_quant_embedding_extractor", 9, false,
     false, 110352},
    {"coco_ssd_mobilenet_v1_1.0_quant_detect", "coco_ssd_mobilenet_v1_1.0_quant_detect", 0, false, true, 54689,
     54695},  // arm64: the ops between Mesa's partitions run on arm64 TFLite, so later jobs likely start from other inputs
};

struct Diff {
  double max_abs = 0;
  uint64_t differing = 0, elements = 0;
};

Diff compare(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, TfLiteType type) {
  Diff d;
  const size_t n = std::min(got.size(), want.size());
  if (type == kTfLiteFloat32) {
    for (size_t k = 0; k + 4 <= n; k += 4) {
      float a, b;
      std::memcpy(&a, &got[k], 4);
      std::memcpy(&b, &want[k], 4);
      d.max_abs = std::max(d.max_abs, static_cast<double>(std::fabs(a - b)));
      d.differing += a != b;
      ++d.elements;
    }
  } else {
    for (size_t k = 0; k < n; ++k) {
      d.max_abs = std::max<double>(d.max_abs, std::abs(int{got[k]} - int{want[k]}));
      d.differing += got[k] != want[k];
      ++d.elements;
    }
  }
  return d;
}

struct ReplayRun {
  std::vector<std::vector<uint8_t>> outputs;
  std::vector<TfLiteType> types;
};

// The model through TFLite 2.9 with the replay backend behind the delegate.
void replay(const GoldenCapture& capture, const std::vector<uint8_t>& model, ReplayState* state, ReplayRun* run) {
  std::string error;
  DelegateOptions options;
  options.log_level = LogLevel::kQuiet;
  auto delegate = Delegate::create_with_backend(options, std::make_unique<ReplayBackend>(state));
  ASSERT_TRUE(delegate);
  auto npu = tflite::Interpreter::create(model, delegate->tflite_delegate(), 1, &error);
  ASSERT_TRUE(npu) << error;
  int mesa_delegated = 0;
  for (const auto& n : capture.nodes) mesa_delegated += n.delegated;
  ASSERT_EQ(delegate->report().delegated_nodes(), mesa_delegated) << format_placement_table(delegate->report());
  ASSERT_EQ(delegate->report().partitions, static_cast<int>(capture.submits.size()));
  ASSERT_TRUE(npu->set_input(0, capture.input.data(), capture.input.size()).ok());
  Status s = npu->invoke();
  ASSERT_TRUE(s.ok()) << s.message() << " " << (npu->errors().empty() ? "" : npu->errors().back());
  for (int o = 0; o < npu->output_count(); ++o) {
    run->outputs.emplace_back();
    ASSERT_TRUE(npu->get_output(o, &run->outputs.back()).ok());
    run->types.push_back(npu->output_info(o).type);
  }
}

void print_outputs(const char* what, const ReplayCase& rc, const GoldenCapture& capture, const ReplayRun& got,
                   const ReplayRun& host) {
  for (size_t o = 0; o < got.outputs.size(); ++o) {
    const Diff d = compare(got.outputs[o], capture.cpu_outputs[o], got.types[o]);
    const Diff vs_host = compare(got.outputs[o], host.outputs[o], got.types[o]);
    const Diff h = compare(host.outputs[o], capture.cpu_outputs[o], got.types[o]);
    std::printf("[ replay   ] %s%s output %zu (%s, %llu elements): vs cpu_output_%zu.bin max |diff| %g, %llu differ; "
                "vs this host's TFLite CPU max |diff| %g, %llu differ; host CPU vs cpu_output_%zu.bin max |diff| %g, "
                "%llu differ\n",
                rc.capture, what, o, got.types[o] == kTfLiteFloat32 ? "float32" : "uint8",
                static_cast<unsigned long long>(d.elements), o, d.max_abs, static_cast<unsigned long long>(d.differing),
                vs_host.max_abs, static_cast<unsigned long long>(vs_host.differing), o, h.max_abs,
                static_cast<unsigned long long>(h.differing));
  }
}

class GoldenReplay : public ::testing::TestWithParam<ReplayCase> {};

TEST_P(GoldenReplay, MatchesTfliteCpu) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const ReplayCase& rc = GetParam();
  const std::string shared = testing::shared_dir();
  GoldenCapture capture;
  std::string error;
  ASSERT_TRUE(testing::load_golden_capture(shared + "/goldens/rocket/" + rc.capture, &capture, &error)) << error;
  ASSERT_FALSE(capture.submits.empty());
  const std::vector<uint8_t> model = tflite::read_file(shared + "/models/" + rc.model + ".tflite", &error);
  ASSERT_FALSE(model.empty()) << error;

  // This host's TFLite 2.9 CPU run, for comparison with the captured one
  // (arm64 TFLite 2.9 under qemu): the two already differ a little.
  ReplayRun host;
  {
    auto cpu = tflite::Interpreter::create(model, nullptr, 1, &error);
    ASSERT_TRUE(cpu) << error;
    ASSERT_TRUE(cpu->set_input(0, capture.input.data(), capture.input.size()).ok());
    ASSERT_TRUE(cpu->invoke().ok());
    ASSERT_EQ(static_cast<size_t>(cpu->output_count()), capture.cpu_outputs.size());
    for (int o = 0; o < cpu->output_count(); ++o) {
      host.outputs.emplace_back();
      ASSERT_TRUE(cpu->get_output(o, &host.outputs.back()).ok());
      host.types.push_back(cpu->output_info(o).type);
    }
  }

  ReplayState state(capture);
  ReplayRun got;
  replay(capture, model, &state, &got);
  if (HasFatalFailure()) return;
  EXPECT_EQ(state.input_bo_mismatches, 0) << "NHWC -> NC1HWC2 conversion differs from Mesa's captured input BO";
  int captured_tasks = 0;
  for (const auto& sub : capture.submits) {
    for (const auto& job : sub.jobs) captured_tasks += static_cast<int>(job.tasks.size());
  }
  EXPECT_EQ(state.tasks_run, captured_tasks);

  // Per layer: within 1 LSB of the reference (TFLite-exact) kernels for the
  // op as Mesa programmed it, except where TFLite clamps a fused ADD's conv
  // output and Mesa's stream does not.
  uint64_t layer_diffs = 0, layer_elements = 0;
  bool relu_dropped = false;
  for (const LayerRecord& r : state.layers) {
    layer_diffs += r.differing;
    layer_elements += r.elements;
    relu_dropped |= r.beyond_one_tflite > r.beyond_one;
    EXPECT_EQ(r.beyond_one, r.beyond_one_clamped)
        << "partition " << r.partition << " job " << r.job << " (" << r.ops << "): max |diff| " << r.max_diff;
  }
  RecordProperty("layer_elements_differing", std::to_string(layer_diffs));
  EXPECT_LE(static_cast<int64_t>(layer_diffs), testing::host_bound<int64_t>(rc.layer_diffs, rc.arm64_layer_diffs))
      << "per-layer differences from the reference kernels";
  std::printf("[ replay   ] %s: %d tasks, %llu MACs, %llu B read, %llu B written (simulated); per layer: %llu of "
              "%llu elements differ (by 1) from the reference kernels\n",
              rc.capture, state.tasks_run, static_cast<unsigned long long>(state.counters.macs),
              static_cast<unsigned long long>(state.counters.bytes_read),
              static_cast<unsigned long long>(state.counters.bytes_written),
              static_cast<unsigned long long>(layer_diffs), static_cast<unsigned long long>(layer_elements));
  for (const LayerRecord& r : state.layers) {
    if (r.beyond_one) {
      std::printf("[ replay   ]   partition %d job %d (%s): max |diff| %d, %llu elements beyond 1 LSB, %llu of them "
                  "where TFLite clamps the conv output before the ADD\n",
                  r.partition, r.job, r.ops.c_str(), r.max_diff, static_cast<unsigned long long>(r.beyond_one),
                  static_cast<unsigned long long>(r.beyond_one_clamped));
    }
    if (r.beyond_one_tflite > r.beyond_one) {
      std::printf("[ replay   ]   partition %d job %d (%s): vs TFLite's fused activation max |diff| %d, %llu elements "
                  "beyond 1 LSB (Mesa programs no ReLU; output zero point != 0)\n",
                  r.partition, r.job, r.ops.c_str(), r.max_diff_tflite,
                  static_cast<unsigned long long>(r.beyond_one_tflite));
    }
  }

  // End to end.
  print_outputs("", rc, capture, got, host);
  for (size_t o = 0; o < got.outputs.size(); ++o) {
    const Diff d = compare(got.outputs[o], capture.cpu_outputs[o], got.types[o]);
    RecordProperty("output" + std::to_string(o) + "_max_abs_diff", std::to_string(d.max_abs));
    RecordProperty("output" + std::to_string(o) + "_differing", std::to_string(d.differing));
    if (got.types[o] == kTfLiteUInt8) {
      EXPECT_LE(d.max_abs, rc.max_abs_diff) << "output " << o;
    }
  }
  if (rc.classifier) {
    const auto top = [](const std::vector<uint8_t>& v) { return std::max_element(v.begin(), v.end()) - v.begin(); };
    EXPECT_EQ(top(got.outputs[0]), top(capture.cpu_outputs[0])) << "top-1 class";
  }

  if (relu_dropped) {
    // The same replay with the dropped ReLU clamps applied after those jobs:
    // what the streams would give with a ReLU stage programmed.
    ReplayState fixed_state(capture);
    fixed_state.restore_dropped_relu = true;
    ReplayRun fixed;
    replay(capture, model, &fixed_state, &fixed);
    if (HasFatalFailure()) return;
    EXPECT_GT(fixed_state.relu_restored_jobs, 0);
    print_outputs(" (dropped ReLU restored)", rc, capture, fixed, host);
    if (rc.detector) {
      // Then the detections agree up to the order of equal scores: scores
      // within one LSB of their 1/256 quantization (arm64 TFLite: three,
      // measured 0.0117 under qemu; unexplained, as the layer count above),
      // same count, same best.
      const auto floats = [](const std::vector<uint8_t>& b) {
        std::vector<float> f(b.size() / 4);
        std::memcpy(f.data(), b.data(), f.size() * 4);
        return f;
      };
      const Diff scores = compare(fixed.outputs[2], capture.cpu_outputs[2], kTfLiteFloat32);
      EXPECT_LE(scores.max_abs, testing::host_bound(1.0, 3.0) / 256 + 1e-6);
      EXPECT_EQ(fixed.outputs[3], capture.cpu_outputs[3]) << "detection count";
      EXPECT_EQ(floats(fixed.outputs[1])[0], floats(capture.cpu_outputs[1])[0]) << "class of the best detection";
      // As captured (no ReLU), the best detection is a different one.
      EXPECT_NE(floats(got.outputs[2])[0], floats(capture.cpu_outputs[2])[0]);
    }
  }
}


// ---- Programming the model does not implement fails the task, naming the
// register, field and value. Each case alters one word of a captured task
// (mobilenet_v1_0.25's first convolution, which runs as captured).

class UnmodelledProgramming : public ::testing::Test {
 protected:
  void SetUp() override {
    NONSTICK_REQUIRE_SHARED_DATA();
    std::string error;
    ASSERT_TRUE(testing::load_golden_capture(testing::shared_dir() + "/goldens/rocket/mobilenet_v1_0.25_128_quant",
                                             &capture_, &error))
        << error;
    memory_ = std::make_unique<CaptureMemory>(capture_);
    task_ = capture_.submits.at(0).jobs.at(0).tasks.at(0);
  }
  uint64_t* words() { return reinterpret_cast<uint64_t*>(memory_->resolve(task_.regcmd_dma, task_.regcmd_count * 8)); }
  // Rewrites the value of every write of register `offset` (Mesa writes
  // some registers twice).
  void set(uint16_t offset, uint32_t value) {
    uint64_t* w = words();
    int n = 0;
    for (uint32_t i = 0; i < task_.regcmd_count; ++i) {
      if ((w[i] & 0xFFFF) == offset && (w[i] >> 48) != 0 && (w[i] >> 48) != 0x41 && (w[i] >> 48) != 0x81) {
        w[i] = (w[i] & 0xFFFF00000000FFFFull) | uint64_t{value} << 16;
        ++n;
      }
    }
    ASSERT_GT(n, 0) << "register " << offset << " not written by the task";
  }
  uint32_t get(uint16_t offset) {
    uint64_t* w = words();
    for (uint32_t i = 0; i < task_.regcmd_count; ++i) {
      if ((w[i] & 0xFFFF) == offset && (w[i] >> 48) != 0 && (w[i] >> 48) != 0x41 && (w[i] >> 48) != 0x81) {
        return static_cast<uint32_t>(w[i] >> 16);
      }
    }
    return 0;
  }
  std::string run() {
    auto core = virt::create_npu_core();
    virt::TaskCounters counters;
    Status s = core->run_task(*memory_, task_.regcmd_dma, task_.regcmd_count, &counters);
    return s.ok() ? "ok" : s.message();
  }

  GoldenCapture capture_;
  std::unique_ptr<CaptureMemory> memory_;
  testing::CapturedTask task_;
};

TEST_F(UnmodelledProgramming, CapturedTaskRuns) { EXPECT_EQ(run(), "ok"); }

TEST_F(UnmodelledProgramming, ConvModeNamesField) {
  set(0x100C, get(0x100C) | 1);  // CNA_CONV_CON1.CONV_MODE 1
  EXPECT_EQ(run().rfind("CNA_CONV_CON1.CONV_MODE = 0x1: ", 0), 0u) << run();
}

TEST_F(UnmodelledProgramming, Dilation) {
  set(0x1014, get(0x1014) | (1u << 16));  // CNA_CONV_CON3.ATROUS_X_DILATION
  EXPECT_NE(run().find("CNA_CONV_CON3"), std::string::npos) << run();
}

TEST_F(UnmodelledProgramming, LutRegister) {
  set(0x4108, 0x5);  // DPU_LUT_CFG
  EXPECT_EQ(run(), "DPU_LUT_CFG = 0x5: register not modelled (must be 0)");
}

TEST_F(UnmodelledProgramming, BsMultiplier) {
  set(0x4040, get(0x4040) & ~(1u << 4));  // DPU_BS_CFG.BS_MUL_BYPASS cleared
  EXPECT_EQ(run().rfind("DPU_BS_CFG = ", 0), 0u) << run();
}

TEST_F(UnmodelledProgramming, OutCvtRounding) {
  set(0x4088, get(0x4088) | (1u << 30));  // DPU_OUT_CVT_SHIFT.CVT_ROUND
  EXPECT_EQ(run().rfind("DPU_OUT_CVT_SHIFT = ", 0), 0u) << run();
}

TEST_F(UnmodelledProgramming, PpuInOpEnable) {
  uint64_t* w = words();
  w[task_.regcmd_count - 1] |= uint64_t{0x20} << 16;  // PPU
  EXPECT_NE(run().find("op-enable"), std::string::npos) << run();
}

TEST_F(UnmodelledProgramming, WeightReuseWithoutWeights) {
  set(0x1040, get(0x1040) | (1u << 13));  // CNA_CBUF_CON0.WEIGHT_REUSE on a fresh core
  EXPECT_EQ(run().rfind("CNA_CBUF_CON0.WEIGHT_REUSE = 0x1: ", 0), 0u) << run();
}

TEST_F(UnmodelledProgramming, UnknownRegister) {
  uint64_t* w = words();
  w[1] = 0x0201'0000'0001'1F00ull;  // CNA target, offset 0x1f00: no such register
  EXPECT_NE(run().find("unknown register 0x1f00"), std::string::npos) << run();
}

TEST_F(UnmodelledProgramming, MissingOpEnable) {
  words()[task_.regcmd_count - 1] = 0;
  EXPECT_NE(run().find("0x0041 marker must be followed by the op-enable"), std::string::npos) << run();
}

TEST_F(UnmodelledProgramming, InputOutsideBo) {
  set(0x1070, 0x0FFF0000);  // CNA_FEATURE_DATA_ADDR below every BO
  EXPECT_EQ(run().rfind("DMA read fault: CNA feature", 0), 0u) << run();
}

std::string case_name(const ::testing::TestParamInfo<ReplayCase>& info) {
  std::string n = info.param.capture;
  for (char& ch : n) {
    if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return n;
}

INSTANTIATE_TEST_SUITE_P(Captures, GoldenReplay, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace nonstick
