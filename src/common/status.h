// Minimal error propagation: an operation either succeeds or carries a
// one-line, human-readable message. No exceptions cross the TFLite boundary.
#pragma once

#include <string>
#include <utility>

namespace nonstick {

class Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  explicit Status(std::string message) : failed_(true), message_(std::move(message)) {}
  bool failed_ = false;
  std::string message_;
};

}  // namespace nonstick
