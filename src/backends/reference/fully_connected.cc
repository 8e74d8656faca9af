// FULLY_CONNECTED for uint8 and int8 with per-tensor weights [units, depth].
//
// The input is read as [batches, depth] whatever its rank. TFLite 2.9 runs a
// ruy GEMM on x86, so requantization rounds ties upward like CONV_2D; its
// multiplier comes from float(input_scale * filter_scale) for both dtypes.
// As for CONV_2D, tflite-runtime 2.14's uint8 path rounds ties away from zero,
// and the arm64 build of 2.9 rounds once (ruy) or, for one batch, like x86
// (TFLite's GEMV).
// 2.9 ignores per-channel filter scales (it would silently use the first),
// so per-channel weights are refused rather than imitated.
#include <variant>

#include "backends/reference/conv_util.h"

namespace nonstick::reference {
namespace {

using ir::DType;

Support operands(const ir::Graph& g, const ir::Operation& op, WeightedOperands* o) {
  Support s = weighted_operands(g, op, o);
  if (s.supported && !std::holds_alternative<ir::FullyConnectedParams>(op.params)) {
    return Support::no("missing fully-connected params");
  }
  return s;
}

Support check_fully_connected(const ir::Graph& g, const ir::Operation& op) {
  WeightedOperands o;
  Support s = operands(g, op, &o);
  if (!s.supported) return s;
  if (!(s = check_activation_pair(*o.input, *o.output)).supported) return s;
  if (o.filter->rank() != 2) return Support::no("filter must be 2-D");
  if (!(s = check_weights(*o.input, *o.filter, o.bias, *o.output, 0, false)).supported) return s;
  const int64_t units = o.filter->dim(0);
  const int64_t depth = o.filter->dim(1);
  if (depth < 1 || o.input->rank() < 1 || o.input->num_elements() % depth != 0) {
    return Support::no("input size is not a multiple of the filter depth");
  }
  const int64_t batches = o.input->num_elements() / depth;
  if (o.output->rank() < 1 || o.output->num_elements() != batches * units || o.output->shape.back() != units) {
    return Support::no("output shape does not match [batches, units]");
  }
  if (op.get<ir::FullyConnectedParams>().keep_num_dims && o.input->shape.back() != depth) {
    return Support::no("keep_num_dims needs the input's last dimension to equal the filter depth");
  }
  return Support::yes();
}

template <typename T>
class FullyConnectedKernel final : public Kernel {
 public:
  FullyConnectedKernel(const ir::Operation& op, const WeightedOperands& o, TieRounding ties)
      : input_(op.inputs[0]), output_(op.outputs[0]), ties_(ties), units_(o.filter->dim(0)), depth_(o.filter->dim(1)),
        batches_(static_cast<int>(o.input->num_elements() / depth_)),
        input_offset_(-o.input->quant.zero_point()), output_zero_point_(o.output->quant.zero_point()),
        range_(activation_range(op.get<ir::FullyConnectedParams>().activation, o.output->dtype,
                                o.output->quant.scale(), o.output->quant.zero_point())),
        bias_(bias_values(o.bias, units_)),
        multiplier_(channel_multipliers(*o.input, *o.filter, *o.output, 1, ScaleProduct::kFloat)[0]) {
    const int32_t filter_offset = -o.filter->quant.zero_point();
    auto raw = o.filter->values<T>();
    filter_.reserve(raw.size());
    for (T v : raw) filter_.push_back(static_cast<int16_t>(v + filter_offset));
  }

  void run(const TensorMemory& memory) const override {
    const T* in = memory.get<T>(input_);
    T* out = memory.get<T>(output_);
    for (int b = 0; b < batches_; ++b) {
      const T* row = in + static_cast<size_t>(b) * depth_;
      for (int u = 0; u < units_; ++u) {
        const int16_t* f = filter_.data() + static_cast<size_t>(u) * depth_;
        int32_t acc = 0;
        for (int d = 0; d < depth_; ++d) acc += (static_cast<int32_t>(row[d]) + input_offset_) * f[d];
        acc = requantize_accumulator(acc + bias_[static_cast<size_t>(u)], multiplier_, ties_);
        *out++ = clamp_to<T>(acc + output_zero_point_, range_.min, range_.max);
      }
    }
  }

 private:
  int input_, output_;
  TieRounding ties_;
  int units_, depth_, batches_;
  int32_t input_offset_, output_zero_point_;
  ActivationRange range_;
  std::vector<int16_t> filter_;
  std::vector<int32_t> bias_;
  QuantizedMultiplier multiplier_;
};

std::unique_ptr<Kernel> create_fully_connected(const ir::Graph& g, const ir::Operation& op,
                                               Numerics numerics) {
  WeightedOperands o;
  operands(g, op, &o);
  const TieRounding ties = fully_connected_rounding(g, op, numerics);
  if (o.input->dtype == DType::kUInt8) return std::make_unique<FullyConnectedKernel<uint8_t>>(op, o, ties);
  return std::make_unique<FullyConnectedKernel<int8_t>>(op, o, ties);
}

}  // namespace

TieRounding fully_connected_rounding(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  WeightedOperands o;
  operands(g, op, &o);
  if (numerics == Numerics::kTflite29Arm64) {  // as for CONV_2D
    const int64_t depth = o.filter->dim(1);
    return arm64_gemm_rounding(o.filter->dim(0), depth, o.input->num_elements() / depth);
  }
  // As for CONV_2D: tflite-runtime 2.14's uint8 path rounds ties away from zero.
  if (o.input->dtype == DType::kUInt8 && numerics == Numerics::kTfliteRuntime214) return TieRounding::kAwayFromZero;
  return TieRounding::kUp;
}

const KernelFactory& fully_connected_kernel() {
  static const KernelFactory f{check_fully_connected, create_fully_connected};
  return f;
}

}  // namespace nonstick::reference
