// RESIZE_NEAREST_NEIGHBOR (4-D NHWC): every output pixel copies one input
// pixel's channels. Which input pixel follows TFLite's two index formulas:
//  - uint8 without align_corners/half_pixel_centers runs TFLite's optimized
//    kernel, which uses a 16.16 fixed-point scale: ((in << 16) / out + 1),
//    index = min((o * scale) >> 16, in - 1); ai-edge-litert runs int8 there
//    too (tflite-2.9 and tflite-runtime 2.14 do not);
//  - every other case runs the reference kernel, in float:
//    scale = align_corners && out > 1 ? (in - 1) / (out - 1) : in / out,
//    index = (o + (half_pixel_centers ? 0.5 : 0)) * scale, then rounded half
//    away from zero with align_corners, floored otherwise, capped at in - 1
//    (and at 0 from below with half_pixel_centers).
// The two formulas disagree for some size pairs, hence both.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

using ir::DType;

bool fixed_point_path(DType t, const ir::ResizeParams& p, Numerics numerics) {
  const bool optimized_type = t == DType::kUInt8 || (t == DType::kInt8 && numerics == Numerics::kLiteRt);
  return optimized_type && !p.align_corners && !p.half_pixel_centers;
}

Support check_resize(const ir::Graph& g, const ir::Operation& op) {
  const ir::Tensor* in = g.input(op, 0);
  if (op.inputs.size() != 1 || !in || op.outputs.size() != 1) {
    return Support::no("needs one input and one output");
  }
  const ir::Tensor& out = g.output(op, 0);
  if (in->dtype != out.dtype) return Support::no("input and output dtypes differ");
  if (in->dtype != DType::kUInt8 && in->dtype != DType::kInt8 && in->dtype != DType::kInt16 &&
      in->dtype != DType::kFloat32) {
    return Support::no("unsupported dtype " + std::string(ir::dtype_name(in->dtype)));
  }
  if (in->rank() != 4 || out.rank() != 4) return Support::no("input and output must be 4-D");
  if (in->dim(0) != out.dim(0) || in->dim(3) != out.dim(3)) {
    return Support::no("batch or channel count differs");
  }
  for (int d = 1; d <= 2; ++d) {
    if (in->dim(d) < 1 || out.dim(d) < 1) return Support::no("empty spatial dimension");
  }
  // (Checked for every profile, so what is supported does not depend on it.)
  if (fixed_point_path(in->dtype, op.get<ir::ResizeParams>(), Numerics::kLiteRt)) {
    // TFLite's 16.16 arithmetic is 32-bit; refuse sizes where it would overflow.
    for (int d = 1; d <= 2; ++d) {
      if (in->dim(d) >= (1 << 15)) return Support::no("input too large for the fixed-point index");
      const int64_t scale = (int64_t{in->dim(d)} << 16) / out.dim(d) + 1;
      if (scale * (out.dim(d) - 1) > std::numeric_limits<int32_t>::max()) {
        return Support::no("output too large for the fixed-point index");
      }
    }
  }
  return Support::yes();
}

std::vector<int32_t> source_indices(int32_t in, int32_t out, DType dtype, const ir::ResizeParams& p,
                                    Numerics numerics) {
  std::vector<int32_t> index(static_cast<size_t>(out));
  if (fixed_point_path(dtype, p, numerics)) {
    const int32_t scale = (in << 16) / out + 1;
    for (int32_t o = 0; o < out; ++o) {
      index[static_cast<size_t>(o)] = std::min((o * scale) >> 16, in - 1);
    }
    return index;
  }
  const float scale = p.align_corners && out > 1
                          ? static_cast<float>(in - 1) / static_cast<float>(out - 1)
                          : static_cast<float>(in) / static_cast<float>(out);
  const float offset = p.half_pixel_centers ? 0.5f : 0.0f;
  for (int32_t o = 0; o < out; ++o) {
    const float position = (static_cast<float>(o) + offset) * scale;
    int32_t i = static_cast<int32_t>(p.align_corners ? std::round(position) : std::floor(position));
    i = std::min(i, in - 1);
    if (p.half_pixel_centers) i = std::max(i, 0);
    index[static_cast<size_t>(o)] = i;
  }
  return index;
}

class ResizeNearestKernel final : public Kernel {
 public:
  ResizeNearestKernel(int input, int output, int32_t batches, int32_t in_h, int32_t in_w,
                      size_t pixel_bytes, std::vector<int32_t> ys, std::vector<int32_t> xs)
      : input_(input), output_(output), batches_(batches), in_h_(in_h), in_w_(in_w),
        pixel_bytes_(pixel_bytes), ys_(std::move(ys)), xs_(std::move(xs)) {}

  void run(const TensorMemory& memory) const override {
    const uint8_t* src = memory.get<uint8_t>(input_);
    uint8_t* dst = memory.get<uint8_t>(output_);
    const size_t row_bytes = static_cast<size_t>(in_w_) * pixel_bytes_;
    for (int32_t b = 0; b < batches_; ++b) {
      const uint8_t* image = src + static_cast<size_t>(b) * static_cast<size_t>(in_h_) * row_bytes;
      for (int32_t y : ys_) {
        const uint8_t* row = image + static_cast<size_t>(y) * row_bytes;
        for (int32_t x : xs_) {
          std::memcpy(dst, row + static_cast<size_t>(x) * pixel_bytes_, pixel_bytes_);
          dst += pixel_bytes_;
        }
      }
    }
  }

 private:
  int input_, output_;
  int32_t batches_, in_h_, in_w_;
  size_t pixel_bytes_;
  std::vector<int32_t> ys_, xs_;
};

std::unique_ptr<Kernel> create_resize(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  const ir::Tensor& in = *g.input(op, 0);
  const ir::Tensor& out = g.output(op, 0);
  const auto& p = op.get<ir::ResizeParams>();
  return std::make_unique<ResizeNearestKernel>(
      op.inputs[0], op.outputs[0], in.dim(0), in.dim(1), in.dim(2),
      static_cast<size_t>(in.dim(3)) * ir::dtype_size(in.dtype),
      source_indices(in.dim(1), out.dim(1), in.dtype, p, numerics),
      source_indices(in.dim(2), out.dim(2), in.dtype, p, numerics));
}

}  // namespace

const KernelFactory& resize_nearest_kernel() {
  static const KernelFactory f{check_resize, create_resize};
  return f;
}

}  // namespace nonstick::reference
