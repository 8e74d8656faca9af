// The rocket runtime over the virtual RK3588 with injected kernel faults:
// a failing SUBMIT or a job that never completes must leave the partition
// producing correct results (the reference backend takes over, said once on
// stderr); buffers are created once, never per invoke, and freed with the
// program; stats describe what runs.
#include "backends/rocket/program.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "backends/reference/backend.h"
#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"
#include "support/op_harness.h"
#include "support/random_data.h"
#include "virtual/rk3588/virtual_device.h"

namespace nonstick::testing {
namespace {

using ir::DType;

// conv 3x3 (16x12x8 -> 16) -> ADD with a second input -> output.
ir::Graph two_op_graph() {
  GraphBuilder b(5);
  const int x = b.input(DType::kUInt8, {1, 16, 12, 8}, 0.02f, 128);
  const int w = b.random_constant(DType::kUInt8, {16, 3, 3, 8}, 0.01f, 120);
  const int bias = b.random_constant(DType::kInt32, {16}, 0.0002f, 0, 2000);
  const int y = b.tensor(DType::kUInt8, {1, 16, 12, 16}, 0.15f, 128);
  const int e = b.input(DType::kUInt8, {1, 16, 12, 16}, 0.1f, 120);
  const int out = b.tensor(DType::kUInt8, {1, 16, 12, 16}, 0.2f, 125);
  ir::ConvParams p;
  p.padding = ir::Padding::kSame;
  b.op(ir::OpType::kConv2D, {x, w, bias}, {y}, p);
  b.op(ir::OpType::kAdd, {y, e}, {out}, ir::ElementwiseParams{});
  b.mark_output(out);
  return b.graph();
}

struct Fixture {
  std::shared_ptr<kernel::Device> device;
  virt::VirtualRk3588* vk = nullptr;
  std::unique_ptr<Program> program;
};

Fixture make(const ir::Graph& g, bool fallback) {
  Fixture f;
  f.device = virt::open_virtual_rk3588();
  auto* rocket = dynamic_cast<kernel::RocketDevice*>(f.device.get());
  EXPECT_TRUE(rocket);
  f.vk = dynamic_cast<virt::VirtualRk3588*>(&rocket->transport());
  EXPECT_TRUE(f.vk);
  rocket::ProgramOptions o;
  o.fallback_on_fault = fallback;
  const Status s = rocket::compile_program(f.device, g, o, &f.program);
  EXPECT_TRUE(s.ok()) << s.message();
  return f;
}

// Sets random inputs (seeded), invokes, returns output 0.
std::vector<uint8_t> run(Program& p, const ir::Graph& g, uint64_t seed, Status* status = nullptr) {
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Rng rng(Rng::combine(seed, i));
    const ir::Tensor& t = g.tensor(g.inputs[i]);
    const auto bytes = random_values(t.dtype, t.num_elements(), 0, 255, &rng);
    EXPECT_TRUE(p.set_input(i, bytes.data(), bytes.size()).ok());
  }
  const Status s = p.invoke();
  if (status) *status = s;
  std::vector<uint8_t> out(g.tensor(g.outputs[0]).num_bytes());
  if (s.ok()) {
    EXPECT_TRUE(p.get_output(0, out.data(), out.size()).ok());
  }
  return out;
}

std::vector<uint8_t> reference_result(const ir::Graph& g, uint64_t seed) {
  std::unique_ptr<Program> p;
  EXPECT_TRUE(reference::create_reference_backend()->compile(g, &p).ok());
  return run(*p, g, seed);
}

int max_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(int(a[i]) - int(b[i])));
  return d;
}

TEST(RocketProgram, FailingSubmitFallsBackToTheReferenceBackendOnce) {
  const ir::Graph g = two_op_graph();
  Fixture f = make(g, true);
  // Healthy first: within one step of the reference (15-bit OUT_CVT mantissa).
  EXPECT_LE(max_diff(run(*f.program, g, 1), reference_result(g, 1)), 1);
  f.vk->fail_next_ioctl(kernel::uapi::kIoctlRocketSubmit, EIO);
  ::testing::internal::CaptureStderr();
  Status s;
  const auto out = run(*f.program, g, 2, &s);
  const auto out3 = run(*f.program, g, 3);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out, reference_result(g, 2));  // the reference backend is bit-exact
  EXPECT_EQ(out3, reference_result(g, 3));
  EXPECT_NE(err.find("nonstick: rocket: SUBMIT failed"), std::string::npos) << err;
  EXPECT_NE(err.find("reference backend"), std::string::npos) << err;
  EXPECT_EQ(err.find("nonstick", 1), std::string::npos) << "said more than once: " << err;
  auto* rp = dynamic_cast<rocket::RocketProgram*>(f.program.get());
  ASSERT_TRUE(rp);
  EXPECT_TRUE(rp->rocket_stats().fell_back);
}

TEST(RocketProgram, HungJobFallsBack) {
  const ir::Graph g = two_op_graph();
  Fixture f = make(g, true);
  f.vk->hang_next_submit();
  ::testing::internal::CaptureStderr();
  Status s;
  const auto out = run(*f.program, g, 4, &s);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(out, reference_result(g, 4));
  EXPECT_NE(err.find("PREP_BO"), std::string::npos) << err;
}

TEST(RocketProgram, WithoutFallbackAFaultFailsInvoke) {
  const ir::Graph g = two_op_graph();
  Fixture f = make(g, false);
  f.vk->fail_next_ioctl(kernel::uapi::kIoctlRocketSubmit, EIO);
  Status s;
  run(*f.program, g, 5, &s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SUBMIT"), std::string::npos) << s.message();
  // The device still works afterwards.
  run(*f.program, g, 6, &s);
  EXPECT_TRUE(s.ok()) << s.message();
}

TEST(RocketProgram, BuffersAreCreatedOnceAndFreedWithTheProgram) {
  const ir::Graph g = two_op_graph();
  Fixture f = make(g, true);
  const size_t after_compile = f.vk->open_bo_count();
  // conv: input, output, weights, biases; ADD (not fused: y can saturate):
  // e, out, weights, biases; one regcmd BO.
  EXPECT_EQ(after_compile, 9u);
  for (uint64_t seed = 10; seed < 13; ++seed) run(*f.program, g, seed);
  EXPECT_EQ(f.vk->open_bo_count(), after_compile);
  f.program.reset();
  EXPECT_EQ(f.vk->open_bo_count(), 0u);
}

TEST(RocketProgram, StatsDescribeJobsTasksAndTraffic) {
  const ir::Graph g = two_op_graph();
  Fixture f = make(g, true);
  auto* rp = dynamic_cast<rocket::RocketProgram*>(f.program.get());
  ASSERT_TRUE(rp);
  rocket::RocketStats st = rp->rocket_stats();
  EXPECT_EQ(st.npu_ops, 2);
  EXPECT_EQ(st.jobs, 2);
  EXPECT_EQ(st.tasks, 2);
  EXPECT_EQ(st.regcmd_words, 260u);
  EXPECT_FALSE(st.simulated);  // estimates until the simulator has run
  EXPECT_GT(st.bytes_read, 0u);
  const ProgramStats ps = f.program->stats();
  EXPECT_EQ(ps.submits, 1);
  // conv: 16*12*16 outputs x 3*3*8; ADD identity: 16*12*16 x 16.
  EXPECT_EQ(ps.macs, uint64_t(16 * 12 * 16) * 72 + uint64_t(16 * 12 * 16) * 16);
  run(*f.program, g, 1);
  st = rp->rocket_stats();
  EXPECT_TRUE(st.simulated);
  EXPECT_GT(st.bytes_read, 0u);
  EXPECT_GT(st.bytes_written, 0u);
}

}  // namespace
}  // namespace nonstick::testing
