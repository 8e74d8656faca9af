// ADD, SUB and MUL on uint8/int8 tensors with NumPy-style broadcasting,
// computed as TensorFlow Lite's builtin kernels compute them.
//
// ADD/SUB: both inputs are moved onto a common scale (twice the larger input
// scale) with 20 bits of headroom, added or subtracted, and rescaled to the
// output; each of the three rescalings rounds separately. SUB subtracts the
// rescaled second input, as TFLite 2.9 does; folding the sign into its
// multiplier instead would differ at rounding ties, since gemmlowp's rounding
// high multiply is not odd-symmetric.
// MUL: one rescaling of the product of the centred inputs, by a multiplier
// TFLite computes in single precision (s1 * s2 / so in float).
// ai-edge-litert runs TFLite's NEON kernels through an SSE translation
// layer for ADD and MUL, and the arm64 build of 2.9 runs them natively (same
// results, measured under qemu-aarch64): in each run of elements its broadcast loops hand to
// one call, whole vector blocks (8 lanes for uint8; 16 for int8, but 8 in
// int8 ADD's scalar-broadcast runs) narrow the rescaled result to int16 and
// add the output zero point in wrapping 16-bit arithmetic; the rest of the
// run takes the exact scalar path. ADD truncates the narrow; MUL saturates
// it, except in uint8 scalar-broadcast runs, which truncate. SUB has no
// vector code. The results differ from the other runtimes only when the
// rescaled result leaves the int16 range (output scales far below the
// inputs').
//
// Which broadcasts are accepted follows TFLite 2.9: any rank when the shapes
// agree after left-padding with ones, otherwise at most 4 dims unless the
// pattern fits TFLite's "fivefold" fast path (ADD, MUL); SUB has a generic
// broadcast up to 5 dims and none beyond.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "backends/reference/fixed_point.h"
#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {

constexpr int kMaxRank = 6;

// Output-ordered iteration with per-input element strides, zero along the
// dimensions an input is broadcast over. Dimensions are merged where both
// inputs step alike, so the common cases become one or two loops.
struct BroadcastPlan {
  int rank = 0;
  std::array<int64_t, kMaxRank> dims{};
  std::array<int64_t, kMaxRank> stride1{};
  std::array<int64_t, kMaxRank> stride2{};
  int64_t count = 0;
};

std::vector<int32_t> left_pad(const std::vector<int32_t>& shape, size_t rank) {
  std::vector<int32_t> out(rank - shape.size(), 1);
  out.insert(out.end(), shape.begin(), shape.end());
  return out;
}

BroadcastPlan make_plan(const std::vector<int32_t>& s1, const std::vector<int32_t>& s2,
                        const std::vector<int32_t>& out) {
  const size_t rank = out.size();
  const std::vector<int32_t> a = left_pad(s1, rank), b = left_pad(s2, rank);
  BroadcastPlan p;
  p.count = 1;
  for (int32_t d : out) p.count *= d;
  // Walk from the innermost dimension, merging runs of equal broadcast kind.
  struct Dim { int64_t n; bool full1, full2; };
  std::vector<Dim> dims;
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    Dim d{out[i], a[i] != 1, b[i] != 1};
    if (!dims.empty() && dims.back().full1 == d.full1 && dims.back().full2 == d.full2) {
      dims.back().n *= d.n;
    } else {
      dims.push_back(d);
    }
  }
  if (dims.empty()) dims.push_back({1, true, true});
  p.rank = static_cast<int>(dims.size());
  int64_t st1 = 1, st2 = 1;
  for (int i = p.rank - 1; i >= 0; --i) {
    const Dim& d = dims[static_cast<size_t>(i)];
    p.dims[static_cast<size_t>(i)] = d.n;
    p.stride1[static_cast<size_t>(i)] = d.full1 ? st1 : 0;
    p.stride2[static_cast<size_t>(i)] = d.full2 ? st2 : 0;
    if (d.full1) st1 *= d.n;
    if (d.full2) st2 *= d.n;
  }
  return p;
}

// Calls f(out_index, in1_index, in2_index) for every output element in order.
template <typename F>
void for_each_element(const BroadcastPlan& p, F&& f) {
  if (p.count == 0) return;
  const int inner = p.rank - 1;
  const auto in = static_cast<size_t>(inner);
  const int64_t n = p.dims[in], s1 = p.stride1[in], s2 = p.stride2[in];
  std::array<int64_t, kMaxRank> index{};
  int64_t out = 0, i1 = 0, i2 = 0;
  while (true) {
    for (int64_t k = 0; k < n; ++k) f(out + k, i1 + k * s1, i2 + k * s2);
    out += n;
    int d = inner - 1;
    for (; d >= 0; --d) {
      const auto u = static_cast<size_t>(d);
      i1 += p.stride1[u];
      i2 += p.stride2[u];
      if (++index[u] < p.dims[u]) break;
      i1 -= p.stride1[u] * p.dims[u];
      i2 -= p.stride2[u] * p.dims[u];
      index[u] = 0;
    }
    if (d < 0) return;
  }
}

// TFLite's classification of a broadcast (ProcessBroadcastShapes): true when
// the pattern reduces to its five-loop fast path, i.e. from the innermost
// dimension outwards: equal dims, dims where one input ("a") is 1, equal
// dims, dims where the other is 1, equal dims, and nothing left over.
// Also gives the sizes of the two innermost loops: runs of `inner` elements
// both inputs step through together, or (inner == 1) runs of `broadcast`
// elements against one value of the broadcasting input.
bool fits_fivefold(const std::vector<int32_t>& a0, const std::vector<int32_t>& b0, int64_t* inner = nullptr,
                   int64_t* broadcast = nullptr) {
  int i = static_cast<int>(a0.size()) - 1;
  // The input broadcasting at the innermost differing dimension plays "a".
  bool swap = false;
  for (int k = i; k >= 0; --k) {
    const auto u = static_cast<size_t>(k);
    if (a0[u] == b0[u]) continue;
    swap = a0[u] != 1;
    break;
  }
  const std::vector<int32_t>& a = swap ? b0 : a0;
  const std::vector<int32_t>& b = swap ? a0 : b0;
  auto at = [](const std::vector<int32_t>& v, int k) { return v[static_cast<size_t>(k)]; };
  int64_t y4 = 1, y3 = 1;
  for (; i >= 0 && at(a, i) == at(b, i); --i) y4 *= at(b, i);
  for (; i >= 0 && at(a, i) == 1; --i) y3 *= at(b, i);
  if (inner) *inner = y4;
  if (broadcast) *broadcast = y3;
  while (i >= 0 && at(a, i) == at(b, i)) --i;
  while (i >= 0 && at(b, i) == 1) --i;
  while (i >= 0 && at(a, i) == at(b, i)) --i;
  return i < 0;
}

// TFLite refuses a fused activation whose bounds (6 or +-1, divided by the
// output scale) do not fit in int32; we keep well inside that.
bool activation_bounds_fit(ir::Activation act, float scale) {
  const float bound = act == ir::Activation::kRelu6 ? 6.0f
                      : act == ir::Activation::kReluN1To1 ? 1.0f : 0.0f;
  return std::fabs(std::round(bound / scale)) < static_cast<float>(1 << 30);
}

struct TypeRange {
  int32_t min, max;
};

TypeRange type_range(ir::DType t) {
  return t == ir::DType::kUInt8 ? TypeRange{0, 255} : TypeRange{-128, 127};
}

// Everything run() needs, derived once from the graph.
struct Prepared {
  ir::DType dtype = ir::DType::kUInt8;
  BroadcastPlan plan;
  int32_t offset1 = 0, offset2 = 0, out_offset = 0;
  QuantizedMultiplier m1, m2, out;  // m1/m2 unused by MUL
  ActivationRange range{0, 0};
};

Support prepare(const ir::Graph& g, const ir::Operation& op, Prepared* p) {
  if (op.inputs.size() != 2 || op.outputs.size() != 1) {
    return Support::no("expects 2 inputs, 1 output");
  }
  const ir::Tensor* x = g.input(op, 0);
  const ir::Tensor* y = g.input(op, 1);
  const ir::Tensor& o = g.output(op, 0);
  if (!x || !y) return Support::no("missing input");
  if (x->dtype != y->dtype || x->dtype != o.dtype) return Support::no("mixed input/output types");
  if (o.dtype != ir::DType::kUInt8 && o.dtype != ir::DType::kInt8) {
    return Support::no(std::string(ir::dtype_name(o.dtype)) + " not supported");
  }
  const TypeRange tr = type_range(o.dtype);
  for (const ir::Tensor* t : {x, y, &o}) {
    if (t->quant.empty()) return Support::no("tensor not quantized");
    if (t->quant.per_channel()) return Support::no("per-channel quantization not supported");
    if (!(t->quant.scale() > 0.0f) || !std::isfinite(t->quant.scale())) {
      return Support::no("non-positive scale");
    }
    if (t->quant.zero_point() < tr.min || t->quant.zero_point() > tr.max) {
      return Support::no("zero point outside the type's range");
    }
  }
  if (!std::holds_alternative<ir::ElementwiseParams>(op.params)) {
    return Support::no("missing params");
  }

  // Shapes: the output must be the broadcast of the inputs.
  const size_t rank = std::max(x->shape.size(), y->shape.size());
  if (rank > kMaxRank) return Support::no("more than 6 dims");
  const std::vector<int32_t> a = left_pad(x->shape, rank), b = left_pad(y->shape, rank);
  std::vector<int32_t> expect(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) return Support::no("shapes do not broadcast");
    expect[i] = a[i] == 1 ? b[i] : a[i];
  }
  if (o.shape != expect) return Support::no("output shape is not the broadcast shape");
  if (a != b) {
    if (op.type == ir::OpType::kSub) {
      if (rank > 5) return Support::no("SUB broadcast over more than 5 dims");
    } else if (rank > 4 && !fits_fivefold(a, b)) {
      return Support::no("broadcast pattern over more than 4 dims");
    }
  }

  const ir::Activation act = op.get<ir::ElementwiseParams>().activation;
  const float s1 = x->quant.scale(), s2 = y->quant.scale(), so = o.quant.scale();
  if (!activation_bounds_fit(act, so)) return Support::no("activation bound beyond int32");

  p->dtype = o.dtype;
  p->plan = make_plan(x->shape, y->shape, o.shape);
  p->offset1 = -x->quant.zero_point();
  p->offset2 = -y->quant.zero_point();
  p->out_offset = o.quant.zero_point();
  p->range = activation_range(act, o.dtype, so, o.quant.zero_point());
  if (op.type == ir::OpType::kMul) {
    // TFLite evaluates this product and quotient in float before widening.
    const float real = s1 * s2 / so;
    p->out = quantize_multiplier(static_cast<double>(real));
    // |x * y| <= 255^2 must survive the left shift in 32 bits.
    if (p->out.shift > 15) return Support::no("MUL rescale factor of 2^15 or more");
    return Support::yes();
  }
  const double twice_max = static_cast<double>(2.0f * std::max(s1, s2));
  const double real_out = twice_max / static_cast<double>(static_cast<float>(1 << 20) * so);
  // TFLite aborts on a multiplier >= 1 here (QuantizeMultiplierSmallerThanOneExp).
  if (!(real_out < 1.0)) return Support::no("output scale below 2^-19 of the input scales");
  p->m1 = quantize_multiplier(static_cast<double>(s1) / twice_max);
  p->m2 = quantize_multiplier(static_cast<double>(s2) / twice_max);
  p->out = quantize_multiplier(real_out);
  return Support::yes();
}

// Both operands on the common scale, with 20 bits of headroom.
struct Rescaled {
  int32_t a, b;
};

inline Rescaled rescale(const Prepared* p, int32_t x, int32_t y) {
  constexpr int kLeftShift = 20;
  return {multiply_by_quantized_multiplier((p->offset1 + x) * (1 << kLeftShift), p->m1),
          multiply_by_quantized_multiplier((p->offset2 + y) * (1 << kLeftShift), p->m2)};
}

// Each op's result on the output scale, before the output zero point.
struct AddOp {
  int32_t operator()(const Prepared* p, int32_t x, int32_t y) const {
    const Rescaled r = rescale(p, x, y);
    return multiply_by_quantized_multiplier(r.a + r.b, p->out);
  }
};

struct SubOp {
  int32_t operator()(const Prepared* p, int32_t x, int32_t y) const {
    const Rescaled r = rescale(p, x, y);
    return multiply_by_quantized_multiplier(r.a - r.b, p->out);
  }
};

struct MulOp {
  int32_t operator()(const Prepared* p, int32_t x, int32_t y) const {
    return multiply_by_quantized_multiplier((p->offset1 + x) * (p->offset2 + y), p->out);
  }
};

template <typename T, typename Op>
class BinaryKernel final : public Kernel {
 public:
  BinaryKernel(Prepared p, int in1, int in2, int out) : p_(p), in1_(in1), in2_(in2), out_(out) {}

  void run(const TensorMemory& memory) const override {
    const T* x = memory.get<T>(in1_);
    const T* y = memory.get<T>(in2_);
    T* o = memory.get<T>(out_);
    for_each_element(p_.plan, [&](int64_t io, int64_t i1, int64_t i2) {
      o[io] = clamp_to<T>(Op{}(&p_, x[i1], y[i2]) + p_.out_offset, p_.range.min, p_.range.max);
    });
  }

 private:
  Prepared p_;
  int in1_, in2_, out_;
};

// How litert's vector code finishes an element (see the top of the file).
enum class Narrow : uint8_t { kNone, kSaturating, kTruncating };

// Lanes per vector block and narrowing, in runs both inputs step through
// (element-wise) and in runs against one broadcast value.
struct LiteRtVectorCode {
  int elementwise_lanes = 8;
  Narrow elementwise = Narrow::kNone;
  int scalar_lanes = 8;
  Narrow scalar_broadcast = Narrow::kNone;
};

// Per output element, the narrowing litert's code applies to it: runs as
// TFLite's broadcast classification forms them, vector blocks first, the
// rest of each run (and generic broadcasts) exact.
std::vector<Narrow> litert_narrowing(const std::vector<int32_t>& s1, const std::vector<int32_t>& s2,
                                     const std::vector<int32_t>& out, const LiteRtVectorCode& code) {
  int64_t count = 1;
  for (int32_t d : out) count *= d;
  std::vector<Narrow> narrow(static_cast<size_t>(count), Narrow::kNone);
  auto mark = [&](int64_t run, int lanes, Narrow kind) {
    const int64_t vector_part = run / lanes * lanes;
    for (int64_t start = 0; start + run <= count; start += run) {
      std::fill_n(narrow.begin() + start, vector_part, kind);
    }
  };
  const std::vector<int32_t> a = left_pad(s1, out.size()), b = left_pad(s2, out.size());
  int64_t inner = 1, broadcast = 1;
  if (a == b) {
    mark(count, code.elementwise_lanes, code.elementwise);
  } else if (fits_fivefold(a, b, &inner, &broadcast)) {
    if (inner > 1) {
      mark(inner, code.elementwise_lanes, code.elementwise);
    } else {
      mark(broadcast, code.scalar_lanes, code.scalar_broadcast);
    }
  }
  return narrow;
}

template <typename T, typename Op>
class LiteRtBinaryKernel final : public Kernel {
 public:
  LiteRtBinaryKernel(Prepared p, std::vector<Narrow> narrow, int in1, int in2, int out)
      : p_(p), narrow_(std::move(narrow)), in1_(in1), in2_(in2), out_(out) {}

  void run(const TensorMemory& memory) const override {
    const T* x = memory.get<T>(in1_);
    const T* y = memory.get<T>(in2_);
    T* o = memory.get<T>(out_);
    for_each_element(p_.plan, [&](int64_t io, int64_t i1, int64_t i2) {
      const int32_t raw = Op{}(&p_, x[i1], y[i2]);
      int32_t v = raw + p_.out_offset;
      switch (narrow_[static_cast<size_t>(io)]) {
        case Narrow::kNone: break;
        case Narrow::kSaturating: v = static_cast<int16_t>(std::clamp(raw, -32768, 32767) + p_.out_offset); break;
        case Narrow::kTruncating: v = static_cast<int16_t>(static_cast<int16_t>(raw) + p_.out_offset); break;
      }
      o[io] = clamp_to<T>(v, p_.range.min, p_.range.max);
    });
  }

 private:
  Prepared p_;
  std::vector<Narrow> narrow_;
  int in1_, in2_, out_;
};

// litert's vector code per op and dtype, as measured; SUB has none.
LiteRtVectorCode litert_vector_code(ir::OpType type, ir::DType dtype) {
  const bool u8 = dtype == ir::DType::kUInt8;
  if (type == ir::OpType::kAdd) return {u8 ? 8 : 16, Narrow::kTruncating, 8, Narrow::kTruncating};
  if (type == ir::OpType::kMul) {
    return {u8 ? 8 : 16, Narrow::kSaturating, u8 ? 8 : 16, u8 ? Narrow::kTruncating : Narrow::kSaturating};
  }
  return {};
}

Support check(const ir::Graph& g, const ir::Operation& op) {
  Prepared p;
  return prepare(g, op, &p);
}

template <typename Op>
std::unique_ptr<Kernel> create(const ir::Graph& g, const ir::Operation& op, Numerics numerics) {
  Prepared p;
  prepare(g, op, &p);
  const int a = op.inputs[0], b = op.inputs[1], o = op.outputs[0];
  const LiteRtVectorCode code = litert_vector_code(op.type, p.dtype);
  if (runs_neon_blocks(numerics) && code.elementwise != Narrow::kNone) {
    auto narrow = litert_narrowing(g.input(op, 0)->shape, g.input(op, 1)->shape, g.output(op, 0).shape, code);
    if (p.dtype == ir::DType::kUInt8) return std::make_unique<LiteRtBinaryKernel<uint8_t, Op>>(p, narrow, a, b, o);
    return std::make_unique<LiteRtBinaryKernel<int8_t, Op>>(p, narrow, a, b, o);
  }
  if (p.dtype == ir::DType::kUInt8) return std::make_unique<BinaryKernel<uint8_t, Op>>(p, a, b, o);
  return std::make_unique<BinaryKernel<int8_t, Op>>(p, a, b, o);
}

}  // namespace

const KernelFactory& add_kernel() {
  static const KernelFactory f{check, create<AddOp>};
  return f;
}

const KernelFactory& sub_kernel() {
  static const KernelFactory f{check, create<SubOp>};
  return f;
}

const KernelFactory& mul_kernel() {
  static const KernelFactory f{check, create<MulOp>};
  return f;
}

}  // namespace nonstick::reference
