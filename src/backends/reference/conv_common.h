// What CONV_2D and DEPTHWISE_CONV_2D share: operand checks, window geometry
// and the arithmetic set up at create time (offsets, bias, multipliers,
// clamp). The two kernels differ only in which input channel and filter tap
// feed an output channel.
#pragma once

#include <variant>
#include <vector>

#include "backends/reference/conv_util.h"

namespace nonstick::reference {

inline Support conv_operands(const ir::Graph& g, const ir::Operation& op, WeightedOperands* o) {
  Support s = weighted_operands(g, op, o);
  if (s.supported && !std::holds_alternative<ir::ConvParams>(op.params)) {
    return Support::no("missing convolution params");
  }
  return s;
}

inline Window conv_window(const ir::Tensor& in, const ir::Tensor& filter, const ir::ConvParams& p,
                          int out_channels) {
  Window w;
  w.batches = in.dim(0);
  w.h = window_dim(p.padding, in.dim(1), filter.dim(1), p.stride_h, p.dilation_h);
  w.w = window_dim(p.padding, in.dim(2), filter.dim(2), p.stride_w, p.dilation_w);
  w.in_channels = in.dim(3);
  w.out_channels = out_channels;
  return w;
}

// Checks common to both ops; `channel_axis` is the filter's output-channel axis.
inline Support check_conv_operands(const WeightedOperands& o, const ir::ConvParams& p, int channel_axis) {
  Support s = check_activation_pair(*o.input, *o.output);
  if (!s.supported) return s;
  if (o.input->rank() != 4 || o.filter->rank() != 4) return Support::no("input and filter must be 4-D");
  if (!(s = check_weights(*o.input, *o.filter, o.bias, *o.output, channel_axis, true)).supported) return s;
  if (p.stride_w < 1 || p.stride_h < 1 || p.dilation_w < 1 || p.dilation_h < 1) {
    return Support::no("strides and dilations must be positive");
  }
  return Support::yes();
}

// Per-op constants of the integer convolution, computed once.
struct ConvArithmetic {
  int32_t input_offset = 0, output_zero_point = 0;
  ActivationRange range{0, 0};
  std::vector<int16_t> filter;  // weights minus their zero point, model layout
  std::vector<int32_t> bias;
  std::vector<QuantizedMultiplier> multipliers;
  std::vector<TieRounding> ties;  // per output channel: TFLite's vector code may stop short of the last ones

  // Requantizes one output channel's accumulator (bias not yet added).
  int32_t finish(int32_t acc, int channel) const {
    const auto c = static_cast<size_t>(channel);
    const int32_t v = requantize_accumulator(acc + bias[c], multipliers[c], ties[c]) + output_zero_point;
    return std::clamp(v, range.min, range.max);
  }
};

template <typename T>
ConvArithmetic make_conv_arithmetic(const ir::Operation& op, const WeightedOperands& o, int out_channels,
                                    TieRounding ties) {
  ConvArithmetic a;
  a.input_offset = -o.input->quant.zero_point();
  a.output_zero_point = o.output->quant.zero_point();
  a.range = activation_range(op.get<ir::ConvParams>().activation, o.output->dtype, o.output->quant.scale(),
                             o.output->quant.zero_point());
  a.bias = bias_values(o.bias, out_channels);
  // TFLite's uint8 path multiplies the scales in float, int8 in double.
  a.multipliers = channel_multipliers(*o.input, *o.filter, *o.output, out_channels,
                                      o.input->dtype == ir::DType::kUInt8 ? ScaleProduct::kFloat
                                                                        : ScaleProduct::kDouble);
  const int32_t filter_offset = -o.filter->quant.zero_point();
  auto raw = o.filter->values<T>();
  a.filter.reserve(raw.size());
  for (T v : raw) a.filter.push_back(static_cast<int16_t>(v + filter_offset));
  a.ties.assign(static_cast<size_t>(out_channels), ties);
  return a;
}

}  // namespace nonstick::reference
