// RESHAPE: the bytes do not move, only the shape changes; TFLite copies the
// raw values whatever the tensors' quantization, and so does this kernel.
#include <cstring>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

Support check_reshape(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) {
    return Support::no("needs one input and one output");
  }
  const ir::Tensor& out = g.output(op, 0);
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->num_elements() != out.num_elements()) return Support::no("element counts differ");
  return Support::yes();
}

class ReshapeKernel final : public Kernel {
 public:
  ReshapeKernel(int input, int output, size_t bytes) : input_(input), output_(output), bytes_(bytes) {}

  void run(const TensorMemory& memory) const override {
    if (bytes_) std::memcpy(memory.get<uint8_t>(output_), memory.get<uint8_t>(input_), bytes_);
  }

 private:
  int input_, output_;
  size_t bytes_;
};

std::unique_ptr<Kernel> create_reshape(const ir::Graph& g, const ir::Operation& op, Numerics) {
  return std::make_unique<ReshapeKernel>(op.inputs[0], op.outputs[0], g.output(op, 0).num_bytes());
}

}  // namespace

const KernelFactory& reshape_kernel() {
  static const KernelFactory f{check_reshape, create_reshape};
  return f;
}

}  // namespace nonstick::reference
