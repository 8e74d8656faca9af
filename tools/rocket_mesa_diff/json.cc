#include "tools/rocket_mesa_diff/json.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace nonstick::mesa_diff {
namespace {

const Json kNull;

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  bool parse(Json* out, std::string* error) {
    if (!value(out) || (skip(), pos_ != s_.size())) {
      *error = "malformed JSON at byte " + std::to_string(pos_);
      return false;
    }
    return true;
  }

 private:
  void skip() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t')) ++pos_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(pos_, w.size(), w) != 0) return false;
    pos_ += w.size();
    return true;
  }
  bool string(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        const char e = s_[pos_++];
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u': {  // the captures are ASCII: keep the low byte
            if (pos_ + 4 > s_.size()) return false;
            c = static_cast<char>(std::strtol(s_.substr(pos_, 4).c_str(), nullptr, 16) & 0x7f);
            pos_ += 4;
            break;
          }
          default: c = e;  // \" \\ \/
        }
      }
      out->push_back(c);
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  bool value(Json* out) {
    skip();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') {
      out->kind = Json::Kind::kObject;
      ++pos_;
      skip();
      if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
      for (;;) {
        skip();
        std::string key;
        if (!string(&key)) return false;
        skip();
        if (pos_ >= s_.size() || s_[pos_++] != ':') return false;
        if (!value(&out->object[key])) return false;
        skip();
        if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < s_.size() && s_[pos_] == '}') return ++pos_, true;
        return false;
      }
    }
    if (c == '[') {
      out->kind = Json::Kind::kArray;
      ++pos_;
      skip();
      if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
      for (;;) {
        out->array.emplace_back();
        if (!value(&out->array.back())) return false;
        skip();
        if (pos_ < s_.size() && s_[pos_] == ',') { ++pos_; continue; }
        if (pos_ < s_.size() && s_[pos_] == ']') return ++pos_, true;
        return false;
      }
    }
    if (c == '"') {
      out->kind = Json::Kind::kString;
      return string(&out->string);
    }
    if (literal("true")) { out->kind = Json::Kind::kBool; out->boolean = true; return true; }
    if (literal("false")) { out->kind = Json::Kind::kBool; return true; }
    if (literal("null")) return true;
    const char* begin = s_.c_str() + pos_;
    char* end = nullptr;
    out->number = std::strtod(begin, &end);
    if (end == begin) return false;
    out->kind = Json::Kind::kNumber;
    pos_ += static_cast<size_t>(end - begin);
    return true;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

}  // namespace

const Json& Json::operator[](const std::string& key) const {
  if (kind != Kind::kObject) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : it->second;
}

const Json& Json::operator[](size_t i) const { return kind == Kind::kArray && i < array.size() ? array[i] : kNull; }

bool parse_json(const std::string& text, Json* out, std::string* error) {
  *out = Json();
  return Parser(text).parse(out, error);
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool read_json_file(const std::string& path, Json* out, std::string* error) {
  const std::string text = read_text_file(path);
  if (text.empty()) {
    *error = "cannot read " + path;
    return false;
  }
  if (!parse_json(text, out, error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

}  // namespace nonstick::mesa_diff
