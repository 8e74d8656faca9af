// CONCATENATION and SPLIT: block copies along one axis.
//
// TFLite copies raw values for every type except uint8 concatenation, which
// requantizes each input whose (scale, zero point) differs from the output's
// in float: q_out = round(q_in * s + b) + zp_out with s = s_in * (1 / s_out)
// and b = -zp_in * s, all in float, rounded half away from zero and clamped
// to [0, 255]. For uint8 that map is a 256-entry table built once here.
// int8 concatenation requires equal quantization in TFLite, so there is no
// int8 requantization to match. Fused activations are refused by TFLite.
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "backends/reference/fixed_point.h"
#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

bool copyable(DType t) {
  return t == DType::kUInt8 || t == DType::kInt8 || t == DType::kInt16 ||
         t == DType::kInt32 || t == DType::kFloat32;
}

bool same_quantization(const ir::Tensor& a, const ir::Tensor& b) {
  return a.quant.scale() == b.quant.scale() && a.quant.zero_point() == b.quant.zero_point();
}

// Elements before `axis` (outer) and after it (inner) of a shape.
int64_t outer_size(const std::vector<int32_t>& shape, int axis) {
  int64_t n = 1;
  for (int d = 0; d < axis; ++d) n *= shape[static_cast<size_t>(d)];
  return n;
}
int64_t inner_size(const std::vector<int32_t>& shape, int axis) {
  int64_t n = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) n *= shape[d];
  return n;
}

std::string dtype_refusal(DType t) { return "unsupported dtype " + std::string(ir::dtype_name(t)); }

// ---- CONCATENATION ----

Support check_concat(const ir::Graph& g, const ir::Operation& op) {
  if (op.inputs.empty() || op.outputs.size() != 1) return Support::no("needs inputs and one output");
  const auto& p = op.get<ir::ConcatParams>();
  const ir::Tensor& out = g.output(op, 0);
  if (!copyable(out.dtype)) return Support::no(dtype_refusal(out.dtype));
  if (p.activation != ir::Activation::kNone) return Support::no("fused activation (TFLite refuses it)");
  const int rank = out.rank();
  if (p.axis < 0 || p.axis >= rank) return Support::no("axis out of range");
  if (out.quant.per_channel()) return Support::no("per-channel quantized output");
  const bool int16 = out.dtype == DType::kInt16;
  const Support int16_zero_point = Support::no("int16 zero point not 0 (TFLite refuses it)");
  if (int16 && out.quant.zero_point() != 0) return int16_zero_point;
  int64_t axis_total = 0;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const ir::Tensor* in = g.input(op, i);
    if (!in) return Support::no("absent input");
    if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
    if (in->rank() != rank) return Support::no("input ranks differ");
    for (int d = 0; d < rank; ++d) {
      if (d != p.axis && in->dim(d) != out.dim(d)) {
        return Support::no("input shape does not fit the output");
      }
    }
    axis_total += in->dim(p.axis);
    if (in->quant.per_channel()) return Support::no("per-channel quantized input");
    if (int16 && in->quant.zero_point() != 0) return int16_zero_point;
    if (same_quantization(*in, out)) continue;
    if (out.dtype == DType::kInt8) {
      return Support::no("int8 input quantized unlike the output (TFLite refuses it)");
    }
    if (out.dtype == DType::kUInt8 && !(in->quant.scale() > 0.0f && out.quant.scale() > 0.0f)) {
      return Support::no("requantizing without positive scales");
    }
  }
  if (axis_total != out.dim(p.axis)) return Support::no("output axis is not the sum of the inputs'");
  return Support::yes();
}

class ConcatKernel final : public Kernel {
 public:
  struct Part {
    int tensor;
    size_t block_bytes;  // bytes of this input per outer step
    bool requantize;
    std::array<uint8_t, 256> table;
  };

  ConcatKernel(int output, int64_t outer, std::vector<Part> parts)
      : output_(output), outer_(outer), parts_(std::move(parts)) {}

  void run(const TensorMemory& memory) const override {
    uint8_t* dst = memory.get<uint8_t>(output_);
    for (int64_t k = 0; k < outer_; ++k) {
      for (const Part& part : parts_) {
        const uint8_t* src =
            memory.get<uint8_t>(part.tensor) + static_cast<size_t>(k) * part.block_bytes;
        if (part.requantize) {
          for (size_t j = 0; j < part.block_bytes; ++j) dst[j] = part.table[src[j]];
        } else {
          std::memcpy(dst, src, part.block_bytes);
        }
        dst += part.block_bytes;
      }
    }
  }

 private:
  int output_;
  int64_t outer_;
  std::vector<Part> parts_;
};

std::unique_ptr<Kernel> create_concat(const ir::Graph& g, const ir::Operation& op, Numerics) {
  const int axis = op.get<ir::ConcatParams>().axis;
  const ir::Tensor& out = g.output(op, 0);
  const size_t elem = ir::dtype_size(out.dtype);
  const int64_t inner = inner_size(out.shape, axis);
  const float inverse_out_scale = 1.0f / out.quant.scale();
  std::vector<ConcatKernel::Part> parts;
  for (int t : op.inputs) {
    const ir::Tensor& in = g.tensor(t);
    ConcatKernel::Part part{};
    part.tensor = t;
    part.block_bytes = static_cast<size_t>(in.dim(axis) * inner) * elem;
    part.requantize = out.dtype == DType::kUInt8 && !same_quantization(in, out);
    if (part.requantize) {
      // The float expression TFLite evaluates per element, tabulated.
      const float scale = in.quant.scale() * inverse_out_scale;
      const float bias = static_cast<float>(-in.quant.zero_point()) * scale;
      for (int q = 0; q < 256; ++q) {
        const float real = static_cast<float>(q) * scale + bias;
        const int32_t v = static_cast<int32_t>(std::round(real)) + out.quant.zero_point();
        part.table[static_cast<size_t>(q)] = clamp_to<uint8_t>(v, 0, 255);
      }
    }
    parts.push_back(part);
  }
  return std::make_unique<ConcatKernel>(op.outputs[0], outer_size(out.shape, axis),
                                        std::move(parts));
}

// ---- SPLIT ----

Support check_split(const ir::Graph& g, const ir::Operation& op) {
  const auto& p = op.get<ir::SplitParams>();
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in) return Support::no("needs one data input");
  if (!copyable(in->dtype)) return Support::no(dtype_refusal(in->dtype));
  if (p.num_splits < 1 || op.outputs.size() != static_cast<size_t>(p.num_splits)) {
    return Support::no("output count differs from num_splits");
  }
  if (p.axis < 0 || p.axis >= in->rank()) return Support::no("axis out of range");
  if (in->dim(p.axis) % p.num_splits != 0) return Support::no("axis size not divisible by num_splits");
  std::vector<int32_t> piece = in->shape;
  piece[static_cast<size_t>(p.axis)] /= p.num_splits;
  for (size_t i = 0; i < op.outputs.size(); ++i) {
    const ir::Tensor& out = g.output(op, i);
    if (out.dtype != in->dtype) return Support::no("input and output dtypes differ");
    if (out.shape != piece) return Support::no("output shape is not an equal split of the input");
  }
  return Support::yes();
}

class SplitKernel final : public Kernel {
 public:
  SplitKernel(int input, std::vector<int> outputs, int64_t outer, size_t block_bytes)
      : input_(input), outputs_(std::move(outputs)), outer_(outer), block_bytes_(block_bytes) {}

  void run(const TensorMemory& memory) const override {
    const uint8_t* src = memory.get<uint8_t>(input_);
    for (int64_t k = 0; k < outer_; ++k) {
      const size_t offset = static_cast<size_t>(k) * block_bytes_;
      for (int t : outputs_) {
        std::memcpy(memory.get<uint8_t>(t) + offset, src, block_bytes_);
        src += block_bytes_;
      }
    }
  }

 private:
  int input_;
  std::vector<int> outputs_;
  int64_t outer_;
  size_t block_bytes_;
};

std::unique_ptr<Kernel> create_split(const ir::Graph& g, const ir::Operation& op, Numerics) {
  const auto& p = op.get<ir::SplitParams>();
  const ir::Tensor& in = *g.input(op, 0);
  const int64_t block = in.dim(p.axis) / p.num_splits * inner_size(in.shape, p.axis);
  return std::make_unique<SplitKernel>(op.inputs[0], op.outputs, outer_size(in.shape, p.axis),
                                       static_cast<size_t>(block) * ir::dtype_size(in.dtype));
}

}  // namespace

const KernelFactory& concatenation_kernel() {
  static const KernelFactory f{check_concat, create_concat};
  return f;
}

const KernelFactory& split_kernel() {
  static const KernelFactory f{check_split, create_split};
  return f;
}

}  // namespace nonstick::reference
