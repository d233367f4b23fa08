// study_file.h
//
// A study file (scenarios/studies/*.json): a sweep written down, so that a
// study is one command (`vmbsim sweep --study NAME`) and its report is
// reproducible byte for byte.
//
//   {
//     "name": "monitor_latency_knee",
//     "description": "...",
//     "scenario": "monitor_latency_batching",      // a library name, or a path
//                                                  // relative to the study file
//     "seeds": 10,
//     "set": ["stop.time_ns=1000000000"],          // overrides at every point
//     "grid": [{"path": "channels.0.interrupt_latency_100ns", "values": [0, 250, 1000]}],
//     "zip":  [{"path": "...", "values": [...]}, ...],   // varied together
//     "ci_target": "2%", "ci_metrics": ["c0.rtt_mean_ns"],
//     "charts": ["c0.rtt_p99_ns", "c0.packets_per_doorbell"], // for `vmbsim report`
//     "knees": ["interrupts_per_packet"],          // charts whose knee the report marks
//     "spread": "fabric.monitor_mode",             // a grid path the report spans with a band
//     "distributions": [0, 15]                     // points whose histograms the report draws
//   }
//
// Values are any JSON; each becomes the text of an override as `--set` takes
// it. Reading is strict, as the scenario loader is: unknown keys, wrong types
// and empty grids are errors naming the JSON pointer. This is the one other
// place JSON is read (the scenario loader being the first), for the same
// reason: JSON becomes a validated value at the boundary.

#ifndef VMBSIM_TOOLS_STUDIES_STUDY_FILE_H_
#define VMBSIM_TOOLS_STUDIES_STUDY_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmbsim::studies {

struct StudyAxisSpec {
  std::string path;
  std::vector<std::string> values;  // JSON text of each value.
};

struct StudySpec {
  std::string name;
  std::string description;
  std::string scenario;  // As written.
  std::optional<uint64_t> seeds;
  std::vector<std::string> overrides;
  std::vector<StudyAxisSpec> grid;
  std::vector<StudyAxisSpec> zip;
  std::optional<std::string> ci_target;
  std::vector<std::string> ci_metrics;
  std::vector<std::string> charts;
  std::vector<std::string> knees;
  std::string spread;  // Empty: none. Must name a "grid" path (checked here).
  std::vector<uint64_t> distributions;  // Point indices (checked against the points at report time).
};

// Parses a study file's text; `source` starts every error message.
absl::StatusOr<StudySpec> ParseStudy(absl::string_view json_text, absl::string_view source);

// Reads and parses the file at `path`. NotFound when it cannot be read.
absl::StatusOr<StudySpec> LoadStudyFile(const std::string& path);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_STUDY_FILE_H_
