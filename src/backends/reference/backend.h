#pragma once

#include <memory>

#include "backends/backend.h"

namespace nonstick::reference {

std::unique_ptr<Backend> create_reference_backend();

}  // namespace nonstick::reference
