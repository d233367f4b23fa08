#include "tools/recording/recorder.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "tools/version.h"

namespace vmbsim::recording {

absl::StatusOr<std::unique_ptr<Recorder>> Recorder::Start(const std::string& path,
                                                          const scenario::ScenarioSpec& spec,
                                                          const scenario::RunOptions& options,
                                                          const std::vector<std::string>& command_line,
                                                          const std::vector<std::string>& driver_libraries) {
  if (spec.document_json.empty()) {
    return absl::InvalidArgumentError("a recording needs the scenario's document (load the spec with LoadScenario)");
  }
  TraceHeaderInfo header;
  header.vmbsim_version = kVmbsimVersion;
  header.scenario_json = spec.document_json;
  header.seed = options.seed.value_or(spec.seed);
  header.tie_break_seed = options.tie_break_seed.has_value() ? options.tie_break_seed
                                                              : spec.exploration.tie_break_seed;
  VMBSIM_ASSIGN_OR_RETURN(header.costs, scenario::CostValues(spec.fabric));
  header.command_line = command_line;
  header.driver_libraries = driver_libraries;
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<TraceWriter> writer, TraceWriter::Create(path, header));
  return std::unique_ptr<Recorder>(new Recorder(path, std::move(writer)));
}

TraceFooterInfo FooterFor(const scenario::RunReport& report) {
  TraceFooterInfo footer;
  footer.event_count = report.trace_records;
  footer.fingerprint = report.fingerprint;
  footer.exit_code = scenario::ExitCodeFor(report);
  footer.simulated_ns = report.simulated_ns;
  for (const scenario::ChannelReport& c : report.channels) footer.channels.push_back({c.name, c.guest, c.relids});
  return footer;
}

absl::Status Recorder::Finish(const scenario::RunReport& report) {
  // Every record of the run went to the writer: the counts agree.
  VMBSIM_CHECK_EQ(writer_->event_count(), report.trace_records);
  return writer_->Finish(FooterFor(report));
}

void Recorder::Abandon() {
  writer_.reset();
  std::remove(path_.c_str());
}

}  // namespace vmbsim::recording
