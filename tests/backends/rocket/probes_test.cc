// The RK3588 hardware probes (src/backends/rocket/probes.h) on the virtual
// RK3588: every probe passes against the unaltered model (the probe's host
// evaluation and the NPU core model agree), and when the virtual NPU is made
// to behave as an alternative rule would, the probe fails and names that
// rule. The alterations are made outside the model: register words patched
// before the core runs a task, BO contents rewritten around it, or the
// virtual kernel's fault injection. Device faults end as "error" results and
// turn the guarded encoding features off.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backends/rocket/probes.h"
#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"
#include "rocket/registers.h"
#include "virtual/rk3588/virtual_device.h"
#include "virtual/rk3588/virtual_kernel.h"

namespace nonstick::testing {
namespace {

namespace r = rocket::reg;
using rocket::ProbeResult;
using rocket::ProbeStatus;

ProbeResult run_one(kernel::Device& device, const std::string& name) {
  std::vector<ProbeResult> results = rocket::run_probes(device, {name});
  EXPECT_EQ(results.size(), 1u);
  return results.empty() ? ProbeResult{} : results[0];
}

TEST(RocketProbes, EveryProbePassesOnTheVirtualNpu) {
  auto device = virt::open_virtual_rk3588();
  const std::vector<ProbeResult> results = rocket::run_probes(*device);
  ASSERT_EQ(results.size(), rocket::probe_catalog().size());
  for (const ProbeResult& res : results) {
    SCOPED_TRACE(res.info.name);
    EXPECT_EQ(res.status, ProbeStatus::kPass) << res.detail;
    EXPECT_TRUE(res.simulated);
    EXPECT_NE(res.detail.find("virtual RK3588 (simulated): checks the model against itself"), std::string::npos);
    EXPECT_GT(res.compared, res.elements / 2);
    // The compiled probes stay within the backend's tolerance of TFLite.
    EXPECT_LE(res.tflite_max_diff, 1);
    // Each alternative rule changes some compared output, or the probe
    // could not tell it from the model.
    for (const rocket::HypothesisCheck& h : res.hypotheses) EXPECT_GT(h.distinguishing, 0) << h.name;
  }
}

TEST(RocketProbes, TheTieProbeHasTiesOfBothSignsAndParities) {
  rocket::ProbePrediction p;
  ASSERT_TRUE(rocket::predict_probe("out_cvt_ties", &p).ok());
  int kinds = 0;  // bit (negative, floor even)
  for (size_t i = 0; i < p.output.size(); ++i) {
    if (!(p.ties[i] & rocket::kTieOutCvt)) continue;
    const int up = static_cast<int8_t>(p.output[i]) - p.out_offset;  // half up: floor + 1
    kinds |= 1 << ((up <= 0 ? 2 : 0) + ((up - 1) % 2 == 0 ? 1 : 0));
  }
  EXPECT_EQ(kinds, 0xf);
}

// ---- Alterations of the virtual NPU.

// An NpuCore that lets a test change a task's register words (and device
// memory) before the real core model runs it.
class PatchingCore : public virt::NpuCore {
 public:
  using Patch = std::function<void(std::vector<uint64_t*>& words, virt::DeviceMemory& memory)>;
  explicit PatchingCore(Patch patch) : inner_(virt::create_npu_core()), patch_(std::move(patch)) {}
  Status run_task(virt::DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count,
                  virt::TaskCounters* counters) override {
    uint8_t* bytes = memory.resolve(regcmd_iova, uint64_t{regcmd_count} * 8);
    if (bytes) {
      std::vector<uint64_t*> words;
      for (uint32_t i = 0; i < regcmd_count; ++i) words.push_back(reinterpret_cast<uint64_t*>(bytes) + i);
      patch_(words, memory);
    }
    return inner_->run_task(memory, regcmd_iova, regcmd_count, counters);
  }

 private:
  std::unique_ptr<virt::NpuCore> inner_;
  Patch patch_;
};

bool is_register_write(uint64_t w) {
  const uint64_t target = w >> 48;
  return target != 0 && target != 0x41 && target != 0x81;
}

// Rewrites the value of every write of register R with `change(value)`.
template <typename R>
PatchingCore::Patch patch_register(std::function<uint32_t(uint32_t)> change) {
  return [change](std::vector<uint64_t*>& words, virt::DeviceMemory&) {
    for (uint64_t* w : words) {
      if (is_register_write(*w) && (*w & 0xffff) == R::offset) {
        const uint32_t value = static_cast<uint32_t>(*w >> 16);
        *w = (*w & 0xffff00000000ffffull) | uint64_t{change(value)} << 16;
      }
    }
  };
}

template <typename R>
uint32_t register_value(const std::vector<uint64_t*>& words) {
  uint32_t v = 0;
  for (const uint64_t* w : words) {
    if (is_register_write(*w) && (*w & 0xffff) == R::offset) v = static_cast<uint32_t>(*w >> 16);
  }
  return v;
}

std::unique_ptr<kernel::Device> altered_npu(PatchingCore::Patch patch) {
  return virt::open_virtual_rk3588(std::make_unique<PatchingCore>(std::move(patch)));
}

void expect_named(const ProbeResult& res, const std::string& rule) {
  EXPECT_EQ(res.status, ProbeStatus::kFail) << res.detail;
  EXPECT_EQ(res.matched, std::vector<std::string>{rule}) << res.detail;
  EXPECT_NE(res.detail.find("the device follows: " + rule), std::string::npos) << res.detail;
  EXPECT_FALSE(res.mismatches.empty());
}

TEST(RocketProbes, NamesBnReluNotApplied) {
  auto device =
      altered_npu(patch_register<r::DPU_BN_CFG>([](uint32_t v) { return v | r::DPU_BN_CFG::BN_RELU_BYPASS(1); }));
  expect_named(run_one(*device, "bn_relu6"), "BN ReLU not applied");
}

TEST(RocketProbes, NamesBnReluxNotApplied) {
  auto device = altered_npu(patch_register<r::DPU_BN_CFG>(
      [](uint32_t v) { return v & ~r::DPU_BN_CFG::BN_RELUX_EN(1); }));
  expect_named(run_one(*device, "bn_relu6"), "BN ReLUX not applied");
}

TEST(RocketProbes, NamesSwappedStrides) {
  auto device = altered_npu(patch_register<r::CNA_CONV_CON3>([](uint32_t v) {
    using C = r::CNA_CONV_CON3;
    return (v & ~(C::CONV_X_STRIDE(7) | C::CONV_Y_STRIDE(7))) | C::CONV_X_STRIDE(C::get_CONV_Y_STRIDE(v)) |
           C::CONV_Y_STRIDE(C::get_CONV_X_STRIDE(v));
  }));
  expect_named(run_one(*device, "stride_1x2"), "x/y strides swapped");
}

TEST(RocketProbes, NamesSwappedKernelSizes) {
  auto device = altered_npu(patch_register<r::CNA_WEIGHT_SIZE2>([](uint32_t v) {
    using W = r::CNA_WEIGHT_SIZE2;
    return W::WEIGHT_KERNELS(W::get_WEIGHT_KERNELS(v)) | W::WEIGHT_WIDTH(W::get_WEIGHT_HEIGHT(v)) |
           W::WEIGHT_HEIGHT(W::get_WEIGHT_WIDTH(v));
  }));
  expect_named(run_one(*device, "kernel_5x3"), "kernel width/height swapped");
}

TEST(RocketProbes, NamesSwappedPads) {
  auto device = altered_npu(patch_register<r::CNA_PAD_CON0>([](uint32_t v) {
    using P = r::CNA_PAD_CON0;
    return P::PAD_LEFT(P::get_PAD_TOP(v)) | P::PAD_TOP(P::get_PAD_LEFT(v));
  }));
  expect_named(run_one(*device, "kernel_5x3"), "PAD_LEFT/PAD_TOP swapped");
}

TEST(RocketProbes, NamesEwOperandNotAdded) {
  auto device = altered_npu(patch_register<r::DPU_EW_CVT_SCALE_VALUE>(
      [](uint32_t v) { return v & ~r::DPU_EW_CVT_SCALE_VALUE::EW_OP_CVT_SCALE(0xffff); }));
  expect_named(run_one(*device, "standalone_add"), "EW operand not added");
}

TEST(RocketProbes, NamesBnAluConstantNotAdded) {
  auto device = altered_npu(patch_register<r::DPU_BN_ALU_CFG>([](uint32_t) { return 0u; }));
  expect_named(run_one(*device, "precise_conv"), "BN ALU constant not added");
}

TEST(RocketProbes, NamesEwReluxNotApplied) {
  auto device =
      altered_npu(patch_register<r::DPU_EW_CFG>([](uint32_t v) { return v & ~r::DPU_EW_CFG::EW_RELUX_EN(1); }));
  expect_named(run_one(*device, "add_relu6"), "EW ReLUX not applied");
}

// The NPU reading the data-use-7 stream as RK3568 vendor streams lay it out
// (groups of 4 channels: A[4] B[4] C[4] in 32 bytes): emulated by rewriting
// the stream, once, into the claimed layout holding what such a reader would
// take from the original bytes (B ignored, as the claim has it without
// OW_SRC).
PatchingCore::Patch read_stream_in_groups_of_4() {
  auto done = std::make_shared<bool>(false);
  return [done](std::vector<uint64_t*>& words, virt::DeviceMemory& memory) {
    if (*done) return;
    *done = true;
    const uint32_t base = register_value<r::DPU_RDMA_RDMA_BS_BASE_ADDR>(words);
    const uint32_t channels = r::DPU_RDMA_RDMA_DATA_CUBE_CHANNEL::get_CHANNEL(
                                  register_value<r::DPU_RDMA_RDMA_DATA_CUBE_CHANNEL>(words)) + 1;
    uint8_t* stream = memory.resolve(base, uint64_t{channels} * 8);
    ASSERT_NE(stream, nullptr);
    const std::vector<uint8_t> original(stream, stream + uint64_t{channels} * 8);
    std::memset(stream, 0, original.size());
    for (uint32_t c = 0; c < channels; ++c) {
      const uint8_t* g4 = original.data() + c / 4 * 32;
      uint8_t* g8 = stream + c / 8 * 64;
      std::memcpy(g8 + 4 * (c % 8), g4 + 4 * (c % 4), 4);            // A
      std::memcpy(g8 + 48 + 2 * (c % 8), g4 + 24 + 2 * (c % 4), 2);  // C
    }
  };
}

TEST(RocketProbes, NamesTheRk3568StreamLayout) {
  auto device = altered_npu(read_stream_in_groups_of_4());
  expect_named(run_one(*device, "per_channel_conv"), "BRDMA stream in groups of 4 channels (RK3568 vendor layout)");
}

// A kernel::Device over the virtual RK3588 that rewrites the output BO after
// every submit, as a different OUT_CVT rounding would have written it.
class OutputRewritingDevice : public kernel::Device {
 public:
  using Rewrite = std::function<void(uint8_t* output_bo)>;
  explicit OutputRewritingDevice(Rewrite rewrite) : inner_(virt::open_virtual_rk3588()), rewrite_(std::move(rewrite)) {}

  std::string name() const override { return inner_->name(); }
  bool simulated() const override { return inner_->simulated(); }
  Status create_bo(uint32_t size, kernel::BufferObject* out) override {
    Status s = inner_->create_bo(size, out);
    if (s.ok()) maps_[out->handle] = out->map;
    return s;
  }
  Status destroy_bo(const kernel::BufferObject& bo) override { return inner_->destroy_bo(bo); }
  Status prep_bo(const kernel::BufferObject& bo, int64_t timeout_ns) override {
    return inner_->prep_bo(bo, timeout_ns);
  }
  Status fini_bo(const kernel::BufferObject& bo) override { return inner_->fini_bo(bo); }
  Status submit(const std::vector<kernel::Job>& jobs) override {
    Status s = inner_->submit(jobs);
    if (s.ok()) {
      for (const kernel::Job& job : jobs) {
        for (uint32_t h : job.out_handles) rewrite_(maps_[h]);
      }
    }
    return s;
  }

 private:
  std::unique_ptr<kernel::Device> inner_;
  Rewrite rewrite_;
  std::map<uint32_t, uint8_t*> maps_;
};

// out_cvt_ties writes one 4x4 plane of 32 int8 channels (two surfaces).
size_t npu_offset(size_t nhwc_index, size_t pixels, size_t channels) {
  const size_t px = nhwc_index / channels, c = nhwc_index % channels;
  return c / 16 * pixels * 16 + px * 16 + c % 16;
}

TEST(RocketProbes, NamesOutCvtTiesToEven) {
  rocket::ProbePrediction p;
  ASSERT_TRUE(rocket::predict_probe("out_cvt_ties", &p).ok());
  OutputRewritingDevice device([&](uint8_t* bo) {
    for (size_t i = 0; i < p.output.size(); ++i) {
      if (!(p.ties[i] & rocket::kTieOutCvt)) continue;
      // Half up wrote floor + 1; ties to even keep the even one of floor, floor + 1.
      const int up = static_cast<int8_t>(p.output[i]) - p.out_offset;
      if ((up - 1) % 2 == 0) bo[npu_offset(i, 16, 32)] = static_cast<uint8_t>(up - 1 + p.out_offset);
    }
  });
  const ProbeResult res = run_one(device, "out_cvt_ties");
  expect_named(res, "OUT_CVT ties to even");
  EXPECT_EQ(res.max_diff, 1);
}

// ---- Device faults.

struct FaultyNpu {
  FaultyNpu() {
    auto transport = std::make_unique<virt::VirtualRk3588>(virt::create_npu_core());
    kernel = transport.get();
    device = std::make_unique<kernel::RocketDevice>(std::move(transport));
  }
  virt::VirtualRk3588* kernel = nullptr;
  std::unique_ptr<kernel::RocketDevice> device;
};

TEST(RocketProbes, FailingSubmitIsAnErrorAndTurnsTheFeaturesOff) {
  FaultyNpu npu;
  npu.kernel->fail_next_ioctl(kernel::uapi::kIoctlRocketSubmit, EIO, 1000);
  for (const ProbeResult& res : rocket::run_probes(*npu.device)) {
    SCOPED_TRACE(res.info.name);
    EXPECT_EQ(res.status, ProbeStatus::kError);
    EXPECT_NE(res.detail.find("SUBMIT"), std::string::npos) << res.detail;
  }
  std::string log;
  rocket::EncodingOptions wanted;
  wanted.requant = rocket::EncodingOptions::Requant::kPrecise;
  wanted.per_channel = true;
  const rocket::EncodingOptions got = rocket::verified_encoding(*npu.device, wanted, &log);
  EXPECT_FALSE(got.per_channel);
  EXPECT_EQ(got.requant, rocket::EncodingOptions::Requant::kOutCvt);
  EXPECT_NE(log.find("per_channel_conv: error"), std::string::npos) << log;
  EXPECT_NE(log.find("no further probes run"), std::string::npos) << log;
  EXPECT_NE(log.find("per-channel requantization on the BS multiplier turned off"), std::string::npos) << log;
}

TEST(RocketProbes, AJobThatNeverCompletesIsAnError) {
  FaultyNpu npu;
  npu.kernel->hang_next_submit();
  const ProbeResult res = run_one(*npu.device, "per_channel_conv");
  EXPECT_EQ(res.status, ProbeStatus::kError) << res.detail;
  EXPECT_NE(res.detail.find("PREP_BO"), std::string::npos) << res.detail;
}

TEST(RocketProbes, FailingBufferAllocationIsAnError) {
  FaultyNpu npu;
  npu.kernel->fail_next_ioctl(kernel::uapi::kIoctlRocketCreateBo, ENOMEM);
  const ProbeResult res = run_one(*npu.device, "stride_1x2");
  EXPECT_EQ(res.status, ProbeStatus::kError) << res.detail;
  EXPECT_NE(res.detail.find("compile"), std::string::npos) << res.detail;
}

TEST(RocketProbes, VerifiedEncodingKeepsWhatPasses) {
  auto device = virt::open_virtual_rk3588();
  std::string log;
  rocket::EncodingOptions wanted;
  wanted.requant = rocket::EncodingOptions::Requant::kPrecise;
  wanted.per_channel = true;
  const rocket::EncodingOptions got = rocket::verified_encoding(*device, wanted, &log);
  EXPECT_TRUE(got.per_channel);
  EXPECT_EQ(got.requant, rocket::EncodingOptions::Requant::kPrecise);
  EXPECT_NE(log.find("rocket probe per_channel_conv: pass"), std::string::npos) << log;
  EXPECT_EQ(log.find("turned off"), std::string::npos) << log;
}

TEST(RocketProbes, VerifiedEncodingRunsNothingForFeaturesNotWanted) {
  FaultyNpu npu;
  npu.kernel->fail_next_ioctl(kernel::uapi::kIoctlRocketSubmit, EIO, 1000);
  std::string log;
  rocket::EncodingOptions wanted;
  wanted.requant = rocket::EncodingOptions::Requant::kOutCvt;
  wanted.per_channel = false;
  const rocket::EncodingOptions got = rocket::verified_encoding(*npu.device, wanted, &log);
  EXPECT_FALSE(got.per_channel);
  EXPECT_EQ(got.requant, rocket::EncodingOptions::Requant::kOutCvt);
  EXPECT_TRUE(log.empty()) << log;
}

}  // namespace
}  // namespace nonstick::testing
