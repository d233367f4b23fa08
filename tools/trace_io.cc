#include "tools/trace_io.h"

#include <iterator>
#include <limits>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "tools/trace.pb.h"

namespace vmbsim::tools {
namespace {

constexpr uint32_t kFormatVersion = 1;
// A record is ten scalar fields; anything this large is corruption.
constexpr uint32_t kMessageBytesMax = 1 << 16;

}  // namespace

uint64_t TraceFile::Fingerprint() const {
  uint64_t h = sim::kFingerprintSeed;
  for (const sim::TraceRecord& r : records) h = sim::FoldRecord(h, r);
  return h;
}

TraceFileWriter::TraceFileWriter(const std::string& path, const TraceFileHeader& header)
    : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) {
    status_ = absl::UnavailableError(absl::StrCat("trace file ", path, ": cannot open for writing"));
    return;
  }
  TraceHeaderProto proto;
  proto.set_format_version(kFormatVersion);
  proto.set_seed(header.seed);
  proto.set_scenario(header.scenario);
  WriteMessage(proto.SerializeAsString());
}

TraceFileWriter::~TraceFileWriter() { Close().IgnoreError(); }

void TraceFileWriter::WriteMessage(const std::string& bytes) {
  if (!status_.ok()) return;
  buffer_.clear();
  uint32_t size = static_cast<uint32_t>(bytes.size());
  // Varint length prefix.
  do {
    uint8_t byte = size & 0x7F;
    size >>= 7;
    if (size != 0) byte |= 0x80;
    buffer_.push_back(static_cast<char>(byte));
  } while (size != 0);
  buffer_ += bytes;
  out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
  if (!out_) status_ = absl::DataLossError(absl::StrCat("trace file ", path_, ": write failed"));
}

void TraceFileWriter::OnRecord(const sim::TraceRecord& r) {
  TraceRecordProto proto;
  proto.set_time_ns(r.time.nanoseconds());
  proto.set_sequence(r.sequence);
  proto.set_kind(r.kind);
  proto.set_partition(r.partition);
  proto.set_vp(r.vp);
  proto.set_channel(r.channel);
  proto.set_id0(r.id0);
  proto.set_id1(r.id1);
  proto.set_size0(r.size0);
  proto.set_size1(r.size1);
  WriteMessage(proto.SerializeAsString());
}

absl::Status TraceFileWriter::Close() {
  if (out_.is_open()) {
    out_.flush();
    if (!out_ && status_.ok()) status_ = absl::DataLossError(absl::StrCat("trace file ", path_, ": flush failed"));
    out_.close();
  }
  return status_;
}

absl::StatusOr<TraceFile> ReadTraceFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("trace file ", path, ": cannot open"));
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                static_cast<int>(bytes.size()));
  TraceFile file;
  bool have_header = false;
  while (stream.CurrentPosition() < static_cast<int>(bytes.size())) {
    const int offset = stream.CurrentPosition();
    uint32_t size = 0;
    if (!stream.ReadVarint32(&size) || size > kMessageBytesMax) {
      return absl::DataLossError(absl::StrCat("trace file ", path, ": bad record length at byte ", offset));
    }
    std::string message;
    if (!stream.ReadString(&message, static_cast<int>(size))) {
      return absl::DataLossError(absl::StrCat("trace file ", path, ": record at byte ", offset, " is truncated"));
    }
    if (!have_header) {
      TraceHeaderProto header;
      if (!header.ParseFromString(message) || header.format_version() != kFormatVersion) {
        return absl::DataLossError(absl::StrCat("trace file ", path, ": not a vmbsim trace (format version ",
                                                header.format_version(), ", expected ", kFormatVersion, ")"));
      }
      file.header.seed = header.seed();
      file.header.scenario = header.scenario();
      have_header = true;
      continue;
    }
    TraceRecordProto proto;
    if (!proto.ParseFromString(message) || proto.kind() > 0xFFFF || proto.partition() > 0xFFFF) {
      return absl::DataLossError(absl::StrCat("trace file ", path, ": bad record at byte ", offset));
    }
    sim::TraceRecord r;
    r.time = sim::SimTime::FromNanoseconds(proto.time_ns());
    r.sequence = proto.sequence();
    r.kind = static_cast<uint16_t>(proto.kind());
    r.partition = static_cast<uint16_t>(proto.partition());
    r.vp = proto.vp();
    r.channel = proto.channel();
    r.id0 = proto.id0();
    r.id1 = proto.id1();
    r.size0 = proto.size0();
    r.size1 = proto.size1();
    file.records.push_back(r);
  }
  if (!have_header) return absl::DataLossError(absl::StrCat("trace file ", path, ": empty"));
  return file;
}

}  // namespace vmbsim::tools
