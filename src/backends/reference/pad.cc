// PAD: constant padding. TFLite pads quantized tensors with the *output's*
// zero point (the value that represents real 0) and unquantized ones with 0,
// then copies the input in raw, whatever the two tensors' quantization.
#include <algorithm>
#include <cstring>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

constexpr int kMaxRank = 5;  // TFLite's pad kernels stop at 5-D

struct Range {
  int32_t lo, hi;
};

Range dtype_range(DType t) {
  switch (t) {
    case DType::kUInt8: return {0, 255};
    case DType::kInt8: return {-128, 127};
    case DType::kInt16: return {-32768, 32767};
    default: return {0, 0};  // int32/float32: only the zero bit pattern is used
  }
}

Support check_pad(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) return Support::no("needs one input and one output");
  const ir::Tensor& out = g.output(op, 0);
  const auto& p = op.get<ir::PadParams>();
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->dtype != DType::kUInt8 && in->dtype != DType::kInt8 && in->dtype != DType::kInt16 &&
      in->dtype != DType::kInt32 && in->dtype != DType::kFloat32) {
    return Support::no("unsupported dtype " + std::string(ir::dtype_name(in->dtype)));
  }
  const int rank = in->rank();
  if (rank < 1 || rank > kMaxRank) return Support::no("rank must be 1 to 5");
  if (out.rank() != rank || static_cast<int>(p.paddings.size()) != rank) {
    return Support::no("paddings do not match the input rank");
  }
  for (int d = 0; d < rank; ++d) {
    const auto [before, after] = p.paddings[static_cast<size_t>(d)];
    if (before < 0 || after < 0) return Support::no("negative padding");
    if (static_cast<int64_t>(in->dim(d)) + before + after != out.dim(d)) {
      return Support::no("output shape does not match the paddings");
    }
  }
  if (out.quant.per_channel()) return Support::no("per-channel quantized output");
  const Range r = dtype_range(out.dtype);
  const int32_t zp = out.quant.zero_point();
  if (zp < r.lo || zp > r.hi) return Support::no("output zero point outside the dtype's range");
  return Support::yes();
}

// Fills the output with the pad value, then copies each innermost input row
// to its precomputed place in the output.
template <typename T>
class PadKernel final : public Kernel {
 public:
  PadKernel(int input, int output, T pad_value, size_t output_elements, size_t row,
            std::vector<size_t> row_offsets)
      : input_(input), output_(output), pad_value_(pad_value), output_elements_(output_elements),
        row_(row), row_offsets_(std::move(row_offsets)) {}

  void run(const TensorMemory& memory) const override {
    T* dst = memory.get<T>(output_);
    const T* src = memory.get<T>(input_);
    std::fill_n(dst, output_elements_, pad_value_);
    for (size_t offset : row_offsets_) {
      std::memcpy(dst + offset, src, row_ * sizeof(T));
      src += row_;
    }
  }

 private:
  int input_, output_;
  T pad_value_;
  size_t output_elements_;
  size_t row_;
  std::vector<size_t> row_offsets_;
};

template <typename T>
std::unique_ptr<Kernel> make_pad(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const auto& pads = op.get<ir::PadParams>().paddings;
  const int rank = in.rank();
  // Output strides, and the offset of input element 0 inside the output.
  std::vector<size_t> stride(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d) {
    stride[static_cast<size_t>(d)] = stride[static_cast<size_t>(d) + 1] * static_cast<size_t>(out.dim(d + 1));
  }
  size_t origin = 0;
  for (int d = 0; d < rank; ++d) origin += static_cast<size_t>(pads[static_cast<size_t>(d)].first) * stride[static_cast<size_t>(d)];
  // One output offset per input row (all dims but the last), in input order.
  const size_t row = static_cast<size_t>(in.dim(rank - 1));
  std::vector<size_t> offsets;
  if (in.num_elements() > 0) {
    std::vector<int32_t> index(static_cast<size_t>(rank), 0);
    const size_t rows = static_cast<size_t>(in.num_elements()) / row;
    offsets.reserve(rows);
    for (size_t r = 0; r < rows; ++r) {
      size_t offset = origin;
      for (int d = 0; d < rank - 1; ++d) offset += static_cast<size_t>(index[static_cast<size_t>(d)]) * stride[static_cast<size_t>(d)];
      offsets.push_back(offset);
      for (int d = rank - 2; d >= 0; --d) {
        if (++index[static_cast<size_t>(d)] < in.dim(d)) break;
        index[static_cast<size_t>(d)] = 0;
      }
    }
  }
  // Quantized tensors pad with the output zero point; it fits T (checked).
  const T pad_value = static_cast<T>(out.quant.empty() ? 0 : out.quant.zero_point());
  return std::make_unique<PadKernel<T>>(op.inputs[0], op.outputs[0], pad_value,
                                        static_cast<size_t>(out.num_elements()), row, std::move(offsets));
}

std::unique_ptr<Kernel> create_pad(const ir::Graph& g, const ir::Operation& op) {
  switch (g.output(op, 0).dtype) {
    case DType::kUInt8: return make_pad<uint8_t>(g, op);
    case DType::kInt8: return make_pad<int8_t>(g, op);
    case DType::kInt16: return make_pad<int16_t>(g, op);
    default: return make_pad<uint32_t>(g, op);  // int32, float32: zero bits
  }
}

}  // namespace

const KernelFactory& pad_kernel() {
  static const KernelFactory f{check_pad, create_pad};
  return f;
}

}  // namespace nonstick::reference
