// The rocket UAPI declarations against two independent sources: the system's
// own _IOC macros (linux-libc-dev) for the request numbers, and the struct
// sizes Mesa 26.2.6 actually passed to the kernel, as recorded in the golden
// captures (/work/shared/goldens/rocket/*/submit_*.json).
#include <linux/ioctl.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "kernel/rocket_uapi.h"
#include "support/test_data.h"

namespace nonstick::kernel {
namespace {

using namespace uapi;

TEST(RocketUapi, RequestNumbersMatchTheSystemIocMacros) {
  EXPECT_EQ(kIoctlRocketCreateBo, static_cast<unsigned long>(_IOWR('d', 0x40, drm_rocket_create_bo)));
  EXPECT_EQ(kIoctlRocketSubmit, static_cast<unsigned long>(_IOW('d', 0x41, drm_rocket_submit)));
  EXPECT_EQ(kIoctlRocketPrepBo, static_cast<unsigned long>(_IOW('d', 0x42, drm_rocket_prep_bo)));
  EXPECT_EQ(kIoctlRocketFiniBo, static_cast<unsigned long>(_IOW('d', 0x43, drm_rocket_fini_bo)));
  EXPECT_EQ(kIoctlVersion, static_cast<unsigned long>(_IOWR('d', 0x00, drm_version)));
  EXPECT_EQ(kIoctlGemClose, static_cast<unsigned long>(_IOW('d', 0x09, drm_gem_close)));
}

TEST(RocketUapi, RequestNumbersAreTheDocumentedValues) {
  // rocket.md §1.3; GEM_CLOSE and VERSION as in libdrm's drm.h on LP64.
  EXPECT_EQ(kIoctlRocketCreateBo, 0xC0186440UL);
  EXPECT_EQ(kIoctlRocketSubmit, 0x40186441UL);
  EXPECT_EQ(kIoctlRocketPrepBo, 0x40106442UL);
  EXPECT_EQ(kIoctlRocketFiniBo, 0x40086443UL);
  EXPECT_EQ(kIoctlGemClose, 0x40086409UL);
  EXPECT_EQ(kIoctlVersion, 0xC0406400UL);
}

// Every recorded Mesa submit used exactly our struct sizes: the submit
// argument, the job stride and the task stride.
TEST(RocketUapi, StructSizesMatchWhatMesaSubmitted) {
  NONSTICK_REQUIRE_SHARED_DATA();
  const std::filesystem::path root = testing::shared_dir() + "/goldens/rocket";
  if (!std::filesystem::is_directory(root)) GTEST_SKIP() << "no goldens at " << root;
  const std::regex arg_size(R"("ioctl_arg_size":\s*(\d+))");
  const std::regex job_size(R"("job_struct_size":\s*(\d+))");
  const std::regex task_size(R"("task_struct_size":\s*(\d+))");
  int files = 0, tasks_seen = 0;
  for (const auto& model : std::filesystem::directory_iterator(root)) {
    if (!model.is_directory()) continue;
    for (const auto& f : std::filesystem::directory_iterator(model.path())) {
      const std::string name = f.path().filename().string();
      if (name.rfind("submit_", 0) != 0 || f.path().extension() != ".json") continue;
      std::ifstream in(f.path());
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      std::smatch m;
      ASSERT_TRUE(std::regex_search(text, m, arg_size)) << f.path();
      EXPECT_EQ(std::stoul(m[1]), sizeof(drm_rocket_submit)) << f.path();
      ASSERT_TRUE(std::regex_search(text, m, job_size)) << f.path();
      EXPECT_EQ(std::stoul(m[1]), sizeof(drm_rocket_job)) << f.path();
      for (auto it = std::sregex_iterator(text.begin(), text.end(), task_size); it != std::sregex_iterator(); ++it) {
        EXPECT_EQ(std::stoul((*it)[1]), sizeof(drm_rocket_task)) << f.path();
        ++tasks_seen;
      }
      ++files;
    }
  }
  EXPECT_GE(files, 8) << "expected the submits of the six captured models";
  EXPECT_GT(tasks_seen, 0);
}

// Field placement, byte by byte, for the structs whose fields the kernel
// reads at fixed offsets (little-endian; the layout rocket.md §1.3 gives).
TEST(RocketUapi, FieldsLandAtTheDocumentedByteOffsets) {
  drm_rocket_job job{};
  job.tasks = 0x1111111111111111;
  job.in_bo_handles = 0x2222222222222222;
  job.out_bo_handles = 0x3333333333333333;
  job.task_count = 0x44444444;
  job.task_struct_size = 0x55555555;
  job.in_bo_handle_count = 0x66666666;
  job.out_bo_handle_count = 0x77777777;
  uint8_t bytes[40];
  std::memcpy(bytes, &job, sizeof(bytes));
  const uint8_t expected_fill[40] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x22, 0x22,
                                     0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33,
                                     0x33, 0x33, 0x33, 0x33, 0x44, 0x44, 0x44, 0x44, 0x55, 0x55,
                                     0x55, 0x55, 0x66, 0x66, 0x66, 0x66, 0x77, 0x77, 0x77, 0x77};
  EXPECT_EQ(0, std::memcmp(bytes, expected_fill, 40));

  drm_rocket_task task{0x10292000, 130};
  const uint8_t task_bytes[8] = {0x00, 0x20, 0x29, 0x10, 130, 0, 0, 0};
  EXPECT_EQ(0, std::memcmp(&task, task_bytes, 8));

  drm_rocket_submit submit{};
  submit.jobs = 0x0102030405060708;
  submit.job_count = 27;
  submit.job_struct_size = 40;
  const uint8_t submit_bytes[24] = {8, 7, 6, 5, 4, 3, 2, 1, 27, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(0, std::memcmp(&submit, submit_bytes, 24));
}

}  // namespace
}  // namespace nonstick::kernel
