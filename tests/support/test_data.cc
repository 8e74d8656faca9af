#include "support/test_data.h"

#include <cstdlib>
#include <filesystem>

namespace nonstick::testing {

std::string shared_dir() {
  const char* env = std::getenv("NONSTICK_DATA");
  if (env && *env) return env;
  return std::string(NONSTICK_SOURCE_DIR) + "/../shared";
}

std::string model_path(const std::string& name) { return shared_dir() + "/models/" + name + ".tflite"; }

bool shared_dir_available() {
  std::error_code ec;
  return std::filesystem::is_directory(shared_dir(), ec);
}

}  // namespace nonstick::testing
