// The model writer alone, against TensorFlow Lite's CPU kernels: every op it
// writes must parse, allocate and run with the expected output shapes, and a
// few tiny cases must give hand-computed values (proving the quantization
// fields and the recreated constant operands).
#include "support/model_writer.h"

#include <gtest/gtest.h>

#include <cstring>

#include "support/op_harness.h"
#include "support/random_data.h"
#include "tflite/interpreter.h"

namespace nonstick::testing {
namespace {

using ir::DType;
using ir::OpType;

template <typename T>
std::vector<uint8_t> bytes_of(std::vector<T> values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <typename T>
std::vector<T> values_of(const std::vector<uint8_t>& bytes) {
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

// Runs the graph once on TFLite's CPU kernels with the given input bytes.
struct CpuRun {
  std::unique_ptr<tflite::Interpreter> interpreter;
  std::vector<std::vector<uint8_t>> outputs;
};

CpuRun run(const ir::Graph& g, const std::vector<std::vector<uint8_t>>& inputs) {
  CpuRun r;
  std::string error;
  std::vector<uint8_t> model = write_tflite_model(g, &error);
  EXPECT_FALSE(model.empty()) << error;
  if (model.empty()) return r;
  r.interpreter = tflite::Interpreter::create(model, nullptr, 1, &error);
  EXPECT_TRUE(r.interpreter) << error;
  if (!r.interpreter) return r;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status s = r.interpreter->set_input(static_cast<int>(i), inputs[i].data(), inputs[i].size());
    EXPECT_TRUE(s.ok()) << s.message();
  }
  Status s = r.interpreter->invoke();
  EXPECT_TRUE(s.ok()) << s.message();
  for (int i = 0; i < r.interpreter->output_count(); ++i) {
    r.outputs.emplace_back();
    EXPECT_TRUE(r.interpreter->get_output(i, &r.outputs.back()).ok());
  }
  return r;
}

TEST(ModelWriter, ConvUint8MatchesHandComputation) {
  // real input [1, -2], filter [1, -2], bias 2: 1 + 4 + 2 = 7 -> q 17.
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 1, 1, 2}, 0.5f, 128);
  int filter = b.constant(DType::kUInt8, {1, 1, 1, 2}, {104, 92}, 0.25f, 100);
  int bias = b.constant(DType::kInt32, {1}, bytes_of<int32_t>({16}), 0.125f, 0);
  int out = b.tensor(DType::kUInt8, {1, 1, 1, 1}, 1.0f, 10);
  b.op(OpType::kConv2D, {in, filter, bias}, {out}, ir::ConvParams{});
  b.mark_output(out);
  CpuRun r = run(b.graph(), {{130, 124}});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], std::vector<uint8_t>{17});
}

ir::Graph depthwise_per_channel(int filter_axis) {
  // Channel 0: real 2 * 2 + 1 = 5 -> q 12; channel 1: -2 * 2 + 1 = -3 -> q -4.
  GraphBuilder b;
  int in = b.input(DType::kInt8, {1, 1, 1, 2}, 0.5f, -1);
  int filter = b.constant(DType::kInt8, {1, 1, 1, 2}, bytes_of<int8_t>({4, 8}));
  b.set_per_channel(filter, {0.5f, 0.25f}, {0, 0}, filter_axis);
  int bias = b.constant(DType::kInt32, {2}, bytes_of<int32_t>({4, 8}));
  b.set_per_channel(bias, {0.25f, 0.125f}, {0, 0}, 0);
  int out = b.tensor(DType::kInt8, {1, 1, 1, 2}, 0.5f, 2);
  b.op(OpType::kDepthwiseConv2D, {in, filter, bias}, {out}, ir::ConvParams{});
  b.mark_output(out);
  return b.graph();
}

TEST(ModelWriter, DepthwiseInt8PerChannelMatchesHandComputation) {
  CpuRun r = run(depthwise_per_channel(3), {bytes_of<int8_t>({3, -5})});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(values_of<int8_t>(r.outputs[0]), (std::vector<int8_t>{12, -4}));
}

TEST(ModelWriter, PerChannelAxisReachesTflite) {
  // TFLite insists depthwise filters are quantized along dimension 3, so a
  // wrong axis must be refused: the quantized_dimension field is read.
  std::string error;
  std::vector<uint8_t> model = write_tflite_model(depthwise_per_channel(0), &error);
  ASSERT_FALSE(model.empty()) << error;
  EXPECT_FALSE(tflite::Interpreter::create(model, nullptr, 1, &error));
}

TEST(ModelWriter, FullyConnectedInt8WithoutBias) {
  GraphBuilder b;
  int in = b.input(DType::kInt8, {1, 3}, 1.0f, 0);
  int w = b.constant(DType::kInt8, {2, 3}, bytes_of<int8_t>({1, 1, 1, 1, -1, 2}));
  int out = b.tensor(DType::kInt8, {1, 2}, 1.0f, 0);
  b.op(OpType::kFullyConnected, {in, w, -1}, {out}, ir::FullyConnectedParams{});
  b.mark_output(out);
  CpuRun r = run(b.graph(), {bytes_of<int8_t>({1, 2, 3})});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(values_of<int8_t>(r.outputs[0]), (std::vector<int8_t>{6, 5}));
}

// Data-movement ops whose result follows from the constant operands alone.
std::vector<uint8_t> iota(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i + 1);
  return v;
}

TEST(ModelWriter, PadFillsWithTheZeroPoint) {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 1, 2, 1}, 0.1f, 9);
  int out = b.tensor(DType::kUInt8, {1, 1, 5, 1}, 0.1f, 9);
  b.op(OpType::kPad, {in}, {out}, ir::PadParams{{{0, 0}, {0, 0}, {1, 2}, {0, 0}}});
  b.mark_output(out);
  CpuRun r = run(b.graph(), {{1, 2}});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{9, 1, 2, 9, 9}));
}

TEST(ModelWriter, SplitTakesAxisFromItsFirstOperand) {
  GraphBuilder b;
  int in = b.input(DType::kInt8, {1, 2, 2, 2}, 0.1f, 0);
  int a = b.tensor(DType::kInt8, {1, 2, 1, 2}, 0.1f, 0);
  int c = b.tensor(DType::kInt8, {1, 2, 1, 2}, 0.1f, 0);
  b.op(OpType::kSplit, {in}, {a, c}, ir::SplitParams{.axis = 2, .num_splits = 2});
  b.mark_output(a);
  b.mark_output(c);
  CpuRun r = run(b.graph(), {iota(8)});
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{1, 2, 5, 6}));
  EXPECT_EQ(r.outputs[1], (std::vector<uint8_t>{3, 4, 7, 8}));
}

TEST(ModelWriter, StridedSliceUsesBeginEndStrides) {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 1, 6, 1}, 0.1f, 0);
  int out = b.tensor(DType::kUInt8, {1, 1, 2, 1}, 0.1f, 0);
  ir::StridedSliceParams p;
  p.begin = {0, 0, 1, 0};
  p.end = {1, 1, 5, 1};
  p.strides = {1, 1, 2, 1};
  b.op(OpType::kStridedSlice, {in}, {out}, p);
  b.mark_output(out);
  CpuRun r = run(b.graph(), {iota(6)});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{2, 4}));
}

TEST(ModelWriter, TransposeUsesPerm) {
  GraphBuilder b;
  int in = b.input(DType::kInt8, {1, 2, 3}, 0.1f, 0);
  int out = b.tensor(DType::kInt8, {1, 3, 2}, 0.1f, 0);
  b.op(OpType::kTranspose, {in}, {out}, ir::TransposeParams{{0, 2, 1}});
  b.mark_output(out);
  CpuRun r = run(b.graph(), {iota(6)});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{1, 4, 2, 5, 3, 6}));
}

TEST(ModelWriter, MeanReducesTheGivenAxes) {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 2, 2, 2}, 0.1f, 0);
  int out = b.tensor(DType::kUInt8, {1, 1, 1, 2}, 0.1f, 0);
  b.op(OpType::kMean, {in}, {out}, ir::MeanParams{.axes = {1, 2}, .keep_dims = true});
  b.mark_output(out);
  CpuRun r = run(b.graph(), {{10, 1, 20, 1, 30, 1, 40, 5}});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{25, 2}));
}

TEST(ModelWriter, ReshapeAndResizeTakeTheOutputShape) {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 4}, 0.1f, 0);
  int square = b.tensor(DType::kUInt8, {1, 2, 2, 1}, 0.1f, 0);
  int big = b.tensor(DType::kUInt8, {1, 4, 4, 1}, 0.1f, 0);
  b.op(OpType::kReshape, {in}, {square});
  b.op(OpType::kResizeNearestNeighbor, {square}, {big}, ir::ResizeParams{});
  b.mark_output(big);
  CpuRun r = run(b.graph(), {iota(4)});
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0], (std::vector<uint8_t>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

// One small graph per op kind and dtype, built only to load and run.
ir::Graph single_op(OpType type, DType dt) {
  const float s = 0.05f;
  const int32_t zp = dt == DType::kUInt8 ? 128 : -3;
  const std::vector<int32_t> shape = {1, 4, 4, 3};
  GraphBuilder b(11);
  int in = b.input(dt, shape, s, zp);
  auto out = [&](std::vector<int32_t> sh, float scale, int32_t z) {
    int t = b.tensor(dt, std::move(sh), scale, z);
    b.mark_output(t);
    return t;
  };
  const int32_t w_zp = dt == DType::kUInt8 ? 120 : 0;
  switch (type) {
    case OpType::kConv2D: {
      int f = b.random_constant(dt, {5, 3, 3, 3}, 0.02f, w_zp);
      int bias = b.random_constant(DType::kInt32, {5}, s * 0.02f, 0);
      b.op(type, {in, f, bias}, {out({1, 2, 2, 5}, 0.1f, zp)},
           ir::ConvParams{.stride_w = 1, .stride_h = 1, .activation = ir::Activation::kRelu6});
      break;
    }
    case OpType::kDepthwiseConv2D: {
      int f = b.random_constant(dt, {1, 3, 3, 6}, 0.02f, w_zp);
      int bias = b.random_constant(DType::kInt32, {6}, s * 0.02f, 0);
      b.op(type, {in, f, bias}, {out({1, 4, 4, 6}, 0.1f, zp)},
           ir::ConvParams{.padding = ir::Padding::kSame, .depth_multiplier = 2});
      break;
    }
    case OpType::kFullyConnected: {
      int f = b.random_constant(dt, {7, 48}, 0.02f, w_zp);
      int bias = b.random_constant(DType::kInt32, {7}, s * 0.02f, 0);
      b.op(type, {in, f, bias}, {out({1, 7}, 0.2f, zp)}, ir::FullyConnectedParams{});
      break;
    }
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul: {
      int other = b.input(dt, {1, 1, 1, 3}, 0.07f, zp);  // broadcast
      b.op(type, {in, other}, {out(shape, 0.1f, zp)}, ir::ElementwiseParams{});
      break;
    }
    case OpType::kAveragePool2D:
    case OpType::kMaxPool2D:
      b.op(type, {in}, {out({1, 2, 2, 3}, s, zp)},
           ir::PoolParams{.stride_w = 2, .stride_h = 2, .filter_w = 2, .filter_h = 2});
      break;
    case OpType::kConcatenation: {
      // int8 concatenation insists on one scale for all; uint8 may rescale.
      int other = b.input(dt, {1, 4, 4, 2}, dt == DType::kUInt8 ? 0.03f : s, zp);
      b.op(type, {in, other}, {out({1, 4, 4, 5}, s, zp)}, ir::ConcatParams{.axis = 3});
      break;
    }
    case OpType::kSplit:
      b.op(type, {in}, {out({1, 4, 4, 1}, s, zp), out({1, 4, 4, 1}, s, zp), out({1, 4, 4, 1}, s, zp)},
           ir::SplitParams{.axis = 3, .num_splits = 3});
      break;
    case OpType::kPad:
      b.op(type, {in}, {out({1, 6, 5, 3}, s, zp)},
           ir::PadParams{{{0, 0}, {1, 1}, {0, 1}, {0, 0}}});
      break;
    case OpType::kReshape: b.op(type, {in}, {out({1, 48}, s, zp)}); break;
    case OpType::kSoftmax:
    case OpType::kLogistic:  // TFLite fixes the output scale of both
      b.op(type, {in}, {out(shape, 1.0f / 256, dt == DType::kUInt8 ? 0 : -128)},
           type == OpType::kSoftmax ? ir::OpParams{ir::SoftmaxParams{}} : ir::OpParams{});
      break;
    case OpType::kHardSwish:
    case OpType::kRelu:
    case OpType::kRelu6: b.op(type, {in}, {out(shape, 0.03f, zp)}); break;
    case OpType::kMean:
      b.op(type, {in}, {out({1, 3}, s, zp)}, ir::MeanParams{.axes = {1, 2}});
      break;
    case OpType::kResizeNearestNeighbor:
      b.op(type, {in}, {out({1, 8, 8, 3}, s, zp)}, ir::ResizeParams{.half_pixel_centers = true});
      break;
    case OpType::kStridedSlice: {
      ir::StridedSliceParams p{.begin = {0, 1, 0, 0}, .end = {1, 3, 4, 3}, .strides = {1, 1, 2, 1}};
      b.op(type, {in}, {out({1, 2, 2, 3}, s, zp)}, p);
      break;
    }
    case OpType::kTranspose:
      b.op(type, {in}, {out({1, 3, 4, 4}, s, zp)}, ir::TransposeParams{{0, 3, 1, 2}});
      break;
    case OpType::kQuantize: b.op(type, {in}, {out(shape, 0.07f, 5)}); break;
    case OpType::kDequantize: {
      int f = b.tensor(DType::kFloat32, shape);
      b.mark_output(f);
      b.op(type, {in}, {f});
      break;
    }
  }
  return b.graph();
}

constexpr OpType kAllOps[] = {
    OpType::kConv2D, OpType::kDepthwiseConv2D, OpType::kFullyConnected, OpType::kAdd,
    OpType::kSub, OpType::kMul, OpType::kAveragePool2D, OpType::kMaxPool2D,
    OpType::kConcatenation, OpType::kSplit, OpType::kPad, OpType::kReshape, OpType::kSoftmax,
    OpType::kLogistic, OpType::kHardSwish, OpType::kRelu, OpType::kRelu6, OpType::kMean,
    OpType::kResizeNearestNeighbor, OpType::kStridedSlice, OpType::kTranspose,
    OpType::kQuantize, OpType::kDequantize};

TEST(ModelWriter, EveryOpLoadsAndRunsOnTflite) {
  for (DType dt : {DType::kUInt8, DType::kInt8}) {
    for (OpType type : kAllOps) {
      SCOPED_TRACE(std::string(ir::op_name(type)) + " " + std::string(ir::dtype_name(dt)));
      ir::Graph g = single_op(type, dt);
      std::vector<std::vector<uint8_t>> inputs;
      Rng rng(5);
      for (int i : g.inputs) {
        inputs.push_back(random_values(dt, g.tensor(i).num_elements(), -128, 255, &rng));
      }
      CpuRun r = run(g, inputs);
      if (!r.interpreter) continue;
      ASSERT_EQ(r.interpreter->output_count(), static_cast<int>(g.outputs.size()));
      for (size_t o = 0; o < g.outputs.size(); ++o) {
        const ir::Tensor& t = g.tensor(g.outputs[o]);
        EXPECT_EQ(r.interpreter->output_info(static_cast<int>(o)).shape, t.shape);
        EXPECT_EQ(r.outputs[o].size(), t.num_bytes());
      }
    }
  }
}

// Options that raise an op's version beyond its dtype's base version.
TEST(ModelWriter, RaisedOpVersionsAreRegistered) {
  struct Case {
    const char* what;
    ir::Graph graph;
    int version;
  };
  std::vector<Case> cases;
  {
    GraphBuilder b;  // in1 * in2 / out >= 1
    int x = b.input(DType::kUInt8, {1, 2, 2, 1}, 0.5f, 128);
    int y = b.input(DType::kUInt8, {1, 2, 2, 1}, 0.5f, 128);
    int out = b.tensor(DType::kUInt8, {1, 2, 2, 1}, 0.125f, 128);
    b.op(OpType::kMul, {x, y}, {out});
    b.mark_output(out);
    cases.push_back({"MUL rescale >= 1", b.graph(), 3});
  }
  {
    GraphBuilder b;
    int x = b.input(DType::kInt8, {1, 2, 3}, 0.5f, 0);
    int w = b.random_constant(DType::kInt8, {4, 3}, 0.1f);
    int bias = b.random_constant(DType::kInt32, {4}, 0.05f);
    int out = b.tensor(DType::kInt8, {1, 2, 4}, 0.5f, 0);
    b.op(OpType::kFullyConnected, {x, w, bias}, {out}, ir::FullyConnectedParams{.keep_num_dims = true});
    b.mark_output(out);
    cases.push_back({"FULLY_CONNECTED keep_num_dims", b.graph(), 5});
  }
  {
    GraphBuilder b;
    int x = b.input(DType::kUInt8, {1, 5, 5, 2}, 0.5f, 128);
    int f = b.random_constant(DType::kUInt8, {1, 2, 2, 2}, 0.1f, 127);
    int bias = b.random_constant(DType::kInt32, {2}, 0.05f);
    int out = b.tensor(DType::kUInt8, {1, 3, 3, 2}, 0.5f, 128);
    b.op(OpType::kDepthwiseConv2D, {x, f, bias}, {out},
         ir::ConvParams{.dilation_w = 2, .dilation_h = 2});
    b.mark_output(out);
    cases.push_back({"DEPTHWISE_CONV_2D uint8 dilated", b.graph(), 2});
  }
  {
    GraphBuilder b;
    int x = b.input(DType::kInt8, {1, 2, 2, 2, 2}, 0.5f, 0);
    int out = b.tensor(DType::kInt8, {1, 2, 2, 2, 4}, 0.5f, 0);
    b.op(OpType::kPad, {x}, {out}, ir::PadParams{{{0, 0}, {0, 0}, {0, 0}, {0, 0}, {1, 1}}});
    b.mark_output(out);
    cases.push_back({"PAD rank 5", b.graph(), 4});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_EQ(tflite_op_version(c.graph, c.graph.ops[0]), c.version);
    std::vector<std::vector<uint8_t>> inputs;
    for (int i : c.graph.inputs) inputs.emplace_back(c.graph.tensor(i).num_bytes(), 0);
    CpuRun r = run(c.graph, inputs);
    EXPECT_EQ(r.outputs.size(), 1u);
  }
}

TEST(ModelWriter, RefusesInvalidGraphs) {
  GraphBuilder b;
  int in = b.input(DType::kUInt8, {1, 2});
  b.op(OpType::kRelu, {in}, {42});
  std::string error;
  EXPECT_TRUE(write_tflite_model(b.graph(), &error).empty());
  EXPECT_NE(error.find("out of range"), std::string::npos) << error;
}

TEST(RandomData, IsSplitMix64AndDeterministic) {
  Rng r(0);
  EXPECT_EQ(r.next(), 0xe220a8397b1dcdafull);  // splitmix64's published first value
  GraphBuilder a(3), b(3);
  EXPECT_EQ(a.graph().tensor(a.random_constant(DType::kInt8, {64})).data,
            b.graph().tensor(b.random_constant(DType::kInt8, {64})).data);
}

}  // namespace
}  // namespace nonstick::testing
