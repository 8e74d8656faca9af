#include "backends/rocket/backend.h"

#include "backends/rocket/lower.h"
#include "backends/rocket/program.h"

namespace nonstick {
namespace {

class RocketBackend final : public Backend {
 public:
  RocketBackend(std::unique_ptr<kernel::Device> device, const BackendConfig& config)
      : device_(std::move(device)), config_(config) {
    if (device_->simulated()) {
      description_ = "virtual RK3588 (simulated)";
    } else {
      // Device names read "rocket (/dev/accel/accelN)": keep the node.
      const std::string name = device_->name();
      const size_t open = name.find('('), close = name.rfind(')');
      const std::string node =
          open != std::string::npos && close > open ? name.substr(open + 1, close - open - 1) : name;
      description_ = "RK3588 NPU via " + node;
    }
  }

  std::string_view name() const override { return "rocket"; }
  std::string_view description() const override { return description_; }
  bool simulated() const override { return device_->simulated(); }

  Support supports(const ir::Graph& graph, const ir::Operation& op) const override {
    int index = 0;
    for (size_t i = 0; i < graph.ops.size(); ++i) {
      if (&graph.ops[i] == &op) index = static_cast<int>(i);
    }
    rocket::NpuConv lowered;
    return rocket::lower_op(graph, op, index, &lowered);
  }

  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    rocket::ProgramOptions options = rocket::program_options_from_env();
    options.fallback_numerics = config_.numerics;
    return rocket::compile_program(device_, graph, options, program);
  }

 private:
  std::shared_ptr<kernel::Device> device_;
  BackendConfig config_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Backend> create_rocket_backend(std::unique_ptr<kernel::Device> device, const BackendConfig& config) {
  return std::make_unique<RocketBackend>(std::move(device), config);
}

}  // namespace nonstick
