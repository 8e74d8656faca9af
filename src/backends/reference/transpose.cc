// TRANSPOSE: output dimension d is input dimension perm[d]. A pure
// permutation of raw values (TFLite ignores quantization here too), done as
// a strided view of the input copied row by row in output order.
#include <cstring>
#include <string>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

constexpr int kMaxRank = 5;  // TFLite 2.9 has no 6-D transpose (op version 6)

Support check_transpose(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) {
    return Support::no("needs one input and one output");
  }
  const ir::Tensor& out = g.output(op, 0);
  const auto& perm = op.get<ir::TransposeParams>().perm;
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->dtype != DType::kUInt8 && in->dtype != DType::kInt8 && in->dtype != DType::kInt16 &&
      in->dtype != DType::kInt32 && in->dtype != DType::kFloat32 && in->dtype != DType::kBool) {
    return Support::no("unsupported dtype " + std::string(ir::dtype_name(in->dtype)));
  }
  const int rank = in->rank();
  if (rank < 1 || rank > kMaxRank) return Support::no("rank must be 1 to 5");
  if (perm.size() != static_cast<size_t>(rank) || out.rank() != rank) {
    return Support::no("perm length differs from the rank");
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int d = 0; d < rank; ++d) {
    const int32_t from = perm[static_cast<size_t>(d)];
    if (from < 0 || from >= rank || seen[static_cast<size_t>(from)]) {
      return Support::no("perm is not a permutation");
    }
    seen[static_cast<size_t>(from)] = true;
    if (out.dim(d) != in->dim(from)) return Support::no("output shape does not match the permutation");
  }
  return Support::yes();
}

// row_starts holds the input offset of each output row; row elements are
// `step` apart in the input.
template <typename T>
class TransposeKernel final : public Kernel {
 public:
  TransposeKernel(int input, int output, std::vector<int64_t> row_starts, int64_t row, int64_t step)
      : input_(input), output_(output), row_starts_(std::move(row_starts)), row_(row), step_(step) {}

  void run(const TensorMemory& memory) const override {
    const T* src = memory.get<T>(input_);
    T* dst = memory.get<T>(output_);
    for (int64_t start : row_starts_) {
      const T* from = src + start;
      if (step_ == 1) {
        std::memcpy(dst, from, static_cast<size_t>(row_) * sizeof(T));
      } else {
        for (int64_t j = 0; j < row_; ++j) dst[j] = from[j * step_];
      }
      dst += row_;
    }
  }

 private:
  int input_, output_;
  std::vector<int64_t> row_starts_;
  int64_t row_, step_;
};

template <typename T>
std::unique_ptr<Kernel> make_transpose(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const auto& perm = op.get<ir::TransposeParams>().perm;
  const size_t rank = in.shape.size();
  std::vector<int64_t> in_stride(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * in.shape[d + 1];
  // Input step of each output dimension.
  std::vector<int64_t> step(rank);
  for (size_t d = 0; d < rank; ++d) step[d] = in_stride[static_cast<size_t>(perm[d])];
  const int64_t row = out.shape[rank - 1];
  std::vector<int64_t> starts;
  if (out.num_elements() > 0) {
    const int64_t rows = out.num_elements() / row;
    starts.reserve(static_cast<size_t>(rows));
    std::vector<int64_t> index(rank, 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t offset = 0;
      for (size_t d = 0; d + 1 < rank; ++d) offset += index[d] * step[d];
      starts.push_back(offset);
      for (size_t d = rank - 1; d-- > 0;) {
        if (++index[d] < out.shape[d]) break;
        index[d] = 0;
      }
    }
  }
  return std::make_unique<TransposeKernel<T>>(op.inputs[0], op.outputs[0], std::move(starts), row,
                                              step[rank - 1]);
}

std::unique_ptr<Kernel> create_transpose(const ir::Graph& g, const ir::Operation& op, Numerics) {
  switch (ir::dtype_size(g.output(op, 0).dtype)) {
    case 1: return make_transpose<uint8_t>(g, op);
    case 2: return make_transpose<uint16_t>(g, op);
    default: return make_transpose<uint32_t>(g, op);
  }
}

}  // namespace

const KernelFactory& transpose_kernel() {
  static const KernelFactory f{check_transpose, create_transpose};
  return f;
}

}  // namespace nonstick::reference
