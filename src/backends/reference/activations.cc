// LOGISTIC, HARD_SWISH, RELU and RELU6 on uint8/int8 tensors. Each maps one
// 8-bit value to another, so create() evaluates TFLite's own per-element
// arithmetic for all 256 inputs and run() is a table lookup.
//
//  * LOGISTIC: TFLite's builtin kernel is itself a table, filled in float:
//    dequantize, 1 / (1 + exp(-x)), scale by 1/output_scale, round half away,
//    add the zero point, clamp. The output scale must be exactly 1/256 (the
//    zero point is free).
//  * HARD_SWISH: TFLite's fixed-point scheme on 16-bit values: the input is
//    centred and moved to a "hires" scale (x 128), a "reluish" factor
//    relu6(x + 3) / 6 is formed in Q15 by a multiplier for scale/(128 * 3/2^15),
//    and the product with the rescaled input is shifted down to the output.
//  * RELU/RELU6: requantize from input to output scale (multiplier computed
//    as a float quotient), then clamp to the quantized activation range.
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "backends/reference/fixed_point.h"
#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

// A 256-entry table indexed by the raw input byte.
class LutKernel final : public Kernel {
 public:
  LutKernel(const std::array<uint8_t, 256>& table, int in, int out, int64_t count)
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

struct Unary {
  const ir::Tensor* in = nullptr;
  const ir::Tensor* out = nullptr;
  int32_t qmin = 0, qmax = 0;
};

// Checks shared by all four ops: one 8-bit per-tensor quantized input and a
// same-typed, same-shaped output.
Support check_unary(const ir::Graph& g, const ir::Operation& op, Unary* u) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1) {
    return Support::no("expects 1 input, 1 output");
  }
  u->in = g.input(op, 0);
  u->out = &g.output(op, 0);
  if (!u->in) return Support::no("missing input");
  const ir::DType t = u->in->dtype;
  if (t != ir::DType::kUInt8 && t != ir::DType::kInt8) {
    return Support::no(std::string(ir::dtype_name(t)) + " not supported");
  }
  if (u->out->dtype != t) return Support::no("output type differs from input");
  if (u->in->shape != u->out->shape) return Support::no("output shape differs from input");
  u->qmin = t == ir::DType::kUInt8 ? 0 : -128;
  u->qmax = t == ir::DType::kUInt8 ? 255 : 127;
  for (const ir::Tensor* x : {u->in, u->out}) {
    if (x->quant.empty()) return Support::no("tensor not quantized");
    if (x->quant.per_channel()) return Support::no("per-channel quantization not supported");
    if (!(x->quant.scale() > 0.0f) || !std::isfinite(x->quant.scale())) {
      return Support::no("non-positive scale");
    }
    if (x->quant.zero_point() < u->qmin || x->quant.zero_point() > u->qmax) {
      return Support::no("zero point outside the type's range");
    }
  }
  return Support::yes();
}

// Fills a table by applying f to every input value (as its signed or
// unsigned integer), storing the result's low byte.
std::array<uint8_t, 256> tabulate(const Unary& u, const std::function<int32_t(int32_t)>& f) {
  std::array<uint8_t, 256> table{};
  for (int32_t v = u.qmin; v <= u.qmax; ++v) {
    table[static_cast<uint8_t>(v)] = static_cast<uint8_t>(f(v));
  }
  return table;
}

std::unique_ptr<Kernel> make_lut(const ir::Operation& op, const Unary& u,
                                 const std::function<int32_t(int32_t)>& f) {
  return std::make_unique<LutKernel>(tabulate(u, f), op.inputs[0], op.outputs[0],
                                     u.in->num_elements());
}

// ---- LOGISTIC --------------------------------------------------------------

Support logistic_check(const ir::Graph& g, const ir::Operation& op) {
  Unary u;
  Support s = check_unary(g, op, &u);
  if (!s.supported) return s;
  if (u.out->quant.scale() != 1.0f / 256.0f) return Support::no("output scale must be 1/256");
  return Support::yes();
}

std::unique_ptr<Kernel> logistic_create(const ir::Graph& g, const ir::Operation& op, Numerics) {
  Unary u;
  check_unary(g, op, &u);
  const float in_scale = u.in->quant.scale();
  const int32_t in_zp = u.in->quant.zero_point();
  const float inverse_out_scale = 1.0f / u.out->quant.scale();
  const int32_t out_zp = u.out->quant.zero_point();
  return make_lut(op, u, [&](int32_t v) {
    const float x = in_scale * static_cast<float>(v - in_zp);
    const float sigmoid = 1.0f / (1.0f + std::exp(-x));
    const float rounded = std::round(sigmoid * inverse_out_scale);
    const auto q = static_cast<int32_t>(rounded + static_cast<float>(out_zp));
    return std::clamp(q, u.qmin, u.qmax);
  });
}

// ---- HARD_SWISH -------------------------------------------------------------

constexpr int16_t kInt16Min = std::numeric_limits<int16_t>::min();
constexpr int16_t kInt16Max = std::numeric_limits<int16_t>::max();

// gemmlowp's 16-bit rounding doubling high multiply.
int16_t rounding_high_mul16(int16_t a, int16_t b) {
  if (a == b && a == kInt16Min) return kInt16Max;
  const int32_t ab = int32_t{a} * int32_t{b};
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return static_cast<int16_t>((ab + nudge) / (1 << 15));
}

// The same without rounding (the quotient truncates toward zero).
int16_t truncating_high_mul16(int16_t a, int16_t b) {
  if (a == b && a == kInt16Min) return kInt16Max;
  return static_cast<int16_t>((int32_t{a} * int32_t{b}) / (1 << 15));
}

int16_t saturating_shift_left16(int16_t v, int amount) {
  const int64_t r = int64_t{v} * (int64_t{1} << amount);
  return static_cast<int16_t>(std::clamp<int64_t>(r, kInt16Min, kInt16Max));
}

int16_t rounding_divide_by_pot16(int16_t x, int exponent) {
  return static_cast<int16_t>(rounding_divide_by_pot(x, exponent));
}

// A Q31 multiplier narrowed to Q15, rounding, saturating near the top.
int16_t narrow_multiplier(int32_t m) {
  constexpr int32_t kRound = 1 << 15;
  if (m >= std::numeric_limits<int32_t>::max() - kRound) return std::numeric_limits<int16_t>::max();
  return static_cast<int16_t>((m + kRound) >> 16);
}

struct HardSwishParams {
  int32_t in_zp = 0, out_zp = 0;
  int16_t out_multiplier = 0, reluish_multiplier = 0;
  int out_exponent = 0, reluish_exponent = 0;
};

Support hard_swish_params(const Unary& u, HardSwishParams* p) {
  // TFLite derives both multipliers in float, then quantizes them as doubles.
  const float hires_scale = (1.0f / 128.0f) * u.in->quant.scale();
  const float reluish_scale = 3.0f / 32768.0f;
  const QuantizedMultiplier out = quantize_multiplier(hires_scale / u.out->quant.scale());
  const QuantizedMultiplier reluish = quantize_multiplier(hires_scale / reluish_scale);
  if (out.shift > 0) return Support::no("output scale below input scale / 128");
  p->in_zp = u.in->quant.zero_point();
  p->out_zp = u.out->quant.zero_point();
  p->out_multiplier = narrow_multiplier(out.multiplier);
  p->out_exponent = out.shift;
  p->reluish_multiplier = narrow_multiplier(reluish.multiplier);
  p->reluish_exponent = reluish.shift;
  return Support::yes();
}

int32_t hard_swish_value(const HardSwishParams& p, int32_t v, const Unary& u) {
  const auto centred = static_cast<int16_t>(v - p.in_zp);
  const auto hires = static_cast<int16_t>(centred * (1 << 7));
  const int16_t scaled = rounding_high_mul16(hires, p.out_multiplier);
  // relu6(x + 3) / 6 in Q15, computed as a signed Q15 value in [-1, 1] first.
  int16_t reluish = hires;
  if (p.reluish_exponent > 0) reluish = saturating_shift_left16(reluish, p.reluish_exponent - 1);
  reluish = rounding_high_mul16(reluish, p.reluish_multiplier);
  if (p.reluish_exponent > 0) reluish = saturating_shift_left16(reluish, 1);
  if (p.reluish_exponent < 0) reluish = rounding_divide_by_pot16(reluish, -p.reluish_exponent);
  // Map [-1, 1] to [0, 1].
  reluish = static_cast<int16_t>((int32_t{reluish} + (1 << 15)) >> 1);
  const int16_t product = truncating_high_mul16(reluish, scaled);
  const int32_t out = rounding_divide_by_pot16(product, -p.out_exponent) + p.out_zp;
  return std::clamp(out, u.qmin, u.qmax);
}

Support hard_swish_check(const ir::Graph& g, const ir::Operation& op) {
  Unary u;
  Support s = check_unary(g, op, &u);
  if (!s.supported) return s;
  HardSwishParams p;
  return hard_swish_params(u, &p);
}

std::unique_ptr<Kernel> hard_swish_create(const ir::Graph& g, const ir::Operation& op, Numerics) {
  Unary u;
  check_unary(g, op, &u);
  HardSwishParams p;
  hard_swish_params(u, &p);
  return make_lut(op, u, [&](int32_t v) { return hard_swish_value(p, v, u); });
}

// ---- RELU / RELU6 ------------------------------------------------------------

// The quotient is taken in float, as TFLite does, before widening.
QuantizedMultiplier relu_multiplier(const Unary& u) {
  const float real = u.in->quant.scale() / u.out->quant.scale();
  return quantize_multiplier(static_cast<double>(real));
}

Support relu_check(const ir::Graph& g, const ir::Operation& op) {
  Unary u;
  Support s = check_unary(g, op, &u);
  if (!s.supported) return s;
  // TFLite converts round(6 / scale) to int32 unchecked; keep well inside it.
  if (op.type == ir::OpType::kRelu6 &&
      !(6.0f / u.out->quant.scale() < static_cast<float>(1 << 30))) {
    return Support::no("activation bound beyond int32");
  }
  // (q - zp), at most 255 in magnitude, is shifted left by the exponent in 32 bits.
  if (relu_multiplier(u).shift > 23) return Support::no("rescale factor of 2^23 or more");
  return Support::yes();
}

std::unique_ptr<Kernel> relu_create_with(const ir::Graph& g, const ir::Operation& op,
                                         ir::Activation act) {
  Unary u;
  check_unary(g, op, &u);
  const QuantizedMultiplier m = relu_multiplier(u);
  const int32_t in_zp = u.in->quant.zero_point();
  const int32_t out_zp = u.out->quant.zero_point();
  const ActivationRange r = activation_range(act, u.out->dtype, u.out->quant.scale(), out_zp);
  return make_lut(op, u, [&](int32_t v) {
    const int32_t q = out_zp + multiply_by_quantized_multiplier(v - in_zp, m);
    return std::clamp(q, r.min, r.max);
  });
}

std::unique_ptr<Kernel> relu_create(const ir::Graph& g, const ir::Operation& op, Numerics) {
  return relu_create_with(g, op, ir::Activation::kRelu);
}

std::unique_ptr<Kernel> relu6_create(const ir::Graph& g, const ir::Operation& op, Numerics) {
  return relu_create_with(g, op, ir::Activation::kRelu6);
}

}  // namespace

const KernelFactory& logistic_kernel() {
  static const KernelFactory f{logistic_check, logistic_create};
  return f;
}

const KernelFactory& hard_swish_kernel() {
  static const KernelFactory f{hard_swish_check, hard_swish_create};
  return f;
}

const KernelFactory& relu_kernel() {
  static const KernelFactory f{relu_check, relu_create};
  return f;
}

const KernelFactory& relu6_kernel() {
  static const KernelFactory f{relu_check, relu6_create};
  return f;
}

}  // namespace nonstick::reference
