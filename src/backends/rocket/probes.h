// Hardware probes for the RK3588 NPU: the behaviours the rocket backend relies
// on that no Mesa stream shows (docs/rocket-hardware-probes.md), each turned
// into a tiny single-op program a board runs in one command.
//
// A probe compiles its graph through the normal rocket compile path on the
// given kernel::Device, runs it once with the fault fallback off, and compares
// the device's bytes with
//  - the model: what the virtual RK3588 computes for the same compiled
//    program, from the same DPU encoding and BRDMA stream bytes (a host
//    evaluation of the documented CNA/DPU arithmetic, checked against the
//    virtual NPU by the tests);
//  - alternative hypotheses: the same evaluation under one changed rule
//    (e.g. OUT_CVT rounding ties to even), so a failure names the rule the
//    hardware follows instead;
//  - TFLite: the reference backend (bit-exact TFLite 2.9), for information.
// A probe passes when the device equals the model bit for bit. Probes that do
// not test a rounding rule leave out the outputs that another rounding of
// exact ties (at BS, EW or OUT_CVT) would change, so an unverified tie rule
// cannot fail them.
//
// On the virtual RK3588 a probe checks the model against itself: passing
// there shows consistency, not hardware behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/rocket/encoding.h"
#include "common/status.h"
#include "ir/graph.h"
#include "kernel/device.h"

namespace nonstick::rocket {

// What the rocket backend stops using when a probe fails. EncodingOptions
// has switches for the first two; the others have none yet (a failure is
// logged and reported, and docs/rocket-hardware-probes.md says what changes).
enum ProbeFeature : unsigned {
  kFeatureNone = 0,
  kFeaturePerChannel = 1u << 0,      // EncodingOptions::per_channel
  kFeaturePreciseRequant = 1u << 1,  // EncodingOptions::Requant::kPrecise
  kFeatureFusedClamps = 1u << 2,     // ReLU/ReLU6 in the BN and EW stages
  kFeatureAnisotropic = 1u << 3,     // stride x != y, non-square kernels and inputs
  kFeatureStandaloneAdd = 1u << 4,   // ADD as identity convolution + EW operand
};

struct ProbeInfo {
  std::string name;          // e.g. "out_cvt_ties"
  std::string assumption;    // one line, citing the docs section
  unsigned features = 0;     // ProbeFeature bits that depend on it
  bool rule = false;         // tests a rounding rule: tie outputs are compared too
  EncodingOptions encoding;  // what the probe is compiled with
};

// Every probe, in run order.
std::vector<ProbeInfo> probe_catalog();

enum class ProbeStatus { kPass, kFail, kError, kSkipped };
const char* probe_status_name(ProbeStatus s);  // "pass", "fail", "error", "skipped"

// One alternative rule and how it relates to the device's bytes.
struct HypothesisCheck {
  std::string name;             // e.g. "OUT_CVT ties to even"
  int64_t distinguishing = 0;   // compared outputs where it differs from the model
  bool matches = false;         // distinguishing > 0 and the device equals it on every compared output
};

// One output element where the device differs from the model.
struct ProbeMismatch {
  int64_t index = 0;  // NHWC element index of the output
  int device = 0, model = 0, tflite = 0;  // values in the output's dtype
};

struct ProbeResult {
  ProbeInfo info;
  ProbeStatus status = ProbeStatus::kSkipped;
  std::string detail;            // one line: why, what matched
  bool simulated = false;        // ran on the virtual RK3588
  int64_t elements = 0;          // output elements
  int64_t compared = 0;          // of them compared with the model
  int64_t tie_outputs = 0;       // another tie rule would change them (not compared unless info.rule)
  int64_t differing = 0;         // compared outputs where device != model
  int max_diff = 0;              // largest |device - model| over compared outputs
  int64_t tflite_differing = 0;  // device vs TFLite (reference backend), all outputs
  int tflite_max_diff = 0;
  std::vector<HypothesisCheck> hypotheses;
  std::vector<std::string> matched;       // names of the hypotheses that match
  std::vector<ProbeMismatch> mismatches;  // the first few differences
};

// Runs the probes whose names are in `names` (all when empty) on `device`,
// each compiled with its own encoding. A failing ioctl or a job that never
// completes makes that probe "error"; nothing here throws or aborts.
std::vector<ProbeResult> run_probes(kernel::Device& device, const std::vector<std::string>& names = {});

// Runs the probes guarding the features `wanted` asks for (per-channel
// requantization, precise requantization) and returns `wanted` with every
// feature whose probe did not pass turned off. The first device fault
// (error) ends probing and turns every wanted feature off: a faulting NPU
// verifies nothing, and each hung job costs the full wait. One line per
// probe goes to *log (may be null). Five submits, ~5 ms on an x86 host with
// the virtual RK3588 (simulation included).
EncodingOptions verified_encoding(kernel::Device& device, EncodingOptions wanted, std::string* log);

// ---- For tests and tools: the model's own prediction for a probe.

// Stages of the DPU whose rounding hit an exact tie for an output element.
enum ProbeTie : uint8_t { kTieBs = 1, kTieEw = 2, kTieOutCvt = 4 };

struct ProbePrediction {
  ir::DType dtype = ir::DType::kInt8;
  std::vector<uint8_t> output;  // NHWC bytes in the output's dtype
  std::vector<uint8_t> ties;    // ProbeTie bits per element
  int32_t out_offset = 0;       // OUT_CVT_OFFSET (signed domain)
};

// The graph and run-time inputs of a probe, as run_probes() feeds them.
Status probe_graph(const std::string& name, ir::Graph* graph, std::vector<std::vector<uint8_t>>* inputs);
// The model's output for the probe under the documented rules.
Status predict_probe(const std::string& name, ProbePrediction* out);

}  // namespace nonstick::rocket
