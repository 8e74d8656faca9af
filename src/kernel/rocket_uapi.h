// The Linux rocket accel UAPI (merged in 6.18) and the two generic DRM ioctls
// nonstick needs, declared here from the documented layout
// (/work/shared/hardware/rocket.md §1.3) so the build needs no kernel headers.
// Every size, offset and request number is pinned by static_asserts: a
// mismatch with the kernel's ABI is a compile error, not a silent EINVAL.
//
// Declared in our own namespace (not as macros) so that a system copy of the
// kernel header, if ever included alongside, cannot collide.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nonstick::kernel::uapi {

// ---- Request numbers: the asm-generic _IOC packing (same on arm64 and x86-64):
// dir in bits 31..30 (1 = userspace writes, 2 = userspace reads), argument size
// in bits 29..16, type in 15..8, number in 7..0.
constexpr unsigned long ioc(unsigned dir, unsigned type, unsigned nr, size_t size) {
  return (static_cast<unsigned long>(dir) << 30) | (static_cast<unsigned long>(size) << 16) |
         (static_cast<unsigned long>(type) << 8) | nr;
}
inline constexpr unsigned kIocWrite = 1;  // _IOW: argument copied to the kernel
inline constexpr unsigned kIocRead = 2;   // _IOR: argument copied back
inline constexpr unsigned kDrmType = 'd';
inline constexpr unsigned kDrmCommandBase = 0x40;  // first driver-specific number

// ---- Rocket structs. All fields little-endian, naturally aligned, no padding.

struct drm_rocket_create_bo {
  uint32_t size;         // in: bytes requested
  uint32_t handle;       // out: GEM handle, private to the fd
  uint64_t dma_address;  // out: NPU IOVA of the first byte
  uint64_t offset;       // out: fake offset to pass to mmap(2) on the same fd
};

struct drm_rocket_prep_bo {
  uint32_t handle;
  uint32_t reserved;   // must be 0
  int64_t timeout_ns;  // absolute CLOCK_MONOTONIC deadline
};

struct drm_rocket_fini_bo {
  uint32_t handle;
  uint32_t reserved;  // must be 0
};

struct drm_rocket_task {
  uint32_t regcmd;        // IOVA of the task's register-command words
  uint32_t regcmd_count;  // number of 64-bit words
};

struct drm_rocket_job {
  uint64_t tasks;           // user pointer to task_count entries, task_struct_size apart
  uint64_t in_bo_handles;   // user pointer to uint32_t[in_bo_handle_count]
  uint64_t out_bo_handles;  // user pointer to uint32_t[out_bo_handle_count]
  uint32_t task_count;
  uint32_t task_struct_size;
  uint32_t in_bo_handle_count;
  uint32_t out_bo_handle_count;
};

struct drm_rocket_submit {
  uint64_t jobs;  // user pointer to job_count entries, job_struct_size apart
  uint32_t job_count;
  uint32_t job_struct_size;
  uint64_t reserved;  // must be 0
};

// ---- Generic DRM structs (include/uapi/drm/drm.h). drm_version uses native
// int/size_t/pointer fields, so its layout is that of the ABI we compile for.

struct drm_version {
  int version_major;
  int version_minor;
  int version_patchlevel;
  size_t name_len;  // in: buffer size; out: full length of the string
  char* name;       // not NUL-terminated by the kernel
  size_t date_len;
  char* date;
  size_t desc_len;
  char* desc;
};

struct drm_gem_close {
  uint32_t handle;
  uint32_t pad;
};

// ---- Requests.
inline constexpr unsigned long kIoctlRocketCreateBo =
    ioc(kIocRead | kIocWrite, kDrmType, kDrmCommandBase + 0x00, sizeof(drm_rocket_create_bo));
inline constexpr unsigned long kIoctlRocketSubmit =
    ioc(kIocWrite, kDrmType, kDrmCommandBase + 0x01, sizeof(drm_rocket_submit));
inline constexpr unsigned long kIoctlRocketPrepBo =
    ioc(kIocWrite, kDrmType, kDrmCommandBase + 0x02, sizeof(drm_rocket_prep_bo));
inline constexpr unsigned long kIoctlRocketFiniBo =
    ioc(kIocWrite, kDrmType, kDrmCommandBase + 0x03, sizeof(drm_rocket_fini_bo));
inline constexpr unsigned long kIoctlVersion =
    ioc(kIocRead | kIocWrite, kDrmType, 0x00, sizeof(drm_version));
inline constexpr unsigned long kIoctlGemClose = ioc(kIocWrite, kDrmType, 0x09, sizeof(drm_gem_close));

// ---- Pinned layout: sizes and offsets from the UAPI header.
static_assert(sizeof(drm_rocket_create_bo) == 24);
static_assert(offsetof(drm_rocket_create_bo, size) == 0);
static_assert(offsetof(drm_rocket_create_bo, handle) == 4);
static_assert(offsetof(drm_rocket_create_bo, dma_address) == 8);
static_assert(offsetof(drm_rocket_create_bo, offset) == 16);

static_assert(sizeof(drm_rocket_prep_bo) == 16);
static_assert(offsetof(drm_rocket_prep_bo, handle) == 0);
static_assert(offsetof(drm_rocket_prep_bo, reserved) == 4);
static_assert(offsetof(drm_rocket_prep_bo, timeout_ns) == 8);

static_assert(sizeof(drm_rocket_fini_bo) == 8);
static_assert(offsetof(drm_rocket_fini_bo, reserved) == 4);

static_assert(sizeof(drm_rocket_task) == 8);
static_assert(offsetof(drm_rocket_task, regcmd) == 0);
static_assert(offsetof(drm_rocket_task, regcmd_count) == 4);

static_assert(sizeof(drm_rocket_job) == 40);
static_assert(offsetof(drm_rocket_job, tasks) == 0);
static_assert(offsetof(drm_rocket_job, in_bo_handles) == 8);
static_assert(offsetof(drm_rocket_job, out_bo_handles) == 16);
static_assert(offsetof(drm_rocket_job, task_count) == 24);
static_assert(offsetof(drm_rocket_job, task_struct_size) == 28);
static_assert(offsetof(drm_rocket_job, in_bo_handle_count) == 32);
static_assert(offsetof(drm_rocket_job, out_bo_handle_count) == 36);

static_assert(sizeof(drm_rocket_submit) == 24);
static_assert(offsetof(drm_rocket_submit, jobs) == 0);
static_assert(offsetof(drm_rocket_submit, job_count) == 8);
static_assert(offsetof(drm_rocket_submit, job_struct_size) == 12);
static_assert(offsetof(drm_rocket_submit, reserved) == 16);

static_assert(sizeof(drm_gem_close) == 8);

// The values rocket.md §1.3 lists (and libdrm's drm.h implies for LP64).
static_assert(kIoctlRocketCreateBo == 0xC0186440);
static_assert(kIoctlRocketSubmit == 0x40186441);
static_assert(kIoctlRocketPrepBo == 0x40106442);
static_assert(kIoctlRocketFiniBo == 0x40086443);
static_assert(kIoctlGemClose == 0x40086409);

// drm_version is 64 bytes on LP64 (arm64, x86-64), the targets we build for.
static_assert(sizeof(void*) == 8, "nonstick's UAPI declarations assume an LP64 ABI");
static_assert(sizeof(drm_version) == 64);
static_assert(offsetof(drm_version, name_len) == 16);
static_assert(offsetof(drm_version, name) == 24);
static_assert(offsetof(drm_version, desc) == 56);
static_assert(kIoctlVersion == 0xC0406400);

}  // namespace nonstick::kernel::uapi
