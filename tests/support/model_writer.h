// Serialises an ir::Graph as a TensorFlow Lite flatbuffer (one subgraph), so
// tests can run the same graph on TFLite's own kernels and on the delegate.
//
// IR conventions the writer undoes: ops carry only data inputs, and operands
// TFLite passes as constant int32 tensors live in the op params. The writer
// recreates them: PAD paddings [rank, 2], MEAN axes, SPLIT axis (TFLite input
// 0, data input 1), STRIDED_SLICE begin/end/strides, TRANSPOSE perm, RESHAPE
// shape and RESIZE_NEAREST_NEIGHBOR size (both taken from the output tensor).
// An input index of -1 (absent bias) is written as -1. Ops whose params are
// left as std::monostate get the default params of their kind.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace nonstick::testing {

// Returns the .tflite bytes, or an empty vector with *error set when the
// graph is invalid or uses something the writer cannot express.
std::vector<uint8_t> write_tflite_model(const ir::Graph& g, std::string* error);

// The builtin operator version the writer stamps on `op`, by the rules
// TFLite's converter applies to its dtypes and options. TFLite refuses a
// model holding an op version it does not register ("Registration failed").
int tflite_op_version(const ir::Graph& g, const ir::Operation& op);

}  // namespace nonstick::testing
