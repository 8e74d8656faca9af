// UAPI conformance of RocketDevice: the exact bytes it hands to each ioctl,
// captured by a recording Transport that copies the argument (and everything
// the argument points to) the way the kernel's copy_from_user would, then
// decoded at the byte offsets of the documented layout (rocket.md §1.3), not
// through our own struct declarations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <map>

#include "kernel/rocket_device.h"

namespace nonstick::kernel {
namespace {

constexpr unsigned long kCreateBo = 0xC0186440, kSubmit = 0x40186441, kPrepBo = 0x40106442,
                        kFiniBo = 0x40086443, kGemClose = 0x40086409;

using Bytes = std::vector<uint8_t>;

uint32_t u32_at(const Bytes& b, size_t off) {
  EXPECT_LE(off + 4, b.size());
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | b.at(off + i);
  return v;
}
uint64_t u64_at(const Bytes& b, size_t off) { return u32_at(b, off) | uint64_t{u32_at(b, off + 4)} << 32; }

Bytes copy_in(uint64_t pointer, size_t bytes) {
  if (bytes == 0) return {};
  const auto* p = reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(pointer));
  return Bytes(p, p + bytes);
}

struct JobCopy {
  Bytes job, tasks, in_handles, out_handles;
};

struct Call {
  unsigned long request = 0;
  Bytes arg;                  // _IOC_SIZE(request) bytes, as passed
  std::vector<JobCopy> jobs;  // SUBMIT only: what the pointers lead to
};

class RecordingTransport : public Transport {
 public:
  std::vector<Call> calls;
  std::vector<std::pair<uint64_t, size_t>> mmaps;
  std::vector<std::pair<void*, size_t>> munmaps;
  std::map<unsigned long, int> fail_with;  // request -> errno
  int mmap_errno = 0;
  std::string detail;
  SubmitStats stats;
  bool sim = false;
  uint8_t page[8192] = {};

  int ioctl(unsigned long request, void* arg) override {
    Call call;
    call.request = request;
    call.arg = copy_in(reinterpret_cast<uintptr_t>(arg), (request >> 16) & 0x3fff);
    if (request == kSubmit) {
      const uint64_t jobs = u64_at(call.arg, 0);
      const uint32_t count = u32_at(call.arg, 8), stride = u32_at(call.arg, 12);
      for (uint32_t j = 0; j < count; ++j) {
        JobCopy jc;
        jc.job = copy_in(jobs + uint64_t{j} * stride, 40);
        jc.tasks = copy_in(u64_at(jc.job, 0), size_t{u32_at(jc.job, 24)} * u32_at(jc.job, 28));
        jc.in_handles = copy_in(u64_at(jc.job, 8), size_t{u32_at(jc.job, 32)} * 4);
        jc.out_handles = copy_in(u64_at(jc.job, 16), size_t{u32_at(jc.job, 36)} * 4);
        call.jobs.push_back(jc);
      }
    }
    calls.push_back(call);
    if (auto it = fail_with.find(request); it != fail_with.end()) return -it->second;
    if (request == kCreateBo) {  // handle 7, dma 0x10003000, offset 0x100003000
      auto* a = static_cast<uint8_t*>(arg);
      const uint32_t handle = 7;
      const uint64_t dma = 0x10003000, offset = 0x100003000;
      std::memcpy(a + 4, &handle, 4);
      std::memcpy(a + 8, &dma, 8);
      std::memcpy(a + 16, &offset, 8);
    }
    return 0;
  }
  void* mmap(uint64_t offset, size_t size) override {
    mmaps.emplace_back(offset, size);
    if (mmap_errno) {
      errno = mmap_errno;
      return nullptr;
    }
    return page;
  }
  void munmap(void* address, size_t size) override { munmaps.emplace_back(address, size); }
  std::string describe() const override { return sim ? "virtual RK3588 (simulated)" : "/dev/fake/accel9"; }
  bool simulated() const override { return sim; }
  SubmitStats last_submit_stats() const override { return stats; }
  std::string last_error_detail() const override { return detail; }
};

struct Fixture {
  RecordingTransport* t;
  std::unique_ptr<RocketDevice> dev;
  Fixture() {
    auto owned = std::make_unique<RecordingTransport>();
    t = owned.get();
    dev = std::make_unique<RocketDevice>(std::move(owned));
  }
};

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

TEST(RocketDevice, CreateBoSendsTheSizeAndMapsAtTheReturnedOffset) {
  Fixture f;
  BufferObject bo;
  ASSERT_TRUE(f.dev->create_bo(4608, &bo).ok());
  ASSERT_EQ(f.t->calls.size(), 1u);
  const Call& c = f.t->calls[0];
  EXPECT_EQ(c.request, kCreateBo);
  ASSERT_EQ(c.arg.size(), 24u);
  EXPECT_EQ(u32_at(c.arg, 0), 4608u);
  EXPECT_EQ(u32_at(c.arg, 4), 0u) << "out fields are sent zeroed";
  EXPECT_EQ(u64_at(c.arg, 8), 0u);
  EXPECT_EQ(u64_at(c.arg, 16), 0u);
  ASSERT_EQ(f.t->mmaps.size(), 1u);
  EXPECT_EQ(f.t->mmaps[0].first, 0x100003000u);
  EXPECT_EQ(f.t->mmaps[0].second, 4608u);
  EXPECT_EQ(bo.handle, 7u);
  EXPECT_EQ(bo.dma_address, 0x10003000u);
  EXPECT_EQ(bo.size, 4608u);
  EXPECT_EQ(bo.map, f.t->page);
}

TEST(RocketDevice, CreateBoClosesTheHandleWhenMmapFails) {
  Fixture f;
  f.t->mmap_errno = ENOMEM;
  BufferObject bo;
  Status s = f.dev->create_bo(100, &bo);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("mmap"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ENOMEM"), std::string::npos) << s.message();
  ASSERT_EQ(f.t->calls.size(), 2u);
  EXPECT_EQ(f.t->calls[1].request, kGemClose);
  EXPECT_EQ(u32_at(f.t->calls[1].arg, 0), 7u);
  EXPECT_EQ(bo.map, nullptr);
}

TEST(RocketDevice, DestroyBoUnmapsThenClosesTheHandle) {
  Fixture f;
  BufferObject bo;
  ASSERT_TRUE(f.dev->create_bo(4096, &bo).ok());
  ASSERT_TRUE(f.dev->destroy_bo(bo).ok());
  ASSERT_EQ(f.t->munmaps.size(), 1u);
  EXPECT_EQ(f.t->munmaps[0].first, f.t->page);
  EXPECT_EQ(f.t->munmaps[0].second, 4096u);
  ASSERT_EQ(f.t->calls.size(), 2u);
  const Call& c = f.t->calls[1];
  EXPECT_EQ(c.request, kGemClose);
  ASSERT_EQ(c.arg.size(), 8u);
  EXPECT_EQ(u32_at(c.arg, 0), 7u);
  EXPECT_EQ(u32_at(c.arg, 4), 0u) << "pad";
}

TEST(RocketDevice, PrepBoSendsHandleZeroReservedAndAnAbsoluteMonotonicDeadline) {
  Fixture f;
  BufferObject bo;
  bo.handle = 42;
  const int64_t before = now_ns();
  ASSERT_TRUE(f.dev->prep_bo(bo, 500'000'000).ok());
  const int64_t after = now_ns();
  ASSERT_TRUE(f.dev->prep_bo(bo, -1).ok());
  ASSERT_TRUE(f.dev->prep_bo(bo, std::numeric_limits<int64_t>::max()).ok());
  ASSERT_EQ(f.t->calls.size(), 3u);
  const Call& c = f.t->calls[0];
  EXPECT_EQ(c.request, kPrepBo);
  ASSERT_EQ(c.arg.size(), 16u);
  EXPECT_EQ(u32_at(c.arg, 0), 42u);
  EXPECT_EQ(u32_at(c.arg, 4), 0u) << "reserved";
  const auto deadline = static_cast<int64_t>(u64_at(c.arg, 8));
  EXPECT_GE(deadline, before + 500'000'000);
  EXPECT_LE(deadline, after + 500'000'000);
  EXPECT_EQ(static_cast<int64_t>(u64_at(f.t->calls[1].arg, 8)), std::numeric_limits<int64_t>::max()) << "forever";
  EXPECT_EQ(static_cast<int64_t>(u64_at(f.t->calls[2].arg, 8)), std::numeric_limits<int64_t>::max())
      << "INT64_MAX (Mesa's value) saturates instead of overflowing";
}

TEST(RocketDevice, FiniBoSendsHandleAndZeroReserved) {
  Fixture f;
  BufferObject bo;
  bo.handle = 9;
  ASSERT_TRUE(f.dev->fini_bo(bo).ok());
  ASSERT_EQ(f.t->calls.size(), 1u);
  EXPECT_EQ(f.t->calls[0].request, kFiniBo);
  ASSERT_EQ(f.t->calls[0].arg.size(), 8u);
  EXPECT_EQ(u32_at(f.t->calls[0].arg, 0), 9u);
  EXPECT_EQ(u32_at(f.t->calls[0].arg, 4), 0u);
}

TEST(RocketDevice, SubmitMarshalsJobsTasksAndHandleListsWithTheUapiStrides) {
  Fixture f;
  std::vector<Job> jobs(2);
  jobs[0].tasks = {{0x10a4c000, 130}, {0x10a4c440, 130}, {0x10a4c880, 7}};
  jobs[0].in_handles = {55};
  jobs[0].out_handles = {56};
  jobs[1].tasks = {{0x10a4d000, 130}};
  jobs[1].in_handles = {113, 111};
  ASSERT_TRUE(f.dev->submit(jobs).ok());
  ASSERT_EQ(f.t->calls.size(), 1u);
  const Call& c = f.t->calls[0];
  EXPECT_EQ(c.request, kSubmit);
  ASSERT_EQ(c.arg.size(), 24u);
  EXPECT_NE(u64_at(c.arg, 0), 0u);
  EXPECT_EQ(u32_at(c.arg, 8), 2u) << "job_count";
  EXPECT_EQ(u32_at(c.arg, 12), 40u) << "job_struct_size";
  EXPECT_EQ(u64_at(c.arg, 16), 0u) << "reserved";
  ASSERT_EQ(c.jobs.size(), 2u);

  const JobCopy& j0 = c.jobs[0];
  EXPECT_EQ(u32_at(j0.job, 24), 3u) << "task_count";
  EXPECT_EQ(u32_at(j0.job, 28), 8u) << "task_struct_size";
  EXPECT_EQ(u32_at(j0.job, 32), 1u);
  EXPECT_EQ(u32_at(j0.job, 36), 1u);
  ASSERT_EQ(j0.tasks.size(), 24u);
  EXPECT_EQ(u32_at(j0.tasks, 0), 0x10a4c000u);
  EXPECT_EQ(u32_at(j0.tasks, 4), 130u);
  EXPECT_EQ(u32_at(j0.tasks, 8), 0x10a4c440u);
  EXPECT_EQ(u32_at(j0.tasks, 16), 0x10a4c880u);
  EXPECT_EQ(u32_at(j0.tasks, 20), 7u);
  EXPECT_EQ(u32_at(j0.in_handles, 0), 55u);
  EXPECT_EQ(u32_at(j0.out_handles, 0), 56u);

  const JobCopy& j1 = c.jobs[1];
  EXPECT_EQ(u32_at(j1.job, 24), 1u);
  EXPECT_EQ(u32_at(j1.job, 32), 2u);
  EXPECT_EQ(u32_at(j1.job, 36), 0u);
  EXPECT_EQ(u64_at(j1.job, 16), 0u) << "no out handles: null pointer";
  EXPECT_EQ(u32_at(j1.in_handles, 0), 113u);
  EXPECT_EQ(u32_at(j1.in_handles, 4), 111u);
  EXPECT_EQ(u32_at(j1.tasks, 0), 0x10a4d000u);
}

TEST(RocketDevice, APreparedSubmitSendsWhatSubmitSendsOnEveryIssue) {
  std::vector<Job> jobs(2);
  jobs[0].tasks = {{0x10a4c000, 130}, {0x10a4c440, 7}};
  jobs[0].in_handles = {55, 54};
  jobs[0].out_handles = {56};
  jobs[1].tasks = {{0x10a4d000, 130}};
  jobs[1].out_handles = {57};
  Fixture direct;
  ASSERT_TRUE(direct.dev->submit(jobs).ok());
  Fixture f;
  std::unique_ptr<Submission> prepared;
  ASSERT_TRUE(f.dev->prepare_submit(jobs, &prepared).ok());
  EXPECT_TRUE(f.t->calls.empty()) << "preparing sends nothing";
  ASSERT_TRUE(prepared->issue().ok());
  ASSERT_TRUE(prepared->issue().ok());
  ASSERT_EQ(direct.t->calls.size(), 1u);
  ASSERT_EQ(f.t->calls.size(), 2u);
  for (const Call& c : f.t->calls) {
    const Call& d = direct.t->calls[0];
    EXPECT_EQ(c.request, kSubmit);
    // Equal except the user pointers (bytes 0-7 of the submit and of each job).
    EXPECT_TRUE(std::equal(c.arg.begin() + 8, c.arg.end(), d.arg.begin() + 8, d.arg.end()));
    ASSERT_EQ(c.jobs.size(), d.jobs.size());
    for (size_t j = 0; j < c.jobs.size(); ++j) {
      EXPECT_TRUE(std::equal(c.jobs[j].job.begin() + 24, c.jobs[j].job.end(), d.jobs[j].job.begin() + 24,
                             d.jobs[j].job.end()))
          << "job " << j << " counts and strides";
      EXPECT_EQ(u64_at(c.jobs[j].job, 8) == 0, u64_at(d.jobs[j].job, 8) == 0) << "job " << j;
      EXPECT_EQ(u64_at(c.jobs[j].job, 16) == 0, u64_at(d.jobs[j].job, 16) == 0) << "job " << j;
      EXPECT_EQ(c.jobs[j].tasks, d.jobs[j].tasks) << "job " << j;
      EXPECT_EQ(c.jobs[j].in_handles, d.jobs[j].in_handles) << "job " << j;
      EXPECT_EQ(c.jobs[j].out_handles, d.jobs[j].out_handles) << "job " << j;
    }
  }
  EXPECT_EQ(u32_at(f.t->calls[1].jobs[1].out_handles, 0), 57u);

  std::vector<Job> bad(1);
  EXPECT_FALSE(f.dev->prepare_submit(bad, &prepared).ok()) << "checked when prepared, like submit()";
}

TEST(RocketDevice, SubmitRefusesWhatTheKernelWouldSilentlyDrop) {
  Fixture f;
  std::vector<Job> no_tasks(1);
  Status s = f.dev->submit(no_tasks);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("job 0 has no tasks"), std::string::npos) << s.message();

  std::vector<Job> zero_count(2);
  zero_count[0].tasks = {{0x10000000, 130}};
  zero_count[1].tasks = {{0x10000000, 130}, {0x10001000, 0}};
  s = f.dev->submit(zero_count);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("job 1 task 1 has regcmd_count 0"), std::string::npos) << s.message();
  EXPECT_TRUE(f.t->calls.empty()) << "nothing reached the kernel";

  EXPECT_TRUE(f.dev->submit({}).ok());
  EXPECT_TRUE(f.t->calls.empty()) << "an empty submit is a no-op";
}

TEST(RocketDevice, FailuresAreOneLineNamingTheIoctlAndErrno) {
  struct Case {
    unsigned long request;
    int err;
    const char* ioctl;
    const char* errno_name;
  };
  const Case cases[] = {{kCreateBo, ENOMEM, "DRM_IOCTL_ROCKET_CREATE_BO", "ENOMEM"},
                        {kPrepBo, ETIMEDOUT, "DRM_IOCTL_ROCKET_PREP_BO", "ETIMEDOUT"},
                        {kFiniBo, ENOENT, "DRM_IOCTL_ROCKET_FINI_BO", "ENOENT"},
                        {kSubmit, EINVAL, "DRM_IOCTL_ROCKET_SUBMIT", "EINVAL"},
                        {kGemClose, EINVAL, "DRM_IOCTL_GEM_CLOSE", "EINVAL"}};
  for (const Case& c : cases) {
    Fixture f;
    f.t->fail_with[c.request] = c.err;
    f.t->detail = "first line\nsecond line";
    BufferObject bo;
    bo.handle = 3;
    Status s;
    if (c.request == kCreateBo) s = f.dev->create_bo(64, &bo);
    if (c.request == kPrepBo) s = f.dev->prep_bo(bo, 0);
    if (c.request == kFiniBo) s = f.dev->fini_bo(bo);
    if (c.request == kGemClose) s = f.dev->destroy_bo(bo);
    if (c.request == kSubmit) {
      std::vector<Job> jobs(1);
      jobs[0].tasks = {{0x10000000, 130}};
      s = f.dev->submit(jobs);
    }
    ASSERT_FALSE(s.ok()) << c.ioctl;
    const std::string& m = s.message();
    EXPECT_EQ(m.rfind(c.ioctl, 0), 0u) << m;
    EXPECT_NE(m.find(std::string(c.errno_name) + " ("), std::string::npos) << m;
    EXPECT_NE(m.find(std::strerror(c.err)), std::string::npos) << m;
    EXPECT_NE(m.find("first line second line"), std::string::npos) << "transport detail kept: " << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

TEST(RocketDevice, NameSimulatedAndStatsComeFromTheTransport) {
  Fixture f;
  EXPECT_EQ(f.dev->name(), "rocket (/dev/fake/accel9)");
  EXPECT_FALSE(f.dev->simulated());
  EXPECT_EQ(f.dev->last_submit_stats().tasks, 0u);
  f.t->sim = true;
  f.t->stats.tasks = 27;
  f.t->stats.macs = 1234;
  EXPECT_EQ(f.dev->name(), "virtual RK3588 (simulated)");
  EXPECT_TRUE(f.dev->simulated());
  EXPECT_EQ(f.dev->last_submit_stats().tasks, 27u);
  EXPECT_EQ(f.dev->last_submit_stats().macs, 1234u);
}

TEST(RocketDevice, HelperNames) {
  EXPECT_EQ(ioctl_name(kSubmit), "DRM_IOCTL_ROCKET_SUBMIT");
  EXPECT_EQ(ioctl_name(0xC0406400), "DRM_IOCTL_VERSION");
  EXPECT_EQ(ioctl_name(0x1234), "ioctl 0x1234");
  EXPECT_EQ(errno_text(ETIMEDOUT), std::string("ETIMEDOUT (") + std::strerror(ETIMEDOUT) + ")");
}

}  // namespace
}  // namespace nonstick::kernel
