// Loading an image (BMP, PNG, JPEG via Debian's stb_image) as the RGB input
// bytes of a quantized model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tflite/interpreter.h"

namespace nonstick::cli {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3
};

bool load_image(const std::string& path, Image* out, std::string* error);

// Bilinear resize to the input's H x W, then encoded for the input type:
// uint8 as is; int8 as pixel - 128 (the usual s=1/255 zp=-128 or s=1/128
// zp=0 encodings of [0,255] pixels).
bool image_to_input(const Image& image, const tflite::TensorInfo& input, std::vector<uint8_t>* out,
                    std::string* error);

}  // namespace nonstick::cli
