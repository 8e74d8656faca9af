// DEPTHWISE_CONV_2D for uint8 and int8 (per-tensor or per-channel int8
// weights), with any depth multiplier, stride, dilation and padding; a
// missing bias counts as zero.
//
// Filters are [1, H, W, C * M]; output channel c * M + m reads input channel
// c. Unlike CONV_2D this is not a GEMM in TFLite 2.9: its own kernels
// requantize with round-half-away-from-zero double rounding (the helper in
// fixed_point.h); ai-edge-litert's int8 kernel rounds that final shift half
// up instead. uint8 multipliers come from float(input_scale *
// filter_scale), int8 ones from the double product.
#include <variant>

#include "backends/reference/conv_common.h"

namespace nonstick::reference {
namespace {

using ir::DType;

Support check_depthwise(const ir::Graph& g, const ir::Operation& op) {
  WeightedOperands o;
  Support s = conv_operands(g, op, &o);
  if (!s.supported) return s;
  if (o.input->rank() == 4 && o.filter->rank() == 4 && o.filter->dim(0) != 1) {
    return Support::no("filter must be [1, H, W, C * M]");
  }
  const auto& p = op.get<ir::ConvParams>();
  if (!(s = check_conv_operands(o, p, 3)).supported) return s;
  if (p.depth_multiplier < 1 || o.input->dim(3) * p.depth_multiplier != o.filter->dim(3)) {
    return Support::no("filter channels differ from input channels * depth multiplier");
  }
  if (!conv_window(*o.input, *o.filter, p, o.filter->dim(3)).matches(*o.output)) {
    return Support::no("output shape does not match the convolution window");
  }
  return Support::yes();
}

template <typename T>
class DepthwiseKernel final : public Kernel {
 public:
  DepthwiseKernel(const ir::Operation& op, const WeightedOperands& o, TieRounding ties)
      : input_(op.inputs[0]), output_(op.outputs[0]),
        window_(conv_window(*o.input, *o.filter, op.get<ir::ConvParams>(), o.filter->dim(3))),
        multiplier_(op.get<ir::ConvParams>().depth_multiplier),
        arithmetic_(make_conv_arithmetic<T>(op, o, window_.out_channels, ties)) {}

  void run(const TensorMemory& memory) const override {
    const T* in = memory.get<T>(input_);
    T* out = memory.get<T>(output_);
    const WindowDim& wh = window_.h;
    const WindowDim& ww = window_.w;
    const int in_channels = window_.in_channels;
    const int out_channels = window_.out_channels;
    for (int b = 0; b < window_.batches; ++b) {
      for (int oy = 0; oy < wh.out; ++oy) {
        const int y0 = oy * wh.stride - wh.pad;
        for (int ox = 0; ox < ww.out; ++ox) {
          const int x0 = ox * ww.stride - ww.pad;
          for (int oc = 0; oc < out_channels; ++oc) {
            const int c = oc / multiplier_;
            int32_t acc = 0;
            for (int ky = 0; ky < wh.filter; ++ky) {
              const int iy = y0 + ky * wh.dilation;
              if (iy < 0 || iy >= wh.in) continue;
              for (int kx = 0; kx < ww.filter; ++kx) {
                const int ix = x0 + kx * ww.dilation;
                if (ix < 0 || ix >= ww.in) continue;
                const size_t pixel = (static_cast<size_t>(b) * wh.in + iy) * ww.in + ix;
                const size_t tap = static_cast<size_t>(ky) * ww.filter + kx;
                acc += (static_cast<int32_t>(in[pixel * in_channels + c]) + arithmetic_.input_offset) *
                       arithmetic_.filter[tap * out_channels + oc];
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
  int multiplier_;
  ConvArithmetic arithmetic_;
};

std::unique_ptr<Kernel> create_depthwise(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  conv_operands(g, op, &o);
  if (o.input->dtype == DType::kUInt8) {
    return std::make_unique<DepthwiseKernel<uint8_t>>(op, o, TieRounding::kAwayFromZero);
  }
  // ai-edge-litert's int8 depthwise kernel rounds its final shift half up.
  const TieRounding ties = numerics == Numerics::kLiteRt ? TieRounding::kUp : TieRounding::kAwayFromZero;
  return std::make_unique<DepthwiseKernel<int8_t>>(op, o, ties);
}

}  // namespace

const KernelFactory& depthwise_conv2d_kernel() {
  static const KernelFactory f{check_depthwise, create_depthwise};
  return f;
}

}  // namespace nonstick::reference
