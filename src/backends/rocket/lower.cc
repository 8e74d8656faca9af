#include "backends/rocket/lower.h"

#include <algorithm>
#include <cmath>
#include <variant>

#include "backends/reference/conv_util.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/hw.h"
#include "backends/rocket/tasks.h"

namespace nonstick::rocket {
namespace {

using ir::DType;

// A fused ADD skips TFLite's rounding of the convolution's own output, which
// moves the final value by at most half a conv step; below 1.9 ADD-output
// steps (plus the encodings' ~2^-15 error) that stays within one output step.
constexpr double kMaxFusedStepRatio = 1.9;

bool is_8bit(DType t) { return t == DType::kUInt8 || t == DType::kInt8; }

// Quantized value/zero point moved into the NPU's signed int8 domain.
int32_t signed_zp(const ir::Tensor& t) { return t.quant.zero_point() - (t.dtype == DType::kUInt8 ? 128 : 0); }
int8_t signed_value(uint8_t raw, DType t) {
  return static_cast<int8_t>(t == DType::kUInt8 ? static_cast<int>(raw) - 128 : static_cast<int8_t>(raw));
}

std::string label_of(const ir::Operation& op, int op_index) {
  return std::string(ir::op_name(op.type)) + "#" + std::to_string(op.source_index >= 0 ? op.source_index : op_index);
}

// Width/height of an activation for a pointwise op: NHWC axes when 4-D.
void plane_of(const ir::Tensor& t, int* w, int* h) {
  *w = t.rank() >= 2 ? t.dim(t.rank() - 2) : 1;
  int64_t rest = 1;
  for (int i = 0; i + 2 < t.rank(); ++i) rest *= t.dim(i);
  *h = static_cast<int>(rest);
}

void set_activation(ir::Activation act, const ir::Tensor& out, NpuConv* c) {
  const auto range =
      reference::activation_range(act, out.dtype, out.quant.scale(), out.quant.zero_point());
  const int32_t shift = out.dtype == DType::kUInt8 ? 128 : 0;
  c->act_min = range.min - shift;
  c->act_max = range.max - shift;
}

// s_in * s_w as TFLite forms it: float product for uint8 convolutions and
// every FULLY_CONNECTED, double product otherwise.
double accumulator_scale(const ir::Tensor& in, float filter_scale, bool float_product) {
  return float_product ? static_cast<double>(in.quant.scale() * filter_scale)
                       : static_cast<double>(in.quant.scale()) * static_cast<double>(filter_scale);
}

// Whether a filter needs per-channel requantization: several scales that
// are not all equal (equal ones are per-tensor in all but name). Only the
// form TFLite's int8 kernels define is lowered: int8, every zero point 0.
Support filter_is_per_channel(const ir::Tensor& filter, bool* per_channel) {
  const ir::Quantization& q = filter.quant;
  *per_channel = false;
  if (!q.per_channel()) return Support::yes();
  for (size_t i = 0; i < q.scales.size(); ++i) {
    *per_channel |= q.scales[i] != q.scales[0];
    if (i < q.zero_points.size() && q.zero_points[i] != q.zero_points[0]) {
      return Support::no("per-channel filter zero points differ");
    }
  }
  if (*per_channel && (filter.dtype != DType::kInt8 || filter.quant.zero_point() != 0)) {
    return Support::no("per-channel requantization needs an int8 filter with zero point 0");
  }
  return Support::yes();
}

Support geometry_limits(const NpuConv& c) {
  using C = CoreConfig;
  if (c.kernel_w > C::kMaxKernel || c.kernel_h > C::kMaxKernel) {
    return Support::no("kernel " + std::to_string(c.kernel_w) + "x" + std::to_string(c.kernel_h) +
                       " exceeds the NPU's 31x31");
  }
  if (c.stride_w > C::kMaxStride || c.stride_h > C::kMaxStride) {
    return Support::no("stride " + std::to_string(c.stride_w) + "x" + std::to_string(c.stride_h) +
                       " exceeds the NPU's 7");
  }
  if (c.pad_left > C::kMaxPad || c.pad_top > C::kMaxPad) return Support::no("padding exceeds the NPU's 15");
  if (c.in_w > C::kMaxInputDim) return Support::no("input width exceeds the NPU's 2047");
  if (c.out_w > C::kMaxOutputDim || c.out_h > C::kMaxOutputDim) return Support::no("output exceeds 8191 rows/columns");
  if (c.in_c > C::kMaxChannels || c.out_c_padded() > C::kMaxChannels + 1) {
    return Support::no("more than 8191 channels");
  }
  if (int64_t{c.kernel_w} * c.kernel_h * padded_in_channels(c) > C::kMaxKernelBytes) {
    return Support::no("kernel window x input channels exceeds the 19-bit WEIGHT_BYTES_PER_KERNEL");
  }
  return Support::yes();
}

// Checks that need the whole NpuConv: encodings and the CBUF plan. On
// success the note is the encoding's exactness proof, for placement reports.
Support finish(const NpuConv& c, const EncodingOptions& options) {
  Support s = geometry_limits(c);
  if (!s.supported) return s;
  DpuEncoding e;
  if (!(s = encode_dpu(c, options, &e)).supported) return s;
  TaskPlan plan;
  if (!(s = plan_tasks(c, &plan)).supported) return s;
  s.note = e.exactness.summary();
  s.proven_exact = e.exactness.exact();
  return s;
}

Support lower_weighted(const ir::Graph& g, const ir::Operation& op, reference::Numerics numerics, NpuConv* c) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& filter = *g.input(op, 1);
  const ir::Tensor* bias = op.inputs.size() > 2 ? g.input(op, 2) : nullptr;
  const ir::Tensor& out = g.output(op, 0);
  if (!is_8bit(in.dtype)) return Support::no(std::string(ir::dtype_name(in.dtype)) + " activations not supported");
  bool per_channel = false;
  Support s = filter_is_per_channel(filter, &per_channel);
  if (!s.supported) return s;

  c->input = op.inputs[0];
  c->output = op.outputs[0];
  c->in_zp = signed_zp(in);
  c->weight_zp = filter.quant.zero_point() - (filter.dtype == DType::kUInt8 ? 128 : 0);
  c->out_zp = signed_zp(out);
  const bool uint8 = in.dtype == DType::kUInt8;
  auto raw = filter.values<uint8_t>();

  if (op.type == ir::OpType::kFullyConnected) {
    const int units = filter.dim(0), depth = filter.dim(1);
    if (in.shape.back() != depth) return Support::no("input would need flattening (last dimension != filter depth)");
    c->in_c = depth;
    c->out_c = units;
    c->in_w = c->out_w = static_cast<int>(in.num_elements() / depth);
    c->in_h = c->out_h = 1;
    c->acc_scale = accumulator_scale(in, filter.quant.scale(), true);
    set_activation(op.get<ir::FullyConnectedParams>().activation, out, c);
    c->weights.resize(raw.size());
    for (size_t i = 0; i < raw.size(); ++i) c->weights[i] = signed_value(raw[i], filter.dtype);
  } else {
    const auto& p = op.get<ir::ConvParams>();
    if (p.dilation_w != 1 || p.dilation_h != 1) return Support::no("dilation not supported");
    if (in.dim(0) != 1) return Support::no("batch > 1 not supported");
    const auto wh = reference::window_dim(p.padding, in.dim(1), filter.dim(1), p.stride_h, 1);
    const auto ww = reference::window_dim(p.padding, in.dim(2), filter.dim(2), p.stride_w, 1);
    c->in_h = in.dim(1);
    c->in_w = in.dim(2);
    c->in_c = in.dim(3);
    c->out_h = wh.out;
    c->out_w = ww.out;
    c->out_c = out.dim(3);
    c->kernel_h = filter.dim(1);
    c->kernel_w = filter.dim(2);
    c->stride_h = p.stride_h;
    c->stride_w = p.stride_w;
    c->pad_top = wh.pad;
    c->pad_left = ww.pad;
    c->acc_scale = accumulator_scale(in, filter.quant.scale(), uint8);
    set_activation(p.activation, out, c);
    const size_t window = static_cast<size_t>(c->kernel_h) * c->kernel_w;
    if (op.type == ir::OpType::kConv2D) {
      c->weights.resize(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) c->weights[i] = signed_value(raw[i], filter.dtype);
    } else if (c->out_c == c->in_c && c->in_c > 1) {
      c->depthwise = true;
      c->weights.resize(raw.size());
      for (size_t i = 0; i < raw.size(); ++i) c->weights[i] = signed_value(raw[i], filter.dtype);
    } else {
      // Channel multiplier > 1 (or a single channel): a dense convolution
      // whose kernel o only sees input channel o / multiplier. The other
      // weights equal the weight zero point, i.e. a real zero.
      if (c->out_c % c->in_c != 0) return Support::no("output channels not a multiple of input channels");
      const int mult = c->out_c / c->in_c;
      c->weights.assign(static_cast<size_t>(c->out_c) * window * c->in_c, static_cast<int8_t>(c->weight_zp));
      for (int o = 0; o < c->out_c; ++o) {
        for (size_t k = 0; k < window; ++k) {
          c->weights[(static_cast<size_t>(o) * window + k) * c->in_c + o / mult] =
              signed_value(raw[k * c->out_c + o], filter.dtype);
        }
      }
    }
  }
  switch (op.type) {
    case ir::OpType::kConv2D:
      c->rounding.assign(static_cast<size_t>(c->out_c), reference::conv2d_rounding(g, op, numerics));
      break;
    case ir::OpType::kFullyConnected:
      c->rounding.assign(static_cast<size_t>(c->out_c), reference::fully_connected_rounding(g, op, numerics));
      break;
    default: c->rounding = reference::depthwise_conv2d_rounding(g, op, numerics); break;
  }
  auto b = reference::bias_values(bias, c->out_c);
  c->bias.assign(b.begin(), b.end());
  c->out_multiplier = c->acc_scale / static_cast<double>(out.quant.scale());
  if (per_channel) {
    // TFLite's int8 kernels: double(s_in) * double(s_w[c]) / double(s_out),
    // the filter's quantization axis being the output channel.
    if (static_cast<int>(filter.quant.scales.size()) != c->out_c) {
      return Support::no("per-channel scale count differs from output channels");
    }
    c->channel_multipliers.resize(static_cast<size_t>(c->out_c));
    for (int o = 0; o < c->out_c; ++o) {
      c->channel_multipliers[static_cast<size_t>(o)] =
          accumulator_scale(in, filter.quant.scales[static_cast<size_t>(o)], false) /
          static_cast<double>(out.quant.scale());
    }
    c->acc_scale = 0;
    c->out_multiplier = *std::max_element(c->channel_multipliers.begin(), c->channel_multipliers.end());
  }
  return Support::yes();
}

// ADD on its own: identity 1x1 convolution of the operand with the larger
// scale, plus the other operand through the element-wise stage.
Support lower_add(const ir::Graph& g, const ir::Operation& op, NpuConv* c) {
  const ir::Tensor* a = g.input(op, 0);
  const ir::Tensor* b = g.input(op, 1);
  const ir::Tensor& out = g.output(op, 0);
  if (a->shape != out.shape || b->shape != out.shape) return Support::no("broadcasting ADD not supported");
  if (a->constant && b->constant) return Support::no("both ADD operands constant");
  if (out.rank() == 4 && out.dim(0) != 1) return Support::no("batch > 1 not supported");
  int ia = op.inputs[0], ib = op.inputs[1];
  // The identity runs on a non-constant operand with the larger step, so
  // the addend's ratio stays <= kAddIdentityWeight.
  if (a->constant || (!b->constant && b->quant.scale() > a->quant.scale())) {
    std::swap(a, b);
    std::swap(ia, ib);
  }
  c->input = ia;
  c->output = op.outputs[0];
  c->addend = ib;
  plane_of(out, &c->in_w, &c->in_h);
  c->out_w = c->in_w;
  c->out_h = c->in_h;
  c->in_c = c->out_c = out.shape.empty() ? 1 : out.shape.back();
  c->in_zp = signed_zp(*a);
  c->addend_zp = signed_zp(*b);
  c->out_zp = signed_zp(out);
  c->weight_zp = 0;
  c->weights.assign(static_cast<size_t>(c->in_c) * c->in_c, 0);
  for (int i = 0; i < c->in_c; ++i) c->weights[static_cast<size_t>(i) * c->in_c + i] = kAddIdentityWeight;
  c->bias.assign(static_cast<size_t>(c->out_c), 0);
  c->acc_scale = static_cast<double>(a->quant.scale()) / kAddIdentityWeight;
  c->addend_multiplier = static_cast<double>(b->quant.scale()) / c->acc_scale;
  c->out_multiplier = c->acc_scale / static_cast<double>(out.quant.scale());
  c->add_scales = {a->quant.scale(), b->quant.scale(), out.quant.scale()};
  set_activation(op.get<ir::ElementwiseParams>().activation, out, c);
  return Support::yes();
}

}  // namespace

int NpuConv::out_c_padded() const {
  return align_up(out_c, depthwise ? CoreConfig::kDepthwiseOutputAlign : CoreConfig::kDenseOutputAlign);
}

uint64_t NpuConv::macs() const {
  return uint64_t(out_w) * out_h * out_c * kernel_w * kernel_h * (depthwise ? 1 : in_c);
}

FeatureShape feature_shape(const ir::Tensor& t) {
  FeatureShape f;
  f.channels = t.shape.empty() ? 1 : t.shape.back();
  f.pixels = f.channels > 0 ? t.num_elements() / f.channels : 0;
  return f;
}

Support lower_op(const ir::Graph& graph, const ir::Operation& op, int op_index, const EncodingOptions& options,
                 NpuConv* out) {
  using ir::OpType;
  if (op.type != OpType::kConv2D && op.type != OpType::kDepthwiseConv2D && op.type != OpType::kFullyConnected &&
      op.type != OpType::kAdd) {
    return Support::no("no NPU lowering for this op");
  }
  // The reference backend's check is TFLite's own validity check; the
  // fault fallback also needs it to pass.
  const reference::KernelFactory* ref = reference::find_kernel(op.type);
  Support s = ref->check(graph, op);
  if (!s.supported) return s;
  for (int t : op.inputs) {
    if (t >= 0 && graph.tensor(t).dtype == DType::kInt16) return Support::no("int16 activations not supported");
  }
  NpuConv c;
  c.source_ops = {op_index};
  c.label = label_of(op, op_index);
  s = op.type == OpType::kAdd ? lower_add(graph, op, &c) : lower_weighted(graph, op, options.numerics, &c);
  if (!s.supported) return s;
  if (!(s = finish(c, options)).supported) return s;
  *out = std::move(c);
  return s;
}

std::string fusion_blocker(const ir::Graph& graph, const NpuConv& conv, const NpuConv& add,
                           const EncodingOptions& options) {
  if (conv.has_addend()) return "the convolution already adds a tensor";
  // Every captured stream with an element-wise operand is a dense
  // convolution; depthwise writes 64-channel groups (SURFACE_ADD of four
  // surfaces) and nothing shows how the ERDMA stream pairs with that.
  if (conv.depthwise) return "fusing into a depthwise convolution is not evidenced";
  // The addend would have to be converted into the BS multiplier's output
  // domain; not implemented, so the ADD runs as its own NPU operation.
  if (conv.per_channel()) return "fusing into a per-channel convolution is not implemented";
  const int other = add.input == conv.output ? add.addend : (add.addend == conv.output ? add.input : -2);
  if (other == -2) return "the ADD does not read the convolution's output";
  if (other == conv.output) return "both ADD operands are the convolution's output";
  if (std::find(graph.outputs.begin(), graph.outputs.end(), conv.output) != graph.outputs.end()) {
    return "the convolution's output leaves the partition";
  }
  int readers = 0;
  for (const ir::Operation& op : graph.ops) {
    for (int t : op.inputs) readers += t == conv.output ? 1 : 0;
  }
  if (readers != 1) return "the convolution's output has other readers";
  if (conv.act_min != -128 || conv.act_max != 127) return "the convolution has a fused activation";
  const ir::Tensor& y = graph.tensor(conv.output);
  const ir::Tensor& o = graph.tensor(add.output);
  if (static_cast<double>(y.quant.scale()) > kMaxFusedStepRatio * static_cast<double>(o.quant.scale())) {
    return "the convolution's output step is too coarse against the ADD's";
  }
  // TFLite saturates the convolution's output before adding; fusing is only
  // exact when no input can make it saturate.
  const double m = conv.out_multiplier;
  const size_t n = static_cast<size_t>(conv.kernel_h) * conv.kernel_w * (conv.depthwise ? 1 : conv.in_c);
  for (int ch = 0; ch < conv.out_c; ++ch) {
    double lo = conv.bias[static_cast<size_t>(ch)], hi = lo;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = conv.depthwise ? k * conv.in_c + ch : static_cast<size_t>(ch) * n + k;
      const double d = static_cast<double>(conv.weights[i]) - conv.weight_zp;
      const double p1 = d * (127.0 - conv.in_zp), p2 = d * (-128.0 - conv.in_zp);
      lo += std::min(p1, p2);
      hi += std::max(p1, p2);
    }
    if (lo * m + conv.out_zp < -128.0 || hi * m + conv.out_zp > 127.0) {
      return "the convolution's output can saturate before the ADD";
    }
  }
  // TFLite rounds the convolution's output to its 8-bit step before adding;
  // the fused form cannot, the separate ADD reproduces TFLite exactly
  // (docs/virtual-rk3588.md §10.6).
  if (options.requant == EncodingOptions::Requant::kPrecise) {
    return "precise requantization keeps the ADD separate (TFLite rounds the convolution's output first)";
  }
  return {};
}

NpuConv fuse_add(const ir::Graph& graph, const NpuConv& conv, const NpuConv& add) {
  const int other = add.input == conv.output ? add.addend : add.input;
  const ir::Tensor& t_other = graph.tensor(other);
  const ir::Tensor& t_out = graph.tensor(add.output);
  NpuConv f = conv;
  f.output = add.output;
  f.addend = other;
  f.addend_zp = signed_zp(t_other);
  f.addend_multiplier = static_cast<double>(t_other.quant.scale()) / f.acc_scale;
  f.out_zp = add.out_zp;
  f.out_multiplier = f.acc_scale / static_cast<double>(t_out.quant.scale());
  f.act_min = add.act_min;
  f.act_max = add.act_max;
  f.label += "+" + add.label;
  f.source_ops.insert(f.source_ops.end(), add.source_ops.begin(), add.source_ops.end());
  return f;
}

Status lower_graph(const ir::Graph& graph, const EncodingOptions& options, std::vector<NpuConv>* ops) {
  ops->clear();
  for (size_t i = 0; i < graph.ops.size(); ++i) {
    const ir::Operation& op = graph.ops[i];
    NpuConv c;
    Support s = lower_op(graph, op, static_cast<int>(i), options, &c);
    if (!s.supported) return Status::error(label_of(op, static_cast<int>(i)) + ": " + s.reason);
    if (op.type == ir::OpType::kAdd) {
      // Try the producers of either operand (latest first).
      bool fused = false;
      for (size_t j = ops->size(); j-- > 0 && !fused;) {
        NpuConv& conv = (*ops)[j];
        if (conv.output != c.input && conv.output != c.addend) continue;
        if (!fusion_blocker(graph, conv, c, options).empty()) continue;
        const int other = c.input == conv.output ? c.addend : c.input;
        // The other operand must be ready when the convolution runs.
        bool ready = true;
        for (size_t k = j; k < ops->size(); ++k) ready &= (*ops)[k].output != other;
        if (!ready) continue;
        NpuConv f = fuse_add(graph, conv, c);
        if (!finish(f, options).supported) continue;
        conv = std::move(f);
        fused = true;
      }
      if (fused) continue;
    }
    ops->push_back(std::move(c));
  }
  return {};
}

}  // namespace nonstick::rocket
