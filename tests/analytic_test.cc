// Goal: the timing model agrees with queueing theory where a closed form
// exists, so a study's numbers mean what they say.
// Method: scenarios built for the textbook set-ups, run through the runner
// as a library, their report compared with the formula:
//   * M/D/1: Poisson requests, a host service time S (echo_vsp service_us,
//     charged on the host VP), every other cost zero, so the host VP is a
//     FIFO single server and a round trip is exactly the sojourn time. Mean
//     (Pollaczek-Khinchine: S + rho*S / (2(1 - rho))) within 2 %, p50 and
//     p99 within one histogram bucket (1/64 relative) of the exact M/D/1
//     sojourn distribution (Erlang's formula for the waiting time). The p99
//     at rho = 0.9 needs 4 million requests to settle within a bucket
//     (neighbouring requests' times are strongly correlated); under the
//     sanitizers the test runs 400 000 there and checks the mean and p50.
//   * Monitor-page batching: bursts of k requests on a monitored channel with
//     latency L: exactly one host doorbell per burst, k packets per doorbell,
//     and the first packet of each burst processed exactly L after its send
//     (the fixed path is zero in this profile).
// M/M/1 follows when service times can be drawn from a distribution.

#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tests/scenario_testing.h"

namespace vmbsim::scenario {
namespace {


constexpr const char* kChannel = R"json(
  "fabric": {"root_vps": 1, "guests": [{"vps": 1}], "cost_profile": "zero"},
  "channels": [{"name": "c0", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
                "interface_instance": "00000000-0000-4000-8000-000000000001",
                "host_driver": {"name": "echo_vsp", "params": {"service_us": SERVICE_US}},
                "guest_driver": {"name": "rr_vsc"}, MONITOR}],)json";

std::string Scenario(int service_us, const std::string& monitor, const std::string& workload) {
  return absl::StrCat(R"({"name": "analytic", "seed": 1,)",
                      absl::StrReplaceAll(kChannel, {{"SERVICE_US", absl::StrCat(service_us)}, {"MONITOR", monitor}}),
                      R"("workloads": [)", workload, "]}");
}

// P(W <= t) for M/D/1 with arrival rate `lambda` and service `s` (Erlang):
// (1 - rho) * sum_{k=0}^{floor(t/s)} (lambda (k s - t))^k / k! * e^{-lambda (k s - t)}.
// Alternating terms grow large for t >> s; long double keeps the sum exact
// enough for the quantiles used here (t < 40 s).
long double WaitCdf(long double lambda, long double s, long double t) {
  long double sum = 0;
  for (int k = 0; k <= static_cast<int>(std::floor(t / s)); ++k) {
    const long double x = lambda * (k * s - t);
    sum += std::pow(x, k) / std::tgamma(static_cast<long double>(k + 1)) * std::exp(-x);
  }
  return (1 - lambda * s) * sum;
}

// The q-quantile of the sojourn time W + s, by bisection.
double SojournQuantile(double lambda, double s, double q) {
  double lo = 0;
  double hi = 60 * s;
  for (int i = 0; i < 200; ++i) {
    const double mid = (lo + hi) / 2;
    (WaitCdf(lambda, s, mid) < q ? lo : hi) = mid;
  }
  return hi + s;
}

#ifdef VMBSIM_SANITIZED
constexpr bool kLight = true;
#else
constexpr bool kLight = false;
#endif

TEST(AnalyticTest, MD1RoundTripsMatchPollaczekKhinchineAndErlang) {
  constexpr int kServiceUs = 10;
  constexpr double kS = kServiceUs * 1000.0;  // ns
  for (const int rho_percent : {30, 50, 70, 90}) {
    SCOPED_TRACE(absl::StrCat("rho ", rho_percent, "%"));
    const double rho = rho_percent / 100.0;
    const int64_t interval_ns = static_cast<int64_t>(std::llround(kS / rho));
    const bool heavy = rho_percent == 90;
    const int requests = heavy ? (kLight ? 400000 : 4000000) : 200000;
    const RunReport report = testing::RunInline(Scenario(
        kServiceUs, R"("monitored": false)",
        absl::StrCat(R"({"channel": "c0", "arrival": {"kind": "poisson", "interval_ns": )", interval_ns,
                     R"(}, "size": {"kind": "fixed", "bytes": 64}, "requests": )", requests, "}")));
    ASSERT_EQ(report.channels.size(), 1u);
    const sim::Histogram& rt = report.channels[0].metrics.guest_to_host.send_to_completion_ns;
    ASSERT_EQ(rt.count(), static_cast<uint64_t>(requests));
    const double lambda = 1.0 / static_cast<double>(interval_ns);
    const double rho_exact = lambda * kS;
    const double mean_exact = kS + rho_exact * kS / (2 * (1 - rho_exact));
    const double mean = static_cast<double>(rt.sum()) / static_cast<double>(rt.count());
    EXPECT_NEAR(mean / mean_exact, 1.0, 0.02) << "mean " << mean << " ns, P-K " << mean_exact << " ns";
    EXPECT_EQ(rt.min(), static_cast<int64_t>(kS));  // A request that finds the server idle.
    for (const double q : {0.5, 0.99}) {
      if (heavy && kLight && q > 0.5) continue;
      const double exact = SojournQuantile(lambda, kS, q);
      const double measured = static_cast<double>(rt.ValueAtQuantile(q));
      EXPECT_LE(std::fabs(measured - exact), exact / 64) << "p" << q * 100 << ": " << measured << " vs " << exact;
    }
  }
}

TEST(AnalyticTest, MonitorPageBatchingCountsAreExact) {
  for (const int k : {1, 4, 16}) {
    for (const int latency_us : {25, 100}) {
      SCOPED_TRACE(absl::StrCat(k, " per burst, latency ", latency_us, " us"));
      const int bursts = 50;
      const RunReport report = testing::RunInline(Scenario(
          0, absl::StrCat(R"("monitored": true, "interrupt_latency_100ns": )", latency_us * 10),
          absl::StrCat(R"({"channel": "c0", "arrival": {"kind": "bursts", "burst": )", k,
                       R"(, "interval_ns": 1000000}, "size": {"kind": "fixed", "bytes": 64}, "requests": )",
                       k * bursts, R"(, "start_ns": 1000000})")));
      ASSERT_EQ(report.channels.size(), 1u);
      const ChannelReport& c = report.channels[0];
      EXPECT_EQ(c.totals.host.doorbells, static_cast<uint64_t>(bursts));
      EXPECT_EQ(c.totals.host.packets_received, static_cast<uint64_t>(k * bursts));
      EXPECT_EQ(c.totals.host_batches.count(), static_cast<uint64_t>(bursts));
      EXPECT_EQ(c.totals.host_batches.min(), k);
      EXPECT_EQ(c.totals.host_batches.max(), k);
      const sim::Histogram& to_process = c.metrics.guest_to_host.send_to_process_ns;
      EXPECT_EQ(to_process.min(), latency_us * 1000);  // Every packet of a burst waits exactly L.
      EXPECT_EQ(to_process.max(), latency_us * 1000);
      EXPECT_EQ(report.monitors.at(0).fires, static_cast<uint64_t>(bursts));
    }
  }
}

}  // namespace
}  // namespace vmbsim::scenario
