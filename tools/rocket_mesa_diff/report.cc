#include "tools/rocket_mesa_diff/report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tools/rocket_mesa_diff/json.h"

namespace nonstick::mesa_diff {
namespace {

namespace fs = std::filesystem;

// Capture folders whose .tflite goes by another name under <data>/models
// (same sha256 as index.json records).
const std::map<std::string, std::string> kModelAliases = {
    {"mobilenet_quant_v1_224_head_layers", "mobilenet_v1_224_head_layers_quant"}};

// Why Mesa has no submit, where index.json's status does not say
// (goldens/rocket/README.md, "Models captured" and "Further models").
const std::map<std::string, std::string> kMesaNotes = {
    {"split_concat", "Mesa delegates nothing: CONCATENATION and SPLIT are not supported by rocket"},
    {"tf2_mobilenet_v2_1.0_224_ptq",
     "Mesa rejects the int8 per-channel CONV/DWCONV and accepts only the 10 ADDs, then crashes (SIGSEGV) "
     "compiling the first single-ADD partition"},
    {"vww_mobilenet_v1_0.25_96_int8", "Mesa delegates nothing: int8 per-channel convolutions are rejected"},
    {"mobilenet_v3_small_224_1.0_uint8", "Mesa crashed (SIGSEGV) compiling partition 9 (CONV+ADD+CONV), before any submit"},
    {"yolov8n_320_full_integer_quant", "Mesa crashed (SIGSEGV) compiling partition 5 (ADD), before any submit"}};

std::string num(uint64_t v) {
  std::string s = std::to_string(v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string pct(uint64_t part, uint64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

// Parts per million, for off-counts far below 1 %.
std::string ppm(int64_t part, int64_t whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f ppm", whole ? 1e6 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
  return buf;
}

std::string pair(const std::string& mesa, const std::string& ours) { return mesa + " / " + ours; }

std::string cpu_summary(const OurModel& o) {
  std::map<std::string, int> counts;
  for (const auto& [node, why] : o.cpu_reasons) {
    auto t = o.node_types.find(node);
    counts[t == o.node_types.end() ? "?" : t->second]++;
  }
  std::string s;
  for (const auto& [op, n] : counts) s += (s.empty() ? "" : ", ") + op + (n > 1 ? " x" + std::to_string(n) : "");
  return s;
}

std::string render_proof_section(const std::vector<ModelResult>& results) {
  std::ostringstream o;
  o << "\n## Exactness proof: Mesa's programming vs nonstick's\n\n"
    << "The compile-time proof of `src/backends/rocket/exactness.h` (docs/virtual-rk3588.md §11) applied to "
       "both sides of every paired per-tensor CONV/DWCONV/FC job without a fused ADD. For Mesa, the proof's "
       "OUT_CVT-only encoding is read from its captured registers and bias BO (`tools/rocket_mesa_diff/proof.h`): "
       "OUT_CVT_SCALE/SHIFT/OFFSET, the BRDMA bias words as the BS add, no multiplier and no clamp (checked: BS "
       "is a plain bias add, BN and EW bypassed, every ReLU stage bypassed, BS_OW_OP = -weight zero point, the "
       "weight BO equal to nonstick's packing, so the CORE accumulator is TFLite's T minus nonstick's folded "
       "bias). Mesa's bias word is (TFLite bias - in_zp * sum(w - w_zp)) / 2^CLIP_TRUNCATE, i.e. nonstick's "
       "folded bias halved when it truncates; the \"bias\" column gives how many channels' bias * 2^CLIP_TRUNCATE "
       "differ from the folded bias and by how much at most (the halving's lost bit). The DPU then sees "
       "round_half_up((T - folded) / 2^CLIP_TRUNCATE) + bias, which `DpuEncoding` cannot express; the tool "
       "walks that function with the proof's own `walk_channel` (for CLIP_TRUNCATE 0 it calls `check_exactness` itself). Every accumulator value T the layer's weights allow for any int8 input is checked against "
       "TFLite 2.9 x86's requantization (the op's rounding rule, zero point and fused clamp), against the DPU "
       "arithmetic of the virtual RK3588 (a model; unverified on hardware where the docs say so). No inputs, no "
       "sampling: the counts are of accumulator values, summed over output channels, not of output elements "
       "(channels that share both functions of T are walked once over the union of their ranges, so N can differ "
       "slightly between the sides where Mesa truncates). "
       "nonstick's column is its default (precise) encoding of the same op. The replay column cross-checks the "
       "construction: Mesa's captured tasks run on the virtual RK3588 with the capture's input, and every output "
       "element of a covered layer is compared with the tool's Mesa function of its accumulator "
       "(simulated).\n\n"
    << "| model | Mesa jobs | covered (not covered: why) | proven exact: Mesa / nonstick | accumulator values off: "
       "Mesa / nonstick | worst Mesa layer | bias: channels != folded (max delta) | replay cross-check "
       "(simulated) |\n|---|---|---|---|---|---|---|---|\n";
  for (const ModelResult& r : results) {
    if (!r.diffed) continue;
    const ModelProof& p = r.proof;
    std::map<std::string, int> why;
    for (const LayerProof& l : p.layers) {
      if (!l.covered) why[l.why_not]++;
    }
    std::string uncovered;
    for (const auto& [w, n] : why) uncovered += (uncovered.empty() ? "" : ", ") + std::to_string(n) + " " + w;
    const LayerProof* worst = p.worst_mesa();
    uint64_t elements = 0, mismatch = 0, off = 0;
    int replayed = 0, bias_channels = 0;
    int64_t bias_delta = 0;
    for (const LayerProof& l : p.layers) {
      replayed += l.replayed;
      elements += l.replay_elements;
      mismatch += l.replay_model_mismatch;
      off += l.replay_off;
      bias_channels += l.bias_channels_differing;
      bias_delta = std::max(bias_delta, l.bias_max_delta);
    }
    o << "| " << r.name << " | " << p.layers.size() << " | " << p.covered() << (uncovered.empty() ? "" : " (" + uncovered + ")")
      << " | " << p.mesa_exact() << " / " << p.ours_exact() << " of " << p.covered() << " | " << num(static_cast<uint64_t>(p.mesa_off()))
      << " of " << num(static_cast<uint64_t>(p.accumulators())) << " (" << ppm(p.mesa_off(), p.accumulators())
      << ") / " << num(static_cast<uint64_t>(p.ours_off())) << " of " << num(static_cast<uint64_t>(p.ours_accumulators()))
      << " | ";
    if (worst) {
      o << worst->label << (worst->truncate ? " (CLIP_TRUNCATE 1)" : "") << ": " << worst->mesa.summary();
    } else {
      o << "&mdash;";
    }
    o << " | " << bias_channels << " (" << bias_delta << ") | " << replayed << " layers, " << num(elements) << " elements: " << num(mismatch)
      << " differ from the proof's Mesa function; " << num(off) << " off TFLite |\n";
  }
  o << "\nMesa's layers not proven exact, per model (accumulator values off of those its weights allow; "
       "`T` = CLIP_TRUNCATE 1):\n\n";
  for (const ModelResult& r : results) {
    if (!r.diffed) continue;
    std::string list;
    for (const LayerProof& l : r.proof.layers) {
      if (!l.covered || l.mesa.exact()) continue;
      list += (list.empty() ? "" : ", ") + l.label + (l.truncate ? " T" : "") + " " +
              num(static_cast<uint64_t>(l.mesa.off)) + "/" + num(static_cast<uint64_t>(l.mesa.accumulators));
      if (l.mesa.max_steps > 1) list += " (up to " + std::to_string(l.mesa.max_steps) + " steps)";
    }
    o << "- " << r.name << ": " << (list.empty() ? "none" : list) << "\n";
  }
  return o.str();
}

}  // namespace

std::string model_file_for(const std::string& data_dir, const std::string& name) {
  auto alias = kModelAliases.find(name);
  const std::string path = data_dir + "/models/" + (alias == kModelAliases.end() ? name : alias->second) + ".tflite";
  return fs::exists(path) ? path : "";
}

ModelResult analyse_model(const std::string& data_dir, const std::string& name, bool has_capture) {
  ModelResult r;
  r.name = name;
  const std::string goldens = data_dir + "/goldens/rocket";
  if (has_capture) {
    std::string error;
    r.has_mesa = load_mesa_model(goldens, name, &r.mesa, &error);
    if (!r.has_mesa) r.mesa.status = "capture unreadable: " + error;
  }
  r.model_file = model_file_for(data_dir, name);
  if (r.model_file.empty()) {
    r.ours.error = "no .tflite for " + name + " under " + data_dir + "/models";
  } else {
    const std::string in = read_text_file(goldens + "/" + name + "/input_0.bin");
    r.ours = run_ours(r.model_file, std::vector<uint8_t>(in.begin(), in.end()));
  }
  if (r.has_mesa && !r.mesa.streams.jobs.empty()) {
    r.diffed = true;
    r.diff = diff_model(r.mesa, r.ours);
    r.proof = prove_model(r.mesa, r.ours, &r.mesa_replay);
  }
  return r;
}

std::string render_register_diff(const std::vector<ModelResult>& results) {
  std::ostringstream o;
  o << "# RK3588 register programming: nonstick vs Mesa\n\n"
    << "_Generated by `scripts/gen-rocket-docs.sh` (tools/rocket_mesa_diff); do not edit by hand._\n\n"
    << "For every model of `goldens/rocket` with captured submits, the model runs once through nonstick's "
       "delegate on the virtual RK3588 and every regcmd word our rocket backend submits is recorded. Jobs are "
       "paired with Mesa's captured jobs by the TFLite convolution node they run, tasks by position. Each word "
       "is keyed by (target, register, occurrence) and decoded field by field with the generated register "
       "tables (`rocket/registers.h`). Addresses are compared after relocation, as the buffer's role "
       "(job output, output of node N, partition input, weights, biases, this task's regcmd) and the offset "
       "inside it, since IOVAs depend on allocation order. Every differing field carries a reason from the "
       "table in `tools/rocket_mesa_diff/reasons.cc`; a field with none is `UNEXPLAINED`, and "
       "`rocket_mesa_diff --check` (run by the test suite) fails on it.\n\n";
  o << "## Summary\n\n| model | jobs paired | tasks compared | words | identical words | identical after relocation | "
       "differing fields | unexplained |\n|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, int> totals;
  for (const ModelResult& r : results) {
    if (!r.diffed) continue;
    const ModelDiff& d = r.diff;
    int fields = 0;
    for (const auto& [id, n] : d.by_reason) {
      fields += n;
      totals[id] += n;
    }
    o << "| " << r.name << " | " << d.jobs.size() << " | " << d.tasks_compared << " | " << num(d.words) << " | "
      << num(d.words_identical) << " (" << pct(d.words_identical, d.words) << ") | " << num(d.words_relocated) << " ("
      << pct(d.words_relocated, d.words) << ") | " << fields << " | " << d.unexplained() << " |\n";
  }
  o << "\n## Reasons\n\nDiffering fields per reason, all models together.\n\n| reason | fields | explanation |\n|---|---|---|\n";
  for (const Reason& reason : reasons()) {
    auto it = totals.find(reason.id);
    if (it == totals.end()) continue;
    o << "| `" << reason.id << "` | " << it->second << " | " << reason.text << " |\n";
  }
  if (totals.count(kUnexplained)) o << "| `" << kUnexplained << "` | " << totals[kUnexplained] << " | no known reason |\n";
  o << render_proof_section(results);
  for (const ModelResult& r : results) {
    if (!r.diffed) continue;
    const ModelDiff& d = r.diff;
    o << "\n## " << r.name << "\n\n";
    o << d.jobs.size() << " Mesa jobs in " << r.mesa.streams.submits << " submit(s), " << d.tasks_compared
      << " tasks compared, " << num(d.words) << " words: " << num(d.words_identical) << " identical, "
      << num(d.words_relocated) << " identical after relocation.";
    if (d.by_reason.empty()) o << " No field differs.";
    o << "\n\n";
    for (const Reason& reason : reasons()) {
      auto it = d.by_reason.find(reason.id);
      if (it != d.by_reason.end()) o << "- `" << reason.id << "`: " << it->second << "\n";
    }
    if (d.unexplained()) o << "- `" << kUnexplained << "`: " << d.unexplained() << "\n";
    std::vector<std::string> clean;
    std::ostringstream rows;
    for (const JobDiff& j : d.jobs) {
      if (j.diffs.empty()) {
        clean.push_back(j.label);
        continue;
      }
      // Per reason, one item per (register.field, Mesa value, our value),
      // with the tasks it covers when not all.
      std::vector<std::string> reasons_seen;
      std::map<std::string, std::vector<std::string>> items;  // reason -> item keys, in order
      std::map<std::string, std::vector<int>> tasks_of;       // reason + item -> tasks
      for (const FieldDiff& f : j.diffs) {
        const std::string item = f.reg + "." + f.field + ": " + f.mesa + " &rarr; " + f.ours;
        if (!items.count(f.reason)) reasons_seen.push_back(f.reason);
        std::vector<int>& t = tasks_of[f.reason + "\n" + item];
        if (t.empty()) items[f.reason].push_back(item);
        t.push_back(f.task);
      }
      rows << "| " << j.label << " | " << (j.our_label.empty() ? "&mdash;" : j.our_label)
           << (j.note.empty() ? "" : "<br>" + j.note) << " | " << j.mesa_tasks << " / " << j.our_tasks << " | ";
      for (size_t k = 0; k < reasons_seen.size(); ++k) {
        const std::string& reason = reasons_seen[k];
        rows << (k ? "<br>" : "") << "`" << reason << "`: ";
        const std::vector<std::string>& list = items[reason];
        for (size_t i = 0; i < list.size(); ++i) {
          rows << (i ? "; " : "") << list[i];
          const std::vector<int>& tasks = tasks_of[reason + "\n" + list[i]];
          if (j.tasks_compared > 1 && static_cast<int>(tasks.size()) < j.tasks_compared) {
            rows << " (task";
            for (size_t t = 0; t < tasks.size(); ++t) rows << (t ? "," : " ") << tasks[t];
            rows << ")";
          }
        }
      }
      rows << " |\n";
    }
    if (!rows.str().empty()) {
      o << "\n| Mesa job | our job | tasks Mesa / ours | differing fields (Mesa &rarr; ours) |\n|---|---|---|---|\n"
        << rows.str();
    }
    if (!d.extra_jobs.empty()) {
      o << "\nnonstick jobs with no Mesa counterpart (" << d.extra_jobs.size() << "):\n\n";
      std::map<std::string, std::vector<std::string>> by_why;
      for (const auto& [label, why] : d.extra_jobs) by_why[why].push_back(label);
      for (const auto& [why, labels] : by_why) {
        o << "-";
        for (size_t k = 0; k < labels.size(); ++k) o << (k ? ", " : " ") << labels[k];
        o << ": " << why << "\n";
      }
    }
    if (!clean.empty()) {
      o << "\nIdentical after relocation (" << clean.size() << " jobs):";
      for (size_t k = 0; k < clean.size(); ++k) o << (k ? ", " : " ") << clean[k];
      o << ".\n";
    }
  }
  return o.str();
}

std::string render_comparison(const std::vector<ModelResult>& results) {
  std::ostringstream o;
  o << "# nonstick vs Mesa on the RK3588: per-model numbers\n\n"
    << "_Generated by `scripts/gen-rocket-docs.sh` (tools/rocket_mesa_diff); do not edit by hand._\n\n"
    << "Each cell is `Mesa / nonstick`, for one inference.\n\n"
    << "- **Mesa**: Mesa 26.2.6's Teflon + rocket, captured without an NPU (`goldens/rocket`): nodes delegated "
       "from index.json `tflite_nodes`, partitions from `partitions_compiled`, submits/jobs/tasks/words from the "
       "submit JSONs, BOs from events.log (every `create_bo` of the session). Its DRAM bytes and MACs come from "
       "replaying its captured streams on the virtual RK3588's core model: **simulated**.\n"
    << "- **nonstick**: the model run through nonstick's delegate with device `rocket` on the virtual RK3588; "
       "nodes and partitions from the delegate's report; submits, jobs, tasks and words as submitted; BOs as "
       "created through the kernel::Device; DRAM bytes and MACs from the virtual device's counters: "
       "**simulated**.\n"
    << "- DRAM bytes are NPU reads + writes (activations, weights, biases, element-wise operands); the CPU's "
       "layout conversions are not counted.\n\n"
    << "| model | nodes delegated (of all) | partitions | submits | jobs | tasks | regcmd words | BOs | BO bytes | DRAM bytes read+written (simulated) | MACs (simulated) | note |\n"
    << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const ModelResult& r : results) {
    const MesaModel& m = r.mesa;
    const OurModel& u = r.ours;
    const bool ms = r.has_mesa && !m.streams.jobs.empty();
    const std::string dash = "&mdash;";
    auto mesa_or = [&](const std::string& v) { return r.has_mesa ? v : dash; };
    auto mesa_stream = [&](const std::string& v) { return ms ? v : dash; };
    const size_t total = r.has_mesa ? m.nodes.size() : static_cast<size_t>(u.nodes);
    o << "| " << r.name << " | "
      << pair(mesa_or(std::to_string(m.delegated_nodes)), std::to_string(u.delegated_nodes)) << " of " << total
      << " | " << pair(mesa_or(std::to_string(m.partitions)), std::to_string(u.partitions)) << " | "
      << pair(mesa_or(std::to_string(m.streams.submits)), std::to_string(u.streams.submits)) << " | "
      << pair(mesa_stream(std::to_string(m.streams.jobs.size())), std::to_string(u.streams.jobs.size())) << " | "
      << pair(mesa_stream(std::to_string(m.streams.task_count())), std::to_string(u.streams.task_count())) << " | "
      << pair(mesa_stream(num(m.streams.word_count())), num(u.streams.word_count())) << " | "
      << pair(mesa_or(std::to_string(m.bos_created)), std::to_string(u.bos_created)) << " | "
      << pair(mesa_or(num(m.bo_bytes)), num(u.bo_bytes)) << " | "
      << pair(ms && r.mesa_replay.ok ? num(r.mesa_replay.bytes_read + r.mesa_replay.bytes_written) : dash,
              u.ran ? num(u.dram_read + u.dram_written) : dash)
      << " | " << pair(ms && r.mesa_replay.ok ? num(r.mesa_replay.macs) : dash, u.ran ? num(u.macs) : dash) << " | ";
    std::vector<std::string> notes;
    auto note = kMesaNotes.find(r.name);
    if (!r.has_mesa) notes.push_back("no Mesa capture of this model");
    else if (note != kMesaNotes.end()) notes.push_back(note->second);
    if (ms && !r.mesa_replay.ok) notes.push_back("Mesa replay failed: " + r.mesa_replay.error);
    if (!u.ran) notes.push_back("nonstick run failed: " + u.error);
    if (u.ran && (u.stats_jobs != static_cast<int>(u.streams.jobs.size()) ||
                  u.stats_tasks != static_cast<int>(u.streams.task_count()) || u.stats_words != u.streams.word_count())) {
      notes.push_back("rocket_stats() disagrees with the submitted streams");
    }
    if (u.fell_back) notes.push_back("nonstick fell back to the reference backend after a device fault");
    if (!u.unfused_adds.empty()) {
      notes.push_back("nonstick: " + std::to_string(u.fused_adds) + " ADDs fused, " +
                      std::to_string(u.unfused_adds.size()) + " as their own jobs");
    } else if (u.fused_adds) {
      notes.push_back("nonstick: " + std::to_string(u.fused_adds) + " ADDs fused");
    }
    const std::string cpu = cpu_summary(u);
    if (!cpu.empty()) notes.push_back("nonstick CPU: " + cpu);
    // Why ops of the NPU's family stay on the CPU with us.
    std::set<std::string> why;
    for (const auto& [node, reason] : u.cpu_reasons) {
      auto t = u.node_types.find(node);
      if (t != u.node_types.end() && (t->second == "CONV_2D" || t->second == "DEPTHWISE_CONV_2D" ||
                                      t->second == "FULLY_CONNECTED" || t->second == "ADD")) {
        why.insert(t->second + ": " + reason);
      }
    }
    for (const std::string& w : why) notes.push_back("nonstick CPU " + w);
    for (size_t k = 0; k < notes.size(); ++k) o << (k ? "; " : "") << notes[k];
    o << " |\n";
  }
  o << "\nWhy the fields of the streams differ: `docs/rocket-register-diff.md`.\n";
  return o.str();
}

int run_tool(const ToolOptions& options) {
  std::string data = options.data_dir;
  if (data.empty()) {
    const char* env = std::getenv("NONSTICK_DATA");
    data = env && *env ? env : "../shared";
  }
  const std::string goldens = data + "/goldens/rocket";
  std::string error;
  std::vector<std::string> names = captured_models(goldens, &error);
  if (names.empty()) {
    std::fprintf(stderr, "rocket_mesa_diff: no captures under %s: %s\n", goldens.c_str(), error.c_str());
    return 2;
  }
  std::set<std::string> captured(names.begin(), names.end()), files;
  for (const std::string& n : names) files.insert(model_file_for(data, n));
  std::vector<std::pair<std::string, bool>> todo;
  for (const std::string& n : names) todo.push_back({n, fs::is_directory(goldens + "/" + n)});
  // Models without a capture still get our numbers in the comparison table.
  std::vector<std::string> extra;
  if (fs::is_directory(data + "/models")) {
    for (const auto& e : fs::directory_iterator(data + "/models")) {
      if (e.path().extension() == ".tflite" && !files.count(e.path().string())) extra.push_back(e.path().stem().string());
    }
  }
  std::sort(extra.begin(), extra.end());
  for (const std::string& n : extra) todo.push_back({n, false});

  std::vector<ModelResult> results;
  int unexplained = 0;
  for (const auto& [name, has_capture] : todo) {
    if (!options.only_model.empty() && name != options.only_model) continue;
    std::fprintf(stderr, "rocket_mesa_diff: %s\n", name.c_str());
    results.push_back(analyse_model(data, name, has_capture));
    const ModelResult& r = results.back();
    if (!r.ours.ran) std::fprintf(stderr, "  nonstick: %s\n", r.ours.error.c_str());
    if (!r.diffed) continue;
    const ModelDiff& d = r.diff;
    std::printf("%s: %zu jobs, %d tasks, %llu words (%llu identical, %llu after relocation)\n", r.name.c_str(),
                d.jobs.size(), d.tasks_compared, static_cast<unsigned long long>(d.words),
                static_cast<unsigned long long>(d.words_identical), static_cast<unsigned long long>(d.words_relocated));
    for (const auto& [id, n] : d.by_reason) std::printf("  %-28s %d\n", id.c_str(), n);
    unexplained += d.unexplained();
    for (const auto& [label, why] : d.extra_jobs) {
      if (options.verbose || why == kUnexplained) std::printf("    extra job %s: %s\n", label.c_str(), why.c_str());
    }
    if (options.verbose || (options.check && d.unexplained())) {
      for (const JobDiff& j : d.jobs) {
        if (options.verbose && !j.note.empty()) std::printf("    %s: %s\n", j.label.c_str(), j.note.c_str());
        for (const FieldDiff& f : j.diffs) {
          if (!options.verbose && f.reason != kUnexplained) continue;
          std::printf("    %s task %d %s.%s: Mesa %s, ours %s [%s]\n", j.label.c_str(), f.task, f.reg.c_str(),
                      f.field.c_str(), f.mesa.c_str(), f.ours.c_str(), f.reason.c_str());
        }
      }
    }
  }
  auto write = [](const std::string& path, const std::string& text) {
    std::ofstream f(path, std::ios::binary);
    f << text;
    return static_cast<bool>(f);
  };
  if (!options.diff_out.empty() && !write(options.diff_out, render_register_diff(results))) return 2;
  if (!options.table_out.empty() && !write(options.table_out, render_comparison(results))) return 2;
  if (options.check && unexplained) {
    std::fprintf(stderr, "rocket_mesa_diff: %d UNEXPLAINED differing fields\n", unexplained);
    return 1;
  }
  return 0;
}

}  // namespace nonstick::mesa_diff
