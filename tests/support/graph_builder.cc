// GraphBuilder (declared in op_harness.h): terse construction of test graphs.
#include "support/op_harness.h"
#include "support/random_data.h"

namespace nonstick::testing {
namespace {

// Float and bool tensors carry no quantization; neither do int32/int64
// tensors left at the identity (scale 1, zero point 0), such as shapes.
ir::Quantization quantization(ir::DType dtype, float scale, int32_t zero_point) {
  ir::Quantization q;
  bool wide_identity = (dtype == ir::DType::kInt32 || dtype == ir::DType::kInt64) &&
                       scale == 1.0f && zero_point == 0;
  if (dtype == ir::DType::kFloat32 || dtype == ir::DType::kBool || wide_identity) return q;
  q.scales = {scale};
  q.zero_points = {zero_point};
  return q;
}

}  // namespace

int GraphBuilder::tensor(ir::DType dtype, std::vector<int32_t> shape, float scale,
                         int32_t zero_point) {
  ir::Tensor t;
  t.name = "t" + std::to_string(graph_.tensors.size());
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.quant = quantization(dtype, scale, zero_point);
  graph_.tensors.push_back(std::move(t));
  return static_cast<int>(graph_.tensors.size() - 1);
}

int GraphBuilder::input(ir::DType dtype, std::vector<int32_t> shape, float scale,
                        int32_t zero_point) {
  int index = tensor(dtype, std::move(shape), scale, zero_point);
  graph_.tensor(index).name = "input" + std::to_string(graph_.inputs.size());
  graph_.inputs.push_back(index);
  return index;
}

void GraphBuilder::mark_output(int tensor) { graph_.outputs.push_back(tensor); }

int GraphBuilder::constant(ir::DType dtype, std::vector<int32_t> shape, std::vector<uint8_t> bytes,
                           float scale, int32_t zero_point) {
  int index = tensor(dtype, std::move(shape), scale, zero_point);
  ir::Tensor& t = graph_.tensor(index);
  t.name = "const" + std::to_string(index);
  t.data = std::move(bytes);
  t.constant = true;
  return index;
}

int GraphBuilder::random_constant(ir::DType dtype, std::vector<int32_t> shape, float scale,
                                  int32_t zero_point, int32_t bias_range) {
  double lo, hi;
  dtype_range(dtype, &lo, &hi);
  if (dtype == ir::DType::kInt32 || dtype == ir::DType::kInt64) {  // biases (int64: 16x8 ops)
    lo = -bias_range;
    hi = bias_range;
  } else if (dtype == ir::DType::kInt8 && zero_point == 0) {
    lo = -127;  // symmetric int8 weights never use -128 (TFLite quantization spec)
  }
  int64_t count = 1;
  for (int32_t d : shape) count *= d;
  Rng rng(Rng::combine(seed_, counter_++));
  return constant(dtype, std::move(shape), random_values(dtype, count, lo, hi, &rng), scale,
                  zero_point);
}

void GraphBuilder::set_per_channel(int tensor, std::vector<float> scales,
                                   std::vector<int32_t> zero_points, int axis) {
  ir::Quantization& q = graph_.tensor(tensor).quant;
  q.scales = std::move(scales);
  q.zero_points = std::move(zero_points);
  q.axis = axis;
}

int GraphBuilder::op(ir::OpType type, std::vector<int> inputs, std::vector<int> outputs,
                     ir::OpParams params) {
  const int index = static_cast<int>(graph_.ops.size());
  ir::Operation o;
  o.type = type;
  o.inputs = std::move(inputs);
  o.outputs = std::move(outputs);
  o.params = std::move(params);
  o.source_index = index;
  graph_.ops.push_back(std::move(o));
  return index;
}

}  // namespace nonstick::testing
