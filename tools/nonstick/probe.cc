// nonstick probe: runs the RK3588 hardware probes (src/backends/rocket/probes.h,
// docs/rocket-hardware-probes.md) and says which of the behaviours the rocket
// backend relies on hold on this NPU. --json writes a report to attach to a
// bug report.
#include <sys/utsname.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>

#include "backends/rocket/probes.h"
#include "kernel/device.h"
#include "tools/nonstick/cli.h"
#include "virtual/rk3588/virtual_device.h"

namespace nonstick::cli {
namespace {

using rocket::ProbeResult;
using rocket::ProbeStatus;

const char* bool_text(bool b) { return b ? "true" : "false"; }

std::vector<std::string> feature_names(unsigned features) {
  std::vector<std::string> v;
  if (features & rocket::kFeaturePerChannel) v.push_back("per_channel");
  if (features & rocket::kFeaturePreciseRequant) v.push_back("precise_requant");
  if (features & rocket::kFeatureFusedClamps) v.push_back("fused_relu_clamps");
  if (features & rocket::kFeatureAnisotropic) v.push_back("anisotropic_geometry");
  if (features & rocket::kFeatureStandaloneAdd) v.push_back("standalone_add");
  return v;
}

std::string json_list(const std::vector<std::string>& items) {
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + json_string(items[i]);
  return s + "]";
}

unsigned affected_features(const std::vector<ProbeResult>& results) {
  unsigned f = 0;
  for (const ProbeResult& r : results) {
    if (r.status == ProbeStatus::kFail || r.status == ProbeStatus::kError) f |= r.info.features;
  }
  return f;
}

void print_json(const kernel::Device& device, const std::vector<ProbeResult>& results) {
  utsname host{};
  uname(&host);
  std::printf("{\n  \"tool\": \"nonstick probe\",\n");
  std::printf("  \"host\": {\"system\": %s, \"release\": %s, \"machine\": %s},\n", json_string(host.sysname).c_str(),
              json_string(host.release).c_str(), json_string(host.machine).c_str());
  std::printf("  \"device\": {\"name\": %s, \"simulated\": %s%s},\n", json_string(device.name()).c_str(),
              bool_text(device.simulated()),
              device.simulated() ? ", \"note\": \"virtual RK3588 (simulated): every probe checks the model against "
                                   "itself; passing proves consistency only\""
                                 : "");
  std::printf("  \"probes\": [\n");
  int counts[4] = {};
  for (size_t i = 0; i < results.size(); ++i) {
    const ProbeResult& r = results[i];
    ++counts[static_cast<int>(r.status)];
    std::printf("    {\"name\": %s, \"status\": \"%s\",\n", json_string(r.info.name).c_str(),
                rocket::probe_status_name(r.status));
    std::printf("     \"assumption\": %s,\n", json_string(r.info.assumption).c_str());
    std::printf("     \"features\": %s, \"rounding_rule\": %s, \"requant\": \"%s\",\n",
                json_list(feature_names(r.info.features)).c_str(), bool_text(r.info.rule),
                r.info.encoding.requant == rocket::EncodingOptions::Requant::kPrecise ? "precise" : "outcvt");
    std::printf("     \"detail\": %s,\n", json_string(r.detail).c_str());
    std::printf("     \"elements\": %lld, \"compared\": %lld, \"tie_outputs\": %lld, \"differing\": %lld, "
                "\"max_diff\": %d,\n",
                static_cast<long long>(r.elements), static_cast<long long>(r.compared),
                static_cast<long long>(r.tie_outputs), static_cast<long long>(r.differing), r.max_diff);
    std::printf("     \"vs_tflite\": {\"differing\": %lld, \"max_diff\": %d},\n",
                static_cast<long long>(r.tflite_differing), r.tflite_max_diff);
    std::printf("     \"hypotheses\": [");
    for (size_t k = 0; k < r.hypotheses.size(); ++k) {
      const rocket::HypothesisCheck& h = r.hypotheses[k];
      std::printf("%s{\"name\": %s, \"distinguishing\": %lld, \"matches\": %s}", k ? ", " : "",
                  json_string(h.name).c_str(), static_cast<long long>(h.distinguishing),
                  bool_text(h.matches));
    }
    std::printf("],\n     \"device_follows\": %s,\n", json_list(r.matched).c_str());
    std::printf("     \"first_mismatches\": [");
    for (size_t k = 0; k < r.mismatches.size(); ++k) {
      const rocket::ProbeMismatch& m = r.mismatches[k];
      std::printf("%s{\"index\": %lld, \"device\": %d, \"model\": %d, \"tflite\": %d}", k ? ", " : "",
                  static_cast<long long>(m.index), m.device, m.model, m.tflite);
    }
    std::printf("]}%s\n", i + 1 < results.size() ? "," : "");
  }
  std::printf("  ],\n");
  std::printf("  \"summary\": {\"pass\": %d, \"fail\": %d, \"error\": %d, \"skipped\": %d, "
              "\"features_affected\": %s}\n}\n",
              counts[0], counts[1], counts[2], counts[3], json_list(feature_names(affected_features(results))).c_str());
}

void print_table(const kernel::Device& device, const std::vector<ProbeResult>& results) {
  std::printf("nonstick probe: RK3588 NPU behaviours the rocket backend relies on (docs/rocket-hardware-probes.md)\n");
  std::printf("device: %s\n", device.name().c_str());
  if (device.simulated()) {
    std::printf("        virtual RK3588 (simulated): every probe checks the model against itself, not a board\n");
  }
  std::printf("\n");
  int bad = 0, skipped = 0;
  for (const ProbeResult& r : results) {
    std::string status = rocket::probe_status_name(r.status);
    for (char& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::printf("  %-7s %-22s %s\n", status.c_str(), r.info.name.c_str(), r.info.assumption.c_str());
    std::printf("  %-7s %-22s %s\n", "", "", r.detail.c_str());
    bad += r.status == ProbeStatus::kFail || r.status == ProbeStatus::kError;
    skipped += r.status == ProbeStatus::kSkipped;
  }
  std::printf("\nverdict: ");
  if (bad == 0) {
    std::printf("%zu of %zu probes pass%s", results.size() - skipped, results.size(),
                skipped ? " (the rest skipped)" : "");
    std::printf(device.simulated() ? "; simulated: this shows the model agrees with itself, nothing about a board\n"
                                   : "; this NPU behaves as the virtual RK3588 models it\n");
    return;
  }
  std::printf("%d of %zu probes fail or error; backend features affected:", bad, results.size());
  const std::vector<std::string> affected = feature_names(affected_features(results));
  for (const std::string& f : affected) std::printf(" %s", f.c_str());
  if (affected.empty()) std::printf(" none (rounding differences only)");
  std::printf("\n         please attach `nonstick probe --device rocket --json` output to a bug report\n");
}

}  // namespace

int run_probe(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.parse(argc, argv, {"device"}, {"json"}, &error)) {
    std::fprintf(stderr, "nonstick probe: %s\n", error.c_str());
    return 2;
  }
  const std::string which = args.get("device", "auto");
  std::unique_ptr<kernel::Device> device;
  if (which == "rocket" || which == "auto") {
    std::string why;
    device = kernel::open_rocket_device(&why);
    if (!device) {
      std::fprintf(stderr, "nonstick probe: %s; using the virtual RK3588 (simulated)\n", why.c_str());
      device = virt::open_virtual_rk3588();
    }
  } else if (which == "virtual") {
    device = virt::open_virtual_rk3588();
  } else {
    std::fprintf(stderr, "nonstick probe: unknown device '%s' (known: auto, rocket, virtual)\n", which.c_str());
    return 2;
  }
  const std::vector<ProbeResult> results = rocket::run_probes(*device);
  if (args.has("json")) {
    print_json(*device, results);
  } else {
    print_table(*device, results);
  }
  const bool bad = std::any_of(results.begin(), results.end(), [](const ProbeResult& r) {
    return r.status == ProbeStatus::kFail || r.status == ProbeStatus::kError;
  });
  return bad ? 1 : 0;
}

}  // namespace nonstick::cli
