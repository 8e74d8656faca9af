#include "virtual/rk3588/virtual_kernel.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"

namespace nonstick::virt {

namespace uapi = kernel::uapi;

struct VirtualRk3588::Bo {
  uint32_t handle = 0;
  uint64_t iova = 0;
  uint32_t size = 0;         // as requested
  uint64_t mapped_size = 0;  // page-rounded: what the IOMMU maps and mmap may cover
  uint64_t mmap_offset = 0;
  uint8_t* host = nullptr;   // anonymous mapping: zero-filled like shmem pages
  bool open = true;          // has a handle (and an IOVA mapping)
  int cpu_maps = 0;          // live mmap(2)s; the memory outlives GEM_CLOSE while mapped
  bool hung = false;         // output of a submit injected to hang
};

class VirtualRk3588::Memory : public DeviceMemory {
 public:
  explicit Memory(VirtualRk3588* owner) : owner_(owner) {}
  uint8_t* resolve(uint64_t iova, uint64_t bytes) override {
    Bo* bo = owner_->find_by_iova(iova);
    if (!bo) return nullptr;
    const uint64_t offset = iova - bo->iova;
    if (bytes > bo->mapped_size - offset) return nullptr;  // runs past the BO: a DMA fault
    return bo->host + offset;
  }

 private:
  VirtualRk3588* owner_;
};

namespace {

// Beyond this a count is garbage; the kernel's array allocation would fail.
constexpr uint32_t kMaxArrayEntries = 1u << 20;

uint64_t round_up(uint64_t v, uint64_t align) { return (v + align - 1) / align * align; }

int64_t monotonic_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

template <typename T>
T* user_ptr(uint64_t p) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(p));
}

// DRM's string-field convention: copy at most the caller's buffer size, no
// NUL, and report the full length.
int copy_field(char* buffer, size_t* length, const char* value) {
  const size_t full = std::strlen(value);
  const size_t n = std::min(full, *length);
  if (n > 0 && !buffer) return -EFAULT;
  if (n > 0) std::memcpy(buffer, value, n);
  *length = full;
  return 0;
}

}  // namespace

VirtualRk3588::VirtualRk3588(std::unique_ptr<NpuCore> core)
    : core_(std::move(core)), memory_(std::make_unique<Memory>(this)) {}

VirtualRk3588::~VirtualRk3588() {
  for (auto& [iova, bo] : bos_) ::munmap(bo->host, bo->mapped_size);
}

int VirtualRk3588::fail(int err, std::string why) {
  last_error_ = std::move(why);
  return -err;
}

int VirtualRk3588::ioctl(unsigned long request, void* arg) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_.clear();
  auto injected = injected_.find(request);
  if (injected != injected_.end() && injected->second.second > 0) {
    const int err = injected->second.first;
    if (--injected->second.second == 0) injected_.erase(injected);
    return fail(err, "injected fault");
  }
  if (!arg) return fail(EFAULT, "null argument");
  switch (request) {
    case uapi::kIoctlRocketCreateBo: return create_bo(arg);
    case uapi::kIoctlRocketSubmit: return submit(arg);
    case uapi::kIoctlRocketPrepBo: return prep_bo(arg);
    case uapi::kIoctlRocketFiniBo: return fini_bo(arg);
    case uapi::kIoctlGemClose: return gem_close(arg);
    case uapi::kIoctlVersion: return version(arg);
    default:
      // DRM answers unknown numbers of its own type with EINVAL, others ENOTTY.
      if (((request >> 8) & 0xff) == uapi::kDrmType) return fail(EINVAL, "unknown DRM ioctl");
      return fail(ENOTTY, "not a DRM ioctl");
  }
}

VirtualRk3588::Bo* VirtualRk3588::find_open(uint32_t handle) const {
  auto it = handles_.find(handle);
  return it == handles_.end() ? nullptr : it->second;
}

VirtualRk3588::Bo* VirtualRk3588::find_by_iova(uint64_t iova) const {
  auto it = bos_.upper_bound(iova);
  if (it == bos_.begin()) return nullptr;
  --it;
  Bo* bo = it->second.get();
  if (!bo->open || iova - bo->iova >= bo->mapped_size) return nullptr;
  return bo;
}

void VirtualRk3588::release_if_unused(Bo* bo) {
  if (bo->open || bo->cpu_maps > 0) return;
  ::munmap(bo->host, bo->mapped_size);
  bos_.erase(bo->iova);  // the IOVA itself is never handed out again
}

int VirtualRk3588::create_bo(void* arg) {
  auto* args = static_cast<uapi::drm_rocket_create_bo*>(arg);
  if (args->size == 0) return fail(EINVAL, "CREATE_BO of size 0");
  const uint64_t mapped = round_up(args->size, kPageSize);
  if (mapped > kIovaEnd - next_iova_) {
    return fail(ENOSPC, "IOVA space exhausted (" + std::to_string(args->size) + " bytes requested)");
  }
  void* host = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (host == MAP_FAILED) return fail(ENOMEM, "host memory for a " + std::to_string(args->size) + "-byte BO");

  auto bo = std::make_unique<Bo>();
  bo->handle = next_handle_++;
  bo->iova = next_iova_;
  bo->size = args->size;
  bo->mapped_size = mapped;
  bo->mmap_offset = kMmapOffsetBase + (bo->iova - kFirstIova);
  bo->host = static_cast<uint8_t*>(host);
  next_iova_ += mapped;

  args->handle = bo->handle;
  args->dma_address = bo->iova;
  args->offset = bo->mmap_offset;
  handles_[bo->handle] = bo.get();
  bos_[bo->iova] = std::move(bo);
  return 0;
}

int VirtualRk3588::gem_close(void* arg) {
  auto* args = static_cast<uapi::drm_gem_close*>(arg);
  Bo* bo = find_open(args->handle);
  if (!bo) return fail(EINVAL, "GEM_CLOSE of unknown handle " + std::to_string(args->handle));
  handles_.erase(args->handle);
  bo->open = false;
  release_if_unused(bo);
  return 0;
}

int VirtualRk3588::prep_bo(void* arg) {
  auto* args = static_cast<uapi::drm_rocket_prep_bo*>(arg);
  if (args->reserved != 0) return fail(EINVAL, "PREP_BO reserved field is not 0");
  Bo* bo = find_open(args->handle);
  if (!bo) return fail(ENOENT, "PREP_BO of unknown handle " + std::to_string(args->handle));
  if (bo->hung) {
    // The kernel reports -EBUSY when the deadline had passed before waiting.
    if (args->timeout_ns <= monotonic_now_ns()) return fail(EBUSY, "BO is the output of a hung job");
    return fail(ETIMEDOUT, "BO " + std::to_string(args->handle) + " is the output of a hung job (injected)");
  }
  return 0;  // jobs complete within SUBMIT: nothing to wait for
}

int VirtualRk3588::fini_bo(void* arg) {
  auto* args = static_cast<uapi::drm_rocket_fini_bo*>(arg);
  if (args->reserved != 0) return fail(EINVAL, "FINI_BO reserved field is not 0");
  if (!find_open(args->handle)) return fail(ENOENT, "FINI_BO of unknown handle " + std::to_string(args->handle));
  return 0;
}

int VirtualRk3588::version(void* arg) {
  auto* args = static_cast<uapi::drm_version*>(arg);
  // The rocket driver declares no version numbers; DRM reports its date as "0".
  args->version_major = 0;
  args->version_minor = 0;
  args->version_patchlevel = 0;
  int ret = copy_field(args->name, &args->name_len, "rocket");
  if (ret == 0) ret = copy_field(args->date, &args->date_len, "0");
  if (ret == 0) ret = copy_field(args->desc, &args->desc_len, "rocket DRM");
  return ret < 0 ? fail(-ret, "VERSION: null string buffer") : 0;
}

int VirtualRk3588::submit(void* arg) {
  const auto* args = static_cast<const uapi::drm_rocket_submit*>(arg);
  stats_ = {};
  if (args->job_count == 0) return 0;
  if (args->job_struct_size < sizeof(uapi::drm_rocket_job)) {
    return fail(EINVAL, "SUBMIT job_struct_size " + std::to_string(args->job_struct_size) + " < 40");
  }
  if (args->reserved != 0) return fail(EINVAL, "SUBMIT reserved field is not 0");
  if (!args->jobs) return fail(EFAULT, "SUBMIT jobs pointer is null");
  if (args->job_count > kMaxArrayEntries) return fail(ENOMEM, "SUBMIT job_count too large");

  // Copy everything in with the caller's strides first, as the kernel does.
  struct CopiedJob {
    std::vector<uapi::drm_rocket_task> tasks;
    std::vector<uint32_t> in, out;
  };
  std::vector<CopiedJob> jobs(args->job_count);
  const auto* job_bytes = user_ptr<const uint8_t>(args->jobs);
  for (uint32_t j = 0; j < args->job_count; ++j) {
    uapi::drm_rocket_job job;
    std::memcpy(&job, job_bytes + static_cast<uint64_t>(j) * args->job_struct_size, sizeof(job));
    const std::string where = "SUBMIT job " + std::to_string(j) + ": ";
    if (job.task_count == 0) return fail(EINVAL, where + "task_count is 0");
    if (job.task_struct_size < sizeof(uapi::drm_rocket_task)) {
      return fail(EINVAL, where + "task_struct_size " + std::to_string(job.task_struct_size) + " < 8");
    }
    if (!job.tasks) return fail(EFAULT, where + "tasks pointer is null");
    if (job.task_count > kMaxArrayEntries) return fail(ENOMEM, where + "task_count too large");
    const auto* task_bytes = user_ptr<const uint8_t>(job.tasks);
    jobs[j].tasks.resize(job.task_count);
    for (uint32_t t = 0; t < job.task_count; ++t) {
      std::memcpy(&jobs[j].tasks[t], task_bytes + static_cast<uint64_t>(t) * job.task_struct_size,
                  sizeof(uapi::drm_rocket_task));
      if (jobs[j].tasks[t].regcmd_count == 0) return fail(EINVAL, where + "task " + std::to_string(t) + " has regcmd_count 0");
    }
    auto copy_handles = [&](uint64_t pointer, uint32_t count, std::vector<uint32_t>* into, const char* which) {
      if (count == 0) return 0;
      if (!pointer) return fail(EFAULT, where + which + " pointer is null");
      const auto* handles = user_ptr<const uint32_t>(pointer);
      into->assign(handles, handles + count);
      for (uint32_t h : *into) {
        if (!find_open(h)) return fail(ENOENT, where + which + " lists unknown handle " + std::to_string(h));
      }
      return 0;
    };
    if (int r = copy_handles(job.in_bo_handles, job.in_bo_handle_count, &jobs[j].in, "in_bo_handles")) return r;
    if (int r = copy_handles(job.out_bo_handles, job.out_bo_handle_count, &jobs[j].out, "out_bo_handles")) return r;
  }

  if (hang_next_) {
    hang_next_ = false;
    for (const CopiedJob& job : jobs) {
      for (uint32_t h : job.out) find_open(h)->hung = true;
    }
    return 0;
  }

  // Each job's tasks back to back on the one modelled core, jobs in order (one
  // fd = one scheduler entity = one job at a time).
  for (size_t j = 0; j < jobs.size(); ++j) {
    for (size_t t = 0; t < jobs[j].tasks.size(); ++t) {
      const uapi::drm_rocket_task& task = jobs[j].tasks[t];
      TaskCounters counters;
      Status s = core_->run_task(*memory_, task.regcmd, task.regcmd_count, &counters);
      ++stats_.tasks;
      stats_.regcmd_words += counters.regcmd_words;
      stats_.macs += counters.macs;
      stats_.bytes_read += counters.bytes_read;
      stats_.bytes_written += counters.bytes_written;
      stats_.cbuf_bytes = std::max(stats_.cbuf_bytes, counters.cbuf_bytes);
      if (!s.ok()) {
        char at[128];
        std::snprintf(at, sizeof(at), "job %zu task %zu (regcmd 0x%x, %u words): ", j, t, task.regcmd,
                      task.regcmd_count);
        return fail(EIO, at + s.message());
      }
    }
    for (uint32_t h : jobs[j].out) find_open(h)->hung = false;  // fresh results written
  }
  return 0;
}

void* VirtualRk3588::mmap(uint64_t offset, size_t size) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_error_.clear();
  if (injected_mmap_.second > 0) {
    --injected_mmap_.second;
    errno = injected_mmap_.first;
    last_error_ = "injected fault";
    return nullptr;
  }
  // Offsets map one-to-one onto IOVAs (see create_bo).
  if (offset >= kMmapOffsetBase) {
    auto it = bos_.find(offset - kMmapOffsetBase + kFirstIova);
    if (it != bos_.end() && it->second->open && size > 0 && size <= it->second->mapped_size) {
      ++it->second->cpu_maps;
      return it->second->host;
    }
  }
  errno = EINVAL;  // what drm_gem_mmap answers for an unknown offset or an oversized map
  last_error_ = "mmap: no BO at this offset with that size";
  return nullptr;
}

void VirtualRk3588::munmap(void* address, size_t /*size*/) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto* p = static_cast<uint8_t*>(address);
  for (auto& [iova, bo] : bos_) {
    if (p >= bo->host && p < bo->host + bo->mapped_size && bo->cpu_maps > 0) {
      --bo->cpu_maps;
      release_if_unused(bo.get());
      return;
    }
  }
}

kernel::SubmitStats VirtualRk3588::last_submit_stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::string VirtualRk3588::last_error_detail() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_error_;
}

void VirtualRk3588::fail_next_ioctl(unsigned long request, int err, int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  injected_[request] = {err, count};
}

void VirtualRk3588::fail_next_mmap(int err, int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  injected_mmap_ = {err, count};
}

void VirtualRk3588::hang_next_submit() {
  std::lock_guard<std::mutex> lock(mutex_);
  hang_next_ = true;
}

DeviceMemory& VirtualRk3588::memory() { return *memory_; }

bool VirtualRk3588::locate(uint64_t iova, uint32_t* handle, uint64_t* offset) const {
  const Bo* bo = find_by_iova(iova);
  if (!bo) return false;
  *handle = bo->handle;
  *offset = iova - bo->iova;
  return true;
}

size_t VirtualRk3588::open_bo_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return handles_.size();
}

std::unique_ptr<kernel::Device> open_virtual_rk3588(std::unique_ptr<NpuCore> core) {
  return std::make_unique<kernel::RocketDevice>(std::make_unique<VirtualRk3588>(std::move(core)));
}

}  // namespace nonstick::virt
