// nonstick classify: one image through TFLite's CPU kernels and through the
// delegate; top-5 of each, whether the outputs are identical, latencies and
// where every op ran.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "tools/nonstick/cli.h"
#include "tools/nonstick/image.h"

namespace nonstick::cli {
namespace {

struct PathResult {
  std::vector<uint8_t> output;
  std::vector<double> runs_ms;
};

bool run_path(tflite::Interpreter& it, const std::vector<uint8_t>& input, int iterations, PathResult* r,
              std::string* error) {
  for (int i = -1; i < iterations; ++i) {  // i == -1: warm-up, not timed
    const auto start = std::chrono::steady_clock::now();
    Status s = it.set_input(0, input.data(), input.size());
    if (s.ok()) s = it.invoke();
    if (s.ok()) s = it.get_output(0, &r->output);
    if (!s.ok()) {
      *error = s.message();
      return false;
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 0) r->runs_ms.push_back(ms);
  }
  return true;
}

std::vector<std::string> read_labels(const std::string& path, std::string* error) {
  std::ifstream f(path);
  if (!f) {
    *error = "cannot open labels " + path;
    return {};
  }
  std::vector<std::string> labels;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

std::vector<int> top_k(const std::vector<uint8_t>& out, bool is_int8, int k) {
  std::vector<int> idx(out.size());
  std::iota(idx.begin(), idx.end(), 0);
  auto value = [&](int i) { return is_int8 ? static_cast<int>(static_cast<int8_t>(out[static_cast<size_t>(i)])) : out[static_cast<size_t>(i)]; };
  const int n = std::min<int>(k, static_cast<int>(idx.size()));
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int a, int b) {
    return value(a) != value(b) ? value(a) > value(b) : a < b;
  });
  idx.resize(static_cast<size_t>(n));
  return idx;
}

std::string shape_text(const tflite::TensorInfo& t) {
  std::string s;
  for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? "x" : "") + std::to_string(t.shape[i]);
  return s + " " + std::string(tflite::type_name(t.type));
}

std::string runs_text(const std::vector<double>& runs) {
  std::string s;
  char buf[32];
  const size_t shown = std::min<size_t>(runs.size(), 20);
  for (size_t i = 0; i < shown; ++i) {
    std::snprintf(buf, sizeof buf, "%s%.2f", i ? " " : "", runs[i]);
    s += buf;
  }
  if (runs.size() > shown) s += " ...";
  return s;
}

}  // namespace

int run_classify(int argc, char** argv) {
  Args args;
  std::string error;
  if (!args.parse(argc, argv, {"model", "image", "labels", "iterations", "device", "threads"}, {"exact", "no-exact"}, &error) ||
      !args.has("model") || !args.has("image")) {
    std::fprintf(stderr, "nonstick classify: %s\n",
                 error.empty() ? "--model and --image are required" : error.c_str());
    return 2;
  }
  std::optional<bool> exact;
  if (!exact_flag(args, &exact, &error)) {
    std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
    return 2;
  }
  const int iterations = std::max(1, args.get_int("iterations", 10));
  const int threads = std::max(1, args.get_int("threads", 1));
  const std::string device = args.get("device", "auto");

  std::vector<uint8_t> model = tflite::read_file(args.get("model"), &error);
  Image image;
  if (model.empty() || !load_image(args.get("image"), &image, &error)) {
    std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
    return 1;
  }
  std::vector<std::string> labels;
  if (args.has("labels")) {
    labels = read_labels(args.get("labels"), &error);
    if (labels.empty()) {
      std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
      return 1;
    }
  }

  auto cpu = tflite::Interpreter::create(model, nullptr, threads, &error);
  DelegatedInterpreter npu;
  if (!cpu || !make_delegated(model, device, exact, threads, &npu, &error)) {
    std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
    return 1;
  }
  const tflite::TensorInfo in = cpu->input_info(0), out = cpu->output_info(0);
  if (cpu->input_count() != 1 || (out.type != kTfLiteUInt8 && out.type != kTfLiteInt8)) {
    std::fprintf(stderr, "nonstick classify: expects one image input and a quantized score output\n");
    return 1;
  }
  std::vector<uint8_t> input;
  if (!image_to_input(image, in, &input, &error)) {
    std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
    return 1;
  }

  PathResult cpu_result, npu_result;
  if (!run_path(*cpu, input, iterations, &cpu_result, &error) ||
      !run_path(*npu.interpreter, input, iterations, &npu_result, &error)) {
    std::fprintf(stderr, "nonstick classify: %s\n", error.c_str());
    return 1;
  }

  const DelegateReport& report = npu.delegate->report();
  std::printf("model    %s (%s -> %s)\n", args.get("model").c_str(), shape_text(in).c_str(), shape_text(out).c_str());
  std::printf("image    %s (%dx%d, resized to %dx%d)\n", args.get("image").c_str(), image.width, image.height,
              in.shape[2], in.shape[1]);
  std::printf("device   %s: %s\n\n", report.device.c_str(), report.device_description.c_str());

  const bool is_int8 = out.type == kTfLiteInt8;
  auto score = [&](const std::vector<uint8_t>& o, int i) {
    const int q = is_int8 ? static_cast<int8_t>(o[static_cast<size_t>(i)]) : o[static_cast<size_t>(i)];
    return std::make_pair(q, static_cast<double>(out.scale) * (q - out.zero_point));
  };
  auto label = [&](int i) {
    return static_cast<size_t>(i) < labels.size() ? labels[static_cast<size_t>(i)] : "#" + std::to_string(i);
  };
  const std::vector<int> cpu_top = top_k(cpu_result.output, is_int8, 5);
  const std::vector<int> npu_top = top_k(npu_result.output, is_int8, 5);
  std::printf("top-5    %-38s %s\n", "TFLite CPU (builtin kernels)", ("nonstick (" + report.device + ")").c_str());
  for (size_t r = 0; r < cpu_top.size(); ++r) {
    auto [cq, cs] = score(cpu_result.output, cpu_top[r]);
    auto [nq, ns] = score(npu_result.output, npu_top[r]);
    char left[80], right[80];
    std::snprintf(left, sizeof left, "%-24.24s %.4f (%d)", label(cpu_top[r]).c_str(), cs, cq);
    std::snprintf(right, sizeof right, "%-24.24s %.4f (%d)", label(npu_top[r]).c_str(), ns, nq);
    std::printf("  %zu      %-38s %s\n", r + 1, left, right);
  }
  int max_diff = 0, differing = 0;
  for (size_t i = 0; i < cpu_result.output.size(); ++i) {
    const int d = std::abs(score(cpu_result.output, static_cast<int>(i)).first -
                           score(npu_result.output, static_cast<int>(i)).first);
    max_diff = std::max(max_diff, d);
    differing += d != 0;
  }
  if (differing == 0) {
    std::printf("outputs  identical (%zu values)\n\n", cpu_result.output.size());
  } else {
    std::printf("outputs  DIFFER: %d of %zu values, max |diff| %d LSB\n\n", differing, cpu_result.output.size(), max_diff);
  }

  const LatencySummary c = summarize(cpu_result.runs_ms), n = summarize(npu_result.runs_ms);
  std::printf("latency  %d iterations after 1 warm-up, invoke + output read, %d thread%s (ms)\n", iterations,
              threads, threads == 1 ? "" : "s");
  std::printf("  %-22s min %8.2f  median %8.2f  mean %8.2f  max %8.2f\n", "TFLite CPU", c.min_ms, c.median_ms,
              c.mean_ms, c.max_ms);
  const std::string path_label = "nonstick " + report.device + (report.device_simulated ? " (sim)" : "");
  std::printf("  %-22s min %8.2f  median %8.2f  mean %8.2f  max %8.2f\n", path_label.c_str(), n.min_ms, n.median_ms,
              n.mean_ms, n.max_ms);
  std::printf("  per run, CPU:      %s\n", runs_text(cpu_result.runs_ms).c_str());
  std::printf("  per run, nonstick: %s\n", runs_text(npu_result.runs_ms).c_str());
  std::printf("  speed ratio (CPU mean / nonstick mean): %.2fx%s\n\n", c.mean_ms / std::max(n.mean_ms, 1e-9),
              report.device_simulated ? "  [wall time of the SIMULATION on the host CPU, not NPU speed]"
              : report.device == "reference" ? "  [reference backend runs on the host CPU: not an NPU figure]"
                                             : "");
  std::fputs(format_program_stats(npu.delegate->live_stats(), report.device_simulated).c_str(), stdout);
  std::printf("placement %s\n", format_placement_summary(report).c_str());
  // Differences are reported above; only a different answer is a failure.
  return cpu_top.empty() || npu_top.empty() || cpu_top[0] == npu_top[0] ? 0 : 3;
}

}  // namespace nonstick::cli
