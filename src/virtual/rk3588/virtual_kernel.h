// The virtual RK3588's kernel side: a kernel::Transport that answers the
// rocket UAPI the way drivers/accel/rocket does (rocket.md §1.4-1.5) for the
// same bytes, with BOs in host memory and each submitted task executed,
// synchronously, by an NpuCore model. RocketDevice runs over it unchanged, so
// every byte the backend marshals is checked by the kernel's rules in CI.
//
// Deliberate differences from the real driver, all on the side of reporting
// more:
//  - per-job errors (task_count 0, regcmd_count 0, unknown handles) fail the
//    whole SUBMIT before anything runs; the kernel drops such a job silently
//    and returns 0;
//  - a task the NPU model cannot execute fails SUBMIT with -EIO (the hardware
//    would fault or hang and PREP_BO would time out); last_error_detail()
//    carries the model's message;
//  - jobs complete before SUBMIT returns, so PREP_BO never waits.
// Allocation follows the rule of Mesa's golden captures
// (/work/shared/goldens/rocket/README.md), so addresses are comparable with
// them: handles 1, 2, 3, ...; IOVAs from 0x10000000, each BO at the previous
// end rounded up to 4 KiB, never reused; mmap offset 0x100000000 + (iova -
// 0x10000000).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kernel/device.h"
#include "kernel/transport.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::virt {

class VirtualRk3588 : public kernel::Transport {
 public:
  static constexpr uint64_t kPageSize = 4096;
  static constexpr uint64_t kFirstIova = 0x10000000;
  static constexpr uint64_t kIovaEnd = 0x100000000;  // IOVAs are 32-bit in every address register
  static constexpr uint64_t kMmapOffsetBase = 0x100000000;

  explicit VirtualRk3588(std::unique_ptr<NpuCore> core);
  ~VirtualRk3588() override;
  VirtualRk3588(const VirtualRk3588&) = delete;
  VirtualRk3588& operator=(const VirtualRk3588&) = delete;

  int ioctl(unsigned long request, void* arg) override;
  void* mmap(uint64_t offset, size_t size) override;  // null with errno set on failure
  void munmap(void* address, size_t size) override;
  std::string describe() const override { return "virtual RK3588 (simulated)"; }
  bool simulated() const override { return true; }
  // Sums of the model's TaskCounters over the last SUBMIT's tasks (cbuf_bytes:
  // the peak). Simulated figures.
  kernel::SubmitStats last_submit_stats() const override;
  // Why the last failed ioctl/mmap failed (empty after a success).
  std::string last_error_detail() const override;

  // ---- Fault injection, to exercise the backend's fallback paths.
  // The next `count` calls of `request` fail with -err, without side effects.
  void fail_next_ioctl(unsigned long request, int err, int count = 1);
  void fail_next_mmap(int err, int count = 1);
  // The next valid SUBMIT returns 0 but runs nothing, like a job the hardware
  // never completes: PREP_BO on its output BOs returns -ETIMEDOUT (-EBUSY for
  // a deadline already past) until a later SUBMIT writes them again.
  void hang_next_submit();

  // ---- Introspection (tests, tools). Not synchronised with concurrent ioctls.
  // Device memory as the NPU model sees it: IOVAs of open BOs.
  DeviceMemory& memory();
  // The open BO containing `iova` and the byte offset in it.
  bool locate(uint64_t iova, uint32_t* handle, uint64_t* offset) const;
  size_t open_bo_count() const;

 private:
  struct Bo;
  class Memory;

  int create_bo(void* arg);
  int gem_close(void* arg);
  int prep_bo(void* arg);
  int fini_bo(void* arg);
  int version(void* arg);
  int submit(void* arg);
  int fail(int err, std::string why);
  Bo* find_open(uint32_t handle) const;
  Bo* find_by_iova(uint64_t iova) const;
  void release_if_unused(Bo* bo);

  mutable std::mutex mutex_;
  std::unique_ptr<NpuCore> core_;
  std::unique_ptr<Memory> memory_;
  std::map<uint64_t, std::unique_ptr<Bo>> bos_;  // by IOVA; closed BOs stay while CPU-mapped
  std::map<uint32_t, Bo*> handles_;
  uint32_t next_handle_ = 1;
  uint64_t next_iova_ = kFirstIova;
  kernel::SubmitStats stats_;
  std::string last_error_;
  std::map<unsigned long, std::pair<int, int>> injected_;  // request -> (errno, remaining)
  std::pair<int, int> injected_mmap_{0, 0};
  bool hang_next_ = false;
};

// RocketDevice over a VirtualRk3588 running `core` (tests pass a fake core).
std::unique_ptr<kernel::Device> open_virtual_rk3588(std::unique_ptr<NpuCore> core);

}  // namespace nonstick::virt
