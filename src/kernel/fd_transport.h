// Transport over a real file descriptor on /dev/accel/accelN: ioctl(2) and
// mmap(2), nothing else. Used on the board; on other machines only the
// discovery path opens one.
#pragma once

#include <memory>
#include <string>

#include "kernel/transport.h"

namespace nonstick::kernel {

class FdTransport : public Transport {
 public:
  // Opens `path` read-write (close-on-exec). Null with *error set on failure.
  static std::unique_ptr<FdTransport> open(const std::string& path, std::string* error);
  // Takes ownership of `fd`.
  FdTransport(int fd, std::string path);
  ~FdTransport() override;
  FdTransport(const FdTransport&) = delete;
  FdTransport& operator=(const FdTransport&) = delete;

  // Restarts the call on EINTR/EAGAIN (as libdrm's drmIoctl does): a signal
  // landing during a long PREP_BO wait must not look like a device failure.
  int ioctl(unsigned long request, void* arg) override;
  // MAP_SHARED read-write mapping; null with errno set on failure.
  void* mmap(uint64_t offset, size_t size) override;
  void munmap(void* address, size_t size) override;
  std::string describe() const override { return path_; }
  bool simulated() const override { return false; }

  int fd() const { return fd_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace nonstick::kernel
