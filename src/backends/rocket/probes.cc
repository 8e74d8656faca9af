#include "backends/rocket/probes.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "backends/reference/backend.h"
#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/program.h"

namespace nonstick::rocket {
namespace {

using ir::DType;
using Requant = EncodingOptions::Requant;

// ---------------------------------------------------------------------------
// The model's DPU arithmetic on the host (docs/virtual-rk3588.md §3-§5, §9),
// from the compiled operation, its DPU encoding and the BRDMA stream bytes,
// with every rule the probes question as a switch.

enum class Rounding { kHalfUp, kHalfEven, kHalfAway, kFloor };

// Arithmetic shift right by `shift` under `rule`; *tie is set when the
// dropped bits are exactly one half.
int64_t shift_round(int64_t v, unsigned shift, Rounding rule, bool* tie) {
  if (shift == 0) return v;
  const int64_t one = int64_t{1} << shift, half = one >> 1;
  const int64_t q = v >> shift;  // floor
  const int64_t rem = v - q * one;
  if (rem == half) *tie = true;
  switch (rule) {
    case Rounding::kFloor: return q;
    case Rounding::kHalfUp: return rem >= half ? q + 1 : q;
    case Rounding::kHalfEven: return rem > half || (rem == half && (q & 1)) ? q + 1 : q;
    case Rounding::kHalfAway: return rem > half || (rem == half && v > 0) ? q + 1 : q;
  }
  return q;
}

int64_t sat32(int64_t v) {
  return std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
}

// The documented model is the default of every field.
struct Rules {
  Rounding bs = Rounding::kHalfEven;  // BS multiplier shift (claimed, §9)
  Rounding ew = Rounding::kHalfUp;    // EW operand conversion (§5)
  Rounding out_cvt = Rounding::kHalfUp;  // OUT_CVT (§5)
  bool relu = true, relux = true;     // the BN/EW clamps take effect
  bool ew_operand = true;             // the EW operand is added
  bool bn_add = true;                 // the BN ALU adds its constant operand (§10)
  bool add_before_mul = true;         // BS: (acc + A) * C, not acc * C + A
  bool ew_after_bs = true;            // EW adds to the BS multiplier's output, not to acc (§10.6)
  bool wide_product = true;           // BS: the product is not saturated before the shift
  bool stream_groups_of_4 = false;    // data-use-7 stream as RK3568 vendor streams lay it out
  bool swap_strides = false, swap_kernel = false, swap_pads = false;
};

// The BRDMA_DATA_USE 7 layouts: per group of G channels, int32 A[G], int16
// B[G], int16 C[G]. G = 8 is the RK3588 claim (§9.1); G = 4 the RK3568
// vendor layout (IAV fork), read from the same bytes.
struct StreamOperands {
  int64_t a = 0, c = 1;
};
StreamOperands stream_operands(const std::vector<uint8_t>& stream, bool data_use_7, int channel, bool groups_of_4) {
  StreamOperands s;
  const size_t ch = static_cast<size_t>(channel);
  if (!data_use_7) {
    int32_t a = 0;
    if (4 * ch + 4 <= stream.size()) std::memcpy(&a, stream.data() + 4 * ch, 4);
    s.a = a;
    return s;
  }
  const size_t group = groups_of_4 ? 4 : 8;
  const size_t base = ch / group * group * 8, k = ch % group;
  int32_t a = 0;
  int16_t c = 0;
  if (base + group * 8 <= stream.size()) {
    std::memcpy(&a, stream.data() + base + 4 * k, 4);
    std::memcpy(&c, stream.data() + base + group * 6 + 2 * k, 2);
  }
  s.a = a;
  s.c = c;
  return s;
}

// Signed-domain values of the tensors an operation reads, NHWC.
struct Operands {
  std::vector<int32_t> input, addend;
};

// The probe's single NPU operation as the compiler lowers and encodes it,
// with the BRDMA stream bytes it uploads and the values it reads.
struct Compiled {
  NpuConv op;
  DpuEncoding enc;
  std::vector<uint8_t> stream;
  Operands operands;
};

struct Evaluation {
  std::vector<int32_t> out;    // signed domain, NHWC
  std::vector<uint8_t> ties;   // ProbeTie bits
};

// CNA/CORE: per output, the raw products plus the OW term (BS_OW_OP times
// the inputs consumed), under the geometry switches of `rules`.
std::vector<int64_t> accumulators(const Compiled& c, const Rules& rules) {
  NpuConv op = c.op;
  if (rules.swap_strides) std::swap(op.stride_w, op.stride_h);
  if (rules.swap_kernel) std::swap(op.kernel_w, op.kernel_h);  // same bytes, read with swapped sizes
  if (rules.swap_pads) std::swap(op.pad_left, op.pad_top);
  const std::vector<int32_t>& input = c.operands.input;
  auto in_at = [&](int y, int x, int ch) -> int64_t {
    if (y < 0 || y >= op.in_h || x < 0 || x >= op.in_w) return op.in_zp;  // the CNA's pad value
    return input[(static_cast<size_t>(y) * op.in_w + x) * op.in_c + ch];
  };
  const size_t window = static_cast<size_t>(op.kernel_w) * op.kernel_h;
  std::vector<int64_t> out(static_cast<size_t>(op.out_h) * op.out_w * op.out_c);
  for (int oy = 0; oy < op.out_h; ++oy) {
    for (int ox = 0; ox < op.out_w; ++ox) {
      for (int o = 0; o < op.out_c; ++o) {
        int64_t acc = 0, sum = 0;
        for (int ky = 0; ky < op.kernel_h; ++ky) {
          for (int kx = 0; kx < op.kernel_w; ++kx) {
            const int iy = oy * op.stride_h - op.pad_top + ky, ix = ox * op.stride_w - op.pad_left + kx;
            const size_t k = static_cast<size_t>(ky) * op.kernel_w + kx;
            if (op.depthwise) {
              const int64_t v = in_at(iy, ix, o);
              acc += v * op.weights[k * op.in_c + o];
              sum += v;
              continue;
            }
            for (int ch = 0; ch < op.in_c; ++ch) {
              const int64_t v = in_at(iy, ix, ch);
              acc += v * op.weights[(o * window + k) * op.in_c + ch];
              sum += v;
            }
          }
        }
        out[(static_cast<size_t>(oy) * op.out_w + ox) * op.out_c + o] = acc + int64_t{c.enc.ow_op} * sum;
      }
    }
  }
  return out;
}

// DPU: BS, BN, EW, OUT_CVT on the accumulators.
Evaluation post_process(const Compiled& c, const std::vector<int64_t>& accs, const Rules& rules) {
  const DpuEncoding& enc = c.enc;
  auto clamp = [&](int64_t v) {
    if (enc.relu && rules.relu) v = std::max<int64_t>(v, 0);
    if (enc.relux && rules.relux) v = std::min<int64_t>(v, enc.relux_cap);
    return v;
  };
  Evaluation e;
  e.out.resize(accs.size());
  e.ties.assign(accs.size(), 0);
  const size_t channels = static_cast<size_t>(c.op.out_c);
  for (size_t i = 0; i < accs.size(); ++i) {
    const int64_t acc = accs[i];
    bool bs_tie = false, ew_tie = false, out_tie = false;
    // The EW operand, converted; added after BS (or, as the alternative, to
    // the accumulator before the BS multiplier).
    int64_t ew = 0;
    if (c.op.has_addend() && rules.ew_operand) {
      const int64_t a = c.operands.addend[i];
      ew = shift_round((a + enc.ew_offset) * enc.ew.scale, enc.ew.shift, rules.ew, &ew_tie);
    }
    const bool ew_first = enc.bs_multiplier && !rules.ew_after_bs;
    // BS: ALU add of A, then (when live) the multiplier C and its shift.
    const StreamOperands s =
        stream_operands(c.stream, enc.bs_multiplier, static_cast<int>(i % channels), rules.stream_groups_of_4);
    int64_t v = acc + s.a + (ew_first ? ew : 0);
    if (enc.bs_multiplier) {
      int64_t p = (rules.add_before_mul ? v : acc) * s.c;
      if (!rules.wide_product) p = sat32(p);
      v = shift_round(p, enc.bs_shift, rules.bs, &bs_tie);
      if (!rules.add_before_mul) v += s.a;
      v = sat32(v);
    }
    // BN: the ALU's constant operand, then the clamp when nothing follows.
    if (enc.bn_add && rules.bn_add) v = sat32(v + enc.bn_operand);
    if (!c.op.has_addend()) v = clamp(v);
    if (c.op.has_addend()) v = clamp(v + (ew_first ? 0 : ew));
    const int64_t q = shift_round(v * enc.out.scale, enc.out.shift, rules.out_cvt, &out_tie) + enc.out_offset;
    e.out[i] = static_cast<int32_t>(std::clamp<int64_t>(q, -128, 127));
    e.ties[i] = static_cast<uint8_t>((bs_tie ? kTieBs : 0) | (ew_tie ? kTieEw : 0) | (out_tie ? kTieOutCvt : 0));
  }
  return e;
}

// The model of one compiled probe; the accumulators of the compiled
// geometry are computed once for every rule set that keeps it.
class Model {
 public:
  explicit Model(const Compiled& c) : c_(c), accs_(accumulators(c, Rules{})) {}
  Evaluation run(const Rules& rules) const {
    const bool same_geometry = !rules.swap_strides && !rules.swap_kernel && !rules.swap_pads;
    return post_process(c_, same_geometry ? accs_ : accumulators(c_, rules), rules);
  }

 private:
  const Compiled& c_;
  std::vector<int64_t> accs_;
};

// ---------------------------------------------------------------------------
// Probe graphs. Deterministic data; every graph is one op that the rocket
// backend lowers to one NPU operation.

class Lcg {
 public:
  explicit Lcg(uint32_t seed) : x_(seed) {}
  uint32_t next() { return x_ = x_ * 1664525u + 1013904223u; }
  // Uniform in [lo, hi].
  int32_t range(int32_t lo, int32_t hi) {
    return lo + static_cast<int32_t>((next() >> 8) % static_cast<uint32_t>(hi - lo + 1));
  }
  double unit() { return (next() >> 8) / double(1 << 24); }

 private:
  uint32_t x_;
};

class GraphMaker {
 public:
  int tensor(DType dtype, std::vector<int32_t> shape, float scale, int32_t zero_point) {
    ir::Tensor t;
    t.name = "t" + std::to_string(g.tensors.size());
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.quant.scales = {scale};
    t.quant.zero_points = {zero_point};
    g.tensors.push_back(std::move(t));
    return static_cast<int>(g.tensors.size() - 1);
  }
  int input(DType dtype, std::vector<int32_t> shape, float scale, int32_t zero_point) {
    const int t = tensor(dtype, std::move(shape), scale, zero_point);
    g.inputs.push_back(t);
    return t;
  }
  int constant(DType dtype, std::vector<int32_t> shape, std::vector<uint8_t> bytes, float scale, int32_t zero_point) {
    const int t = tensor(dtype, std::move(shape), scale, zero_point);
    g.tensors[static_cast<size_t>(t)].data = std::move(bytes);
    g.tensors[static_cast<size_t>(t)].constant = true;
    return t;
  }
  int int8s(std::vector<int32_t> shape, const std::vector<int32_t>& values, float scale, DType dtype = DType::kInt8,
            int32_t zero_point = 0) {
    std::vector<uint8_t> bytes(values.size());
    for (size_t i = 0; i < values.size(); ++i) bytes[i] = static_cast<uint8_t>(values[i]);
    return constant(dtype, std::move(shape), std::move(bytes), scale, zero_point);
  }
  int int32s(std::vector<int32_t> shape, const std::vector<int32_t>& values, float scale) {
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return constant(DType::kInt32, std::move(shape), std::move(bytes), scale, 0);
  }
  void per_channel(int t, std::vector<float> scales, int axis) {
    ir::Quantization& q = g.tensors[static_cast<size_t>(t)].quant;
    q.zero_points.assign(scales.size(), 0);
    q.scales = std::move(scales);
    q.axis = axis;
  }
  void op(ir::OpType type, std::vector<int> inputs, int output, ir::OpParams params) {
    ir::Operation o;
    o.type = type;
    o.inputs = std::move(inputs);
    o.outputs = {output};
    o.params = std::move(params);
    o.source_index = 0;
    g.ops.push_back(std::move(o));
    g.outputs = {output};
  }

  ir::Graph g;
};

using Inputs = std::vector<std::vector<uint8_t>>;

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  Lcg r(seed);
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(r.next() >> 24);
  return v;
}

ir::ConvParams conv_params(ir::Padding padding, int stride_h, int stride_w, ir::Activation act) {
  ir::ConvParams p;
  p.padding = padding;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.activation = act;
  return p;
}

// OUT_CVT ties: a 1x1 convolution copying (channels 0-15) and negating
// (16-31) an input ramp over all of int8, requantized by exactly 1/16, so
// one input value in 16 lands exactly on .5 before OUT_CVT rounds, on both
// signs and both parities.
void build_out_cvt_ties(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kInt8, {1, 4, 4, 16}, 0.25f, 0);
  std::vector<int32_t> w(32 * 16, 0);
  for (int o = 0; o < 32; ++o) w[static_cast<size_t>(o * 16 + o % 16)] = o < 16 ? 1 : -1;
  const int f = m->int8s({32, 1, 1, 16}, w, 0.25f);
  const int b = m->int32s({32}, std::vector<int32_t>(32, 0), 0.0625f);
  const int y = m->tensor(DType::kInt8, {1, 4, 4, 32}, 1.0f, 3);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kValid, 1, 1, ir::Activation::kNone));
  std::vector<uint8_t> ramp(256);
  for (int i = 0; i < 256; ++i) ramp[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 37 + 11) % 256);
  in->push_back(ramp);
}

// EW conversion ties: a standalone ADD whose second operand (step 1/128 of
// the first's) enters the accumulator (1/64 of the first's step) at half a
// unit per value, an exact tie for every odd value of the ramp it holds; the
// output multiplier 1/6 is not dyadic, so a tie rounded the other way moves
// some outputs across an OUT_CVT boundary.
void build_ew_ties(GraphMaker* m, Inputs* in) {
  const int a = m->input(DType::kInt8, {1, 4, 4, 32}, 1.0f, 0);
  const int b = m->input(DType::kInt8, {1, 4, 4, 32}, 1.0f / 128, 0);
  const int y = m->tensor(DType::kInt8, {1, 4, 4, 32}, 6.0f / 64, 0);
  m->op(ir::OpType::kAdd, {a, b}, y, ir::ElementwiseParams{});
  Lcg r(29);
  std::vector<uint8_t> small(512), ramp(512);
  for (size_t i = 0; i < small.size(); ++i) {
    small[i] = static_cast<uint8_t>(r.range(-10, 10));
    ramp[i] = static_cast<uint8_t>((i * 37 + 5) % 256);
  }
  in->push_back(small);
  in->push_back(ramp);
}

// An int8 per-channel filter and its bias: channel scales spread
// log-uniformly over `spread` (channel 0 the smallest, 1 the largest),
// integer weights and biases shrunk by the same factor so that every
// channel's outputs span the int8 range. `window` weights per channel, the
// channel axis first (dense) or last (depthwise).
struct FilterAndBias {
  int filter = -1, bias = -1;
};
FilterAndBias per_channel_filter(GraphMaker* m, std::vector<int32_t> shape, int window, double spread, float s_in,
                                 int32_t bias_reach, uint32_t seed) {
  const bool depthwise = shape[0] == 1;
  const int channels = depthwise ? shape[3] : shape[0];
  Lcg r(seed);
  std::vector<float> scales(static_cast<size_t>(channels)), bias_scales(scales.size());
  std::vector<int32_t> weights(static_cast<size_t>(channels * window)), bias(scales.size());
  for (int c = 0; c < channels; ++c) {
    const double g = c == 0 ? 1.0 : c == 1 ? spread : std::pow(spread, r.unit());
    scales[static_cast<size_t>(c)] = static_cast<float>(0.002 * g);
    bias_scales[static_cast<size_t>(c)] = s_in * scales[static_cast<size_t>(c)];
    const int32_t reach = std::max(2, static_cast<int32_t>(127.0 / g));
    for (int k = 0; k < window; ++k) {
      weights[static_cast<size_t>(depthwise ? k * channels + c : c * window + k)] = r.range(-reach, reach);
    }
    bias[static_cast<size_t>(c)] = r.range(-bias_reach, bias_reach) / static_cast<int32_t>(std::ceil(g));
  }
  FilterAndBias fb;
  fb.filter = m->int8s(std::move(shape), weights, scales[0]);
  m->per_channel(fb.filter, scales, depthwise ? 3 : 0);
  fb.bias = m->int32s({channels}, bias, bias_scales[0]);
  m->per_channel(fb.bias, bias_scales, 0);
  return fb;
}

// The BS multiplier stream on a dense 3x3 convolution: 40 output channels
// (five groups of 8, the last 32-channel block partly padded), scales spread
// 300x, a non-zero input zero point folded into A.
void build_per_channel_conv(GraphMaker* m, Inputs* in) {
  const int cin = 24, cout = 40;
  const float s_in = 0.03f;
  const int x = m->input(DType::kInt8, {1, 6, 5, cin}, s_in, -7);
  const FilterAndBias fb = per_channel_filter(m, {cout, 3, 3, cin}, 9 * cin, 300.0, s_in, 60000, 5);
  const int y = m->tensor(DType::kInt8, {1, 6, 5, cout}, 0.25f, 4);
  m->op(ir::OpType::kConv2D, {x, fb.filter, fb.bias}, y,
        conv_params(ir::Padding::kSame, 1, 1, ir::Activation::kNone));
  in->push_back(random_bytes(6 * 5 * cin, 7));
}

// The BS multiplier stream on a depthwise convolution: 72 channels (two
// 64-channel groups), stride 2, scales spread 100x.
void build_per_channel_depthwise(GraphMaker* m, Inputs* in) {
  const int c = 72;
  const float s_in = 0.04f;
  const int x = m->input(DType::kInt8, {1, 9, 9, c}, s_in, 5);
  const FilterAndBias fb = per_channel_filter(m, {1, 3, 3, c}, 9, 100.0, s_in, 8000, 8);
  const int y = m->tensor(DType::kInt8, {1, 5, 5, c}, 0.08f, -3);
  ir::ConvParams p = conv_params(ir::Padding::kSame, 2, 2, ir::Activation::kNone);
  p.depth_multiplier = 1;
  m->op(ir::OpType::kDepthwiseConv2D, {x, fb.filter, fb.bias}, y, p);
  in->push_back(random_bytes(9 * 9 * c, 10));
}

// The BS product held wide: a per-channel 1x1 convolution over 128 channels
// with small multipliers (M up to 6.4e-4), so the compiler picks a BS shift
// of 16 and (acc + A) * C exceeds 32 bits on many outputs before the shift
// brings it back.
void build_bs_wide_product(GraphMaker* m, Inputs* in) {
  const int cin = 128, cout = 16;
  const float s_in = 0.02f;
  const int x = m->input(DType::kInt8, {1, 6, 6, cin}, s_in, -1);
  Lcg r(23);
  std::vector<int32_t> w(cout * cin);
  for (int32_t& v : w) v = r.range(-127, 127);
  std::vector<float> ws(cout), bs(cout);
  std::vector<int32_t> bias(cout);
  for (int c = 0; c < cout; ++c) {
    ws[static_cast<size_t>(c)] = static_cast<float>(0.002 * (c == 0 ? 4.0 : 1.0 + 3.0 * r.unit()));
    bs[static_cast<size_t>(c)] = s_in * ws[static_cast<size_t>(c)];
    bias[static_cast<size_t>(c)] = r.range(-20000, 20000);
  }
  const int f = m->int8s({cout, 1, 1, cin}, w, ws[0]);
  m->per_channel(f, ws, 0);
  const int b = m->int32s({cout}, bias, bs[0]);
  m->per_channel(b, bs, 0);
  const int y = m->tensor(DType::kInt8, {1, 6, 6, cout}, 0.25f, 2);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kValid, 1, 1, ir::Activation::kNone));
  in->push_back(random_bytes(6 * 6 * cin, 24));
}

// Precise requantization (docs/virtual-rk3588.md §10): a per-tensor 1x1
// convolution with multiplier 0.17, whose TFLite rounding offset (2^-3 of a
// step) the BN ALU adds as a constant after the BS multiplier; one output in
// eight lies close enough below .5 for that offset to decide its rounding.
void build_precise_conv(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kInt8, {1, 6, 6, 16}, 0.1f, 2);
  Lcg r(25);
  std::vector<int32_t> w(24 * 16), bias(24);
  for (int32_t& v : w) v = r.range(-1, 1);
  for (int32_t& b : bias) b = r.range(-50, 50);
  const int f = m->int8s({24, 1, 1, 16}, w, 1.7f);
  const int b = m->int32s({24}, bias, 0.1f * 1.7f);
  const int y = m->tensor(DType::kInt8, {1, 6, 6, 24}, 1.0f, -5);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kValid, 1, 1, ir::Activation::kNone));
  in->push_back(random_bytes(6 * 6 * 16, 26));
}

// Precise requantization with ReLU6 at output zero point 20 (clamp
// [20, 100]), multiplier 0.17 as in build_precise_conv.
void build_precise_relu6(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kInt8, {1, 6, 6, 16}, 0.1f, 2);
  Lcg r(27);
  std::vector<int32_t> w(24 * 16), bias(24);
  for (int32_t& v : w) v = r.range(-1, 1);
  for (int32_t& b : bias) b = r.range(0, 300);
  const int f = m->int8s({24, 1, 1, 16}, w, 0.1275f);
  const int b = m->int32s({24}, bias, 0.1f * 0.1275f);
  const int y = m->tensor(DType::kInt8, {1, 6, 6, 24}, 0.075f, 20);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kValid, 1, 1, ir::Activation::kRelu6));
  in->push_back(random_bytes(6 * 6 * 16, 28));
}

// BN ReLU + ReLUX: ReLU6 on a uint8 convolution whose output zero point is
// 80, so the clamp is [80, 180] and not implied by int8 saturation; biases
// push outputs past both ends.
void build_bn_relu6(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kUInt8, {1, 6, 6, 16}, 0.05f, 120);
  const std::vector<uint8_t> w = random_bytes(16 * 3 * 3 * 16, 11);
  const int f = m->constant(DType::kUInt8, {16, 3, 3, 16}, w, 0.001f, 130);
  Lcg r(12);
  std::vector<int32_t> bias(16);
  for (int32_t& b : bias) b = r.range(-20000, 80000);
  const int b = m->int32s({16}, bias, 0.05f * 0.001f);
  const int y = m->tensor(DType::kUInt8, {1, 4, 4, 16}, 0.06f, 80);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kValid, 1, 1, ir::Activation::kRelu6));
  in->push_back(random_bytes(6 * 6 * 16, 13));
}

// Stride 1 vertically, 2 horizontally, on a non-square input.
void build_stride_1x2(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kInt8, {1, 7, 12, 16}, 0.05f, 3);
  std::vector<int32_t> w(16 * 3 * 3 * 16);
  Lcg r(14);
  for (int32_t& v : w) v = r.range(-127, 127);
  const int f = m->int8s({16, 3, 3, 16}, w, 0.004f);
  std::vector<int32_t> bias(16);
  for (int32_t& b : bias) b = r.range(-3000, 3000);
  const int b = m->int32s({16}, bias, 0.05f * 0.004f);
  const int y = m->tensor(DType::kInt8, {1, 7, 6, 16}, 0.25f, -2);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kSame, 1, 2, ir::Activation::kNone));
  in->push_back(random_bytes(7 * 12 * 16, 15));
}

// A 5x3 (height x width) kernel on a 7x11 input, SAME padding (2 rows on
// top, 1 column on the left), uint8 so the OW term carries the weight zero
// point.
void build_kernel_5x3(GraphMaker* m, Inputs* in) {
  const int x = m->input(DType::kUInt8, {1, 7, 11, 16}, 0.05f, 100);
  const int f = m->constant(DType::kUInt8, {8, 5, 3, 16}, random_bytes(8 * 5 * 3 * 16, 16), 0.004f, 120);
  Lcg r(17);
  std::vector<int32_t> bias(8);
  for (int32_t& b : bias) b = r.range(-3000, 3000);
  const int b = m->int32s({8}, bias, 0.05f * 0.004f);
  const int y = m->tensor(DType::kUInt8, {1, 7, 11, 8}, 0.3f, 128);
  m->op(ir::OpType::kConv2D, {x, f, b}, y, conv_params(ir::Padding::kSame, 1, 1, ir::Activation::kNone));
  in->push_back(random_bytes(7 * 11 * 16, 18));
}

// Standalone ADD of two int8 tensors with different steps and zero points,
// 40 channels (three 16-channel surfaces: MRDMA and ERDMA interleaved).
void build_standalone_add(GraphMaker* m, Inputs* in) {
  const int a = m->input(DType::kInt8, {1, 5, 7, 40}, 0.05f, -10);
  const int b = m->input(DType::kInt8, {1, 5, 7, 40}, 0.03f, 20);
  const int y = m->tensor(DType::kInt8, {1, 5, 7, 40}, 0.07f, 5);
  m->op(ir::OpType::kAdd, {a, b}, y, ir::ElementwiseParams{});
  in->push_back(random_bytes(5 * 7 * 40, 19));
  in->push_back(random_bytes(5 * 7 * 40, 20));
}

// EW ReLU + ReLUX: ReLU6 on a uint8 ADD with output zero point 90.
void build_add_relu6(GraphMaker* m, Inputs* in) {
  const int a = m->input(DType::kUInt8, {1, 4, 6, 16}, 0.04f, 128);
  const int b = m->input(DType::kUInt8, {1, 4, 6, 16}, 0.06f, 100);
  const int y = m->tensor(DType::kUInt8, {1, 4, 6, 16}, 0.05f, 90);
  ir::ElementwiseParams p;
  p.activation = ir::Activation::kRelu6;
  m->op(ir::OpType::kAdd, {a, b}, y, p);
  in->push_back(random_bytes(4 * 6 * 16, 21));
  in->push_back(random_bytes(4 * 6 * 16, 22));
}

struct Hypothesis {
  std::string name;
  Rules rules;
};

// Every probe states the requantization it is compiled with: OUT_CVT alone
// (Mesa-evidenced registers) unless it probes the precise encoding, so each
// isolates the stage it is about. Per-channel filters are always allowed.
EncodingOptions compiled_with(Requant requant) {
  EncodingOptions e;
  e.requant = requant;
  e.per_channel = true;
  return e;
}

struct Spec {
  ProbeInfo info;
  void (*build)(GraphMaker*, Inputs*) = nullptr;
  std::vector<Hypothesis> alternatives;
};

template <typename F>
Rules with(F change) {
  Rules r;
  change(r);
  return r;
}

const std::vector<Spec>& specs() {
  static const std::vector<Spec> all = [] {
    std::vector<Spec> v;
    const unsigned per_channel = kFeaturePerChannel | kFeaturePreciseRequant;
    v.push_back({{"out_cvt_ties",
                  "OUT_CVT rounds exact ties half up (docs/virtual-rk3588.md §5; third-party notes claim half to "
                  "even)",
                  kFeatureNone, true, compiled_with(Requant::kOutCvt)},
                 build_out_cvt_ties,
                 {{"OUT_CVT ties to even", with([](Rules& r) { r.out_cvt = Rounding::kHalfEven; })},
                  {"OUT_CVT ties away from zero", with([](Rules& r) { r.out_cvt = Rounding::kHalfAway; })},
                  {"OUT_CVT truncates (floor)", with([](Rules& r) { r.out_cvt = Rounding::kFloor; })}}});
    v.push_back({{"ew_ties",
                  "the EW operand conversion rounds exact ties half up (docs/virtual-rk3588.md §5, chosen by "
                  "closeness to TFLite, never measured)",
                  kFeatureNone, true, compiled_with(Requant::kOutCvt)},
                 build_ew_ties,
                 {{"EW conversion ties to even", with([](Rules& r) { r.ew = Rounding::kHalfEven; })},
                  {"EW conversion ties away from zero", with([](Rules& r) { r.ew = Rounding::kHalfAway; })},
                  {"EW conversion truncates (floor)", with([](Rules& r) { r.ew = Rounding::kFloor; })}}});
    const Hypothesis mul_first{"BS multiplies before adding A", with([](Rules& r) { r.add_before_mul = false; })};
    const Hypothesis narrow{"BS product saturated to 32 bits before the shift",
                            with([](Rules& r) { r.wide_product = false; })};
    const Hypothesis groups_of_4{"BRDMA stream in groups of 4 channels (RK3568 vendor layout)",
                                 with([](Rules& r) { r.stream_groups_of_4 = true; })};
    const Hypothesis bn_not_added{"BN ALU constant not added", with([](Rules& r) { r.bn_add = false; })};
    v.push_back({{"per_channel_conv",
                  "int8 per-channel requantization on the BS multiplier: BRDMA_DATA_USE 7 stream, A/B/C per 8 "
                  "channels, (acc + A) * C held wide, then shifted (docs/virtual-rk3588.md §9, third-party claim)",
                  per_channel, false, compiled_with(Requant::kOutCvt)},
                 build_per_channel_conv,
                 {mul_first, groups_of_4}});
    v.push_back({{"per_channel_depthwise",
                  "the same BS multiplier stream for a depthwise convolution, 64-channel groups, stride 2 "
                  "(docs/virtual-rk3588.md §9)",
                  per_channel, false, compiled_with(Requant::kOutCvt)},
                 build_per_channel_depthwise,
                 {mul_first, groups_of_4}});
    v.push_back({{"bs_wide_product",
                  "the BS product (acc + A) * C is held wide and saturated to 32 bits only after the shift, here "
                  "with a BS shift of 16 (docs/virtual-rk3588.md §9, third-party claim)",
                  per_channel, false, compiled_with(Requant::kOutCvt)},
                 build_bs_wide_product,
                 {narrow, mul_first, groups_of_4}});
    v.push_back({{"precise_conv",
                  "precise requantization: BS multiplier with one C for all channels, then the BN ALU adds the "
                  "constant BN_ALU_CFG (TFLite's rounding offset) before OUT_CVT (docs/virtual-rk3588.md §10, "
                  "NVDLA SDP lineage, unverified)",
                  kFeaturePreciseRequant, false, compiled_with(Requant::kPrecise)},
                 build_precise_conv,
                 {bn_not_added, mul_first, groups_of_4}});
    v.push_back({{"precise_relu6",
                  "precise requantization with ReLU6 at output zero point 20: BN ALU add, then BN ReLU/ReLUX in "
                  "the same stage (docs/virtual-rk3588.md §4, §10)",
                  kFeaturePreciseRequant, false, compiled_with(Requant::kPrecise)},
                 build_precise_relu6,
                 {bn_not_added,
                  {"BN ReLU not applied", with([](Rules& r) { r.relu = false; })},
                  {"BN ReLUX not applied", with([](Rules& r) { r.relux = false; })}}});
    v.push_back({{"precise_add",
                  "precise standalone ADD: the EW stage adds the second operand, converted exactly, to the BS "
                  "multiplier's output (docs/virtual-rk3588.md §10.6, NVDLA SDP lineage, unverified)",
                  kFeaturePreciseRequant, false, compiled_with(Requant::kPrecise)},
                 build_standalone_add,
                 {{"EW operand added before the BS multiplier", with([](Rules& r) { r.ew_after_bs = false; })},
                  {"EW operand not added", with([](Rules& r) { r.ew_operand = false; })}}});
    v.push_back({{"bn_relu6",
                  "BN ReLU/ReLUX clamp the accumulator at 0 and at BN_RELUX_CMP_VALUE: ReLU6 at output zero "
                  "point 80 (docs/virtual-rk3588.md §4 DPU_BN_CFG, inferred)",
                  kFeatureFusedClamps, false, compiled_with(Requant::kOutCvt)},
                 build_bn_relu6,
                 {{"BN ReLU not applied", with([](Rules& r) { r.relu = false; })},
                  {"BN ReLUX not applied", with([](Rules& r) { r.relux = false; })},
                  {"BN clamps not applied", with([](Rules& r) { r.relu = r.relux = false; })}}});
    v.push_back({{"stride_1x2",
                  "CONV_X_STRIDE is the horizontal and CONV_Y_STRIDE the vertical stride (docs/virtual-rk3588.md "
                  "§3; rocket.md §9 q12: Mesa only writes equal strides)",
                  kFeatureAnisotropic, false, compiled_with(Requant::kOutCvt)},
                 build_stride_1x2,
                 {{"x/y strides swapped", with([](Rules& r) { r.swap_strides = true; })}}});
    v.push_back({{"kernel_5x3",
                  "non-square kernel and input: WEIGHT_WIDTH/HEIGHT and PAD_LEFT/PAD_TOP per axis, 5x3 kernel "
                  "on 7x11 (docs/virtual-rk3588.md §2-§3; rocket.md §3.6, §9 q12)",
                  kFeatureAnisotropic, false, compiled_with(Requant::kOutCvt)},
                 build_kernel_5x3,
                 {{"kernel width/height swapped", with([](Rules& r) { r.swap_kernel = true; })},
                  {"PAD_LEFT/PAD_TOP swapped", with([](Rules& r) { r.swap_pads = true; })}}});
    v.push_back({{"standalone_add",
                  "standalone ADD: identity 1x1 convolution plus the other operand through the EW stage, "
                  "MRDMA/ERDMA surfaces interleaved (docs/virtual-rk3588.md §4 EW; lower.cc)",
                  kFeatureStandaloneAdd, false, compiled_with(Requant::kOutCvt)},
                 build_standalone_add,
                 {{"EW operand not added", with([](Rules& r) { r.ew_operand = false; })}}});
    v.push_back({{"add_relu6",
                  "EW ReLU/ReLUX clamp after the element-wise add: ReLU6 at output zero point 90 "
                  "(docs/virtual-rk3588.md §4 DPU_EW_CFG, inferred)",
                  kFeatureFusedClamps, false, compiled_with(Requant::kOutCvt)},
                 build_add_relu6,
                 {{"EW ReLU not applied", with([](Rules& r) { r.relu = false; })},
                  {"EW ReLUX not applied", with([](Rules& r) { r.relux = false; })}}});
    return v;
  }();
  return all;
}

const Spec* find_spec(const std::string& name) {
  for (const Spec& s : specs()) {
    if (s.info.name == name) return &s;
  }
  return nullptr;
}


// ---------------------------------------------------------------------------
// Running.

int32_t signed_value(uint8_t raw, DType t) {
  return t == DType::kUInt8 ? int32_t{raw} - 128 : int32_t{static_cast<int8_t>(raw)};
}
int value_of(uint8_t raw, DType t) { return t == DType::kUInt8 ? int{raw} : int{static_cast<int8_t>(raw)}; }

std::vector<int32_t> signed_values(const ir::Tensor& t, const std::vector<uint8_t>& bytes) {
  std::vector<int32_t> v(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) v[i] = signed_value(bytes[i], t.dtype);
  return v;
}


// *lowered: the backend accepted the graph (a later failure is the probe's).
Status lower_probe(const ir::Graph& graph, const Inputs& inputs, const EncodingOptions& encoding, Compiled* c,
                   bool* lowered) {
  std::vector<NpuConv> ops;
  Status s = lower_graph(graph, encoding, &ops);
  if (!s.ok()) return s;
  *lowered = true;
  if (ops.size() != 1) return Status::error("probe lowered to " + std::to_string(ops.size()) + " NPU operations");
  c->op = ops[0];
  const Support ok = encode_dpu(c->op, encoding, &c->enc);
  if (!ok.supported) return Status::error(ok.reason);
  std::vector<int32_t> words;
  if (!(s = fold_biases(c->op, encoding, &words)).ok()) return s;
  c->stream.resize(words.size() * 4);
  std::memcpy(c->stream.data(), words.data(), c->stream.size());
  auto values_of = [&](int tensor) -> std::vector<int32_t> {
    const ir::Tensor& t = graph.tensor(tensor);
    if (t.constant) return signed_values(t, t.data);
    for (size_t i = 0; i < graph.inputs.size(); ++i) {
      if (graph.inputs[i] == tensor) return signed_values(t, inputs[i]);
    }
    return {};
  };
  c->operands.input = values_of(c->op.input);
  if (c->op.has_addend()) c->operands.addend = values_of(c->op.addend);
  return {};
}

Status build_spec(const Spec& spec, ir::Graph* graph, Inputs* inputs) {
  GraphMaker m;
  inputs->clear();
  spec.build(&m, inputs);
  const std::string invalid = ir::validate(m.g);
  if (!invalid.empty()) return Status::error("probe graph invalid: " + invalid);
  *graph = std::move(m.g);
  return {};
}

// Feeds `inputs` to `program`, invokes it once and reads its only output.
Status run_program(Program& program, const Inputs& inputs, size_t output_bytes, std::vector<uint8_t>* out) {
  Status s;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!(s = program.set_input(i, inputs[i].data(), inputs[i].size())).ok()) return s;
  }
  if (!(s = program.invoke()).ok()) return s;
  out->resize(output_bytes);
  return program.get_output(0, out->data(), out->size());
}

Status run_reference(const ir::Graph& graph, const Inputs& inputs, std::vector<uint8_t>* out) {
  auto backend = reference::create_reference_backend(reference::Numerics::kTflite29);
  for (const ir::Operation& op : graph.ops) {
    const Support ok = backend->supports(graph, op);
    if (!ok.supported) return Status::error("reference backend refuses the probe: " + ok.reason);
  }
  std::unique_ptr<Program> program;
  Status s = backend->compile(graph, &program);
  if (!s.ok()) return s;
  return run_program(*program, inputs, graph.tensor(graph.outputs[0]).num_bytes(), out);
}

// The device's run, through the rocket backend's own compile path with the
// fault fallback off, so a device fault is reported, never replaced.
Status run_device(kernel::Device& device, const ir::Graph& graph, const Inputs& inputs,
                  const EncodingOptions& encoding, std::vector<uint8_t>* out) {
  // Not owned: the caller's device outlives the program compiled here.
  std::shared_ptr<kernel::Device> shared(std::shared_ptr<void>(), &device);
  ProgramOptions options;
  options.fallback_on_fault = false;
  options.encoding = encoding;
  std::unique_ptr<Program> program;
  Status s = compile_program(shared, graph, options, &program);
  if (!s.ok()) return Status::error("compile: " + s.message());
  s = run_program(*program, inputs, graph.tensor(graph.outputs[0]).num_bytes(), out);
  if (!s.ok()) return Status::error("invoke: " + s.message());
  return {};
}

// Outputs an unverified tie rule could change: where the model with exact
// ties rounded another way, at any of the three rounding stages, gives other
// values.
std::vector<bool> tie_sensitive(const Model& m, const Evaluation& model) {
  std::vector<bool> sensitive(model.out.size(), false);
  uint8_t stages = 0;
  for (uint8_t t : model.ties) stages |= t;
  auto check = [&](uint8_t stage, Rounding Rules::*field, Rounding rule) {
    Rules rules;
    if (!(stages & stage) || rules.*field == rule) return;
    rules.*field = rule;
    const Evaluation e = m.run(rules);
    for (size_t i = 0; i < sensitive.size(); ++i) sensitive[i] = sensitive[i] || e.out[i] != model.out[i];
  };
  for (Rounding rule : {Rounding::kHalfUp, Rounding::kHalfEven, Rounding::kHalfAway}) {
    check(kTieBs, &Rules::bs, rule);
    check(kTieEw, &Rules::ew, rule);
    check(kTieOutCvt, &Rules::out_cvt, rule);
  }
  return sensitive;
}

std::vector<uint8_t> to_bytes(const std::vector<int32_t>& signed_out, DType dtype) {
  std::vector<uint8_t> b(signed_out.size());
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(signed_out[i] + (dtype == DType::kUInt8 ? 128 : 0));
  return b;
}

constexpr size_t kMaxMismatches = 8;
constexpr const char* kSimulatedNote = "virtual RK3588 (simulated): checks the model against itself";

std::string count_text(int64_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); }

ProbeResult run_spec(kernel::Device& device, const Spec& spec) {
  ProbeResult r;
  r.info = spec.info;
  r.simulated = device.simulated();
  const std::string prefix = r.simulated ? std::string(kSimulatedNote) + "; " : "";
  auto finish = [&](ProbeStatus status, const std::string& detail) {
    r.status = status;
    r.detail = prefix + detail;
    return r;
  };
  ir::Graph graph;
  Inputs inputs;
  Status s = build_spec(spec, &graph, &inputs);
  if (!s.ok()) return finish(ProbeStatus::kError, s.message());
  const EncodingOptions& encoding = r.info.encoding;
  // lower_graph() refuses exactly what supports() refuses (lower_op).
  Compiled c;
  bool lowered = false;
  if (!(s = lower_probe(graph, inputs, encoding, &c, &lowered)).ok()) {
    return lowered ? finish(ProbeStatus::kError, "probe model: " + s.message())
                   : finish(ProbeStatus::kSkipped, "the rocket backend does not lower it: " + s.message());
  }
  const DType dtype = graph.tensor(graph.outputs[0]).dtype;

  std::vector<uint8_t> device_out, tflite_out;
  if (!(s = run_device(device, graph, inputs, encoding, &device_out)).ok()) {
    return finish(ProbeStatus::kError, s.message());
  }
  if (!(s = run_reference(graph, inputs, &tflite_out)).ok()) return finish(ProbeStatus::kError, s.message());

  const Model m(c);
  const Evaluation model = m.run(Rules{});
  const std::vector<uint8_t> model_out = to_bytes(model.out, dtype);
  if (model_out.size() != device_out.size()) return finish(ProbeStatus::kError, "probe model: output size differs");
  r.elements = static_cast<int64_t>(model_out.size());
  const std::vector<bool> sensitive = tie_sensitive(m, model);
  std::vector<bool> compare(model_out.size());
  for (size_t i = 0; i < compare.size(); ++i) {
    compare[i] = spec.info.rule || !sensitive[i];
    r.compared += compare[i];
    r.tie_outputs += sensitive[i];
    const int td = std::abs(value_of(device_out[i], dtype) - value_of(tflite_out[i], dtype));
    r.tflite_differing += td != 0;
    r.tflite_max_diff = std::max(r.tflite_max_diff, td);
    if (!compare[i] || device_out[i] == model_out[i]) continue;
    const int d = std::abs(value_of(device_out[i], dtype) - value_of(model_out[i], dtype));
    ++r.differing;
    r.max_diff = std::max(r.max_diff, d);
    if (r.mismatches.size() < kMaxMismatches) {
      r.mismatches.push_back({static_cast<int64_t>(i), value_of(device_out[i], dtype), value_of(model_out[i], dtype),
                              value_of(tflite_out[i], dtype)});
    }
  }
  int64_t distinguishing_total = 0;
  for (const Hypothesis& h : spec.alternatives) {
    const std::vector<uint8_t> alt = to_bytes(m.run(h.rules).out, dtype);
    HypothesisCheck check{h.name, 0, true};
    for (size_t i = 0; i < alt.size(); ++i) {
      if (!compare[i]) continue;
      check.distinguishing += alt[i] != model_out[i];
      check.matches = check.matches && alt[i] == device_out[i];
    }
    check.matches = check.matches && check.distinguishing > 0;
    distinguishing_total += check.distinguishing;
    if (check.matches) r.matched.push_back(h.name);
    r.hypotheses.push_back(check);
  }

  const std::string vs_tflite =
      r.tflite_differing == 0
          ? "vs TFLite: equal"
          : "vs TFLite: max " + std::to_string(r.tflite_max_diff) + " on " + count_text(r.tflite_differing, "output");
  std::string ties;
  if (r.tie_outputs) {
    ties = " (" + count_text(r.tie_outputs, "output") +
           (spec.info.rule ? " depending on the tie rule)" : " depending on a tie rule not compared)");
  }
  if (r.differing == 0) {
    if (spec.info.rule && distinguishing_total == 0) {
      return finish(ProbeStatus::kSkipped, "inconclusive: no output distinguishes the rules in this encoding");
    }
    return finish(ProbeStatus::kPass, "equal to the model on " + std::to_string(r.compared) + " of " +
                                          count_text(r.elements, "output") + ties + "; " + vs_tflite);
  }
  std::string detail = "differs from the model on " + std::to_string(r.differing) + " of " +
                       count_text(r.compared, "compared output") + " (max " + std::to_string(r.max_diff) + ")";
  if (!r.matched.empty()) {
    detail += "; the device follows:";
    for (size_t i = 0; i < r.matched.size(); ++i) detail += (i ? ", " : " ") + r.matched[i];
  } else {
    detail += "; matches no listed hypothesis";
  }
  return finish(ProbeStatus::kFail, detail + "; " + vs_tflite);
}

}  // namespace

std::vector<ProbeInfo> probe_catalog() {
  std::vector<ProbeInfo> v;
  for (const Spec& s : specs()) v.push_back(s.info);
  return v;
}

const char* probe_status_name(ProbeStatus s) {
  switch (s) {
    case ProbeStatus::kPass: return "pass";
    case ProbeStatus::kFail: return "fail";
    case ProbeStatus::kError: return "error";
    case ProbeStatus::kSkipped: return "skipped";
  }
  return "?";
}

std::vector<ProbeResult> run_probes(kernel::Device& device, const std::vector<std::string>& names) {
  std::vector<ProbeResult> results;
  for (const Spec& spec : specs()) {
    if (!names.empty() && std::find(names.begin(), names.end(), spec.info.name) == names.end()) continue;
    results.push_back(run_spec(device, spec));
  }
  return results;
}

EncodingOptions verified_encoding(kernel::Device& device, EncodingOptions wanted, std::string* log) {
  const unsigned asked = (wanted.per_channel ? kFeaturePerChannel : 0u) |
                         (wanted.requant == Requant::kPrecise ? kFeaturePreciseRequant : 0u);
  unsigned failed = 0;
  std::string text;
  for (const Spec& spec : specs()) {
    if (!(spec.info.features & asked)) continue;
    const ProbeResult r = run_spec(device, spec);
    text += "rocket probe " + r.info.name + ": " + probe_status_name(r.status) + ": " + r.detail + "\n";
    if (r.status == ProbeStatus::kPass) continue;
    failed |= r.info.features & asked;
    if (r.status == ProbeStatus::kError) {
      // A faulting NPU (a hung job costs the full wait) verifies nothing more.
      failed = asked;
      text += "rocket: the NPU faulted while probing; no further probes run\n";
      break;
    }
  }
  if (failed & kFeaturePerChannel) {
    wanted.per_channel = false;
    text += "rocket: int8 per-channel requantization on the BS multiplier turned off (those convolutions run on "
            "the CPU)\n";
  }
  if (failed & kFeaturePreciseRequant) {
    wanted.requant = Requant::kOutCvt;
    text += "rocket: precise requantization turned off (OUT_CVT requantization instead)\n";
  }
  if (log) *log += text;
  return wanted;
}

Status probe_graph(const std::string& name, ir::Graph* graph, std::vector<std::vector<uint8_t>>* inputs) {
  const Spec* spec = find_spec(name);
  if (!spec) return Status::error("unknown probe '" + name + "'");
  return build_spec(*spec, graph, inputs);
}

Status predict_probe(const std::string& name, ProbePrediction* out) {
  const Spec* spec = find_spec(name);
  if (!spec) return Status::error("unknown probe '" + name + "'");
  ir::Graph graph;
  Inputs inputs;
  Status s = build_spec(*spec, &graph, &inputs);
  Compiled c;
  bool lowered = false;
  if (s.ok()) s = lower_probe(graph, inputs, spec->info.encoding, &c, &lowered);
  if (!s.ok()) return s;
  const Evaluation e = Model(c).run(Rules{});
  out->dtype = graph.tensor(graph.outputs[0]).dtype;
  out->output = to_bytes(e.out, out->dtype);
  out->ties = e.ties;
  out->out_offset = c.enc.out_offset;
  return {};
}

}  // namespace nonstick::rocket
