// A model opened twice: on TFLite's CPU kernels and through the delegate on
// the rocket device (the virtual RK3588 without a board), for tests that
// compare the two.
#pragma once

#include <cstring>
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

// `exact`: the delegate's exact option. Off unless asked (unlike the delegate's default):
// most tests here are about the NPU path of every op the device accepts.
inline CpuAndRocket open_cpu_and_rocket(const std::vector<uint8_t>& model, std::string* error, bool exact = false) {
  CpuAndRocket p;
  p.cpu = tflite::Interpreter::create(model, nullptr, 1, error);
  if (!p.cpu) return p;
  DelegateOptions options;
  options.device = "rocket";
  options.log_level = LogLevel::kQuiet;
  options.exact = exact;
  p.delegate = Delegate::create(options, error);
  if (!p.delegate) return p;
  p.npu = tflite::Interpreter::create(model, p.delegate->tflite_delegate(), 1, error);
  return p;
}

// Input `input` of a model as the goldens' ramp: byte k is
// (7k + 13 * input + 3) mod 256; float inputs (7k + 3) mod 256 / 255.
inline std::vector<uint8_t> ramp_input(const tflite::TensorInfo& info, int input) {
  std::vector<uint8_t> in(info.bytes);
  if (info.type == kTfLiteFloat32) {
    for (size_t k = 0; k < in.size() / 4; ++k) {
      const float f = static_cast<float>((7 * k + 3) % 256) / 255.0f;
      std::memcpy(in.data() + 4 * k, &f, 4);
    }
  } else {
    for (size_t k = 0; k < in.size(); ++k) {
      in[k] = static_cast<uint8_t>((7 * k + 13 * static_cast<size_t>(input) + 3) % 256);
    }
  }
  return in;
}

// Both interpreters invoked on the same ramp inputs.
inline Status invoke_on_ramp(tflite::Interpreter& cpu, tflite::Interpreter& npu) {
  for (int i = 0; i < cpu.input_count(); ++i) {
    const std::vector<uint8_t> in = ramp_input(cpu.input_info(i), i);
    if (Status s = cpu.set_input(i, in.data(), in.size()); !s.ok()) return s;
    if (Status s = npu.set_input(i, in.data(), in.size()); !s.ok()) return s;
  }
  if (Status s = cpu.invoke(); !s.ok()) return s;
  return npu.invoke();
}

}  // namespace nonstick::testing
