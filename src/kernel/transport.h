// Below the Device: the kernel boundary itself. RocketDevice marshals the
// rocket UAPI structs and hands them to a Transport, which is either a real
// file descriptor on /dev/accel/accelN (ioctl + mmap) or the virtual RK3588's
// kernel model, which validates the same bytes by the kernel's rules. So the
// UAPI marshalling code is exercised on every machine, board or not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "kernel/device.h"

namespace nonstick::kernel {

class Transport {
 public:
  virtual ~Transport() = default;
  // ioctl(2) semantics: 0 on success, else -errno (e.g. -EINVAL, -ENOMEM, -ETIMEDOUT).
  virtual int ioctl(unsigned long request, void* arg) = 0;
  // mmap(2) of a BO at the fake offset CREATE_BO returned; null on failure.
  virtual void* mmap(uint64_t offset, size_t size) = 0;
  virtual void munmap(void* address, size_t size) = 0;
  virtual std::string describe() const = 0;  // "/dev/accel/accel0" or "virtual RK3588 (simulated)"
  virtual bool simulated() const = 0;

  // Added for the virtual RK3588 (a real fd has neither; the defaults apply):
  // the counters of the last SUBMIT, and a one-line reason for the last failed
  // call, beyond what errno says (e.g. the NPU model's error for an -EIO).
  virtual SubmitStats last_submit_stats() const { return {}; }
  virtual std::string last_error_detail() const { return {}; }
};

}  // namespace nonstick::kernel
