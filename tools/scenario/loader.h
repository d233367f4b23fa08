// loader.h
//
// Scenario JSON to a validated ScenarioSpec (spec.h). This is the only code
// in vmbsim that reads JSON (DESIGN.md); everything downstream sees the spec.
//
// The format: JSON keys are exactly the spec.h field names, nested as the
// structs are, and every key except the top-level "name" (and the few keys a
// channel, workload, latency bound or finding cannot do without) has the
// spec.h default. scenarios/scenario.schema.json describes the same format
// for editors; schema_test.cc keeps the two in agreement through
// KnownKeysForSchemaTest() and EnumValuesForSchemaTest().
//
// Every problem is an absl::InvalidArgumentError with one message that names
// the place:
//   hello.json: /channels/0/max_packet_bytes: expected an integer in 1..16777216, found "big"
//   hello.json: /channels/0/max_packet_size: unknown key; did you mean "max_packet_bytes"?
//   hello.json: /channels/0: missing required key "guest_driver"
//   hello.json:3:17: invalid JSON: syntax error while parsing value - ...
// The pointer is an RFC 6901 JSON pointer into the document after `--set`
// overrides (the whole document when the pointer is empty, in which case
// the message is "<source>: <what>"). Loading stops at the first problem.
//
// Integers may be written as integral floats (1e6), as JSON Schema's
// "integer" allows. `null` is accepted only for the std::optional fields
// and means "unset". A key repeated in one object is an error (nlohmann
// would silently keep the last one).
//
// Left out on purpose: fault plans ("faults" must be absent or {} until the
// fault-injection issue lands), cross-checks that need the fabric's
// arithmetic (does max_packet_bytes fit the ring?) — the world builder
// reports those.

#ifndef VMBSIM_TOOLS_SCENARIO_LOADER_H_
#define VMBSIM_TOOLS_SCENARIO_LOADER_H_

#include <map>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {

enum class ParamType { kInt, kBool, kString, kDistribution };

// One parameter a driver declares. In a scenario, a kInt parameter takes a
// JSON integer in [int_min, int_max], kBool a JSON boolean, kString a JSON
// string, kDistribution a distribution of durations in ns (the
// DistributionSpec shape of spec.h with "_ns" keys, e.g. {"kind":
// "exponential", "mean_ns": 10000}).
struct DriverParam {
  std::string name;
  ParamType type = ParamType::kInt;
  std::string doc;
  int64_t int_min = std::numeric_limits<int64_t>::min();
  int64_t int_max = std::numeric_limits<int64_t>::max();
};

// A driver the scenario may name: built-in or loaded with --driver-lib.
struct DriverDescriptor {
  std::string name;
  std::string description;
  bool host_side = false;   // May serve offers on the root partition (host_driver).
  bool guest_side = false;  // May open channels in a guest (guest_driver).
  std::vector<DriverParam> params;
  // Serves its requests through the channel's shared back-end when the
  // channel names one ("channels[].backend"); the loader refuses a backend on
  // a channel whose host driver does not.
  bool uses_backend = false;
};

// Parses `json_text`, applies `overrides` in order, validates the result
// and returns the spec. `source_name` starts every error message (a file
// name, or "<stdin>"). Drivers named by the scenario must be in `drivers`
// and allowed on their side; their "params" are checked against the
// declared parameters and sorted into DriverSpec's int/bool/string maps.
//
// An override is "path=value". `path` is a JSON pointer
// ("/channels/0/max_packet_bytes") or dotted ("channels.0.max_packet_bytes");
// `value` is parsed as JSON when it is valid JSON and taken as a string
// otherwise ("name=fast" and "name=\"fast\"" both set a string). Missing
// object keys along the path are created; array elements are not.
//
// Returns InvalidArgumentError for any problem in the text, an override or
// the validated values (see the file comment for the message shapes).
absl::StatusOr<ScenarioSpec> LoadScenario(absl::string_view json_text,
                                          absl::string_view source_name,
                                          const std::vector<DriverDescriptor>& drivers,
                                          const std::vector<std::string>& overrides = {});

// Checks what the workloads of `spec` ask of each channel's guest driver. A
// guest driver gets one request size (DriverContext::request_bytes_max, the
// plugin's RequestBytes) and at most one closed loop, and nothing may be
// silently cut, resized or dropped to fit, so:
//   - no request is larger than RequestBytesMax(channel) (spec.h);
//   - a closed_loop workload has a "fixed" size (the driver keeps
//     `outstanding` requests of that one size in flight) and is the only
//     closed loop on its channel;
//   - an open-loop workload beside a closed loop draws no request larger
//     than the closed loop's (that size is the driver's request buffer).
// Returns InvalidArgumentError "<pointer>: expected ..., found ..." naming
// the workload's field and the field it is measured against, e.g.
//   /workloads/0/size/max_bytes: expected a request of at most 4096 bytes
//   (/channels/0/max_packet_bytes), found 8192
// LoadScenario applies it (with the source name in front); RunScenario
// applies it again, for specs built in code.
absl::Status CheckWorkloadRequests(const ScenarioSpec& spec);

// Reads the file at `path` and loads it with `path` as the source name.
// A scenario file may have at most 64 MiB: a regular file's size is checked
// on the open file before any byte is read, and a pipe is read only up to
// the limit. Returns NotFoundError when the file cannot be opened or read
// (a directory included), InvalidArgumentError when it is too large
// ("<path>: <n> bytes, more than a scenario file may have (67108864); not
// read") or as LoadScenario does.
absl::StatusOr<ScenarioSpec> LoadScenarioFile(const std::string& path,
                                              const std::vector<DriverDescriptor>& drivers,
                                              const std::vector<std::string>& overrides = {});

// `document_json` (a scenario document) with its "workloads" replaced by
// `workloads`, serialised as the loader reads them; only "trace" arrivals
// are written (what-if replay builds them from a recording). Errors:
// InvalidArgumentError when the document is not a JSON object.
// REQUIRES: every workload's arrival kind is "trace".
absl::StatusOr<std::string> WithWorkloads(absl::string_view document_json,
                                          const std::vector<WorkloadSpec>& workloads);

// The cost-model field names "fabric.cost_overrides" accepts, in CostModel
// declaration order (sim/fabric/cost_model.h).
const std::vector<std::string>& CostOverrideNames();

// For schema_test: the keys the loader accepts in each object, keyed by a
// schema path: "" (top level), "stop", "fabric", "fabric.guests[]",
// "fabric.cost_overrides", "channels[]", "channels[].host_driver",
// "workloads[].size.table[]", ..., "faults" (no keys). Driver "params" are
// open maps and have no entry.
std::map<std::string, std::vector<std::string>> KnownKeysForSchemaTest();

// For schema_test: the accepted values of each enum-valued string field,
// keyed by schema path ("fabric.cost_profile", "workloads[].arrival.kind",
// "expectations.findings[].rule", ...).
std::map<std::string, std::vector<std::string>> EnumValuesForSchemaTest();

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_LOADER_H_
