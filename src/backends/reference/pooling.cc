// STUB: to be replaced by the real kernels.
#include "backends/reference/kernel.h"

namespace nonstick::reference {
namespace {
Support stub_check(const ir::Graph&, const ir::Operation&) { return Support::no("not implemented yet"); }
std::unique_ptr<Kernel> stub_create(const ir::Graph&, const ir::Operation&) { return nullptr; }
}  // namespace

const KernelFactory& average_pool_kernel() {
  static const KernelFactory f{stub_check, stub_create};
  return f;
}
const KernelFactory& max_pool_kernel() {
  static const KernelFactory f{stub_check, stub_create};
  return f;
}

}  // namespace nonstick::reference
