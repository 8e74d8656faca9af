#include "support/model_writer.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>
#include <variant>

#include "tflite_schema_generated.h"

namespace nonstick::testing {
namespace {

namespace fb = flatbuffers;
using ir::DType;
using ir::OpType;

tflite::TensorType tensor_type(DType t) {
  switch (t) {
    case DType::kUInt8: return tflite::TensorType_UINT8;
    case DType::kInt8: return tflite::TensorType_INT8;
    case DType::kInt16: return tflite::TensorType_INT16;
    case DType::kInt32: return tflite::TensorType_INT32;
    case DType::kInt64: return tflite::TensorType_INT64;
    case DType::kFloat32: return tflite::TensorType_FLOAT32;
    case DType::kBool: return tflite::TensorType_BOOL;
  }
  return tflite::TensorType_FLOAT32;
}

tflite::ActivationFunctionType activation(ir::Activation a) {
  switch (a) {
    case ir::Activation::kNone: return tflite::ActivationFunctionType_NONE;
    case ir::Activation::kRelu: return tflite::ActivationFunctionType_RELU;
    case ir::Activation::kReluN1To1: return tflite::ActivationFunctionType_RELU_N1_TO_1;
    case ir::Activation::kRelu6: return tflite::ActivationFunctionType_RELU6;
  }
  return tflite::ActivationFunctionType_NONE;
}

tflite::Padding padding(ir::Padding p) {
  return p == ir::Padding::kSame ? tflite::Padding_SAME : tflite::Padding_VALID;
}

tflite::BuiltinOperator builtin_code(OpType t) {
  switch (t) {
    case OpType::kConv2D: return tflite::BuiltinOperator_CONV_2D;
    case OpType::kDepthwiseConv2D: return tflite::BuiltinOperator_DEPTHWISE_CONV_2D;
    case OpType::kFullyConnected: return tflite::BuiltinOperator_FULLY_CONNECTED;
    case OpType::kAdd: return tflite::BuiltinOperator_ADD;
    case OpType::kSub: return tflite::BuiltinOperator_SUB;
    case OpType::kMul: return tflite::BuiltinOperator_MUL;
    case OpType::kAveragePool2D: return tflite::BuiltinOperator_AVERAGE_POOL_2D;
    case OpType::kMaxPool2D: return tflite::BuiltinOperator_MAX_POOL_2D;
    case OpType::kConcatenation: return tflite::BuiltinOperator_CONCATENATION;
    case OpType::kSplit: return tflite::BuiltinOperator_SPLIT;
    case OpType::kPad: return tflite::BuiltinOperator_PAD;
    case OpType::kReshape: return tflite::BuiltinOperator_RESHAPE;
    case OpType::kSoftmax: return tflite::BuiltinOperator_SOFTMAX;
    case OpType::kLogistic: return tflite::BuiltinOperator_LOGISTIC;
    case OpType::kHardSwish: return tflite::BuiltinOperator_HARD_SWISH;
    case OpType::kRelu: return tflite::BuiltinOperator_RELU;
    case OpType::kRelu6: return tflite::BuiltinOperator_RELU6;
    case OpType::kMean: return tflite::BuiltinOperator_MEAN;
    case OpType::kResizeNearestNeighbor: return tflite::BuiltinOperator_RESIZE_NEAREST_NEIGHBOR;
    case OpType::kStridedSlice: return tflite::BuiltinOperator_STRIDED_SLICE;
    case OpType::kTranspose: return tflite::BuiltinOperator_TRANSPOSE;
    case OpType::kQuantize: return tflite::BuiltinOperator_QUANTIZE;
    case OpType::kDequantize: return tflite::BuiltinOperator_DEQUANTIZE;
  }
  return tflite::BuiltinOperator_ADD;
}

// The op's params of kind P; std::monostate stands for P's defaults.
template <typename P>
bool params_of(const ir::Operation& op, P* out, std::string* error) {
  if (std::holds_alternative<std::monostate>(op.params)) {
    *out = P{};
    return true;
  }
  if (const P* p = std::get_if<P>(&op.params)) {
    *out = *p;
    return true;
  }
  *error = std::string(ir::op_name(op.type)) + " op #" + std::to_string(op.source_index) +
           " carries params of another op kind";
  return false;
}

// Options of one op: the union tag and the table offset.
struct Options {
  tflite::BuiltinOptions type = tflite::BuiltinOptions_NONE;
  fb::Offset<void> table;
};

class Writer {
 public:
  explicit Writer(const ir::Graph& g) : g_(g) {}

  std::vector<uint8_t> finish(std::string* error);

 private:
  uint32_t add_buffer(const std::vector<uint8_t>& data);
  fb::Offset<tflite::Tensor> tensor_table(const ir::Tensor& t, int index);
  int int32_constant(const std::string& name, std::vector<int32_t> shape,
                     const std::vector<int32_t>& values);
  bool lower(const ir::Operation& op, std::vector<int>* inputs, Options* options);
  uint32_t opcode_index(const ir::Operation& op);

  const ir::Graph& g_;
  fb::FlatBufferBuilder fbb_;
  std::vector<fb::Offset<tflite::Buffer>> buffers_;
  std::vector<fb::Offset<tflite::Tensor>> tensors_;
  std::vector<fb::Offset<tflite::OperatorCode>> codes_;
  std::map<std::pair<int, int>, uint32_t> code_index_;  // (builtin, version) -> index
  std::string error_;
};

uint32_t Writer::add_buffer(const std::vector<uint8_t>& data) {
  // TFLite maps constant data in place; 16-byte alignment suits every dtype.
  fbb_.ForceVectorAlignment(data.size(), sizeof(uint8_t), 16);
  auto vec = fbb_.CreateVector(data);
  buffers_.push_back(tflite::CreateBuffer(fbb_, vec));
  return static_cast<uint32_t>(buffers_.size() - 1);
}

fb::Offset<tflite::Tensor> Writer::tensor_table(const ir::Tensor& t, int index) {
  uint32_t buffer = t.constant ? add_buffer(t.data) : 0;
  fb::Offset<tflite::QuantizationParameters> quant;
  if (!t.quant.empty()) {
    std::vector<int64_t> zero_points(t.quant.zero_points.begin(), t.quant.zero_points.end());
    quant = tflite::CreateQuantizationParameters(
        fbb_, 0, 0, fbb_.CreateVector(t.quant.scales), fbb_.CreateVector(zero_points),
        tflite::QuantizationDetails_NONE, 0, t.quant.per_channel() ? t.quant.axis : 0);
  }
  std::string name = t.name.empty() ? "t" + std::to_string(index) : t.name;
  return tflite::CreateTensor(fbb_, fbb_.CreateVector(t.shape), tensor_type(t.dtype), buffer,
                              fbb_.CreateString(name), quant);
}

int Writer::int32_constant(const std::string& name, std::vector<int32_t> shape,
                           const std::vector<int32_t>& values) {
  ir::Tensor t;
  t.name = name;
  t.dtype = DType::kInt32;
  t.shape = std::move(shape);
  t.constant = true;
  t.data.resize(values.size() * sizeof(int32_t));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  int index = static_cast<int>(tensors_.size());
  tensors_.push_back(tensor_table(t, index));
  return index;
}

uint32_t Writer::opcode_index(const ir::Operation& op) {
  tflite::BuiltinOperator code = builtin_code(op.type);
  int version = tflite_op_version(g_, op);
  auto key = std::make_pair(static_cast<int>(code), version);
  auto it = code_index_.find(key);
  if (it != code_index_.end()) return it->second;
  // Codes past 127 only fit the newer builtin_code field; older readers look
  // at deprecated_builtin_code, which TFLite's own writer caps at 127.
  auto legacy = static_cast<int8_t>(code < 127 ? code : 127);
  codes_.push_back(tflite::CreateOperatorCode(fbb_, legacy, 0, version, code));
  uint32_t index = static_cast<uint32_t>(codes_.size() - 1);
  code_index_[key] = index;
  return index;
}

// Fills the TFLite operand list (adding constant operand tensors) and builds
// the op's options table.
bool Writer::lower(const ir::Operation& op, std::vector<int>* inputs, Options* options) {
  const std::string prefix = std::string(ir::op_name(op.type)) + "_" +
                             std::to_string(op.source_index) + "_";
  const ir::Tensor* in = g_.input(op, 0);
  const ir::Tensor& out = g_.output(op, 0);
  *inputs = op.inputs;
  auto set = [options](tflite::BuiltinOptions type, auto table) {
    options->type = type;
    options->table = table.Union();
  };
  switch (op.type) {
    case OpType::kConv2D: {
      ir::ConvParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_Conv2DOptions,
          tflite::CreateConv2DOptions(fbb_, padding(p.padding), p.stride_w, p.stride_h,
                                      activation(p.activation), p.dilation_w, p.dilation_h));
      return true;
    }
    case OpType::kDepthwiseConv2D: {
      ir::ConvParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_DepthwiseConv2DOptions,
          tflite::CreateDepthwiseConv2DOptions(fbb_, padding(p.padding), p.stride_w, p.stride_h,
                                               p.depth_multiplier, activation(p.activation),
                                               p.dilation_w, p.dilation_h));
      return true;
    }
    case OpType::kFullyConnected: {
      ir::FullyConnectedParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_FullyConnectedOptions,
          tflite::CreateFullyConnectedOptions(fbb_, activation(p.activation),
                                              tflite::FullyConnectedOptionsWeightsFormat_DEFAULT,
                                              p.keep_num_dims));
      return true;
    }
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul: {
      ir::ElementwiseParams p;
      if (!params_of(op, &p, &error_)) return false;
      // int16 with arbitrary scales is the general (non power-of-two) kernel.
      bool pot_int16 = in && in->dtype != DType::kInt16;
      if (op.type == OpType::kAdd) {
        set(tflite::BuiltinOptions_AddOptions,
            tflite::CreateAddOptions(fbb_, activation(p.activation), pot_int16));
      } else if (op.type == OpType::kSub) {
        set(tflite::BuiltinOptions_SubOptions,
            tflite::CreateSubOptions(fbb_, activation(p.activation), pot_int16));
      } else {
        set(tflite::BuiltinOptions_MulOptions, tflite::CreateMulOptions(fbb_, activation(p.activation)));
      }
      return true;
    }
    case OpType::kAveragePool2D:
    case OpType::kMaxPool2D: {
      ir::PoolParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_Pool2DOptions,
          tflite::CreatePool2DOptions(fbb_, padding(p.padding), p.stride_w, p.stride_h,
                                      p.filter_w, p.filter_h, activation(p.activation)));
      return true;
    }
    case OpType::kConcatenation: {
      ir::ConcatParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_ConcatenationOptions,
          tflite::CreateConcatenationOptions(fbb_, p.axis, activation(p.activation)));
      return true;
    }
    case OpType::kSplit: {
      ir::SplitParams p;
      if (!params_of(op, &p, &error_)) return false;
      *inputs = {int32_constant(prefix + "axis", {}, {p.axis}), op.inputs.at(0)};
      set(tflite::BuiltinOptions_SplitOptions, tflite::CreateSplitOptions(fbb_, p.num_splits));
      return true;
    }
    case OpType::kPad: {
      ir::PadParams p;
      if (!params_of(op, &p, &error_)) return false;
      std::vector<int32_t> flat;
      for (auto [before, after] : p.paddings) {
        flat.push_back(before);
        flat.push_back(after);
      }
      int rank = static_cast<int>(p.paddings.size());
      inputs->push_back(int32_constant(prefix + "paddings", {rank, 2}, flat));
      set(tflite::BuiltinOptions_PadOptions, tflite::CreatePadOptions(fbb_));
      return true;
    }
    case OpType::kReshape: {
      inputs->push_back(int32_constant(prefix + "shape", {out.rank()}, out.shape));
      set(tflite::BuiltinOptions_ReshapeOptions,
          tflite::CreateReshapeOptions(fbb_, fbb_.CreateVector(out.shape)));
      return true;
    }
    case OpType::kSoftmax: {
      ir::SoftmaxParams p;
      if (!params_of(op, &p, &error_)) return false;
      set(tflite::BuiltinOptions_SoftmaxOptions, tflite::CreateSoftmaxOptions(fbb_, p.beta));
      return true;
    }
    case OpType::kLogistic:
    case OpType::kRelu:
    case OpType::kRelu6:
      return true;  // no options table
    case OpType::kHardSwish:
      set(tflite::BuiltinOptions_HardSwishOptions, tflite::CreateHardSwishOptions(fbb_));
      return true;
    case OpType::kMean: {
      ir::MeanParams p;
      if (!params_of(op, &p, &error_)) return false;
      std::vector<int32_t> axes(p.axes.begin(), p.axes.end());
      inputs->push_back(int32_constant(prefix + "axes", {static_cast<int32_t>(axes.size())}, axes));
      set(tflite::BuiltinOptions_ReducerOptions, tflite::CreateReducerOptions(fbb_, p.keep_dims));
      return true;
    }
    case OpType::kResizeNearestNeighbor: {
      ir::ResizeParams p;
      if (!params_of(op, &p, &error_)) return false;
      if (out.rank() != 4) {
        error_ = "RESIZE_NEAREST_NEIGHBOR needs a rank-4 output";
        return false;
      }
      inputs->push_back(int32_constant(prefix + "size", {2}, {out.dim(1), out.dim(2)}));
      set(tflite::BuiltinOptions_ResizeNearestNeighborOptions,
          tflite::CreateResizeNearestNeighborOptions(fbb_, p.align_corners, p.half_pixel_centers));
      return true;
    }
    case OpType::kStridedSlice: {
      ir::StridedSliceParams p;
      if (!params_of(op, &p, &error_)) return false;
      auto n = static_cast<int32_t>(p.begin.size());
      inputs->push_back(int32_constant(prefix + "begin", {n}, p.begin));
      inputs->push_back(int32_constant(prefix + "end", {n}, p.end));
      inputs->push_back(int32_constant(prefix + "strides", {n}, p.strides));
      set(tflite::BuiltinOptions_StridedSliceOptions,
          tflite::CreateStridedSliceOptions(fbb_, p.begin_mask, p.end_mask, p.ellipsis_mask,
                                            p.new_axis_mask, p.shrink_axis_mask));
      return true;
    }
    case OpType::kTranspose: {
      ir::TransposeParams p;
      if (!params_of(op, &p, &error_)) return false;
      inputs->push_back(
          int32_constant(prefix + "perm", {static_cast<int32_t>(p.perm.size())}, p.perm));
      set(tflite::BuiltinOptions_TransposeOptions, tflite::CreateTransposeOptions(fbb_));
      return true;
    }
    case OpType::kQuantize:
      set(tflite::BuiltinOptions_QuantizeOptions, tflite::CreateQuantizeOptions(fbb_));
      return true;
    case OpType::kDequantize:
      set(tflite::BuiltinOptions_DequantizeOptions, tflite::CreateDequantizeOptions(fbb_));
      return true;
  }
  error_ = "the model writer does not know op " + std::string(ir::op_name(op.type));
  return false;
}

std::vector<uint8_t> Writer::finish(std::string* error) {
  if (std::string problem = ir::validate(g_); !problem.empty()) {
    *error = "invalid graph: " + problem;
    return {};
  }
  for (const ir::Operation& op : g_.ops) {
    if (op.inputs.empty() || op.inputs[0] < 0 || op.outputs.empty()) {
      *error = std::string(ir::op_name(op.type)) + " needs a data input and an output";
      return {};
    }
  }
  buffers_.push_back(tflite::CreateBuffer(fbb_));  // the empty sentinel
  for (size_t i = 0; i < g_.tensors.size(); ++i) {
    tensors_.push_back(tensor_table(g_.tensors[i], static_cast<int>(i)));
  }
  std::vector<fb::Offset<tflite::Operator>> operators;
  for (size_t i = 0; i < g_.ops.size(); ++i) {
    ir::Operation op = g_.ops[i];
    if (op.source_index < 0) op.source_index = static_cast<int>(i);  // for names and errors
    std::vector<int> inputs;
    Options options;
    if (!lower(op, &inputs, &options)) {
      *error = error_;
      return {};
    }
    operators.push_back(tflite::CreateOperator(fbb_, opcode_index(op), fbb_.CreateVector(inputs),
                                               fbb_.CreateVector(op.outputs), options.type,
                                               options.table));
  }
  auto subgraph = tflite::CreateSubGraph(fbb_, fbb_.CreateVector(tensors_),
                                         fbb_.CreateVector(g_.inputs),
                                         fbb_.CreateVector(g_.outputs),
                                         fbb_.CreateVector(operators), fbb_.CreateString("main"));
  auto model = tflite::CreateModel(fbb_, 3, fbb_.CreateVector(codes_),
                                   fbb_.CreateVector(&subgraph, 1),
                                   fbb_.CreateString("nonstick test model"),
                                   fbb_.CreateVector(buffers_));
  tflite::FinishModelBuffer(fbb_, model);
  return {fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize()};
}

}  // namespace

// The rules of TFLite's tools/versioning/op_version.cc (what the converter
// stamps), restricted to the dtypes and options the IR can express.
int tflite_op_version(const ir::Graph& g, const ir::Operation& op) {
  if (!g.input(op, 0) || op.outputs.empty()) return 1;
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const bool i8 = in.dtype == DType::kInt8;
  const bool i16 = in.dtype == DType::kInt16;
  const int rank = in.rank();
  switch (op.type) {
    case OpType::kConv2D: return i16 ? 4 : i8 ? 3 : 1;
    case OpType::kDepthwiseConv2D: {
      if (i16) return 5;
      if (i8) return 3;
      const auto* p = std::get_if<ir::ConvParams>(&op.params);
      return p && (p->dilation_w != 1 || p->dilation_h != 1) ? 2 : 1;
    }
    case OpType::kFullyConnected: {
      const auto* p = std::get_if<ir::FullyConnectedParams>(&op.params);
      if (i16) return 7;
      if (op.inputs.size() == 2) return 6;
      if (p && p->keep_num_dims) return 5;
      return i8 ? 4 : 1;
    }
    case OpType::kAdd: return i16 ? 3 : i8 ? 2 : 1;
    case OpType::kSub: {
      if (i16) return 5;
      const ir::Tensor* other = g.input(op, 1);
      bool broadcast = other && other->shape != in.shape;
      if (broadcast && std::max(rank, other->rank()) > 4) return 3;
      return i8 ? 2 : 1;
    }
    case OpType::kMul: {
      if (i16) return 4;
      const ir::Tensor* other = g.input(op, 1);
      if (other && in.quant.scale() != 0 && other->quant.scale() != 0 && out.quant.scale() != 0 &&
          in.quant.scale() * other->quant.scale() / out.quant.scale() >= 1.0f) {
        return 3;
      }
      return i8 ? 2 : 1;
    }
    case OpType::kAveragePool2D:
    case OpType::kMaxPool2D:
    case OpType::kConcatenation:
    case OpType::kSoftmax:
    case OpType::kMean:
    case OpType::kRelu6:
    case OpType::kLogistic: return i16 ? 3 : i8 ? 2 : 1;
    case OpType::kRelu: return i16 ? 3 : (i8 || in.dtype == DType::kUInt8) ? 2 : 1;
    case OpType::kSplit: return i16 ? 4 : in.dtype == DType::kInt32 ? 3 : i8 ? 2 : 1;
    case OpType::kPad: return rank > 4 ? 4 : i16 ? 3 : i8 ? 2 : 1;
    case OpType::kResizeNearestNeighbor: {
      if (i16) return 4;
      const auto* p = std::get_if<ir::ResizeParams>(&op.params);
      if (p && (p->align_corners || p->half_pixel_centers)) return 3;
      return i8 ? 2 : 1;
    }
    case OpType::kStridedSlice: {
      const auto* p = std::get_if<ir::StridedSliceParams>(&op.params);
      if (p && (p->ellipsis_mask != 0 || p->new_axis_mask != 0)) return 6;
      if (rank > 4) return 4;
      return i8 ? 2 : 1;
    }
    case OpType::kTranspose:
      return rank > 5 ? 6 : i16 ? 5 : rank > 4 ? 4 : i8 ? 2 : 1;
    case OpType::kQuantize:
      return out.quant.per_channel() ? 3 : out.dtype == DType::kInt16 ? 2 : 1;
    case OpType::kDequantize:
      if (i16) return 3;
      if (i8) return in.quant.per_channel() ? 5 : 2;
      return 1;
    case OpType::kReshape:
    case OpType::kHardSwish: return 1;
  }
  return 1;
}

std::vector<uint8_t> write_tflite_model(const ir::Graph& g, std::string* error) {
  return Writer(g).finish(error);
}

}  // namespace nonstick::testing
