// Host-side conversion between TFLite's NHWC bytes and the NPU's NC1HWC2
// feature layout (C2 = 16): for each group of 16 channels, for each pixel in
// row-major order, 16 channel bytes (rocket.md §3.1). Values move into the
// NPU's signed domain on the way in (uint8: minus 128) and back on the way out.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ir/graph.h"

namespace nonstick::rocket {

// Bytes a tensor of `pixels` x `channels` occupies with `surfaces` 16-channel
// planes.
size_t feature_bytes(int64_t pixels, int surfaces);

// NHWC `src` (pixels x channels, dtype uint8 or int8) -> NC1HWC2 `dst`.
// Channels past `channels` in the last group are filled with `pad` (a signed
// domain value, normally the zero point).
void to_npu_layout(const uint8_t* src, int64_t pixels, int channels, ir::DType dtype, int8_t pad, uint8_t* dst);

// NC1HWC2 `src` -> NHWC `dst` (first `channels` channels of each pixel).
void from_npu_layout(const uint8_t* src, int64_t pixels, int channels, ir::DType dtype, uint8_t* dst);

}  // namespace nonstick::rocket
