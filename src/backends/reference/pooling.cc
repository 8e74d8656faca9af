// AVERAGE_POOL_2D and MAX_POOL_2D for uint8 and int8.
//
// TFLite pools the raw quantized values (it assumes, and only debug-checks,
// that input and output share their quantization; we require it). Average
// pooling divides by the number of window cells inside the input, rounding
// half away from zero: (sum + n/2) / n, or (sum - n/2) / n for a negative
// int8 sum. Both clamp to the fused activation range.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <variant>

#include "backends/reference/conv_util.h"

namespace nonstick::reference {
namespace {

using ir::DType;

Window pool_window(const ir::Tensor& in, const ir::PoolParams& p) {
  Window w;
  w.batches = in.dim(0);
  w.h = window_dim(p.padding, in.dim(1), p.filter_h, p.stride_h, 1);
  w.w = window_dim(p.padding, in.dim(2), p.filter_w, p.stride_w, 1);
  w.in_channels = w.out_channels = in.dim(3);
  return w;
}

Support check_pool(const ir::Graph& g, const ir::Operation& op) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1 || !g.input(op, 0)) {
    return Support::no("needs one input and one output");
  }
  if (!std::holds_alternative<ir::PoolParams>(op.params)) return Support::no("missing pooling params");
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  Support s = check_activation_pair(in, out);
  if (!s.supported) return s;
  if (in.rank() != 4) return Support::no("input must be 4-D");
  if (std::abs(in.quant.scale() - out.quant.scale()) > 1e-6f || in.quant.zero_point() != out.quant.zero_point()) {
    return Support::no("input and output quantization differ");
  }
  const auto& p = op.get<ir::PoolParams>();
  if (p.filter_w < 1 || p.filter_h < 1 || p.stride_w < 1 || p.stride_h < 1) {
    return Support::no("filter sizes and strides must be positive");
  }
  if (static_cast<int64_t>(p.filter_w) * p.filter_h > kMaxSummedValues) {
    return Support::no("pooling window too large");
  }
  if (!pool_window(in, p).matches(out)) return Support::no("output shape does not match the pooling window");
  return Support::yes();
}

enum class PoolKind { kAverage, kMax };

template <typename T, PoolKind kKind>
class PoolKernel final : public Kernel {
 public:
  PoolKernel(const ir::Graph& g, const ir::Operation& op)
      : input_(op.inputs[0]), output_(op.outputs[0]),
        window_(pool_window(*g.input(op, 0), op.get<ir::PoolParams>())),
        range_(activation_range(op.get<ir::PoolParams>().activation, g.output(op, 0).dtype,
                                g.output(op, 0).quant.scale(), g.output(op, 0).quant.zero_point())) {}

  void run(const TensorMemory& memory) const override {
    const T* in = memory.get<T>(input_);
    T* out = memory.get<T>(output_);
    const WindowDim& wh = window_.h;
    const WindowDim& ww = window_.w;
    const int channels = window_.in_channels;
    for (int b = 0; b < window_.batches; ++b) {
      for (int oy = 0; oy < wh.out; ++oy) {
        // The window clipped to the input; padding cells are not counted.
        const int y0 = oy * wh.stride - wh.pad;
        const int y_begin = std::max(y0, 0);
        const int y_end = std::min(y0 + wh.filter, wh.in);
        for (int ox = 0; ox < ww.out; ++ox) {
          const int x0 = ox * ww.stride - ww.pad;
          const int x_begin = std::max(x0, 0);
          const int x_end = std::min(x0 + ww.filter, ww.in);
          const int32_t count = (y_end - y_begin) * (x_end - x_begin);
          for (int c = 0; c < channels; ++c) {
            int32_t acc = kKind == PoolKind::kAverage ? 0 : dtype_lowest();
            for (int y = y_begin; y < y_end; ++y) {
              for (int x = x_begin; x < x_end; ++x) {
                const int32_t v = in[((static_cast<size_t>(b) * wh.in + y) * ww.in + x) * channels + c];
                acc = kKind == PoolKind::kAverage ? acc + v : std::max(acc, v);
              }
            }
            if constexpr (kKind == PoolKind::kAverage) {
              acc = acc >= 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
            }
            *out++ = clamp_to<T>(acc, range_.min, range_.max);
          }
        }
      }
    }
  }

 private:
  static constexpr int32_t dtype_lowest() { return std::is_same_v<T, uint8_t> ? 0 : -128; }

  int input_, output_;
  Window window_;
  ActivationRange range_;
};

template <PoolKind kKind>
std::unique_ptr<Kernel> create_pool(const ir::Graph& g, const ir::Operation& op, Numerics) {
  if (g.input(op, 0)->dtype == DType::kUInt8) return std::make_unique<PoolKernel<uint8_t, kKind>>(g, op);
  return std::make_unique<PoolKernel<int8_t, kKind>>(g, op);
}

}  // namespace

const KernelFactory& average_pool_kernel() {
  static const KernelFactory f{check_pool, create_pool<PoolKind::kAverage>};
  return f;
}

const KernelFactory& max_pool_kernel() {
  static const KernelFactory f{check_pool, create_pool<PoolKind::kMax>};
  return f;
}

}  // namespace nonstick::reference
