// QUANTIZE and DEQUANTIZE at the 8-bit edges of a model, as TensorFlow Lite's
// builtin kernels compute them:
//  * float32 -> uint8/int8: x / scale in double precision, rounded half away
//    from zero, converted to int32 as the CPU converts (x86: NaN and values
//    out of range become INT32_MIN), plus the zero point in wrapping int32
//    arithmetic, clamped to the type.
//  * uint8/int8 -> uint8/int8 (requantize): (q - in_zp) times the multiplier
//    for in_scale / out_scale (a double quotient), TFLite's double rounding,
//    plus the output zero point, clamped. Done through a 256-entry table.
//  * uint8/int8 -> float32: scale * (q - zp) in double, narrowed to float;
//    also a 256-entry table.
// ai-edge-litert runs NEON kernels through an SSE translation layer, and the
// arm64 build of 2.9 runs them natively (same results): the
// leading whole vector blocks of a tensor are computed differently from the
// remaining elements, which follow the formulas above:
//  * QUANTIZE from float, blocks of 8: x * (1 / scale) in float, rounded half
//    to even;
//  * requantize, blocks of 16: the final shift rounds ties up;
//  * DEQUANTIZE, blocks of 8: q * scale - zp * scale, each step in float.
#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <string>

#include "backends/reference/conv_util.h"

namespace nonstick::reference {
namespace {

// One per-tensor scale and an in-range zero point on an 8-bit tensor.
Support check_quant(const ir::Tensor& t) {
  if (t.quant.empty()) return Support::no("tensor not quantized");
  if (t.quant.per_channel()) return Support::no("per-channel quantization not supported");
  if (!(t.quant.scale() > 0.0f) || !std::isfinite(t.quant.scale())) {
    return Support::no("non-positive scale");
  }
  if (t.quant.zero_point() < dtype_min(t.dtype) || t.quant.zero_point() > dtype_max(t.dtype)) {
    return Support::no("zero point outside the type's range");
  }
  return Support::yes();
}

Support check_shapes(const ir::Graph& g, const ir::Operation& op) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1) {
    return Support::no("expects 1 input, 1 output");
  }
  const ir::Tensor* in = g.input(op, 0);
  if (!in) return Support::no("missing input");
  if (in->shape != g.output(op, 0).shape) return Support::no("output shape differs from input");
  return Support::yes();
}

// The float-to-int32 conversion TFLite's casts compile to on this CPU.
int32_t cpu_to_int32(double r) {
  if (r >= -2147483648.0 && r < 2147483648.0) return static_cast<int32_t>(r);
#if defined(__x86_64__) || defined(__i386__)
  return INT32_MIN;  // cvtsd2si / cvtps2dq: the "integer indefinite" value
#else
  return std::isnan(r) ? 0 : (r < 0 ? INT32_MIN : INT32_MAX);  // arm64 FCVTZS saturates
#endif
}

// Leading elements of an n-element tensor that TFLite's NEON code computes in
// whole vector blocks of `lanes` (none for runtimes without it).
int64_t vector_elements(Numerics numerics, int64_t n, int64_t lanes) {
  return runs_neon_blocks(numerics) ? n / lanes * lanes : 0;
}

template <typename Out>
class QuantizeFloatKernel final : public Kernel {
 public:
  QuantizeFloatKernel(float scale, int32_t zero_point, int in, int out, int64_t count, int64_t vector_count)
      : scale_(scale), inverse_scale_(1.0f / scale), zero_point_(zero_point), in_(in), out_(out),
        count_(count), vector_count_(vector_count) {}

  void run(const TensorMemory& memory) const override {
    const float* x = memory.get<float>(in_);
    Out* y = memory.get<Out>(out_);
    for (int64_t i = 0; i < vector_count_; ++i) {
      y[i] = finish(cpu_to_int32(std::nearbyint(x[i] * inverse_scale_)));
    }
    for (int64_t i = vector_count_; i < count_; ++i) {
      y[i] = finish(cpu_to_int32(std::round(static_cast<double>(x[i]) / static_cast<double>(scale_))));
    }
  }

 private:
  Out finish(int32_t q) const {
    const auto sum = static_cast<int32_t>(static_cast<uint32_t>(q) + static_cast<uint32_t>(zero_point_));
    return static_cast<Out>(std::clamp<int32_t>(sum, std::numeric_limits<Out>::min(), std::numeric_limits<Out>::max()));
  }

  float scale_, inverse_scale_;
  int32_t zero_point_;
  int in_, out_;
  int64_t count_, vector_count_;
};

// Element-wise lookup through two 256-entry tables indexed by the input
// byte: one for the leading `vector_count` elements, one for the rest.
template <typename Out>
class TableKernel final : public Kernel {
 public:
  using Table = std::array<Out, 256>;
  TableKernel(const Table& vector_table, const Table& table, int in, int out, int64_t count, int64_t vector_count)
      : vector_table_(vector_table), table_(table), in_(in), out_(out), count_(count), vector_count_(vector_count) {}

  void run(const TensorMemory& memory) const override {
    const uint8_t* x = memory.get<uint8_t>(in_);
    Out* y = memory.get<Out>(out_);
    for (int64_t i = 0; i < vector_count_; ++i) y[i] = vector_table_[x[i]];
    for (int64_t i = vector_count_; i < count_; ++i) y[i] = table_[x[i]];
  }

 private:
  Table vector_table_, table_;
  int in_, out_;
  int64_t count_, vector_count_;
};

// ---- QUANTIZE ----------------------------------------------------------------

// TFLite takes this quotient in double precision.
QuantizedMultiplier requantize_multiplier(const ir::Tensor& in, const ir::Tensor& out) {
  return quantize_multiplier(static_cast<double>(in.quant.scale()) /
                             static_cast<double>(out.quant.scale()));
}

Support quantize_check(const ir::Graph& g, const ir::Operation& op) {
  Support s = check_shapes(g, op);
  if (!s.supported) return s;
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  if (!is_quantized_8bit(out.dtype)) {
    return Support::no(std::string(ir::dtype_name(out.dtype)) + " output not supported");
  }
  if (in.dtype != ir::DType::kFloat32 && !is_quantized_8bit(in.dtype)) {
    return Support::no(std::string(ir::dtype_name(in.dtype)) + " input not supported");
  }
  s = check_quant(out);
  if (!s.supported || in.dtype == ir::DType::kFloat32) return s;
  s = check_quant(in);
  if (!s.supported) return s;
  // (q - zp), at most 255 in magnitude, is shifted left by the multiplier's
  // exponent in 32 bits.
  if (requantize_multiplier(in, out).shift > 23) {
    return Support::no("rescale factor of 2^23 or more");
  }
  return Support::yes();
}

std::unique_ptr<Kernel> quantize_create(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const int a = op.inputs[0], b = op.outputs[0];
  const int64_t n = in.num_elements();
  const int32_t out_zp = out.quant.zero_point();
  if (in.dtype == ir::DType::kFloat32) {
    const float scale = out.quant.scale();
    const int64_t vector_count = vector_elements(numerics, n, 8);
    if (out.dtype == ir::DType::kUInt8) {
      return std::make_unique<QuantizeFloatKernel<uint8_t>>(scale, out_zp, a, b, n, vector_count);
    }
    return std::make_unique<QuantizeFloatKernel<int8_t>>(scale, out_zp, a, b, n, vector_count);
  }
  const QuantizedMultiplier m = requantize_multiplier(in, out);
  const int32_t in_zp = in.quant.zero_point();
  std::array<uint8_t, 256> vector_table{}, table{};
  for (int32_t v = dtype_min(in.dtype); v <= dtype_max(in.dtype); ++v) {
    const auto byte = static_cast<uint8_t>(v);
    auto requantize = [&](int32_t scaled) {
      return static_cast<uint8_t>(std::clamp(scaled + out_zp, dtype_min(out.dtype), dtype_max(out.dtype)));
    };
    table[byte] = requantize(multiply_by_quantized_multiplier(v - in_zp, m));
    // litert's vector blocks end in a shift that rounds ties up, like ruy's.
    vector_table[byte] = requantize(multiply_by_quantized_multiplier_gemm(v - in_zp, m));
  }
  return std::make_unique<TableKernel<uint8_t>>(vector_table, table, a, b, n, vector_elements(numerics, n, 16));
}

// ---- DEQUANTIZE --------------------------------------------------------------

Support dequantize_check(const ir::Graph& g, const ir::Operation& op) {
  Support s = check_shapes(g, op);
  if (!s.supported) return s;
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  if (!is_quantized_8bit(in.dtype)) {
    return Support::no(std::string(ir::dtype_name(in.dtype)) + " input not supported");
  }
  if (out.dtype != ir::DType::kFloat32) {
    return Support::no(std::string(ir::dtype_name(out.dtype)) + " output not supported");
  }
  return check_quant(in);
}

std::unique_ptr<Kernel> dequantize_create(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  const ir::Tensor& in = *g.input(op, 0);
  const float scale = in.quant.scale();
  const int32_t zp = in.quant.zero_point();
  const float scaled_zero_point = static_cast<float>(zp) * scale;
  std::array<float, 256> vector_table{}, table{};
  for (int32_t v = dtype_min(in.dtype); v <= dtype_max(in.dtype); ++v) {
    const auto byte = static_cast<uint8_t>(v);
    table[byte] = static_cast<float>(static_cast<double>(scale) * static_cast<double>(v - zp));
    vector_table[byte] = static_cast<float>(v) * scale - scaled_zero_point;
  }
  const int64_t n = in.num_elements();
  return std::make_unique<TableKernel<float>>(vector_table, table, op.inputs[0], op.outputs[0], n,
                                              vector_elements(numerics, n, 8));
}

}  // namespace

const KernelFactory& quantize_kernel() {
  static const KernelFactory f{quantize_check, quantize_create};
  return f;
}

const KernelFactory& dequantize_kernel() {
  static const KernelFactory f{dequantize_check, dequantize_create};
  return f;
}

}  // namespace nonstick::reference
