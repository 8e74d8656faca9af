// A strided view of a tensor copied out in output order: the shared engine of
// STRIDED_SLICE (a window with steps) and TRANSPOSE (permuted steps). Output
// axis d has counts[d] elements, steps[d] input elements apart, starting at
// input element `base`. Row start offsets are computed once at create time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/reference/kernel.h"

namespace nonstick::reference {

// `element_size` is 1, 2 or 4 bytes (callers refuse wider types).
std::unique_ptr<Kernel> make_strided_view(size_t element_size, int input, int output, int64_t base,
                                          const std::vector<int64_t>& counts,
                                          const std::vector<int64_t>& steps);

// Element strides of a dense row-major tensor.
std::vector<int64_t> dense_strides(const std::vector<int32_t>& shape);

}  // namespace nonstick::reference
