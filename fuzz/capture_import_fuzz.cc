// capture_import_fuzz.cc
//
// Goal: the capture importers (CSV, and `trace-cmd report` / `perf script`
// text) give any bytes a capture or an error naming the line, and every
// capture they accept becomes a scenario that the loader accepts, as
// `vmbsim import` promises (it exits 70, an internal error, otherwise).
// Method: the first byte picks the importer and the max_packet_bytes
// limit; the rest is the capture text. An accepted capture is turned into
// scenario JSON, summarised, and loaded with the built-in drivers.
//
// Input: [selector u8][capture text...]

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "sim/check.h"
#include "tools/recording/capture_csv.h"
#include "tools/recording/capture_scenario.h"
#include "tools/recording/capture_trace_cmd.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmbsim::recording;
  if (size == 0) return 0;
  static const auto* registry =
      new vmbsim::scenario::DriverRegistry(vmbsim::scenario::DriverRegistry::WithBuiltins());
  const uint8_t selector = data[0];
  // 64..16 KiB in powers of two, and the import command's default.
  const uint32_t max_packet_bytes = (selector & 0x70) == 0 ? 4096 : 32u << ((selector >> 4) & 7);
  const absl::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  absl::StatusOr<Capture> capture = (selector & 1) == 0
                                        ? ParseCsvCapture(text, "fuzz.csv", max_packet_bytes)
                                        : ParseTraceCmdCapture(text, "fuzz.txt", max_packet_bytes);
  if (!capture.ok()) return 0;
  (void)CaptureSummary(*capture);
  ScenarioOptions options;
  options.name = "fuzz";
  options.max_packet_bytes = max_packet_bytes;
  absl::StatusOr<std::string> json = ScenarioJsonFor(*capture, options);
  if (!json.ok()) return 0;
  absl::StatusOr<vmbsim::scenario::ScenarioSpec> spec =
      vmbsim::scenario::LoadScenario(*json, "fuzz import", registry->descriptors());
  VMBSIM_CHECK_MSG(spec.ok(), absl::StrCat("an imported capture does not load: ", spec.status().ToString()));
  return 0;
}
