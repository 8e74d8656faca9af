// Hardware-neutral graph: what the front end hands to every backend.
//
// Tensors are NHWC like TFLite's; quantized values are stored raw (uint8 or
// int8) with their affine parameters. A backend never sees TFLite types.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace nonstick::ir {

enum class DType : uint8_t { kUInt8, kInt8, kInt16, kInt32, kInt64, kFloat32, kBool };

std::string_view dtype_name(DType t);
size_t dtype_size(DType t);

// Affine quantization: real = scale * (q - zero_point). Per-channel when
// scales has more than one entry; `axis` names the channel dimension.
struct Quantization {
  std::vector<float> scales;
  std::vector<int32_t> zero_points;
  int axis = 0;

  bool empty() const { return scales.empty(); }
  bool per_channel() const { return scales.size() > 1; }
  float scale() const { return scales.empty() ? 0.0f : scales[0]; }
  int32_t zero_point() const { return zero_points.empty() ? 0 : zero_points[0]; }
};

struct Tensor {
  std::string name;
  DType dtype = DType::kUInt8;
  std::vector<int32_t> shape;
  Quantization quant;
  // Non-empty for constants (weights, biases, shape/axis operands), read at
  // compile time; empty for activations, whose data arrives at run time.
  std::vector<uint8_t> data;
  bool constant = false;

  int64_t num_elements() const;
  size_t num_bytes() const { return static_cast<size_t>(num_elements()) * dtype_size(dtype); }
  int rank() const { return static_cast<int>(shape.size()); }
  int32_t dim(int i) const { return shape[static_cast<size_t>(i)]; }

  template <typename T>
  std::span<const T> values() const {
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
};

enum class OpType : uint8_t {
  kConv2D,
  kDepthwiseConv2D,
  kFullyConnected,
  kAdd,
  kSub,
  kMul,
  kAveragePool2D,
  kMaxPool2D,
  kConcatenation,
  kSplit,
  kPad,
  kReshape,
  kSoftmax,
  kLogistic,
  kHardSwish,
  kRelu,
  kRelu6,
  kMean,
  kResizeNearestNeighbor,
  kStridedSlice,
  kTranspose,
  kQuantize,
  kDequantize,
};

std::string_view op_name(OpType t);  // TFLite's spelling, e.g. "CONV_2D"

enum class Activation : uint8_t { kNone, kRelu, kReluN1To1, kRelu6 };
enum class Padding : uint8_t { kSame, kValid };

std::string_view activation_name(Activation a);

struct ConvParams {  // CONV_2D and DEPTHWISE_CONV_2D
  Padding padding = Padding::kValid;
  int stride_w = 1, stride_h = 1;
  int dilation_w = 1, dilation_h = 1;
  int depth_multiplier = 1;  // depthwise only
  Activation activation = Activation::kNone;
};

struct PoolParams {
  Padding padding = Padding::kValid;
  int stride_w = 1, stride_h = 1;
  int filter_w = 1, filter_h = 1;
  Activation activation = Activation::kNone;
};

struct FullyConnectedParams {
  Activation activation = Activation::kNone;
  bool keep_num_dims = false;
};

struct ElementwiseParams {  // ADD, SUB, MUL
  Activation activation = Activation::kNone;
};

struct ConcatParams {
  int axis = 0;  // normalised to [0, rank)
  Activation activation = Activation::kNone;
};

struct SplitParams {
  int axis = 0;  // from the constant axis operand, normalised
  int num_splits = 1;
};

struct SoftmaxParams {
  float beta = 1.0f;
};

struct MeanParams {
  std::vector<int> axes;  // from the constant operand, normalised and sorted
  bool keep_dims = false;
};

struct ResizeParams {
  bool align_corners = false;
  bool half_pixel_centers = false;
};

struct StridedSliceParams {
  // begin/end/strides come from constant operands.
  std::vector<int32_t> begin, end, strides;
  int begin_mask = 0, end_mask = 0, ellipsis_mask = 0, new_axis_mask = 0, shrink_axis_mask = 0;
};

struct PadParams {
  std::vector<std::pair<int32_t, int32_t>> paddings;  // per dimension, before/after
};

struct TransposeParams {
  std::vector<int32_t> perm;
};

using OpParams = std::variant<std::monostate, ConvParams, PoolParams, FullyConnectedParams,
                              ElementwiseParams, ConcatParams, SplitParams, SoftmaxParams,
                              MeanParams, ResizeParams, StridedSliceParams, PadParams,
                              TransposeParams>;

struct Operation {
  OpType type = OpType::kAdd;
  std::vector<int> inputs;   // tensor indices; -1 for an absent optional input (bias)
  std::vector<int> outputs;
  OpParams params;
  int source_index = -1;  // the node index in the source model, for reports

  template <typename P>
  const P& get() const { return std::get<P>(params); }
};

// A graph is the unit a backend compiles: one delegated partition.
struct Graph {
  std::vector<Tensor> tensors;
  std::vector<Operation> ops;  // in execution order
  std::vector<int> inputs;     // non-constant tensors fed at run time
  std::vector<int> outputs;

  const Tensor& tensor(int index) const { return tensors[static_cast<size_t>(index)]; }
  Tensor& tensor(int index) { return tensors[static_cast<size_t>(index)]; }
  // The op's i-th input tensor, or nullptr for an absent optional input.
  const Tensor* input(const Operation& op, size_t i) const;
  const Tensor& output(const Operation& op, size_t i) const { return tensor(op.outputs[i]); }
};

// Structural checks every backend may rely on: indices in range, constants
// carrying exactly num_bytes() of data, outputs produced once. Returns an
// empty string when valid, else the first problem found.
std::string validate(const Graph& g);

// One line per op: index, type, shapes, dtypes and quantization.
std::string describe(const Graph& g, const Operation& op);
std::string describe(const Tensor& t);

}  // namespace nonstick::ir
