#include "ir/graph.h"

#include <cstdio>
#include <set>
#include <sstream>

namespace nonstick::ir {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kUInt8: return "uint8";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kFloat32: return "float32";
    case DType::kBool: return "bool";
  }
  return "?";
}

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kUInt8:
    case DType::kInt8:
    case DType::kBool: return 1;
    case DType::kInt16: return 2;
    case DType::kInt32:
    case DType::kFloat32: return 4;
    case DType::kInt64: return 8;
  }
  return 1;
}

int64_t Tensor::num_elements() const {
  int64_t n = 1;
  for (int32_t d : shape) n *= d;
  return n;
}

std::string_view op_name(OpType t) {
  switch (t) {
    case OpType::kConv2D: return "CONV_2D";
    case OpType::kDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case OpType::kFullyConnected: return "FULLY_CONNECTED";
    case OpType::kAdd: return "ADD";
    case OpType::kSub: return "SUB";
    case OpType::kMul: return "MUL";
    case OpType::kAveragePool2D: return "AVERAGE_POOL_2D";
    case OpType::kMaxPool2D: return "MAX_POOL_2D";
    case OpType::kConcatenation: return "CONCATENATION";
    case OpType::kSplit: return "SPLIT";
    case OpType::kPad: return "PAD";
    case OpType::kReshape: return "RESHAPE";
    case OpType::kSoftmax: return "SOFTMAX";
    case OpType::kLogistic: return "LOGISTIC";
    case OpType::kHardSwish: return "HARD_SWISH";
    case OpType::kRelu: return "RELU";
    case OpType::kRelu6: return "RELU6";
    case OpType::kMean: return "MEAN";
    case OpType::kResizeNearestNeighbor: return "RESIZE_NEAREST_NEIGHBOR";
    case OpType::kStridedSlice: return "STRIDED_SLICE";
    case OpType::kTranspose: return "TRANSPOSE";
    case OpType::kQuantize: return "QUANTIZE";
    case OpType::kDequantize: return "DEQUANTIZE";
  }
  return "?";
}

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::kNone: return "NONE";
    case Activation::kRelu: return "RELU";
    case Activation::kReluN1To1: return "RELU_N1_TO_1";
    case Activation::kRelu6: return "RELU6";
  }
  return "?";
}

const Tensor* Graph::input(const Operation& op, size_t i) const {
  if (i >= op.inputs.size() || op.inputs[i] < 0) return nullptr;
  return &tensor(op.inputs[i]);
}

std::string validate(const Graph& g) {
  const int n = static_cast<int>(g.tensors.size());
  auto bad_index = [n](int i) { return i < -1 || i >= n; };
  for (const Tensor& t : g.tensors) {
    for (int32_t d : t.shape) {
      if (d < 0) return "tensor '" + t.name + "' has a negative dimension";
    }
    if (t.constant && t.data.size() != t.num_bytes()) {
      return "constant tensor '" + t.name + "' holds " + std::to_string(t.data.size()) +
             " bytes, its shape needs " + std::to_string(t.num_bytes());
    }
    if (!t.quant.empty() && t.quant.zero_points.size() != t.quant.scales.size()) {
      return "tensor '" + t.name + "' has mismatched scale and zero-point counts";
    }
  }
  std::set<int> produced;
  for (const Operation& op : g.ops) {
    for (int i : op.inputs) {
      if (bad_index(i)) return std::string(op_name(op.type)) + " reads tensor index out of range";
    }
    for (int o : op.outputs) {
      if (o < 0 || o >= n) return std::string(op_name(op.type)) + " writes tensor index out of range";
      if (!produced.insert(o).second) return "tensor '" + g.tensor(o).name + "' is written twice";
      if (g.tensor(o).constant) return "op writes constant tensor '" + g.tensor(o).name + "'";
    }
  }
  for (int i : g.inputs) {
    if (i < 0 || i >= n) return "graph input index out of range";
  }
  for (int o : g.outputs) {
    if (o < 0 || o >= n) return "graph output index out of range";
  }
  return {};
}

std::string describe(const Tensor& t) {
  std::ostringstream s;
  s << dtype_name(t.dtype) << "[";
  for (size_t i = 0; i < t.shape.size(); ++i) s << (i ? "x" : "") << t.shape[i];
  s << "]";
  if (t.quant.per_channel()) {
    s << " q(per-channel axis " << t.quant.axis << ", " << t.quant.scales.size() << " scales)";
  } else if (!t.quant.empty()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " q(s=%.6g zp=%d)", static_cast<double>(t.quant.scale()),
                  t.quant.zero_point());
    s << buf;
  }
  if (t.constant) s << " const";
  return s.str();
}

std::string describe(const Graph& g, const Operation& op) {
  std::ostringstream s;
  s << op_name(op.type) << " (";
  bool first = true;
  for (int i : op.inputs) {
    if (i < 0) continue;
    s << (first ? "" : ", ") << describe(g.tensor(i));
    first = false;
  }
  s << ") -> (";
  first = true;
  for (int o : op.outputs) {
    s << (first ? "" : ", ") << describe(g.tensor(o));
    first = false;
  }
  s << ")";
  return s.str();
}

}  // namespace nonstick::ir
