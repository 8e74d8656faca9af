// Test helpers for comparing the rocket backend with Mesa's captured command
// streams (/work/shared/goldens/rocket, see its README): a reader for the
// submit_NNNN.json files (only the fields used here) and a .tflite reader
// that turns a real model into an ir::Graph (convolution-family ops and ADD).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/test_data.h"
#include "tflite_schema_generated.h"

namespace nonstick::testing::golden {

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline std::string goldens_dir() { return shared_dir() + "/goldens/rocket"; }

struct Bo {
  uint32_t handle = 0;
  uint64_t dma = 0;
  uint32_t size = 0;
  std::string blob;  // path relative to the model folder
};

struct Task {
  uint32_t dma = 0;
  std::vector<uint64_t> words;
};

struct Job {
  std::vector<Task> tasks;
  std::vector<uint32_t> in_handles, out_handles;
};

struct Submit {
  std::string dir;  // model folder
  std::vector<Job> jobs;
  std::vector<Bo> bos;

  const Bo* bo_by_handle(uint32_t h) const {
    for (const Bo& b : bos) {
      if (b.handle == h) return &b;
    }
    return nullptr;
  }
  // The BO whose [dma, dma + size) holds `address`.
  const Bo* bo_at(uint64_t address) const {
    for (const Bo& b : bos) {
      if (address >= b.dma && address < b.dma + b.size) return &b;
    }
    return nullptr;
  }
  std::vector<uint8_t> blob(const Bo& b) const { return read_bytes(dir + "/" + b.blob); }
};

namespace detail {
// Position just after `"key":` at or after `from`, or npos.
inline size_t after_key(const std::string& s, const std::string& key, size_t from) {
  const size_t k = s.find("\"" + key + "\"", from);
  if (k == std::string::npos) return k;
  return s.find(':', k) + 1;
}
inline uint64_t number_at(const std::string& s, size_t pos) { return std::stoull(s.substr(pos, 24)); }
inline std::string string_at(const std::string& s, size_t pos) {
  const size_t a = s.find('"', pos), b = s.find('"', a + 1);
  return s.substr(a + 1, b - a - 1);
}
inline std::vector<uint32_t> numbers_in_list(const std::string& s, size_t pos) {
  std::vector<uint32_t> v;
  const size_t open = s.find('[', pos), close = s.find(']', open);
  std::stringstream in(s.substr(open + 1, close - open - 1));
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.find_first_of("0123456789") != std::string::npos) v.push_back(static_cast<uint32_t>(std::stoul(item)));
  }
  return v;
}
}  // namespace detail

// Reads <model>/submit_<index>.json and the regcmd blobs it names.
inline bool load_submit(const std::string& model, int index, Submit* out) {
  using namespace detail;
  Submit sub;
  sub.dir = goldens_dir() + "/" + model;
  char name[32];
  std::snprintf(name, sizeof name, "/submit_%04d.json", index);
  std::ifstream f(sub.dir + name);
  if (!f) return false;
  const std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t bos_at = s.find("\"bos\"");
  for (size_t p = after_key(s, "job_index", 0); p != std::string::npos && p < bos_at;
       p = after_key(s, "job_index", p)) {
    Job job;
    job.in_handles = numbers_in_list(s, after_key(s, "in_bo_handles", p));
    job.out_handles = numbers_in_list(s, after_key(s, "out_bo_handles", p));
    const size_t next_job = std::min(s.find("\"job_index\"", p), bos_at);
    for (size_t t = after_key(s, "regcmd_dma", p); t != std::string::npos && t < next_job;
         t = after_key(s, "regcmd_dma", t)) {
      Task task;
      task.dma = static_cast<uint32_t>(number_at(s, t));
      const std::vector<uint8_t> raw = read_bytes(sub.dir + "/" + string_at(s, after_key(s, "regcmd_blob", t)));
      task.words.resize(raw.size() / 8);
      std::memcpy(task.words.data(), raw.data(), task.words.size() * 8);
      job.tasks.push_back(std::move(task));
    }
    sub.jobs.push_back(std::move(job));
  }
  for (size_t p = after_key(s, "handle", bos_at); p != std::string::npos; p = after_key(s, "handle", p)) {
    Bo b;
    b.handle = static_cast<uint32_t>(number_at(s, p));
    b.size = static_cast<uint32_t>(number_at(s, after_key(s, "size", p)));
    b.dma = number_at(s, after_key(s, "dma_address", p));
    b.blob = string_at(s, after_key(s, "blob", p));
    sub.bos.push_back(std::move(b));
  }
  *out = std::move(sub);
  return true;
}

// Value of the last write to register `offset` in `words` (0 if none).
inline uint32_t reg_value(const std::vector<uint64_t>& words, uint16_t offset) {
  uint32_t v = 0;
  for (uint64_t w : words) {
    if ((w & 0xffff) == offset && (w >> 48) != 0) v = static_cast<uint32_t>(w >> 16);
  }
  return v;
}

// ---- .tflite -> ir::Graph (CONV_2D, DEPTHWISE_CONV_2D, ADD).

inline ir::DType dtype_of(tflite::TensorType t) {
  switch (t) {
    case tflite::TensorType_UINT8: return ir::DType::kUInt8;
    case tflite::TensorType_INT8: return ir::DType::kInt8;
    case tflite::TensorType_INT32: return ir::DType::kInt32;
    case tflite::TensorType_INT16: return ir::DType::kInt16;
    case tflite::TensorType_INT64: return ir::DType::kInt64;
    case tflite::TensorType_BOOL: return ir::DType::kBool;
    default: return ir::DType::kFloat32;
  }
}

inline ir::Activation activation_of(tflite::ActivationFunctionType a) {
  switch (a) {
    case tflite::ActivationFunctionType_RELU: return ir::Activation::kRelu;
    case tflite::ActivationFunctionType_RELU6: return ir::Activation::kRelu6;
    case tflite::ActivationFunctionType_RELU_N1_TO_1: return ir::Activation::kReluN1To1;
    default: return ir::Activation::kNone;
  }
}

// Every tensor of subgraph 0 (constants carry a copy of their data), and the
// convolution-family ops and ADDs in model order; other ops are skipped.
inline bool load_model(const std::string& path, ir::Graph* out) {
  const std::vector<uint8_t> bytes = read_bytes(path);
  if (bytes.empty()) return false;
  const tflite::Model* model = tflite::GetModel(bytes.data());
  const tflite::SubGraph* sg = model->subgraphs()->Get(0);
  ir::Graph g;
  for (const tflite::Tensor* t : *sg->tensors()) {
    ir::Tensor it;
    it.name = t->name() ? t->name()->str() : "";
    it.dtype = dtype_of(t->type());
    if (t->shape()) it.shape.assign(t->shape()->begin(), t->shape()->end());
    if (const auto* q = t->quantization()) {
      if (q->scale()) it.quant.scales.assign(q->scale()->begin(), q->scale()->end());
      if (q->zero_point()) {
        for (int64_t z : *q->zero_point()) it.quant.zero_points.push_back(static_cast<int32_t>(z));
      }
      it.quant.axis = q->quantized_dimension();
    }
    const auto* buf = model->buffers()->Get(t->buffer());
    if (buf && buf->data() && buf->data()->size() > 0) {
      it.data.assign(buf->data()->begin(), buf->data()->end());
      it.constant = true;
    }
    g.tensors.push_back(std::move(it));
  }
  int node = 0;
  for (const tflite::Operator* op : *sg->operators()) {
    const tflite::OperatorCode* code = model->operator_codes()->Get(op->opcode_index());
    const int builtin = std::max<int>(code->deprecated_builtin_code(), code->builtin_code());
    ir::Operation o;
    o.source_index = node++;
    o.inputs.assign(op->inputs()->begin(), op->inputs()->end());
    o.outputs.assign(op->outputs()->begin(), op->outputs()->end());
    if (builtin == tflite::BuiltinOperator_CONV_2D || builtin == tflite::BuiltinOperator_DEPTHWISE_CONV_2D) {
      ir::ConvParams c;
      if (builtin == tflite::BuiltinOperator_CONV_2D) {
        const auto* p = op->builtin_options_as_Conv2DOptions();
        c.padding = p->padding() == tflite::Padding_SAME ? ir::Padding::kSame : ir::Padding::kValid;
        c.stride_w = p->stride_w();
        c.stride_h = p->stride_h();
        c.dilation_w = p->dilation_w_factor();
        c.dilation_h = p->dilation_h_factor();
        c.activation = activation_of(p->fused_activation_function());
        o.type = ir::OpType::kConv2D;
      } else {
        const auto* p = op->builtin_options_as_DepthwiseConv2DOptions();
        c.padding = p->padding() == tflite::Padding_SAME ? ir::Padding::kSame : ir::Padding::kValid;
        c.stride_w = p->stride_w();
        c.stride_h = p->stride_h();
        c.dilation_w = p->dilation_w_factor();
        c.dilation_h = p->dilation_h_factor();
        c.depth_multiplier = p->depth_multiplier();
        c.activation = activation_of(p->fused_activation_function());
        o.type = ir::OpType::kDepthwiseConv2D;
      }
      o.params = c;
    } else if (builtin == tflite::BuiltinOperator_ADD) {
      ir::ElementwiseParams e;
      if (const auto* p = op->builtin_options_as_AddOptions()) e.activation = activation_of(p->fused_activation_function());
      o.type = ir::OpType::kAdd;
      o.params = e;
    } else {
      continue;
    }
    g.ops.push_back(std::move(o));
  }
  *out = std::move(g);
  return true;
}

using testing::model_path;

}  // namespace nonstick::testing::golden
