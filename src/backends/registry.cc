// Backend selection by name.
//   "rocket"    - the RK3588 NPU through the mainline rocket driver when a
//                 /dev/accel node of that driver is present, else the virtual
//                 RK3588 (simulated, the same command streams and UAPI bytes).
//   "reference" - the reference kernels on the host CPU.
//   "auto"      - real rocket hardware when present, else the virtual
//                 RK3588, so a laptop or CI runs the same compiler and command
//                 streams a board would (every report labels it "simulated").
#include <string>

#include "backends/backend.h"
#include "backends/reference/backend.h"
#include "backends/rocket/backend.h"
#include "kernel/device.h"
#include "virtual/rk3588/virtual_device.h"

namespace nonstick {

std::vector<std::string_view> backend_names() { return {"rocket", "reference"}; }

std::unique_ptr<Backend> create_backend(std::string_view name, std::string* error,
                                        const BackendConfig& config) {
  if (name == "auto" || name == "rocket") {
    std::string why;
    if (auto device = kernel::open_rocket_device(&why)) return create_rocket_backend(std::move(device), config);
    return create_rocket_backend(virt::open_virtual_rk3588(), config);
  }
  if (name == "reference") return reference::create_reference_backend(config.numerics);
  if (error) {
    std::string known;
    for (std::string_view n : backend_names()) known += std::string(known.empty() ? "" : ", ") + std::string(n);
    *error = "unknown device '" + std::string(name) + "' (known: auto, " + known + ")";
  }
  return nullptr;
}

}  // namespace nonstick
