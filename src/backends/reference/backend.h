#pragma once

#include <memory>

#include "backends/backend.h"
#include "backends/reference/numerics.h"

namespace nonstick::reference {

// `numerics`: whose rounding the kernels reproduce (see numerics.h).
std::unique_ptr<Backend> create_reference_backend(Numerics numerics = Numerics::kTflite29);

}  // namespace nonstick::reference
