// The rocket backend's two requantization encodings (encoding.h) for tests:
// the options themselves, and the environment switch the delegate reads
// (NONSTICK_ROCKET_REQUANT) for tests that go through TFLite.
#pragma once

#include "backends/rocket/encoding.h"
#include "support/scoped_env.h"

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
  explicit ScopedRequantMode(const char* mode) : env_("NONSTICK_ROCKET_REQUANT", mode) {}

 private:
  ScopedEnv env_;
};

}  // namespace nonstick::testing
