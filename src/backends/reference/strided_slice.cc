// STRIDED_SLICE with TFLite's index rules, per axis:
//  - begin: begin_mask picks the first element in the direction of travel;
//    a negative index counts from the end; then clamped to [0, size] going
//    forward or [-1, size - 1] going backward;
//  - end: shrink_axis makes it begin + 1 (a single element, the axis then
//    dropped from the output); otherwise end_mask picks one past the last
//    element in the direction of travel; negative counts from the end; then
//    clamped like begin but to [0, size] / [-1, size - 1];
//  - the axis yields ceil((end - begin) / stride) elements, at least 0.
// ellipsis_mask and new_axis_mask are refused. The slice is a strided view of
// the input, copied row by row in output order.
#include <cstring>
#include <limits>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

constexpr int kMaxRank = 5;  // TFLite's strided-slice kernel stops at 5-D

struct AxisSlice {
  int64_t start = 0;
  int64_t stride = 1;
  int64_t count = 0;
};

int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

AxisSlice slice_axis(const ir::StridedSliceParams& p, int axis, int64_t size) {
  const bool forward = p.strides[static_cast<size_t>(axis)] > 0;
  const int bit = 1 << axis;
  AxisSlice s;
  s.stride = p.strides[static_cast<size_t>(axis)];
  int64_t begin = p.begin[static_cast<size_t>(axis)];
  if (p.begin_mask & bit) begin = forward ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
  if (begin < 0) begin += size;
  begin = forward ? clamp(begin, 0, size) : clamp(begin, -1, size - 1);
  int64_t end = p.end[static_cast<size_t>(axis)];
  if (p.shrink_axis_mask & bit) {
    end = begin + 1;
  } else {
    if (p.end_mask & bit) end = forward ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int32_t>::min();
    if (end < 0) end += size;
    end = forward ? clamp(end, 0, size) : clamp(end, -1, size - 1);
  }
  s.start = begin;
  const int64_t span = forward ? end - begin : begin - end;
  const int64_t step = forward ? s.stride : -s.stride;
  s.count = span > 0 ? (span + step - 1) / step : 0;
  return s;
}

Support check_slice(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) return Support::no("needs one input and one output");
  const ir::Tensor& out = g.output(op, 0);
  const auto& p = op.get<ir::StridedSliceParams>();
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->dtype != DType::kUInt8 && in->dtype != DType::kInt8 && in->dtype != DType::kInt16 &&
      in->dtype != DType::kInt32 && in->dtype != DType::kFloat32 && in->dtype != DType::kBool) {
    return Support::no("unsupported dtype " + std::string(ir::dtype_name(in->dtype)));
  }
  if (p.ellipsis_mask != 0) return Support::no("ellipsis_mask not implemented");
  if (p.new_axis_mask != 0) return Support::no("new_axis_mask not implemented");
  const int rank = in->rank();
  if (rank < 1 || rank > kMaxRank) return Support::no("rank must be 1 to 5");
  const auto n = static_cast<size_t>(rank);
  if (p.begin.size() != n || p.end.size() != n || p.strides.size() != n) {
    return Support::no("begin/end/strides length differs from the input rank");
  }
  if (in->num_elements() == 0) return Support::no("empty input");
  std::vector<int32_t> shape;
  for (int d = 0; d < rank; ++d) {
    if (p.strides[static_cast<size_t>(d)] == 0) return Support::no("zero stride");
    const AxisSlice s = slice_axis(p, d, in->dim(d));
    if (p.shrink_axis_mask & (1 << d)) {
      if (s.start < 0 || s.start >= in->dim(d)) return Support::no("shrunk axis index out of range");
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
  const int rank = in.rank();
  std::vector<AxisSlice> axes;
  std::vector<int64_t> in_stride(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d) {
    in_stride[static_cast<size_t>(d)] = in_stride[static_cast<size_t>(d) + 1] * in.dim(d + 1);
  }
  int64_t rows = 1;
  for (int d = 0; d < rank; ++d) {
    axes.push_back(slice_axis(p, d, in.dim(d)));
    if (d + 1 < rank) rows *= axes.back().count;
  }
  const AxisSlice& last = axes.back();
  std::vector<int64_t> starts;
  if (last.count > 0 && rows > 0) {
    starts.reserve(static_cast<size_t>(rows));
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    for (int64_t r = 0; r < rows; ++r) {
      int64_t offset = 0;
      for (int d = 0; d < rank; ++d) {
        const AxisSlice& a = axes[static_cast<size_t>(d)];
        offset += (a.start + index[static_cast<size_t>(d)] * a.stride) * in_stride[static_cast<size_t>(d)];
      }
      starts.push_back(offset);
      for (int d = rank - 2; d >= 0; --d) {
        if (++index[static_cast<size_t>(d)] < axes[static_cast<size_t>(d)].count) break;
        index[static_cast<size_t>(d)] = 0;
      }
    }
  }
  const int64_t row = starts.empty() ? 0 : last.count;
  return std::make_unique<GatherKernel<T>>(op.inputs[0], op.outputs[0], std::move(starts), row, last.stride);
}

std::unique_ptr<Kernel> create_slice(const ir::Graph& g, const ir::Operation& op) {
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
