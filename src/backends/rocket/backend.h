// The RK3588 NPU backend ("rocket"): lowers convolution-family ops and ADD to
// register-command streams for the mainline rocket accel driver, run on real
// hardware or on the virtual RK3588 through the same kernel::Device seam.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "kernel/device.h"

namespace nonstick {

// `config.numerics` selects the reference kernels used after a device fault.
std::unique_ptr<Backend> create_rocket_backend(std::unique_ptr<kernel::Device> device,
                                               const BackendConfig& config = {});

}  // namespace nonstick
