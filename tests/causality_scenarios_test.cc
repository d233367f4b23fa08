// Goal: round-trip figures are causal. A request is processed no earlier
// than it was sent, and its completion is seen no earlier than the host
// processed it, including when one host work item processes a batch.
// Method: scenarios run through the runner as a library; a trace sink
// collects each transaction's send (guest), first ProcessPacket (host) and
// finish (guest) times from KMCL's records. Three simultaneous requests have
// exact expected times; Poisson load at four utilisations checks the order
// for every transaction.

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tests/scenario_testing.h"

namespace vmbsim::scenario {
namespace {

struct Times {
  int64_t sent = -1;
  int64_t processed = -1;
  int64_t finished = -1;
};

class TransactionTimes : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& r) override {
    Times& t = by_trans[r.id1];
    if (r.kind == kmcl::kKmclSendTraceKind && r.partition != 0) t.sent = r.time.nanoseconds();
    if (r.kind == kmcl::kKmclDeliverTraceKind && r.partition == 0 && t.processed < 0) {
      t.processed = r.time.nanoseconds();
    }
    if (r.kind == kmcl::kKmclFinishTraceKind && r.partition != 0) t.finished = r.time.nanoseconds();
  }
  std::vector<uint16_t> Kinds() const override {
    return {kmcl::kKmclSendTraceKind, kmcl::kKmclDeliverTraceKind, kmcl::kKmclFinishTraceKind};
  }
  std::map<uint64_t, Times> by_trans;
};


// Zero costs but KMCL's callback cost C = 5 us on each side, direct
// signalling, one VP a side: the only time that passes is callbacks.
constexpr const char* kScenario = R"json({
  "name": "causal",
  "seed": SEED,
  "fabric": {"root_vps": 1, "guests": [{"vps": 1}], "cost_profile": "zero",
             "cost_overrides": {"kmcl_callback_ns": 5000}},
  "channels": [{"name": "c0", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
                "interface_instance": "00000000-0000-4000-8000-000000000001",
                "host_driver": {"name": "echo_vsp"}, "guest_driver": {"name": "rr_vsc"}, "monitored": false}],
  "workloads": [{"channel": "c0", "arrival": ARRIVAL, "size": {"kind": "fixed", "bytes": 64}, "requests": REQUESTS,
                 "start_ns": 1000000}]
})json";

std::string Scenario(const std::string& arrival, int requests, int seed = 1) {
  return absl::StrReplaceAll(kScenario, {{"ARRIVAL", arrival},
                                         {"REQUESTS", absl::StrCat(requests)},
                                         {"SEED", absl::StrCat(seed)}});
}

// One host work item processes all three requests: the host reaches the
// k-th at k * C (its callback cost comes first) and completes it there; with
// every other cost zero, the completion is visible, signalled and read by
// the guest at that same instant (a transaction finishes when its completion
// is read; the routine's own cost C follows). So send-to-process and
// send-to-completion are both C, 2C, 3C. Before the fabric published effects
// at the sender's local time, all three completions were visible from the
// item's start and the guest saw them at about C (5064, 5088 and 5112 ns
// with the default costs), before the host had processed the second and third.
TEST(CausalityScenariosTest, ThreeSimultaneousRequestsHaveExactCausalTimes) {
  TransactionTimes times;
  const RunReport report =
      testing::RunInline(Scenario(R"({"kind": "bursts", "burst": 3, "interval_ns": 1000000})", 3), {&times});
  EXPECT_EQ(ExitCodeFor(report), kExitOk);
  EXPECT_EQ(report.causality_violations_total, 0u);
  ASSERT_EQ(times.by_trans.size(), 3u);
  std::vector<int64_t> to_process;
  std::vector<int64_t> to_completion;
  for (const auto& [id, t] : times.by_trans) {
    to_process.push_back(t.processed - t.sent);
    to_completion.push_back(t.finished - t.sent);
  }
  EXPECT_EQ(to_process, (std::vector<int64_t>{5000, 10000, 15000}));
  EXPECT_EQ(to_completion, (std::vector<int64_t>{5000, 10000, 15000}));
}

// Poisson arrivals at utilisation rho of the host's per-packet work (C per
// request; the guest pays C per completion too): no completion precedes its
// processing, no processing precedes its send, and the run reports none.
TEST(CausalityScenariosTest, UnderPoissonLoadNoCompletionPrecedesItsProcessing) {
  for (const int rho_percent : {30, 50, 70, 90}) {
    for (int seed = 1; seed <= 3; ++seed) {
      TransactionTimes times;
      const int64_t interval_ns = 5000 * 100 / rho_percent;
      const RunReport report = testing::RunInline(
          Scenario(absl::StrCat(R"({"kind": "poisson", "interval_ns": )", interval_ns, "}"), 2000, seed), {&times});
      SCOPED_TRACE(absl::StrCat("rho ", rho_percent, "% seed ", seed));
      EXPECT_EQ(report.causality_violations_total, 0u);
      EXPECT_EQ(ExitCodeFor(report), kExitOk);
      ASSERT_EQ(times.by_trans.size(), 2000u);
      for (const auto& [id, t] : times.by_trans) {
        ASSERT_GE(t.processed, t.sent) << "transaction " << id;
        ASSERT_GE(t.finished, t.processed) << "transaction " << id;
      }
    }
  }
}

}  // namespace
}  // namespace vmbsim::scenario
