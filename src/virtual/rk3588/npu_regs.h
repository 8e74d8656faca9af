// The register side of the virtual NPU core: the register file one core
// holds, and the PC front end that fetches a task's regcmd words from device
// memory and applies them (rocket.md §2.2). Everything the functional units
// (npu_cna, npu_dpu) know about a task comes from this register file.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "rocket/registers.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::virt {

namespace reg = rocket::reg;

// The registers of one core. Like the hardware, values persist from task to
// task; a regcmd stream only overwrites what it writes.
class RegisterFile {
 public:
  uint32_t get(uint16_t offset) const { return value_[offset]; }
  template <typename R>
  uint32_t get() const {
    return value_[R::offset];
  }
  void set(uint16_t offset, uint32_t value) {
    value_[offset] = value;
    written_[offset] = true;
  }
  bool written(uint16_t offset) const { return written_[offset]; }

 private:
  std::array<uint32_t, 0x10000> value_{};
  std::array<bool, 0x10000> written_{};
};

// What the PC found in one task's regcmd words.
struct FetchedTask {
  uint32_t op_enable = 0;         // block mask of the 0x0081 word (GLOBAL_OPERATION_ENABLE layout)
  uint32_t next_task_iova = 0;    // PC_BASE_ADDRESS of the tail (0: none)
  uint32_t next_task_amount = 0;  // PC_REGISTER_AMOUNTS of the tail
  uint32_t register_writes = 0;
};

// Fetches `count` words at `iova` and applies every register write. The task
// must end with the 0x0041 marker followed by the 0x0081 op-enable word (the
// last word); anything the model does not understand is an error naming it.
Status pc_fetch_task(DeviceMemory& memory, uint32_t iova, uint32_t count, RegisterFile* regs,
                     FetchedTask* task);

// "CNA_CONV_CON1" for a known offset, "register 0x1234" otherwise.
std::string register_name(uint16_t offset);

// The error for a programmed value the model does not implement, e.g.
// "CNA_CONV_CON1.CONV_MODE = 5: not modelled (only 0 direct, 3 depthwise)".
Status unmodelled(uint16_t offset, const char* field, int64_t value, const std::string& why);

template <typename R>
Status unmodelled(const char* field, int64_t value, const std::string& why) {
  return unmodelled(R::offset, field, value, why);
}

// Returns from the enclosing function with the Status of `expr` if it failed.
#define VNPU_TRY(expr)                                       \
  do {                                                       \
    if (::nonstick::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)

// A 28-bit (or other width) two's-complement field as a signed value.
constexpr int64_t sign_extend(uint32_t value, unsigned bits) {
  const uint64_t m = uint64_t{1} << (bits - 1);
  const uint64_t v = value & ((uint64_t{1} << bits) - 1);
  return static_cast<int64_t>(v ^ m) - static_cast<int64_t>(m);
}

// Arithmetic shift right by `shift` bits with round-half-up (add half an LSB,
// then floor). Every shifting stage of the model rounds this way; the
// evidence is in docs/virtual-rk3588.md ("Rounding").
constexpr int64_t round_shift(int64_t v, unsigned shift) {
  if (shift == 0) return v;
  return (v + (int64_t{1} << (shift - 1))) >> shift;
}

// A stage that can read memory: the bytes or an error naming what faulted.
Status read_device(DeviceMemory& memory, uint64_t iova, uint64_t bytes, const char* what,
                   const uint8_t** out);
Status write_device(DeviceMemory& memory, uint64_t iova, uint64_t bytes, const char* what,
                    uint8_t** out);

}  // namespace nonstick::virt
