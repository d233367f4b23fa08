// backend_test.cc
//
// Goal: the shared back-end serves first come, first served on `servers`
// servers, measures what it says it measures, and forgets a cancelled
// owner's requests. Method: exact counts for a deterministic batch; the
// closed forms of M/M/1 and M/M/c (Erlang C) for the mean wait, with the
// arrivals drawn in the test; Little's law for the queue length, which the
// back-end measures by time average and the test checks against arrivals x
// mean wait.

#include "tools/scenario/backend.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/prng.h"
#include "sim/core/simulator.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {
namespace {

DistributionSampler Sampler(const DistributionSpec& spec) {
  absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(spec);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  return *std::move(sampler);
}

TEST(BackendTest, ServesFirstComeFirstServedOnItsServers) {
  sim::Simulator sim({.seed = 1});
  Backend backend(&sim, "disk", 2, Sampler({.kind = "fixed", .value = 10000}), sim.ForkPrng("backend.disk"));
  std::vector<std::pair<int, int64_t>> done;  // (request, time served)
  for (int i = 0; i < 4; ++i) {
    backend.Submit(nullptr, sim.Now(), [&, i] { done.emplace_back(i, sim.Now().nanoseconds()); });
  }
  EXPECT_EQ(backend.busy_servers(), 2u);
  EXPECT_EQ(backend.queue_length(), 2u);
  sim.Run({});
  ASSERT_EQ(done.size(), 4u);
  EXPECT_EQ(done[0], std::make_pair(0, int64_t{10000}));
  EXPECT_EQ(done[1], std::make_pair(1, int64_t{10000}));
  EXPECT_EQ(done[2], std::make_pair(2, int64_t{20000}));
  EXPECT_EQ(done[3], std::make_pair(3, int64_t{20000}));
  const BackendFigures f = backend.Figures();
  EXPECT_EQ(f.arrivals, 4u);
  EXPECT_EQ(f.served, 4u);
  EXPECT_EQ(f.window_ns, 20000);
  EXPECT_DOUBLE_EQ(f.utilisation, 1.0);
  EXPECT_DOUBLE_EQ(f.queue_length_mean, 1.0);  // Two waiting for half the window.
  EXPECT_EQ(f.queue_length_max, 2u);
  EXPECT_DOUBLE_EQ(f.wait_mean_ns, 5000.0);
  EXPECT_DOUBLE_EQ(f.service_mean_ns, 10000.0);
}

TEST(BackendTest, ARequestArrivesAtItsTimeNotAtItsSubmission) {
  sim::Simulator sim({.seed = 1});
  Backend backend(&sim, "disk", 1, Sampler({.kind = "fixed", .value = 1000}), sim.ForkPrng("backend.disk"));
  int64_t served_at = -1;
  backend.Submit(nullptr, sim::SimTime::FromNanoseconds(5000), [&] { served_at = sim.Now().nanoseconds(); });
  EXPECT_EQ(backend.busy_servers(), 0u);
  sim.Run({});
  EXPECT_EQ(served_at, 6000);
  EXPECT_EQ(backend.Figures().wait_mean_ns, 0.0);
}

TEST(BackendTest, CancelledRequestsLeaveTheQueueAndTheirCallbackNeverRuns) {
  sim::Simulator sim({.seed = 1});
  Backend backend(&sim, "disk", 1, Sampler({.kind = "fixed", .value = 1000}), sim.ForkPrng("backend.disk"));
  int a = 0, b = 0;
  const int owner_a = 0, owner_b = 0;
  backend.Submit(&owner_a, sim.Now(), [&] { ++a; });  // In service.
  backend.Submit(&owner_a, sim.Now(), [&] { ++a; });  // Queued.
  backend.Submit(&owner_b, sim.Now(), [&] { ++b; });  // Queued.
  backend.Submit(&owner_a, sim::SimTime::FromNanoseconds(500), [&] { ++a; });  // Not arrived yet.
  EXPECT_EQ(backend.CancelOwned(&owner_a), 3u);
  EXPECT_EQ(backend.queue_length(), 1u);
  sim.Run({});
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  // The request in service kept its server: b started at 1000.
  EXPECT_EQ(sim.Now().nanoseconds(), 2000);
}

TEST(BackendTest, RestartFiguresStartsTheWindowAgain) {
  sim::Simulator sim({.seed = 1});
  Backend backend(&sim, "disk", 1, Sampler({.kind = "fixed", .value = 1000}), sim.ForkPrng("backend.disk"));
  backend.Submit(nullptr, sim.Now(), [] {});
  sim.Run({.end_time = sim::SimTime::FromNanoseconds(500)});
  backend.RestartFigures();
  sim.Run({});
  const BackendFigures f = backend.Figures();
  EXPECT_EQ(f.arrivals, 0u);
  EXPECT_EQ(f.served, 1u);
  EXPECT_EQ(f.window_ns, 500);
  EXPECT_DOUBLE_EQ(f.utilisation, 1.0);
}

// Poisson arrivals at rate lambda into `servers` exponential servers of mean
// `service_ns`; returns the back-end's figures after `requests` arrivals.
BackendFigures RunMmc(uint32_t servers, double service_ns, double rho, int requests) {
  sim::Simulator sim({.seed = 11});
  Backend backend(&sim, "disk", servers,
                  Sampler({.kind = "exponential", .mean = static_cast<int64_t>(service_ns)}),
                  sim.ForkPrng("backend.disk"));
  const double gap_ns = service_ns / (rho * servers);
  const DistributionSampler gaps = Sampler({.kind = "exponential", .mean = static_cast<int64_t>(gap_ns)});
  sim::Prng arrivals = sim.ForkPrng("arrivals");
  int64_t t = 0;
  for (int i = 0; i < requests; ++i) {
    t += gaps.Sample(arrivals);
    backend.Submit(nullptr, sim::SimTime::FromNanoseconds(t), [] {});
  }
  sim.Run({});
  return backend.Figures();
}

// Erlang C: the probability that an arrival waits in M/M/c at offered load
// a = lambda / mu (c servers, a < c).
double ErlangC(uint32_t c, double a) {
  double term = 1, sum = 1;  // a^k / k! for k = 0.
  for (uint32_t k = 1; k < c; ++k) {
    term *= a / k;
    sum += term;
  }
  const double last = term * a / c * (c / (c - a));  // a^c / c! x c / (c - a)
  return last / (sum + last);
}

TEST(BackendTest, MM1MeanWaitMatchesTheClosedForm) {
  // Wq = rho / (1 - rho) x S; 200 000 requests at rho = 0.5.
  const double service_ns = 10000, rho = 0.5;
  const BackendFigures f = RunMmc(1, service_ns, rho, 200000);
  const double wq = rho / (1 - rho) * service_ns;
  EXPECT_NEAR(f.wait_mean_ns, wq, 0.05 * wq);
  EXPECT_NEAR(f.service_mean_ns, service_ns, 0.01 * service_ns);
  EXPECT_NEAR(f.utilisation, rho, 0.02 * rho);
  // Little's law on the measured window: Lq = arrivals / window x Wq.
  const double lq = static_cast<double>(f.arrivals) / static_cast<double>(f.window_ns) * f.wait_mean_ns;
  EXPECT_NEAR(f.queue_length_mean, lq, 0.01 * lq);
}

TEST(BackendTest, MMcMeanWaitMatchesErlangC) {
  // Wq = C(c, a) x S / (c - a), c = 4 servers at rho = 0.8 (a = 3.2).
  const uint32_t c = 4;
  const double service_ns = 10000, rho = 0.8, a = rho * c;
  const BackendFigures f = RunMmc(c, service_ns, rho, 200000);
  const double wq = ErlangC(c, a) * service_ns / (c - a);
  EXPECT_NEAR(f.wait_mean_ns, wq, 0.05 * wq);
  EXPECT_NEAR(f.utilisation, rho, 0.02 * rho);
  const double lq = static_cast<double>(f.arrivals) / static_cast<double>(f.window_ns) * f.wait_mean_ns;
  EXPECT_NEAR(f.queue_length_mean, lq, 0.01 * lq);
}

}  // namespace
}  // namespace vmbsim::scenario
