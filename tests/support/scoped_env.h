// Sets an environment variable for one scope and restores the previous value
// (or its absence): for tests of the NONSTICK_* switches that backends and
// the delegate read when they are created.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace nonstick::testing {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace nonstick::testing
