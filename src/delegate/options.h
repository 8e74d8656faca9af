// Delegate options: from load_delegate()'s key/value pairs, falling back to
// NONSTICK_* environment variables, falling back to defaults.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace nonstick {

enum class LogLevel { kQuiet = 0, kInfo = 1, kPlacement = 2, kDebug = 3 };

struct DelegateOptions {
  std::string device = "auto";  // auto | reference | <hardware backend>
  LogLevel log_level = LogLevel::kInfo;
  int max_partitions = 0;        // 0 = unlimited; else keep the largest N
  int min_partition_ops = 1;     // smaller partitions stay on the CPU
  std::vector<std::string> disabled_ops;  // TFLite op names forced onto the CPU
  // Whose integer rounding the reference backend reproduces: auto (the TFLite
  // build hosting the delegate) | tflite-2.9 | tflite-2.9-arm64 | tflite-runtime-2.14 | litert.
  std::string cpu_profile = "auto";
  // Only ops the backend proves give the CPU's output for every input are
  // placed on the device; the others stay on the CPU (BackendConfig::bit_exact_only).
  // On by default: the stack's promise is TFLite's answers; exact=0 trades
  // that for more NPU placement (ops one step off on some inputs).
  bool exact = true;
  // Testing aid for applications' fallback paths: "compile" makes every
  // partition fail to compile (all nodes stay on the CPU), "invoke" makes
  // every delegated invoke fail (TFLite's Invoke returns an error).
  std::string inject_failure = "none";
};

// Parses key/value pairs (after applying environment defaults). Unknown keys
// or malformed values produce a one-line error and return false.
bool parse_options(const std::vector<std::pair<std::string, std::string>>& pairs,
                   DelegateOptions* out, std::string* error);

// The option keys and their meaning, for --help and the README.
std::string options_help();

}  // namespace nonstick
