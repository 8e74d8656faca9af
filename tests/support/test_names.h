// Pieces of parameterised test names: every parameter spelled out, using
// only characters GoogleTest accepts in a name.
#pragma once

#include <cstdio>
#include <string>

#include "ir/graph.h"

namespace nonstick::testing {

// 0.25 -> "0p25", -3 -> "m3" (printf %g otherwise).
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  std::string s;
  for (const char* c = buf; *c; ++c) s += *c == '.' ? 'p' : (*c == '-' ? 'm' : *c);
  return s;
}

inline std::string act_name(ir::Activation a) {
  switch (a) {
    case ir::Activation::kNone: return "none";
    case ir::Activation::kRelu: return "relu";
    case ir::Activation::kRelu6: return "relu6";
    case ir::Activation::kReluN1To1: return "relun1to1";
  }
  return "?";
}

}  // namespace nonstick::testing
