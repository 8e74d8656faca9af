// Included by the rocket end-to-end tests: with the fault fallback on, a
// broken NPU path would be replaced by the (bit-exact) reference backend and
// the test would pass anyway. Turned off for the whole test process.
#pragma once

#include <cstdlib>

namespace nonstick::testing {
[[maybe_unused]] inline const int kRocketFallbackOff = (setenv("NONSTICK_ROCKET_FALLBACK", "0", 1), 0);
}  // namespace nonstick::testing
