// The tool's driver and its two generated documents:
//   docs/rocket-register-diff.md  field-by-field diff with a reason per field
//   docs/rocket-vs-mesa.md        side-by-side numbers per model
#pragma once

#include <string>
#include <vector>

#include "tools/rocket_mesa_diff/capture.h"
#include "tools/rocket_mesa_diff/diff.h"
#include "tools/rocket_mesa_diff/ours.h"
#include "tools/rocket_mesa_diff/proof.h"
#include "tools/rocket_mesa_diff/replay.h"

namespace nonstick::mesa_diff {

struct ToolOptions {
  std::string data_dir;   // empty: $NONSTICK_DATA, else ../shared
  std::string diff_out;   // empty: not written
  std::string table_out;
  std::string only_model;  // empty: every captured model
  bool check = false;      // exit 1 on any UNEXPLAINED difference
  bool verbose = false;
};

// Everything known about one model, both sides.
struct ModelResult {
  std::string name;
  std::string model_file;  // .tflite used for our run ("" if none found)
  bool has_mesa = false;
  MesaModel mesa;
  OurModel ours;
  bool diffed = false;
  ModelDiff diff;
  ReplayCounts mesa_replay;
  // The exactness proof per Mesa job, Mesa's programming vs ours.
  ModelProof proof;
};

// The .tflite under <data>/models for a capture folder name.
std::string model_file_for(const std::string& data_dir, const std::string& name);

// Loads, runs, diffs and replays one model.
ModelResult analyse_model(const std::string& data_dir, const std::string& name, bool has_capture);

std::string render_register_diff(const std::vector<ModelResult>& results);
std::string render_comparison(const std::vector<ModelResult>& results);

int run_tool(const ToolOptions& options);

}  // namespace nonstick::mesa_diff
