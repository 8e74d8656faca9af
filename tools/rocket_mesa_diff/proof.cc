#include "tools/rocket_mesa_diff/proof.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <tuple>

#include "backends/reference/fixed_point.h"
#include "backends/rocket/encoding.h"
#include "backends/rocket/lower.h"
#include "rocket/registers.h"
#include "tools/rocket_mesa_diff/json.h"

namespace nonstick::mesa_diff {
namespace {

namespace r = rocket::reg;

constexpr int64_t kInt32Min = std::numeric_limits<int32_t>::min();
constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();

int64_t shift_half_up(int64_t v, unsigned shift) {
  return shift == 0 ? v : (v + (int64_t{1} << (shift - 1))) >> shift;
}

// Register values (last write) of one task, as diff.cc keys them.
std::map<uint16_t, uint32_t> task_registers(const TaskStream& t) {
  std::map<uint16_t, uint32_t> regs;
  for (uint64_t w : t.words) {
    if (((w >> 48) & 0xff) == 0x01) regs[static_cast<uint16_t>(w & 0xffff)] = static_cast<uint32_t>(w >> 16);
  }
  return regs;
}

uint32_t reg_of(const std::map<uint16_t, uint32_t>& regs, uint16_t offset) {
  auto it = regs.find(offset);
  return it == regs.end() ? 0 : it->second;
}

// `bytes` of Mesa's captured BO contents at `address` (submit `submit`).
bool captured_bytes(const MesaModel& mesa, int submit, uint64_t address, size_t bytes, std::string* out) {
  const BoRecord* bo = mesa.streams.bo_at(address);
  if (!bo || address + bytes > bo->dma + bo->size) return false;
  for (const CapturedBlob& b : captured_blobs(mesa, submit)) {
    if (b.handle != bo->handle) continue;
    const std::string all = read_text_file(b.path);
    const size_t at = static_cast<size_t>(address - bo->dma);
    if (at + bytes > all.size()) return false;
    *out = all.substr(at, bytes);
    return true;
  }
  return false;
}

bool is_mesa_fused_add(const JobRecord& job) { return std::find(job.types.begin(), job.types.end(), "ADD") != job.types.end(); }

// Per output element of a covered layer: TFLite's accumulator from the
// input the replayed task reads (NC1HWC2, 16-channel surfaces of H*W atoms,
// signed bytes), and the comparison once the task has run.
class ProofObserver final : public ReplayObserver {
 public:
  ProofObserver(const MesaModel& mesa, const std::vector<const rocket::NpuConv*>& ops,
                const std::vector<MesaDpu>& dpus, ModelProof* proof)
      : mesa_(mesa), ops_(ops), dpus_(dpus), proof_(proof) {}

  void before(size_t j, virt::DeviceMemory& memory) override {
    acc_.clear();
    if (!proof_->layers[j].covered) return;
    const rocket::NpuConv& op = *ops_[j];
    const JobRecord& job = mesa_.streams.jobs[j];
    const uint8_t* in = tensor(memory, job.in_handles, op.in_c, op.in_h * op.in_w);
    if (!in) return;
    auto x_at = [&](int c, int y, int x) {
      return int64_t{static_cast<int8_t>(in[(static_cast<uint64_t>(c / 16) * op.in_h * op.in_w +
                                             static_cast<uint64_t>(y) * op.in_w + x) * 16 + c % 16])};
    };
    acc_.assign(static_cast<size_t>(op.out_c) * op.out_h * op.out_w, 0);
    const int ic_n = op.depthwise ? 1 : op.in_c;
    for (int c = 0; c < op.out_c; ++c) {
      for (int oy = 0; oy < op.out_h; ++oy) {
        for (int ox = 0; ox < op.out_w; ++ox) {
          int64_t t = op.bias[static_cast<size_t>(c)];
          for (int ky = 0; ky < op.kernel_h; ++ky) {
            const int y = oy * op.stride_h - op.pad_top + ky;
            if (y < 0 || y >= op.in_h) continue;
            for (int kx = 0; kx < op.kernel_w; ++kx) {
              const int x = ox * op.stride_w - op.pad_left + kx;
              if (x < 0 || x >= op.in_w) continue;
              for (int i = 0; i < ic_n; ++i) {
                const size_t w = op.depthwise
                                     ? (static_cast<size_t>(ky) * op.kernel_w + kx) * op.in_c + c
                                     : ((static_cast<size_t>(c) * op.kernel_h + ky) * op.kernel_w + kx) * op.in_c + i;
                t += (x_at(op.depthwise ? c : i, y, x) - op.in_zp) * (int64_t{op.weights[w]} - op.weight_zp);
              }
            }
          }
          acc_[(static_cast<size_t>(c) * op.out_h + oy) * op.out_w + ox] = t;
        }
      }
    }
  }

  void after(size_t j, virt::DeviceMemory& memory) override {
    if (acc_.empty()) return;
    const rocket::NpuConv& op = *ops_[j];
    const int plane = op.out_h * op.out_w;
    const uint8_t* out = tensor(memory, mesa_.streams.jobs[j].out_handles, op.out_c, plane);
    if (!out) return;
    LayerProof& layer = proof_->layers[j];
    layer.replayed = true;
    for (int c = 0; c < op.out_c; ++c) {
      for (int p = 0; p < plane; ++p) {
        const int64_t t = acc_[static_cast<size_t>(c) * plane + p];
        const int32_t got = static_cast<int8_t>(out[(static_cast<uint64_t>(c / 16) * plane + p) * 16 + c % 16]);
        const int32_t model = mesa_npu(dpus_[j], c, t);
        ++layer.replay_elements;
        layer.replay_model_mismatch += got != model;
        layer.replay_off += model != tflite_output(op, c, t);
      }
    }
  }

 private:
  // The tensor at the start of the job's first listed BO, if mapped.
  const uint8_t* tensor(virt::DeviceMemory& memory, const std::vector<uint32_t>& handles, int channels, int plane) {
    if (handles.empty()) return nullptr;
    for (const BoRecord& b : mesa_.streams.bos) {
      if (b.handle == handles[0]) {
        return memory.resolve(b.dma, static_cast<uint64_t>((channels + 15) / 16) * plane * 16);
      }
    }
    return nullptr;
  }

  const MesaModel& mesa_;
  const std::vector<const rocket::NpuConv*>& ops_;
  const std::vector<MesaDpu>& dpus_;
  ModelProof* proof_;
  std::vector<int64_t> acc_;
};

}  // namespace

int32_t mesa_npu(const MesaDpu& m, int c, int64_t t) {
  const auto i = static_cast<size_t>(c);
  // The CORE's 32-bit output, then the BS ALU's bias add.
  const int64_t core = std::clamp(shift_half_up(t - m.folded[i], m.truncate), kInt32Min, kInt32Max);
  const int64_t v = std::clamp(core + m.encoding.bs_add[i], kInt32Min, kInt32Max);
  const int64_t q = shift_half_up(v * m.encoding.out.scale, m.encoding.out.shift) + m.encoding.out_offset;
  return static_cast<int32_t>(std::clamp<int64_t>(q, -128, 127));
}

int32_t tflite_output(const rocket::NpuConv& op, int c, int64_t t) {
  const reference::QuantizedMultiplier q = reference::quantize_multiplier(op.out_multiplier);
  const int32_t v = reference::requantize_accumulator(static_cast<int32_t>(t), q, op.rounding_of(c));
  return static_cast<int32_t>(std::clamp<int64_t>(int64_t{v} + op.out_zp, op.act_min, op.act_max));
}

bool read_mesa_dpu(const MesaModel& mesa, const JobRecord& job, const rocket::NpuConv& op, MesaDpu* out,
                   std::string* why_not) {
  auto refuse = [&](const std::string& why) {
    *why_not = why;
    return false;
  };
  if (is_mesa_fused_add(job)) return refuse("fused ADD");
  if (op.per_channel() || op.has_addend() || op.standalone_add()) return refuse("not a per-tensor convolution");
  if (job.tasks.empty()) return refuse("no task");
  const auto regs = task_registers(job.tasks[0]);
  // Every task of the job (row bands) must program the same requantization.
  for (const TaskStream& t : job.tasks) {
    const auto other = task_registers(t);
    for (uint16_t o : {r::DPU_OUT_CVT_SCALE::offset, r::DPU_OUT_CVT_SHIFT::offset, r::DPU_OUT_CVT_OFFSET::offset,
                       r::CORE_CLIP_TRUNCATE::offset, r::DPU_RDMA_RDMA_BS_BASE_ADDR::offset, r::DPU_BS_CFG::offset,
                       r::DPU_BN_CFG::offset, r::DPU_EW_CFG::offset, r::DPU_BS_OW_OP::offset}) {
      if (reg_of(other, o) != reg_of(regs, o)) return refuse("tasks differ in their requantization");
    }
  }
  using Bs = r::DPU_BS_CFG;
  const uint32_t bs = reg_of(regs, Bs::offset);
  if (Bs::get_BS_BYPASS(bs) || Bs::get_BS_ALU_BYPASS(bs) || Bs::get_BS_ALU_ALGO(bs) != 2 || !Bs::get_BS_ALU_SRC(bs) ||
      !Bs::get_BS_MUL_BYPASS(bs) || Bs::get_BS_MUL_PRELU(bs) || !Bs::get_BS_RELU_BYPASS(bs) || Bs::get_BS_RELUX_EN(bs)) {
    return refuse("BS stage is not a plain bias add");
  }
  if (!r::DPU_BN_CFG::get_BN_BYPASS(reg_of(regs, r::DPU_BN_CFG::offset))) return refuse("BN stage live");
  if (!r::DPU_EW_CFG::get_EW_BYPASS(reg_of(regs, r::DPU_EW_CFG::offset))) return refuse("EW stage live");
  if (r::DPU_RDMA_RDMA_BRDMA_CFG::get_BRDMA_DATA_USE(reg_of(regs, r::DPU_RDMA_RDMA_BRDMA_CFG::offset)) != 1) {
    return refuse("bias stream is not one int32 per channel");
  }
  const uint32_t shift_reg = reg_of(regs, r::DPU_OUT_CVT_SHIFT::offset);
  if (r::DPU_OUT_CVT_SHIFT::get_CVT_TYPE(shift_reg) || r::DPU_OUT_CVT_SHIFT::get_CVT_ROUND(shift_reg) ||
      r::DPU_OUT_CVT_SHIFT::get_MINUS_EXP(shift_reg)) {
    return refuse("OUT_CVT rounding/type fields set");
  }
  const uint32_t clip = reg_of(regs, r::CORE_CLIP_TRUNCATE::offset);
  if (r::CORE_CLIP_TRUNCATE::get_ROUND_TYPE(clip)) return refuse("CLIP_TRUNCATE ROUND_TYPE set");
  // The CORE accumulator is T - folded only with our weights and OW term.
  if (static_cast<int16_t>(r::DPU_BS_OW_OP::get_OW_OP(reg_of(regs, r::DPU_BS_OW_OP::offset))) != -op.weight_zp) {
    return refuse("BS_OW_OP is not -weight zero point");
  }
  const std::vector<uint8_t> packed = rocket::pack_weights(op);
  std::string weights;
  if (!captured_bytes(mesa, job.submit, reg_of(regs, r::CNA_DCOMP_ADDR0::offset), packed.size(), &weights) ||
      weights.compare(0, std::string::npos, reinterpret_cast<const char*>(packed.data()), packed.size()) != 0) {
    return refuse("weight BO differs from pack_weights()");
  }
  MesaDpu m;
  if (!rocket::folded_biases(op, &m.folded).ok()) return refuse("folded bias leaves int32");
  std::string bias;
  if (!captured_bytes(mesa, job.submit, reg_of(regs, r::DPU_RDMA_RDMA_BS_BASE_ADDR::offset),
                      static_cast<size_t>(op.out_c) * 4, &bias)) {
    return refuse("bias BO not captured");
  }
  m.truncate = r::CORE_CLIP_TRUNCATE::get_CLIP_TRUNCATE(clip);
  rocket::DpuEncoding& e = m.encoding;
  e.out.scale = r::DPU_OUT_CVT_SCALE::get_OUT_CVT_SCALE(reg_of(regs, r::DPU_OUT_CVT_SCALE::offset));
  e.out.shift = r::DPU_OUT_CVT_SHIFT::get_OUT_CVT_SHIFT(shift_reg);
  e.out_offset = static_cast<int32_t>(r::DPU_OUT_CVT_OFFSET::get_OUT_CVT_OFFSET(reg_of(regs, r::DPU_OUT_CVT_OFFSET::offset)));
  e.ow_op = -op.weight_zp;
  e.bs_add.assign(m.folded.size(), 0);
  for (int c = 0; c < op.out_c; ++c) {
    int32_t b = 0;
    std::memcpy(&b, bias.data() + 4 * c, 4);
    e.bs_add[static_cast<size_t>(c)] = b;
  }
  *out = std::move(m);
  return true;
}

rocket::Exactness check_mesa_exactness(const rocket::NpuConv& op, const MesaDpu& m) {
  return m.truncate == 0 ? rocket::check_exactness(op, m.encoding) : walk_mesa_exactness(op, m);
}

rocket::Exactness walk_mesa_exactness(const rocket::NpuConv& op, const MesaDpu& m) {
  rocket::Exactness x;
  x.checked = true;
  // Channels sharing TFLite's rule and folded - 2^t * bias share both
  // functions of T: walk each such class once over the union of its ranges.
  struct Class {
    int channel = 0;
    int64_t lo = 0, hi = 0;
  };
  std::map<std::pair<int, int64_t>, Class> classes;
  for (int c = 0; c < op.out_c; ++c) {
    const auto i = static_cast<size_t>(c);
    Class k{c, 0, 0};
    rocket::accumulator_range(op, c, &k.lo, &k.hi);
    const int64_t d = int64_t{m.folded[i]} - (int64_t{m.encoding.bs_add[i]} << m.truncate);
    auto [it, fresh] = classes.emplace(std::make_pair(static_cast<int>(op.rounding_of(c)), d), k);
    if (!fresh) {
      it->second.lo = std::min(it->second.lo, k.lo);
      it->second.hi = std::max(it->second.hi, k.hi);
    }
  }
  for (const auto& [key, k] : classes) {
    const int c = k.channel;
    rocket::walk_channel(op, c, k.lo, k.hi, [&m, c](int64_t t) { return mesa_npu(m, c, t); }, &x);
  }
  return x;
}

int ModelProof::covered() const {
  return static_cast<int>(std::count_if(layers.begin(), layers.end(), [](const LayerProof& l) { return l.covered; }));
}
int ModelProof::mesa_exact() const {
  return static_cast<int>(
      std::count_if(layers.begin(), layers.end(), [](const LayerProof& l) { return l.covered && l.mesa.exact(); }));
}
int ModelProof::ours_exact() const {
  return static_cast<int>(
      std::count_if(layers.begin(), layers.end(), [](const LayerProof& l) { return l.covered && l.ours.exact(); }));
}
namespace {
// Sum of one Exactness field over the covered layers, on Mesa's side or ours.
int64_t covered_sum(const std::vector<LayerProof>& layers, rocket::Exactness LayerProof::*side,
                    int64_t rocket::Exactness::*field) {
  int64_t n = 0;
  for (const LayerProof& l : layers) n += l.covered ? l.*side.*field : 0;
  return n;
}
}  // namespace

int64_t ModelProof::accumulators() const {
  return covered_sum(layers, &LayerProof::mesa, &rocket::Exactness::accumulators);
}
int64_t ModelProof::ours_accumulators() const {
  return covered_sum(layers, &LayerProof::ours, &rocket::Exactness::accumulators);
}
int64_t ModelProof::mesa_off() const { return covered_sum(layers, &LayerProof::mesa, &rocket::Exactness::off); }
int64_t ModelProof::ours_off() const { return covered_sum(layers, &LayerProof::ours, &rocket::Exactness::off); }
const LayerProof* ModelProof::worst_mesa() const {
  const LayerProof* worst = nullptr;
  for (const LayerProof& l : layers) {
    if (l.covered && l.mesa.off > 0 && (!worst || l.mesa.off * worst->mesa.accumulators > worst->mesa.off * l.mesa.accumulators)) {
      worst = &l;
    }
  }
  return worst;
}

ModelProof prove_model(const MesaModel& mesa, const OurModel& ours, ReplayCounts* replay) {
  ModelProof proof;
  std::vector<const rocket::NpuConv*> ops(mesa.streams.jobs.size(), nullptr);
  std::vector<MesaDpu> dpus(mesa.streams.jobs.size());
  const rocket::EncodingOptions options = rocket::encoding_options_from_env();
  for (size_t j = 0; j < mesa.streams.jobs.size(); ++j) {
    const JobRecord& job = mesa.streams.jobs[j];
    LayerProof layer;
    layer.label = job_label(job);
    for (size_t k = 0; k < ours.streams.jobs.size() && !job.nodes.empty(); ++k) {
      const JobRecord& o = ours.streams.jobs[k];
      if (!o.nodes.empty() && o.nodes[0] == job.nodes[0] && k < ours.ops.size()) ops[j] = ours.ops[k].conv.get();
    }
    if (!ops[j]) {
      layer.why_not = "no nonstick NPU op for this node";
    } else if (read_mesa_dpu(mesa, job, *ops[j], &dpus[j], &layer.why_not)) {
      const rocket::NpuConv& op = *ops[j];
      layer.covered = true;
      layer.truncate = dpus[j].truncate;
      layer.mesa = check_mesa_exactness(op, dpus[j]);
      for (int c = 0; c < op.out_c; ++c) {
        const auto i = static_cast<size_t>(c);
        const int64_t d = int64_t{dpus[j].folded[i]} - (int64_t{dpus[j].encoding.bs_add[i]} << dpus[j].truncate);
        layer.bias_channels_differing += d != 0;
        layer.bias_max_delta = std::max(layer.bias_max_delta, d < 0 ? -d : d);
      }
      rocket::DpuEncoding e;
      const Support s = rocket::encode_dpu(op, options, &e);
      layer.ours = s.supported ? rocket::check_exactness(op, e) : rocket::Exactness{};
    }
    proof.layers.push_back(std::move(layer));
  }
  if (replay) {
    ProofObserver observer(mesa, ops, dpus, &proof);
    *replay = replay_mesa(mesa, &observer);
  }
  return proof;
}

}  // namespace nonstick::mesa_diff
