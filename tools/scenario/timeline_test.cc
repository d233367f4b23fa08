// Goal: the timeline is a valid Chrome trace-event file that draws what the
// records say: VP slices, ring occupancy counters, a transaction's flow from
// send through delivery to finish, instants; it stops at its bound, and its
// gzip form holds exactly the same text.
// Method: feed hand-made records for one echoed packet straight into the sink,
// parse the output back with nlohmann/json and look for each event.

#include "tools/scenario/timeline.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "nlohmann/json.hpp"
#include "sim/core/sim_time.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"
#include "tools/faults/catalogue.h"
#include "tools/scenario/gzip.h"

namespace vmbsim::scenario {
namespace {

using fabric::FabricTraceKind;
using fabric::TraceKind;


constexpr uint64_t kGuestHandle = 0x8001000000000002ull;
constexpr uint64_t kHostHandle = 0x8001000000000005ull;

sim::TraceRecord Record(int64_t ns, uint16_t kind, uint16_t partition, uint32_t vp, uint32_t channel,
                        uint64_t id0 = 0, uint64_t id1 = 0, uint64_t size0 = 0, uint64_t size1 = 0) {
  return sim::TraceRecord{.time = sim::SimTime::FromNanoseconds(ns),
                          .kind = kind,
                          .partition = partition,
                          .vp = vp,
                          .channel = channel,
                          .id0 = id0,
                          .id1 = id1,
                          .size0 = size0,
                          .size1 = size1};
}

sim::TraceRecord WorkEnd(int64_t end_ns, uint16_t partition, uint32_t vp, uint64_t irql, int64_t busy_ns) {
  return Record(end_ns, TraceKind(FabricTraceKind::kVpWorkEnd), partition, vp, 0, irql, 0,
                static_cast<uint64_t>(busy_ns));
}

// One echoed request on relid 3 of guest 1, in the order the model emits
// records (a slice's record arrives at its end, after what ran inside it):
//   guest VP0 DPC  [1.000, 3.001] us: send trans 7, ring write 128 B;
//   host VP1: interrupt at 2.0, DPC [2.1, 4.0]: read 128 B, ProcessPacket,
//             batch end, completion written (96 B);
//   guest VP0 DPC  [5.0, 6.0]: read the completion, transaction finished.
void FeedEcho(TimelineWriter* timeline) {
  timeline->OnRecord(Record(1500, kmcl::kKmclSendTraceKind, 1, 0, 3, kGuestHandle, 7, 64, 1));
  timeline->OnRecord(Record(1600, TraceKind(FabricTraceKind::kRingWrite), 1, 0, 3, 0, 7, 128));
  timeline->OnRecord(WorkEnd(3001, 1, 0, 2, 2001));
  timeline->OnRecord(Record(2000, TraceKind(FabricTraceKind::kInterrupt), 0, 1, 0, 2));
  timeline->OnRecord(Record(2200, TraceKind(FabricTraceKind::kRingRead), 0, 1, 3, 0, 7, 128));
  timeline->OnRecord(Record(2300, kmcl::kKmclDeliverTraceKind, 0, 1, 3, kHostHandle, 7, 64, 1));
  timeline->OnRecord(Record(2400, kmcl::kKmclBatchTraceKind, 0, 1, 3, kHostHandle, 0, 1, 1));
  timeline->OnRecord(Record(2500, TraceKind(FabricTraceKind::kRingWrite), 0, 1, 3, 0, 7, 96));
  timeline->OnRecord(WorkEnd(4000, 0, 1, 2, 1900));
  timeline->OnRecord(Record(5100, TraceKind(FabricTraceKind::kRingRead), 1, 0, 3, 0, 7, 96));
  timeline->OnRecord(Record(5200, kmcl::kKmclFinishTraceKind, 1, 0, 3, kGuestHandle, 7, 0, 1));
  timeline->OnRecord(WorkEnd(6000, 1, 0, 2, 1000));
}

nlohmann::json Parse(const std::string& text) {
  nlohmann::json doc = nlohmann::json::parse(text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(doc.is_discarded()) << text;
  return doc;
}

std::vector<nlohmann::json> EventsWithPhase(const nlohmann::json& doc, const std::string& ph) {
  std::vector<nlohmann::json> out;
  for (const nlohmann::json& event : doc["traceEvents"]) {
    if (event["ph"] == ph) out.push_back(event);
  }
  return out;
}

std::vector<nlohmann::json> EventsNamed(const nlohmann::json& doc, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const nlohmann::json& event : doc["traceEvents"]) {
    if (event["name"] == name) out.push_back(event);
  }
  return out;
}

// Goal: the file parses and names its processes and threads.
TEST(TimelineTest, IsAValidTraceEventFileWithMetadata) {
  TimelineWriter timeline;
  timeline.set_scenario("echo \"small\"\n");
  FeedEcho(&timeline);
  const nlohmann::json doc = Parse(timeline.ToJson());
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["displayTimeUnit"], "ns");
  EXPECT_EQ(doc["otherData"]["scenario"], "echo \"small\"\n");
  EXPECT_EQ(doc["otherData"]["truncated"], false);
  ASSERT_TRUE(doc["traceEvents"].is_array());

  std::vector<std::string> names;
  for (const nlohmann::json& m : EventsWithPhase(doc, "M")) {
    if (m["name"] == "process_name") {
      names.push_back("pid " + m["pid"].dump() + " " + m["args"]["name"].get<std::string>());
    } else if (m["name"] == "thread_name") {
      names.push_back("pid " + m["pid"].dump() + " tid " + m["tid"].dump() + " " +
                      m["args"]["name"].get<std::string>());
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pid 0 root", "pid 1 guest 1", "pid 0 tid 1 VP 1",
                                             "pid 1 tid 0 VP 0"}));
}

// Goal: one "X" slice per work item, starting at end - busy, in microseconds
// with nanosecond precision, named by IRQL; events come out in time order.
TEST(TimelineTest, DrawsVpWorkSlices) {
  TimelineWriter timeline;
  FeedEcho(&timeline);
  timeline.OnRecord(WorkEnd(9000, 0, 1, 0, 500));
  const std::string json = timeline.ToJson();
  const nlohmann::json doc = Parse(json);
  const std::vector<nlohmann::json> slices = EventsWithPhase(doc, "X");
  ASSERT_EQ(slices.size(), 4u);
  EXPECT_EQ(slices[0]["name"], "DPC");
  EXPECT_EQ(slices[0]["pid"], 1);
  EXPECT_EQ(slices[0]["tid"], 0);
  EXPECT_DOUBLE_EQ(slices[0]["ts"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(slices[0]["dur"].get<double>(), 2.001);
  EXPECT_NE(json.find("\"ts\":1,\"dur\":2.001"), std::string::npos);  // Exact, from integers, no spare zeros.
  EXPECT_FALSE(slices[0].contains("args"));  // The name says the IRQL.
  EXPECT_FALSE(slices[0].contains("cat"));
  EXPECT_EQ(slices[1]["pid"], 0);
  EXPECT_DOUBLE_EQ(slices[1]["ts"].get<double>(), 2.1);
  EXPECT_EQ(slices[3]["name"], "passive");
  EXPECT_DOUBLE_EQ(slices[3]["ts"].get<double>(), 8.5);

  double previous = -1;
  for (const nlohmann::json& event : doc["traceEvents"]) {
    if (event["ph"] == "M") continue;
    EXPECT_GE(event["ts"].get<double>(), previous) << event.dump();
    previous = event["ts"].get<double>();
  }
}

// Goal: a preempted item's slice encloses the items that preempted it, as
// the VP's time did (fabric::Preemption::kPacket). The records arrive as
// the model emits them: the preempted item's first, stamped with its own
// busy time before the preemption happened.
TEST(TimelineTest, APreemptedSliceIsStretchedByThePreemptingOnes) {
  TimelineWriter timeline;
  timeline.OnRecord(WorkEnd(10000, 0, 1, 0, 10000));  // passive [0, 10] us.
  timeline.OnRecord(WorkEnd(4000, 0, 1, 2, 2000));    // DPC [2, 4]: preempts it.
  timeline.OnRecord(WorkEnd(3500, 0, 1, 3, 500));     // ISR [3, 3.5]: preempts both.
  timeline.OnRecord(WorkEnd(9000, 0, 1, 2, 1000));    // DPC [8, 9]: preempts the passive item again.
  timeline.OnRecord(WorkEnd(14000, 0, 1, 2, 500));    // DPC [13.5, 14]: after it (it ended at 13.5).
  timeline.OnRecord(WorkEnd(1000, 0, 2, 0, 1000));    // Another VP: untouched.
  const nlohmann::json doc = Parse(timeline.ToJson());
  std::map<std::pair<double, int>, double> dur;  // (ts, tid) -> dur.
  for (const nlohmann::json& slice : EventsWithPhase(doc, "X")) {
    dur[{slice["ts"].get<double>(), slice["tid"].get<int>()}] = slice["dur"].get<double>();
  }
  ASSERT_EQ(dur.size(), 6u);
  EXPECT_DOUBLE_EQ((dur[{0.0, 1}]), 13.5);  // 10 + 2.5 (the first DPC, with its ISR) + 1.
  EXPECT_DOUBLE_EQ((dur[{2.0, 1}]), 2.5);   // 2 + 0.5.
  EXPECT_DOUBLE_EQ((dur[{3.0, 1}]), 0.5);
  EXPECT_DOUBLE_EQ((dur[{8.0, 1}]), 1.0);
  EXPECT_DOUBLE_EQ((dur[{13.5, 1}]), 0.5);
  EXPECT_DOUBLE_EQ((dur[{0.0, 2}]), 1.0);
}

// Goal: each ring direction has its own counter, written bytes minus read
// bytes, drawn in the guest's process; the host side's ring is found by relid.
TEST(TimelineTest, CountsRingOccupancyPerDirection) {
  TimelineWriter timeline;
  FeedEcho(&timeline);
  const nlohmann::json doc = Parse(timeline.ToJson());
  std::vector<int64_t> to_host;
  for (const nlohmann::json& c : EventsNamed(doc, "ring r3 to host")) {
    EXPECT_EQ(c["ph"], "C");
    EXPECT_EQ(c["pid"], 1);
    EXPECT_FALSE(c.contains("tid"));  // A counter belongs to the process.
    to_host.push_back(c["args"]["bytes"].get<int64_t>());
  }
  EXPECT_EQ(to_host, (std::vector<int64_t>{128, 0}));
  std::vector<int64_t> to_guest;
  for (const nlohmann::json& c : EventsNamed(doc, "ring r3 to guest")) {
    to_guest.push_back(c["args"]["bytes"].get<int64_t>());
  }
  EXPECT_EQ(to_guest, (std::vector<int64_t>{96, 0}));
  EXPECT_EQ(EventsWithPhase(doc, "C").size(), 4u);
}

// Goal: a host-side ring record belongs to the guest a KMCL record named for
// that relid, else to guest 1.
TEST(TimelineTest, HostSideRingsTakeTheGuestFromKmclRecords) {
  TimelineWriter timeline;
  timeline.OnRecord(Record(100, kmcl::kKmclStateTraceKind, 2, 0, 5, 0x8002000000000001ull, 2, 1));
  timeline.OnRecord(Record(200, TraceKind(FabricTraceKind::kRingWrite), 0, 0, 5, 0, 1, 64));
  timeline.OnRecord(Record(300, TraceKind(FabricTraceKind::kRingWrite), 0, 0, 9, 0, 1, 64));
  const nlohmann::json doc = Parse(timeline.ToJson());
  const std::vector<nlohmann::json> r5 = EventsNamed(doc, "ring r5 to guest");
  ASSERT_EQ(r5.size(), 1u);
  EXPECT_EQ(r5[0]["pid"], 2);
  const std::vector<nlohmann::json> r9 = EventsNamed(doc, "ring r9 to guest");
  ASSERT_EQ(r9.size(), 1u);
  EXPECT_EQ(r9[0]["pid"], 1);
}

// Goal: a transaction is one flow: "s" at the send on the guest, "t" at the
// host's ProcessPacket, "f" bound to the enclosing slice at the finish.
TEST(TimelineTest, DrawsATransactionAsAFlow) {
  TimelineWriter timeline;
  FeedEcho(&timeline);
  const nlohmann::json doc = Parse(timeline.ToJson());
  const std::vector<nlohmann::json> starts = EventsWithPhase(doc, "s");
  const std::vector<nlohmann::json> steps = EventsWithPhase(doc, "t");
  const std::vector<nlohmann::json> ends = EventsWithPhase(doc, "f");
  ASSERT_EQ(starts.size(), 1u);
  ASSERT_EQ(steps.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(starts[0]["id"], steps[0]["id"]);
  EXPECT_EQ(starts[0]["id"], ends[0]["id"]);
  for (const nlohmann::json* e : {&starts[0], &steps[0], &ends[0]}) {
    EXPECT_EQ((*e)["name"], "packet");
  }
  EXPECT_EQ(starts[0]["pid"], 1);
  EXPECT_DOUBLE_EQ(starts[0]["ts"].get<double>(), 1.5);
  EXPECT_EQ(starts[0]["args"]["trans"], 7);
  EXPECT_EQ(starts[0]["args"]["ch"], "g1/r3");
  EXPECT_EQ(starts[0]["args"]["bytes"], 64);
  EXPECT_EQ(steps[0]["pid"], 0);
  EXPECT_EQ(steps[0]["tid"], 1);
  EXPECT_DOUBLE_EQ(steps[0]["ts"].get<double>(), 2.3);
  EXPECT_EQ(ends[0]["bp"], "e");
  EXPECT_EQ(ends[0]["pid"], 1);
  EXPECT_DOUBLE_EQ(ends[0]["ts"].get<double>(), 5.2);
  EXPECT_FALSE(ends[0].contains("args"));  // Success says nothing.
}

// Goal: a transaction that fails shows its NTSTATUS at the flow's end.
TEST(TimelineTest, AFailedFlowEndCarriesItsStatus) {
  TimelineWriter timeline;
  timeline.OnRecord(Record(1000, kmcl::kKmclSendTraceKind, 1, 0, 3, kGuestHandle, 9, 64, 1));
  timeline.OnRecord(Record(2000, kmcl::kKmclFinishTraceKind, 1, 0, 3, kGuestHandle, 9, 0xC0000120u, 1));
  const std::vector<nlohmann::json> ends = EventsWithPhase(Parse(timeline.ToJson()), "f");
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0]["args"]["status"], "0xc0000120");
}

// Goal: a send without WAIT finishes at ring entry; when that finish is
// stamped before the delivery (two VPs' local clocks), the step is left out
// so the flow still ends last.
TEST(TimelineTest, LeavesOutAStepAfterTheFlowEnds) {
  TimelineWriter timeline;
  timeline.OnRecord(Record(1000, kmcl::kKmclSendTraceKind, 1, 0, 3, kGuestHandle, 9, 64, 1));
  timeline.OnRecord(Record(1200, kmcl::kKmclDeliverTraceKind, 0, 0, 3, kHostHandle, 9, 64, 1));
  timeline.OnRecord(Record(1100, kmcl::kKmclFinishTraceKind, 1, 0, 3, kGuestHandle, 9, 0, 1));
  const nlohmann::json doc = Parse(timeline.ToJson());
  EXPECT_EQ(EventsWithPhase(doc, "s").size(), 1u);
  EXPECT_EQ(EventsWithPhase(doc, "t").size(), 0u);
  EXPECT_EQ(EventsWithPhase(doc, "f").size(), 1u);
  EXPECT_EQ(EventsNamed(doc, "ProcessPacket").size(), 1u);  // The delivery itself stays.
}

// Goal: deliveries, interrupts and batch ends are thread-scoped instants.
TEST(TimelineTest, MarksDeliveriesInterruptsAndBatchEnds) {
  TimelineWriter timeline;
  FeedEcho(&timeline);
  const nlohmann::json doc = Parse(timeline.ToJson());
  const std::vector<nlohmann::json> instants = EventsWithPhase(doc, "i");
  ASSERT_EQ(instants.size(), 3u);
  EXPECT_EQ(instants[0]["name"], "interrupt");
  EXPECT_EQ(instants[0]["args"]["sint"], 2);
  EXPECT_EQ(instants[1]["name"], "ProcessPacket");
  EXPECT_EQ(instants[1]["args"]["ch"], "g1/r3");
  EXPECT_EQ(instants[1]["args"]["trans"], 7);
  EXPECT_EQ(instants[1]["args"]["bytes"], 64);
  EXPECT_FALSE(instants[1]["args"].contains("passive"));  // Only a PASSIVE delivery says so.
  EXPECT_EQ(instants[2]["name"], "batch end");
  EXPECT_EQ(instants[2]["args"]["packets"], 1);
  EXPECT_EQ(instants[2]["args"]["ch"], "g1/r3");
  for (const nlohmann::json& i : instants) {
    EXPECT_FALSE(i.contains("s"));  // Thread scope, the format's default.
    EXPECT_EQ(i["pid"], 0);
    EXPECT_EQ(i["tid"], 1);
  }
}

// Goal: fault firings and a liveness verdict appear as instants named by
// the catalogue, with the injection, transaction and detail as arguments.
TEST(TimelineTest, MarksFaultsAndStuck) {
  TimelineWriter timeline;
  timeline.OnRecord(Record(1000, faults::kFaultFiredTraceKind, 1, 0, 3,
                           static_cast<uint64_t>(faults::FaultKind::kCompletionDrop), 2, 17, 0));
  timeline.OnRecord(Record(9000, faults::kFaultStuckTraceKind, 0, 0, 0, 0, 0, 5000, 4));
  const nlohmann::json doc = Parse(timeline.ToJson());
  const std::vector<nlohmann::json> instants = EventsWithPhase(doc, "i");
  ASSERT_EQ(instants.size(), 2u);
  EXPECT_EQ(instants[0]["name"], "fault: completion_drop");
  EXPECT_EQ(instants[0]["s"], "p");
  EXPECT_EQ(instants[0]["pid"], 1);
  EXPECT_EQ(instants[0]["args"]["injection"], 2);
  EXPECT_EQ(instants[0]["args"]["trans"], 17);
  EXPECT_EQ(instants[1]["name"], "stuck");
  EXPECT_EQ(instants[1]["args"]["idle_ns"], 5000);
  EXPECT_EQ(instants[1]["args"]["open_sends"], 4);
}

// Goal: collection stops at the bound and the file says so.
TEST(TimelineTest, StopsAtTheBoundAndSaysSo) {
  TimelineWriter timeline(/*max_events=*/3);
  for (int64_t ns = 0; ns < 5; ++ns) {
    timeline.OnRecord(Record(ns * 1000, TraceKind(FabricTraceKind::kInterrupt), 1, 0, 0, 2));
  }
  EXPECT_TRUE(timeline.truncated());
  EXPECT_EQ(timeline.event_count(), 3u);
  const nlohmann::json doc = Parse(timeline.ToJson());
  EXPECT_EQ(doc["otherData"]["truncated"], true);
  EXPECT_EQ(EventsWithPhase(doc, "i").size(), 3u);

  TimelineWriter roomy(/*max_events=*/5);
  for (int64_t ns = 0; ns < 5; ++ns) {
    roomy.OnRecord(Record(ns * 1000, TraceKind(FabricTraceKind::kInterrupt), 1, 0, 0, 2));
  }
  EXPECT_FALSE(roomy.truncated());
}

// Goal: the same records give the same bytes, and WriteFile writes them.
TEST(TimelineTest, IsDeterministicAndWritesTheFile) {
  TimelineWriter a;
  TimelineWriter b;
  FeedEcho(&a);
  FeedEcho(&b);
  EXPECT_EQ(a.ToJson(), b.ToJson());

  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/timeline.json";
  ASSERT_TRUE(a.WriteFile(path).ok());
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), a.ToJson());

  EXPECT_EQ(a.WriteFile(std::string(std::getenv("TEST_TMPDIR")) + "/missing/dir/t.json").code(),
            absl::StatusCode::kUnavailable);
}

// Goal: microseconds keep every nanosecond and print no spare zeros.
TEST(TimelineTest, PrintsMicrosecondsWithOnlyTheDigitsNeeded) {
  TimelineWriter timeline;
  for (const int64_t ns : {0, 7, 1000, 1200, 1230, 1234, 123456789}) {
    timeline.OnRecord(Record(ns, TraceKind(FabricTraceKind::kInterrupt), 1, 0, 0, 2));
  }
  const std::string json = timeline.ToJson();
  for (const char* ts : {"\"ts\":0,", "\"ts\":0.007,", "\"ts\":1,", "\"ts\":1.2,", "\"ts\":1.23,", "\"ts\":1.234,",
                         "\"ts\":123456.789,"}) {
    EXPECT_NE(json.find(ts), std::string::npos) << ts;
  }
}

// Goal: a path ending in ".gz" gets the same text gzip-compressed, smaller,
// and a plain path gets the text itself.
TEST(TimelineTest, WritesGzipWhenThePathEndsInGz) {
  TimelineWriter timeline;
  for (int i = 0; i < 50; ++i) FeedEcho(&timeline);
  const std::string json = timeline.ToJson();
  EXPECT_EQ(timeline.ToFileContents("t.json"), json);
  const std::string gz = timeline.ToFileContents("t.json.gz");
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // The gzip magic (RFC 1952).
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_LT(gz.size() * 4, json.size());

  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/timeline.json.gz";
  ASSERT_TRUE(timeline.WriteFile(path).ok());
  std::ifstream in(path, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  absl::StatusOr<std::string> text = GzipDecompress(bytes.str());
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, json);
}

}  // namespace
}  // namespace vmbsim::scenario
