// The rocket backend's two requantization encodings (encoding.h) for tests:
// the options themselves, and the environment switch the delegate reads
// (NONSTICK_ROCKET_REQUANT) for tests that go through TFLite.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

#include "backends/rocket/encoding.h"

namespace nonstick::testing {

inline rocket::EncodingOptions precise_requant() { return {}; }
inline rocket::EncodingOptions outcvt_requant() {
  rocket::EncodingOptions o;
  o.requant = rocket::EncodingOptions::Requant::kOutCvt;
  return o;
}

// Sets NONSTICK_ROCKET_REQUANT for the scope (backends created inside it
// use that mode) and restores the previous value.
class ScopedRequantMode {
 public:
  explicit ScopedRequantMode(const char* mode) {
    if (const char* old = std::getenv(kVar)) old_ = old;
    setenv(kVar, mode, 1);
  }
  ~ScopedRequantMode() {
    if (old_) {
      setenv(kVar, old_->c_str(), 1);
    } else {
      unsetenv(kVar);
    }
  }
  ScopedRequantMode(const ScopedRequantMode&) = delete;
  ScopedRequantMode& operator=(const ScopedRequantMode&) = delete;

 private:
  static constexpr const char* kVar = "NONSTICK_ROCKET_REQUANT";
  std::optional<std::string> old_;
};

}  // namespace nonstick::testing
