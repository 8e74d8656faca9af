#include "backends/rocket/backend.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "backends/rocket/coefs.h"
#include "backends/rocket/lower.h"
#include "backends/rocket/probes.h"
#include "backends/rocket/program.h"

namespace nonstick {
namespace {

class RocketBackend final : public Backend {
 public:
  RocketBackend(std::unique_ptr<kernel::Device> device, const BackendConfig& config)
      : device_(std::move(device)), config_(config), encoding_(rocket::encoding_options_from_env()) {
    encoding_.numerics = config_.numerics;  // round as the host's CPU kernels do
    // The delegate's exact option; NONSTICK_ROCKET_EXACT=1 (read above) also turns it on.
    encoding_.exact_only = encoding_.exact_only || config_.bit_exact_only;
    if (device_->simulated()) {
      description_ = "virtual RK3588 (simulated)";
    } else {
      // Device names read "rocket (/dev/accel/accelN)": keep the node.
      const std::string name = device_->name();
      const size_t open = name.find('('), close = name.rfind(')');
      const std::string node =
          open != std::string::npos && close > open ? name.substr(open + 1, close - open - 1) : name;
      description_ = "RK3588 NPU via " + node;
      verify_encoding_on_hardware();
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
    // The note is the encoder's exactness proof for the op lowered alone.
    // In the precise encoding (the default) nothing is fused, so that is the
    // op the program runs; an ADD the OUT_CVT-only form fuses into its
    // convolution is reported as its standalone encoding.
    rocket::NpuConv lowered;
    return rocket::lower_op(graph, op, index, encoding_, &lowered);
  }

  bool set_numerics(reference::Numerics numerics) override {
    config_.numerics = numerics;
    encoding_.numerics = numerics;
    return true;
  }

  Status compile(const ir::Graph& graph, std::unique_ptr<Program>* program) override {
    rocket::ProgramOptions options = rocket::program_options_from_env();
    options.fallback_numerics = config_.numerics;
    options.encoding = encoding_;  // what supports() answered with
    return rocket::compile_program(device_, graph, options, program);
  }

 private:
  // On a real NPU, the DPU features that rest on no Mesa stream (per-channel
  // and precise requantization) are used only after their probes pass on
  // this board (docs/rocket-hardware-probes.md); a failed probe turns the
  // feature off for this process, with one line on stderr.
  // NONSTICK_ROCKET_PROBE=0 trusts the model without checking.
  void verify_encoding_on_hardware() {
    const char* env = std::getenv("NONSTICK_ROCKET_PROBE");
    if (env && std::strcmp(env, "0") == 0) return;
    std::string log;
    const rocket::EncodingOptions checked = rocket::verified_encoding(*device_, encoding_, &log);
    std::string off;
    if (checked.per_channel != encoding_.per_channel) off += "int8 per-channel convolutions stay on the CPU";
    if (checked.requant != encoding_.requant) off += std::string(off.empty() ? "" : ", ") + "precise requantization off";
    if (!off.empty()) {
      std::fprintf(stderr, "nonstick: rocket: a hardware probe failed on this NPU: %s (details: nonstick probe --device rocket)\n",
                   off.c_str());
    }
    encoding_ = checked;
  }

  std::shared_ptr<kernel::Device> device_;
  BackendConfig config_;
  rocket::EncodingOptions encoding_;
  std::string description_;
};

}  // namespace

std::unique_ptr<Backend> create_rocket_backend(std::unique_ptr<kernel::Device> device, const BackendConfig& config) {
  return std::make_unique<RocketBackend>(std::move(device), config);
}

}  // namespace nonstick
