// SOFTMAX on uint8/int8 tensors over the last dimension, as TensorFlow Lite's
// builtin kernel computes it: not the gemmlowp fixed-point reference, but the
// optimized kernel's float lookup table. TFLite tabulates exp(-beta * s * d)
// for the 256 possible distances d from the row maximum, sums the row in
// float in element order, scales by 1 / (sum * output_scale) and rounds:
// uint8 by adding 0.5 and truncating (TFLite's non-ARM specialisation, which
// ignores the output zero point), int8 with round-half-away plus the zero
// point; the arm64 build rounds uint8 like int8 (half away, plus the zero
// point).
// Every float step below is kept in that order, so the result is bit-exact
// as long as expf is the same C library's.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

struct Prepared {
  ir::DType dtype = ir::DType::kUInt8;
  int64_t rows = 0;
  int64_t depth = 0;
  float output_scale = 0;
  int32_t output_zero_point = 0;
  // table[255 - d] = exp(-beta * input_scale * d), indexed from the row max.
  std::array<float, 256> table{};
};

Support prepare(const ir::Graph& g, const ir::Operation& op, Prepared* p) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1) {
    return Support::no("expects 1 input, 1 output");
  }
  const ir::Tensor* in = g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  if (!in) return Support::no("missing input");
  if (in->dtype != ir::DType::kUInt8 && in->dtype != ir::DType::kInt8) {
    return Support::no(std::string(ir::dtype_name(in->dtype)) + " not supported");
  }
  if (out.dtype != in->dtype) {
    return Support::no(std::string(ir::dtype_name(out.dtype)) + " output not supported");
  }
  if (in->quant.empty() || out.quant.empty()) return Support::no("tensor not quantized");
  if (in->quant.per_channel() || out.quant.per_channel()) {
    return Support::no("per-channel quantization not supported");
  }
  if (!std::holds_alternative<ir::SoftmaxParams>(op.params)) return Support::no("missing params");
  if (in->shape != out.shape) return Support::no("output shape differs from input");
  if (in->rank() < 1) return Support::no("scalar input");
  // TFLite 2.9 pins int8 outputs to zero point -128 and a scale within 0.1%
  // of 1/256 (compared in float); uint8 outputs are not checked, and their
  // zero point is then ignored by the x86 kernel.
  if (in->dtype == ir::DType::kInt8) {
    if (out.quant.zero_point() != -128) {
      return Support::no("int8 output zero point must be -128");
    }
    const float target = 1.0f / 256.0f;
    const float delta = std::fabs(out.quant.scale() - target);
    if (delta > 0.001f * 1.0f / 256.0f) return Support::no("int8 output scale must be 1/256");
  } else if (out.quant.zero_point() < 0 || out.quant.zero_point() > 255) {
    return Support::no("zero point outside the type's range");
  }
  // Probabilities scaled by 1/output_scale must stay within int32.
  if (!(out.quant.scale() >= 1.0f / (1 << 23)) || !std::isfinite(out.quant.scale())) {
    return Support::no("output scale below 2^-23");
  }
  if (!(in->quant.scale() > 0.0f) || !std::isfinite(in->quant.scale())) {
    return Support::no("non-positive scale");
  }
  // With beta > 0 the row maximum contributes exp(0) = 1, so the sum never
  // vanishes.
  const float beta = op.get<ir::SoftmaxParams>().beta;
  if (!(beta > 0.0f) || !std::isfinite(beta)) return Support::no("beta must be positive");

  p->dtype = in->dtype;
  p->depth = in->shape.back();
  p->rows = p->depth == 0 ? 0 : in->num_elements() / p->depth;
  p->output_scale = out.quant.scale();
  p->output_zero_point = out.quant.zero_point();
  const float scale = -in->quant.scale() * beta;
  for (int d = 0; d <= 255; ++d) {
    p->table[static_cast<size_t>(255 - d)] = std::exp(scale * static_cast<float>(d));
  }
  return Support::yes();
}

template <typename T>
class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(Prepared p, bool round_away, int in, int out)
      : p_(p), round_away_(round_away), in_(in), out_(out) {}

  void run(const TensorMemory& memory) const override {
    const T* x = memory.get<T>(in_);
    T* y = memory.get<T>(out_);
    constexpr int32_t kMin = std::numeric_limits<T>::min(), kMax = std::numeric_limits<T>::max();
    for (int64_t r = 0; r < p_.rows; ++r, x += p_.depth, y += p_.depth) {
      int32_t max = kMin;
      for (int64_t j = 0; j < p_.depth; ++j) max = std::max(max, static_cast<int32_t>(x[j]));
      // exp of (x - max) sits at table[255 - (max - x)].
      const float* row_table = p_.table.data() + 255 - max;
      float sum = 0.0f;
      for (int64_t j = 0; j < p_.depth; ++j) sum += row_table[x[j]];
      const float inv = 1.0f / (sum * p_.output_scale);
      for (int64_t j = 0; j < p_.depth; ++j) {
        const float prob = row_table[x[j]] * inv;
        int32_t q;
        if (round_away_) {
          q = static_cast<int32_t>(std::round(prob)) + p_.output_zero_point;
        } else {
          q = static_cast<int32_t>(prob + 0.5f);
        }
        y[j] = static_cast<T>(std::clamp(q, kMin, kMax));
      }
    }
  }

 private:
  Prepared p_;
  bool round_away_;  // round half away and add the zero point, else add 0.5 and truncate
  int in_, out_;
};

Support check(const ir::Graph& g, const ir::Operation& op) {
  Prepared p;
  return prepare(g, op, &p);
}

std::unique_ptr<Kernel> create(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  Prepared p;
  prepare(g, op, &p);
  if (p.dtype == ir::DType::kUInt8) {
    return std::make_unique<SoftmaxKernel<uint8_t>>(p, numerics == Numerics::kTflite29Arm64, op.inputs[0],
                                                    op.outputs[0]);
  }
  return std::make_unique<SoftmaxKernel<int8_t>>(p, true, op.inputs[0], op.outputs[0]);
}

}  // namespace

const KernelFactory& softmax_kernel() {
  static const KernelFactory f{check, create};
  return f;
}

}  // namespace nonstick::reference
