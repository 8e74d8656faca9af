// The seam between an NPU backend and whatever executes its command streams:
// the real rocket accel device (/dev/accel/accelN) or the virtual RK3588.
// A backend cannot tell the two apart (compare NVDLA's port layer).
//
// Semantics follow Linux's rocket UAPI (include/uapi/drm/rocket_accel.h):
// buffer objects with a device (IOVA) address and a CPU mapping, jobs made of
// tasks (regcmd address + count of 64-bit words), explicit CPU-access
// bracketing with prep/fini.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace nonstick::kernel {

struct BufferObject {
  uint32_t handle = 0;
  uint64_t dma_address = 0;  // NPU IOVA, below 4 GiB
  uint32_t size = 0;
  uint8_t* map = nullptr;    // CPU mapping, valid until the BO is destroyed
};

struct Task {
  uint32_t regcmd = 0;        // IOVA of the task's register-command words
  uint32_t regcmd_count = 0;  // number of 64-bit words, tail included
};

struct Job {
  std::vector<Task> tasks;             // run back to back on one core
  std::vector<uint32_t> in_handles;    // activations read (implicit fences)
  std::vector<uint32_t> out_handles;   // activations written
};

// Per-submit counters a device can report; the virtual device fills all of
// them (simulated figures), the real device none.
struct SubmitStats {
  uint64_t tasks = 0;
  uint64_t regcmd_words = 0;
  uint64_t macs = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t cbuf_bytes = 0;  // peak CBUF use over the tasks
};

// A SUBMIT built once (its UAPI arrays marshalled and validated) and issued
// any number of times: what a compiled program keeps so that an invoke only
// pays for the ioctl. Refers to the Device that prepared it, which must
// outlive it.
class Submission {
 public:
  virtual ~Submission() = default;
  virtual Status issue() = 0;
};

class Device {
 public:
  virtual ~Device() = default;

  virtual std::string name() const = 0;  // "rocket (/dev/accel/accel0)" or "virtual RK3588 (simulated)"
  virtual bool simulated() const = 0;

  virtual Status create_bo(uint32_t size, BufferObject* out) = 0;
  virtual Status destroy_bo(const BufferObject& bo) = 0;
  // Begin CPU access (waits for the device's writes), end CPU access.
  virtual Status prep_bo(const BufferObject& bo, int64_t timeout_ns) = 0;
  virtual Status fini_bo(const BufferObject& bo) = 0;
  // Runs the jobs and returns when they are queued (real device) or done
  // (virtual device). Completion is observed with prep_bo on an output.
  virtual Status submit(const std::vector<Job>& jobs) = 0;
  // Keeps `jobs` ready to run as one submit per issue(). The default stores
  // them and calls submit() on each issue (device wrappers, fakes);
  // RocketDevice validates them and builds the UAPI arrays here, once.
  virtual Status prepare_submit(std::vector<Job> jobs, std::unique_ptr<Submission>* out);

  // Counters of the last submit (zero on real hardware, which has none).
  virtual SubmitStats last_submit_stats() const { return {}; }
};

namespace detail {
class ResubmittingSubmission final : public Submission {
 public:
  ResubmittingSubmission(Device& device, std::vector<Job> jobs) : device_(device), jobs_(std::move(jobs)) {}
  Status issue() override { return device_.submit(jobs_); }

 private:
  Device& device_;
  std::vector<Job> jobs_;
};
}  // namespace detail

inline Status Device::prepare_submit(std::vector<Job> jobs, std::unique_ptr<Submission>* out) {
  *out = std::make_unique<detail::ResubmittingSubmission>(*this, std::move(jobs));
  return {};
}

// Opens the first /dev/accel/accel* whose DRM driver is "rocket". Returns
// null with *error set ("no rocket device: ...") when there is none.
std::unique_ptr<Device> open_rocket_device(std::string* error);

}  // namespace nonstick::kernel
