// trace_io.h
//
// Trace files: a run's trace records on disk, in the protobuf stream format
// of tools/trace.proto (a header record, then one record per trace event,
// each preceded by its varint length). `TraceFileWriter` is a TraceSink that
// streams records to a file as the run goes; `ReadTraceFile` loads one back
// and validates it, so traces can be diffed and their fingerprint recomputed
// (the fingerprint uses the canonical encoding of sim/core/trace.h, never
// these bytes).

#ifndef VMBSIM_TOOLS_TRACE_IO_H_
#define VMBSIM_TOOLS_TRACE_IO_H_

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/core/trace.h"

namespace vmbsim::tools {

struct TraceFileHeader {
  uint64_t seed = 0;
  std::string scenario;
};

struct TraceFile {
  TraceFileHeader header;
  std::vector<sim::TraceRecord> records;

  // The fingerprint of `records`, folded as sim::Tracer does.
  uint64_t Fingerprint() const;
};

class TraceFileWriter : public sim::TraceSink {
 public:
  // Opens `path` for writing and writes the header. Check status() before
  // attaching the writer.
  TraceFileWriter(const std::string& path, const TraceFileHeader& header);
  ~TraceFileWriter() override;

  // Ok, or why the file could not be written.
  absl::Status status() const { return status_; }
  // Flushes and closes; returns the final status. Idempotent.
  absl::Status Close();

  void OnRecord(const sim::TraceRecord& record) override;

 private:
  void WriteMessage(const std::string& bytes);

  std::string path_;
  std::ofstream out_;
  absl::Status status_;
  std::string buffer_;
};

// Reads and validates a trace file. Errors name the file and byte offset.
absl::StatusOr<TraceFile> ReadTraceFile(const std::string& path);

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_TRACE_IO_H_
