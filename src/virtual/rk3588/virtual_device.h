// The virtual RK3588 as a kernel::Device: RocketDevice (the same UAPI
// marshalling as on the board) over VirtualRk3588 (the kernel's rules) with
// the functional NPU core model. What the rocket backend opens when there is
// no board, or when asked to simulate.
#pragma once

#include <memory>

#include "kernel/device.h"
#include "virtual/rk3588/npu_core.h"
#include "virtual/rk3588/virtual_kernel.h"

namespace nonstick::virt {

// Inline so that code not using the real core model (e.g. kernel tests with a
// fake core) does not need create_npu_core() at link time.
inline std::unique_ptr<kernel::Device> open_virtual_rk3588() { return open_virtual_rk3588(create_npu_core()); }

}  // namespace nonstick::virt
