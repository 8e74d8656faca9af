#include "delegate/options.h"

#include <cstdlib>
#include <sstream>

#include "backends/reference/numerics.h"

namespace nonstick {
namespace {

struct Key {
  const char* name;
  const char* env;
  const char* help;
};

constexpr Key kKeys[] = {
    {"device", "NONSTICK_DEVICE",
     "auto | reference | rocket. auto: NPU hardware when present, else the virtual RK3588 "
     "(simulated); reference: the reference kernels on the host CPU; rocket: the RK3588 NPU, "
     "else the virtual one"},
    {"log_level", "NONSTICK_LOG_LEVEL",
     "quiet | info | placement | debug (or 0-3). info: one summary line; placement: the per-node "
     "table"},
    {"max_partitions", "NONSTICK_MAX_PARTITIONS", "keep only the N largest partitions (0 = all)"},
    {"min_partition_ops", "NONSTICK_MIN_PARTITION_OPS",
     "partitions with fewer ops stay on the CPU (default 1)"},
    {"disable_ops", "NONSTICK_DISABLE_OPS",
     "comma-separated TFLite op names kept on the CPU, e.g. SOFTMAX,MEAN"},
    {"cpu_profile", "NONSTICK_CPU_PROFILE",
     "auto | tflite-2.9 | tflite-2.9-arm64 | tflite-runtime-2.14 | litert: whose integer rounding "
     "the reference backend reproduces. auto: the TFLite build hosting the delegate (tflite-2.9, or "
     "tflite-2.9-arm64 on arm64, if unrecognised)"},
    {"exact", "NONSTICK_EXACT",
     "1 | 0. 1 (default): only ops proven to give the CPU's output for every input run on the device "
     "(the rocket backend's per-op proof; the reference backend always does); the others stay on the "
     "CPU with the proof's reason. 0: ops may also run on the NPU one step off TFLite on some inputs "
     "(int8 per-channel convolutions, for one), which can add up to several steps over a model; the "
     "placement report says which"},
    {"inject_failure", "NONSTICK_INJECT_FAILURE",
     "testing aid: none | compile (partitions fail to compile, nodes stay on the CPU) | invoke "
     "(delegated invokes fail)"},
};

bool parse_int(const std::string& s, int lo, int hi, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool apply(const std::string& key, const std::string& value, DelegateOptions* o, std::string* error) {
  if (key == "device") {
    if (value.empty()) {
      *error = "option device: empty value";
      return false;
    }
    o->device = value;
  } else if (key == "log_level") {
    static const char* kNames[] = {"quiet", "info", "placement", "debug"};
    int level = -1;
    for (int i = 0; i < 4; ++i) {
      if (value == kNames[i]) level = i;
    }
    if (level < 0 && !parse_int(value, 0, 3, &level)) {
      *error = "option log_level: '" + value + "' is not quiet|info|placement|debug|0-3";
      return false;
    }
    o->log_level = static_cast<LogLevel>(level);
  } else if (key == "max_partitions") {
    if (!parse_int(value, 0, 1 << 20, &o->max_partitions)) {
      *error = "option max_partitions: '" + value + "' is not a non-negative integer";
      return false;
    }
  } else if (key == "min_partition_ops") {
    if (!parse_int(value, 1, 1 << 20, &o->min_partition_ops)) {
      *error = "option min_partition_ops: '" + value + "' is not a positive integer";
      return false;
    }
  } else if (key == "disable_ops") {
    o->disabled_ops.clear();
    std::stringstream ss(value);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (!item.empty()) o->disabled_ops.push_back(item);
    }
  } else if (key == "cpu_profile") {
    reference::Numerics numerics;
    if (value != "auto" && !reference::parse_numerics(value, &numerics)) {
      *error = "option cpu_profile: '" + value +
               "' is not auto|tflite-2.9|tflite-2.9-arm64|tflite-runtime-2.14|litert";
      return false;
    }
    o->cpu_profile = value;
  } else if (key == "exact") {
    if (value != "0" && value != "1") {
      *error = "option exact: '" + value + "' is not 0|1";
      return false;
    }
    o->exact = value == "1";
  } else if (key == "inject_failure") {
    if (value != "none" && value != "compile" && value != "invoke") {
      *error = "option inject_failure: '" + value + "' is not none|compile|invoke";
      return false;
    }
    o->inject_failure = value;
  } else {
    *error = "unknown option '" + key +
             "' (known: device, log_level, max_partitions, min_partition_ops, disable_ops, cpu_profile, "
             "exact, inject_failure)";
    return false;
  }
  return true;
}

}  // namespace

bool parse_options(const std::vector<std::pair<std::string, std::string>>& pairs,
                   DelegateOptions* out, std::string* error) {
  DelegateOptions o;
  std::string first_error;
  // Environment first, so explicit options win.
  for (const Key& k : kKeys) {
    if (const char* v = std::getenv(k.env)) {
      std::string e;
      if (!apply(k.name, v, &o, &e) && first_error.empty()) first_error = k.env + std::string(": ") + e;
    }
  }
  for (const auto& [key, value] : pairs) {
    std::string e;
    if (!apply(key, value, &o, &e) && first_error.empty()) first_error = e;
  }
  *out = o;
  if (!first_error.empty()) {
    *error = first_error;
    return false;
  }
  return true;
}

std::string options_help() {
  std::ostringstream s;
  for (const Key& k : kKeys) s << "  " << k.name << " (env " << k.env << "): " << k.help << "\n";
  return s.str();
}

}  // namespace nonstick
