// Finding the NPU, and the real-fd transport underneath, on whatever machine
// runs the tests: a missing /dev/accel or a node that is not a DRM device is
// a clean error, never a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "kernel/fd_transport.h"
#include "kernel/rocket_device.h"
#include "kernel/rocket_uapi.h"

namespace nonstick::kernel {
namespace {

std::filesystem::path make_temp_dir() {
  std::string templ = (std::filesystem::temp_directory_path() / "nonstick_accel_XXXXXX").string();
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

TEST(Discovery, ThisMachineGivesADeviceOrACleanError) {
  std::string error;
  auto device = open_rocket_device(&error);
  if (!std::filesystem::exists("/dev/accel")) {
    EXPECT_EQ(device, nullptr);
    EXPECT_EQ(error, std::string("no rocket NPU found (/dev/accel: ") + std::strerror(ENOENT) + ")");
    return;
  }
  if (device) {  // on a board with the rocket driver loaded
    EXPECT_FALSE(device->simulated());
    EXPECT_EQ(device->name().rfind("rocket (/dev/accel/accel", 0), 0u) << device->name();
  } else {
    EXPECT_EQ(error.rfind("no rocket NPU found (/dev/accel: ", 0), 0u) << error;
  }
}

TEST(Discovery, EmptyDirectoryAndNonDrmNodesAreReportedNotTaken) {
  const auto dir = make_temp_dir();
  std::string error;
  EXPECT_EQ(open_rocket_device_at(dir.string(), &error), nullptr);
  EXPECT_EQ(error, "no rocket NPU found (" + dir.string() + ": no accel nodes)");

  std::ofstream(dir / "accel0") << "not a device";
  std::ofstream(dir / "accel3") << "neither";  // numbering may have holes
  EXPECT_EQ(open_rocket_device_at(dir.string(), &error), nullptr);
  EXPECT_EQ(error.rfind("no rocket NPU found (" + dir.string() + ": ", 0), 0u) << error;
  EXPECT_NE(error.find("DRM_IOCTL_VERSION on " + (dir / "accel0").string() + " failed: ENOTTY"), std::string::npos)
      << error;
  EXPECT_NE(error.find((dir / "accel3").string()), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(FdTransport, RealIoctlErrorsComeBackAsNegativeErrno) {
  const int fd = memfd_create("nonstick_fd_transport", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  FdTransport t(fd, "memfd");
  uapi::drm_version v{};
  EXPECT_EQ(t.ioctl(uapi::kIoctlVersion, &v), -ENOTTY);
  EXPECT_EQ(t.describe(), "memfd");
  EXPECT_FALSE(t.simulated());
}

TEST(FdTransport, MmapMapsTheFileAtTheGivenOffset) {
  const int fd = memfd_create("nonstick_fd_transport", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, 8192), 0);
  FdTransport t(fd, "memfd");
  auto* p = static_cast<uint8_t*>(t.mmap(4096, 4096));
  ASSERT_NE(p, nullptr);
  p[5] = 0xab;  // shared mapping: visible through the fd
  uint8_t byte = 0;
  ASSERT_EQ(pread(fd, &byte, 1, 4096 + 5), 1);
  EXPECT_EQ(byte, 0xab);
  t.munmap(p, 4096);
  errno = 0;
  EXPECT_EQ(t.mmap(1, 4096), nullptr) << "unaligned offset";
  EXPECT_EQ(errno, EINVAL);
}

TEST(FdTransport, OpenOfAMissingNodeIsAnError) {
  std::string error;
  EXPECT_EQ(FdTransport::open("/nonexistent/accel0", &error), nullptr);
  EXPECT_EQ(error, std::string("/nonexistent/accel0: ") + std::strerror(ENOENT));
}

}  // namespace
}  // namespace nonstick::kernel
