// Our side: the model run once through nonstick's delegate with the rocket
// backend on the virtual RK3588, the way an application runs it. A recording
// kernel::Device between the backend and the virtual device keeps every BO and
// every submitted job with its tasks' regcmd words (read from the regcmd BO at
// submit time, as Mesa's capture shim did), and a thin Backend wrapper keeps
// each partition's graph and lowering, so every job is tied to the TFLite
// nodes it implements.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/rocket_mesa_diff/streams.h"

namespace nonstick::rocket {
struct NpuConv;
}

namespace nonstick::mesa_diff {

// What the reason table needs about one of our jobs (an NpuConv).
struct OurOp {
  std::string label;        // lowering label, e.g. "CONV_2D#3+ADD#4"
  bool depthwise = false;
  bool has_addend = false;
  int kernel_w = 1, kernel_h = 1, stride_w = 1, stride_h = 1;
  int in_w = 1, in_h = 1, out_w = 1, out_h = 1;
  int pad_left = 0, pad_top = 0, pad_right = 0, pad_bottom = 0;
  int32_t in_zp = 0, out_zp = 0, act_min = -128, act_max = 127;
  double out_multiplier = 0, addend_multiplier = 0;
  // The lowered op itself, for the exactness proof (proof.h).
  std::shared_ptr<const rocket::NpuConv> conv;
};

struct OurModel {
  bool ran = false;
  std::string error;        // why the run failed (compile/invoke), if it did
  int nodes = 0;            // TFLite nodes in the model
  int delegated_nodes = 0;
  int partitions = 0;
  Streams streams;          // jobs of the one recorded inference
  std::vector<OurOp> ops;   // parallel to streams.jobs
  // TFLite ADD node -> why it was not fused into the producing convolution
  // (fusion_blocker()), for every ADD that runs as its own job.
  std::map<int, std::string> unfused_adds;
  // TFLite node -> the delegate's reason for leaving it on the CPU.
  std::map<int, std::string> cpu_reasons;
  std::map<int, std::string> node_types;  // TFLite node -> op name
  int bos_created = 0;
  uint64_t bo_bytes = 0;
  // Summed over the inference's submits (virtual RK3588 counters: simulated).
  uint64_t dram_read = 0, dram_written = 0, macs = 0;
  // RocketStats summed over partitions (cross-checked against the streams).
  int npu_ops = 0, fused_adds = 0, stats_jobs = 0, stats_tasks = 0;
  uint64_t stats_words = 0;
  bool fell_back = false;
};

// Runs `model_path` with input bytes from `input` (TFLite's raw bytes of
// input 0; other inputs and a missing/short file use the capture rule
// byte k of input i = (7k + 13i + 3) mod 256).
OurModel run_ours(const std::string& model_path, const std::vector<uint8_t>& input);

}  // namespace nonstick::mesa_diff
