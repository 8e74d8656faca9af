// Mesa's side: one capture folder of <shared>/goldens/rocket (format in its
// README.md) read into Streams, with each job mapped to the TFLite nodes it
// runs. Jobs carry `partition_ops_inferred` (indices local to the Teflon
// partition); teflon_debug.txt prints each partition's op table with TFLite
// tensor indices, and index.json's node table gives each node's output
// tensors, so local op -> output tensor -> TFLite node.
#pragma once

#include <string>
#include <vector>

#include "tools/rocket_mesa_diff/streams.h"

namespace nonstick::mesa_diff {

struct CapturedNode {
  int index = -1;
  std::string type;  // TFLite name where known (CONV_2D, ...), else Teflon's
  bool delegated = false;
  std::vector<int> inputs, outputs;  // TFLite tensor indices
};

struct MesaModel {
  std::string name;    // folder name
  std::string dir;
  std::string status;  // index.json status ("ok", or why there is no submit)
  std::vector<CapturedNode> nodes;
  int delegated_nodes = 0;
  int partitions = 0;
  Streams streams;     // empty when Mesa never submitted
  // Every BO Mesa created in the session (events.log), one inference.
  int bos_created = 0;
  uint64_t bo_bytes = 0;
  // Sum of the BO sizes listed in the submit JSONs (BOs the submits touch).
  uint64_t submit_bo_bytes = 0;
};

// Names of the capture folders listed in <goldens>/index.json, in file order.
std::vector<std::string> captured_models(const std::string& goldens_dir, std::string* error);

// Loads <goldens>/<name>. False with *error when the files are malformed.
bool load_mesa_model(const std::string& goldens_dir, const std::string& name, MesaModel* out, std::string* error);

// Reads the captured bytes of a BO (submit JSON "blob"), for replay.
struct CapturedBlob {
  uint32_t handle = 0;
  uint64_t dma = 0;
  uint32_t size = 0;
  std::string path;
};
std::vector<CapturedBlob> captured_blobs(const MesaModel& model, int submit);

// TFLite's builtin name for a Teflon op type ("CONV" -> "CONV_2D", ...).
std::string tflite_type_name(const std::string& teflon_type);

}  // namespace nonstick::mesa_diff
