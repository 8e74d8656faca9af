// A small RAII wrapper over the TFLite C API for the nonstick tool and tests:
// load a model, optionally attach a delegate, feed bytes, read bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tflite/c_api.h"

namespace nonstick::tflite {

struct TensorInfo {
  std::string name;
  TfLiteType type = kTfLiteNoType;
  std::vector<int32_t> shape;
  float scale = 0;
  int32_t zero_point = 0;
  size_t bytes = 0;
};

class Interpreter {
 public:
  // `delegate` may be null (TFLite's own CPU kernels). The model bytes are
  // copied. Returns null and sets *error on failure.
  static std::unique_ptr<Interpreter> create(const std::vector<uint8_t>& model,
                                             TfLiteDelegate* delegate, int threads,
                                             std::string* error);
  ~Interpreter();

  int input_count() const;
  int output_count() const;
  TensorInfo input_info(int i) const;
  TensorInfo output_info(int i) const;

  Status set_input(int i, const void* data, size_t bytes);
  Status invoke();
  Status get_output(int i, std::vector<uint8_t>* out) const;
  // Raw pointer to an output's data (valid until the next invoke).
  const uint8_t* output_data(int i) const;

  // Errors TFLite reported through its error reporter, newest last.
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  Interpreter() = default;
  static void report(void* self, const char* format, va_list args);

  std::vector<uint8_t> model_bytes_;
  TfLiteModel* model_ = nullptr;
  TfLiteInterpreterOptions* options_ = nullptr;
  TfLiteInterpreter* interpreter_ = nullptr;
  std::vector<std::string> errors_;
};

std::string_view type_name(TfLiteType type);
// Reads a whole file; empty with *error set on failure.
std::vector<uint8_t> read_file(const std::string& path, std::string* error);

}  // namespace nonstick::tflite
