#include "tools/nonstick/image.h"

#include <stb_image.h>

#include <algorithm>
#include <cmath>

namespace nonstick::cli {

bool load_image(const std::string& path, Image* out, std::string* error) {
  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &channels, 3);
  if (!pixels) {
    *error = "cannot decode image " + path + ": " + (stbi_failure_reason() ? stbi_failure_reason() : "?");
    return false;
  }
  out->width = w;
  out->height = h;
  out->rgb.assign(pixels, pixels + static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  stbi_image_free(pixels);
  return true;
}

bool image_to_input(const Image& image, const tflite::TensorInfo& input, std::vector<uint8_t>* out,
                    std::string* error) {
  if (input.shape.size() != 4 || input.shape[0] != 1 || input.shape[3] != 3) {
    *error = "model input is not a 1xHxWx3 image";
    return false;
  }
  if (input.type != kTfLiteUInt8 && input.type != kTfLiteInt8) {
    *error = "model input is " + std::string(tflite::type_name(input.type)) + ", expected uint8 or int8";
    return false;
  }
  const int oh = input.shape[1], ow = input.shape[2];
  out->resize(static_cast<size_t>(oh) * static_cast<size_t>(ow) * 3);
  // Pixel-centre aligned bilinear sampling.
  const float sy = static_cast<float>(image.height) / static_cast<float>(oh);
  const float sx = static_cast<float>(image.width) / static_cast<float>(ow);
  auto px = [&](int y, int x, int c) {
    return static_cast<float>(image.rgb[(static_cast<size_t>(y) * static_cast<size_t>(image.width) +
                                         static_cast<size_t>(x)) * 3 + static_cast<size_t>(c)]);
  };
  for (int y = 0; y < oh; ++y) {
    const float fy = std::clamp((static_cast<float>(y) + 0.5f) * sy - 0.5f, 0.0f, static_cast<float>(image.height - 1));
    const int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, image.height - 1);
    const float wy = fy - static_cast<float>(y0);
    for (int x = 0; x < ow; ++x) {
      const float fx = std::clamp((static_cast<float>(x) + 0.5f) * sx - 0.5f, 0.0f, static_cast<float>(image.width - 1));
      const int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, image.width - 1);
      const float wx = fx - static_cast<float>(x0);
      for (int c = 0; c < 3; ++c) {
        const float top = px(y0, x0, c) * (1 - wx) + px(y0, x1, c) * wx;
        const float bottom = px(y1, x0, c) * (1 - wx) + px(y1, x1, c) * wx;
        const int v = static_cast<int>(std::lround(top * (1 - wy) + bottom * wy));
        const int q = input.type == kTfLiteInt8 ? std::clamp(v, 0, 255) - 128 : std::clamp(v, 0, 255);
        (*out)[(static_cast<size_t>(y) * static_cast<size_t>(ow) + static_cast<size_t>(x)) * 3 +
               static_cast<size_t>(c)] = static_cast<uint8_t>(q);
      }
    }
  }
  return true;
}

}  // namespace nonstick::cli
