// Loads one of Mesa's captured rocket sessions
// (<shared>/goldens/rocket/<model>/, described in its README.md): the BOs in
// creation order (events.log) with their captured DMA addresses and contents
// (submit_NNNN.json + blobs/), every submit's jobs and tasks, the TFLite node
// table (index.json) and the model's input and CPU reference outputs.
//
// Header-only: tests/CMakeLists.txt compiles *_test.cc and support/*.cc, so
// the implementation lives here (inline) for the tests that include it.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "tools/rocket_mesa_diff/json.h"
#include "virtual/rk3588/npu_core.h"

namespace nonstick::testing {

struct CapturedBo {
  uint32_t handle = 0;
  uint32_t size = 0;     // as Mesa requested
  uint64_t dma = 0;      // the fake allocator's IOVA
  std::vector<uint8_t> contents;  // first dumped contents (empty: never dumped)
  bool dumped = false;
};

struct CapturedTask {
  uint32_t regcmd_dma = 0;
  uint32_t regcmd_count = 0;
};

struct CapturedJob {
  std::vector<CapturedTask> tasks;
  std::vector<uint32_t> in_handles, out_handles;
  std::vector<std::string> ops;  // partition_ops_inferred, e.g. "CONV#8", "ADD#9"
};

struct CapturedSubmit {
  std::vector<CapturedJob> jobs;
};

struct CapturedNode {
  int index = -1;  // TFLite node index
  std::string type;
  bool delegated = false;
};

struct GoldenCapture {
  std::string dir;
  std::string model_source;
  std::map<uint32_t, CapturedBo> bos;       // every BO created, by handle
  std::vector<uint32_t> creation_order;     // handles as events.log created them
  std::vector<CapturedSubmit> submits;      // one per partition per invoke
  std::vector<std::vector<std::string>> partitions;  // op types of each compiled partition
  std::vector<CapturedNode> nodes;
  std::vector<uint8_t> input;               // input_0.bin
  std::vector<std::vector<uint8_t>> cpu_outputs;  // cpu_output_<n>.bin
};

// Reads <dir> (a capture folder) and the matching index.json entry of its
// parent. False with *error set when something is missing or malformed.
inline bool load_golden_capture(const std::string& dir, GoldenCapture* capture, std::string* error);

// The captured BOs as the NPU sees them: each at its captured IOVA, holding
// its captured contents, page-rounded and zero-filled like shmem pages.
class CaptureMemory : public virt::DeviceMemory {
 public:
  explicit CaptureMemory(const GoldenCapture& capture);
  uint8_t* resolve(uint64_t iova, uint64_t bytes) override;
  // The BO's host bytes (page-rounded size), or null for an unknown handle.
  uint8_t* bo(uint32_t handle, uint64_t* size = nullptr);

 private:
  struct Region {
    uint64_t dma = 0;
    std::vector<uint8_t> bytes;
  };
  std::map<uint64_t, Region> by_dma_;
  std::map<uint32_t, uint64_t> dma_of_;
};


namespace golden_detail {

namespace fs = std::filesystem;

using mesa_diff::Json;

inline bool read_bytes(const fs::path& path, std::vector<uint8_t>* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path.string();
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

inline bool read_json(const fs::path& path, Json* out, std::string* error) {
  return mesa_diff::read_json_file(path.string(), out, error);
}

inline std::vector<uint32_t> handles(const Json& a) {
  std::vector<uint32_t> v;
  for (const Json& h : a.array) v.push_back(static_cast<uint32_t>(h.as_int()));
  return v;
}

}  // namespace golden_detail

inline bool load_golden_capture(const std::string& dir, GoldenCapture* c, std::string* error) {
  using namespace golden_detail;
  *c = {};
  c->dir = dir;
  const fs::path root(dir);

  // BOs in creation order, with the fake allocator's addresses.
  std::ifstream events(root / "events.log");
  if (!events) {
    *error = "no events.log in " + dir;
    return false;
  }
  const std::regex create(R"(create_bo size=(\d+) -> handle=(\d+) dma=0x([0-9a-f]+))");
  std::string line;
  std::smatch m;
  while (std::getline(events, line)) {
    if (!std::regex_search(line, m, create)) continue;
    CapturedBo bo;
    bo.size = static_cast<uint32_t>(std::stoul(m[1]));
    bo.handle = static_cast<uint32_t>(std::stoul(m[2]));
    bo.dma = std::stoull(m[3], nullptr, 16);
    c->creation_order.push_back(bo.handle);
    c->bos[bo.handle] = std::move(bo);
  }

  for (int n = 0;; ++n) {
    char name[32];
    std::snprintf(name, sizeof name, "submit_%04d.json", n);
    if (!fs::exists(root / name)) break;
    Json j;
    if (!read_json(root / name, &j, error)) return false;
    CapturedSubmit submit;
    for (const Json& jj : j["jobs"].array) {
      CapturedJob job;
      job.in_handles = handles(jj["in_bo_handles"]);
      job.out_handles = handles(jj["out_bo_handles"]);
      for (const Json& t : jj["tasks"].array) {
        job.tasks.push_back({static_cast<uint32_t>(t["regcmd_dma"].as_int()),
                             static_cast<uint32_t>(t["regcmd_count"].as_int())});
      }
      for (const Json& o : jj["partition_ops_inferred"].array) job.ops.push_back(o.string);
      submit.jobs.push_back(std::move(job));
    }
    for (const Json& b : j["bos"].array) {
      const uint32_t handle = static_cast<uint32_t>(b["handle"].as_int());
      auto it = c->bos.find(handle);
      if (it == c->bos.end() || it->second.dma != static_cast<uint64_t>(b["dma_address"].as_int())) {
        *error = std::string(name) + ": BO " + std::to_string(handle) + " disagrees with events.log";
        return false;
      }
      if (it->second.dumped) continue;  // keep the first dump
      if (!read_bytes(root / b["blob"].string, &it->second.contents, error)) return false;
      it->second.dumped = true;
    }
    c->submits.push_back(std::move(submit));
  }

  Json index;
  if (!read_json(root.parent_path() / "index.json", &index, error)) return false;
  const Json& entry = index[root.filename().string()];
  if (entry.is_null()) {
    *error = "index.json has no entry " + root.filename().string();
    return false;
  }
  c->model_source = entry["model_source"].string;
  for (const Json& n : entry["tflite_nodes"].array) {
    c->nodes.push_back({static_cast<int>(n["tflite_op_index"].as_int()), n["type"].string, n["delegated"].boolean});
  }
  for (const Json& p : entry["partitions_compiled"].array) {
    std::vector<std::string> types;
    for (const Json& op : p.array) types.push_back(op[0].string);
    c->partitions.push_back(std::move(types));
  }

  if (!read_bytes(root / "input_0.bin", &c->input, error)) return false;
  for (int n = 0;; ++n) {
    const fs::path out = root / ("cpu_output_" + std::to_string(n) + ".bin");
    if (!fs::exists(out)) break;
    c->cpu_outputs.emplace_back();
    if (!read_bytes(out, &c->cpu_outputs.back(), error)) return false;
  }
  return true;
}

inline CaptureMemory::CaptureMemory(const GoldenCapture& capture) {
  for (uint32_t handle : capture.creation_order) {
    const CapturedBo& bo = capture.bos.at(handle);
    Region r;
    r.dma = bo.dma;
    r.bytes.assign((uint64_t{bo.size} + 4095) / 4096 * 4096, 0);
    std::copy(bo.contents.begin(), bo.contents.end(), r.bytes.begin());
    dma_of_[handle] = bo.dma;
    by_dma_[bo.dma] = std::move(r);
  }
}

inline uint8_t* CaptureMemory::resolve(uint64_t iova, uint64_t bytes) {
  auto it = by_dma_.upper_bound(iova);
  if (it == by_dma_.begin()) return nullptr;
  --it;
  Region& r = it->second;
  const uint64_t offset = iova - r.dma;
  if (offset >= r.bytes.size() || bytes > r.bytes.size() - offset) return nullptr;
  return r.bytes.data() + offset;
}

inline uint8_t* CaptureMemory::bo(uint32_t handle, uint64_t* size) {
  auto it = dma_of_.find(handle);
  if (it == dma_of_.end()) return nullptr;
  Region& r = by_dma_.at(it->second);
  if (size) *size = r.bytes.size();
  return r.bytes.data();
}

}  // namespace nonstick::testing
