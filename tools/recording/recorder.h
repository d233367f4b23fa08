// recorder.h
//
// Recording a run (`vmbsim run --record FILE`): a trace file whose header
// says how to run it again (the scenario document with its overrides, the
// seeds, the cost model, the command line, the driver libraries) and whose
// footer says how it ended (event count, fingerprint, exit code, the relids
// of each channel).
//
//   absl::StatusOr<std::unique_ptr<Recorder>> recorder = Recorder::Start(path, spec, options, argv, libs);
//   options.sinks.push_back((*recorder)->sink());
//   absl::StatusOr<RunReport> report = RunScenario(spec, drivers, options);
//   (*recorder)->Finish(*report);   // or Abandon() when the run failed
//
// Cost: one delta-encoded event (about 7 bytes) per trace record, written
// through a 1 MiB buffer.

#ifndef VMBSIM_TOOLS_RECORDING_RECORDER_H_
#define VMBSIM_TOOLS_RECORDING_RECORDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/core/trace.h"
#include "tools/recording/trace_file.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/spec.h"

namespace vmbsim::recording {

class Recorder {
 public:
  // Creates `path` and writes the header of a run of `spec` with `options`.
  // Errors: InvalidArgumentError when `spec` has no document (built in code)
  // or `path` cannot be written.
  static absl::StatusOr<std::unique_ptr<Recorder>> Start(const std::string& path, const scenario::ScenarioSpec& spec,
                                                         const scenario::RunOptions& options,
                                                         const std::vector<std::string>& command_line,
                                                         const std::vector<std::string>& driver_libraries);

  sim::TraceSink* sink() { return writer_.get(); }
  uint64_t bytes_written() const { return writer_->bytes_written(); }

  // Writes the footer from `report` and closes the file.
  absl::Status Finish(const scenario::RunReport& report);
  // The run did not happen (the world could not be built): removes the file.
  void Abandon();

 private:
  Recorder(std::string path, std::unique_ptr<TraceWriter> writer)
      : path_(std::move(path)), writer_(std::move(writer)) {}

  std::string path_;
  std::unique_ptr<TraceWriter> writer_;
};

// The footer a run's report gives (everything but the event count, which the
// writer counts).
TraceFooterInfo FooterFor(const scenario::RunReport& report);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_RECORDER_H_
