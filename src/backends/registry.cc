// Backend selection by name. "auto" prefers hardware whose device node is
// present and falls back to the reference backend on the host CPU.
#include <string>

#include "backends/backend.h"
#include "backends/reference/backend.h"

namespace nonstick {

std::vector<std::string_view> backend_names() { return {"reference"}; }

std::unique_ptr<Backend> create_backend(std::string_view name, std::string* error) {
  if (name == "auto" || name == "reference") return reference::create_reference_backend();
  if (error) {
    std::string known;
    for (std::string_view n : backend_names()) known += std::string(known.empty() ? "" : ", ") + std::string(n);
    *error = "unknown device '" + std::string(name) + "' (known: auto, " + known + ")";
  }
  return nullptr;
}

}  // namespace nonstick
