// QUANTIZE and DEQUANTIZE at the 8-bit edges of a model, as TensorFlow Lite's
// builtin kernels compute them:
//  * float32 -> uint8/int8: x / scale in double precision, rounded half away
//    from zero, plus the zero point, clamped to the type.
//  * uint8/int8 -> uint8/int8 (requantize): (q - in_zp) times the multiplier
//    for in_scale / out_scale (a double quotient), TFLite's double rounding,
//    plus the output zero point, clamped. Done through a 256-entry table.
//  * uint8/int8 -> float32: scale * (q - zp) in double, narrowed to float;
//    also a 256-entry table.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "backends/reference/fixed_point.h"
#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

bool is_8bit(ir::DType t) { return t == ir::DType::kUInt8 || t == ir::DType::kInt8; }

int32_t type_min(ir::DType t) { return t == ir::DType::kUInt8 ? 0 : -128; }
int32_t type_max(ir::DType t) { return t == ir::DType::kUInt8 ? 255 : 127; }

// One per-tensor scale and an in-range zero point on an 8-bit tensor.
Support check_quant(const ir::Tensor& t) {
  if (t.quant.empty()) return Support::no("tensor not quantized");
  if (t.quant.per_channel()) return Support::no("per-channel quantization not supported");
  if (!(t.quant.scale() > 0.0f) || !std::isfinite(t.quant.scale())) {
    return Support::no("non-positive scale");
  }
  if (t.quant.zero_point() < type_min(t.dtype) || t.quant.zero_point() > type_max(t.dtype)) {
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

template <typename Out>
class QuantizeFloatKernel final : public Kernel {
 public:
  QuantizeFloatKernel(double scale, int32_t zero_point, int in, int out, int64_t count)
      : scale_(scale), zero_point_(zero_point), in_(in), out_(out), count_(count) {}

  void run(const TensorMemory& memory) const override {
    const float* x = memory.get<float>(in_);
    Out* y = memory.get<Out>(out_);
    constexpr double kMin = std::numeric_limits<Out>::min(), kMax = std::numeric_limits<Out>::max();
    for (int64_t i = 0; i < count_; ++i) {
      // Clamping the rounded quotient before adding the zero point gives the
      // same result as TFLite's int32 arithmetic whenever that does not
      // overflow; NaN goes to the type's minimum.
      const double r = std::round(static_cast<double>(x[i]) / scale_);
      const double q =
          std::isnan(r) ? kMin : std::clamp(r, kMin - 256.0, kMax + 256.0) + zero_point_;
      y[i] = static_cast<Out>(std::clamp(q, kMin, kMax));
    }
  }

 private:
  double scale_;
  int32_t zero_point_;
  int in_, out_;
  int64_t count_;
};

class RequantizeKernel final : public Kernel {
 public:
  RequantizeKernel(const std::array<uint8_t, 256>& table, int in, int out, int64_t count)
      : table_(table), in_(in), out_(out), count_(count) {}

  void run(const TensorMemory& memory) const override {
    const uint8_t* x = memory.get<uint8_t>(in_);
    uint8_t* y = memory.get<uint8_t>(out_);
    for (int64_t i = 0; i < count_; ++i) y[i] = table_[x[i]];
  }

 private:
  std::array<uint8_t, 256> table_;
  int in_, out_;
  int64_t count_;
};

class DequantizeKernel final : public Kernel {
 public:
  DequantizeKernel(const std::array<float, 256>& table, int in, int out, int64_t count)
      : table_(table), in_(in), out_(out), count_(count) {}

  void run(const TensorMemory& memory) const override {
    const uint8_t* x = memory.get<uint8_t>(in_);
    float* y = memory.get<float>(out_);
    for (int64_t i = 0; i < count_; ++i) y[i] = table_[x[i]];
  }

 private:
  std::array<float, 256> table_;
  int in_, out_;
  int64_t count_;
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
  if (!is_8bit(out.dtype)) {
    return Support::no(std::string(ir::dtype_name(out.dtype)) + " output not supported");
  }
  if (in.dtype != ir::DType::kFloat32 && !is_8bit(in.dtype)) {
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

std::unique_ptr<Kernel> quantize_create(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const int a = op.inputs[0], b = op.outputs[0];
  const int64_t n = in.num_elements();
  const int32_t out_zp = out.quant.zero_point();
  if (in.dtype == ir::DType::kFloat32) {
    const double scale = out.quant.scale();
    if (out.dtype == ir::DType::kUInt8) {
      return std::make_unique<QuantizeFloatKernel<uint8_t>>(scale, out_zp, a, b, n);
    }
    return std::make_unique<QuantizeFloatKernel<int8_t>>(scale, out_zp, a, b, n);
  }
  const QuantizedMultiplier m = requantize_multiplier(in, out);
  const int32_t in_zp = in.quant.zero_point();
  std::array<uint8_t, 256> table{};
  for (int32_t v = type_min(in.dtype); v <= type_max(in.dtype); ++v) {
    const int32_t q = multiply_by_quantized_multiplier(v - in_zp, m) + out_zp;
    table[static_cast<uint8_t>(v)] =
        static_cast<uint8_t>(std::clamp(q, type_min(out.dtype), type_max(out.dtype)));
  }
  return std::make_unique<RequantizeKernel>(table, a, b, n);
}

// ---- DEQUANTIZE --------------------------------------------------------------

Support dequantize_check(const ir::Graph& g, const ir::Operation& op) {
  Support s = check_shapes(g, op);
  if (!s.supported) return s;
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  if (!is_8bit(in.dtype)) {
    return Support::no(std::string(ir::dtype_name(in.dtype)) + " input not supported");
  }
  if (out.dtype != ir::DType::kFloat32) {
    return Support::no(std::string(ir::dtype_name(out.dtype)) + " output not supported");
  }
  return check_quant(in);
}

std::unique_ptr<Kernel> dequantize_create(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor& in = *g.input(op, 0);
  const double scale = in.quant.scale();
  const int32_t zp = in.quant.zero_point();
  std::array<float, 256> table{};
  for (int32_t v = type_min(in.dtype); v <= type_max(in.dtype); ++v) {
    table[static_cast<uint8_t>(v)] = static_cast<float>(scale * static_cast<double>(v - zp));
  }
  return std::make_unique<DequantizeKernel>(table, op.inputs[0], op.outputs[0], in.num_elements());
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
