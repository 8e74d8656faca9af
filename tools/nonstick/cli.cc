#include "tools/nonstick/cli.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace nonstick::cli {

bool Args::parse(int argc, char** argv, const std::vector<std::string>& value_keys,
                 const std::vector<std::string>& flag_keys, std::string* error) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      *error = "unexpected argument '" + a + "'";
      return false;
    }
    a = a.substr(2);
    if (std::find(flag_keys.begin(), flag_keys.end(), a) != flag_keys.end()) {
      values_[a] = "1";
    } else if (std::find(value_keys.begin(), value_keys.end(), a) != value_keys.end()) {
      if (i + 1 >= argc) {
        *error = "--" + a + " needs a value";
        return false;
      }
      values_[a] = argv[++i];
    } else {
      *error = "unknown option --" + a;
      return false;
    }
  }
  return true;
}

std::string Args::get(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

int Args::get_int(const std::string& key, int fallback) const {
  auto it = values_.find(key);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long v = std::strtol(it->second.c_str(), &end, 10);
  return (*end || v < 0 || v > 1000000) ? fallback : static_cast<int>(v);
}

bool exact_flag(const Args& args, std::optional<bool>* exact, std::string* error) {
  if (args.has("exact") && args.has("no-exact")) {
    *error = "--exact and --no-exact contradict each other";
    return false;
  }
  if (args.has("exact")) *exact = true;
  if (args.has("no-exact")) *exact = false;
  return true;
}

bool make_delegated(const std::vector<uint8_t>& model, const std::string& device, std::optional<bool> exact,
                    int threads, DelegatedInterpreter* out, std::string* error) {
  DelegateOptions options;
  std::string option_error;
  std::vector<std::pair<std::string, std::string>> pairs = {{"device", device}, {"log_level", "quiet"}};
  if (exact) pairs.emplace_back("exact", *exact ? "1" : "0");  // else NONSTICK_EXACT or the default
  parse_options(pairs, &options, &option_error);
  const auto start = std::chrono::steady_clock::now();
  out->delegate = Delegate::create(options, error);
  if (!out->delegate) return false;
  out->interpreter = tflite::Interpreter::create(model, out->delegate->tflite_delegate(), threads, error);
  out->setup_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out->interpreter != nullptr;
}

void fill_pseudo_random(std::vector<uint8_t>* bytes, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (uint8_t& b : *bytes) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x >> 24);
  }
}

LatencySummary summarize(std::vector<double> s) {
  if (s.empty()) return {0, 0, 0, 0};
  std::sort(s.begin(), s.end());
  double sum = 0;
  for (double v : s) sum += v;
  const size_t n = s.size();
  const double median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  return {s.front(), median, sum / static_cast<double>(n), s.back()};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace nonstick::cli
