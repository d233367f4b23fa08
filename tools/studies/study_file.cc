#include "tools/studies/study_file.h"

#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tools/studies/sweep_plan.h"

namespace vmbsim::studies {
namespace {

using nlohmann::json;

absl::Status Error(absl::string_view source, const std::string& pointer, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", pointer, ": ", what));
}

std::string Found(const json& value) { return value.dump(); }

absl::Status ReadString(absl::string_view source, const json& doc, const std::string& key, std::string* out) {
  const json& v = doc.at(key);
  if (!v.is_string()) return Error(source, "/" + key, "expected a string, found " + Found(v));
  *out = v.get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadStrings(absl::string_view source, const json& doc, const std::string& key,
                         std::vector<std::string>* out) {
  const json& v = doc.at(key);
  if (!v.is_array()) return Error(source, "/" + key, "expected an array of strings, found " + Found(v));
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) {
      return Error(source, absl::StrCat("/", key, "/", i), "expected a string, found " + Found(v[i]));
    }
    out->push_back(v[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ReadAxes(absl::string_view source, const json& doc, const std::string& key,
                      std::vector<StudyAxisSpec>* out) {
  const json& v = doc.at(key);
  if (!v.is_array()) return Error(source, "/" + key, "expected an array of {path, values}, found " + Found(v));
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string pointer = absl::StrCat("/", key, "/", i);
    const json& a = v[i];
    if (!a.is_object()) return Error(source, pointer, "expected an object {path, values}, found " + Found(a));
    for (const auto& [k, unused] : a.items()) {
      if (k != "path" && k != "values") return Error(source, pointer + "/" + k, "unknown key (expected path, values)");
    }
    if (!a.contains("path") || !a["path"].is_string() || a["path"].get<std::string>().empty()) {
      return Error(source, pointer + "/path", "expected a non-empty string");
    }
    if (!a.contains("values") || !a["values"].is_array() || a["values"].empty()) {
      return Error(source, pointer + "/values", "expected a non-empty array of values");
    }
    StudyAxisSpec axis;
    axis.path = a["path"].get<std::string>();
    if (absl::Status seed = CheckAxisPath(absl::StrCat(source, ": ", pointer, "/path"), axis.path); !seed.ok()) {
      return seed;
    }
    for (const json& value : a["values"]) axis.values.push_back(value.dump());
    out->push_back(std::move(axis));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StudySpec> ParseStudy(absl::string_view json_text, absl::string_view source) {
  const json doc = json::parse(json_text.begin(), json_text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON"));
  if (!doc.is_object()) return Error(source, "", "expected an object");
  static const std::set<std::string> kKeys = {"name", "description", "scenario", "seeds",      "set",
                                              "grid", "zip",         "ci_target", "ci_metrics", "charts", "knees", "spread",
                                              "distributions"};
  for (const auto& [key, unused] : doc.items()) {
    if (kKeys.count(key) == 0) return Error(source, "/" + key, "unknown key");
  }
  StudySpec study;
  for (const char* required : {"name", "scenario"}) {
    if (!doc.contains(required)) return Error(source, "", absl::StrCat("missing required key \"", required, "\""));
  }
  if (auto s = ReadString(source, doc, "name", &study.name); !s.ok()) return s;
  if (auto s = ReadString(source, doc, "scenario", &study.scenario); !s.ok()) return s;
  if (doc.contains("description")) {
    if (auto s = ReadString(source, doc, "description", &study.description); !s.ok()) return s;
  }
  if (doc.contains("seeds")) {
    const json& v = doc["seeds"];
    if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > 1'000'000) {
      return Error(source, "/seeds", "expected an integer in 1..1000000, found " + Found(v));
    }
    study.seeds = v.get<uint64_t>();
  }
  if (doc.contains("set")) {
    if (auto s = ReadStrings(source, doc, "set", &study.overrides); !s.ok()) return s;
  }
  if (doc.contains("grid")) {
    if (auto s = ReadAxes(source, doc, "grid", &study.grid); !s.ok()) return s;
  }
  if (doc.contains("zip")) {
    if (auto s = ReadAxes(source, doc, "zip", &study.zip); !s.ok()) return s;
  }
  if (study.grid.empty() && study.zip.empty()) return Error(source, "", "a study needs a \"grid\" or a \"zip\"");
  if (doc.contains("ci_target")) {
    std::string target;
    if (auto s = ReadString(source, doc, "ci_target", &target); !s.ok()) return s;
    study.ci_target = target;
  }
  if (doc.contains("ci_metrics")) {
    if (auto s = ReadStrings(source, doc, "ci_metrics", &study.ci_metrics); !s.ok()) return s;
  }
  if (doc.contains("charts")) {
    if (auto s = ReadStrings(source, doc, "charts", &study.charts); !s.ok()) return s;
  }
  if (doc.contains("knees")) {
    if (auto s = ReadStrings(source, doc, "knees", &study.knees); !s.ok()) return s;
  }
  if (doc.contains("spread")) {
    if (auto s = ReadString(source, doc, "spread", &study.spread); !s.ok()) return s;
    const bool swept = std::any_of(study.grid.begin(), study.grid.end(),
                                   [&](const StudyAxisSpec& axis) { return axis.path == study.spread; });
    if (!swept) return Error(source, "/spread", absl::StrCat("'", study.spread, "' is not a \"grid\" path"));
  }
  if (doc.contains("distributions")) {
    const json& v = doc.at("distributions");
    if (!v.is_array()) return Error(source, "/distributions", "expected an array of point numbers, found " + Found(v));
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number_unsigned()) {
        return Error(source, absl::StrCat("/distributions/", i), "expected a point number (0, 1, ...), found " + Found(v[i]));
      }
      study.distributions.push_back(v[i].get<uint64_t>());
    }
  }
  return study;
}

absl::StatusOr<StudySpec> LoadStudyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the study file"));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseStudy(text.str(), path);
}

}  // namespace vmbsim::studies
