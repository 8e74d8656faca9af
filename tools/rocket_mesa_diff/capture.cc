#include "tools/rocket_mesa_diff/capture.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

#include "tools/rocket_mesa_diff/json.h"

namespace nonstick::mesa_diff {
namespace {

// "in: 0(u8) 3(u8) 1(i32) out: 2(u8)" -> tensor indices before/after "out:".
void parse_detail(const std::string& detail, std::vector<int>* inputs, std::vector<int>* outputs) {
  std::istringstream in(detail);
  std::string item;
  std::vector<int>* into = nullptr;
  while (in >> item) {
    if (item == "in:") { into = inputs; continue; }
    if (item == "out:") { into = outputs; continue; }
    if (into && !item.empty() && (std::isdigit(static_cast<unsigned char>(item[0])) || item[0] == '-')) {
      into->push_back(std::atoi(item.c_str()));
    }
  }
}

std::vector<int> comma_list(const std::string& s) {
  std::vector<int> v;
  std::istringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) v.push_back(std::atoi(item.c_str()));
  }
  return v;
}

// One row of a Teflon partition op table: local index, type, tensors.
struct LocalOp {
  std::string type;
  std::vector<int> inputs, outputs;
};

// The op tables of teflon_debug.txt, one per compiled partition, in order.
std::vector<std::vector<LocalOp>> partition_tables(const std::string& text) {
  std::vector<std::vector<LocalOp>> tables;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("idx type", 0) == 0) {
      inside = line.find("outputs") != std::string::npos;  // not the node support table
      if (inside) tables.emplace_back();
      continue;
    }
    if (!inside || line.rfind("====", 0) == 0) continue;
    std::istringstream row(line);
    int idx = -1;
    LocalOp op;
    std::string ins, outs;
    if (!(row >> idx >> op.type >> ins >> outs)) {
      inside = false;
      continue;
    }
    op.inputs = comma_list(ins);
    op.outputs = comma_list(outs);
    tables.back().push_back(op);
  }
  return tables;
}

}  // namespace

std::string tflite_type_name(const std::string& t) {
  static const std::map<std::string, std::string> names = {
      {"CONV", "CONV_2D"}, {"DWCONV", "DEPTHWISE_CONV_2D"}, {"FC", "FULLY_CONNECTED"},
      {"AVGPOOL", "AVERAGE_POOL_2D"}, {"MAXPOOL", "MAX_POOL_2D"}, {"CONCAT", "CONCATENATION"},
      {"HSWISH", "HARD_SWISH"}, {"QUANT", "QUANTIZE"}, {"RESIZE", "RESIZE_NEAREST_NEIGHBOR"},
      {"unknown", "CUSTOM"}};
  auto it = names.find(t);
  return it == names.end() ? t : it->second;
}

std::vector<std::string> captured_models(const std::string& goldens_dir, std::string* error) {
  // index.json is an object keyed by folder; keep the file's order.
  const std::string text = read_text_file(goldens_dir + "/index.json");
  Json index;
  std::vector<std::string> names;
  if (!parse_json(text, &index, error)) return names;
  for (const auto& [name, entry] : index.object) names.push_back(name);
  std::sort(names.begin(), names.end(), [&](const std::string& a, const std::string& b) {
    return text.find("\"" + a + "\":") < text.find("\"" + b + "\":");
  });
  return names;
}

bool load_mesa_model(const std::string& goldens_dir, const std::string& name, MesaModel* out, std::string* error) {
  MesaModel m;
  m.name = name;
  m.dir = goldens_dir + "/" + name;
  Json index;
  if (!read_json_file(goldens_dir + "/index.json", &index, error)) return false;
  const Json& entry = index[name];
  if (entry.is_null()) {
    *error = name + " is not in index.json";
    return false;
  }
  m.status = entry["status"].string;
  for (const Json& n : entry["tflite_nodes"].array) {
    CapturedNode node;
    node.index = static_cast<int>(n["tflite_op_index"].as_int());
    node.type = tflite_type_name(n["type"].string);
    node.delegated = n["delegated"].boolean;
    parse_detail(n["detail"].string, &node.inputs, &node.outputs);
    m.delegated_nodes += node.delegated ? 1 : 0;
    m.nodes.push_back(std::move(node));
  }
  m.partitions = static_cast<int>(entry["partitions_compiled"].size());

  // events.log: every BO created in the session.
  std::istringstream events(read_text_file(m.dir + "/events.log"));
  std::string line;
  while (std::getline(events, line)) {
    unsigned size = 0;
    if (std::sscanf(line.c_str(), "create_bo size=%u", &size) == 1) {
      ++m.bos_created;
      m.bo_bytes += size;
    }
  }

  const auto tables = partition_tables(read_text_file(m.dir + "/teflon_debug.txt"));
  auto node_of_output = [&](int tensor) {
    for (const CapturedNode& n : m.nodes) {
      for (int o : n.outputs) {
        if (o == tensor) return n.index;
      }
    }
    return -1;
  };
  std::map<uint32_t, BoRecord> bos;
  for (size_t s = 0; s < entry["submits"].size(); ++s) {
    Json submit;
    if (!read_json_file(m.dir + "/" + entry["submits"][s]["file"].string, &submit, error)) return false;
    if (s >= tables.size()) {
      *error = name + ": submit " + std::to_string(s) + " has no partition op table in teflon_debug.txt";
      return false;
    }
    const std::vector<LocalOp>& table = tables[s];
    for (const Json& j : submit["jobs"].array) {
      JobRecord job;
      job.submit = static_cast<int>(s);
      for (const Json& t : j["in_bo_handles"].array) job.in_handles.push_back(static_cast<uint32_t>(t.as_int()));
      for (const Json& t : j["out_bo_handles"].array) job.out_handles.push_back(static_cast<uint32_t>(t.as_int()));
      for (const Json& op : j["partition_ops_inferred"].array) {  // "CONV#8"
        const std::string& ref = op.string;
        const size_t hash = ref.find('#');
        const size_t local = static_cast<size_t>(std::atoi(ref.c_str() + hash + 1));
        if (hash == std::string::npos || local >= table.size() || table[local].outputs.empty()) {
          *error = name + ": cannot resolve " + ref;
          return false;
        }
        job.nodes.push_back(node_of_output(table[local].outputs[0]));
        job.types.push_back(tflite_type_name(table[local].type));
      }
      for (const Json& t : j["tasks"].array) {
        TaskStream task;
        task.regcmd_dma = static_cast<uint32_t>(t["regcmd_dma"].as_int());
        const std::string raw = read_text_file(m.dir + "/" + t["regcmd_blob"].string);
        task.words.resize(raw.size() / 8);
        std::memcpy(task.words.data(), raw.data(), task.words.size() * 8);
        job.tasks.push_back(std::move(task));
      }
      m.streams.jobs.push_back(std::move(job));
    }
    for (const Json& b : submit["bos"].array) {
      BoRecord r;
      r.handle = static_cast<uint32_t>(b["handle"].as_int());
      r.dma = static_cast<uint64_t>(b["dma_address"].as_int());
      r.size = static_cast<uint32_t>(b["size"].as_int());
      m.submit_bo_bytes += r.size;
      bos[r.handle] = r;
    }
    ++m.streams.submits;
  }
  for (const auto& [h, b] : bos) m.streams.bos.push_back(b);
  *out = std::move(m);
  return true;
}

std::vector<CapturedBlob> captured_blobs(const MesaModel& model, int submit) {
  std::vector<CapturedBlob> blobs;
  char name[40];
  std::snprintf(name, sizeof name, "/submit_%04d.json", submit);
  Json s;
  std::string error;
  if (!read_json_file(model.dir + name, &s, &error)) return blobs;
  for (const Json& b : s["bos"].array) {
    blobs.push_back({static_cast<uint32_t>(b["handle"].as_int()), static_cast<uint64_t>(b["dma_address"].as_int()),
                     static_cast<uint32_t>(b["size"].as_int()), model.dir + "/" + b["blob"].string});
  }
  return blobs;
}

std::string job_label(const JobRecord& job) {
  std::string s;
  for (size_t i = 0; i < job.nodes.size(); ++i) {
    s += (i ? "+" : "") + (i < job.types.size() ? job.types[i] : std::string("?")) + "#" + std::to_string(job.nodes[i]);
  }
  return s;
}

}  // namespace nonstick::mesa_diff
