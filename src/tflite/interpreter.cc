#include "tflite/interpreter.h"

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace nonstick::tflite {

namespace {

// TFLite reports the cause first and "Node N failed to prepare" last: keep all.
std::string joined(const std::vector<std::string>& errors) {
  std::string s;
  for (const std::string& e : errors) s += (s.empty() ? ": " : "; ") + e;
  return s;
}

}  // namespace

void Interpreter::report(void* self, const char* format, va_list args) {
  char buf[1024];
  std::vsnprintf(buf, sizeof buf, format, args);
  static_cast<Interpreter*>(self)->errors_.emplace_back(buf);
}

std::unique_ptr<Interpreter> Interpreter::create(const std::vector<uint8_t>& model,
                                                 TfLiteDelegate* delegate, int threads,
                                                 std::string* error) {
  std::unique_ptr<Interpreter> it(new Interpreter());
  it->model_bytes_ = model;  // TFLite keeps pointing into these bytes
  it->model_ = TfLiteModelCreate(it->model_bytes_.data(), it->model_bytes_.size());
  if (!it->model_) {
    *error = "TFLite could not parse the model";
    return nullptr;
  }
  it->options_ = TfLiteInterpreterOptionsCreate();
  TfLiteInterpreterOptionsSetNumThreads(it->options_, threads);
  TfLiteInterpreterOptionsSetErrorReporter(it->options_, &Interpreter::report, it.get());
  if (delegate) TfLiteInterpreterOptionsAddDelegate(it->options_, delegate);
  it->interpreter_ = TfLiteInterpreterCreate(it->model_, it->options_);
  if (!it->interpreter_) {
    *error = "TFLite could not create an interpreter" + joined(it->errors_);
    return nullptr;
  }
  if (TfLiteInterpreterAllocateTensors(it->interpreter_) != kTfLiteOk) {
    *error = "TFLite could not allocate tensors" + joined(it->errors_);
    return nullptr;
  }
  return it;
}

Interpreter::~Interpreter() {
  if (interpreter_) TfLiteInterpreterDelete(interpreter_);
  if (options_) TfLiteInterpreterOptionsDelete(options_);
  if (model_) TfLiteModelDelete(model_);
}

int Interpreter::input_count() const { return TfLiteInterpreterGetInputTensorCount(interpreter_); }
int Interpreter::output_count() const { return TfLiteInterpreterGetOutputTensorCount(interpreter_); }

static TensorInfo info_of(const TfLiteTensor* t) {
  TensorInfo info;
  info.name = TfLiteTensorName(t) ? TfLiteTensorName(t) : "";
  info.type = TfLiteTensorType(t);
  for (int d = 0; d < TfLiteTensorNumDims(t); ++d) info.shape.push_back(TfLiteTensorDim(t, d));
  TfLiteQuantizationParams q = TfLiteTensorQuantizationParams(t);
  info.scale = q.scale;
  info.zero_point = q.zero_point;
  info.bytes = TfLiteTensorByteSize(t);
  return info;
}

TensorInfo Interpreter::input_info(int i) const {
  return info_of(TfLiteInterpreterGetInputTensor(interpreter_, i));
}
TensorInfo Interpreter::output_info(int i) const {
  return info_of(TfLiteInterpreterGetOutputTensor(interpreter_, i));
}

Status Interpreter::set_input(int i, const void* data, size_t bytes) {
  if (i < 0 || i >= input_count()) return Status::error("no input " + std::to_string(i));
  if (TfLiteTensorCopyFromBuffer(TfLiteInterpreterGetInputTensor(interpreter_, i), data, bytes) !=
      kTfLiteOk) {
    return Status::error("input " + std::to_string(i) + " expects " +
                         std::to_string(input_info(i).bytes) + " bytes, got " +
                         std::to_string(bytes));
  }
  return {};
}

Status Interpreter::invoke() {
  const size_t before = errors_.size();
  if (TfLiteInterpreterInvoke(interpreter_) != kTfLiteOk) {
    std::string message = "TFLite invoke failed";
    for (size_t i = before; i < errors_.size(); ++i) message += (i == before ? ": " : "; ") + errors_[i];
    return Status::error(message);
  }
  return {};
}

Status Interpreter::get_output(int i, std::vector<uint8_t>* out) const {
  if (i < 0 || i >= output_count()) return Status::error("no output " + std::to_string(i));
  const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interpreter_, i);
  out->resize(TfLiteTensorByteSize(t));
  if (TfLiteTensorCopyToBuffer(t, out->data(), out->size()) != kTfLiteOk) {
    return Status::error("could not read output " + std::to_string(i));
  }
  return {};
}

const uint8_t* Interpreter::output_data(int i) const {
  return static_cast<const uint8_t*>(TfLiteTensorData(TfLiteInterpreterGetOutputTensor(interpreter_, i)));
}

std::string_view type_name(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt32: return "int32";
    case kTfLiteUInt8: return "uint8";
    case kTfLiteInt64: return "int64";
    case kTfLiteBool: return "bool";
    case kTfLiteInt16: return "int16";
    case kTfLiteInt8: return "int8";
    default: return "other";
  }
}

std::vector<uint8_t> read_file(const std::string& path, std::string* error) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *error = "cannot open " + path;
    return {};
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty()) *error = path + " is empty";
  return bytes;
}

}  // namespace nonstick::tflite
