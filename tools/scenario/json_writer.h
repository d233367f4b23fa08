// json_writer.h
//
// A minimal streaming JSON writer (objects and arrays, two-space indent,
// keys in the order written) for the files vmbsim writes: report.json and
// the sweep results. Reading JSON stays with the loaders; writing needs no
// library, and a fixed key order keeps outputs byte-comparable.

#ifndef VMBSIM_TOOLS_SCENARIO_JSON_WRITER_H_
#define VMBSIM_TOOLS_SCENARIO_JSON_WRITER_H_

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmbsim::scenario {

// The shortest decimal text that reads back as exactly `value` ("0.1",
// "1e+21", "12345"); "null" for a value that is not finite.
inline std::string ExactNumber(double value) {
  if (!std::isfinite(value)) return "null";
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, r.ptr);
}

class Json {
 public:
  Json& Begin(char open) {
    Separator();
    out_ += open;
    first_.push_back(true);
    return *this;
  }
  Json& End(char close) {
    first_.pop_back();
    out_ += '\n';
    Indent();
    out_ += close;
    return *this;
  }
  Json& Key(const std::string& key) {
    Separator();
    Quote(key);
    out_ += ": ";
    after_key_ = true;
    return *this;
  }
  Json& Str(const std::string& value) {
    Separator();
    Quote(value);
    return *this;
  }
  Json& Int(int64_t value) {
    Separator();
    absl::StrAppend(&out_, value);
    return *this;
  }
  Json& UInt(uint64_t value) {
    Separator();
    absl::StrAppend(&out_, value);
    return *this;
  }
  Json& Num(double value) {
    Separator();
    if (!std::isfinite(value)) {
      out_ += "null";
    } else {
      absl::StrAppend(&out_, absl::StrFormat("%.6g", value));
    }
    return *this;
  }
  // `value` in its shortest exact form (ExactNumber).
  Json& Exact(double value) {
    Separator();
    out_ += ExactNumber(value);
    return *this;
  }
  Json& Null() {
    Separator();
    out_ += "null";
    return *this;
  }
  Json& Bool(bool value) {
    Separator();
    out_ += value ? "true" : "false";
    return *this;
  }
  // key: value helpers.
  Json& KStr(const std::string& k, const std::string& v) { return Key(k).Str(v); }
  Json& KInt(const std::string& k, int64_t v) { return Key(k).Int(v); }
  Json& KUInt(const std::string& k, uint64_t v) { return Key(k).UInt(v); }
  Json& KNum(const std::string& k, double v) { return Key(k).Num(v); }
  Json& KBool(const std::string& k, bool v) { return Key(k).Bool(v); }
  Json& KExact(const std::string& k, double v) { return Key(k).Exact(v); }
  std::string Take() { return std::move(out_) + "\n"; }

 private:
  void Separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      out_ += '\n';
      Indent();
    }
  }
  void Indent() { out_.append(2 * first_.size(), ' '); }
  void Quote(const std::string& s) {
    out_ += '"';
    for (char c : s) {
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\n': out_ += "\\n"; break;
        case '\t': out_ += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            absl::StrAppend(&out_, absl::StrFormat("\\u%04x", c));
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
  }

  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_JSON_WRITER_H_
