// Where tests find the read-only shared data (real models, reference
// outputs): $NONSTICK_DATA, else <repo>/../shared.
#pragma once

#include <string>

#include <gtest/gtest.h>

namespace nonstick::testing {

std::string shared_dir();
bool shared_dir_available();
// <shared_dir>/models/<name>.tflite
std::string model_path(const std::string& name);

}  // namespace nonstick::testing

// Skips the current test, with the reason, when the shared data is absent.
#define NONSTICK_REQUIRE_SHARED_DATA()                                                       \
  do {                                                                                     \
    if (!::nonstick::testing::shared_dir_available()) {                                    \
      GTEST_SKIP() << "shared test data not found at " << ::nonstick::testing::shared_dir() \
                   << " (set NONSTICK_DATA to its location)";                              \
    }                                                                                      \
  } while (0)
