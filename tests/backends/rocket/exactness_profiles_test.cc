// The compile-time exactness proof (docs/virtual-rk3588.md §11) for every CPU
// runtime the delegate can be hosted by. The encoder targets the host's
// rounding (EncodingOptions::numerics), so which layers can be proven
// bit-exact depends on the runtime, and the proof can tell on this x86 host
// what a board running another runtime would get.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "backends/rocket/coefs.h"
#include "backends/rocket/exactness.h"
#include "backends/rocket/lower.h"
#include "golden.h"

namespace nonstick::rocket {
namespace {

// Layers of `model` on the NPU under `numerics`, and how many of them the
// proof does not accept.
struct Count {
  int layers = 0;
  int not_exact = 0;
};

Count prove(const std::string& model, reference::Numerics numerics) {
  ir::Graph g;
  EXPECT_TRUE(testing::golden::load_model(testing::golden::model_path(model), &g)) << model;
  EncodingOptions options;
  options.numerics = numerics;
  Count n;
  for (size_t i = 0; i < g.ops.size(); ++i) {
    NpuConv op;
    if (!lower_op(g, g.ops[i], static_cast<int>(i), options, &op).supported) continue;
    DpuEncoding e;
    if (!encode_dpu(op, options, &e).supported) continue;
    ++n.layers;
    n.not_exact += !e.exactness.exact();
    EXPECT_LE(e.exactness.max_steps, 1) << model << " " << op.label;
  }
  return n;
}

// Per-tensor models. Every layer is proven exact except where the runtime
// rounds negative outputs half away from zero in an unclamped layer (a
// mirrored offset no single BN constant gives): TFLite 2.9's own depthwise
// kernel (MobileNetV3's 5x5 depthwise, every profile but tflite-runtime
// 2.14 routes them there) and tflite-runtime 2.14's uint8 convolutions
// (MobileNet's unclamped 1x1 projections and logits).
TEST(RocketExactnessProfiles, PerTensorModelsPerRuntime) {
  NONSTICK_REQUIRE_SHARED_DATA();
  using reference::Numerics;
  struct Pin {
    const char* model;
    std::map<Numerics, int> not_exact;  // absent: 0
  };
  const Pin pins[] = {
      {"mobilenet_v1_0.25_128_quant", {{Numerics::kTfliteRuntime214, 1}}},
      {"mobilenet_v1_0.5_160_quant", {{Numerics::kTfliteRuntime214, 1}}},
      {"mobilenet_v1_0.75_192_quant", {{Numerics::kTfliteRuntime214, 1}}},
      {"mobilenet_v2_1.0_224_quant", {{Numerics::kTfliteRuntime214, 18}}},
      {"mobilenet_v3_small_224_1.0_uint8",
       {{Numerics::kTflite29, 8}, {Numerics::kTflite29Arm64, 8}, {Numerics::kTfliteRuntime214, 39},
        {Numerics::kLiteRt, 8}}},
      {"mobilenet_v1_1.0_224_quant_embedding_extractor", {}},
      {"mobilenet_v1_224_head_layers_quant", {{Numerics::kTfliteRuntime214, 1}}},
      {"coco_ssd_mobilenet_v1_1.0_quant_detect", {{Numerics::kTfliteRuntime214, 12}}},
      {"yolov8n_320_full_integer_quant", {}},
  };
  for (Numerics numerics : reference::kAllNumerics) {
    int layers = 0, not_exact = 0;
    for (const Pin& pin : pins) {
      const Count n = prove(pin.model, numerics);
      const auto it = pin.not_exact.find(numerics);
      EXPECT_EQ(n.not_exact, it == pin.not_exact.end() ? 0 : it->second)
          << pin.model << " under " << reference::numerics_name(numerics);
      layers += n.layers;
      not_exact += n.not_exact;
    }
    std::printf("[ profiles ] %-20s per-tensor models: %d of %d NPU layers proven bit-exact\n",
                reference::numerics_name(numerics), layers - not_exact, layers);
  }
}

}  // namespace
}  // namespace nonstick::rocket
