#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "bench/bench.h"

namespace nonstick::bench {

std::vector<std::string> model_paths() {
  const char* env = std::getenv("NONSTICK_DATA");
  const std::filesystem::path data = env && *env ? env : NONSTICK_DEFAULT_DATA;
  std::vector<std::string> paths;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(data / "models", ec)) {
    if (entry.path().extension() == ".tflite") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string model_name(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace nonstick::bench

int main(int argc, char** argv) {
  const std::vector<std::string> models = nonstick::bench::model_paths();
  if (models.empty()) {
    std::fprintf(stderr, "nonstick_bench: no models in $NONSTICK_DATA/models (set NONSTICK_DATA)\n");
    return 1;
  }
  nonstick::bench::register_delegate_benchmarks(models);
  nonstick::bench::register_rocket_benchmarks(models);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
