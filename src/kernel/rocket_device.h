// kernel::Device over the rocket UAPI: marshals BOs, jobs and tasks into the
// structs of rocket_uapi.h and hands them to a Transport (a real /dev/accel fd
// or the virtual RK3588). The same bytes reach either, so this code is what
// runs on the board and what CI checks.
#pragma once

#include <memory>
#include <string>

#include "kernel/device.h"
#include "kernel/transport.h"

namespace nonstick::kernel {

class RocketDevice : public Device {
 public:
  explicit RocketDevice(std::unique_ptr<Transport> transport);

  std::string name() const override;
  bool simulated() const override;

  // CREATE_BO, then mmap(2) of the whole BO. On mmap failure the handle is
  // closed again, so a failed create leaks nothing.
  Status create_bo(uint32_t size, BufferObject* out) override;
  // munmap, then GEM_CLOSE (the kernel frees the IOVA and the pages).
  Status destroy_bo(const BufferObject& bo) override;
  // `timeout_ns` is relative (ns from now); negative waits forever. The UAPI
  // wants an absolute CLOCK_MONOTONIC deadline, computed here (saturating, so
  // INT64_MAX as Mesa passes it also means "forever").
  Status prep_bo(const BufferObject& bo, int64_t timeout_ns) override;
  Status fini_bo(const BufferObject& bo) override;
  // One SUBMIT ioctl for all jobs. Jobs without tasks or tasks with
  // regcmd_count 0 are refused here: the mainline kernel drops such a job
  // without failing the ioctl, and a later PREP_BO would return stale data.
  // Same as prepare_submit + issue, so both send the same bytes.
  Status submit(const std::vector<Job>& jobs) override;
  // Checks the jobs as submit() does and marshals the drm_rocket_job/task
  // arrays once; each issue() is then the SUBMIT ioctl alone, with no
  // allocation unless it fails.
  Status prepare_submit(std::vector<Job> jobs, std::unique_ptr<Submission>* out) override;
  SubmitStats last_submit_stats() const override;

  Transport& transport() { return *transport_; }

 private:
  class PreparedSubmit;

  Status ioctl_error(unsigned long request, int err, const std::string& what) const;

  std::unique_ptr<Transport> transport_;
};

// "DRM_IOCTL_ROCKET_SUBMIT", ... for the six requests of rocket_uapi.h, else
// "ioctl 0x...".
std::string ioctl_name(unsigned long request);
// "ETIMEDOUT (Connection timed out)" for a positive errno value.
std::string errno_text(int err);
// DRM_IOCTL_VERSION's driver name ("rocket" for the NPU).
Status query_driver_name(Transport& transport, std::string* name);
// open_rocket_device, scanning `dir`/accel0..63 instead of /dev/accel (tests).
std::unique_ptr<Device> open_rocket_device_at(const std::string& dir, std::string* error);

}  // namespace nonstick::kernel
