// The nonstick benchmark suite (Google Benchmark): benchmarks are registered
// at start-up, one set per model found under <data>/models.
#pragma once

#include <string>
#include <vector>

namespace nonstick::bench {

// The .tflite files of <data>/models, sorted; <data> is $NONSTICK_DATA, else
// the shared directory beside the source tree.
std::vector<std::string> model_paths();
// "mobilenet_v1_0.25_128_quant" for ".../mobilenet_v1_0.25_128_quant.tflite".
std::string model_name(const std::string& path);

// TFLite CPU vs delegate (reference, rocket) per model: delegate_bench.cc.
void register_delegate_benchmarks(const std::vector<std::string>& models);
// The rocket runtime alone: compile time and host-side invoke cost,
// rocket_bench.cc.
void register_rocket_benchmarks(const std::vector<std::string>& models);

}  // namespace nonstick::bench
