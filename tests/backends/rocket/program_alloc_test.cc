// The rocket runtime allocates nothing per invoke: set_input, invoke and
// get_output of a compiled program make no operator new call, and the fault
// fallback still sees the right inputs now that they go straight into the BOs.
//
// How it is counted (support/alloc_counter.h): the test binary replaces the
// global operator new/delete with malloc/free wrappers that count this
// thread's calls while a CountAllocations scope is alive. What is counted is
// everything above the kernel boundary: the program (rocket/program.cc) and
// the UAPI layer (kernel::RocketDevice), i.e. the code that runs on a board.
// What is not: the other side of kernel::Transport, which on a board is the
// Linux driver. Two transports stand there:
//  - the virtual RK3588 (kernel model + NPU core model), behind a decorator
//    that pauses the count for the duration of each call into it: it
//    simulates the NPU and allocates as it likes, and the outputs it computes
//    are checked against the reference backend;
//  - InstantTransport, which runs nothing and allocates nothing per call, so
//    there the count covers every call end to end with nothing paused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "backends/reference/backend.h"
#include "backends/rocket/program.h"
#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"
#include "support/alloc_counter.h"
#include "support/instant_transport.h"
#include "support/op_harness.h"
#include "support/random_data.h"
#include "virtual/rk3588/virtual_kernel.h"

namespace nonstick::testing {
namespace {

using Bytes = std::vector<uint8_t>;
using ir::DType;

// Passes every call to the virtual RK3588 with the allocation count paused:
// the simulator's work is not the runtime's.
class UncountedKernel : public kernel::Transport {
 public:
  explicit UncountedKernel(std::unique_ptr<virt::VirtualRk3588> vk) : vk_(std::move(vk)) {}
  int ioctl(unsigned long request, void* arg) override {
    PauseAllocationCount pause;
    return vk_->ioctl(request, arg);
  }
  void* mmap(uint64_t offset, size_t size) override {
    PauseAllocationCount pause;
    return vk_->mmap(offset, size);
  }
  void munmap(void* address, size_t size) override {
    PauseAllocationCount pause;
    vk_->munmap(address, size);
  }
  std::string describe() const override {
    PauseAllocationCount pause;
    return vk_->describe();
  }
  bool simulated() const override { return true; }
  kernel::SubmitStats last_submit_stats() const override {
    PauseAllocationCount pause;
    return vk_->last_submit_stats();
  }
  std::string last_error_detail() const override {
    PauseAllocationCount pause;
    return vk_->last_error_detail();
  }
  virt::VirtualRk3588& vk() { return *vk_; }

 private:
  std::unique_ptr<virt::VirtualRk3588> vk_;
};

// Two inputs with 20 channels (a padded channel group), three NPU ops and
// three outputs, each output one op away from the inputs so that the ±1 of
// the DPU's 15-bit OUT_CVT mantissa does not compound: conv 3x3, depthwise
// 3x3 and an ADD of the two inputs.
ir::Graph three_op_graph() {
  GraphBuilder b(31);
  const int x = b.input(DType::kUInt8, {1, 20, 18, 20}, 0.02f, 128);
  const int e = b.input(DType::kUInt8, {1, 20, 18, 20}, 0.1f, 120);
  const int w = b.random_constant(DType::kUInt8, {24, 3, 3, 20}, 0.01f, 120);
  const int bias = b.random_constant(DType::kInt32, {24}, 0.0002f, 0, 2000);
  const int y = b.tensor(DType::kUInt8, {1, 20, 18, 24}, 0.3f, 128);
  const int dw = b.random_constant(DType::kUInt8, {1, 3, 3, 20}, 0.01f, 125);
  const int dbias = b.random_constant(DType::kInt32, {20}, 0.0002f, 0, 2000);
  const int z = b.tensor(DType::kUInt8, {1, 20, 18, 20}, 0.05f, 127);
  const int sum = b.tensor(DType::kUInt8, {1, 20, 18, 20}, 0.2f, 125);
  ir::ConvParams p;
  p.padding = ir::Padding::kSame;
  b.op(ir::OpType::kConv2D, {x, w, bias}, {y}, p);
  b.op(ir::OpType::kDepthwiseConv2D, {x, dw, dbias}, {z}, p);
  b.op(ir::OpType::kAdd, {x, e}, {sum}, ir::ElementwiseParams{});
  b.mark_output(sum);
  b.mark_output(y);
  b.mark_output(z);
  return b.graph();
}

std::vector<Bytes> random_inputs(const ir::Graph& g, uint64_t seed) {
  std::vector<Bytes> inputs;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Rng rng(Rng::combine(seed, i));
    const ir::Tensor& t = g.tensor(g.inputs[i]);
    inputs.push_back(random_values(t.dtype, t.num_elements(), 0, 255, &rng));
  }
  return inputs;
}

std::vector<Bytes> output_buffers(const ir::Graph& g) {
  std::vector<Bytes> outputs;
  for (int t : g.outputs) outputs.emplace_back(g.tensor(t).num_bytes());
  return outputs;
}

// One inference: every set_input, invoke, every get_output. Returns the
// operator new calls they made.
uint64_t counted_run(Program& p, const std::vector<Bytes>& inputs, std::vector<Bytes>* outputs, Status* status) {
  CountAllocations count;
  *status = Status();
  for (size_t i = 0; i < inputs.size() && status->ok(); ++i) {
    *status = p.set_input(i, inputs[i].data(), inputs[i].size());
  }
  if (status->ok()) *status = p.invoke();
  for (size_t i = 0; i < outputs->size() && status->ok(); ++i) {
    *status = p.get_output(i, (*outputs)[i].data(), (*outputs)[i].size());
  }
  return count.count();
}

std::vector<Bytes> reference_outputs(const ir::Graph& g, const std::vector<Bytes>& inputs) {
  std::unique_ptr<Program> p;
  EXPECT_TRUE(reference::create_reference_backend()->compile(g, &p).ok());
  std::vector<Bytes> outputs = output_buffers(g);
  Status s;
  counted_run(*p, inputs, &outputs, &s);
  EXPECT_TRUE(s.ok()) << s.message();
  return outputs;
}

int max_diff(const Bytes& a, const Bytes& b) {
  int d = a.size() == b.size() ? 0 : 256;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) d = std::max(d, std::abs(int(a[i]) - int(b[i])));
  return d;
}

struct VirtualFixture {
  std::shared_ptr<kernel::Device> device;
  virt::VirtualRk3588* vk = nullptr;
  std::unique_ptr<Program> program;

  VirtualFixture(const ir::Graph& g, bool fallback) {
    auto kernel = std::make_unique<UncountedKernel>(std::make_unique<virt::VirtualRk3588>(virt::create_npu_core()));
    vk = &kernel->vk();
    device = std::make_shared<kernel::RocketDevice>(std::move(kernel));
    rocket::ProgramOptions o;
    o.fallback_on_fault = fallback;
    const Status s = rocket::compile_program(device, g, o, &program);
    EXPECT_TRUE(s.ok()) << s.message();
  }
};

TEST(RocketProgramAllocations, TheCounterSeesAllocations) {
  // Guards the tests below against a hook that silently counts nothing (for
  // example if a sanitizer runtime's operator new won over the replacement).
  CountAllocations count;
  auto v = std::make_unique<std::vector<int>>(100);
  {
    PauseAllocationCount pause;
    auto hidden = std::make_unique<int>(1);
  }
  EXPECT_EQ(count.count(), 2u);  // the vector object and its storage
}

TEST(RocketProgramAllocations, InvokeOnTheVirtualRk3588AllocatesNothingAboveTheKernel) {
  const ir::Graph g = three_op_graph();
  VirtualFixture f(g, /*fallback=*/true);
  ASSERT_TRUE(f.program);
  std::vector<Bytes> outputs = output_buffers(g);
  for (uint64_t seed = 1; seed <= 3; ++seed) {  // the first invoke included
    const std::vector<Bytes> inputs = random_inputs(g, seed);
    Status s;
    EXPECT_EQ(counted_run(*f.program, inputs, &outputs, &s), 0u) << "seed " << seed;
    ASSERT_TRUE(s.ok()) << s.message();
    const std::vector<Bytes> expected = reference_outputs(g, inputs);
    for (size_t o = 0; o < outputs.size(); ++o) {
      // Within one step of the reference (15-bit OUT_CVT mantissa).
      EXPECT_LE(max_diff(outputs[o], expected[o]), 1) << "seed " << seed << " output " << o;
    }
  }
  auto* rp = dynamic_cast<rocket::RocketProgram*>(f.program.get());
  ASSERT_TRUE(rp);
  EXPECT_FALSE(rp->rocket_stats().fell_back);
  EXPECT_TRUE(rp->rocket_stats().simulated);
}

TEST(RocketProgramAllocations, InvokeOverAnInstantTransportAllocatesNothingAtAll) {
  const ir::Graph g = three_op_graph();
  auto transport = std::make_unique<InstantTransport>();
  InstantTransport* t = transport.get();
  auto device = std::make_shared<kernel::RocketDevice>(std::move(transport));
  std::unique_ptr<Program> program;
  ASSERT_TRUE(rocket::compile_program(device, g, rocket::ProgramOptions{}, &program).ok());
  std::vector<Bytes> outputs = output_buffers(g);
  const std::vector<Bytes> inputs = random_inputs(g, 9);
  const InstantTransport::Counts before = t->counts();
  for (int round = 0; round < 3; ++round) {
    Status s;
    EXPECT_EQ(counted_run(*program, inputs, &outputs, &s), 0u) << "round " << round;
    ASSERT_TRUE(s.ok()) << s.message();
  }
  // Per invoke: PREP+FINI per input BO (2), one SUBMIT, PREP per output BO
  // (3), whose FINI comes at the start of the next invoke.
  EXPECT_EQ(t->counts().submits - before.submits, 3u);
  EXPECT_EQ(t->counts().preps - before.preps, 3u * (2 + 3));
  EXPECT_EQ(t->counts().finis - before.finis, 3u * 2 + 2u * 3);
}

TEST(RocketProgramAllocations, AFaultWhileWritingAnInputFallsBackWithTheRightInputs) {
  const ir::Graph g = three_op_graph();
  VirtualFixture f(g, /*fallback=*/true);
  ASSERT_TRUE(f.program);
  std::vector<Bytes> outputs = output_buffers(g);
  Status s;
  counted_run(*f.program, random_inputs(g, 4), &outputs, &s);  // healthy first
  ASSERT_TRUE(s.ok()) << s.message();

  // Input 0 reaches its BO; PREP_BO fails for input 1, whose bytes the
  // program must keep. The fallback then reads input 0 back out of its BO.
  const std::vector<Bytes> inputs = random_inputs(g, 5);
  ASSERT_TRUE(f.program->set_input(0, inputs[0].data(), inputs[0].size()).ok());
  f.vk->fail_next_ioctl(kernel::uapi::kIoctlRocketPrepBo, EIO);
  ASSERT_TRUE(f.program->set_input(1, inputs[1].data(), inputs[1].size()).ok());
  ::testing::internal::CaptureStderr();
  s = f.program->invoke();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_NE(err.find("PREP_BO on an input"), std::string::npos) << err;
  const std::vector<Bytes> expected = reference_outputs(g, inputs);
  for (size_t o = 0; o < outputs.size(); ++o) {
    ASSERT_TRUE(f.program->get_output(o, outputs[o].data(), outputs[o].size()).ok());
    EXPECT_EQ(outputs[o], expected[o]) << "output " << o << ": the reference backend is bit-exact";
  }
  // And from then on, with inputs handed straight to the fallback.
  const std::vector<Bytes> next = random_inputs(g, 6);
  counted_run(*f.program, next, &outputs, &s);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(outputs, reference_outputs(g, next));
}

TEST(RocketProgramAllocations, AFaultAfterSubmitFallsBackWithInputsReadBackFromTheirBos) {
  const ir::Graph g = three_op_graph();
  VirtualFixture f(g, /*fallback=*/true);
  ASSERT_TRUE(f.program);
  f.vk->hang_next_submit();  // PREP_BO on the outputs times out
  const std::vector<Bytes> inputs = random_inputs(g, 7);
  std::vector<Bytes> outputs = output_buffers(g);
  ::testing::internal::CaptureStderr();
  Status s;
  counted_run(*f.program, inputs, &outputs, &s);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_NE(err.find("waiting for the NPU"), std::string::npos) << err;
  EXPECT_EQ(outputs, reference_outputs(g, inputs));
}

TEST(RocketProgramAllocations, WithoutFallbackAnInputFaultFailsInvokeAndTheNextInvokeWorks) {
  const ir::Graph g = three_op_graph();
  VirtualFixture f(g, /*fallback=*/false);
  ASSERT_TRUE(f.program);
  std::vector<Bytes> outputs = output_buffers(g);
  f.vk->fail_next_ioctl(kernel::uapi::kIoctlRocketPrepBo, EIO);
  Status s;
  counted_run(*f.program, random_inputs(g, 8), &outputs, &s);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("PREP_BO on an input"), std::string::npos) << s.message();
  EXPECT_FALSE(f.program->get_output(0, outputs[0].data(), outputs[0].size()).ok())
      << "no result to read after a failed invoke";

  const std::vector<Bytes> inputs = random_inputs(g, 9);
  EXPECT_EQ(counted_run(*f.program, inputs, &outputs, &s), 0u);
  ASSERT_TRUE(s.ok()) << s.message();
  const std::vector<Bytes> expected = reference_outputs(g, inputs);
  for (size_t o = 0; o < outputs.size(); ++o) EXPECT_LE(max_diff(outputs[o], expected[o]), 1) << "output " << o;
}

}  // namespace
}  // namespace nonstick::testing
