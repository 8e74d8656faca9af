#include "kernel/fd_transport.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nonstick::kernel {

std::unique_ptr<FdTransport> FdTransport::open(const std::string& path, std::string* error) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (error) *error = path + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::make_unique<FdTransport>(fd, path);
}

FdTransport::FdTransport(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

FdTransport::~FdTransport() {
  if (fd_ >= 0) ::close(fd_);
}

int FdTransport::ioctl(unsigned long request, void* arg) {
  for (;;) {
    const int ret = ::ioctl(fd_, request, arg);
    if (ret >= 0) return ret;
    if (errno != EINTR && errno != EAGAIN) return -errno;
  }
}

void* FdTransport::mmap(uint64_t offset, size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, static_cast<off_t>(offset));
  return p == MAP_FAILED ? nullptr : p;
}

void FdTransport::munmap(void* address, size_t size) {
  if (address) ::munmap(address, size);
}

}  // namespace nonstick::kernel
