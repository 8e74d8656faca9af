// The two C entry points TFLite's external-delegate loader looks up in
// libnonstick.so (tflite.load_delegate / TfLiteExternalDelegateCreate).
// Bad options never stop the application: they are reported in one line and
// the delegate falls back to keeping every node on the CPU.
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "delegate/delegate.h"

namespace {

void report(void (*report_error)(const char*), const std::string& message) {
  // Python's loader only surfaces report_error text when creation fails, so
  // the line also goes to stderr.
  const std::string line = "nonstick: " + message;
  std::fprintf(stderr, "%s\n", line.c_str());
  if (report_error) report_error(line.c_str());
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) TfLiteDelegate* tflite_plugin_create_delegate(
    char** options_keys, char** options_values, size_t num_options,
    void (*report_error)(const char*)) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t i = 0; i < num_options; ++i) {
    if (!options_keys || !options_values || !options_keys[i] || !options_values[i]) continue;
    pairs.emplace_back(options_keys[i], options_values[i]);
  }
  nonstick::DelegateOptions options;
  std::string error;
  if (!nonstick::parse_options(pairs, &options, &error)) report(report_error, error + "; ignored");

  std::unique_ptr<nonstick::Delegate> delegate = nonstick::Delegate::create(options, &error);
  if (!delegate) {
    report(report_error, error + "; every operation stays on the CPU");
    delegate = nonstick::Delegate::create_cpu_only(options, error);
  }
  // Ownership passes to TFLite until tflite_plugin_destroy_delegate.
  return delegate.release()->tflite_delegate();
}

__attribute__((visibility("default"))) void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  delete nonstick::Delegate::from_tflite(delegate);
}

}  // extern "C"
