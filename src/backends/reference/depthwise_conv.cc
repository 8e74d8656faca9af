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

#include "backends/reference/conv_util.h"

namespace nonstick::reference {
namespace {

using ir::DType;

Support operands(const ir::Graph& g, const ir::Operation& op, WeightedOperands* o) {
  Support s = weighted_operands(g, op, o);
  if (s.supported && !std::holds_alternative<ir::ConvParams>(op.params)) {
    return Support::no("missing convolution params");
  }
  return s;
}

Window depthwise_window(const ir::Tensor& in, const ir::Tensor& filter, const ir::ConvParams& p) {
  Window w;
  w.batches = in.dim(0);
  w.h = window_dim(p.padding, in.dim(1), filter.dim(1), p.stride_h, p.dilation_h);
  w.w = window_dim(p.padding, in.dim(2), filter.dim(2), p.stride_w, p.dilation_w);
  w.in_channels = in.dim(3);
  w.out_channels = filter.dim(3);
  return w;
}

Support check_depthwise(const ir::Graph& g, const ir::Operation& op) {
  WeightedOperands o;
  Support s = operands(g, op, &o);
  if (!s.supported) return s;
  if (!(s = check_activation_pair(*o.input, *o.output)).supported) return s;
  if (o.input->rank() != 4 || o.filter->rank() != 4) return Support::no("input and filter must be 4-D");
  if (o.filter->dim(0) != 1) return Support::no("filter must be [1, H, W, C * M]");
  if (!(s = check_weights(*o.input, *o.filter, o.bias, *o.output, 3, true)).supported) return s;
  const auto& p = op.get<ir::ConvParams>();
  if (p.stride_w < 1 || p.stride_h < 1 || p.dilation_w < 1 || p.dilation_h < 1) {
    return Support::no("strides and dilations must be positive");
  }
  if (p.depth_multiplier < 1 || o.input->dim(3) * p.depth_multiplier != o.filter->dim(3)) {
    return Support::no("filter channels differ from input channels * depth multiplier");
  }
  if (!depthwise_window(*o.input, *o.filter, p).matches(*o.output)) {
    return Support::no("output shape does not match the convolution window");
  }
  return Support::yes();
}

template <typename T>
class DepthwiseKernel final : public Kernel {
 public:
  DepthwiseKernel(const ir::Operation& op, const WeightedOperands& o, TieRounding ties)
      : input_(op.inputs[0]), output_(op.outputs[0]), ties_(ties),
        window_(depthwise_window(*o.input, *o.filter, op.get<ir::ConvParams>())),
        multiplier_(op.get<ir::ConvParams>().depth_multiplier),
        input_offset_(-o.input->quant.zero_point()), output_zero_point_(o.output->quant.zero_point()),
        range_(activation_range(op.get<ir::ConvParams>().activation, o.output->dtype, o.output->quant.scale(),
                                o.output->quant.zero_point())),
        bias_(bias_values(o.bias, window_.out_channels)),
        multipliers_(channel_multipliers(
            *o.input, *o.filter, *o.output, window_.out_channels,
            o.input->dtype == DType::kUInt8 ? ScaleProduct::kFloat : ScaleProduct::kDouble)) {
    const int32_t filter_offset = -o.filter->quant.zero_point();
    auto raw = o.filter->values<T>();
    filter_.reserve(raw.size());
    for (T v : raw) filter_.push_back(static_cast<int16_t>(v + filter_offset));
  }

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
                acc += (static_cast<int32_t>(in[pixel * in_channels + c]) + input_offset_) *
                       filter_[tap * out_channels + oc];
              }
            }
            const auto u = static_cast<size_t>(oc);
            acc = requantize_accumulator(acc + bias_[u], multipliers_[u], ties_) + output_zero_point_;
            *out++ = clamp_to<T>(acc, range_.min, range_.max);
          }
        }
      }
    }
  }

 private:
  int input_, output_;
  TieRounding ties_;
  Window window_;
  int multiplier_;
  int32_t input_offset_, output_zero_point_;
  ActivationRange range_;
  std::vector<int16_t> filter_;
  std::vector<int32_t> bias_;
  std::vector<QuantizedMultiplier> multipliers_;
};

std::unique_ptr<Kernel> create_depthwise(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  operands(g, op, &o);
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
