// TFLite node -> IR operation. Everything the front end cannot express
// faithfully (dynamic shapes, unknown op versions, unusual quantization,
// non-constant parameters) is refused here with a reason, before any backend
// is asked.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "tflite/abi.h"

namespace nonstick {

struct TranslatedNode {
  bool ok = false;
  std::string reason;  // when !ok
  std::string op_name;  // TFLite spelling, also for ops nonstick does not know
  ir::Operation op;     // inputs/outputs hold TFLite tensor indices (-1 = absent)
};

TranslatedNode translate_node(const TfLiteContext* context, const TfLiteNode* node,
                              const TfLiteRegistration* registration, int node_index);

// Name of a TFLite builtin operator code ("CUSTOM:<name>" for custom ops).
std::string builtin_op_name(const TfLiteRegistration* registration);

// Collects translated nodes into an ir::Graph, adding each TFLite tensor once
// and rewriting op tensor indices to graph-local ones.
class GraphAssembler {
 public:
  explicit GraphAssembler(const TfLiteContext* context) : context_(context) {}

  // Adds a translated op (tensor indices are TFLite's). Fails with *error on
  // a tensor the IR cannot represent.
  bool add_op(const ir::Operation& op, std::string* error);
  bool add_input(int tflite_tensor, std::string* error);
  bool add_output(int tflite_tensor, std::string* error);

  ir::Graph& graph() { return graph_; }
  // TFLite tensor index of each graph tensor.
  const std::vector<int>& tflite_index() const { return tflite_index_; }

 private:
  int local(int tflite_tensor, std::string* error);

  const TfLiteContext* context_;
  ir::Graph graph_;
  std::map<int, int> local_index_;
  std::vector<int> tflite_index_;
};

// Converts one TFLite tensor; false with *error for what the IR cannot hold.
bool translate_tensor(const TfLiteTensor& t, ir::Tensor* out, std::string* error);

}  // namespace nonstick
