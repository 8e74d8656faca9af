// A small JSON reader for the capture files of the Mesa goldens
// (index.json, submit_NNNN.json): enough of RFC 8259 for those files, with
// numbers kept as doubles (every integer in them fits 2^53).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nonstick::mesa_diff {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  // Member `key` of an object, or a shared null value.
  const Json& operator[](const std::string& key) const;
  const Json& operator[](size_t i) const;
  size_t size() const { return kind == Kind::kArray ? array.size() : object.size(); }
  bool is_null() const { return kind == Kind::kNull; }
  long long as_int() const { return static_cast<long long>(number); }
};

// Parses `text`; false with *error (and the byte offset) on malformed input.
bool parse_json(const std::string& text, Json* out, std::string* error);

// Reads and parses a file.
bool read_json_file(const std::string& path, Json* out, std::string* error);

// Whole file as bytes / text; empty when unreadable.
std::string read_text_file(const std::string& path);

}  // namespace nonstick::mesa_diff
