// trace_file.h
//
// Trace files: a recorded run on disk, in the format of trace_format.proto
// (magic, format version, header, delta-encoded events, footer). The writer
// is a trace sink that streams a run's records to the file as they happen;
// the reader streams them back one at a time, in bounded memory, so a
// 10^7-event trace is read, printed, replayed or diffed without loading it.
//
// Damage is reported, never misread: every error of the reader is a
// DataLossError (InvalidArgumentError for a file of another format version)
// whose message names the file, the byte offset of the damage and the events
// read until then:
//
//   run.trace: byte 1834: truncated event (after 112 events)
//   run.trace: format version 2; this vmbsim (0.5.0) reads format version 1
//
// The reader recomputes the run's fingerprint from the decoded records and
// checks it, and the event count, against the footer.

#ifndef VMBSIM_TOOLS_RECORDING_TRACE_FILE_H_
#define VMBSIM_TOOLS_RECORDING_TRACE_FILE_H_

#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/core/trace.h"

namespace vmbsim::recording {

inline constexpr uint32_t kTraceFormatVersion = 1;
inline constexpr char kTraceMagic[8] = {'V', 'M', 'B', 'T', 'R', 'A', 'C', 'E'};

// The run's identity (TraceHeader).
struct TraceHeaderInfo {
  std::string vmbsim_version;
  std::string scenario_json;
  uint64_t seed = 0;
  std::optional<uint64_t> tie_break_seed;
  std::map<std::string, int64_t> costs;
  std::vector<std::string> command_line;
  std::vector<std::string> driver_libraries;
};

struct TraceChannelInfo {
  std::string name;
  uint16_t guest = 0;
  std::vector<uint32_t> relids;
};

// How the run ended (TraceFooter).
struct TraceFooterInfo {
  uint64_t event_count = 0;
  uint64_t fingerprint = 0;
  int32_t exit_code = 0;
  int64_t simulated_ns = 0;
  std::vector<TraceChannelInfo> channels;
};

// The delta coding of TraceEvent (trace_format.proto), one instance per
// stream: it remembers the previous time and the previous record of each
// kind. Encoding then decoding the same sequence of records gives them back
// exactly (sequence aside, which is the position).
class EventCodec {
 public:
  // The largest encoding of one event: nine fields of tag + 10-byte varint.
  static constexpr size_t kEventBytesMax = 9 * 11;

  EventCodec();

  // Writes the encoding of `record` to `out` (kEventBytesMax bytes of room)
  // and returns its length, which is never 0 (the kind is always written).
  size_t Encode(const sim::TraceRecord& record, uint8_t* out);
  // The same, inlined into the trace writer's per-record path.
  size_t EncodeInline(const sim::TraceRecord& record, uint8_t* out);
  // Decodes the `size` bytes at `in` into `*record` (sequence not set).
  // Returns an empty string, or what is wrong with the bytes ("field 7 is
  // not a varint", ...); on error the codec's state is unchanged.
  std::string Decode(const uint8_t* in, size_t size, sim::TraceRecord* record);

 private:
  using Fields = std::array<uint64_t, 7>;  // partition, vp, channel, id0, id1, size0, size1.
  Fields& PreviousOf(uint16_t kind) {
    const uint16_t slot = slot_of_kind_[kind];
    if (slot == 0) [[unlikely]] return AddKind(kind);
    return previous_[slot - 1];
  }
  // A slot for a kind not seen before (out of line: once per kind).
  Fields& AddKind(uint16_t kind);

  int64_t previous_time_ns_ = 0;
  std::vector<uint16_t> slot_of_kind_;  // 65536 entries; 0: kind not seen.
  std::vector<Fields> previous_;        // Slot - 1 -> the kind's last record.
};

// Writes a trace file. Each record is encoded on the run's thread as it
// arrives, into a 256 KiB buffer written out when full. (An encoder thread
// fed with copied records was measured slower: on two cores the copies, the
// hand-over and the second thread's cache traffic cost more than the
// encoding, about 100 instructions per record.)
class TraceWriter : public sim::TraceSink {
 public:
  // Creates (or truncates) `path` and writes the preamble and `header`.
  // Errors: InvalidArgumentError naming the path when it cannot be written.
  static absl::StatusOr<std::unique_ptr<TraceWriter>> Create(const std::string& path,
                                                             const TraceHeaderInfo& header);
  ~TraceWriter() override;

  void OnRecord(const sim::TraceRecord& record) override;

  // Ends the events, writes `footer` (its event_count is replaced by the
  // number of records written) and closes the file. Errors: DataLossError
  // naming the path when a write failed (a full disk), here or earlier.
  absl::Status Finish(TraceFooterInfo footer);

  uint64_t event_count() const { return event_count_; }
  // The file's size. REQUIRES: Finish has returned.
  uint64_t bytes_written() const { return bytes_flushed_ + used_; }

 private:
  TraceWriter(std::string path, std::FILE* file);
  void Append(const void* bytes, size_t size);
  void AppendVarint(uint64_t value);
  void Flush();

  std::string path_;
  std::FILE* file_;
  bool write_failed_ = false;
  uint64_t event_count_ = 0;
  EventCodec codec_;
  std::unique_ptr<uint8_t[]> buffer_;  // kWriteBufferBytes.
  size_t used_ = 0;
  uint64_t bytes_flushed_ = 0;
};

class TraceReader {
 public:
  // Opens `path` and reads its preamble and header. Errors: NotFoundError
  // when it cannot be opened; InvalidArgumentError for another format
  // version; DataLossError for anything else (not a trace, truncated, ...).
  static absl::StatusOr<std::unique_ptr<TraceReader>> Open(const std::string& path);
  ~TraceReader();

  const std::string& path() const { return path_; }
  const TraceHeaderInfo& header() const { return header_; }

  // The next event into `*record` (sequence = its index): true. At the end
  // of the events: reads the footer, checks the event count, the
  // fingerprint and that nothing follows, and returns false (then and after,
  // footer() holds). Errors: DataLossError with the offset of the damage.
  absl::StatusOr<bool> Next(sim::TraceRecord* record);
  // REQUIRES: Next has returned false.
  const TraceFooterInfo& footer() const { return footer_; }

  uint64_t events_read() const { return events_read_; }
  // Byte offset of the next unread byte.
  uint64_t offset() const { return offset_; }

 private:
  TraceReader(std::string path, std::FILE* file);
  absl::Status Damage(uint64_t at, const std::string& what) const;
  // Makes `size` bytes available at data(); false at end of file.
  bool Fill(size_t size);
  const uint8_t* data() const { return buffer_.data() + begin_; }
  void Consume(size_t size) {
    begin_ += size;
    offset_ += size;
  }
  // A varint of at most 10 bytes; nullopt at end of file or when malformed
  // (*malformed tells which).
  std::optional<uint64_t> ReadVarint(bool* malformed);
  absl::Status ReadPreambleAndHeader();
  absl::Status ReadFooter();

  std::string path_;
  std::FILE* file_;
  std::vector<uint8_t> buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t offset_ = 0;
  EventCodec codec_;
  TraceHeaderInfo header_;
  TraceFooterInfo footer_;
  bool ended_ = false;
  uint64_t events_read_ = 0;
  uint64_t fingerprint_ = sim::kFingerprintSeed;
};

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_TRACE_FILE_H_
