// report_test.cc
//
// Goal: the figures engineers quote come out right. The warm-up leaves out
// exactly the transactions sent before it (counted against the run's own
// trace), throughput is what was processed over the measured window, the
// percentiles are the ones asked for with their error bounds, and
// report.csv carries the same numbers as report.json. Method: an echo
// channel with Poisson arrivals, run with the real simulator at a fixed
// seed, with and without stop.warmup_ns; report.json parsed with
// nlohmann/json and report.csv split by hand, compared cell by cell.

#include "tools/scenario/report.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "nlohmann/json.hpp"
#include "sim/core/histogram.h"
#include "sim/core/trace.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

constexpr absl::string_view kPoissonEcho = R"json({
  "name": "report_test",
  "seed": 7,
  "channels": [{
    "name": "echo",
    "interface_type": "5ca1ab1e-0000-4000-8000-0000000000cc",
    "interface_instance": "00000000-0000-4000-8000-0000000000cc",
    "host_driver": {"name": "echo_vsp"},
    "guest_driver": {"name": "rr_vsc"}
  }],
  "workloads": [{"channel": "echo", "arrival": {"kind": "poisson", "interval_ns": 20000},
                 "requests": 2000, "size": {"kind": "uniform", "min_bytes": 16, "max_bytes": 512}}]
})json";

struct RunResult {
  RunReport report;
  std::vector<sim::TraceRecord> records;
};

RunResult RunWith(const std::vector<std::string>& overrides, std::vector<double> percentiles = {50, 90, 99, 99.9}) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(kPoissonEcho, "report_test.json", registry.descriptors(), overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  sim::RecordingTraceSink sink;
  RunOptions options;
  options.sinks.push_back(&sink);
  options.percentiles = std::move(percentiles);
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, options);
  EXPECT_TRUE(report.ok()) << report.status();
  return {report.ok() ? *report : RunReport{}, sink.records()};
}

struct Sends {
  uint64_t count = 0;
  uint64_t bytes = 0;
  // What the reader sees: the in-band length is in 8-byte units on the
  // ring, so each packet arrives padded to a multiple of 8.
  uint64_t padded_bytes = 0;
};

// Guest sends (VmbPacketSend*) at or after `from_ns`.
Sends GuestSendsFrom(const std::vector<sim::TraceRecord>& records, int64_t from_ns) {
  Sends sends;
  for (const sim::TraceRecord& r : records) {
    if (r.kind == kmcl::kKmclSendTraceKind && r.partition != 0 && r.time.nanoseconds() >= from_ns) {
      ++sends.count;
      sends.bytes += r.size0;
      sends.padded_bytes += (r.size0 + 7) / 8 * 8;
    }
  }
  return sends;
}

TEST(ReportTest, WarmupLeavesOutExactlyTheTransactionsSentBeforeIt) {
  const RunResult whole = RunWith({});
  constexpr int64_t kWarmupNs = 10'000'000;  // A quarter of the 2000 arrivals (one per 20 us).
  const RunResult warm = RunWith({"stop.warmup_ns=10000000"});
  // Same run: the warm-up changes what is measured, not what happens.
  EXPECT_EQ(warm.report.fingerprint, whole.report.fingerprint);
  EXPECT_EQ(warm.report.warmup_ns, kWarmupNs);
  EXPECT_EQ(warm.report.measured_ns, warm.report.simulated_ns - kWarmupNs);

  const uint64_t sends_all = GuestSendsFrom(whole.records, 0).count;
  const Sends after = GuestSendsFrom(warm.records, kWarmupNs);
  const uint64_t sends_after = after.count;
  ASSERT_EQ(sends_all, 2000u);
  ASSERT_GT(sends_after, 1300u);
  ASSERT_LT(sends_after, 1700u);
  const kmcl::DirectionTransactions& all = whole.report.channels[0].metrics.guest_to_host;
  const kmcl::DirectionTransactions& measured = warm.report.channels[0].metrics.guest_to_host;
  EXPECT_EQ(all.packets_sent, sends_all);
  EXPECT_EQ(measured.packets_sent, sends_after);
  EXPECT_EQ(measured.bytes_sent, after.bytes);
  EXPECT_EQ(measured.packets_processed, sends_after);
  EXPECT_EQ(measured.bytes_processed, after.padded_bytes);
  EXPECT_EQ(measured.transactions_finished, sends_after);
  EXPECT_EQ(measured.send_to_completion_ns.count(), sends_after);
  // Every request still ends: loss is judged over the whole run.
  EXPECT_EQ(warm.report.lost_packets, 0u);
  EXPECT_TRUE(warm.report.expectations_met);

  // Data-path counters and VP busy time restart at the warm-up: less than
  // the whole run, more than nothing.
  const uint64_t host_reads_all = whole.report.channels[0].totals.host.packets_received;
  const uint64_t host_reads = warm.report.channels[0].totals.host.packets_received;
  EXPECT_EQ(host_reads_all, sends_all);
  EXPECT_GT(host_reads, 0u);
  EXPECT_LT(host_reads, host_reads_all);
  EXPECT_LE(warm.report.channels[0].totals.host_batches.count(), warm.report.channels[0].totals.host.batches);
  for (size_t i = 0; i < whole.report.vps.size(); ++i) {
    EXPECT_LE(warm.report.vps[i].busy_ns, whole.report.vps[i].busy_ns) << i;
    EXPECT_LE(warm.report.vps[i].utilisation, 1.0) << i;
  }
}

// Waiting (send -> the host's ProcessPacket) and service (ProcessPacket ->
// its completion) separately. With every cost zero, the service is exactly
// the echo device's own work per request, and the waiting is what a single
// server queue adds: zero for the first request.
TEST(ReportTest, WaitingAndServiceAreSeparate) {
  const RunResult run = RunWith({"fabric.cost_profile=\"zero\"", "channels.0.host_driver.params.service_us=3"});
  const kmcl::DirectionTransactions& d = run.report.channels[0].metrics.guest_to_host;
  ASSERT_EQ(d.process_to_complete_ns.count(), 2000u);
  EXPECT_EQ(d.process_to_complete_ns.min(), 3000);
  EXPECT_EQ(d.process_to_complete_ns.max(), 3000);
  EXPECT_EQ(d.send_to_process_ns.min(), 0);
  EXPECT_GT(d.send_to_process_ns.max(), 0);  // Poisson arrivals queue behind each other.
  // The round trip is the wait plus the service (the completion's way back
  // costs nothing here), request by request, so in the sums too.
  EXPECT_EQ(d.send_to_completion_ns.sum(), d.send_to_process_ns.sum() + d.process_to_complete_ns.sum());
}

TEST(ReportTest, ThroughputIsProcessedOverTheMeasuredWindow) {
  const RunResult warm = RunWith({"stop.warmup_ns=5000000"});
  const nlohmann::json json = nlohmann::json::parse(ReportJson(warm.report));
  const kmcl::DirectionTransactions& d = warm.report.channels[0].metrics.guest_to_host;
  const double seconds = static_cast<double>(warm.report.measured_ns) / 1e9;
  const nlohmann::json& g2h = json["channels"][0]["guest_to_host"];
  EXPECT_NEAR(g2h["packets_per_s"].get<double>(), static_cast<double>(d.packets_processed) / seconds,
              1e-5 * g2h["packets_per_s"].get<double>());
  EXPECT_NEAR(g2h["bytes_per_s"].get<double>(), static_cast<double>(d.bytes_processed) / seconds,
              1e-5 * g2h["bytes_per_s"].get<double>());
  // The offered load is one request per 20 us: throughput near 50,000/s.
  EXPECT_NEAR(json["throughput"]["packets_per_s"].get<double>(), 50000.0, 5000.0);
  EXPECT_EQ(json["warmup_ns"].get<int64_t>(), 5000000);
}

TEST(ReportTest, PercentilesAreTheOnesAskedForWithTheirErrorBounds) {
  const RunResult run = RunWith({}, {50, 99.99, 75});
  const nlohmann::json json = nlohmann::json::parse(ReportJson(run.report));
  const nlohmann::json& latency = json["channels"][0]["guest_to_host"]["send_to_completion"];
  const sim::Histogram& h = run.report.channels[0].metrics.guest_to_host.send_to_completion_ns;
  EXPECT_EQ(latency["p50_ns"].get<int64_t>(), h.ValueAtQuantile(0.5));
  EXPECT_EQ(latency["p9999_ns"].get<int64_t>(), h.ValueAtQuantile(0.9999));
  EXPECT_EQ(latency["p75_ns"].get<int64_t>(), h.ValueAtQuantile(0.75));
  EXPECT_FALSE(latency.contains("p90_ns"));
  for (const char* key : {"p50", "p9999", "p75"}) {
    const int64_t value = latency[std::string(key) + "_ns"].get<int64_t>();
    const int64_t bound = latency[std::string(key) + "_error_ns"].get<int64_t>();
    EXPECT_EQ(bound, sim::Histogram::ErrorBoundAt(value)) << key;
    EXPECT_LE(bound, value / 128) << key;
  }
}

TEST(ReportTest, ParsePercentilesRejectsWhatCannotBeReported) {
  EXPECT_EQ(*ParsePercentiles("50,90,99,99.9,99.99"), (std::vector<double>{50, 90, 99, 99.9, 99.99}));
  EXPECT_EQ(PercentileKey(99.9), "p999");
  EXPECT_EQ(PercentileKey(100), "p100");
  for (const char* bad : {"", "0", "101", "-5", "50,abc", "nan", "99.9,99.90"}) {
    EXPECT_FALSE(ParsePercentiles(bad).ok()) << bad;
  }
  EXPECT_EQ(ParsePercentiles("99.9,99.90").status().message(), "--percentiles: '99.90' repeats p999 (each prints as a report key)");
  EXPECT_EQ(ParsePercentiles("50,abc").status().message(), "--percentiles: 'abc' is not a percentile in (0, 100]");
  EXPECT_FALSE(ParsePercentiles("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17").ok());
}

// report.csv against report.json: every cell of every row.
TEST(ReportTest, CsvCarriesTheSameNumbersAsJson) {
  const RunResult run = RunWith({"stop.warmup_ns=2000000"}, {50, 99, 99.9});
  const nlohmann::json json = nlohmann::json::parse(ReportJson(run.report));
  const std::string csv = ReportCsv(run.report);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1 + 2 * json["channels"].size());
  const std::vector<std::string> header = absl::StrSplit(lines[0], ',');
  size_t row = 1;
  for (const nlohmann::json& channel : json["channels"]) {
    for (const char* direction : {"guest_to_host", "host_to_guest"}) {
      const std::vector<std::string> cells = absl::StrSplit(lines[row++], ',');
      ASSERT_EQ(cells.size(), header.size());
      std::map<std::string, std::string> by_column;
      for (size_t i = 0; i < header.size(); ++i) by_column[header[i]] = cells[i];
      const nlohmann::json& d = channel[direction];
      EXPECT_EQ(by_column["channel"], channel["name"].get<std::string>());
      EXPECT_EQ(by_column["direction"], direction);
      const auto expect_cell = [&](const std::string& column, const nlohmann::json& value) {
        ASSERT_TRUE(by_column.count(column)) << column;
        if (value.is_null()) {
          EXPECT_EQ(by_column[column], "") << column;
        } else {
          EXPECT_DOUBLE_EQ(std::stod(by_column[column]), value.get<double>()) << direction << " " << column;
        }
      };
      for (const char* key : {"packets_sent", "bytes_sent", "packets_processed", "bytes_processed", "packets_per_s",
                              "bytes_per_s", "transactions_finished", "transactions_failed", "signals_sent",
                              "signals_suppressed", "ring_full", "ring_lock_waits", "ring_lock_wait_ns",
                              "reader_doorbells", "packets_per_doorbell"}) {
        expect_cell(key, d[key]);
      }
      for (const char* latency : {"send_to_process", "send_to_completion", "process_to_complete"}) {
        const nlohmann::json& l = d[latency];
        const std::string prefix = std::string(latency) + "_";
        expect_cell(prefix + "count", l["count"]);
        const bool any = l["count"].get<uint64_t>() > 0;
        for (const char* key : {"mean_ns", "p50_ns", "p99_ns", "p999_ns", "max_ns"}) {
          expect_cell(prefix + key, any ? l[key] : nlohmann::json());
        }
      }
    }
  }
}

}  // namespace
}  // namespace vmbsim::scenario
