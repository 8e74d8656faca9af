#include "kernel/rocket_device.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

#include "kernel/rocket_uapi.h"

namespace nonstick::kernel {
namespace {

uint64_t user_pointer(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

// Status messages are one line by contract; details from below may not be.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

int64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t absolute_deadline(int64_t relative_ns) {
  constexpr int64_t kForever = std::numeric_limits<int64_t>::max();
  if (relative_ns < 0) return kForever;
  const int64_t now = monotonic_now_ns();
  return relative_ns > kForever - now ? kForever : now + relative_ns;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string ioctl_name(unsigned long request) {
  switch (request) {
    case uapi::kIoctlRocketCreateBo: return "DRM_IOCTL_ROCKET_CREATE_BO";
    case uapi::kIoctlRocketSubmit: return "DRM_IOCTL_ROCKET_SUBMIT";
    case uapi::kIoctlRocketPrepBo: return "DRM_IOCTL_ROCKET_PREP_BO";
    case uapi::kIoctlRocketFiniBo: return "DRM_IOCTL_ROCKET_FINI_BO";
    case uapi::kIoctlVersion: return "DRM_IOCTL_VERSION";
    case uapi::kIoctlGemClose: return "DRM_IOCTL_GEM_CLOSE";
    default: return "ioctl " + hex(request);
  }
}

std::string errno_text(int err) {
  const char* name = strerrorname_np(err);
  std::string text = name ? name : "errno " + std::to_string(err);
  return text + " (" + std::strerror(err) + ")";
}

Status query_driver_name(Transport& transport, std::string* name) {
  // Driver names are short ("rocket", "ethosu"); a longer one is truncated,
  // which still compares unequal to "rocket".
  char buffer[64] = {};
  uapi::drm_version version{};
  version.name = buffer;
  version.name_len = sizeof(buffer);
  const int ret = transport.ioctl(uapi::kIoctlVersion, &version);
  if (ret < 0) {
    return Status::error(ioctl_name(uapi::kIoctlVersion) + " on " + transport.describe() + " failed: " +
                         errno_text(-ret));
  }
  name->assign(buffer, std::min(version.name_len, sizeof(buffer)));
  return {};
}

RocketDevice::RocketDevice(std::unique_ptr<Transport> transport) : transport_(std::move(transport)) {}

std::string RocketDevice::name() const {
  return transport_->simulated() ? transport_->describe() : "rocket (" + transport_->describe() + ")";
}

bool RocketDevice::simulated() const { return transport_->simulated(); }

Status RocketDevice::ioctl_error(unsigned long request, int err, const std::string& what) const {
  std::string message = ioctl_name(request) + " (" + what + ") failed: " + errno_text(err);
  const std::string detail = transport_->last_error_detail();
  if (!detail.empty()) message += ": " + detail;
  return Status::error(one_line(std::move(message)));
}

Status RocketDevice::create_bo(uint32_t size, BufferObject* out) {
  uapi::drm_rocket_create_bo args{};
  args.size = size;
  const int ret = transport_->ioctl(uapi::kIoctlRocketCreateBo, &args);
  if (ret < 0) return ioctl_error(uapi::kIoctlRocketCreateBo, -ret, "size " + std::to_string(size));

  errno = 0;
  void* map = transport_->mmap(args.offset, size);
  if (!map) {
    const int err = errno ? errno : EINVAL;
    uapi::drm_gem_close close_args{};
    close_args.handle = args.handle;
    transport_->ioctl(uapi::kIoctlGemClose, &close_args);  // best effort: the map error is the news
    return Status::error(one_line("mmap of rocket BO " + std::to_string(args.handle) + " (size " +
                                  std::to_string(size) + ", offset " + hex(args.offset) + ") on " +
                                  transport_->describe() + " failed: " + errno_text(err)));
  }
  out->handle = args.handle;
  out->dma_address = args.dma_address;
  out->size = size;
  out->map = static_cast<uint8_t*>(map);
  return {};
}

Status RocketDevice::destroy_bo(const BufferObject& bo) {
  if (bo.map) transport_->munmap(bo.map, bo.size);
  uapi::drm_gem_close args{};
  args.handle = bo.handle;
  const int ret = transport_->ioctl(uapi::kIoctlGemClose, &args);
  if (ret < 0) return ioctl_error(uapi::kIoctlGemClose, -ret, "handle " + std::to_string(bo.handle));
  return {};
}

Status RocketDevice::prep_bo(const BufferObject& bo, int64_t timeout_ns) {
  uapi::drm_rocket_prep_bo args{};
  args.handle = bo.handle;
  args.reserved = 0;
  args.timeout_ns = absolute_deadline(timeout_ns);
  const int ret = transport_->ioctl(uapi::kIoctlRocketPrepBo, &args);
  if (ret < 0) return ioctl_error(uapi::kIoctlRocketPrepBo, -ret, "handle " + std::to_string(bo.handle));
  return {};
}

Status RocketDevice::fini_bo(const BufferObject& bo) {
  uapi::drm_rocket_fini_bo args{};
  args.handle = bo.handle;
  args.reserved = 0;
  const int ret = transport_->ioctl(uapi::kIoctlRocketFiniBo, &args);
  if (ret < 0) return ioctl_error(uapi::kIoctlRocketFiniBo, -ret, "handle " + std::to_string(bo.handle));
  return {};
}

namespace {

Status check_jobs(const std::vector<Job>& jobs) {
  constexpr size_t kMaxCount = std::numeric_limits<uint32_t>::max();
  if (jobs.size() > kMaxCount) return Status::error("rocket submit: too many jobs");
  for (size_t j = 0; j < jobs.size(); ++j) {
    const Job& job = jobs[j];
    if (job.tasks.empty()) {
      return Status::error("rocket submit: job " + std::to_string(j) +
                           " has no tasks (the kernel would drop it without an error)");
    }
    if (job.tasks.size() > kMaxCount || job.in_handles.size() > kMaxCount || job.out_handles.size() > kMaxCount) {
      return Status::error("rocket submit: job " + std::to_string(j) + " has too many tasks or handles");
    }
    for (size_t t = 0; t < job.tasks.size(); ++t) {
      if (job.tasks[t].regcmd_count == 0) {
        return Status::error("rocket submit: job " + std::to_string(j) + " task " + std::to_string(t) +
                             " has regcmd_count 0 (the kernel would drop the job without an error)");
      }
    }
  }
  return {};
}

}  // namespace

// Owns the jobs (their handle lists are what in/out_bo_handles point at) and
// the task and job arrays built from them, so every pointer in args_ stays
// valid for the object's life. Heap-allocated and never moved.
class RocketDevice::PreparedSubmit final : public Submission {
 public:
  PreparedSubmit(RocketDevice& device, std::vector<Job> jobs)
      : device_(device), jobs_(std::move(jobs)), tasks_(jobs_.size()), job_args_(jobs_.size()) {
    for (size_t j = 0; j < jobs_.size(); ++j) {
      const Job& job = jobs_[j];
      tasks_[j].resize(job.tasks.size());
      for (size_t t = 0; t < job.tasks.size(); ++t) {
        tasks_[j][t].regcmd = job.tasks[t].regcmd;
        tasks_[j][t].regcmd_count = job.tasks[t].regcmd_count;
      }
      uapi::drm_rocket_job& args = job_args_[j];
      args = {};
      args.tasks = user_pointer(tasks_[j].data());
      args.task_count = static_cast<uint32_t>(tasks_[j].size());
      args.task_struct_size = sizeof(uapi::drm_rocket_task);
      args.in_bo_handles = job.in_handles.empty() ? 0 : user_pointer(job.in_handles.data());
      args.in_bo_handle_count = static_cast<uint32_t>(job.in_handles.size());
      args.out_bo_handles = job.out_handles.empty() ? 0 : user_pointer(job.out_handles.data());
      args.out_bo_handle_count = static_cast<uint32_t>(job.out_handles.size());
    }
    args_.jobs = user_pointer(job_args_.data());
    args_.job_count = static_cast<uint32_t>(job_args_.size());
    args_.job_struct_size = sizeof(uapi::drm_rocket_job);
    args_.reserved = 0;
  }

  Status issue() override {
    if (jobs_.empty()) return {};  // the kernel would return 0 without doing anything
    uapi::drm_rocket_submit args = args_;  // a fresh copy: the ioctl argument is not const
    const int ret = device_.transport_->ioctl(uapi::kIoctlRocketSubmit, &args);
    if (ret < 0) {
      return device_.ioctl_error(uapi::kIoctlRocketSubmit, -ret, std::to_string(jobs_.size()) + " jobs");
    }
    return {};
  }

 private:
  RocketDevice& device_;
  const std::vector<Job> jobs_;
  std::vector<std::vector<uapi::drm_rocket_task>> tasks_;
  std::vector<uapi::drm_rocket_job> job_args_;
  uapi::drm_rocket_submit args_{};
};

Status RocketDevice::prepare_submit(std::vector<Job> jobs, std::unique_ptr<Submission>* out) {
  if (Status s = check_jobs(jobs); !s.ok()) return s;
  *out = std::make_unique<PreparedSubmit>(*this, std::move(jobs));
  return {};
}

Status RocketDevice::submit(const std::vector<Job>& jobs) {
  if (jobs.empty()) return {};
  std::unique_ptr<Submission> prepared;
  if (Status s = prepare_submit(jobs, &prepared); !s.ok()) return s;
  return prepared->issue();
}

SubmitStats RocketDevice::last_submit_stats() const { return transport_->last_submit_stats(); }

}  // namespace nonstick::kernel
