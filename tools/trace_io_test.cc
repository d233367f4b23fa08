// Goal: a trace written through TraceFileWriter reads back record for record,
// its recomputed fingerprint equals the live one, and damaged files are
// rejected with the offset rather than misread.
#include "tools/trace_io.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "sim/core/trace.h"

namespace vmbsim::tools {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

TEST(TraceIoTest, RoundTripKeepsRecordsAndFingerprint) {
  const std::string path = TempPath("roundtrip.trace");
  sim::Tracer tracer;
  tracer.EnableFingerprint();
  {
    TraceFileWriter writer(path, {.seed = 42, .scenario = "unit"});
    ASSERT_TRUE(writer.status().ok()) << writer.status();
    tracer.AddSink(&writer);
    for (int i = 0; i < 1000; ++i) {
      sim::TraceRecord r;
      r.time = sim::SimTime::FromNanoseconds(i * 10);
      r.kind = static_cast<uint16_t>(i % 7);
      r.partition = 1;
      r.vp = static_cast<uint32_t>(i % 3);
      r.channel = 5;
      r.id0 = static_cast<uint64_t>(i) << 40;
      r.size0 = 4096;
      tracer.Emit(r);
    }
    tracer.RemoveSink(&writer);
    ASSERT_TRUE(writer.Close().ok());
  }
  absl::StatusOr<TraceFile> file = ReadTraceFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->header.seed, 42u);
  EXPECT_EQ(file->header.scenario, "unit");
  ASSERT_EQ(file->records.size(), 1000u);
  EXPECT_EQ(file->records[999].time.nanoseconds(), 9990);
  EXPECT_EQ(file->records[999].sequence, 999u);
  EXPECT_EQ(file->records[10].id0, uint64_t{10} << 40);
  EXPECT_EQ(file->Fingerprint(), tracer.fingerprint());
}

TEST(TraceIoTest, DamagedFilesAreRejected) {
  const std::string path = TempPath("damaged.trace");
  {
    TraceFileWriter writer(path, {.seed = 1, .scenario = "x"});
    sim::TraceRecord r;
    r.kind = 3;
    writer.OnRecord(r);
    ASSERT_TRUE(writer.Close().ok());
  }
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Truncated final record.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 1));
  }
  absl::StatusOr<TraceFile> file = ReadTraceFile(path);
  EXPECT_EQ(file.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(file.status().message().find("truncated"), std::string::npos) << file.status();
  // Not a trace at all.
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "hello, world";
  }
  EXPECT_EQ(ReadTraceFile(path).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ReadTraceFile(TempPath("missing.trace")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmbsim::tools
