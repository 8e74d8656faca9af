// A kernel::Transport that answers the rocket UAPI without any device or
// simulator behind it: BOs are zeroed host memory, PREP_BO/FINI_BO succeed at
// once, SUBMIT succeeds and runs nothing (outputs keep what they held). What
// is left above it is the host-side cost of the runtime: layout conversion,
// marshalling, the ioctl calls themselves. Used by the runtime allocation test
// and bench/rocket_bench.cc; header-only so the bench needs no test library.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernel/rocket_uapi.h"
#include "kernel/transport.h"

namespace nonstick::testing {

class InstantTransport : public kernel::Transport {
 public:
  struct Counts {
    uint64_t submits = 0, preps = 0, finis = 0;
  };

  int ioctl(unsigned long request, void* arg) override {
    namespace uapi = kernel::uapi;
    switch (request) {
      case uapi::kIoctlRocketCreateBo: {
        auto* a = static_cast<uapi::drm_rocket_create_bo*>(arg);
        if (a->size == 0) return -EINVAL;
        Bo& bo = bos_[next_handle_];
        bo.memory.assign(a->size, 0);
        bo.offset = kOffsetBase + (next_iova_ - kFirstIova);
        a->handle = next_handle_++;
        a->dma_address = next_iova_;
        a->offset = bo.offset;
        next_iova_ += (a->size + 4095) / 4096 * 4096;
        return 0;
      }
      case uapi::kIoctlGemClose:
        return bos_.erase(static_cast<uapi::drm_gem_close*>(arg)->handle) ? 0 : -EINVAL;
      case uapi::kIoctlRocketSubmit: ++counts_.submits; return 0;
      case uapi::kIoctlRocketPrepBo: ++counts_.preps; return 0;
      case uapi::kIoctlRocketFiniBo: ++counts_.finis; return 0;
      default: return -ENOTTY;
    }
  }
  void* mmap(uint64_t offset, size_t size) override {
    for (auto& [handle, bo] : bos_) {
      if (bo.offset == offset && size <= bo.memory.size()) return bo.memory.data();
    }
    errno = EINVAL;
    return nullptr;
  }
  void munmap(void*, size_t) override {}
  std::string describe() const override { return "instant transport (runs nothing)"; }
  bool simulated() const override { return false; }

  const Counts& counts() const { return counts_; }

 private:
  static constexpr uint64_t kFirstIova = 0x10000000, kOffsetBase = 0x100000000;
  struct Bo {
    std::vector<uint8_t> memory;
    uint64_t offset = 0;
  };
  std::map<uint32_t, Bo> bos_;
  uint32_t next_handle_ = 1;
  uint64_t next_iova_ = kFirstIova;
  Counts counts_;
};

}  // namespace nonstick::testing
