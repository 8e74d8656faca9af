// The reference backend: runs a partition with the integer kernels on the
// host CPU. It is the oracle for hardware backends and makes the delegate
// usable on any machine, but it is not an accelerator and says so.
#include "backends/reference/backend.h"

#include <cstring>
#include <string>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

class ReferenceProgram final : public Program {
 public:
  ReferenceProgram(ir::Graph graph, std::vector<std::unique_ptr<Kernel>> kernels)
      : graph_(std::move(graph)), kernels_(std::move(kernels)), storage_(graph_.tensors.size()) {
    std::vector<uint8_t*> pointers(graph_.tensors.size(), nullptr);
    for (size_t i = 0; i < graph_.tensors.size(); ++i) {
      ir::Tensor& t = graph_.tensors[i];
      if (t.constant) {
        pointers[i] = t.data.data();
      } else {
        // One spare byte keeps zero-sized tensors at a valid address.
        storage_[i].resize(t.num_bytes() + 1);
        pointers[i] = storage_[i].data();
      }
    }
    memory_ = std::make_unique<TensorMemory>(std::move(pointers));
  }

  Status set_input(size_t index, const void* data, size_t bytes) override {
    if (index >= graph_.inputs.size()) return Status::error("input index out of range");
    const int t = graph_.inputs[index];
    if (bytes != graph_.tensor(t).num_bytes()) return Status::error("input size mismatch");
    if (bytes) std::memcpy(memory_->get<uint8_t>(t), data, bytes);
    return {};
  }

  Status invoke() override {
    for (const auto& kernel : kernels_) kernel->run(*memory_);
    return {};
  }

  Status get_output(size_t index, void* data, size_t bytes) override {
    if (index >= graph_.outputs.size()) return Status::error("output index out of range");
    const int t = graph_.outputs[index];
    if (bytes != graph_.tensor(t).num_bytes()) return Status::error("output size mismatch");
    if (bytes) std::memcpy(data, memory_->get<uint8_t>(t), bytes);
    return {};
  }

  ProgramStats stats() const override {
    ProgramStats s;
    s.ops = static_cast<int>(graph_.ops.size());
    s.tasks = static_cast<int>(kernels_.size());
    return s;
  }

 private:
  ir::Graph graph_;
  std::vector<std::unique_ptr<Kernel>> kernels_;
  std::vector<std::vector<uint8_t>> storage_;
  std::unique_ptr<TensorMemory> memory_;
};

class ReferenceBackend final : public Backend {
 public:
  explicit ReferenceBackend(Numerics numerics)
      : numerics_(numerics),
        description_(std::string("host CPU, nonstick reference kernels, ") + numerics_name(numerics) +
                     " numerics (no accelerator)") {}

  std::string_view name() const override { return "reference"; }
  std::string_view description() const override { return description_; }

  Support supports(const ir::Graph& graph, const ir::Operation& op) const override {
    const KernelFactory* factory = find_kernel(op.type);
    if (!factory) return Support::no("no reference kernel for this op");
    return factory->check(graph, op);
  }

  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    std::vector<std::unique_ptr<Kernel>> kernels;
    for (const ir::Operation& op : graph.ops) {
      Support s = supports(graph, op);
      if (!s.supported) {
        return Status::error(std::string(ir::op_name(op.type)) + ": " + s.reason);
      }
      kernels.push_back(find_kernel(op.type)->create(graph, op, numerics_));
    }
    *program = std::make_unique<ReferenceProgram>(graph, std::move(kernels));
    return {};
  }

 private:
  Numerics numerics_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Backend> create_reference_backend(Numerics numerics) {
  return std::make_unique<ReferenceBackend>(numerics);
}

const KernelFactory* find_kernel(ir::OpType type) {
  using ir::OpType;
  switch (type) {
    case OpType::kConv2D: return &conv2d_kernel();
    case OpType::kDepthwiseConv2D: return &depthwise_conv2d_kernel();
    case OpType::kFullyConnected: return &fully_connected_kernel();
    case OpType::kAveragePool2D: return &average_pool_kernel();
    case OpType::kMaxPool2D: return &max_pool_kernel();
    case OpType::kMean: return &mean_kernel();
    case OpType::kAdd: return &add_kernel();
    case OpType::kSub: return &sub_kernel();
    case OpType::kMul: return &mul_kernel();
    case OpType::kSoftmax: return &softmax_kernel();
    case OpType::kLogistic: return &logistic_kernel();
    case OpType::kHardSwish: return &hard_swish_kernel();
    case OpType::kRelu: return &relu_kernel();
    case OpType::kRelu6: return &relu6_kernel();
    case OpType::kQuantize: return &quantize_kernel();
    case OpType::kDequantize: return &dequantize_kernel();
    case OpType::kConcatenation: return &concatenation_kernel();
    case OpType::kSplit: return &split_kernel();
    case OpType::kPad: return &pad_kernel();
    case OpType::kReshape: return &reshape_kernel();
    case OpType::kResizeNearestNeighbor: return &resize_nearest_kernel();
    case OpType::kStridedSlice: return &strided_slice_kernel();
    case OpType::kTranspose: return &transpose_kernel();
  }
  return nullptr;
}

}  // namespace nonstick::reference
