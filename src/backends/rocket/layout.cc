#include "backends/rocket/layout.h"

#include <algorithm>
#include <cstring>

#include "backends/rocket/hw.h"

namespace nonstick::rocket {

size_t feature_bytes(int64_t pixels, int surfaces) {
  return static_cast<size_t>(pixels) * CoreConfig::kAtomChannels * static_cast<size_t>(surfaces);
}

void to_npu_layout(const uint8_t* src, int64_t pixels, int channels, ir::DType dtype, int8_t pad, uint8_t* dst) {
  constexpr int kAtom = CoreConfig::kAtomChannels;
  // uint8 -> int8 is x - 128, i.e. flipping the top bit.
  const uint8_t flip = dtype == ir::DType::kUInt8 ? 0x80 : 0x00;
  const int groups = div_up(channels, kAtom);
  for (int g = 0; g < groups; ++g) {
    const int c0 = g * kAtom;
    const int n = std::min(kAtom, channels - c0);
    uint8_t* plane = dst + static_cast<size_t>(g) * static_cast<size_t>(pixels) * kAtom;
    for (int64_t p = 0; p < pixels; ++p) {
      const uint8_t* in = src + static_cast<size_t>(p) * channels + c0;
      uint8_t* atom = plane + static_cast<size_t>(p) * kAtom;
      for (int c = 0; c < n; ++c) atom[c] = in[c] ^ flip;
      if (n < kAtom) std::memset(atom + n, static_cast<uint8_t>(pad), static_cast<size_t>(kAtom - n));
    }
  }
}

void from_npu_layout(const uint8_t* src, int64_t pixels, int channels, ir::DType dtype, uint8_t* dst) {
  constexpr int kAtom = CoreConfig::kAtomChannels;
  const uint8_t flip = dtype == ir::DType::kUInt8 ? 0x80 : 0x00;
  const int groups = div_up(channels, kAtom);
  for (int g = 0; g < groups; ++g) {
    const int c0 = g * kAtom;
    const int n = std::min(kAtom, channels - c0);
    const uint8_t* plane = src + static_cast<size_t>(g) * static_cast<size_t>(pixels) * kAtom;
    for (int64_t p = 0; p < pixels; ++p) {
      const uint8_t* atom = plane + static_cast<size_t>(p) * kAtom;
      uint8_t* out = dst + static_cast<size_t>(p) * channels + c0;
      for (int c = 0; c < n; ++c) out[c] = atom[c] ^ flip;
    }
  }
}

}  // namespace nonstick::rocket
