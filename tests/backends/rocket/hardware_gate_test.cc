// On a real NPU the rocket backend uses the DPU features that rest on no
// Mesa stream (int8 per-channel and precise requantization) only after their
// hardware probes pass on that board (backend.cc, probes.h). A board is
// played here by the virtual RK3588 behind a device that reports itself as
// real hardware: faithful, with the BN ALU's constant add missing, or with
// every SUBMIT failing. What must hold: a faithful board keeps every feature
// silently; a board that disproves a feature loses exactly what it guards,
// says so in one stderr line, and still gives TFLite's answers.
#include <gtest/gtest.h>

#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include "backends/backend.h"
#include "backends/reference/backend.h"
#include "backends/rocket/backend.h"
#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"
#include "rocket/registers.h"
#include "support/op_harness.h"
#include "virtual/rk3588/npu_core.h"
#include "virtual/rk3588/virtual_device.h"
#include "virtual/rk3588/virtual_kernel.h"

namespace nonstick::testing {
namespace {

using ir::DType;

// Forwards everything to `inner` but answers simulated() with false, so the
// backend treats it as a board.
class PretendBoard final : public kernel::Device {
 public:
  explicit PretendBoard(std::unique_ptr<kernel::Device> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return "rocket (/dev/accel/accel0)"; }
  bool simulated() const override { return false; }
  Status create_bo(uint32_t size, kernel::BufferObject* out) override { return inner_->create_bo(size, out); }
  Status destroy_bo(const kernel::BufferObject& bo) override { return inner_->destroy_bo(bo); }
  Status prep_bo(const kernel::BufferObject& bo, int64_t timeout_ns) override {
    return inner_->prep_bo(bo, timeout_ns);
  }
  Status fini_bo(const kernel::BufferObject& bo) override { return inner_->fini_bo(bo); }
  Status submit(const std::vector<kernel::Job>& jobs) override { return inner_->submit(jobs); }

 private:
  std::unique_ptr<kernel::Device> inner_;
};

// An NPU core whose BN ALU ignores its constant operand: the regcmd's
// BN_ALU_CFG is zeroed before the faithful model runs the task.
class NoBnConstantCore final : public virt::NpuCore {
 public:
  NoBnConstantCore() : inner_(virt::create_npu_core()) {}
  Status run_task(virt::DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count,
                  virt::TaskCounters* counters) override {
    if (uint8_t* bytes = memory.resolve(regcmd_iova, uint64_t{regcmd_count} * 8)) {
      auto* words = reinterpret_cast<uint64_t*>(bytes);
      for (uint32_t i = 0; i < regcmd_count; ++i) {
        const uint64_t target = words[i] >> 48;
        if (target != 0 && target != 0x41 && target != 0x81 && (words[i] & 0xffff) == rocket::reg::DPU_BN_ALU_CFG::offset) {
          words[i] &= 0xffff00000000ffffull;
        }
      }
    }
    return inner_->run_task(memory, regcmd_iova, regcmd_count, counters);
  }

 private:
  std::unique_ptr<virt::NpuCore> inner_;
};

// One int8 convolution, per-channel (scales spread 4x) or per-tensor.
ir::Graph conv(bool per_channel) {
  GraphBuilder b(5);
  const int in = b.input(DType::kInt8, {1, 9, 9, 16}, 0.02f, -3);
  const int w = b.random_constant(DType::kInt8, {24, 3, 3, 16}, 0.01f, 0);
  const int bias = b.random_constant(DType::kInt32, {24}, 0.0002f, 0, 500);
  if (per_channel) {
    std::vector<float> scales(24);
    for (size_t c = 0; c < scales.size(); ++c) scales[c] = 0.005f * (1.0f + 3.0f * static_cast<float>(c) / 23.0f);
    b.set_per_channel(w, scales, std::vector<int32_t>(scales.size(), 0), 0);
    for (float& f : scales) f *= 0.02f;
    b.set_per_channel(bias, scales, std::vector<int32_t>(scales.size(), 0), 0);
  }
  ir::ConvParams p;
  p.padding = ir::Padding::kSame;
  const int out = b.tensor(DType::kInt8, {1, 9, 9, 24}, 0.04f, 5);
  b.op(ir::OpType::kConv2D, {in, w, bias}, {out}, p);
  b.mark_output(out);
  return b.graph();
}

// Runs `graph` (one int8 input, one output) on `backend` with a fixed input.
std::vector<uint8_t> run(Backend& backend, const ir::Graph& graph) {
  std::unique_ptr<Program> program;
  const Status compiled = backend.compile(graph, &program);
  EXPECT_TRUE(compiled.ok()) << compiled.message();
  if (!program) return {};
  std::vector<uint8_t> input(9 * 9 * 16), output(9 * 9 * 24);
  for (size_t k = 0; k < input.size(); ++k) input[k] = static_cast<uint8_t>((37 * k + 11) % 256);
  EXPECT_TRUE(program->set_input(0, input.data(), input.size()).ok());
  const Status ran = program->invoke();
  EXPECT_TRUE(ran.ok()) << ran.message();
  EXPECT_TRUE(program->get_output(0, output.data(), output.size()).ok());
  return output;
}

struct Gate {
  std::unique_ptr<Backend> backend;
  std::string stderr_text;
};

Gate open_board(std::unique_ptr<kernel::Device> npu) {
  ::testing::internal::CaptureStderr();
  Gate g;
  g.backend = create_rocket_backend(std::make_unique<PretendBoard>(std::move(npu)), {});
  g.stderr_text = ::testing::internal::GetCapturedStderr();
  return g;
}

TEST(RocketHardwareGate, AFaithfulBoardKeepsEveryFeatureSilently) {
  Gate g = open_board(virt::open_virtual_rk3588());
  EXPECT_EQ(g.stderr_text, "");
  EXPECT_EQ(g.backend->description(), "RK3588 NPU via /dev/accel/accel0");
  const ir::Graph pc = conv(true);
  EXPECT_TRUE(g.backend->supports(pc, pc.ops[0]).supported) << g.backend->supports(pc, pc.ops[0]).reason;
}

TEST(RocketHardwareGate, AMissingBnConstantTurnsPreciseRequantizationOff) {
  Gate g = open_board(virt::open_virtual_rk3588(std::make_unique<NoBnConstantCore>()));
  EXPECT_NE(g.stderr_text.find("precise requantization off"), std::string::npos) << g.stderr_text;
  EXPECT_EQ(std::count(g.stderr_text.begin(), g.stderr_text.end(), '\n'), 1) << g.stderr_text;
  // The per-tensor convolution still runs on this board, now requantized
  // by OUT_CVT alone (no BN constant to lose), within that mode's one step
  // of the reference kernels (bit-exact with TFLite).
  const ir::Graph pt = conv(false);
  ASSERT_TRUE(g.backend->supports(pt, pt.ops[0]).supported);
  const std::vector<uint8_t> npu = run(*g.backend, pt);
  const std::vector<uint8_t> want = run(*reference::create_reference_backend(), pt);
  ASSERT_EQ(npu.size(), want.size());
  int max_diff = 0;
  for (size_t k = 0; k < npu.size(); ++k) {
    max_diff = std::max(max_diff, std::abs(static_cast<int8_t>(npu[k]) - static_cast<int8_t>(want[k])));
  }
  EXPECT_LE(max_diff, 1);
}

TEST(RocketHardwareGate, ABoardThatFaultsLosesEveryUnprovenFeature) {
  auto transport = std::make_unique<virt::VirtualRk3588>(virt::create_npu_core());
  transport->fail_next_ioctl(kernel::uapi::kIoctlRocketSubmit, EIO, 1000);
  Gate g = open_board(std::make_unique<kernel::RocketDevice>(std::move(transport)));
  EXPECT_NE(g.stderr_text.find("int8 per-channel convolutions stay on the CPU"), std::string::npos) << g.stderr_text;
  EXPECT_NE(g.stderr_text.find("precise requantization off"), std::string::npos) << g.stderr_text;
  const ir::Graph pc = conv(true);
  const Support s = g.backend->supports(pc, pc.ops[0]);
  EXPECT_FALSE(s.supported);
  EXPECT_NE(s.reason.find("per-channel"), std::string::npos) << s.reason;
}

}  // namespace
}  // namespace nonstick::testing
