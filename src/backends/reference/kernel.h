// Reference kernels: integer implementations of every IR op, bit-exact with
// TensorFlow Lite's builtin CPU kernels of the runtime named by the numerics
// profile (numerics.h; docs/reference-backend.md has the per-runtime
// differences). One file per op family.
//
// Each op has a check (what parameter space is implemented exactly) and a
// factory that precomputes multipliers and tables once; the kernel's run()
// then only computes. check() and create() share the same validation, so
// what is reported as supported is exactly what can be built.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "backends/reference/numerics.h"
#include "ir/graph.h"

namespace nonstick::reference {

// Where each tensor of the graph lives during one invoke.
class TensorMemory {
 public:
  explicit TensorMemory(std::vector<uint8_t*> data) : data_(std::move(data)) {}
  template <typename T>
  T* get(int tensor) const { return reinterpret_cast<T*>(data_[static_cast<size_t>(tensor)]); }

 private:
  std::vector<uint8_t*> data_;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(const TensorMemory& memory) const = 0;
};

struct KernelFactory {
  Support (*check)(const ir::Graph& graph, const ir::Operation& op);
  // Only called after check() accepted the op. `numerics` selects the host
  // runtime's rounding where runtimes differ; most kernels ignore it.
  std::unique_ptr<Kernel> (*create)(const ir::Graph& graph, const ir::Operation& op, Numerics numerics);
};

// The factory for an op type, or null if the reference backend lacks it.
const KernelFactory* find_kernel(ir::OpType type);

// Per-family registration tables, defined in each kernel file.
const KernelFactory& conv2d_kernel();
const KernelFactory& depthwise_conv2d_kernel();
const KernelFactory& fully_connected_kernel();
const KernelFactory& average_pool_kernel();
const KernelFactory& max_pool_kernel();
const KernelFactory& mean_kernel();
const KernelFactory& add_kernel();
const KernelFactory& sub_kernel();
const KernelFactory& mul_kernel();
const KernelFactory& softmax_kernel();
const KernelFactory& logistic_kernel();
const KernelFactory& hard_swish_kernel();
const KernelFactory& relu_kernel();
const KernelFactory& relu6_kernel();
const KernelFactory& quantize_kernel();
const KernelFactory& dequantize_kernel();
const KernelFactory& concatenation_kernel();
const KernelFactory& split_kernel();
const KernelFactory& pad_kernel();
const KernelFactory& reshape_kernel();
const KernelFactory& resize_nearest_kernel();
const KernelFactory& strided_slice_kernel();
const KernelFactory& transpose_kernel();

}  // namespace nonstick::reference
