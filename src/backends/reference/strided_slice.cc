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
#include <cstring>
#include <limits>
#include <string>

#include "backends/reference/kernel.h"

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

// Copies a strided view of the input row by row: row_starts holds the input
// offset of each output row, row elements are `step` apart.
template <typename T>
class GatherKernel final : public Kernel {
 public:
  GatherKernel(int input, int output, std::vector<int64_t> row_starts, int64_t row, int64_t step)
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
std::unique_ptr<Kernel> make_slice(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor& in = *g.input(op, 0);
  const auto& p = op.get<ir::StridedSliceParams>();
  const size_t rank = in.shape.size();
  std::vector<int64_t> in_stride(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * in.shape[d + 1];
  std::vector<AxisSlice> axes;
  int64_t rows = 1;  // every axis is non-empty (checked)
  for (size_t d = 0; d < rank; ++d) {
    axes.push_back(slice_axis(p, d, in.shape[d]));
    if (d + 1 < rank) rows *= axes.back().count;
  }
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(rows));
  std::vector<int64_t> index(rank, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) {
      offset += (axes[d].start + index[d] * axes[d].stride) * in_stride[d];
    }
    starts.push_back(offset);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++index[d] < axes[d].count) break;
      index[d] = 0;
    }
  }
  return std::make_unique<GatherKernel<T>>(op.inputs[0], op.outputs[0], std::move(starts),
                                           axes.back().count, axes.back().stride);
}

std::unique_ptr<Kernel> create_slice(const ir::Graph& g, const ir::Operation& op, Numerics) {
  switch (ir::dtype_size(g.output(op, 0).dtype)) {
    case 1: return make_slice<uint8_t>(g, op);
    case 2: return make_slice<uint16_t>(g, op);
    default: return make_slice<uint32_t>(g, op);
  }
}

}  // namespace

const KernelFactory& strided_slice_kernel() {
  static const KernelFactory f{check_slice, create_slice};
  return f;
}

}  // namespace nonstick::reference
