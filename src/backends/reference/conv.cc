// CONV_2D for uint8 and int8 (per-tensor or per-channel int8 weights), with
// any stride, dilation and padding; a missing bias counts as zero.
//
// TFLite 2.9 on x86 runs this as im2col + a ruy GEMM for both dtypes. The
// accumulation is exact integer arithmetic (padding cells hold the input zero
// point, which the input offset cancels), so what has to match bit for bit
// is the output stage: ruy's requantization of (acc + bias), whose final
// shift rounds ties upward, then the output zero point and the activation
// clamp. uint8 multipliers come from float(input_scale * filter_scale),
// int8 ones from the double product (TFLite's kernel_util does both).
// tflite-runtime 2.14's uint8 path rounds that final shift half away from
// zero instead (TFLite's own double rounding); its int8 path matches 2.9.
// The arm64 build of 2.9 (ruy's NEON kernels) rounds the exact product
// x * M * 2^(shift - 31) once, half up, for both dtypes, except for a
// single output pixel, which TFLite's own GEMV computes (see
// arm64_gemm_rounding).
#include <variant>

#include "backends/reference/conv_common.h"

namespace nonstick::reference {
namespace {

using ir::DType;

Support check_conv(const ir::Graph& g, const ir::Operation& op) {
  WeightedOperands o;
  Support s = conv_operands(g, op, &o);
  if (!s.supported) return s;
  const auto& p = op.get<ir::ConvParams>();
  if (!(s = check_conv_operands(o, p, 0)).supported) return s;
  if (o.filter->dim(3) != o.input->dim(3)) return Support::no("filter depth differs from input channels");
  if (!conv_window(*o.input, *o.filter, p, o.filter->dim(0)).matches(*o.output)) {
    return Support::no("output shape does not match the convolution window");
  }
  return Support::yes();
}

template <typename T>
class ConvKernel final : public Kernel {
 public:
  ConvKernel(const ir::Operation& op, const WeightedOperands& o, TieRounding ties)
      : input_(op.inputs[0]), output_(op.outputs[0]),
        window_(conv_window(*o.input, *o.filter, op.get<ir::ConvParams>(), o.filter->dim(0))),
        arithmetic_(make_conv_arithmetic<T>(op, o, window_.out_channels, ties)) {}

  void run(const TensorMemory& memory) const override {
    const T* in = memory.get<T>(input_);
    T* out = memory.get<T>(output_);
    const WindowDim& wh = window_.h;
    const WindowDim& ww = window_.w;
    const int channels = window_.in_channels;
    const size_t filter_size = static_cast<size_t>(wh.filter) * static_cast<size_t>(ww.filter) *
                               static_cast<size_t>(channels);
    for (int b = 0; b < window_.batches; ++b) {
      for (int oy = 0; oy < wh.out; ++oy) {
        const int y0 = oy * wh.stride - wh.pad;
        for (int ox = 0; ox < ww.out; ++ox) {
          const int x0 = ox * ww.stride - ww.pad;
          for (int oc = 0; oc < window_.out_channels; ++oc) {
            const int16_t* filter = arithmetic_.filter.data() + static_cast<size_t>(oc) * filter_size;
            int32_t acc = 0;
            for (int ky = 0; ky < wh.filter; ++ky) {
              const int iy = y0 + ky * wh.dilation;
              if (iy < 0 || iy >= wh.in) continue;
              for (int kx = 0; kx < ww.filter; ++kx) {
                const int ix = x0 + kx * ww.dilation;
                if (ix < 0 || ix >= ww.in) continue;
                const T* src = in + ((static_cast<size_t>(b) * wh.in + iy) * ww.in + ix) * channels;
                const int16_t* f = filter + (static_cast<size_t>(ky) * ww.filter + kx) * channels;
                for (int c = 0; c < channels; ++c) {
                  acc += (static_cast<int32_t>(src[c]) + arithmetic_.input_offset) * f[c];
                }
              }
            }
            *out++ = static_cast<T>(arithmetic_.finish(acc, oc));
          }
        }
      }
    }
  }

 private:
  int input_, output_;
  Window window_;
  ConvArithmetic arithmetic_;
};

std::unique_ptr<Kernel> create_conv(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  conv_operands(g, op, &o);
  const TieRounding ties = conv2d_rounding(g, op, numerics);
  if (o.input->dtype == DType::kUInt8) return std::make_unique<ConvKernel<uint8_t>>(op, o, ties);
  return std::make_unique<ConvKernel<int8_t>>(op, o, ties);
}

}  // namespace

TieRounding conv2d_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  conv_operands(g, op, &o);
  if (numerics == Numerics::kTflite29Arm64) {
    const Window w = conv_window(*o.input, *o.filter, op.get<ir::ConvParams>(), o.filter->dim(0));
    return arm64_gemm_rounding(w.out_channels, int64_t{w.h.filter} * w.w.filter * w.in_channels,
                               int64_t{w.batches} * w.h.out * w.w.out);
  }
  // tflite-runtime 2.14's uint8 path does not end in ruy's output stage.
  if (o.input->dtype == DType::kUInt8 && numerics == Numerics::kTfliteRuntime214) return TieRounding::kAwayFromZero;
  return TieRounding::kUp;
}

const KernelFactory& conv2d_kernel() {
  static const KernelFactory f{check_conv, create_conv};
  return f;
}

}  // namespace nonstick::reference
