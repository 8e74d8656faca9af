// Finding the NPU: the rocket driver exposes one accel node for all cores,
// recognised by its DRM driver name (rocket.md §1.2). There is no query
// ioctl, so the name is all there is to check.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "kernel/fd_transport.h"
#include "kernel/rocket_device.h"

namespace nonstick::kernel {

std::unique_ptr<Device> open_rocket_device_at(const std::string& dir, std::string* error) {
  std::string seen;  // why each existing node was not taken
  auto note = [&seen](const std::string& s) { seen += (seen.empty() ? "" : "; ") + s; };

  struct stat dir_stat {};
  if (::stat(dir.c_str(), &dir_stat) != 0) {
    if (error) *error = "no rocket NPU found (" + dir + ": " + std::strerror(errno) + ")";
    return nullptr;
  }
  // The accel minor range is 0..63 (DRM's accel core).
  for (int n = 0; n < 64; ++n) {
    const std::string node = "accel" + std::to_string(n);
    const std::string path = dir + "/" + node;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) continue;  // numbering may have holes
    std::string open_error;
    auto transport = FdTransport::open(path, &open_error);
    if (!transport) {
      note(open_error);
      continue;
    }
    std::string driver;
    Status s = query_driver_name(*transport, &driver);
    if (!s.ok()) {
      note(node + ": " + s.message());
      continue;
    }
    if (driver == "rocket") return std::make_unique<RocketDevice>(std::move(transport));
    note(node + " is driver '" + driver + "'");
  }
  if (error) *error = "no rocket NPU found (" + dir + ": " + (seen.empty() ? "no accel nodes" : seen) + ")";
  return nullptr;
}

std::unique_ptr<Device> open_rocket_device(std::string* error) {
  return open_rocket_device_at("/dev/accel", error);
}

}  // namespace nonstick::kernel
