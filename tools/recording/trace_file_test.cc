// trace_file_test.cc
//
// Goal: a trace file gives back exactly the records written, in bounded
// memory, with the run's fingerprint; its events are the TraceEvent message
// of trace_format.proto byte for byte (the writer encodes them by hand); and
// the encoding is compact. Method: write records drawn from a seeded PRNG
// (extreme values, times that go backwards, many kinds) through
// TraceWriter, read them back through TraceReader and compare; parse
// hand-encoded events with the generated protobuf class. Damaged files are
// the corpus of tests/traces/corrupt (corrupt_traces_test).

#include "tools/recording/trace_file.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/prng.h"
#include "sim/core/trace.h"
#include "tools/recording/event_text.h"
#include "tools/recording/trace_format.pb.h"
#include "tools/recording/trace_metrics.h"
#include "tools/scenario/timeline.h"

namespace vmbsim::recording {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// Records that exercise every field: mostly small steps (as runs make), with
// extremes and backward times mixed in.
std::vector<sim::TraceRecord> Records(size_t count) {
  sim::Prng prng = sim::Prng::FromSeed(7);
  std::vector<sim::TraceRecord> out;
  int64_t time_ns = 0;
  const uint64_t extremes[] = {0, 1, ~uint64_t{0}, uint64_t{1} << 63, 0x7FFFFFFFFFFFFFFFull};
  for (size_t i = 0; i < count; ++i) {
    sim::TraceRecord r;
    time_ns += static_cast<int64_t>(prng.Below(5000)) - (prng.Below(10) == 0 ? 3000 : 0);
    if (time_ns < 0) time_ns = 0;
    r.time = sim::SimTime::FromNanoseconds(time_ns);
    r.sequence = i;
    r.kind = static_cast<uint16_t>(prng.Below(8) == 0 ? prng.Below(0x10000) : 0x100 + prng.Below(6));
    r.partition = static_cast<uint16_t>(prng.Below(3) == 0 ? 0xFFFF : prng.Below(4));
    r.vp = static_cast<uint32_t>(prng.Below(20) == 0 ? 0xFFFFFFFFu : prng.Below(64));
    r.channel = static_cast<uint32_t>(prng.Below(16));
    r.id0 = prng.Below(10) == 0 ? extremes[prng.Below(5)] : 0x8000400000000000ull + prng.Below(4);
    r.id1 = prng.Below(10) == 0 ? prng.Next64() : i;
    r.size0 = prng.Below(10) == 0 ? extremes[prng.Below(5)] : prng.Below(4096);
    r.size1 = prng.Below(2);
    out.push_back(r);
  }
  return out;
}

TEST(TraceFileTest, RecordsHeaderAndFooterRoundTrip) {
  const std::string path = TempPath("round_trip.trace");
  const std::vector<sim::TraceRecord> records = Records(200000);
  sim::Tracer tracer;
  tracer.EnableFingerprint();
  TraceHeaderInfo header{.vmbsim_version = "test",
                         .scenario_json = R"({"name":"x"})",
                         .seed = 42,
                         .tie_break_seed = 9,
                         .costs = {{"a_ns", 5}, {"b_ps", -1}},
                         .command_line = {"vmbsim", "run", "x"},
                         .driver_libraries = {"lib.so"}};
  {
    absl::StatusOr<std::unique_ptr<TraceWriter>> writer = TraceWriter::Create(path, header);
    ASSERT_TRUE(writer.ok()) << writer.status();
    tracer.AddSink(writer->get());
    for (const sim::TraceRecord& r : records) tracer.Emit(r);
    tracer.RemoveSink(writer->get());
    ASSERT_TRUE((*writer)
                    ->Finish({.fingerprint = tracer.fingerprint(),
                              .exit_code = 3,
                              .simulated_ns = 77,
                              .channels = {{"net", 1, {1, 7}}}})
                    .ok());
  }
  absl::StatusOr<std::unique_ptr<TraceReader>> reader = TraceReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const TraceHeaderInfo& h = (*reader)->header();
  EXPECT_EQ(h.vmbsim_version, "test");
  EXPECT_EQ(h.scenario_json, header.scenario_json);
  EXPECT_EQ(h.seed, 42u);
  EXPECT_EQ(h.tie_break_seed, 9u);
  EXPECT_EQ(h.costs, header.costs);
  EXPECT_EQ(h.command_line, header.command_line);
  EXPECT_EQ(h.driver_libraries, header.driver_libraries);
  sim::TraceRecord r;
  size_t i = 0;
  for (;; ++i) {
    absl::StatusOr<bool> more = (*reader)->Next(&r);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_LT(i, records.size());
    ASSERT_TRUE(r == records[i]) << "record " << i;
  }
  EXPECT_EQ(i, records.size());
  const TraceFooterInfo& f = (*reader)->footer();
  EXPECT_EQ(f.event_count, records.size());
  EXPECT_EQ(f.fingerprint, tracer.fingerprint());
  EXPECT_EQ(f.exit_code, 3);
  EXPECT_EQ(f.simulated_ns, 77);
  ASSERT_EQ(f.channels.size(), 1u);
  EXPECT_EQ(f.channels[0].relids, (std::vector<uint32_t>{1, 7}));
  // Reading on after the end keeps answering "no more".
  absl::StatusOr<bool> again = (*reader)->Next(&r);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

// The writer's hand-made bytes are the TraceEvent of the .proto: protobuf
// parses each one into the deltas the codec documents.
TEST(TraceFileTest, EventsAreTheProtoMessage) {
  EventCodec codec;
  const std::vector<sim::TraceRecord> records = Records(5000);
  std::vector<uint64_t> previous_id0(0x10000, 0);
  std::vector<bool> seen(0x10000, false);
  int64_t previous_time = 0;
  for (const sim::TraceRecord& r : records) {
    uint8_t bytes[EventCodec::kEventBytesMax];
    const size_t size = codec.Encode(r, bytes);
    ASSERT_GT(size, 0u);
    TraceEvent event;
    ASSERT_TRUE(event.ParseFromArray(bytes, static_cast<int>(size)));
    EXPECT_EQ(event.kind(), r.kind);
    EXPECT_EQ(event.time_delta_ns(), r.time.nanoseconds() - previous_time);
    EXPECT_EQ(static_cast<uint64_t>(event.id0_delta()), r.id0 - (seen[r.kind] ? previous_id0[r.kind] : 0));
    // And protobuf's own encoding of that message is the same bytes.
    EXPECT_EQ(event.SerializeAsString(), std::string(reinterpret_cast<const char*>(bytes), size));
    previous_time = r.time.nanoseconds();
    previous_id0[r.kind] = r.id0;
    seen[r.kind] = true;
  }
}

// A run's records step by small amounts per kind: a few bytes each. (The
// library's figure, about 9 bytes per event, is in record_replay_test.)
TEST(TraceFileTest, RunLikeRecordsAreCompact) {
  EventCodec codec;
  size_t total = 0;
  const size_t count = 100000;
  for (size_t i = 0; i < count; ++i) {
    sim::TraceRecord r{.time = sim::SimTime::FromNanoseconds(static_cast<int64_t>(i) * 700),
                       .kind = static_cast<uint16_t>(0x0130 + i % 4),
                       .partition = 1,
                       .vp = static_cast<uint32_t>(i % 2),
                       .channel = 3,
                       .id0 = 0x8000400000000003ull + 96 * (i / 4),
                       .id1 = i / 4,
                       .size0 = 96,
                       .size1 = 6};
    uint8_t bytes[EventCodec::kEventBytesMax];
    total += 1 + codec.Encode(r, bytes);  // With its length byte.
  }
  EXPECT_LE(total, count * 13);  // length 1, time 3, kind 3, id0 3, id1 2.
}

// A trace is input: any bytes are read to their end or refused with
// DataLoss/InvalidArgument, and whatever decodes is safe to print, measure
// and draw. 3000 deterministic mutations (bit flips, byte runs, cuts,
// insertions) of a real recording; run under ASan + UBSan in CI.
TEST(TraceFileTest, MutatedTracesAreReadOrRefusedNeverCrash) {
  const std::string valid_path = "tests/traces/corrupt/valid.trace";
  std::ifstream in(valid_path, std::ios::binary);
  ASSERT_TRUE(in) << valid_path;
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(valid.size(), 1000u);
  sim::Prng prng = sim::Prng::FromSeed(11);
  const std::string path = TempPath("mutated.trace");
  int refused = 0;
  int read = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = valid;
    const int edits = 1 + static_cast<int>(prng.Below(4));
    for (int e = 0; e < edits; ++e) {
      const size_t at = prng.Below(bytes.size());
      switch (prng.Below(4)) {
        case 0: bytes[at] = static_cast<char>(bytes[at] ^ (1 << prng.Below(8))); break;
        case 1: bytes[at] = static_cast<char>(prng.Below(256)); break;
        case 2: bytes.resize(at); break;
        default: bytes.insert(at, std::string(1 + prng.Below(12), static_cast<char>(prng.Below(256)))); break;
      }
      if (bytes.empty()) break;
    }
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    absl::StatusOr<std::unique_ptr<TraceReader>> reader = TraceReader::Open(path);
    if (!reader.ok()) {
      EXPECT_TRUE(reader.status().code() == absl::StatusCode::kDataLoss ||
                  reader.status().code() == absl::StatusCode::kInvalidArgument)
          << reader.status();
      ++refused;
      continue;
    }
    scenario::TimelineWriter timeline;
    TraceMetrics metrics;
    sim::TraceRecord r;
    sim::TraceRecord previous;
    absl::Status status;
    for (;;) {
      absl::StatusOr<bool> more = (*reader)->Next(&r);
      if (!more.ok()) {
        status = more.status();
        break;
      }
      if (!*more) break;
      EXPECT_FALSE(FormatText(r).empty());
      EXPECT_FALSE(FormatJson(r).empty());
      DifferingFields(previous, r);
      timeline.OnRecord(r);
      metrics.OnRecord(r);
      previous = r;
    }
    EXPECT_FALSE(timeline.ToJson().empty());
    EXPECT_FALSE(CompareFigures(metrics.Channels({}), {}, "a", "b").empty());
    if (status.ok()) {
      ++read;
    } else {
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
      EXPECT_NE(status.message().find(": byte "), std::string::npos) << status;
      ++refused;
    }
  }
  std::printf("3000 mutations: %d read to the end, %d refused\n", read, refused);
  EXPECT_GT(refused, 2500);
}

TEST(TraceFileTest, UnwritablePathIsAnInputError) {
  absl::StatusOr<std::unique_ptr<TraceWriter>> writer = TraceWriter::Create("/nonexistent-dir/x.trace", {});
  ASSERT_FALSE(writer.ok());
  EXPECT_EQ(writer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(writer.status().message().find("/nonexistent-dir/x.trace: cannot write"), std::string::npos);
}

}  // namespace
}  // namespace vmbsim::recording
