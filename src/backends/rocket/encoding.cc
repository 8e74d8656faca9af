#include "backends/rocket/encoding.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace nonstick::rocket {

EncodingOptions encoding_options_from_env() {
  EncodingOptions o;
  if (const char* x = std::getenv("NONSTICK_ROCKET_EXACT"); x && std::string_view(x) == "1") o.exact_only = true;
  const char* v = std::getenv("NONSTICK_ROCKET_REQUANT");
  if (!v || !*v) return o;
  const std::string_view s(v);
  if (s == "precise") {
    o.requant = EncodingOptions::Requant::kPrecise;
  } else if (s == "outcvt") {
    o.requant = EncodingOptions::Requant::kOutCvt;
  } else {
    // Once per process: supports() and compile() both read the variable.
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true)) {
      std::fprintf(stderr, "nonstick: NONSTICK_ROCKET_REQUANT=%s unknown (precise|outcvt); using precise\n", v);
    }
  }
  return o;
}

}  // namespace nonstick::rocket
