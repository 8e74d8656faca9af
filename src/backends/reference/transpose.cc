// TRANSPOSE: output dimension d is input dimension perm[d]. A pure
// permutation of raw values (TFLite ignores quantization here too), done as
// a strided view of the input copied row by row in output order.
#include <string>

#include "backends/reference/kernel.h"
#include "backends/reference/strided_view.h"

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

std::unique_ptr<Kernel> create_transpose(const ir::Graph& g, const ir::Operation& op, Numerics) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const auto& perm = op.get<ir::TransposeParams>().perm;
  const std::vector<int64_t> in_stride = dense_strides(in.shape);
  std::vector<int64_t> counts, steps;
  for (size_t d = 0; d < out.shape.size(); ++d) {
    counts.push_back(out.shape[d]);
    steps.push_back(in_stride[static_cast<size_t>(perm[d])]);
  }
  return make_strided_view(ir::dtype_size(out.dtype), op.inputs[0], op.outputs[0], 0, counts, steps);
}

}  // namespace

const KernelFactory& transpose_kernel() {
  static const KernelFactory f{check_transpose, create_transpose};
  return f;
}

}  // namespace nonstick::reference
