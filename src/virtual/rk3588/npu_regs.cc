// PC front end of the virtual core: walks one task's regcmd words
// (rocket.md §2.2) and fills the register file. The tail convention is
// Mesa's, as captured in every golden stream: [..., PC_BASE_ADDRESS or an
// all-zero word, PC_REGISTER_AMOUNTS, 0x0041 marker, 0x0081 op-enable].
#include "virtual/rk3588/npu_regs.h"

#include <cstdio>
#include <cstring>

namespace nonstick::virt {

namespace {

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Register block of a full per-core offset, as the regcmd target it needs.
uint16_t target_for_offset(uint16_t offset) {
  switch (offset & 0xF000) {
    case 0x0000: return static_cast<uint16_t>(reg::Target::PC);
    case 0x1000: return static_cast<uint16_t>(reg::Target::CNA);
    case 0x3000: return static_cast<uint16_t>(reg::Target::CORE);
    case 0x4000: return static_cast<uint16_t>(reg::Target::DPU);
    case 0x5000: return static_cast<uint16_t>(reg::Target::DPU_RDMA);
    case 0x6000: return static_cast<uint16_t>(reg::Target::PPU);
    case 0x7000: return static_cast<uint16_t>(reg::Target::PPU_RDMA);
    default: return 0;
  }
}

}  // namespace

std::string register_name(uint16_t offset) {
  if (const reg::RegisterInfo* info = reg::find_register(offset)) {
    return std::string(info->block) + "_" + info->name;
  }
  return "register " + hex(offset);
}

Status unmodelled(uint16_t offset, const char* field, int64_t value, const std::string& why) {
  std::string s = register_name(offset);
  if (field && *field) s += std::string(".") + field;
  s += " = " + (value < 0 ? std::to_string(value) : hex(static_cast<uint64_t>(value)));
  return Status::error(s + ": " + why);
}

Status read_device(DeviceMemory& memory, uint64_t iova, uint64_t bytes, const char* what,
                   const uint8_t** out) {
  *out = bytes == 0 ? nullptr : memory.resolve(iova, bytes);
  if (bytes && !*out) {
    return Status::error(std::string("DMA read fault: ") + what + " [" + hex(iova) + ", +" +
                         std::to_string(bytes) + ") is not inside one mapped BO");
  }
  return {};
}

Status write_device(DeviceMemory& memory, uint64_t iova, uint64_t bytes, const char* what,
                    uint8_t** out) {
  *out = bytes == 0 ? nullptr : memory.resolve(iova, bytes);
  if (bytes && !*out) {
    return Status::error(std::string("DMA write fault: ") + what + " [" + hex(iova) + ", +" +
                         std::to_string(bytes) + ") is not inside one mapped BO");
  }
  return {};
}

Status pc_fetch_task(DeviceMemory& memory, uint32_t iova, uint32_t count, RegisterFile* regs,
                     FetchedTask* task) {
  *task = {};
  if (count < reg::kTaskTailWords) {
    return Status::error("regcmd of " + std::to_string(count) + " words is shorter than the 4-word task tail");
  }
  const uint8_t* bytes = nullptr;
  if (Status s = read_device(memory, iova, uint64_t{count} * 8, "regcmd", &bytes); !s.ok()) return s;

  bool marker_seen = false;
  for (uint32_t i = 0; i < count; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, bytes + uint64_t{i} * 8, 8);
    const reg::RegcmdParts p = reg::unpack_regcmd(word);
    const std::string where = "regcmd word " + std::to_string(i) + " (" + hex(word) + ")";
    if (marker_seen && p.target != reg::kOpEnableOp) {
      return Status::error(where + ": the 0x0041 marker must be followed by the op-enable word");
    }
    if (word == 0) continue;  // Mesa's "no next task" in place of PC_BASE_ADDRESS
    if (p.target == reg::kTaskMarkerOp) {
      if (p.value != 0 || p.offset != 0) return Status::error(where + ": malformed 0x0041 marker");
      marker_seen = true;
      continue;
    }
    if (p.target == reg::kOpEnableOp) {
      if (p.offset != reg::PC_OPERATION_ENABLE::offset) {
        return Status::error(where + ": op-enable on register " + hex(p.offset) + ", expected 0x8");
      }
      if (!marker_seen) return Status::error(where + ": op-enable without the preceding 0x0041 marker");
      if (i + 1 != count) {
        // The model executes on op-enable; words after it have no defined
        // meaning in any captured stream.
        return Status::error(where + ": op-enable is not the last of the task's " +
                             std::to_string(count) + " words");
      }
      task->op_enable = p.value;
      return {};
    }
    if (target_for_offset(p.offset) != p.target || !reg::target_name(p.target)) {
      return Status::error(where + ": target " + hex(p.target) + " cannot write " + register_name(p.offset));
    }
    if (!reg::find_register(p.offset)) {
      return Status::error(where + ": write of " + hex(p.value) + " to unknown " + register_name(p.offset));
    }
    if (p.target == static_cast<uint16_t>(reg::Target::PC)) {
      // The only PC registers a task may program are the chain fields of the
      // tail. Under rocket every task is kicked by the kernel (TASK_NUMBER 1),
      // so they only announce the next task; the model records them.
      if (p.offset == reg::PC_BASE_ADDRESS::offset) {
        task->next_task_iova = p.value & ~0xFu;
      } else if (p.offset == reg::PC_REGISTER_AMOUNTS::offset) {
        task->next_task_amount = reg::PC_REGISTER_AMOUNTS::get_PC_DATA_AMOUNT(p.value);
      } else {
        return unmodelled(p.offset, "", p.value, "PC register written from a regcmd stream");
      }
    }
    regs->set(p.offset, p.value);
    ++task->register_writes;
  }
  return Status::error("regcmd of " + std::to_string(count) + " words has no op-enable (0x0081) word");
}

}  // namespace nonstick::virt
