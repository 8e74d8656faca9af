// PAD: constant padding. TFLite pads quantized tensors with the *output's*
// zero point (the value that represents real 0) and unquantized ones with 0,
// then copies the input in raw, whatever the two tensors' quantization.
#include <algorithm>
#include <cstring>
#include <string>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

constexpr int kMaxRank = 5;  // TFLite's pad kernels stop at 5-D

bool narrow_integer(DType t) { return t == DType::kUInt8 || t == DType::kInt8 || t == DType::kInt16; }

// Quantized 8/16-bit tensors pad with the zero point; everything else
// (unquantized, int32, float32) with the all-zero bit pattern.
int32_t pad_value(const ir::Tensor& out) {
  return narrow_integer(out.dtype) && !out.quant.empty() ? out.quant.zero_point() : 0;
}

Support check_pad(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) {
    return Support::no("needs one input and one output");
  }
  const ir::Tensor& out = g.output(op, 0);
  const auto& p = op.get<ir::PadParams>();
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (!narrow_integer(in->dtype) && in->dtype != DType::kInt32 && in->dtype != DType::kFloat32) {
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
  const int32_t lo = out.dtype == DType::kUInt8 ? 0 : (out.dtype == DType::kInt8 ? -128 : -32768);
  const int32_t hi = out.dtype == DType::kUInt8 ? 255 : (out.dtype == DType::kInt8 ? 127 : 32767);
  const int32_t value = pad_value(out);
  if (value < lo || value > hi) return Support::no("output zero point outside the dtype's range");
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
  const size_t rank = in.shape.size();
  // Output strides, and the offset of input element 0 inside the output.
  std::vector<size_t> stride(rank, 1);
  for (size_t d = rank - 1; d-- > 0;) stride[d] = stride[d + 1] * static_cast<size_t>(out.shape[d + 1]);
  size_t origin = 0;
  for (size_t d = 0; d < rank; ++d) origin += static_cast<size_t>(pads[d].first) * stride[d];
  // One output offset per input row (all dims but the last), in input order.
  const size_t row = static_cast<size_t>(in.shape[rank - 1]);
  std::vector<size_t> offsets;
  if (in.num_elements() > 0) {
    std::vector<size_t> index(rank, 0);
    const size_t rows = static_cast<size_t>(in.num_elements()) / row;
    offsets.reserve(rows);
    for (size_t r = 0; r < rows; ++r) {
      size_t offset = origin;
      for (size_t d = 0; d + 1 < rank; ++d) offset += index[d] * stride[d];
      offsets.push_back(offset);
      for (size_t d = rank - 1; d-- > 0;) {
        if (++index[d] < static_cast<size_t>(in.shape[d])) break;
        index[d] = 0;
      }
    }
  }
  return std::make_unique<PadKernel<T>>(op.inputs[0], op.outputs[0],
                                        static_cast<T>(pad_value(out)),
                                        static_cast<size_t>(out.num_elements()), row,
                                        std::move(offsets));
}

std::unique_ptr<Kernel> create_pad(const ir::Graph& g, const ir::Operation& op, Numerics) {
  switch (g.output(op, 0).dtype) {
    case DType::kUInt8: return make_pad<uint8_t>(g, op);
    case DType::kInt8: return make_pad<int8_t>(g, op);
    case DType::kInt16: return make_pad<int16_t>(g, op);
    default: return make_pad<uint32_t>(g, op);  // int32, float32: pad value 0
  }
}

}  // namespace

const KernelFactory& pad_kernel() {
  static const KernelFactory f{check_pad, create_pad};
  return f;
}

}  // namespace nonstick::reference
