#include "tools/recording/trace_file.h"

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "sim/check.h"
#include "tools/recording/trace_format.pb.h"
#include "tools/version.h"

namespace vmbsim::recording {
namespace {

// Bounds that no valid file exceeds: a header carries a scenario (at most
// 64 MiB, the loader's limit) and a command line; a footer a few names and
// relids per channel.
constexpr uint64_t kHeaderBytesMax = uint64_t{80} << 20;
constexpr uint64_t kFooterBytesMax = uint64_t{16} << 20;
constexpr size_t kWriteBufferBytes = size_t{1} << 18;
constexpr size_t kReadBufferBytes = size_t{1} << 20;

uint64_t ZigZag(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}
int64_t UnZigZag(uint64_t value) {
  return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

inline uint8_t* PutVarint(uint8_t* out, uint64_t value) {
  if (value < 0x80) {  // Most deltas.
    *out++ = static_cast<uint8_t>(value);
    return out;
  }
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

// A varint at [*in, end): its value, advancing *in; nullopt when it runs
// past `end` or is longer than 10 bytes.
std::optional<uint64_t> GetVarint(const uint8_t** in, const uint8_t* end) {
  uint64_t value = 0;
  for (int shift = 0; shift < 70 && *in < end; shift += 7) {
    const uint8_t byte = *(*in)++;
    if (shift == 63 && byte > 1) return std::nullopt;  // More than 64 bits.
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

const char* const kFieldNames[7] = {"partition", "vp", "channel", "id0", "id1", "size0", "size1"};

}  // namespace

// ---------------------------------------------------------------------------
// EventCodec

EventCodec::EventCodec() : slot_of_kind_(size_t{1} << 16, 0) {}

EventCodec::Fields& EventCodec::AddKind(uint16_t kind) {
  previous_.push_back(Fields{});
  slot_of_kind_[kind] = static_cast<uint16_t>(previous_.size());
  return previous_.back();
}

[[gnu::always_inline]] inline size_t EventCodec::EncodeInline(const sim::TraceRecord& record, uint8_t* out) {
  uint8_t* p = out;
  const int64_t time_ns = record.time.nanoseconds();
  const int64_t time_delta = time_ns - previous_time_ns_;
  previous_time_ns_ = time_ns;
  if (time_delta != 0) {
    *p++ = (1 << 3);
    p = PutVarint(p, ZigZag(time_delta));
  }
  *p++ = (2 << 3);  // Always written: no event is empty (0 ends the events).
  p = PutVarint(p, record.kind);
  Fields& previous = PreviousOf(record.kind);
  // Field 3 + i: the difference from the kind's previous record (wrapping;
  // the decoder adds it back), absent when zero. Unrolled: it runs per record.
  const auto put = [&p, &previous](int i, uint64_t now) {
    const uint64_t delta = now - previous[i];
    previous[i] = now;
    if (delta == 0) return;
    *p++ = static_cast<uint8_t>((3 + i) << 3);
    p = PutVarint(p, ZigZag(static_cast<int64_t>(delta)));
  };
  put(0, record.partition);
  put(1, record.vp);
  put(2, record.channel);
  put(3, record.id0);
  put(4, record.id1);
  put(5, record.size0);
  put(6, record.size1);
  return static_cast<size_t>(p - out);
}

size_t EventCodec::Encode(const sim::TraceRecord& record, uint8_t* out) { return EncodeInline(record, out); }

std::string EventCodec::Decode(const uint8_t* in, size_t size, sim::TraceRecord* record) {
  const uint8_t* p = in;
  const uint8_t* const end = in + size;
  int64_t time_delta = 0;
  std::optional<uint64_t> kind;
  std::array<uint64_t, 7> deltas{};
  int last_field = 0;
  while (p < end) {
    const uint8_t tag = *p++;
    const int field = tag >> 3;
    if ((tag & 7) != 0 || field < 1 || field > 9) {
      return absl::StrCat("unexpected field tag 0x", absl::Hex(tag), " (an event has varint fields 1..9)");
    }
    if (field <= last_field) return absl::StrCat("field ", field, " out of order or repeated");
    last_field = field;
    const std::optional<uint64_t> value = GetVarint(&p, end);
    if (!value.has_value()) return absl::StrCat("field ", field, " is not a complete varint");
    if (field == 1) {
      time_delta = UnZigZag(*value);
    } else if (field == 2) {
      if (*value > 0xFFFF) return absl::StrCat("kind ", *value, " is more than 16 bits");
      kind = *value;
    } else {
      deltas[field - 3] = static_cast<uint64_t>(UnZigZag(*value));
    }
  }
  if (!kind.has_value()) return "no kind (field 2)";
  const int64_t time_ns = previous_time_ns_ + time_delta;
  if (time_ns < 0 || (time_delta > 0 && time_ns < previous_time_ns_)) {
    return absl::StrCat("time ", time_ns, " ns is negative or overflows");
  }
  Fields fields = slot_of_kind_[*kind] == 0 ? Fields{} : previous_[slot_of_kind_[*kind] - 1];
  for (int i = 0; i < 7; ++i) fields[i] += deltas[i];
  const uint64_t limits[7] = {0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}};
  for (int i = 0; i < 3; ++i) {
    if (fields[i] > limits[i]) return absl::StrCat(kFieldNames[i], " ", fields[i], " is out of range");
  }
  previous_time_ns_ = time_ns;
  PreviousOf(static_cast<uint16_t>(*kind)) = fields;
  *record = sim::TraceRecord{.time = sim::SimTime::FromNanoseconds(time_ns),
                             .kind = static_cast<uint16_t>(*kind),
                             .partition = static_cast<uint16_t>(fields[0]),
                             .vp = static_cast<uint32_t>(fields[1]),
                             .channel = static_cast<uint32_t>(fields[2]),
                             .id0 = fields[3],
                             .id1 = fields[4],
                             .size0 = fields[5],
                             .size1 = fields[6]};
  return "";
}

// ---------------------------------------------------------------------------
// TraceWriter

TraceWriter::TraceWriter(std::string path, std::FILE* file)
    : path_(std::move(path)), file_(file), buffer_(new uint8_t[kWriteBufferBytes]) {}

TraceWriter::~TraceWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Create(const std::string& path,
                                                                 const TraceHeaderInfo& header) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot write: ", errno != 0 ? std::strerror(errno) : "unknown error"));
  }
  std::unique_ptr<TraceWriter> writer(new TraceWriter(path, file));
  TraceHeader proto;
  proto.set_vmbsim_version(header.vmbsim_version);
  proto.set_scenario_json(header.scenario_json);
  proto.set_seed(header.seed);
  proto.set_has_tie_break_seed(header.tie_break_seed.has_value());
  proto.set_tie_break_seed(header.tie_break_seed.value_or(0));
  for (const auto& [name, value] : header.costs) (*proto.mutable_costs())[name] = value;
  for (const std::string& arg : header.command_line) proto.add_command_line(arg);
  for (const std::string& lib : header.driver_libraries) proto.add_driver_libraries(lib);
  // Deterministic bytes: the costs map is written in key order.
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    proto.SerializeToCodedStream(&coded);
  }
  writer->Append(kTraceMagic, sizeof(kTraceMagic));
  writer->AppendVarint(kTraceFormatVersion);
  writer->AppendVarint(bytes.size());
  writer->Append(bytes.data(), bytes.size());
  return writer;
}

void TraceWriter::Append(const void* bytes, size_t size) {
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (size > 0) {
    if (used_ == kWriteBufferBytes) Flush();
    const size_t n = std::min(size, kWriteBufferBytes - used_);
    std::memcpy(buffer_.get() + used_, p, n);
    used_ += n;
    p += n;
    size -= n;
  }
}

void TraceWriter::AppendVarint(uint64_t value) {
  uint8_t bytes[10];
  Append(bytes, static_cast<size_t>(PutVarint(bytes, value) - bytes));
}

void TraceWriter::Flush() {
  if (used_ == 0 || file_ == nullptr) return;
  if (!write_failed_ && std::fwrite(buffer_.get(), 1, used_, file_) != used_) write_failed_ = true;
  bytes_flushed_ += used_;
  used_ = 0;
}

void TraceWriter::OnRecord(const sim::TraceRecord& record) {
  ++event_count_;
  // The length (one byte: an event is at most 99 bytes) and the event, built
  // in place at the end of the buffer.
  static_assert(EventCodec::kEventBytesMax < 0x80);
  if (used_ + 1 + EventCodec::kEventBytesMax > kWriteBufferBytes) Flush();
  uint8_t* at = buffer_.get() + used_;
  const size_t size = codec_.EncodeInline(record, at + 1);
  at[0] = static_cast<uint8_t>(size);
  used_ += 1 + size;
}

absl::Status TraceWriter::Finish(TraceFooterInfo footer) {
  if (file_ == nullptr) return absl::FailedPreconditionError(absl::StrCat(path_, ": already finished"));
  footer.event_count = event_count_;
  TraceFooter proto;
  proto.set_event_count(footer.event_count);
  proto.set_fingerprint(footer.fingerprint);
  proto.set_exit_code(footer.exit_code);
  proto.set_simulated_ns(footer.simulated_ns);
  for (const TraceChannelInfo& c : footer.channels) {
    TraceChannel* channel = proto.add_channels();
    channel->set_name(c.name);
    channel->set_guest(c.guest);
    for (uint32_t relid : c.relids) channel->add_relids(relid);
  }
  const std::string bytes = proto.SerializeAsString();
  AppendVarint(0);
  AppendVarint(bytes.size());
  Append(bytes.data(), bytes.size());
  Flush();
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (write_failed_ || !closed) {
    return absl::DataLossError(absl::StrCat(path_, ": writing the trace failed (disk full?)"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// TraceReader

TraceReader::TraceReader(std::string path, std::FILE* file)
    : path_(std::move(path)), file_(file), buffer_(kReadBufferBytes) {}

TraceReader::~TraceReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::StatusOr<std::unique_ptr<TraceReader>> TraceReader::Open(const std::string& path) {
  errno = 0;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", errno != 0 ? std::strerror(errno) : "unknown error"));
  }
  std::unique_ptr<TraceReader> reader(new TraceReader(path, file));
  VMBSIM_RETURN_IF_ERROR(reader->ReadPreambleAndHeader());
  return reader;
}

absl::Status TraceReader::Damage(uint64_t at, const std::string& what) const {
  return absl::DataLossError(absl::StrCat(path_, ": byte ", at, ": ", what, " (after ", events_read_,
                                          events_read_ == 1 ? " event)" : " events)"));
}

bool TraceReader::Fill(size_t size) {
  if (end_ - begin_ >= size) return true;
  if (buffer_.size() < size) buffer_.resize(size);
  // Move what is left to the front, then read until `size` bytes are there.
  std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  while (end_ < size && !eof_) {
    const size_t got = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
    if (got == 0) eof_ = true;
    end_ += got;
  }
  return end_ >= size;
}

std::optional<uint64_t> TraceReader::ReadVarint(bool* malformed) {
  *malformed = false;
  Fill(10);
  const uint8_t* p = data();
  const uint8_t* const end = buffer_.data() + end_;
  const std::optional<uint64_t> value = GetVarint(&p, end);
  if (!value.has_value()) {
    // Ran out of bytes (truncated), or ten bytes without an end (garbage).
    *malformed = end - data() >= 10;
    return std::nullopt;
  }
  Consume(static_cast<size_t>(p - data()));
  return value;
}

absl::Status TraceReader::ReadPreambleAndHeader() {
  Fill(sizeof(kTraceMagic));
  if (end_ == 0) return absl::DataLossError(absl::StrCat(path_, ": empty file, not a vmbsim trace"));
  if (end_ - begin_ < sizeof(kTraceMagic) || std::memcmp(data(), kTraceMagic, sizeof(kTraceMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(path_, ": not a vmbsim trace (no \"VMBTRACE\" at byte 0)"));
  }
  Consume(sizeof(kTraceMagic));
  bool malformed = false;
  const uint64_t version_at = offset_;
  const std::optional<uint64_t> version = ReadVarint(&malformed);
  if (!version.has_value()) return Damage(version_at, "truncated or malformed format version");
  if (*version != kTraceFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": format version ", *version, "; this vmbsim (",
                                                   kVmbsimVersion, ") reads format version ",
                                                   kTraceFormatVersion));
  }
  const uint64_t length_at = offset_;
  const std::optional<uint64_t> length = ReadVarint(&malformed);
  if (!length.has_value()) return Damage(length_at, "truncated or malformed header length");
  if (*length > kHeaderBytesMax) {
    return Damage(length_at, absl::StrCat("header length ", *length, " is more than ", kHeaderBytesMax));
  }
  const uint64_t header_at = offset_;
  if (!Fill(*length)) {
    return Damage(header_at, absl::StrCat("truncated header (", end_ - begin_, " of ", *length, " bytes)"));
  }
  TraceHeader proto;
  if (!proto.ParseFromArray(data(), static_cast<int>(*length))) return Damage(header_at, "malformed header");
  // Every writer records its version and the scenario; a header without
  // them (an empty one parses) is damage, not a run of nothing.
  if (proto.vmbsim_version().empty() || proto.scenario_json().empty()) {
    return Damage(header_at, "malformed header: no vmbsim version or no scenario");
  }
  Consume(*length);
  header_.vmbsim_version = proto.vmbsim_version();
  header_.scenario_json = proto.scenario_json();
  header_.seed = proto.seed();
  if (proto.has_tie_break_seed()) header_.tie_break_seed = proto.tie_break_seed();
  for (const auto& [name, value] : proto.costs()) header_.costs[name] = value;
  header_.command_line.assign(proto.command_line().begin(), proto.command_line().end());
  header_.driver_libraries.assign(proto.driver_libraries().begin(), proto.driver_libraries().end());
  return absl::OkStatus();
}

absl::StatusOr<bool> TraceReader::Next(sim::TraceRecord* record) {
  if (ended_) return false;
  const uint64_t at = offset_;
  bool malformed = false;
  const std::optional<uint64_t> length = ReadVarint(&malformed);
  if (!length.has_value()) {
    return Damage(at, malformed ? "malformed event length" : "truncated: the file ends inside the events");
  }
  if (*length == 0) {
    VMBSIM_RETURN_IF_ERROR(ReadFooter());
    ended_ = true;
    return false;
  }
  if (*length > EventCodec::kEventBytesMax) {
    return Damage(at, absl::StrCat("event length ", *length, " is more than ", EventCodec::kEventBytesMax));
  }
  if (!Fill(*length)) return Damage(at, "truncated event");
  const std::string error = codec_.Decode(data(), *length, record);
  if (!error.empty()) return Damage(offset_, absl::StrCat("malformed event: ", error));
  Consume(*length);
  record->sequence = events_read_++;
  fingerprint_ = sim::FoldRecord(fingerprint_, *record);
  return true;
}

absl::Status TraceReader::ReadFooter() {
  bool malformed = false;
  const uint64_t length_at = offset_;
  const std::optional<uint64_t> length = ReadVarint(&malformed);
  if (!length.has_value()) return Damage(length_at, "truncated: no footer after the events");
  if (*length > kFooterBytesMax) {
    return Damage(length_at, absl::StrCat("footer length ", *length, " is more than ", kFooterBytesMax));
  }
  const uint64_t footer_at = offset_;
  if (!Fill(*length)) return Damage(footer_at, "truncated footer");
  TraceFooter proto;
  if (!proto.ParseFromArray(data(), static_cast<int>(*length))) return Damage(footer_at, "malformed footer");
  Consume(*length);
  if (Fill(1)) return Damage(offset_, "unexpected bytes after the footer");
  if (proto.event_count() != events_read_) {
    return Damage(footer_at, absl::StrCat("the footer counts ", proto.event_count(), " events, the file has ",
                                          events_read_));
  }
  if (proto.fingerprint() != fingerprint_) {
    return Damage(footer_at, absl::StrCat("fingerprint mismatch: the footer says ",
                                          absl::Hex(proto.fingerprint(), absl::kZeroPad16),
                                          ", the events give ", absl::Hex(fingerprint_, absl::kZeroPad16)));
  }
  footer_.event_count = proto.event_count();
  footer_.fingerprint = proto.fingerprint();
  footer_.exit_code = proto.exit_code();
  footer_.simulated_ns = proto.simulated_ns();
  for (const TraceChannel& c : proto.channels()) {
    if (c.guest() > 0xFFFF) return Damage(footer_at, absl::StrCat("channel ", c.name(), ": guest out of range"));
    footer_.channels.push_back(
        {c.name(), static_cast<uint16_t>(c.guest()), std::vector<uint32_t>(c.relids().begin(), c.relids().end())});
  }
  return absl::OkStatus();
}

}  // namespace vmbsim::recording
