// CNA (feature/weight DMA, input converter, padding) and CORE (MAC array,
// CLIP_TRUNCATE) of the virtual NPU. Register semantics and the evidence for
// each are in docs/virtual-rk3588.md; rocket.md §2.3/§3 gives the layouts.
#include "virtual/rk3588/npu_cna.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace nonstick::virt {

namespace {

constexpr uint64_t kCbufBankBytes = 32 * 1024;
constexpr uint32_t kCbufBanks = 12;
constexpr uint32_t kAtomBytes = 16;  // C2: one feature atom = 16 int8 channels

struct ConvSetup {
  uint32_t in_w = 0, in_h = 0, in_c = 0, in_c_real = 0;
  bool depthwise = false;
  bool raw_input = false;  // ARGB_IN 8: one unsigned byte per pixel, converted on the fly
  uint32_t stride_x = 1, stride_y = 1, pad_left = 0, pad_top = 0;
  int8_t pad_value = 0;
  uint32_t out_w = 0, out_h = 0, out_c = 0;
  uint32_t kw = 0, kh = 0, kernels = 0, bytes_per_kernel = 0, weight_bytes = 0;
  uint32_t feature_addr = 0, weight_addr = 0;
  uint64_t line_bytes = 0, surface_bytes = 0;
  bool weight_reuse = false;
  uint32_t truncate = 0;
  int32_t cvt_offset = 0, cvt_scale = 1;
  uint32_t cvt_truncate = 0;
  uint32_t data_banks = 0, weight_banks = 0;
};

template <typename R>
Status require(const char* field, uint32_t value, uint32_t expected, const char* why) {
  if (value == expected) return {};
  return unmodelled<R>(field, value, why);
}

// Decodes and validates every CNA/CORE register the task depends on.
Status decode(const RegisterFile& regs, const CbufState& cbuf, ConvSetup* s) {
  using namespace reg;
  const uint32_t con1 = regs.get<CNA_CONV_CON1>();
  const uint32_t mode = CNA_CONV_CON1::get_CONV_MODE(con1);
  if (mode != 0 && mode != 3) {
    return unmodelled<CNA_CONV_CON1>("CONV_MODE", mode, "not modelled (0 direct and 3 depthwise are)");
  }
  s->depthwise = mode == 3;
  VNPU_TRY(require<CNA_CONV_CON1>("IN_PRECISION", CNA_CONV_CON1::get_IN_PRECISION(con1), 0,
                                  "only int8 input is modelled"));
  VNPU_TRY(require<CNA_CONV_CON1>("PROC_PRECISION", CNA_CONV_CON1::get_PROC_PRECISION(con1), 0,
                                  "only int8 processing is modelled"));
  VNPU_TRY(require<CNA_CONV_CON1>("DECONV", CNA_CONV_CON1::get_DECONV(con1), 0, "deconvolution is not modelled"));
  const uint32_t argb = CNA_CONV_CON1::get_ARGB_IN(con1);
  const bool nonalign = CNA_CONV_CON1::get_NONALIGN_DMA(con1), group_off = CNA_CONV_CON1::get_GROUP_LINE_OFF(con1);
  if (argb == 8 && nonalign && group_off && !s->depthwise) {
    s->raw_input = true;
  } else if (argb != 0 || nonalign || group_off) {
    return unmodelled<CNA_CONV_CON1>("", con1,
                                     "only ARGB_IN 0, or ARGB_IN 8 with NONALIGN_DMA and GROUP_LINE_OFF for a "
                                     "direct convolution (single-channel raw input), is modelled");
  }

  const uint32_t con2 = regs.get<CNA_CONV_CON2>();
  if (CNA_CONV_CON2::get_KERNEL_GROUP(con2) || CNA_CONV_CON2::get_CSC_WO_EN(con2) ||
      CNA_CONV_CON2::get_CSC_DO_EN(con2) || CNA_CONV_CON2::get_CMD_FIFO_SRST(con2)) {
    return unmodelled<CNA_CONV_CON2>("", con2,
                                     "only FEATURE_GRAINS may be set (KERNEL_GROUP, CSC_*, FIFO reset: not modelled)");
  }
  const uint32_t con3 = regs.get<CNA_CONV_CON3>();
  if (CNA_CONV_CON3::get_NN_MODE(con3) || CNA_CONV_CON3::get_ATROUS_X_DILATION(con3) ||
      CNA_CONV_CON3::get_ATROUS_Y_DILATION(con3) || CNA_CONV_CON3::get_DECONV_X_STRIDE(con3) ||
      CNA_CONV_CON3::get_DECONV_Y_STRIDE(con3)) {
    return unmodelled<CNA_CONV_CON3>("", con3, "NN_MODE, dilation and deconvolution strides are not modelled");
  }
  s->stride_x = CNA_CONV_CON3::get_CONV_X_STRIDE(con3);
  s->stride_y = CNA_CONV_CON3::get_CONV_Y_STRIDE(con3);
  if (s->stride_x == 0 || s->stride_y == 0) return unmodelled<CNA_CONV_CON3>("CONV_*_STRIDE", con3, "stride 0");

  const uint32_t ds0 = regs.get<CNA_DATA_SIZE0>(), ds1 = regs.get<CNA_DATA_SIZE1>();
  s->in_w = CNA_DATA_SIZE0::get_DATAIN_WIDTH(ds0);
  s->in_h = CNA_DATA_SIZE0::get_DATAIN_HEIGHT(ds0);
  s->in_c = CNA_DATA_SIZE1::get_DATAIN_CHANNEL(ds1);
  s->in_c_real = CNA_DATA_SIZE1::get_DATAIN_CHANNEL_REAL(ds1) + 1;
  if (s->in_w == 0 || s->in_h == 0) return unmodelled<CNA_DATA_SIZE0>("", ds0, "empty input");
  if (s->in_c == 0 || s->in_c % kAtomBytes || s->in_c_real > s->in_c) {
    return unmodelled<CNA_DATA_SIZE1>("", ds1,
                                      "DATAIN_CHANNEL must be a non-zero multiple of 16 and > DATAIN_CHANNEL_REAL");
  }
  if (s->raw_input && (s->in_c != 16 || s->in_c_real != 1)) {
    return unmodelled<CNA_DATA_SIZE1>("", ds1,
                                      "raw single-channel input needs DATAIN_CHANNEL 16, DATAIN_CHANNEL_REAL 0");
  }

  const uint32_t out0 = regs.get<CORE_DATAOUT_SIZE_0>();
  s->out_w = CORE_DATAOUT_SIZE_0::get_DATAOUT_WIDTH(out0) + 1;
  s->out_h = CORE_DATAOUT_SIZE_0::get_DATAOUT_HEIGHT(out0) + 1;
  s->out_c = CORE_DATAOUT_SIZE_1::get_DATAOUT_CHANNEL(regs.get<CORE_DATAOUT_SIZE_1>()) + 1;
  VNPU_TRY(require<CNA_DATA_SIZE2>("DATAOUT_WIDTH", CNA_DATA_SIZE2::get_DATAOUT_WIDTH(regs.get<CNA_DATA_SIZE2>()),
                                   s->out_w, "must equal CORE_DATAOUT_SIZE_0.DATAOUT_WIDTH + 1"));
  const uint32_t ds3 = regs.get<CNA_DATA_SIZE3>();
  VNPU_TRY(require<CNA_DATA_SIZE3>("SURF_MODE", CNA_DATA_SIZE3::get_SURF_MODE(ds3), 0, "not modelled"));
  VNPU_TRY(require<CNA_DATA_SIZE3>("DATAOUT_ATOMICS", CNA_DATA_SIZE3::get_DATAOUT_ATOMICS(ds3), s->out_w * s->out_h,
                                   "must equal output width x height"));

  const uint32_t ws2 = regs.get<CNA_WEIGHT_SIZE2>();
  s->kw = CNA_WEIGHT_SIZE2::get_WEIGHT_WIDTH(ws2);
  s->kh = CNA_WEIGHT_SIZE2::get_WEIGHT_HEIGHT(ws2);
  s->kernels = CNA_WEIGHT_SIZE2::get_WEIGHT_KERNELS(ws2);
  if (s->kw == 0 || s->kh == 0 || s->kernels == 0) return unmodelled<CNA_WEIGHT_SIZE2>("", ws2, "empty kernel");
  if (s->depthwise ? (s->kernels != 1 || s->in_c > s->out_c) : s->kernels > s->out_c) {
    return unmodelled<CNA_WEIGHT_SIZE2>("WEIGHT_KERNELS", s->kernels,
                                        s->depthwise ? "depthwise needs 1 kernel and DATAIN_CHANNEL <= output channels"
                                                     : "more kernels than CORE output channels");
  }
  s->bytes_per_kernel = CNA_WEIGHT_SIZE1::get_WEIGHT_BYTES_PER_KERNEL(regs.get<CNA_WEIGHT_SIZE1>());
  VNPU_TRY(require<CNA_WEIGHT_SIZE1>("WEIGHT_BYTES_PER_KERNEL", s->bytes_per_kernel, s->kw * s->kh * s->in_c,
                                     "must be width x height x DATAIN_CHANNEL"));
  s->weight_bytes = regs.get<CNA_WEIGHT_SIZE0>();
  VNPU_TRY(require<CNA_WEIGHT_SIZE0>("WEIGHT_BYTES", s->weight_bytes, s->bytes_per_kernel * s->kernels,
                                     "must be WEIGHT_BYTES_PER_KERNEL x WEIGHT_KERNELS"));

  // Padding: top/left are programmed, bottom/right are implied by the output
  // size (rocket.md §3.6); the implied amount is bounded like the others.
  const uint32_t pad0 = regs.get<CNA_PAD_CON0>();
  s->pad_left = CNA_PAD_CON0::get_PAD_LEFT(pad0);
  s->pad_top = CNA_PAD_CON0::get_PAD_TOP(pad0);
  const int64_t pad_right = int64_t{s->out_w - 1} * s->stride_x + s->kw - s->in_w - s->pad_left;
  const int64_t pad_bottom = int64_t{s->out_h - 1} * s->stride_y + s->kh - s->in_h - s->pad_top;
  if (pad_right > 15 || pad_bottom > 15) {
    return unmodelled<CORE_DATAOUT_SIZE_0>("", out0, "output needs more than 15 implied bottom/right padding");
  }
  // PAD_VALUE: the low byte is the int8 pad. The captures (0xffff8080 for
  // -128, small negatives) agree with it; Mesa's 0x0b0b for 11 (rocket.md
  // §3.4) rules out saturating the whole 32-bit value.
  s->pad_value = static_cast<int8_t>(regs.get<CNA_PAD_CON1>() & 0xFF);

  s->feature_addr = regs.get<CNA_FEATURE_DATA_ADDR>();
  s->weight_addr = regs.get<CNA_DCOMP_ADDR0>();
  const uint32_t line = CNA_DMA_CON1::get_LINE_STRIDE(regs.get<CNA_DMA_CON1>());
  const int64_t surf = sign_extend(CNA_DMA_CON2::get_SURF_STRIDE(regs.get<CNA_DMA_CON2>()), 28);
  if (s->raw_input) {
    s->line_bytes = line;  // bytes per row of single-byte pixels
    s->surface_bytes = 0;  // one surface only
    if (s->line_bytes < s->in_w) return unmodelled<CNA_DMA_CON1>("LINE_STRIDE", line, "shorter than the input row");
  } else {
    // LINE_STRIDE counts 4-byte units; the surface stride is
    // (SURF_STRIDE + LINE_STRIDE) 16-byte units, SURF_STRIDE signed (Mesa's
    // 1x1 inputs program -3). Both fixed by every captured layer.
    s->line_bytes = uint64_t{line} * 4;
    if (s->line_bytes < uint64_t{s->in_w} * kAtomBytes) {
      return unmodelled<CNA_DMA_CON1>("LINE_STRIDE", line, "shorter than the input row");
    }
    const int64_t surface = (surf + line) * 16;
    if (s->in_c > kAtomBytes && surface < static_cast<int64_t>(uint64_t{s->in_h} * s->line_bytes)) {
      return unmodelled<CNA_DMA_CON2>("SURF_STRIDE", surf, "surfaces would overlap");
    }
    s->surface_bytes = static_cast<uint64_t>(std::max<int64_t>(surface, 0));
  }
  const uint32_t fc0 = regs.get<CNA_FC_DATA_SIZE0>();
  if (CNA_FC_DATA_SIZE0::get_DMA_WIDTH(fc0) != s->in_w || CNA_FC_DATA_SIZE0::get_DMA_HEIGHT(fc0) != s->in_h ||
      CNA_FC_DATA_SIZE1::get_DMA_CHANNEL(regs.get<CNA_FC_DATA_SIZE1>()) != s->in_c) {
    return unmodelled<CNA_FC_DATA_SIZE0>("", fc0, "DMA window different from DATAIN width/height/channel");
  }

  // Input converter.
  const uint32_t cvt0 = regs.get<CNA_CVT_CON0>();
  const uint32_t cvt5 = regs.get<CNA_CVT_CON5>();
  if (!s->raw_input) {
    if (!CNA_CVT_CON0::get_CVT_BYPASS(cvt0) || !CNA_CVT_CON0::get_DATA_SIGN(cvt0) || cvt5 != 0) {
      return unmodelled<CNA_CVT_CON0>("", cvt0,
                                      "multi-channel input is modelled with the converter bypassed, signed data");
    }
  } else {
    if (CNA_CVT_CON0::get_CVT_BYPASS(cvt0) || CNA_CVT_CON0::get_DATA_SIGN(cvt0) || CNA_CVT_CON0::get_CVT_TYPE(cvt0) ||
        CNA_CVT_CON0::get_ROUND_TYPE(cvt0)) {
      return unmodelled<CNA_CVT_CON0>("", cvt0, "raw input is modelled through the converter on unsigned bytes");
    }
    const uint32_t cvt1 = regs.get<CNA_CVT_CON1>();
    s->cvt_truncate = CNA_CVT_CON0::get_CVT_TRUNCATE_0(cvt0);
    s->cvt_scale = static_cast<int32_t>(sign_extend(CNA_CVT_CON1::get_CVT_SCALE0(cvt1), 16));
    s->cvt_offset = static_cast<int32_t>(sign_extend(CNA_CVT_CON1::get_CVT_OFFSET0(cvt1), 16));
    if (s->cvt_truncate > 30 || s->cvt_scale != (int32_t{1} << s->cvt_truncate)) {
      return unmodelled<CNA_CVT_CON1>("CVT_SCALE0", s->cvt_scale,
                                      "only scale == 2^CVT_TRUNCATE_0 (an exact offset-only conversion) is modelled");
    }
    if (cvt5 != 0 && cvt5 != 0xFFFF) return unmodelled<CNA_CVT_CON5>("", cvt5, "not modelled");
  }

  // CBUF: the input band and at least one kernel must fit the banks given.
  const uint32_t cb0 = regs.get<CNA_CBUF_CON0>();
  s->data_banks = CNA_CBUF_CON0::get_DATA_BANK(cb0);
  s->weight_banks = CNA_CBUF_CON0::get_WEIGHT_BANK(cb0);
  if (CNA_CBUF_CON0::get_DATA_REUSE(cb0) || CNA_CBUF_CON0::get_FC_DATA_BANK(cb0)) {
    return unmodelled<CNA_CBUF_CON0>("", cb0, "DATA_REUSE and FC_DATA_BANK are not modelled");
  }
  if (s->data_banks == 0 || s->weight_banks == 0 || s->data_banks + s->weight_banks > kCbufBanks) {
    return unmodelled<CNA_CBUF_CON0>("", cb0, "DATA_BANK + WEIGHT_BANK must be 2..12 with neither 0");
  }
  const uint64_t input_bytes = s->raw_input ? s->line_bytes * s->in_h : uint64_t{s->in_w} * s->in_h * s->in_c;
  if (input_bytes > s->data_banks * kCbufBankBytes) {
    return unmodelled<CNA_CBUF_CON0>("DATA_BANK", s->data_banks,
                                     "input band of " + std::to_string(input_bytes) + " bytes does not fit");
  }
  const uint64_t resident = s->depthwise ? s->weight_bytes : s->bytes_per_kernel;
  if (resident > s->weight_banks * kCbufBankBytes) {
    return unmodelled<CNA_CBUF_CON0>("WEIGHT_BANK", s->weight_banks, "not even one kernel fits");
  }
  s->weight_reuse = CNA_CBUF_CON0::get_WEIGHT_REUSE(cb0);
  if (s->weight_reuse &&
      (!cbuf.weights_valid || cbuf.weight_addr != s->weight_addr || cbuf.weight_bytes != s->weight_bytes ||
       cbuf.data_banks != s->data_banks || s->weight_bytes > s->weight_banks * kCbufBankBytes)) {
    return unmodelled<CNA_CBUF_CON0>("WEIGHT_REUSE", 1,
                                     "CBUF does not hold these weights (the previous task loaded other or "
                                     "partial weights, or with another bank split)");
  }

  const uint32_t misc = regs.get<CORE_MISC_CFG>();
  if (!CORE_MISC_CFG::get_QD_EN(misc) || CORE_MISC_CFG::get_DW_EN(misc) != uint32_t{s->depthwise} ||
      CORE_MISC_CFG::get_PROC_PRECISION(misc) || CORE_MISC_CFG::get_SOFT_GATING(misc)) {
    return unmodelled<CORE_MISC_CFG>("", misc, "modelled: QD_EN 1, DW_EN = depthwise, int8, no soft gating");
  }
  const uint32_t clip = regs.get<CORE_CLIP_TRUNCATE>();
  if (CORE_CLIP_TRUNCATE::get_ROUND_TYPE(clip)) {
    return unmodelled<CORE_CLIP_TRUNCATE>("ROUND_TYPE", 1, "only the default rounding is established");
  }
  s->truncate = CORE_CLIP_TRUNCATE::get_CLIP_TRUNCATE(clip);
  return {};
}

// The padded input, HWC int8 (pixel-major, DATAIN_CHANNEL per pixel).
struct Padded {
  uint32_t w = 0, h = 0, c = 0;
  std::vector<int8_t> data;
};

Status fetch_input(const ConvSetup& s, DeviceMemory& memory, Padded* p, TaskCounters* counters) {
  p->w = std::max(s.in_w + s.pad_left, (s.out_w - 1) * s.stride_x + s.kw);
  p->h = std::max(s.in_h + s.pad_top, (s.out_h - 1) * s.stride_y + s.kh);
  p->c = s.in_c;
  p->data.assign(uint64_t{p->w} * p->h * p->c, s.pad_value);
  if (s.raw_input) {
    const uint8_t* src = nullptr;
    const uint64_t span = (uint64_t{s.in_h} - 1) * s.line_bytes + s.in_w;
    VNPU_TRY(read_device(memory, s.feature_addr, span, "CNA feature (raw)", &src));
    for (uint32_t y = 0; y < s.in_h; ++y) {
      for (uint32_t x = 0; x < s.in_w; ++x) {
        int8_t* px = &p->data[((uint64_t{y} + s.pad_top) * p->w + x + s.pad_left) * p->c];
        // Converter: (x + offset) * scale, rounded shift, saturated; channels
        // 1..15 of the atom carry no data (their weights cancel via BS_OW).
        const int64_t raw = src[y * s.line_bytes + x];
        const int64_t v = round_shift((raw + s.cvt_offset) * s.cvt_scale, s.cvt_truncate);
        px[0] = static_cast<int8_t>(std::clamp<int64_t>(v, -128, 127));
        std::memset(px + 1, 0, p->c - 1);
      }
    }
    counters->bytes_read += uint64_t{s.in_w} * s.in_h;
    return {};
  }
  const uint32_t surfaces = s.in_c / kAtomBytes;
  const uint64_t span = (uint64_t{s.in_h} - 1) * s.line_bytes + uint64_t{s.in_w} * kAtomBytes;
  for (uint32_t sf = 0; sf < surfaces; ++sf) {
    const uint8_t* src = nullptr;
    VNPU_TRY(read_device(memory, s.feature_addr + sf * s.surface_bytes, span, "CNA feature", &src));
    for (uint32_t y = 0; y < s.in_h; ++y) {
      for (uint32_t x = 0; x < s.in_w; ++x) {
        std::memcpy(&p->data[((uint64_t{y} + s.pad_top) * p->w + x + s.pad_left) * p->c + sf * kAtomBytes],
                    src + y * s.line_bytes + x * kAtomBytes, kAtomBytes);
      }
    }
  }
  counters->bytes_read += uint64_t{s.in_w} * s.in_h * s.in_c;
  return {};
}

// Weights rearranged for the MAC loops: direct [kernel][ky][kx][c],
// depthwise [c][ky][kx]. The memory layout (rocket.md §3.2): direct groups of
// 32 kernels, inside a group channel blocks of 32 (the last one may be 16
// wide), each block ky, kx, kernel, channel; depthwise channel blocks of 64,
// each ky, kx, channel.
Status fetch_weights(const ConvSetup& s, DeviceMemory& memory, CbufState* cbuf, std::vector<int8_t>* w,
                     TaskCounters* counters) {
  if (!s.weight_reuse) {
    const uint8_t* src = nullptr;
    VNPU_TRY(read_device(memory, s.weight_addr, s.weight_bytes, "CNA weights", &src));
    cbuf->weights.assign(reinterpret_cast<const int8_t*>(src), reinterpret_cast<const int8_t*>(src) + s.weight_bytes);
    cbuf->weights_valid = s.weight_bytes <= s.weight_banks * kCbufBankBytes;
    cbuf->weight_addr = s.weight_addr;
    cbuf->weight_bytes = s.weight_bytes;
    cbuf->data_banks = s.data_banks;
    counters->bytes_read += s.weight_bytes;
  }
  const int8_t* src = cbuf->weights.data();
  const uint32_t taps = s.kw * s.kh;
  w->assign(s.weight_bytes, 0);
  uint64_t n = 0;
  if (s.depthwise) {
    for (uint32_t c0 = 0; c0 < s.in_c; c0 += 64) {
      const uint32_t block = std::min(64u, s.in_c - c0);
      for (uint32_t t = 0; t < taps; ++t) {
        for (uint32_t c = 0; c < block; ++c) (*w)[uint64_t{c0 + c} * taps + t] = src[n++];
      }
    }
    return {};
  }
  for (uint32_t k0 = 0; k0 < s.kernels; k0 += 32) {
    const uint32_t kernels = std::min(32u, s.kernels - k0);
    for (uint32_t c0 = 0; c0 < s.in_c; c0 += 32) {
      const uint32_t block = std::min(32u, s.in_c - c0);
      for (uint32_t t = 0; t < taps; ++t) {
        for (uint32_t k = 0; k < kernels; ++k) {
          int8_t* dst = &(*w)[uint64_t{k0 + k} * s.bytes_per_kernel + uint64_t{t} * s.in_c + c0];
          std::memcpy(dst, src + n, block);
          n += block;
        }
      }
    }
  }
  return {};
}

// Sum of products in 64 bits; 32-bit partial sums stay exact for 2^16 terms.
int64_t dot(const int8_t* a, const int8_t* b, uint32_t n) {
  int64_t total = 0;
  for (uint32_t i0 = 0; i0 < n; i0 += 65536) {
    const uint32_t end = std::min(n, i0 + 65536);
    int32_t part = 0;
    for (uint32_t i = i0; i < end; ++i) part += int32_t{a[i]} * int32_t{b[i]};
    total += part;
  }
  return total;
}

int32_t to_core_output(int64_t acc, uint32_t truncate) {
  // CLIP_TRUNCATE: rounded right shift, then saturation to the 32-bit path.
  const int64_t v = round_shift(acc, truncate);
  return static_cast<int32_t>(std::clamp<int64_t>(v, std::numeric_limits<int32_t>::min(),
                                                   std::numeric_limits<int32_t>::max()));
}

}  // namespace

Status run_cna_core(const RegisterFile& regs, DeviceMemory& memory, int32_t ow_op, CbufState* cbuf,
                    ConvOutput* out, TaskCounters* counters) {
  ConvSetup s;
  VNPU_TRY(decode(regs, *cbuf, &s));
  Padded in;
  VNPU_TRY(fetch_input(s, memory, &in, counters));
  std::vector<int8_t> w;
  VNPU_TRY(fetch_weights(s, memory, cbuf, &w, counters));

  out->width = s.out_w;
  out->height = s.out_h;
  out->channels = s.out_c;
  out->depthwise = s.depthwise;
  out->acc.assign(uint64_t{s.out_w} * s.out_h * s.out_c, 0);
  const uint32_t taps = s.kw * s.kh;
  std::vector<int8_t> patch(s.depthwise ? 0 : s.bytes_per_kernel);
  for (uint32_t oy = 0; oy < s.out_h; ++oy) {
    for (uint32_t ox = 0; ox < s.out_w; ++ox) {
      int32_t* dst = &out->acc[(uint64_t{oy} * s.out_w + ox) * s.out_c];
      const auto pixel = [&](uint32_t ky, uint32_t kx) {
        return &in.data[((uint64_t{oy} * s.stride_y + ky) * in.w + ox * s.stride_x + kx) * in.c];
      };
      if (s.depthwise) {
        // One kernel slice per channel; the OW term uses that channel's
        // window only (BS_OW_CFG SIZE_E 3).
        for (uint32_t c = 0; c < s.in_c; ++c) {
          int64_t mac = 0, sum = 0;
          for (uint32_t ky = 0; ky < s.kh; ++ky) {
            for (uint32_t kx = 0; kx < s.kw; ++kx) {
              const int64_t x = pixel(ky, kx)[c];
              mac += x * w[uint64_t{c} * taps + ky * s.kw + kx];
              sum += x;
            }
          }
          dst[c] = to_core_output(mac + int64_t{ow_op} * sum, s.truncate);
        }
        continue;  // channels beyond DATAIN_CHANNEL carry no data: 0
      }
      int64_t sum = 0;
      for (uint32_t ky = 0; ky < s.kh; ++ky) {
        for (uint32_t kx = 0; kx < s.kw; ++kx) {
          const int8_t* src = pixel(ky, kx);
          std::memcpy(&patch[(uint64_t{ky} * s.kw + kx) * s.in_c], src, s.in_c);
          for (uint32_t c = 0; c < s.in_c; ++c) sum += src[c];
        }
      }
      // The OW term (BS_OW_OP x the sum of every input value the MACs of
      // this output consumed, padding and padded channels included) enters
      // before CLIP_TRUNCATE.
      const int64_t ow = int64_t{ow_op} * sum;
      for (uint32_t k = 0; k < s.out_c; ++k) {
        const int64_t mac =
            k < s.kernels ? dot(&w[uint64_t{k} * s.bytes_per_kernel], patch.data(), s.bytes_per_kernel) : 0;
        dst[k] = to_core_output(mac + ow, s.truncate);
      }
    }
  }
  const uint64_t pixels = uint64_t{s.out_w} * s.out_h;
  counters->macs += s.depthwise ? pixels * s.in_c * taps : pixels * s.kernels * s.bytes_per_kernel;
  counters->cbuf_bytes = std::max<uint64_t>(counters->cbuf_bytes, (s.data_banks + s.weight_banks) * kCbufBankBytes);
  return {};
}

}  // namespace nonstick::virt
