// STRIDED_SLICE with TFLite's index rules, per axis:
//  - begin: begin_mask picks the first element in the direction of travel;
//    a negative index counts from the end; the result is clamped to
//    [0, size] going forward, [-1, size - 1] going backward;
//  - end: shrink_axis makes it begin + 1 (one element, the axis then dropped
//    from the output); otherwise end_mask picks one past the last element in
//    the direction of travel, and negative indices and clamping are as for
//    begin;
//  - the axis yields ceil((end - begin) / stride) elements.
// Empty axes, ellipsis_mask and new_axis_mask are refused. The slice is a
// strided view of the input, copied row by row in output order.
#include <limits>
#include <string>

#include "backends/reference/kernel.h"
#include "backends/reference/strided_view.h"

namespace nonstick::reference {
namespace {

using ir::DType;

constexpr size_t kMaxRank = 5;  // TFLite's strided-slice kernel stops at 5-D

struct AxisSlice {
  int64_t start = 0;
  int64_t stride = 1;
  int64_t count = 0;
};

int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

AxisSlice slice_axis(const ir::StridedSliceParams& p, size_t axis, int64_t size) {
  constexpr int64_t kLowest = std::numeric_limits<int32_t>::min();
  constexpr int64_t kHighest = std::numeric_limits<int32_t>::max();
  const int64_t stride = p.strides[axis];
  const bool forward = stride > 0;
  const int bit = 1 << axis;
  // A negative index counts from the end; then it is clamped to the range
  // the direction of travel allows.
  auto place = [&](int64_t i) {
    if (i < 0) i += size;
    return forward ? clamp(i, 0, size) : clamp(i, -1, size - 1);
  };
  const int64_t begin = place((p.begin_mask & bit) ? (forward ? kLowest : kHighest) : p.begin[axis]);
  const int64_t end = (p.shrink_axis_mask & bit)
                          ? begin + 1
                          : place((p.end_mask & bit) ? (forward ? kHighest : kLowest) : p.end[axis]);
  const int64_t span = forward ? end - begin : begin - end;
  const int64_t step = forward ? stride : -stride;
  return {begin, stride, span > 0 ? (span + step - 1) / step : 0};
}

Support check_slice(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) {
    return Support::no("needs one input and one output");
  }
  const ir::Tensor& out = g.output(op, 0);
  const auto& p = op.get<ir::StridedSliceParams>();
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->dtype != DType::kUInt8 && in->dtype != DType::kInt8 && in->dtype != DType::kInt16 &&
      in->dtype != DType::kInt32 && in->dtype != DType::kFloat32 && in->dtype != DType::kBool) {
    return Support::no("unsupported dtype " + std::string(ir::dtype_name(in->dtype)));
  }
  if (p.ellipsis_mask != 0) return Support::no("ellipsis_mask not implemented");
  if (p.new_axis_mask != 0) return Support::no("new_axis_mask not implemented");
  const size_t rank = in->shape.size();
  if (rank < 1 || rank > kMaxRank) return Support::no("rank must be 1 to 5");
  if (p.begin.size() != rank || p.end.size() != rank || p.strides.size() != rank) {
    return Support::no("begin/end/strides length differs from the input rank");
  }
  if (in->num_elements() == 0) return Support::no("empty input");
  std::vector<int32_t> shape;
  for (size_t d = 0; d < rank; ++d) {
    if (p.strides[d] == 0) return Support::no("zero stride");
    const AxisSlice s = slice_axis(p, d, in->shape[d]);
    // TFLite versions clamp an out-of-range begin differently; they agree
    // except where these rules give an empty axis. A shrunk axis walked
    // backwards is empty too (TFLite then writes nothing).
    if (s.count == 0) return Support::no("empty slice along an axis");
    if (p.shrink_axis_mask & (1 << d)) {
      if (s.start < 0 || s.start >= in->shape[d]) return Support::no("shrunk axis index out of range");
    } else {
      shape.push_back(static_cast<int32_t>(s.count));
    }
  }
  if (shape != out.shape) return Support::no("output shape does not match the slice");
  return Support::yes();
}

std::unique_ptr<Kernel> create_slice(const ir::Graph& g, const ir::Operation& op, Numerics) {
  const ir::Tensor& in = *g.input(op, 0);
  const auto& p = op.get<ir::StridedSliceParams>();
  const std::vector<int64_t> in_stride = dense_strides(in.shape);
  int64_t base = 0;
  std::vector<int64_t> counts, steps;
  for (size_t d = 0; d < in.shape.size(); ++d) {
    const AxisSlice a = slice_axis(p, d, in.shape[d]);
    base += a.start * in_stride[d];
    counts.push_back(a.count);
    steps.push_back(a.stride * in_stride[d]);
  }
  return make_strided_view(ir::dtype_size(g.output(op, 0).dtype), op.inputs[0], op.outputs[0], base, counts,
                           steps);
}

}  // namespace

const KernelFactory& strided_slice_kernel() {
  static const KernelFactory f{check_slice, create_slice};
  return f;
}

}  // namespace nonstick::reference
