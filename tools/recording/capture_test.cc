// The capture parsers and the scenario writer, without the simulator: what
// each record becomes (requests with times relative to the first record,
// counted-only traffic), the messages for malformed lines, and the JSON
// text of the scenario. Loading and running imported scenarios is
// tests/capture_import_test.cc.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/recording/capture_csv.h"
#include "tools/recording/capture_scenario.h"
#include "tools/recording/capture_trace_cmd.h"

namespace vmbsim::recording {
namespace {

using ::testing::HasSubstr;

TEST(CsvCapture, RecordsBecomeRequestsAndCounts) {
  const absl::StatusOr<Capture> capture = ParseCsvCapture(
      "# a comment\n"
      "\n"
      " time_ns , channel,direction,size,flags\r\n"
      "1000,net0,g2h,64,signal\n"
      "1500,disk,g2h,512,\n"
      "2000,net0,h2g,1514,\n"
      "2500,net0,g2h,8,completion\n"
      "3000,net0,g2h,128,signal|\n"  // An empty flag name is refused below; not here.
      ,
      "c.csv", 4096);
  ASSERT_FALSE(capture.ok());  // "signal|" has an empty flag.
  EXPECT_THAT(capture.status().message(), HasSubstr("c.csv:8: flags: expected"));

  const absl::StatusOr<Capture> good = ParseCsvCapture(
      "# a comment\n"
      "\n"
      " time_ns , channel,direction,size,flags\r\n"
      "1000,net0,g2h,64,signal\n"
      "1500,disk,g2h,512,\n"
      "2000,net0,h2g,1514,\n"
      "2500,net0,g2h,8,completion\n"
      "3000,net0,g2h,128,signal|completion\n"
      "3000,net0,g2h,4096,\n",
      "c.csv", 4096);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->origin_ns, 1000);
  EXPECT_EQ(good->lines, 9u);
  EXPECT_EQ(good->records, 6u);
  EXPECT_EQ(good->skipped_lines, 3u);
  ASSERT_EQ(good->channels.size(), 2u);
  const CaptureChannel& net = good->channels[0];
  EXPECT_EQ(net.name, "net0");
  ASSERT_EQ(net.requests.size(), 2u);
  EXPECT_EQ(net.requests[0].time_ns, 0);
  EXPECT_EQ(net.requests[0].bytes, 64u);
  EXPECT_EQ(net.requests[1].time_ns, 2000);
  EXPECT_EQ(net.requests[1].bytes, 4096u);
  EXPECT_EQ(net.host_packets, 1u);
  EXPECT_EQ(net.host_bytes, 1514u);
  EXPECT_EQ(net.guest_completions, 2u);
  EXPECT_EQ(net.signals, 2u);
  EXPECT_EQ(good->channels[1].name, "disk");
  ASSERT_EQ(good->channels[1].requests.size(), 1u);
  EXPECT_EQ(good->channels[1].requests[0].time_ns, 500);
}

TEST(CsvCapture, MalformedLinesNameTheLineAndField) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"time,channel\n", "c.csv:1: expected the header \"time_ns,channel,direction,size,flags\", found \"time,channel\""},
      {"# only a comment\n", "c.csv: expected the header"},
      {"time_ns,channel,direction,size,flags\n1,a,g2h,1\n", "c.csv:2: expected 5 fields"},
      {"time_ns,channel,direction,size,flags\n-1,a,g2h,1,\n", "c.csv:2: time_ns: expected an integer"},
      {"time_ns,channel,direction,size,flags\n5,a,g2h,1,\n4,a,g2h,1,\n",
       "c.csv:3: time_ns: expected records in time order, found 4 after 5"},
      {"time_ns,channel,direction,size,flags\n1,a b,g2h,1,\n", "c.csv:2: channel: expected a name"},
      {"time_ns,channel,direction,size,flags\n1,a,up,1,\n", "c.csv:2: direction: expected \"g2h\" or \"h2g\", found \"up\""},
      {"time_ns,channel,direction,size,flags\n1,a,g2h,0,\n", "c.csv:2: size: expected a request of 1..4096 bytes"},
      {"time_ns,channel,direction,size,flags\n1,a,g2h,4097,\n", "found \"4097\""},
      {"time_ns,channel,direction,size,flags\n1,a,g2h,1,urgent\n", "c.csv:2: flags: expected \"completion\" or \"signal\""},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<Capture> capture = ParseCsvCapture(c.text, "c.csv", 4096);
    ASSERT_FALSE(capture.ok()) << c.text;
    EXPECT_EQ(capture.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(capture.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(TraceCmdCapture, NetvscSendsBecomeRequests) {
  const absl::StatusOr<Capture> capture = ParseTraceCmdCapture(
      "cpus=2\n"
      "  kworker/0:1-31    [000]   100.000100: vmbus_onoffer:        child_relid 0xe, monitorid 0x1, is_dedicated 1, "
      "connection_id 0x1000e, if_type f8615163-df3e-46c5-913f-f2d2f965ed0e, if_instance "
      "6c6a6a1c-27a4-4b69-9c8e-1b8e6d8e0a11, chn_flags 0x0, mmio_megabytes 0, sub_channel_index 0\n"
      "  kworker/0:1-31    [000]   100.000200: vmbus_open:           sending child_relid 0xe, openid 14, "
      "gpadlhandle 0xe1e1, target_vp 0x1, offset 0xc0, ret 0\n"
      "  kworker/0:1-31    [000]   100.000300: rndis_send:           dev=eth0 q=0 req=0x2 type=QUERY msg_len=64\n"
      "  kworker/0:1-31    [000]   100.000301: nvsp_send_pkt:        dev=eth0 qid=0 type=CONTROL section=4294967295 "
      "size=0\n"
      "          <idle>-0     [001]   100.000400: sched_switch:         prev_comm=x\n"
      "            ping-99    [001]   100.001000: nvsp_send_pkt:        dev=eth0 qid=0 type=DATA section=3 size=98\n"
      "            ping-99    [001]   100.001001: vmbus_setevent:       relid 0xe\n"
      "          <idle>-0     [001]   100.001500: nvsp_recv:            dev=eth0 qid=0 type=SEND_RNDIS_PKT\n"
      "          <idle>-0     [001]   100.001501: rndis_recv:           dev=eth0 q=0 req=0 type=PACKET msg_len=142\n"
      "         swapper     0 [001]   100.002000: netvsc:nvsp_send_pkt: dev=eth0 qid=0 type=DATA section=1 size=0\n",
      "t.txt", 4096);
  ASSERT_TRUE(capture.ok()) << capture.status();
  EXPECT_EQ(capture->origin_ns, 100'000'100'000);
  EXPECT_EQ(capture->unknown_lines, 1u);
  EXPECT_EQ(capture->unknown_events.at("sched_switch"), 1u);
  ASSERT_EQ(capture->channels.size(), 1u);
  const CaptureChannel& q0 = capture->channels[0];
  EXPECT_EQ(q0.name, "eth0-q0");
  ASSERT_EQ(q0.requests.size(), 3u);
  EXPECT_EQ(q0.requests[0].time_ns, 201'000);  // The CONTROL packet carries the rndis_send's 64 bytes.
  EXPECT_EQ(q0.requests[0].bytes, 64u);
  EXPECT_EQ(q0.requests[1].time_ns, 900'000);
  EXPECT_EQ(q0.requests[1].bytes, 98u);
  EXPECT_EQ(q0.requests[2].bytes, 4096u);  // Page-buffer DATA send: no size, max_packet_bytes.
  EXPECT_EQ(q0.host_packets, 1u);
  EXPECT_EQ(q0.host_bytes, 142u);
  EXPECT_EQ(q0.relid, 0xeu);
  EXPECT_EQ(q0.guest_target_vp, 1u);
  EXPECT_EQ(q0.signals, 1u);
}

TEST(TraceCmdCapture, MalformedKnownEventsNameTheLine) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {" a-1 [000] 1.000001: vmbus_setevent: relid zz\n",
       "t.txt:1: vmbus_setevent: expected \"relid 0x<hex>\", found \"relid zz\""},
      {" a-1 [000] 1.0000000001: vmbus_setevent: relid 0x1\n", "t.txt:1: vmbus_setevent: expected a timestamp"},
      {" a-1 [000] 2.0: nvsp_recv: dev=e qid=0 type=X\n a-1 [000] 1.0: nvsp_recv: dev=e qid=0 type=X\n",
       "t.txt:2: nvsp_recv: expected events in time order"},
      {" a-1 [000] 1.0: nvsp_send_pkt: dev=e qid=0 type=DATA section=1 size=5000\n",
       "t.txt:1: nvsp_send_pkt: expected a request of 1..4096 bytes"},
      {" a-1 [000] 1.0: sched_switch: x\n", "t.txt: expected nvsp_send_pkt or nvsp_recv events"},
  };
  for (const auto& c : cases) {
    const absl::StatusOr<Capture> capture = ParseTraceCmdCapture(c.text, "t.txt", 4096);
    ASSERT_FALSE(capture.ok()) << c.text;
    EXPECT_THAT(capture.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(ScenarioJson, WritesTheTraceWorkload) {
  Capture capture{.source = "c.csv", .format = "csv"};
  ChannelNamed(&capture, "net0").requests = {{.time_ns = 0, .bytes = 64}, {.time_ns = 250, .bytes = 128}};
  ChannelNamed(&capture, "idle");
  const absl::StatusOr<std::string> json = ScenarioJsonFor(capture, {.name = "cap", .max_packet_bytes = 4096});
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"name\": \"cap\""));
  EXPECT_THAT(*json, HasSubstr("{\"channel\": \"net0\", \"start_ns\": 1000000, \"requests\": 2, \"arrival\": {\"kind\": \"trace\", "
                               "\"events\": [\n      [0, 64], [250, 128]\n    ]}}"));
  EXPECT_THAT(*json, ::testing::Not(HasSubstr("\"channel\": \"idle\",")));
  EXPECT_EQ(JsonQuote("a\"b\\c\n\xc3"), "\"a\\\"b\\\\c\\u000a?\"");
  EXPECT_FALSE(ScenarioJsonFor(Capture{.source = "e.csv"}, {.name = "e"}).ok());
}

// Damaged captures never crash an importer: every byte-level mutation of a
// valid capture (a byte changed, a line cut, a digit run repeated) is either
// imported or refused with InvalidArgument naming its file. Deterministic:
// a fixed linear congruential sequence picks the mutations.
TEST(Captures, MutatedInputIsImportedOrRefused) {
  const std::string csv =
      "time_ns,channel,direction,size,flags\n"
      "1000,net0,g2h,64,signal\n"
      "1500,disk,g2h,512,\n"
      "2000,net0,h2g,1514,completion|signal\n";
  const std::string trace_cmd =
      "  k-1 [000] 1.000100: vmbus_onoffer: child_relid 0xe, monitorid 0x1, is_dedicated 1, connection_id 0x1000e, "
      "if_type f8615163-df3e-46c5-913f-f2d2f965ed0e, if_instance 6c6a6a1c-27a4-4b69-9c8e-1b8e6d8e0a11, chn_flags 0x0, "
      "mmio_megabytes 0, sub_channel_index 0\n"
      "  k-1 [000] 1.000200: vmbus_open: sending child_relid 0xe, openid 14, gpadlhandle 0xe1e1, target_vp 0x1, "
      "offset 0xc0, ret 0\n"
      "  k-1 [000] 1.000300: rndis_send: dev=eth0 q=0 req=0x2 type=QUERY msg_len=64\n"
      "  k-1 [000] 1.000301: nvsp_send_pkt: dev=eth0 qid=0 type=CONTROL section=4294967295 size=0\n"
      "  p-9 [001] 1.001000: netvsc:nvsp_send_pkt: dev=eth0 qid=1 type=DATA section=3 size=98\n"
      "  p-9 [001] 1.001001: hyperv:vmbus_setevent: relid 0xe\n"
      "  i-0 [001] 1.001501: rndis_recv: dev=eth0 q=0 req=0 type=PACKET msg_len=142\n"
      "  i-0 [001] 1.001500: nvsp_recv: dev=eth0 qid=0 type=SEND_RNDIS_PKT\n";
  const std::string replacements = "0129:x,. -\n\r|#ffe\t\xff";
  uint64_t state = 15;
  auto next = [&state](uint64_t below) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % below;
  };
  int imported = 0;
  int refused = 0;
  for (int round = 0; round < 4000; ++round) {
    std::string text = round % 2 == 0 ? csv : trace_cmd;
    const int mutations = 1 + static_cast<int>(next(3));
    for (int m = 0; m < mutations; ++m) {
      const size_t at = next(text.size());
      switch (next(3)) {
        case 0:
          text[at] = replacements[next(replacements.size())];
          break;
        case 1:
          text.erase(at, next(12));
          break;
        default:
          text.insert(at, std::string(1 + next(24), '9'));
          break;
      }
    }
    const absl::StatusOr<Capture> capture =
        round % 2 == 0 ? ParseCsvCapture(text, "m.txt", 4096) : ParseTraceCmdCapture(text, "m.txt", 4096);
    if (!capture.ok()) {
      EXPECT_EQ(capture.status().code(), absl::StatusCode::kInvalidArgument) << text;
      EXPECT_TRUE(absl::StartsWith(capture.status().message(), "m.txt")) << capture.status();
      ++refused;
      continue;
    }
    const absl::StatusOr<std::string> json = ScenarioJsonFor(*capture, {.name = "m"});
    if (json.ok()) {
      ++imported;
    } else {
      EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument);
      ++refused;
    }
  }
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  EXPECT_GT(imported, 100);
  EXPECT_GT(refused, 100);
}

}  // namespace
}  // namespace vmbsim::recording
