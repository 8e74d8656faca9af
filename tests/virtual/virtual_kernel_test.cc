// The virtual RK3588's kernel side: it must refuse what drivers/accel/rocket
// refuses (rocket.md §1.4-1.5), accept what Mesa really submitted (the golden
// captures), allocate exactly like the capture shim did, and hand each task to
// the core model with the right address and count. The core here is a
// recording fake, so the kernel side is tested on its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <tuple>

#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"
#include "support/test_data.h"
#include "virtual/rk3588/virtual_device.h"
#include "virtual/rk3588/virtual_kernel.h"

namespace nonstick::virt {
namespace {

namespace uapi = kernel::uapi;

struct CoreCall {
  uint32_t regcmd = 0;
  uint32_t count = 0;
  std::vector<uint64_t> words;  // read through DeviceMemory at call time; empty if unresolvable
};

struct CoreLog {
  std::vector<CoreCall> calls;
  std::function<Status(const CoreCall&, TaskCounters*)> behaviour;  // default: ok, fake counters
};

class RecordingCore : public NpuCore {
 public:
  explicit RecordingCore(std::shared_ptr<CoreLog> log) : log_(std::move(log)) {}
  Status run_task(DeviceMemory& memory, uint32_t regcmd_iova, uint32_t regcmd_count,
                  TaskCounters* counters) override {
    CoreCall call{regcmd_iova, regcmd_count, {}};
    if (const uint8_t* p = memory.resolve(regcmd_iova, uint64_t{regcmd_count} * 8)) {
      call.words.resize(regcmd_count);
      std::memcpy(call.words.data(), p, call.words.size() * 8);
    }
    log_->calls.push_back(call);
    if (log_->behaviour) return log_->behaviour(call, counters);
    counters->regcmd_words = regcmd_count;
    return {};
  }

 private:
  std::shared_ptr<CoreLog> log_;
};

struct Rig {
  std::shared_ptr<CoreLog> log = std::make_shared<CoreLog>();
  std::unique_ptr<VirtualRk3588> vk = std::make_unique<VirtualRk3588>(std::make_unique<RecordingCore>(log));

  uapi::drm_rocket_create_bo create(uint32_t size) {
    uapi::drm_rocket_create_bo a{};
    a.size = size;
    EXPECT_EQ(vk->ioctl(uapi::kIoctlRocketCreateBo, &a), 0) << vk->last_error_detail();
    return a;
  }
  int close(uint32_t handle) {
    uapi::drm_gem_close a{handle, 0};
    return vk->ioctl(uapi::kIoctlGemClose, &a);
  }
  int prep(uint32_t handle, uint32_t reserved = 0, int64_t deadline = INT64_MAX) {
    uapi::drm_rocket_prep_bo a{handle, reserved, deadline};
    return vk->ioctl(uapi::kIoctlRocketPrepBo, &a);
  }
  int fini(uint32_t handle, uint32_t reserved = 0) {
    uapi::drm_rocket_fini_bo a{handle, reserved};
    return vk->ioctl(uapi::kIoctlRocketFiniBo, &a);
  }
};

// One job as raw UAPI structs, kept alive for the ioctl.
struct RawJob {
  std::vector<uapi::drm_rocket_task> tasks;
  std::vector<uint32_t> in, out;
  uapi::drm_rocket_job job() const {
    uapi::drm_rocket_job j{};
    j.tasks = reinterpret_cast<uintptr_t>(tasks.data());
    j.task_count = static_cast<uint32_t>(tasks.size());
    j.task_struct_size = sizeof(uapi::drm_rocket_task);
    j.in_bo_handles = reinterpret_cast<uintptr_t>(in.data());
    j.in_bo_handle_count = static_cast<uint32_t>(in.size());
    j.out_bo_handles = reinterpret_cast<uintptr_t>(out.data());
    j.out_bo_handle_count = static_cast<uint32_t>(out.size());
    return j;
  }
};

int submit(VirtualRk3588& vk, std::vector<uapi::drm_rocket_job> jobs, uint64_t reserved = 0) {
  uapi::drm_rocket_submit s{};
  s.jobs = reinterpret_cast<uintptr_t>(jobs.data());
  s.job_count = static_cast<uint32_t>(jobs.size());
  s.job_struct_size = sizeof(uapi::drm_rocket_job);
  s.reserved = reserved;
  return vk.ioctl(uapi::kIoctlRocketSubmit, &s);
}

// ---------------------------------------------------------------- BOs

TEST(VirtualKernel, CreateBoFollowsTheGoldenAllocationRule) {
  Rig r;
  const auto a = r.create(4608), b = r.create(32), c = r.create(4096), d = r.create(1);
  EXPECT_EQ(a.handle, 1u);
  EXPECT_EQ(b.handle, 2u);
  EXPECT_EQ(c.handle, 3u);
  EXPECT_EQ(a.dma_address, 0x10000000u);
  EXPECT_EQ(b.dma_address, 0x10002000u) << "4608 rounds up to 8 KiB";
  EXPECT_EQ(c.dma_address, 0x10003000u);
  EXPECT_EQ(d.dma_address, 0x10004000u);
  EXPECT_EQ(a.offset, 0x100000000u);
  EXPECT_EQ(c.offset, 0x100003000u);
  EXPECT_EQ(a.size, 4608u) << "the kernel does not write the size back";
  ASSERT_EQ(r.close(b.handle), 0);
  const auto e = r.create(64);
  EXPECT_EQ(e.handle, 5u) << "handles are not reused";
  EXPECT_EQ(e.dma_address, 0x10005000u) << "IOVAs are not reused";
}

TEST(VirtualKernel, CreateBoRefusesSizeZeroAndIovaExhaustion) {
  Rig r;
  uapi::drm_rocket_create_bo a{};
  EXPECT_EQ(r.vk->ioctl(uapi::kIoctlRocketCreateBo, &a), -EINVAL);
  a.size = 0xF0000001;  // would end past 4 GiB (0x10000000 + 0xF0000000 is the limit)
  EXPECT_EQ(r.vk->ioctl(uapi::kIoctlRocketCreateBo, &a), -ENOSPC) << "IOVAs must stay below 4 GiB";
  EXPECT_NE(r.vk->last_error_detail().find("IOVA space exhausted"), std::string::npos);
  a.size = 0xFFFFFFFF;
  EXPECT_EQ(r.vk->ioctl(uapi::kIoctlRocketCreateBo, &a), -ENOSPC);
  const auto b = r.create(4096);
  EXPECT_EQ(b.handle, 1u) << "failed creates consume no handle";
  EXPECT_EQ(b.dma_address, 0x10000000u) << "nor IOVA space";
}

TEST(VirtualKernel, MmapGivesZeroedHostMemoryThatTheNpuSeesAtTheIova) {
  Rig r;
  const auto a = r.create(5000);
  auto* p = static_cast<uint8_t*>(r.vk->mmap(a.offset, 5000));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 8192; ++i) ASSERT_EQ(p[i], 0) << "byte " << i;
  p[4999] = 0x5a;
  EXPECT_EQ(r.vk->memory().resolve(a.dma_address + 4999, 1), p + 4999);
  EXPECT_EQ(r.vk->memory().resolve(a.dma_address, 8192), p) << "the page-rounded tail is mapped too";
  EXPECT_EQ(r.vk->memory().resolve(a.dma_address + 1, 8192), nullptr) << "runs past the BO";
  EXPECT_EQ(r.vk->memory().resolve(a.dma_address + 8192, 1), nullptr);
  EXPECT_EQ(r.vk->memory().resolve(0x0fffffff, 1), nullptr);
  uint32_t handle = 0;
  uint64_t offset = 0;
  ASSERT_TRUE(r.vk->locate(a.dma_address + 4999, &handle, &offset));
  EXPECT_EQ(handle, a.handle);
  EXPECT_EQ(offset, 4999u);

  errno = 0;
  EXPECT_EQ(r.vk->mmap(a.offset + 4096, 4096), nullptr) << "offsets are exact";
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(r.vk->mmap(a.offset, 8193), nullptr) << "larger than the BO";
  EXPECT_EQ(r.vk->mmap(0x1234, 4096), nullptr);
}

TEST(VirtualKernel, GemCloseUnmapsTheIovaButACpuMappingStaysValid) {
  Rig r;
  const auto a = r.create(4096);
  auto* p = static_cast<uint8_t*>(r.vk->mmap(a.offset, 4096));
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(r.close(a.handle), 0);
  EXPECT_EQ(r.vk->open_bo_count(), 0u);
  EXPECT_EQ(r.vk->memory().resolve(a.dma_address, 1), nullptr) << "gone from the NPU's view";
  p[0] = 1;  // like Linux, the mapping keeps the pages until munmap
  r.vk->munmap(p, 4096);
  EXPECT_EQ(r.vk->mmap(a.offset, 4096), nullptr) << "a closed BO cannot be mapped";
  EXPECT_EQ(r.close(a.handle), -EINVAL) << "DRM answers EINVAL for an unknown handle";
}

TEST(VirtualKernel, PrepAndFiniCheckReservedAndHandle) {
  Rig r;
  const auto a = r.create(64);
  EXPECT_EQ(r.prep(a.handle), 0);
  EXPECT_EQ(r.fini(a.handle), 0);
  EXPECT_EQ(r.prep(a.handle, 1), -EINVAL);
  EXPECT_EQ(r.fini(a.handle, 0x80000000), -EINVAL);
  EXPECT_EQ(r.prep(99), -ENOENT);
  EXPECT_EQ(r.fini(99), -ENOENT);
  EXPECT_NE(r.vk->last_error_detail().find("unknown handle 99"), std::string::npos);
}

TEST(VirtualKernel, VersionAnswersRocketWithDrmStringSemantics) {
  Rig r;
  std::string name;
  ASSERT_TRUE(kernel::query_driver_name(*r.vk, &name).ok());
  EXPECT_EQ(name, "rocket");
  uapi::drm_version v{};  // lengths 0: only the lengths come back
  ASSERT_EQ(r.vk->ioctl(uapi::kIoctlVersion, &v), 0);
  EXPECT_EQ(v.name_len, 6u);
  EXPECT_EQ(v.desc_len, 10u);
  char shorter[3] = {'x', 'x', 'x'};
  v = {};
  v.name = shorter;
  v.name_len = 3;
  ASSERT_EQ(r.vk->ioctl(uapi::kIoctlVersion, &v), 0);
  EXPECT_EQ(std::string(shorter, 3), "roc") << "truncated to the buffer, no NUL";
  EXPECT_EQ(v.name_len, 6u);
}

TEST(VirtualKernel, UnknownRequestsAreRefused) {
  Rig r;
  int dummy = 0;
  EXPECT_EQ(r.vk->ioctl(0xC0186450, &dummy), -EINVAL) << "DRM type, unknown number";
  EXPECT_EQ(r.vk->ioctl(0x5401, &dummy), -ENOTTY) << "TCGETS";
}

// ---------------------------------------------------------------- SUBMIT rules

struct SubmitRig : Rig {
  uapi::drm_rocket_create_bo regcmd, in, out;
  RawJob job;
  SubmitRig() {
    regcmd = create(4096);
    in = create(512);
    out = create(512);
    job.tasks = {{static_cast<uint32_t>(regcmd.dma_address), 130}};
    job.in = {in.handle};
    job.out = {out.handle};
  }
};

TEST(VirtualKernel, SubmitRunsEachTaskOnTheCoreWithItsAddressAndCount) {
  SubmitRig r;
  RawJob second;
  second.tasks = {{static_cast<uint32_t>(r.regcmd.dma_address) + 0x440, 130},
                  {static_cast<uint32_t>(r.regcmd.dma_address) + 0x880, 12}};
  second.in = {r.out.handle};
  ASSERT_EQ(submit(*r.vk, {r.job.job(), second.job()}), 0) << r.vk->last_error_detail();
  ASSERT_EQ(r.log->calls.size(), 3u);
  EXPECT_EQ(r.log->calls[0].regcmd, r.regcmd.dma_address);
  EXPECT_EQ(r.log->calls[0].count, 130u);
  EXPECT_EQ(r.log->calls[1].regcmd, r.regcmd.dma_address + 0x440);
  EXPECT_EQ(r.log->calls[2].count, 12u);
  EXPECT_EQ(r.log->calls[0].words.size(), 130u) << "the words resolved through device memory";
  EXPECT_EQ(r.vk->last_submit_stats().tasks, 3u);
  EXPECT_EQ(r.vk->last_submit_stats().regcmd_words, 130u + 130u + 12u);
}

TEST(VirtualKernel, SubmitHonoursTheCallersStructStrides) {
  SubmitRig r;
  // Jobs 48 bytes apart and tasks 16 bytes apart, with junk in the gaps: a
  // newer userspace with larger structs must still be read correctly.
  std::vector<uint8_t> tasks(2 * 16, 0xee), jobs(2 * 48, 0xee);
  const uapi::drm_rocket_task t0{static_cast<uint32_t>(r.regcmd.dma_address), 130}, t1{0x10000440, 7};
  std::memcpy(&tasks[0], &t0, 8);
  std::memcpy(&tasks[16], &t1, 8);
  uapi::drm_rocket_job j = r.job.job();
  j.tasks = reinterpret_cast<uintptr_t>(tasks.data());
  j.task_count = 2;
  j.task_struct_size = 16;
  std::memcpy(&jobs[0], &j, 40);
  j.task_count = 1;
  std::memcpy(&jobs[48], &j, 40);
  uapi::drm_rocket_submit s{reinterpret_cast<uintptr_t>(jobs.data()), 2, 48, 0};
  ASSERT_EQ(r.vk->ioctl(uapi::kIoctlRocketSubmit, &s), 0) << r.vk->last_error_detail();
  ASSERT_EQ(r.log->calls.size(), 3u);
  EXPECT_EQ(r.log->calls[1].regcmd, 0x10000440u);
  EXPECT_EQ(r.log->calls[1].count, 7u);
  EXPECT_EQ(r.log->calls[2].regcmd, r.regcmd.dma_address);
}

TEST(VirtualKernel, SubmitRejectsWhatTheKernelRejectsAndRunsNothing) {
  struct Case {
    const char* what;
    std::function<void(uapi::drm_rocket_submit&, uapi::drm_rocket_job&, RawJob&)> spoil;
    int expected;
    const char* detail;
  };
  const Case cases[] = {
      {"job_struct_size 39", [](auto& s, auto&, auto&) { s.job_struct_size = 39; }, -EINVAL, "job_struct_size 39"},
      {"reserved", [](auto& s, auto&, auto&) { s.reserved = 1; }, -EINVAL, "reserved"},
      {"task_count 0", [](auto&, auto& j, auto&) { j.task_count = 0; }, -EINVAL, "task_count is 0"},
      {"task_struct_size 4", [](auto&, auto& j, auto&) { j.task_struct_size = 4; }, -EINVAL, "task_struct_size 4"},
      {"regcmd_count 0", [](auto&, auto&, auto& raw) { raw.tasks[0].regcmd_count = 0; }, -EINVAL,
       "task 0 has regcmd_count 0"},
      {"unknown in handle", [](auto&, auto&, auto& raw) { raw.in[0] = 77; }, -ENOENT, "in_bo_handles lists unknown handle 77"},
      {"unknown out handle", [](auto&, auto&, auto& raw) { raw.out[0] = 78; }, -ENOENT,
       "out_bo_handles lists unknown handle 78"},
      {"null tasks", [](auto&, auto& j, auto&) { j.tasks = 0; }, -EFAULT, "tasks pointer is null"},
  };
  for (const Case& c : cases) {
    SubmitRig r;
    RawJob good = r.job;  // job 0 valid, job 1 spoiled: all-or-nothing
    uapi::drm_rocket_job j = r.job.job();
    uapi::drm_rocket_submit s{};
    c.spoil(s, j, r.job);
    std::vector<uapi::drm_rocket_job> jobs = {good.job(), j};
    s.jobs = reinterpret_cast<uintptr_t>(jobs.data());
    s.job_count = 2;
    if (s.job_struct_size == 0) s.job_struct_size = sizeof(uapi::drm_rocket_job);
    EXPECT_EQ(r.vk->ioctl(uapi::kIoctlRocketSubmit, &s), c.expected) << c.what;
    EXPECT_NE(r.vk->last_error_detail().find(c.detail), std::string::npos) << c.what << ": " << r.vk->last_error_detail();
    EXPECT_TRUE(r.log->calls.empty()) << c.what << ": nothing may run";
  }
  SubmitRig r;
  uapi::drm_rocket_submit empty{};
  EXPECT_EQ(r.vk->ioctl(uapi::kIoctlRocketSubmit, &empty), 0) << "job_count 0 is a no-op";
  EXPECT_TRUE(r.log->calls.empty());
}

TEST(VirtualKernel, ATaskFaultFailsSubmitWithEioAndTheModelsMessage) {
  SubmitRig r;
  r.log->behaviour = [](const CoreCall&, TaskCounters*) {
    return Status::error("CNA_CONV_CON1: unsupported field PROC_PRECISION=3");
  };
  auto dev = std::make_unique<kernel::RocketDevice>(std::move(r.vk));
  std::vector<kernel::Job> jobs(1);
  jobs[0].tasks = {{static_cast<uint32_t>(r.regcmd.dma_address), 130}};
  Status s = dev->submit(jobs);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "DRM_IOCTL_ROCKET_SUBMIT (1 jobs) failed: EIO (" + std::string(std::strerror(EIO)) +
                "): job 0 task 0 (regcmd 0x10000000, 130 words): CNA_CONV_CON1: unsupported field PROC_PRECISION=3");
}

TEST(VirtualKernel, StatsSumTheModelsCountersAndTakeThePeakCbuf) {
  SubmitRig r;
  r.log->behaviour = [](const CoreCall& call, TaskCounters* c) {
    c->regcmd_words = call.count;
    c->macs = 1000 * call.count;
    c->bytes_read = 10;
    c->bytes_written = 3;
    c->cbuf_bytes = call.count == 130 ? 65536 : 32768;
    return Status();
  };
  RawJob two = r.job;
  two.tasks.push_back({0x10000440, 7});
  ASSERT_EQ(submit(*r.vk, {two.job()}), 0);
  const kernel::SubmitStats st = r.vk->last_submit_stats();
  EXPECT_EQ(st.tasks, 2u);
  EXPECT_EQ(st.regcmd_words, 137u);
  EXPECT_EQ(st.macs, 137000u);
  EXPECT_EQ(st.bytes_read, 20u);
  EXPECT_EQ(st.bytes_written, 6u);
  EXPECT_EQ(st.cbuf_bytes, 65536u);
  ASSERT_EQ(submit(*r.vk, {r.job.job()}), 0);
  EXPECT_EQ(r.vk->last_submit_stats().tasks, 1u) << "per submit, not cumulative";
}

// ---------------------------------------------------------------- fault injection

TEST(VirtualKernel, InjectedIoctlFailuresReachTheDeviceAndThenStop) {
  Rig r;
  VirtualRk3588* vk = r.vk.get();
  kernel::RocketDevice dev(std::move(r.vk));
  vk->fail_next_ioctl(uapi::kIoctlRocketCreateBo, ENOMEM, 2);
  kernel::BufferObject bo;
  for (int i = 0; i < 2; ++i) {
    Status s = dev.create_bo(4096, &bo);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.message().rfind("DRM_IOCTL_ROCKET_CREATE_BO (size 4096) failed: ENOMEM", 0), 0u) << s.message();
  }
  ASSERT_TRUE(dev.create_bo(4096, &bo).ok());
  EXPECT_EQ(bo.handle, 1u) << "injected failures have no side effects";

  vk->fail_next_mmap(ENOMEM);
  Status s = dev.create_bo(4096, &bo);
  EXPECT_NE(s.message().find("mmap of rocket BO 2"), std::string::npos) << s.message();
  EXPECT_EQ(vk->open_bo_count(), 1u) << "the handle of the failed create was closed";
}

TEST(VirtualKernel, AHungSubmitTimesOutPrepOnItsOutputsUntilRewritten) {
  SubmitRig r;
  r.vk->hang_next_submit();
  ASSERT_EQ(submit(*r.vk, {r.job.job()}), 0) << "SUBMIT itself succeeds, like a queued job";
  EXPECT_TRUE(r.log->calls.empty()) << "nothing ran";
  EXPECT_EQ(r.prep(r.out.handle), -ETIMEDOUT);
  EXPECT_EQ(r.prep(r.out.handle, 0, 0), -EBUSY) << "deadline already past";
  EXPECT_EQ(r.prep(r.in.handle), 0) << "inputs carry no fence";
  ASSERT_EQ(submit(*r.vk, {r.job.job()}), 0);
  EXPECT_EQ(r.log->calls.size(), 1u);
  EXPECT_EQ(r.prep(r.out.handle), 0) << "a completed job replaces the hung one";

  auto* vk = r.vk.get();
  kernel::RocketDevice dev(std::move(r.vk));
  vk->hang_next_submit();
  std::vector<kernel::Job> jobs(1);
  jobs[0].tasks = {{static_cast<uint32_t>(r.regcmd.dma_address), 130}};
  jobs[0].out_handles = {r.out.handle};
  ASSERT_TRUE(dev.submit(jobs).ok());
  kernel::BufferObject out;
  out.handle = r.out.handle;
  Status s = dev.prep_bo(out, 1'000'000);
  EXPECT_EQ(s.message().rfind("DRM_IOCTL_ROCKET_PREP_BO (handle 3) failed: ETIMEDOUT", 0), 0u) << s.message();
}

// The production entry point: RocketDevice over VirtualRk3588 over the real
// core model (whose own behaviour is tested with the model's tests).
TEST(VirtualDevice, OpensAsASimulatedRocketDevice) {
  auto dev = open_virtual_rk3588();
  ASSERT_NE(dev, nullptr);
  EXPECT_EQ(dev->name(), "virtual RK3588 (simulated)");
  EXPECT_TRUE(dev->simulated());
  kernel::BufferObject bo;
  ASSERT_TRUE(dev->create_bo(1000, &bo).ok());
  EXPECT_EQ(bo.dma_address, VirtualRk3588::kFirstIova);
  ASSERT_NE(bo.map, nullptr);
  bo.map[999] = 1;
  EXPECT_TRUE(dev->prep_bo(bo, 0).ok());
  EXPECT_TRUE(dev->fini_bo(bo).ok());
  EXPECT_TRUE(dev->destroy_bo(bo).ok());
  EXPECT_FALSE(dev->destroy_bo(bo).ok()) << "double free is an error, not a crash";
}

// ---------------------------------------------------------------- golden captures

struct GoldenEvent {
  std::string kind;  // create_bo, gem_close, prep_bo, fini_bo, submit
  uint32_t size = 0, handle = 0;
  uint64_t dma = 0, offset = 0;
  int submit = -1;
};

std::vector<GoldenEvent> read_events(const std::filesystem::path& file) {
  std::vector<GoldenEvent> events;
  std::ifstream in(file);
  std::string line;
  const std::regex create(R"(create_bo size=(\d+) -> handle=(\d+) dma=0x([0-9a-f]+) offset=0x([0-9a-f]+))");
  const std::regex handle_op(R"((gem_close|prep_bo|fini_bo) handle=(\d+))");
  const std::regex submit_op(R"(submit #(\d+))");
  std::smatch m;
  while (std::getline(in, line)) {
    GoldenEvent e;
    if (std::regex_search(line, m, create)) {
      e = {"create_bo", static_cast<uint32_t>(std::stoul(m[1])), static_cast<uint32_t>(std::stoul(m[2])),
           std::stoull(m[3], nullptr, 16), std::stoull(m[4], nullptr, 16)};
    } else if (std::regex_search(line, m, handle_op)) {
      e.kind = m[1];
      e.handle = static_cast<uint32_t>(std::stoul(m[2]));
    } else if (std::regex_search(line, m, submit_op)) {
      e.kind = "submit";
      e.submit = std::stoi(m[1]);
    } else {
      continue;
    }
    events.push_back(e);
  }
  return events;
}

struct GoldenTask {
  uint32_t dma = 0, count = 0, bo = 0;
  uint64_t bo_offset = 0;
  std::vector<uint64_t> words;
  std::vector<std::tuple<uint32_t, uint32_t, uint64_t>> refs;  // value -> (bo, offset)
};
struct GoldenJob {
  std::vector<uint32_t> in, out;
  std::vector<GoldenTask> tasks;
};

std::vector<uint32_t> parse_list(const std::string& s) {
  std::vector<uint32_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_of("0123456789") != std::string::npos) v.push_back(static_cast<uint32_t>(std::stoul(item)));
  }
  return v;
}

std::vector<GoldenJob> read_submit(const std::filesystem::path& file) {
  std::vector<GoldenJob> jobs;
  std::ifstream in(file);
  std::string line;
  const std::regex job(R"(^## job \d+: \d+ tasks, in_bo=\[([^\]]*)\] out_bo=\[([^\]]*)\])");
  const std::regex task(R"(^### job \d+ task \d+ regcmd_dma=0x([0-9a-f]+) count=(\d+) bo=(\d+)\+0x([0-9a-f]+))");
  const std::regex word(R"(^([0-9a-f]{16}) )");
  const std::regex ref(R"(= 0x([0-9a-f]{8})\s+-> bo (\d+) \+0x([0-9a-f]+))");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, job)) {
      jobs.push_back({parse_list(m[1]), parse_list(m[2]), {}});
    } else if (std::regex_search(line, m, task)) {
      GoldenTask t;
      t.dma = static_cast<uint32_t>(std::stoul(m[1], nullptr, 16));
      t.count = static_cast<uint32_t>(std::stoul(m[2]));
      t.bo = static_cast<uint32_t>(std::stoul(m[3]));
      t.bo_offset = std::stoull(m[4], nullptr, 16);
      jobs.back().tasks.push_back(t);
    } else if (std::regex_search(line, m, word)) {
      GoldenTask& t = jobs.back().tasks.back();
      t.words.push_back(std::stoull(m[1], nullptr, 16));
      if (std::regex_search(line, m, ref)) {
        t.refs.emplace_back(static_cast<uint32_t>(std::stoul(m[1], nullptr, 16)), static_cast<uint32_t>(std::stoul(m[2])),
                            std::stoull(m[3], nullptr, 16));
      }
    }
  }
  return jobs;
}

std::vector<std::filesystem::path> golden_models() {
  std::vector<std::filesystem::path> models;
  const std::filesystem::path root = testing::shared_dir() + "/goldens/rocket";
  if (!std::filesystem::is_directory(root)) return models;
  for (const auto& d : std::filesystem::directory_iterator(root)) {
    if (std::filesystem::exists(d.path() / "events.log")) models.push_back(d.path());
  }
  std::sort(models.begin(), models.end());
  return models;
}

// Every create_bo/gem_close/prep_bo/fini_bo Mesa issued in the captures,
// replayed as raw ioctls: same handles, same IOVAs, same mmap offsets.
TEST(VirtualKernelGoldens, AllocationReproducesEveryCapturedBo) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto models = golden_models();
  if (models.empty()) GTEST_SKIP() << "no golden captures";
  int creates = 0;
  for (const auto& model : models) {
    SCOPED_TRACE(model.filename().string());
    Rig r;
    size_t open = 0;
    for (const GoldenEvent& e : read_events(model / "events.log")) {
      if (e.kind == "create_bo") {
        ++open;
        const auto a = r.create(e.size);
        ASSERT_EQ(a.handle, e.handle);
        ASSERT_EQ(a.dma_address, e.dma) << "handle " << e.handle;
        ASSERT_EQ(a.offset, e.offset) << "handle " << e.handle;
        ++creates;
      } else if (e.kind == "gem_close") {
        ASSERT_EQ(r.close(e.handle), 0) << e.handle;
        --open;
      } else if (e.kind == "prep_bo") {
        ASSERT_EQ(r.prep(e.handle), 0) << e.handle;
      } else if (e.kind == "fini_bo") {
        ASSERT_EQ(r.fini(e.handle), 0) << e.handle;
      }
    }
    EXPECT_EQ(r.vk->open_bo_count(), open) << "the BOs Mesa left open (it crashed on some models)";
  }
  EXPECT_GT(creates, 500);
}

// Each captured SUBMIT rebuilt through RocketDevice (the production
// marshalling), with the captured regcmd words written at the captured BO and
// offset: the virtual kernel must accept it, run the tasks in order with the
// captured address and count, the core must read back exactly the captured
// words, and every BO address in them must resolve to the captured BO+offset.
TEST(VirtualKernelGoldens, CapturedSubmitsRunTaskByTaskAtTheCapturedAddresses) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const auto models = golden_models();
  if (models.empty()) GTEST_SKIP() << "no golden captures";
  int submits = 0, tasks = 0, refs = 0;
  for (const auto& model : models) {
    SCOPED_TRACE(model.filename().string());
    auto log = std::make_shared<CoreLog>();
    auto owned = std::make_unique<VirtualRk3588>(std::make_unique<RecordingCore>(log));
    VirtualRk3588* vk = owned.get();
    kernel::RocketDevice dev(std::move(owned));
    std::map<uint32_t, kernel::BufferObject> bos;
    for (const GoldenEvent& e : read_events(model / "events.log")) {
      if (e.kind == "create_bo") {
        kernel::BufferObject bo;
        ASSERT_TRUE(dev.create_bo(e.size, &bo).ok());
        ASSERT_EQ(bo.handle, e.handle);
        ASSERT_EQ(bo.dma_address, e.dma);
        bos[bo.handle] = bo;
      } else if (e.kind == "gem_close") {
        ASSERT_TRUE(dev.destroy_bo(bos.at(e.handle)).ok());
        bos.erase(e.handle);
      } else if (e.kind == "prep_bo") {
        ASSERT_TRUE(dev.prep_bo(bos.at(e.handle), -1).ok());
      } else if (e.kind == "fini_bo") {
        ASSERT_TRUE(dev.fini_bo(bos.at(e.handle)).ok());
      } else if (e.kind == "submit") {
        char name[32];
        std::snprintf(name, sizeof(name), "submit_%04d_regcmd.txt", e.submit);
        const auto golden = read_submit(model / name);
        ASSERT_FALSE(golden.empty()) << name;
        std::vector<kernel::Job> jobs;
        std::vector<const GoldenTask*> expected;
        for (const GoldenJob& gj : golden) {
          kernel::Job job;
          job.in_handles = gj.in;
          job.out_handles = gj.out;
          for (const GoldenTask& gt : gj.tasks) {
            ASSERT_EQ(gt.words.size(), gt.count);
            std::memcpy(bos.at(gt.bo).map + gt.bo_offset, gt.words.data(), gt.count * 8);
            job.tasks.push_back({gt.dma, gt.count});
            expected.push_back(&gt);
          }
          jobs.push_back(job);
        }
        log->calls.clear();
        Status s = dev.submit(jobs);
        ASSERT_TRUE(s.ok()) << name << ": " << s.message();
        ASSERT_EQ(log->calls.size(), expected.size()) << name;
        EXPECT_EQ(dev.last_submit_stats().tasks, expected.size());
        for (size_t i = 0; i < expected.size(); ++i) {
          const GoldenTask& gt = *expected[i];
          EXPECT_EQ(log->calls[i].regcmd, gt.dma) << name << " task " << i;
          EXPECT_EQ(log->calls[i].count, gt.count) << name << " task " << i;
          EXPECT_EQ(log->calls[i].words, gt.words) << name << " task " << i;
          uint32_t handle = 0;
          uint64_t offset = 0;
          ASSERT_TRUE(vk->locate(gt.dma, &handle, &offset));
          EXPECT_EQ(handle, gt.bo);
          EXPECT_EQ(offset, gt.bo_offset);
          for (const auto& [value, bo, off] : gt.refs) {
            ASSERT_TRUE(vk->locate(value, &handle, &offset)) << std::hex << value;
            EXPECT_EQ(handle, bo) << std::hex << value;
            EXPECT_EQ(offset, off) << std::hex << value;
            EXPECT_EQ(vk->memory().resolve(value, 1), bos.at(bo).map + off);
            ++refs;
          }
        }
        ++submits;
        tasks += static_cast<int>(expected.size());
      }
    }
  }
  EXPECT_GE(submits, 9);
  EXPECT_GT(tasks, 150);
  EXPECT_GT(refs, 500);
}

}  // namespace
}  // namespace nonstick::virt
