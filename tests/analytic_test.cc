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
//   * M/M/1: Poisson requests, an exponential host service time (echo_vsp
//     `service`), every other cost zero. The round trip is the M/M/1 FIFO
//     sojourn time, exponential with mean S / (1 - rho): mean within 2 %
//     and p99 (ln(100) S / (1 - rho)) within 5 % at rho = 0.5 and 0.8.
//   * M/D/1 with a fixed `service`: mean within 1 % of Pollaczek-Khinchine
//     at rho = 0.5 and 0.8.
//   * Guest service, placement and the new arrival kinds, where the answer
//     is exact or a long-run rate: a closed loop with host service S_h and
//     guest service S_g cycles every S_h + S_g with round trips of exactly
//     S_h; host_target_vp moves the host work to the VP it names; renewal
//     and MMPP-2 arrivals come at their long-run rate.
// Sample sizes: the error of a queue's sample mean shrinks slowly, because
// neighbouring sojourn times are correlated (at rho = 0.8 the M/M/1 mean of
// 10^5 requests has a standard error of about 3 %). Each size below is the
// smallest that puts the tolerance at 3 or more standard errors, estimated
// by a Lindley-recursion simulation over many seeds, so the tests do not
// pass by the luck of one seed.

#include <cmath>
#include <cstdint>
#include <cstdio>
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
  "fabric": {"root_vps": ROOT_VPS, "guests": [{"vps": 1}], "cost_profile": "zero"},
  "channels": [{"name": "c0", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
                "interface_instance": "00000000-0000-4000-8000-000000000001",
                "host_driver": {"name": "echo_vsp", "params": HOST_PARAMS},
                "guest_driver": {"name": "rr_vsc", "params": GUEST_PARAMS}, MONITOR}],)json";

// A one-channel scenario: echo_vsp with `host_params` (a JSON object) on
// `root_vps` host VPs, rr_vsc with `guest_params`, the channel's extra keys
// `monitor`, and `workload`.
std::string ScenarioWith(const std::string& host_params, const std::string& guest_params, const std::string& monitor,
                         const std::string& workload, int root_vps = 1) {
  return absl::StrCat(R"({"name": "analytic", "seed": 1,)",
                      absl::StrReplaceAll(kChannel, {{"ROOT_VPS", absl::StrCat(root_vps)},
                                                     {"HOST_PARAMS", host_params},
                                                     {"GUEST_PARAMS", guest_params},
                                                     {"MONITOR", monitor}}),
                      R"("workloads": [)", workload, "]}");
}

std::string Scenario(int service_us, const std::string& monitor, const std::string& workload) {
  return ScenarioWith(absl::StrCat(R"({"service_us": )", service_us, "}"), "{}", monitor, workload);
}

// `requests` Poisson arrivals with mean gap `interval_ns`, 64 bytes each.
std::string PoissonWorkload(int64_t interval_ns, int requests) {
  return absl::StrCat(R"({"channel": "c0", "arrival": {"kind": "poisson", "interval_ns": )", interval_ns,
                      R"(}, "size": {"kind": "fixed", "bytes": 64}, "requests": )", requests, "}");
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

TEST(AnalyticTest, MM1RoundTripsAreExponentialSojournTimes) {
  constexpr double kS = 10000;  // Mean service, ns.
  for (const int rho_percent : {50, 80}) {
    SCOPED_TRACE(absl::StrCat("rho ", rho_percent, "%"));
    const double rho = rho_percent / 100.0;
    const int64_t interval_ns = static_cast<int64_t>(std::llround(kS / rho));
    const int requests = rho_percent == 50 ? 300000 : (kLight ? 400000 : 2000000);
    const RunReport report = testing::RunInline(ScenarioWith(
        R"({"service": {"kind": "exponential", "mean_ns": 10000}})", "{}", R"("monitored": false)",
        PoissonWorkload(interval_ns, requests)));
    ASSERT_EQ(report.channels.size(), 1u);
    const sim::Histogram& rt = report.channels[0].metrics.guest_to_host.send_to_completion_ns;
    ASSERT_EQ(rt.count(), static_cast<uint64_t>(requests));
    // Sojourn time T ~ Exp(mu - lambda): mean 1 / (mu - lambda), and
    // P(T > t) = e^{-(mu - lambda) t}, so the q-quantile is -ln(1 - q) times the mean.
    const double rho_exact = kS / static_cast<double>(interval_ns);
    const double mean_exact = kS / (1 - rho_exact);
    const double p99_exact = std::log(100.0) * mean_exact;
    const double mean = static_cast<double>(rt.sum()) / static_cast<double>(rt.count());
    const double p99 = static_cast<double>(rt.ValueAtQuantile(0.99));
    std::printf("M/M/1 rho %.2f, %d requests: mean %.0f ns (exact %.0f, error %+.2f%%), p99 %.0f ns (exact %.0f, "
                "error %+.2f%%)\n",
                rho_exact, requests, mean, mean_exact, 100 * (mean / mean_exact - 1), p99, p99_exact,
                100 * (p99 / p99_exact - 1));
    EXPECT_NEAR(mean / mean_exact, 1.0, 0.02) << "mean " << mean << " ns, M/M/1 " << mean_exact << " ns";
    if (kLight && rho_percent == 80) continue;  // Too few requests for the tail under the sanitizers.
    EXPECT_NEAR(p99 / p99_exact, 1.0, 0.05) << "p99 " << p99 << " ns, M/M/1 " << p99_exact << " ns";
  }
}

TEST(AnalyticTest, MD1WithFixedServiceMatchesPollaczekKhinchine) {
  constexpr double kS = 10000;
  for (const int rho_percent : {50, 80}) {
    SCOPED_TRACE(absl::StrCat("rho ", rho_percent, "%"));
    const double rho = rho_percent / 100.0;
    const int64_t interval_ns = static_cast<int64_t>(std::llround(kS / rho));
    const int requests = rho_percent == 50 ? 200000 : (kLight ? 400000 : 1000000);
    const RunReport report = testing::RunInline(ScenarioWith(R"({"service": {"kind": "fixed", "ns": 10000}})", "{}",
                                                             R"("monitored": false)",
                                                             PoissonWorkload(interval_ns, requests)));
    ASSERT_EQ(report.channels.size(), 1u);
    const sim::Histogram& rt = report.channels[0].metrics.guest_to_host.send_to_completion_ns;
    ASSERT_EQ(rt.count(), static_cast<uint64_t>(requests));
    const double rho_exact = kS / static_cast<double>(interval_ns);
    const double mean_exact = kS + rho_exact * kS / (2 * (1 - rho_exact));
    const double mean = static_cast<double>(rt.sum()) / static_cast<double>(rt.count());
    std::printf("M/D/1 rho %.2f, %d requests: mean %.0f ns (P-K %.0f, error %+.2f%%)\n", rho_exact, requests, mean,
                mean_exact, 100 * (mean / mean_exact - 1));
    EXPECT_NEAR(mean / mean_exact, 1.0, kLight && rho_percent == 80 ? 0.02 : 0.01)
        << "mean " << mean << " ns, P-K " << mean_exact << " ns";
    EXPECT_EQ(rt.min(), static_cast<int64_t>(kS));  // A request that finds the server idle.
  }
}

// One request in flight: each cycle is the host's service, then the guest's
// (in the completion routine, after the round trip is timed), then the
// next send. With every other cost zero, every round trip is exactly S_h
// and n requests take n (S_h + S_g).
TEST(AnalyticTest, ClosedLoopCyclesThroughHostAndGuestService) {
  constexpr int kRequests = 1000;
  const RunReport report = testing::RunInline(ScenarioWith(
      R"({"service": {"kind": "fixed", "ns": 7000}})", R"({"service": {"kind": "fixed", "ns": 3000}})",
      R"("monitored": false)",
      absl::StrCat(R"({"channel": "c0", "arrival": {"kind": "closed_loop", "outstanding": 1}, "requests": )",
                   kRequests, "}")));
  ASSERT_EQ(report.channels.size(), 1u);
  const sim::Histogram& rt = report.channels[0].metrics.guest_to_host.send_to_completion_ns;
  ASSERT_EQ(rt.count(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(rt.min(), 7000);
  EXPECT_EQ(rt.max(), 7000);
  int64_t guest_busy_ns = 0;
  for (const VpReport& vp : report.vps) {
    if (vp.partition == 1) guest_busy_ns += vp.busy_ns;
  }
  EXPECT_EQ(guest_busy_ns, int64_t{kRequests} * 3000);
}

// host_target_vp puts the host end's work on the VP it names: the service
// time is charged there and nowhere else.
TEST(AnalyticTest, HostTargetVpCarriesTheHostWork) {
  for (const int host_vp : {0, 1, 2}) {
    SCOPED_TRACE(absl::StrCat("host_target_vp ", host_vp));
    const RunReport report = testing::RunInline(ScenarioWith(
        R"({"service": {"kind": "fixed", "ns": 5000}})", "{}",
        absl::StrCat(R"("monitored": false, "host_target_vp": )", host_vp),
        absl::StrCat(R"({"channel": "c0", "arrival": {"kind": "fixed_rate", "interval_ns": 20000}, "requests": 200})"),
        /*root_vps=*/3));
    for (const VpReport& vp : report.vps) {
      if (vp.partition != 0) continue;
      EXPECT_EQ(vp.busy_ns, static_cast<int>(vp.vp) == host_vp ? 200 * 5000 : 0) << "root VP " << vp.vp;
    }
  }
}

// Open-loop arrival kinds at their long-run rate: n arrivals span about n
// mean gaps (the last one ends the run: service and costs are zero).
// renewal with uniform gaps in [a, b]: mean gap (a + b) / 2. MMPP-2 with
// mean sojourns on/off and mean gaps g_on / g_off: the rate is
// (on / g_on + off / g_off) / (on + off).
TEST(AnalyticTest, RenewalAndMmppArrivalsComeAtTheirLongRunRate) {
  struct Case {
    const char* arrival;
    int requests;
    double mean_gap_ns;
    double tolerance;
  };
  const double mmpp_rate = (5000.0 / 500 + 20000.0 / 5000) / (5000.0 + 20000.0);
  const Case cases[] = {
      // Independent gaps: the relative error of the mean is CV / sqrt(n),
      // at most 0.24 % here.
      {R"({"kind": "renewal", "gap": {"kind": "uniform", "min_ns": 1000, "max_ns": 9000}})", 50000, 5000, 0.01},
      {R"({"kind": "renewal", "gap": {"kind": "lognormal", "median_ns": 4000, "sigma": 0.5}})", 50000,
       4000 * std::exp(0.125), 0.01},
      // Mean sojourns of 5 us and 20 us: 200 000 arrivals span about 14 000
      // on/off cycles, whose random lengths leave the rate about 0.7 %
      // uncertain (100 000 arrivals gave errors of -0.7 % to +2.1 % over
      // seeds 1 to 7, a standard deviation near 1 %).
      {R"({"kind": "mmpp2", "interval_ns": 500, "off_interval_ns": 5000, "on_ns": 5000, "off_ns": 20000})", 200000,
       1 / mmpp_rate, 0.03},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arrival);
    const RunReport report = testing::RunInline(ScenarioWith(
        "{}", "{}", R"("monitored": false)",
        absl::StrCat(R"({"channel": "c0", "arrival": )", c.arrival, R"(, "requests": )", c.requests, "}")));
    ASSERT_EQ(report.channels.size(), 1u);
    EXPECT_EQ(report.channels[0].arrivals, static_cast<uint64_t>(c.requests));
    const double mean_gap = static_cast<double>(report.simulated_ns) / c.requests;
    std::printf("%s: mean gap %.1f ns (long-run %.1f, error %+.2f%%)\n", c.arrival, mean_gap, c.mean_gap_ns,
                100 * (mean_gap / c.mean_gap_ns - 1));
    EXPECT_NEAR(mean_gap / c.mean_gap_ns, 1.0, c.tolerance) << "mean gap " << mean_gap << " ns";
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
