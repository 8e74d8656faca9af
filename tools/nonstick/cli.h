// Shared pieces of the nonstick command-line tool.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delegate/delegate.h"
#include "tflite/interpreter.h"

namespace nonstick::cli {

// --key value / --flag arguments after the subcommand.
class Args {
 public:
  // Returns false (with *error) on a malformed argument list or an unknown key.
  bool parse(int argc, char** argv, const std::vector<std::string>& value_keys,
             const std::vector<std::string>& flag_keys, std::string* error);
  std::string get(const std::string& key, const std::string& fallback = "") const;
  int get_int(const std::string& key, int fallback) const;
  bool has(const std::string& key) const { return values_.count(key) > 0; }

 private:
  std::map<std::string, std::string> values_;
};

// An interpreter running through the nonstick delegate, with its report.
struct DelegatedInterpreter {
  std::unique_ptr<Delegate> delegate;
  std::unique_ptr<tflite::Interpreter> interpreter;
  double setup_ms = 0;  // interpreter creation incl. delegate prepare/compile
};

// `exact`: the delegate's exact option when set (--exact / --no-exact on
// classify, inspect and bench); unset, NONSTICK_EXACT or the default (1).
bool make_delegated(const std::vector<uint8_t>& model, const std::string& device, std::optional<bool> exact,
                    int threads, DelegatedInterpreter* out, std::string* error);
// The --exact / --no-exact flags; false with *error when both are given.
bool exact_flag(const Args& args, std::optional<bool>* exact, std::string* error);

// Deterministic pseudo-random bytes, for inputs when no image is given.
void fill_pseudo_random(std::vector<uint8_t>* bytes, uint32_t seed);

// `s` as a JSON string literal, quotes included.
std::string json_string(const std::string& s);

struct LatencySummary {
  double min_ms, median_ms, mean_ms, max_ms;
};
LatencySummary summarize(std::vector<double> samples_ms);

int run_classify(int argc, char** argv);
int run_inspect(int argc, char** argv);
int run_bench(int argc, char** argv);
int run_probe(int argc, char** argv);

}  // namespace nonstick::cli
