#include "delegate/translate.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace nonstick {
namespace {

// Activations larger than this stay on the CPU: a sanity bound that keeps a
// hostile shape from turning into a huge allocation in a backend.
constexpr int64_t kMaxTensorBytes = int64_t{1} << 30;

struct OpInfo {
  int code;
  const char* name;
  int max_version;  // newer versions may change semantics: refused
};

// Versions follow TFLite's op_version.cc; higher versions add types or
// semantics nonstick has not been checked against.
constexpr OpInfo kOps[] = {
    {kTfLiteBuiltinAdd, "ADD", 5},
    {kTfLiteBuiltinAveragePool2d, "AVERAGE_POOL_2D", 3},
    {kTfLiteBuiltinConcatenation, "CONCATENATION", 4},
    {kTfLiteBuiltinConv2d, "CONV_2D", 8},
    {kTfLiteBuiltinDepthwiseConv2d, "DEPTHWISE_CONV_2D", 7},
    {kTfLiteBuiltinDequantize, "DEQUANTIZE", 5},
    {kTfLiteBuiltinFullyConnected, "FULLY_CONNECTED", 11},
    {kTfLiteBuiltinLogistic, "LOGISTIC", 3},
    {kTfLiteBuiltinMaxPool2d, "MAX_POOL_2D", 3},
    {kTfLiteBuiltinMul, "MUL", 7},
    {kTfLiteBuiltinRelu, "RELU", 3},
    {kTfLiteBuiltinRelu6, "RELU6", 3},
    {kTfLiteBuiltinReshape, "RESHAPE", 3},
    {kTfLiteBuiltinSoftmax, "SOFTMAX", 3},
    {kTfLiteBuiltinPad, "PAD", 4},
    {kTfLiteBuiltinTranspose, "TRANSPOSE", 6},
    {kTfLiteBuiltinMean, "MEAN", 3},
    {kTfLiteBuiltinSub, "SUB", 5},
    {kTfLiteBuiltinStridedSlice, "STRIDED_SLICE", 6},
    {kTfLiteBuiltinSplit, "SPLIT", 4},
    {kTfLiteBuiltinResizeNearestNeighbor, "RESIZE_NEAREST_NEIGHBOR", 4},
    {kTfLiteBuiltinQuantize, "QUANTIZE", 3},
    {kTfLiteBuiltinHardSwish, "HARD_SWISH", 1},
};

// Names of builtins nonstick does not translate, for readable reports.
struct OpName {
  int code;
  const char* name;
};
constexpr OpName kOtherNames[] = {
    {5, "DEPTH_TO_SPACE"}, {8, "FLOOR"}, {11, "L2_NORMALIZATION"}, {12, "L2_POOL_2D"},
    {13, "LOCAL_RESPONSE_NORMALIZATION"}, {16, "LSTM"}, {20, "RELU_N1_TO_1"},
    {23, "RESIZE_BILINEAR"}, {26, "SPACE_TO_DEPTH"}, {28, "TANH"}, {32, "CUSTOM"},
    {36, "GATHER"}, {37, "BATCH_TO_SPACE_ND"}, {38, "SPACE_TO_BATCH_ND"}, {42, "DIV"},
    {43, "SQUEEZE"}, {47, "EXP"}, {48, "TOPK_V2"}, {53, "CAST"}, {54, "PRELU"}, {55, "MAXIMUM"},
    {56, "ARG_MAX"}, {57, "MINIMUM"}, {60, "PADV2"}, {74, "SUM"}, {83, "PACK"}, {98, "LEAKY_RELU"},
    {99, "SQUARED_DIFFERENCE"}, {102, "ABS"}, {114, "QUANTIZE"}, {117, "HARD_SWISH"},
};

const OpInfo* find_op(int code) {
  for (const OpInfo& o : kOps) {
    if (o.code == code) return &o;
  }
  return nullptr;
}

bool map_activation(TfLiteFusedActivation a, ir::Activation* out, std::string* reason) {
  switch (a) {
    case kTfLiteActNone: *out = ir::Activation::kNone; return true;
    case kTfLiteActRelu: *out = ir::Activation::kRelu; return true;
    case kTfLiteActReluN1To1: *out = ir::Activation::kReluN1To1; return true;
    case kTfLiteActRelu6: *out = ir::Activation::kRelu6; return true;
    default:
      *reason = "fused activation " + std::to_string(static_cast<int>(a)) + " (TANH/SIGN_BIT/SIGMOID) not supported";
      return false;
  }
}

bool map_padding(TfLitePadding p, ir::Padding* out, std::string* reason) {
  if (p == kTfLitePaddingSame) *out = ir::Padding::kSame;
  else if (p == kTfLitePaddingValid) *out = ir::Padding::kValid;
  else {
    *reason = "unknown padding mode";
    return false;
  }
  return true;
}

const TfLiteTensor* tensor_at(const TfLiteContext* ctx, int index) {
  if (index < 0 || static_cast<size_t>(index) >= ctx->tensors_size) return nullptr;
  return &ctx->tensors[index];
}

bool is_constant(const TfLiteTensor& t) {
  return (t.allocation_type == kTfLiteMmapRo || t.allocation_type == kTfLitePersistentRo) && t.data;
}

// Reads a constant int32 operand (axis, paddings, perm, begin/end/strides).
bool constant_ints(const TfLiteContext* ctx, const TfLiteNode* node, int input,
                   std::vector<int32_t>* out, std::string* reason, const char* what) {
  if (input >= node->inputs->size) {
    *reason = std::string(what) + " operand missing";
    return false;
  }
  const TfLiteTensor* t = tensor_at(ctx, node->inputs->data[input]);
  if (!t || !is_constant(*t)) {
    *reason = std::string(what) + " must be a constant";
    return false;
  }
  if (t->type != kTfLiteInt32) {
    *reason = std::string(what) + " must be int32";
    return false;
  }
  const size_t n = t->bytes / sizeof(int32_t);
  out->resize(n);
  if (n) std::memcpy(out->data(), t->data, n * sizeof(int32_t));
  return true;
}

int rank_of(const TfLiteContext* ctx, int tensor) {
  const TfLiteTensor* t = tensor_at(ctx, tensor);
  return t && t->dims ? t->dims->size : 0;
}

// Normalises an axis against `rank`; false when out of range.
bool normalise_axis(int axis, int rank, int* out) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return false;
  *out = axis;
  return true;
}

bool translate_params(const TfLiteContext* ctx, const TfLiteNode* node, int code,
                      TranslatedNode* r) {
  ir::Operation& op = r->op;
  std::string& why = r->reason;
  const void* data = node->builtin_data;
  const int in0 = node->inputs->size > 0 ? node->inputs->data[0] : -1;
  auto need = [&](bool ok) {
    if (!ok) why = "missing builtin parameters";
    return ok;
  };
  // By default every node input is a data input.
  op.inputs.assign(node->inputs->data, node->inputs->data + node->inputs->size);

  switch (code) {
    case kTfLiteBuiltinConv2d: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteConvParams*>(data);
      ir::ConvParams c;
      c.stride_w = p->stride_width;
      c.stride_h = p->stride_height;
      c.dilation_w = p->dilation_width_factor;
      c.dilation_h = p->dilation_height_factor;
      if (!map_padding(p->padding, &c.padding, &why) || !map_activation(p->activation, &c.activation, &why))
        return false;
      op.type = ir::OpType::kConv2D;
      op.params = c;
      break;
    }
    case kTfLiteBuiltinDepthwiseConv2d: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteDepthwiseConvParams*>(data);
      ir::ConvParams c;
      c.stride_w = p->stride_width;
      c.stride_h = p->stride_height;
      c.dilation_w = p->dilation_width_factor;
      c.dilation_h = p->dilation_height_factor;
      c.depth_multiplier = p->depth_multiplier;
      if (!map_padding(p->padding, &c.padding, &why) || !map_activation(p->activation, &c.activation, &why))
        return false;
      op.type = ir::OpType::kDepthwiseConv2D;
      op.params = c;
      break;
    }
    case kTfLiteBuiltinFullyConnected: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteFullyConnectedParams*>(data);
      if (p->weights_format != kTfLiteFullyConnectedWeightsFormatDefault) {
        why = "shuffled weight format not supported";
        return false;
      }
      ir::FullyConnectedParams f;
      f.keep_num_dims = p->keep_num_dims;
      if (!map_activation(p->activation, &f.activation, &why)) return false;
      op.type = ir::OpType::kFullyConnected;
      op.params = f;
      break;
    }
    case kTfLiteBuiltinAdd:
    case kTfLiteBuiltinSub:
    case kTfLiteBuiltinMul: {
      if (!need(data)) return false;
      // ADD, SUB and MUL params all start with the activation.
      auto act = *static_cast<const TfLiteFusedActivation*>(data);
      ir::ElementwiseParams e;
      if (!map_activation(act, &e.activation, &why)) return false;
      op.type = code == kTfLiteBuiltinAdd ? ir::OpType::kAdd
                : code == kTfLiteBuiltinSub ? ir::OpType::kSub : ir::OpType::kMul;
      op.params = e;
      break;
    }
    case kTfLiteBuiltinAveragePool2d:
    case kTfLiteBuiltinMaxPool2d: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLitePoolParams*>(data);
      ir::PoolParams pp;
      pp.stride_w = p->stride_width;
      pp.stride_h = p->stride_height;
      pp.filter_w = p->filter_width;
      pp.filter_h = p->filter_height;
      if (!map_padding(p->padding, &pp.padding, &why) || !map_activation(p->activation, &pp.activation, &why))
        return false;
      op.type = code == kTfLiteBuiltinAveragePool2d ? ir::OpType::kAveragePool2D : ir::OpType::kMaxPool2D;
      op.params = pp;
      break;
    }
    case kTfLiteBuiltinConcatenation: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteConcatenationParams*>(data);
      ir::ConcatParams c;
      if (!normalise_axis(p->axis, rank_of(ctx, in0), &c.axis)) {
        why = "concatenation axis out of range";
        return false;
      }
      if (!map_activation(p->activation, &c.activation, &why)) return false;
      op.type = ir::OpType::kConcatenation;
      op.params = c;
      break;
    }
    case kTfLiteBuiltinSplit: {
      if (!need(data)) return false;
      std::vector<int32_t> axis;
      if (!constant_ints(ctx, node, 0, &axis, &why, "split axis")) return false;
      if (axis.size() != 1 || node->inputs->size != 2) {
        why = "split axis must be a scalar";
        return false;
      }
      ir::SplitParams s;
      s.num_splits = static_cast<const TfLiteSplitParams*>(data)->num_splits;
      if (!normalise_axis(axis[0], rank_of(ctx, node->inputs->data[1]), &s.axis)) {
        why = "split axis out of range";
        return false;
      }
      op.type = ir::OpType::kSplit;
      op.params = s;
      op.inputs = {node->inputs->data[1]};
      break;
    }
    case kTfLiteBuiltinPad: {
      std::vector<int32_t> pads;
      if (!constant_ints(ctx, node, 1, &pads, &why, "paddings")) return false;
      const int rank = rank_of(ctx, in0);
      if (static_cast<int>(pads.size()) != 2 * rank) {
        why = "paddings shape does not match input rank";
        return false;
      }
      ir::PadParams p;
      for (int d = 0; d < rank; ++d) p.paddings.emplace_back(pads[2 * d], pads[2 * d + 1]);
      op.type = ir::OpType::kPad;
      op.params = p;
      op.inputs = {in0};
      break;
    }
    case kTfLiteBuiltinReshape:
      // The target shape is the output tensor's (static shapes only).
      op.type = ir::OpType::kReshape;
      op.inputs = {in0};
      break;
    case kTfLiteBuiltinSoftmax: {
      if (!need(data)) return false;
      ir::SoftmaxParams s;
      s.beta = static_cast<const TfLiteSoftmaxParams*>(data)->beta;
      op.type = ir::OpType::kSoftmax;
      op.params = s;
      break;
    }
    case kTfLiteBuiltinLogistic: op.type = ir::OpType::kLogistic; break;
    case kTfLiteBuiltinHardSwish: op.type = ir::OpType::kHardSwish; break;
    case kTfLiteBuiltinRelu: op.type = ir::OpType::kRelu; break;
    case kTfLiteBuiltinRelu6: op.type = ir::OpType::kRelu6; break;
    case kTfLiteBuiltinQuantize: op.type = ir::OpType::kQuantize; break;
    case kTfLiteBuiltinDequantize: op.type = ir::OpType::kDequantize; break;
    case kTfLiteBuiltinMean: {
      if (!need(data)) return false;
      std::vector<int32_t> axes;
      if (!constant_ints(ctx, node, 1, &axes, &why, "mean axes")) return false;
      ir::MeanParams m;
      m.keep_dims = static_cast<const TfLiteReducerParams*>(data)->keep_dims;
      const int rank = rank_of(ctx, in0);
      for (int32_t a : axes) {
        int n = 0;
        if (!normalise_axis(a, rank, &n)) {
          why = "mean axis out of range";
          return false;
        }
        if (std::find(m.axes.begin(), m.axes.end(), n) == m.axes.end()) m.axes.push_back(n);
      }
      std::sort(m.axes.begin(), m.axes.end());
      op.type = ir::OpType::kMean;
      op.params = m;
      op.inputs = {in0};
      break;
    }
    case kTfLiteBuiltinResizeNearestNeighbor: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteResizeNearestNeighborParams*>(data);
      std::vector<int32_t> size;
      if (!constant_ints(ctx, node, 1, &size, &why, "resize size")) return false;
      ir::ResizeParams rp;
      rp.align_corners = p->align_corners;
      rp.half_pixel_centers = p->half_pixel_centers;
      op.type = ir::OpType::kResizeNearestNeighbor;
      op.params = rp;
      op.inputs = {in0};
      break;
    }
    case kTfLiteBuiltinStridedSlice: {
      if (!need(data)) return false;
      auto* p = static_cast<const TfLiteStridedSliceParams*>(data);
      ir::StridedSliceParams s;
      if (!constant_ints(ctx, node, 1, &s.begin, &why, "slice begin") ||
          !constant_ints(ctx, node, 2, &s.end, &why, "slice end") ||
          !constant_ints(ctx, node, 3, &s.strides, &why, "slice strides"))
        return false;
      s.begin_mask = p->begin_mask;
      s.end_mask = p->end_mask;
      s.ellipsis_mask = p->ellipsis_mask;
      s.new_axis_mask = p->new_axis_mask;
      s.shrink_axis_mask = p->shrink_axis_mask;
      op.type = ir::OpType::kStridedSlice;
      op.params = s;
      op.inputs = {in0};
      break;
    }
    case kTfLiteBuiltinTranspose: {
      ir::TransposeParams t;
      if (!constant_ints(ctx, node, 1, &t.perm, &why, "transpose permutation")) return false;
      op.type = ir::OpType::kTranspose;
      op.params = t;
      op.inputs = {in0};
      break;
    }
    default:
      why = "operation not supported by nonstick";
      return false;
  }
  return true;
}

}  // namespace

std::string builtin_op_name(const TfLiteRegistration* registration) {
  if (!registration) return "?";
  const int code = registration->builtin_code;
  if (code == kTfLiteBuiltinCustom) {
    return std::string("CUSTOM:") + (registration->custom_name ? registration->custom_name : "?");
  }
  if (const OpInfo* info = find_op(code)) return info->name;
  for (const OpName& n : kOtherNames) {
    if (n.code == code) return n.name;
  }
  return "BUILTIN_" + std::to_string(code);
}

bool translate_tensor(const TfLiteTensor& t, ir::Tensor* out, std::string* error) {
  out->name = t.name ? t.name : "";
  switch (t.type) {
    case kTfLiteUInt8: out->dtype = ir::DType::kUInt8; break;
    case kTfLiteInt8: out->dtype = ir::DType::kInt8; break;
    case kTfLiteInt16: out->dtype = ir::DType::kInt16; break;
    case kTfLiteInt32: out->dtype = ir::DType::kInt32; break;
    case kTfLiteInt64: out->dtype = ir::DType::kInt64; break;
    case kTfLiteFloat32: out->dtype = ir::DType::kFloat32; break;
    case kTfLiteBool: out->dtype = ir::DType::kBool; break;
    default:
      *error = "tensor '" + out->name + "' has unsupported type " + std::to_string(static_cast<int>(t.type));
      return false;
  }
  if (!t.dims) {
    *error = "tensor '" + out->name + "' has no shape";
    return false;
  }
  if (t.allocation_type == kTfLiteDynamic) {
    *error = "tensor '" + out->name + "' is dynamic";
    return false;
  }
  // A -1 in dims_signature (e.g. a free batch dimension) is fine: TFLite
  // re-prepares delegates after a resize, so dims are final here. The kernel
  // still checks byte counts on every invoke.
  if (t.dims->size > 6) {
    *error = "tensor '" + out->name + "' has rank above 6";
    return false;
  }
  out->shape.assign(t.dims->data, t.dims->data + t.dims->size);
  int64_t elements = 1;
  for (int32_t d : out->shape) {
    if (d <= 0) {
      *error = "tensor '" + out->name + "' is zero-sized";
      return false;
    }
    elements *= d;
    if (elements * static_cast<int64_t>(ir::dtype_size(out->dtype)) > kMaxTensorBytes) {
      *error = "tensor '" + out->name + "' is larger than 1 GiB";
      return false;
    }
  }
  if (out->num_bytes() != t.bytes) {
    *error = "tensor '" + out->name + "' byte size disagrees with its shape";
    return false;
  }

  out->quant = {};
  if (t.quantization.type == kTfLiteAffineQuantization && t.quantization.params) {
    auto* q = static_cast<const TfLiteAffineQuantization*>(t.quantization.params);
    if (!q->scale || !q->zero_point || q->scale->size < 1 ||
        (q->zero_point->size != q->scale->size && q->zero_point->size != 1)) {
      *error = "tensor '" + out->name + "' has malformed quantization";
      return false;
    }
    out->quant.scales.assign(q->scale->data, q->scale->data + q->scale->size);
    for (int i = 0; i < q->scale->size; ++i) {
      out->quant.zero_points.push_back(q->zero_point->data[q->zero_point->size == 1 ? 0 : i]);
    }
    out->quant.axis = q->quantized_dimension;
    if (out->quant.per_channel() &&
        (out->quant.axis < 0 || out->quant.axis >= out->rank() ||
         out->dim(out->quant.axis) != static_cast<int32_t>(out->quant.scales.size()))) {
      *error = "tensor '" + out->name + "' has per-channel scales that do not match its shape";
      return false;
    }
  } else if (t.params.scale != 0.0f) {
    out->quant.scales = {t.params.scale};
    out->quant.zero_points = {t.params.zero_point};
  }
  for (float s : out->quant.scales) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      *error = "tensor '" + out->name + "' has a non-positive or non-finite scale";
      return false;
    }
  }
  if (out->dtype == ir::DType::kUInt8 || out->dtype == ir::DType::kInt8) {
    const int32_t lo = out->dtype == ir::DType::kUInt8 ? 0 : -128;
    const int32_t hi = out->dtype == ir::DType::kUInt8 ? 255 : 127;
    for (int32_t zp : out->quant.zero_points) {
      if (zp < lo || zp > hi) {
        *error = "tensor '" + out->name + "' has a zero point outside its type's range";
        return false;
      }
    }
  }

  out->constant = is_constant(t);
  out->data.clear();
  if (out->constant) {
    const auto* bytes = static_cast<const uint8_t*>(t.data);
    out->data.assign(bytes, bytes + t.bytes);
  }
  return true;
}

TranslatedNode translate_node(const TfLiteContext* context, const TfLiteNode* node,
                              const TfLiteRegistration* registration, int node_index) {
  TranslatedNode r;
  r.op_name = builtin_op_name(registration);
  r.op.source_index = node_index;
  if (!node || !registration || !node->inputs || !node->outputs) {
    r.reason = "malformed node";
    return r;
  }
  const OpInfo* info = find_op(registration->builtin_code);
  if (!info) {
    r.reason = registration->builtin_code == kTfLiteBuiltinCustom ? "custom operation"
                                                                   : "operation not supported by nonstick";
    return r;
  }
  if (registration->version > info->max_version) {
    r.reason = "op version " + std::to_string(registration->version) + " is newer than nonstick knows (max " +
               std::to_string(info->max_version) + ")";
    return r;
  }
  for (int i = 0; i < node->inputs->size; ++i) {
    const int idx = node->inputs->data[i];
    if (idx != -1 && !tensor_at(context, idx)) {
      r.reason = "input tensor index out of range";
      return r;
    }
  }
  for (int i = 0; i < node->outputs->size; ++i) {
    if (!tensor_at(context, node->outputs->data[i])) {
      r.reason = "output tensor index out of range";
      return r;
    }
  }
  if (node->inputs->size < 1 || node->outputs->size < 1) {
    r.reason = "node without inputs or outputs";
    return r;
  }
  if (!translate_params(context, node, registration->builtin_code, &r)) return r;
  r.op.outputs.assign(node->outputs->data, node->outputs->data + node->outputs->size);
  r.ok = true;
  return r;
}

int GraphAssembler::local(int tflite_tensor, std::string* error) {
  if (tflite_tensor < 0) return -1;
  auto it = local_index_.find(tflite_tensor);
  if (it != local_index_.end()) return it->second;
  const TfLiteTensor* t = tensor_at(context_, tflite_tensor);
  if (!t) {
    *error = "tensor index out of range";
    return -2;
  }
  ir::Tensor tensor;
  if (!translate_tensor(*t, &tensor, error)) return -2;
  const int index = static_cast<int>(graph_.tensors.size());
  graph_.tensors.push_back(std::move(tensor));
  tflite_index_.push_back(tflite_tensor);
  local_index_[tflite_tensor] = index;
  return index;
}

bool GraphAssembler::add_op(const ir::Operation& op, std::string* error) {
  ir::Operation mapped = op;
  for (int& i : mapped.inputs) {
    if ((i = local(i, error)) == -2) return false;
  }
  for (int& o : mapped.outputs) {
    if ((o = local(o, error)) < 0) {
      if (error->empty()) *error = "op without output tensor";
      return false;
    }
  }
  graph_.ops.push_back(std::move(mapped));
  return true;
}

bool GraphAssembler::add_input(int tflite_tensor, std::string* error) {
  const int i = local(tflite_tensor, error);
  if (i < 0) return false;
  if (!graph_.tensor(i).constant) graph_.inputs.push_back(i);
  return true;
}

bool GraphAssembler::add_output(int tflite_tensor, std::string* error) {
  const int o = local(tflite_tensor, error);
  if (o < 0) return false;
  graph_.outputs.push_back(o);
  return true;
}

}  // namespace nonstick
