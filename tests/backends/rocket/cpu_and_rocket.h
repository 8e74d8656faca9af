// A model opened twice: on TFLite's CPU kernels and through the delegate on
// the rocket device (the virtual RK3588 without a board), for tests that
// compare the two.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "delegate/delegate.h"
#include "tflite/interpreter.h"

namespace nonstick::testing {

// Members are destroyed in reverse order: the interpreters before the
// delegate they use.
struct CpuAndRocket {
  std::unique_ptr<Delegate> delegate;
  std::unique_ptr<tflite::Interpreter> cpu;
  std::unique_ptr<tflite::Interpreter> npu;  // null, with *error set, on any failure
};

inline CpuAndRocket open_cpu_and_rocket(const std::vector<uint8_t>& model, std::string* error) {
  CpuAndRocket p;
  p.cpu = tflite::Interpreter::create(model, nullptr, 1, error);
  if (!p.cpu) return p;
  DelegateOptions options;
  options.device = "rocket";
  options.log_level = LogLevel::kQuiet;
  p.delegate = Delegate::create(options, error);
  if (!p.delegate) return p;
  p.npu = tflite::Interpreter::create(model, p.delegate->tflite_delegate(), 1, error);
  return p;
}

}  // namespace nonstick::testing
