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
//
// The arm64 build of 2.9 picks among NEON kernels by shape: a 3x3-filter
// kernel (both dtypes) rounds the final shift half up, and for int8 applies
// a left shift only after the multiply; the general int8 kernel requantizes
// whole blocks of 8 channels with the final shift half up and the remaining
// channels half away from zero; the general uint8 kernel rounds half away.
#include <algorithm>
#include <utility>
#include <variant>
#include <vector>

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
  DepthwiseKernel(const ir::Operation& op, const WeightedOperands& o, std::vector<TieRounding> ties)
      : input_(op.inputs[0]), output_(op.outputs[0]),
        window_(conv_window(*o.input, *o.filter, op.get<ir::ConvParams>(), o.filter->dim(3))),
        multiplier_(op.get<ir::ConvParams>().depth_multiplier),
        arithmetic_(make_conv_arithmetic<T>(op, o, window_.out_channels, TieRounding::kAwayFromZero)) {
    arithmetic_.ties = std::move(ties);  // per channel (arm64's blocks of 8)
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

// Whether TFLite 2.9's arm64 build runs this op on its 3x3-filter kernel:
// the conditions of TFLite's Fast3x3FilterKernelSupported. The per-tensor
// shift condition only applies to uint8 (the int8 kernel is called with a
// shift of 0 and does not check the per-channel ones).
bool arm64_3x3_kernel(const WeightedOperands& o, const ir::ConvParams& p, const Window& w) {
  const WindowDim& h = w.h;
  const WindowDim& x = w.w;
  if (h.filter != 3 || x.filter != 3 || p.depth_multiplier != 1) return false;
  if (h.stride != x.stride || (h.stride != 1 && h.stride != 2)) return false;
  if (h.pad != x.pad || (h.pad != 0 && h.pad != 1)) return false;
  if (w.in_channels % 8 != 0 || h.dilation != 1 || x.dilation != 1) return false;
  if (o.input->dtype == DType::kUInt8) {
    const auto m = channel_multipliers(*o.input, *o.filter, *o.output, 1, ScaleProduct::kFloat);
    if (m[0].shift > 0) return false;
  }
  // The filter at the last output must lie within the input, or at most one
  // cell past it when padded.
  const int x_end = (x.out - 1) * x.stride - x.pad + 3;
  const int y_end = (h.out - 1) * h.stride - h.pad + 3;
  if (h.pad == 0) return x_end <= x.in && y_end <= h.in;
  if (x_end > x.in + 1 || y_end > h.in + 1) return false;
  // One-pixel-wide or -high inputs only as 1x1.
  if (x.in == 1 || h.in == 1) return x.in == h.in;
  return true;
}

// The arm64 build of 2.9: which rounding each output channel gets.
std::vector<TieRounding> arm64_ties(const WeightedOperands& o, const ir::ConvParams& p, const Window& w) {
  const auto channels = static_cast<size_t>(w.out_channels);
  const bool int8 = o.input->dtype == DType::kInt8;
  if (arm64_3x3_kernel(o, p, w)) {
    return std::vector<TieRounding>(channels, int8 ? TieRounding::kUpLeftShiftLast : TieRounding::kUp);
  }
  std::vector<TieRounding> ties(channels, TieRounding::kAwayFromZero);
  if (int8) std::fill(ties.begin(), ties.begin() + static_cast<std::ptrdiff_t>(channels / 8 * 8), TieRounding::kUp);
  return ties;
}

std::unique_ptr<Kernel> create_depthwise(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  conv_operands(g, op, &o);
  std::vector<TieRounding> ties = depthwise_conv2d_rounding(g, op, numerics);
  if (o.input->dtype == DType::kUInt8) return std::make_unique<DepthwiseKernel<uint8_t>>(op, o, std::move(ties));
  return std::make_unique<DepthwiseKernel<int8_t>>(op, o, std::move(ties));
}

}  // namespace

std::vector<TieRounding> depthwise_conv2d_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  conv_operands(g, op, &o);
  const auto& p = op.get<ir::ConvParams>();
  const Window w = conv_window(*o.input, *o.filter, p, o.filter->dim(3));
  if (numerics == Numerics::kTflite29Arm64) return arm64_ties(o, p, w);
  // ai-edge-litert's int8 depthwise kernel rounds its final shift half up.
  const bool up = o.input->dtype == DType::kInt8 && numerics == Numerics::kLiteRt;
  return std::vector<TieRounding>(static_cast<size_t>(w.out_channels),
                                  up ? TieRounding::kUp : TieRounding::kAwayFromZero);
}

const KernelFactory& depthwise_conv2d_kernel() {
  static const KernelFactory f{check_depthwise, create_depthwise};
  return f;
}

}  // namespace nonstick::reference
