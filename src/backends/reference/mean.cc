// MEAN for uint8 and int8, over any set of axes, with or without keep_dims.
//
// On x86 TFLite 2.9 registers its reference MEAN kernel (the optimized one is
// NEON-only), which picks one of three integer paths:
//  1. 4-D input, axes {1, 2}, keep_dims: a fixed-point rescale of the sum.
//     uint8 folds the zero points into one rounded float bias and uses the
//     multiplier input_scale / (count * output_scale) (float); int8 subtracts
//     the input zero point, applies input_scale / output_scale (double) and
//     then divides by the count, rounding half away from zero.
//  2. identical input/output quantization: the raw sum divided by the count,
//     truncating toward zero.
//  3. otherwise: float arithmetic, mean * (input_scale / output_scale) minus
//     the scaled input zero point, rounded half away from zero.
// Later builds (tflite-runtime 2.14, ai-edge-litert) register the optimized
// kernel on x86 too, and their integer paths are different:
//  1. the spatial case uses the folded-bias rescale for int8 as well; litert's
//     int8 kernel rounds ties up in whole 16-channel blocks (its vector loop)
//     and away from zero in the remaining channels;
//  2./3. everything else is one integer rescale of the centred sum, by the
//     input_scale / output_scale multiplier (double) with 1/count folded into
//     its mantissa: shifted left by floor(log2(count)) (capped at 32 and by
//     the multiplier's exponent + 31), divided by the count, truncating.
// The arm64 build of 2.9 runs the optimized kernel for path 1 only: the
// folded-bias rescale for both dtypes, int8 rounding ties up in whole
// 16-channel blocks like litert; paths 2 and 3 are those of 2.9 on x86.
// TFLite chooses path 1 from the axis operand as written in the model ({1, 2}
// or {2, 1}); the IR holds normalised, deduplicated axes, so a model writing
// {-3, -2} or {1, 2, 2} takes path 1 here but path 2 or 3 in TFLite.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <variant>

#include "backends/reference/conv_util.h"

namespace nonstick::reference {
namespace {

using ir::DType;

enum class MeanPath { kSpatialFolded, kSpatialInt8, kSameQuantization, kRescale, kIntegerRescale };

bool is_spatial(const ir::Tensor& in, const ir::MeanParams& p) {
  return p.keep_dims && in.rank() == 4 && p.axes == std::vector<int>{1, 2};
}

MeanPath mean_path(const ir::Tensor& in, const ir::Tensor& out, const ir::MeanParams& p, Numerics numerics) {
  const bool tflite29 = numerics == Numerics::kTflite29 || numerics == Numerics::kTflite29Arm64;
  if (is_spatial(in, p)) {
    return numerics == Numerics::kTflite29 && in.dtype == DType::kInt8 ? MeanPath::kSpatialInt8
                                                                       : MeanPath::kSpatialFolded;
  }
  if (!tflite29) return MeanPath::kIntegerRescale;
  if (in.quant.zero_point() == out.quant.zero_point() && in.quant.scale() == out.quant.scale()) {
    return MeanPath::kSameQuantization;
  }
  return MeanPath::kRescale;
}

// Lanes of the NEON int8 spatial-mean loop, whose rounding differs.
constexpr int kNeonMeanLanes = 16;

// The output shape MEAN produces for these axes.
std::vector<int32_t> reduced_shape(const ir::Tensor& in, const ir::MeanParams& p) {
  std::vector<int32_t> shape;
  for (int d = 0; d < in.rank(); ++d) {
    const bool reduced = std::find(p.axes.begin(), p.axes.end(), d) != p.axes.end();
    if (!reduced) {
      shape.push_back(in.dim(d));
    } else if (p.keep_dims) {
      shape.push_back(1);
    }
  }
  return shape;
}

Support check_mean(const ir::Graph& g, const ir::Operation& op) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1 || !g.input(op, 0)) {
    return Support::no("needs one input (axes in params) and one output");
  }
  if (!std::holds_alternative<ir::MeanParams>(op.params)) return Support::no("missing mean params");
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  Support s = check_activation_pair(in, out);
  if (!s.supported) return s;
  if (in.rank() < 1) return Support::no("input must have rank >= 1");
  if (in.num_elements() == 0) return Support::no("empty input");
  const auto& p = op.get<ir::MeanParams>();
  for (size_t i = 0; i < p.axes.size(); ++i) {
    if (p.axes[i] < 0 || p.axes[i] >= in.rank()) return Support::no("axis out of range");
    if (i > 0 && p.axes[i] <= p.axes[i - 1]) return Support::no("axes must be sorted and unique");
  }
  if (out.shape != reduced_shape(in, p)) return Support::no("output shape does not match the reduction");
  if (in.num_elements() / out.num_elements() > kMaxSummedValues) return Support::no("too many values to average");
  return Support::yes();
}

template <typename T>
class MeanKernel final : public Kernel {
 public:
  MeanKernel(const ir::Graph& g, const ir::Operation& op, Numerics numerics)
      : input_(op.inputs[0]), output_(op.outputs[0]) {
    const ir::Tensor& in = *g.input(op, 0);
    const ir::Tensor& out = g.output(op, 0);
    const auto& p = op.get<ir::MeanParams>();
    path_ = mean_path(in, out, p, numerics);
    if (is_spatial(in, p)) {
      channels_ = in.dim(3);
      if (runs_neon_blocks(numerics) && in.dtype == DType::kInt8) {
        ties_up_channels_ = channels_ / kNeonMeanLanes * kNeonMeanLanes;
      }
    }
    index_elements(in, p);
    count_ = static_cast<int32_t>(offsets_.size());
    input_zero_point_ = in.quant.zero_point();
    output_zero_point_ = out.quant.zero_point();
    const float in_scale = in.quant.scale();
    const float out_scale = out.quant.scale();
    switch (path_) {
      case MeanPath::kSpatialFolded: {
        // Float throughout, as TFLite computes it: count and scales multiplied
        // in float, the zero-point term rounded half away from zero.
        const float count = static_cast<float>(count_);
        float folded = static_cast<float>(input_zero_point_) * in_scale / out_scale;
        folded = folded > 0 ? folded + 0.5f : folded - 0.5f;
        bias_ = output_zero_point_ - static_cast<int32_t>(folded);
        multiplier_ = quantize_multiplier(static_cast<double>(in_scale / (count * out_scale)));
        break;
      }
      case MeanPath::kSpatialInt8:
        multiplier_ = quantize_multiplier(static_cast<double>(in_scale) / static_cast<double>(out_scale));
        break;
      case MeanPath::kSameQuantization:
        break;
      case MeanPath::kRescale:
        scale_ = in_scale / out_scale;
        float_bias_ = static_cast<float>(-input_zero_point_) * scale_;
        break;
      case MeanPath::kIntegerRescale: {
        multiplier_ = quantize_multiplier(static_cast<double>(in_scale) / static_cast<double>(out_scale));
        int shift = 0;
        while (shift < 32 && (int64_t{2} << shift) <= count_) ++shift;  // floor(log2(count)), at most 32
        shift = std::min(shift, 31 + multiplier_.shift);
        multiplier_.multiplier =
            static_cast<int32_t>((static_cast<int64_t>(multiplier_.multiplier) << shift) / count_);
        multiplier_.shift -= shift;
        break;
      }
    }
  }

  void run(const TensorMemory& memory) const override {
    const T* in = memory.get<T>(input_);
    T* out = memory.get<T>(output_);
    for (size_t i = 0; i < bases_.size(); ++i) {
      int32_t sum = 0;
      for (size_t offset : offsets_) sum += in[bases_[i] + offset];
      *out++ = finish(sum, static_cast<int>(i % static_cast<size_t>(channels_)));
    }
  }

 private:
  T finish(int32_t sum, int channel) const {
    constexpr int32_t lo = std::is_same_v<T, uint8_t> ? 0 : -128;
    constexpr int32_t hi = std::is_same_v<T, uint8_t> ? 255 : 127;
    switch (path_) {
      case MeanPath::kSpatialFolded: {
        const int32_t scaled = channel < ties_up_channels_
                                   ? multiply_by_quantized_multiplier_gemm(sum, multiplier_)
                                   : multiply_by_quantized_multiplier(sum, multiplier_);
        return clamp_to<T>(scaled + bias_, lo, hi);
      }
      case MeanPath::kSpatialInt8: {
        int32_t acc = multiply_by_quantized_multiplier(sum - count_ * input_zero_point_, multiplier_);
        acc = acc > 0 ? (acc + count_ / 2) / count_ : (acc - count_ / 2) / count_;
        return clamp_to<T>(acc + output_zero_point_, lo, hi);
      }
      case MeanPath::kSameQuantization:
        return static_cast<T>(sum / count_);
      case MeanPath::kRescale: {
        const float mean = static_cast<float>(sum) / static_cast<float>(count_);
        float result = std::round(mean * scale_ + float_bias_) + static_cast<float>(output_zero_point_);
        result = std::min(std::max(result, static_cast<float>(lo)), static_cast<float>(hi));
        return static_cast<T>(result);
      }
      case MeanPath::kIntegerRescale:
        return clamp_to<T>(
            multiply_by_quantized_multiplier(sum - count_ * input_zero_point_, multiplier_) + output_zero_point_,
            lo, hi);
    }
    return 0;
  }

  // Input offsets of every output element's first contributor (in output
  // order) and of the reduced elements relative to it.
  void index_elements(const ir::Tensor& in, const ir::MeanParams& p) {
    const int rank = in.rank();
    std::vector<size_t> stride(static_cast<size_t>(rank), 1);
    for (int d = rank - 1; d > 0; --d) {
      stride[static_cast<size_t>(d - 1)] = stride[static_cast<size_t>(d)] * static_cast<size_t>(in.dim(d));
    }
    std::vector<int> kept, reduced;
    for (int d = 0; d < rank; ++d) {
      (std::find(p.axes.begin(), p.axes.end(), d) != p.axes.end() ? reduced : kept).push_back(d);
    }
    bases_ = offsets_of(in, stride, kept);
    offsets_ = offsets_of(in, stride, reduced);
  }

  // Offsets of all index combinations over `dims` (row-major), others at 0.
  static std::vector<size_t> offsets_of(const ir::Tensor& in, const std::vector<size_t>& stride,
                                        const std::vector<int>& dims) {
    std::vector<size_t> result{0};
    for (int d : dims) {
      std::vector<size_t> next;
      next.reserve(result.size() * static_cast<size_t>(in.dim(d)));
      for (size_t base : result) {
        for (int i = 0; i < in.dim(d); ++i) {
          next.push_back(base + static_cast<size_t>(i) * stride[static_cast<size_t>(d)]);
        }
      }
      result = std::move(next);
    }
    return result;
  }

  int input_, output_;
  MeanPath path_ = MeanPath::kSameQuantization;
  std::vector<size_t> bases_, offsets_;
  int channels_ = 1;           // output channels of the spatial path (output index modulo this)
  int ties_up_channels_ = 0;   // leading channels whose rescale rounds ties up (litert int8)
  int32_t count_ = 1;
  int32_t input_zero_point_ = 0, output_zero_point_ = 0;
  QuantizedMultiplier multiplier_;
  int32_t bias_ = 0;
  float scale_ = 1.0f, float_bias_ = 0.0f;
};

std::unique_ptr<Kernel> create_mean(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  if (g.input(op, 0)->dtype == DType::kUInt8) return std::make_unique<MeanKernel<uint8_t>>(g, op, numerics);
  return std::make_unique<MeanKernel<int8_t>>(g, op, numerics);
}

}  // namespace

const KernelFactory& mean_kernel() {
  static const KernelFactory f{check_mean, create_mean};
  return f;
}

}  // namespace nonstick::reference
