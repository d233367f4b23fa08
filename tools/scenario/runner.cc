#include "tools/scenario/runner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sim/check.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/fabric.h"
#include "sim/fabric/ring_layout.h"
#include "tools/faults/injector.h"
#include "tools/faults/ledger.h"
#include "tools/scenario/distribution.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/trace_kinds.h"

namespace vmbsim::scenario {
namespace {

using sim::SimDuration;
using sim::SimTime;

absl::StatusOr<GUID> ParseGuid(const std::string& text, const std::string& where) {
  absl::StatusOr<fabric::Guid> parsed = fabric::Guid::Parse(text);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", parsed.status().message()));
  GUID out;
  std::memcpy(&out, parsed->bytes.data(), sizeof(GUID));
  return out;
}

bool SameGuid(const GUID& a, const GUID& b) { return std::memcmp(&a, &b, sizeof(GUID)) == 0; }

// What every VP and monitor page has done so far, in report order (the root's
// VPs, then each guest's): taken when the warm-up ends and at the end of the
// run, and subtracted.
// The exactly_once verdict's detail; a run cut at its limit also says how
// many sends were in flight at the stop (SettleCutLedger).
std::string ExactlyOnceDetail(const faults::LedgerSummary& l, bool cut) {
  return absl::StrCat(l.sends, " sends: ", l.completed, " completed, ", l.failed, " failed, ", l.accounted_to_faults,
                      " accounted to faults, ",
                      cut ? absl::StrCat(l.in_flight_at_stop, " in flight at the stop (ended after it), ") : "",
                      l.unaccounted, " unaccounted; ", l.finished_twice, " finished twice");
}

struct WarmupBaseline {
  std::vector<VpReport> vps;
  std::vector<MonitorReport> monitors;
  SharedSignalReport shared_signals;

  static WarmupBaseline Take(fabric::Fabric& fab) {
    WarmupBaseline out;
    for (uint16_t p = 0; p <= fab.guest_count(); ++p) {
      fabric::Partition& part = p == 0 ? fab.root() : fab.guest(p);
      for (uint32_t v = 0; v < part.vp_count(); ++v) {
        const fabric::VirtualProcessor& vp = part.vp(v);
        out.vps.push_back(VpReport{.partition = p,
                                   .vp = v,
                                   .busy_ns = vp.busy_time().nanoseconds(),
                                   .isr_ns = vp.level_time(fabric::Irql::kInterrupt).nanoseconds(),
                                   .dpc_ns = vp.level_time(fabric::Irql::kDispatch).nanoseconds(),
                                   .passive_ns = vp.level_time(fabric::Irql::kPassive).nanoseconds(),
                                   .preemptions = vp.preemptions(),
                                   .speed = static_cast<double>(vp.speed_ppm()) /
                                            fabric::VirtualProcessor::kNominalSpeedPpm,
                                   .interrupts = part.synic().interrupts_on(v),
                                   .work_items = vp.items_run()});
      }
    }
    for (uint16_t g = 1; g <= fab.guest_count(); ++g) {
      fabric::MonitorPage& page = fab.monitor_page(g);
      out.monitors.push_back({g, fabric::MonitorModeName(page.mode()), page.sets(), page.coalesced(), page.fires()});
    }
    out.shared_signals = {fab.counters().shared_interrupts, fab.counters().shared_doorbells};
    return out;
  }
};

// The cost model's durations by their scenario names.
std::map<std::string, SimDuration*> CostDurations(fabric::CostModel& costs) {
  return {
      {"hypercall_signal_event_ns", &costs.hypercall_signal_event},
      {"signal_delivery_to_running_vp_ns", &costs.signal_delivery_to_running_vp},
      {"vp_wakeup_from_halt_ns", &costs.vp_wakeup_from_halt},
      {"hypercall_post_message_ns", &costs.hypercall_post_message},
      {"host_ctrl_msg_processing_ns", &costs.host_ctrl_msg_processing},
      {"host_gpadl_per_page_ns", &costs.host_gpadl_per_page},
      {"simp_delivery_ns", &costs.simp_delivery},
      {"eom_redelivery_ns", &costs.eom_redelivery},
      {"monitor_latency_default_ns", &costs.monitor_latency_default},
      {"monitor_set_bit_ns", &costs.monitor_set_bit},
      {"ring_copy_per_packet_ns", &costs.ring_copy_per_packet},
      {"isr_dispatch_ns", &costs.isr_dispatch},
      {"kmcl_callback_ns", &costs.kmcl_callback},
      {"kmcl_call_ns", &costs.kmcl_call},
  };
}

absl::StatusOr<fabric::CostModel> CostsFor(const FabricSpec& spec) {
  fabric::CostModel costs = spec.cost_profile == "zero" ? fabric::CostModel::Zero() : fabric::CostModel::Default();
  const std::map<std::string, SimDuration*> durations = CostDurations(costs);
  for (const auto& [name, value] : spec.cost_overrides) {
    if (name == "ring_copy_per_byte_ps") {
      costs.ring_copy_per_byte_ps = value;
      continue;
    }
    auto it = durations.find(name);
    if (it == durations.end()) return absl::InvalidArgumentError(absl::StrCat("unknown cost override ", name));
    *it->second = SimDuration::Nanoseconds(value);
  }
  // The default goes into offers (OfferLatency100ns): it must fit them
  // exactly. The loader checks the override; a spec built in code may not.
  const int64_t default_ns = costs.monitor_latency_default.nanoseconds();
  if (default_ns < 0 || default_ns % 100 != 0 || default_ns / 100 > kInterruptLatency100nsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("/fabric/cost_overrides/monitor_latency_default_ns: expected a multiple of 100 in 0..",
                     int64_t{kInterruptLatency100nsMax} * 100, ", found ", default_ns));
  }
  return costs;
}

// The monitor latency the runner writes into an offer: a channel's
// interrupt_latency_100ns taken literally (0 stays 0), or, when it is unset,
// the cost model's default in 100 ns units. Every offer the runner makes
// says its latency, so the fabric never has to guess what 0 means.
// REQUIRES: `costs` came from CostsFor (the default fits 16 bits exactly).
uint16_t OfferLatency100ns(std::optional<uint16_t> latency_100ns, const fabric::CostModel& costs) {
  if (latency_100ns.has_value()) return *latency_100ns;
  const int64_t default_100ns = costs.monitor_latency_default.TruncateTo100nsUnits();
  VMBSIM_CHECK_GE(default_100ns, 0);
  VMBSIM_CHECK_LE(default_100ns, int64_t{kInterruptLatency100nsMax});
  return static_cast<uint16_t>(default_100ns);
}

// One endpoint's writer policy and reader discipline, as KMCL takes them.
// REQUIRES: validated by the loader.
kmcl::EndpointPolicy EndpointPolicyOf(const WriterPolicySpec& writer, const ReaderSpec& reader) {
  kmcl::EndpointPolicy policy;
  if (writer.kind == "openvmm") {
    policy.writer = fabric::WriterPolicy::kOpenVmm;
  } else if (writer.kind == "none") {
    policy.writer = fabric::WriterPolicy::kNone;
  } else if (writer.kind == "fixed") {
    policy.writer = fabric::WriterPolicy::kFixed;
    policy.pending_send_fixed_bytes = writer.fixed_bytes;
  } else {
    VMBSIM_CHECK_EQ(writer.kind, "windows");
    policy.writer = fabric::WriterPolicy::kWindows;
  }
  if (reader.kind == "napi") {
    policy.reader = fabric::ReaderDiscipline::kNapi;
    policy.batch_packets_max = reader.budget_packets;
  } else if (reader.kind == "batched") {
    policy.reader = fabric::ReaderDiscipline::kBatched;
  } else if (reader.kind == "polled") {
    policy.reader = fabric::ReaderDiscipline::kPolled;
    VMBSIM_CHECK(reader.poll_period_ns.has_value());
    policy.poll_period = SimDuration::Nanoseconds(*reader.poll_period_ns);
  } else {
    VMBSIM_CHECK_EQ(reader.kind, "dpc_drain");
  }
  if (reader.kind == "dpc_drain" || reader.kind == "batched") {
    policy.dpc_budget = SimDuration::Nanoseconds(reader.dpc_budget_ns.value_or(0));
  }
  return policy;
}

// Drives one open-loop workload: arrivals at times from its PRNG stream.
class OpenLoop {
 public:
  // `index`: the workload's place in "workloads" (errors name it
  // "/workloads/3"; its arrival records carry it in id0).
  // Arrival gaps come from `prng`, sizes from `size_prng` and MMPP-2 state
  // sojourns from `phase_prng`: separate streams, so that a sweep over sizes
  // (or size kinds) keeps the same arrival times for the same seed (common
  // random numbers), however many draws a size takes (Below rejects and
  // redraws).
  OpenLoop(const WorkloadSpec* spec, uint32_t index, sim::Prng prng, sim::Prng size_prng, sim::Prng phase_prng,
           kmcl::Runtime* runtime, uint16_t guest, std::vector<uint32_t> vps, DriverInstance** driver)
      : spec_(spec),
        index_(index),
        pointer_(absl::StrCat("/workloads/", index)),
        prng_(prng),
        size_prng_(size_prng),
        phase_prng_(phase_prng),
        runtime_(runtime),
        guest_(guest),
        vps_(std::move(vps)),
        driver_(driver) {
    VMBSIM_CHECK(!vps_.empty());
  }

  absl::Status Start() {
    const ArrivalSpec& a = spec_->arrival;
    if (a.kind != "trace") {
      absl::StatusOr<DistributionSampler> sizes = DistributionSampler::Create(spec_->size);
      if (!sizes.ok()) return absl::InvalidArgumentError(absl::StrCat(pointer_, "/size: ", sizes.status().message()));
      sizes_.emplace(std::move(*sizes));
    }
    if (a.kind == "renewal") {
      absl::StatusOr<DistributionSampler> gaps = DistributionSampler::Create(a.gap);
      if (!gaps.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(pointer_, "/arrival/gap: ", gaps.status().message()));
      }
      gaps_.emplace(std::move(*gaps));
    }
    if (a.kind == "mmpp2" && (a.on_ns <= 0 || a.off_ns <= 0 || a.interval_ns <= 0 || a.off_interval_ns < 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat(pointer_, "/arrival: mmpp2 needs on_ns, off_ns and interval_ns > 0 and off_interval_ns >= 0"));
    }
    const int64_t offset = a.kind == "trace" ? a.events.front().time_ns : 0;
    const SimTime first = std::max(runtime_->sim().Now(), SimTime::FromNanoseconds(spec_->start_ns + offset));
    if (a.kind == "mmpp2") {
      // The process starts in the on state at start_ns (its first sojourn
      // drawn then), and its first arrival is one drawn gap later: unlike
      // the other open-loop kinds nothing arrives at start_ns itself.
      runtime_->sim().ScheduleAt(first, [this] {
        on_ = true;
        switch_at_ = runtime_->sim().Now() + Sojourn();
        ArrivalStart();
      });
      return absl::OkStatus();
    }
    runtime_->sim().ScheduleAt(first, [this] { Arrive(); });
    return absl::OkStatus();
  }

  uint64_t issued() const { return issued_; }
  // No arrival after this: the run is over and its drivers are torn down.
  // (An open loop of many requests would otherwise arrive through the whole
  // teardown run, up to its 10 s bound.)
  void Stop() { stopped_ = true; }
  // Arrivals the driver did not take (no Submit, or gone).
  uint64_t refused() const { return refused_; }

 private:
  uint32_t NextSize() {
    if (spec_->arrival.kind == "trace") return spec_->arrival.events[issued_].bytes;
    VMBSIM_CHECK(sizes_.has_value());
    const int64_t bytes = sizes_->Sample(size_prng_);
    VMBSIM_CHECK_GE(bytes, 0);
    VMBSIM_CHECK_LE(bytes, int64_t{UINT32_MAX});  // Bounded: CheckWorkloadRequests.
    return static_cast<uint32_t>(bytes);
  }

  SimDuration NextGap() {
    const ArrivalSpec& a = spec_->arrival;
    if (a.kind == "trace") return SimDuration::Nanoseconds(a.events[issued_].time_ns - a.events[issued_ - 1].time_ns);
    const SimDuration interval = SimDuration::Nanoseconds(a.interval_ns);
    if (a.kind == "poisson") return sim::Exponential(prng_, interval);
    if (a.kind == "renewal") return SimDuration::Nanoseconds(gaps_->Sample(prng_));
    if (a.kind == "bursts") return in_burst_ + 1 < a.burst ? SimDuration::Zero() : interval;
    if (a.kind == "on_off") {
      const int64_t period = a.on_ns + a.off_ns;
      const int64_t next = runtime_->sim().Now().nanoseconds() + a.interval_ns - spec_->start_ns;
      if (period > 0 && next % period >= a.on_ns) {
        return SimDuration::Nanoseconds(a.interval_ns + (period - next % period));  // Skip the off phase.
      }
    }
    return interval;
  }

  // MMPP-2: how long the state entered now lasts (exponential with the
  // state's mean), from the phase stream.
  SimDuration Sojourn() {
    const ArrivalSpec& a = spec_->arrival;
    return sim::Exponential(phase_prng_, SimDuration::Nanoseconds(on_ ? a.on_ns : a.off_ns));
  }

  // MMPP-2: schedules the next arrival from now. The gap is exponential with
  // the current state's mean; if it would end after the state does, the
  // state changes at its end and the gap is drawn again there (the
  // exponential is memoryless, so the redraw is exact). One event per state
  // change that comes before an arrival; no loop.
  void ArrivalStart() {
    if (stopped_) return;
    const ArrivalSpec& a = spec_->arrival;
    const int64_t mean_ns = on_ ? a.interval_ns : a.off_interval_ns;
    if (mean_ns > 0) {
      const SimTime at = runtime_->sim().Now() + sim::Exponential(prng_, SimDuration::Nanoseconds(mean_ns));
      if (at < switch_at_) {
        runtime_->sim().ScheduleAt(at, [this] { Arrive(); });
        return;
      }
    }
    runtime_->sim().ScheduleAt(switch_at_, [this] {
      on_ = !on_;
      switch_at_ = runtime_->sim().Now() + Sojourn();
      ArrivalStart();
    });
  }

  void Arrive() {
    if (stopped_) return;
    const uint32_t bytes = NextSize();
    const uint32_t vp = vps_[issued_ % vps_.size()];  // The VP whose code sends this one.
    ++issued_;
    runtime_->sim().tracer().Emit({.time = runtime_->sim().Now(),
                                   .kind = kWorkloadArrivalTraceKind,
                                   .partition = guest_,
                                   .vp = vp,
                                   .id0 = index_,
                                   .size0 = bytes});
    DriverInstance** driver = driver_;
    uint64_t* refused = &refused_;
    runtime_->RunDispatch(guest_, vp, [driver, bytes, refused] {
      if (*driver == nullptr || !(*driver)->Submit(bytes)) ++*refused;
    });
    if (issued_ >= spec_->requests) return;
    if (spec_->arrival.kind == "mmpp2") {
      ArrivalStart();
      return;
    }
    const SimDuration gap = NextGap();
    in_burst_ = spec_->arrival.kind == "bursts" && in_burst_ + 1 < spec_->arrival.burst ? in_burst_ + 1 : 0;
    runtime_->sim().ScheduleAfter(gap, [this] { Arrive(); });
  }

  const WorkloadSpec* spec_;
  uint32_t index_;
  std::string pointer_;
  sim::Prng prng_;
  sim::Prng size_prng_;
  sim::Prng phase_prng_;
  kmcl::Runtime* runtime_;
  uint16_t guest_;
  std::vector<uint32_t> vps_;
  DriverInstance** driver_;
  std::optional<DistributionSampler> sizes_;
  std::optional<DistributionSampler> gaps_;  // "renewal".
  uint64_t issued_ = 0;
  uint64_t refused_ = 0;
  uint32_t in_burst_ = 0;
  bool stopped_ = false;
  bool on_ = true;       // "mmpp2": the current state.
  SimTime switch_at_;    // "mmpp2": when it ends.
};

struct LostCount {
  uint64_t lost = 0;
  std::string detail;
};

// What "no_lost_packets" and "lost_packets_min" judge: sends that never
// finished, arrivals a driver refused, and requests issued but not ended.
// With faults, what a lossy fault lost is accounted to it (the ledger), and
// only the rest is lost. `cut_settled`: the run was cut (time or event
// limit) and its ledger settled through the teardown; a request still
// outstanding at the cut is then one of the ledger's sends, in flight or
// unaccounted, and is judged there rather than counted a second time.
LostCount CountLost(const RunReport& report, const faults::Injector* injector, uint64_t unfinished_without_ledger,
                    bool cut_settled) {
  const uint64_t unfinished = injector != nullptr || cut_settled ? report.ledger.unaccounted : unfinished_without_ledger;
  LostCount out{.lost = unfinished, .detail = absl::StrCat(unfinished, " send(s) never finished")};
  if (cut_settled) absl::StrAppend(&out.detail, " (", report.ledger.in_flight_at_stop, " in flight at the stop)");
  if (injector != nullptr) {
    absl::StrAppend(&out.detail, " (", report.ledger.accounted_to_faults, " more accounted to faults)");
  }
  for (size_t index = 0; index < report.channels.size(); ++index) {
    const ChannelReport& c = report.channels[index];
    if (injector != nullptr && injector->LossyOnChannel(static_cast<int>(index))) continue;
    if (c.arrivals_refused != 0) {
      out.lost += c.arrivals_refused;
      absl::StrAppend(&out.detail, "; ", c.name, ": ", c.arrivals_refused, " of ", c.arrivals,
                      " arrivals refused by the driver");
    }
    if (!cut_settled && c.requests_issued >= 0 && c.requests_issued != c.requests_ended) {
      out.lost += static_cast<uint64_t>(c.requests_issued - c.requests_ended);
      absl::StrAppend(&out.detail, "; ", c.name, ": ", c.requests_issued, " requests issued, ", c.requests_ended,
                      " ended");
    }
  }
  return out;
}

void Evaluate(const ScenarioSpec& spec, const kmcl::Runtime& runtime, const faults::Injector* injector,
              RunReport& report) {
  const ExpectationSpec& e = spec.expectations;
  auto add = [&report](std::string name, bool passed, std::string detail) {
    report.expectations.push_back({std::move(name), passed, std::move(detail)});
    if (!passed) report.expectations_met = false;
  };
  {
    const LostCount lost = CountLost(report, injector, runtime.unfinished_sends(), /*cut_settled=*/false);
    report.lost_packets = lost.lost;
    if (e.no_lost_packets) add("no_lost_packets", lost.lost == 0, lost.detail);
    if (e.lost_packets_min.has_value()) {
      add("lost_packets_min", lost.lost >= *e.lost_packets_min,
          absl::StrCat(lost.detail, "; expected at least ", *e.lost_packets_min, " lost"));
    }
  }
  if (report.ledger_checked) {
    const faults::LedgerSummary& l = report.ledger;
    add("exactly_once", l.balanced(), ExactlyOnceDetail(l, /*cut=*/false));
  }
  if (e.failed_transactions_min.has_value()) {
    uint64_t failed = 0;
    for (const ChannelReport& c : report.channels) {
      failed += c.metrics.guest_to_host.transactions_failed + c.metrics.host_to_guest.transactions_failed;
    }
    add("failed_transactions_min", failed >= *e.failed_transactions_min,
        absl::StrCat(failed, " transaction(s) failed, expected at least ", *e.failed_transactions_min));
  }
  // Findings: the listed rules are expected; everything else is unexpected.
  std::map<std::string, uint64_t> by_rule;
  for (kmcl::Rule rule : kmcl::kAllRules) {
    // Count every finding of the run, including any beyond the store's cap.
    by_rule[kmcl::RuleName(rule)] = 0;
  }
  for (const kmcl::Finding& f : report.findings) ++by_rule[kmcl::RuleName(f.rule)];
  uint64_t unexpected = 0;
  // Not a structured binding: clang 14 cannot capture one in a lambda.
  for (const auto& rule_count : by_rule) {
    const std::string& rule = rule_count.first;
    const bool listed = std::any_of(e.findings.begin(), e.findings.end(),
                                    [&rule](const FindingExpectation& x) { return x.rule == rule; });
    if (!listed) unexpected += rule_count.second;
  }
  report.unexpected_findings = unexpected;
  if (e.no_verifier_findings) {
    add("no_verifier_findings", unexpected == 0, absl::StrCat(unexpected, " unexpected finding(s)"));
  }
  for (size_t i = 0; i < e.findings.size(); ++i) {
    const FindingExpectation& x = e.findings[i];
    const uint64_t count = by_rule[x.rule];
    const bool ok = count >= x.min_count && (!x.max_count.has_value() || count <= *x.max_count);
    add(absl::StrCat("findings[", i, "]"), ok,
        absl::StrCat(x.rule, ": ", count, " finding(s), expected >= ", x.min_count,
                     x.max_count.has_value() ? absl::StrCat(" and <= ", *x.max_count) : ""));
  }
  for (size_t i = 0; i < e.latency.size(); ++i) {
    const LatencyBound& b = e.latency[i];
    sim::Histogram h;
    for (const ChannelReport& c : report.channels) {
      if (!b.channel.empty() && c.name != b.channel) continue;
      h.Merge(b.metric == "send_to_process" ? c.metrics.guest_to_host.send_to_process_ns
                                            : c.metrics.guest_to_host.send_to_completion_ns);
    }
    const int64_t value = h.count() == 0 ? 0 : h.ValueAtQuantile(b.percentile / 100.0);
    add(absl::StrCat("latency[", i, "]"), h.count() > 0 && value <= b.max_ns,
        absl::StrFormat("%s p%g %s = %d ns over %d samples, bound %d ns", b.channel.empty() ? "all" : b.channel,
                        b.percentile, b.metric, value, h.count(), b.max_ns));
  }
  if (e.interrupts_per_packet_max.has_value() || e.interrupts_per_packet_min.has_value()) {
    uint64_t interrupts = 0;
    for (const VpReport& vp : report.vps) interrupts += vp.interrupts;
    uint64_t packets = 0;
    for (const ChannelReport& c : report.channels) {
      packets += c.metrics.guest_to_host.packets_processed + c.metrics.host_to_guest.packets_processed;
    }
    const double ratio = packets == 0 ? 0.0 : static_cast<double>(interrupts) / static_cast<double>(packets);
    const bool ok = (!e.interrupts_per_packet_max.has_value() || ratio <= *e.interrupts_per_packet_max) &&
                    (!e.interrupts_per_packet_min.has_value() || ratio >= *e.interrupts_per_packet_min);
    add("interrupts_per_packet", ok, absl::StrFormat("%d interrupts / %d packets = %.4f", interrupts, packets, ratio));
  }
}

}  // namespace

namespace {

// A cut run's ledger after the teardown (`settled`): the sends open and
// unaccounted at the stop that have ended since were in flight, unless they
// were already older at the stop than any send of the run took to complete
// (`stale` of them): those stay unaccounted, lost, whatever the teardown did
// with them. The exactly-once and lost-packet verdicts are taken again.
void SettleCutLedger(const faults::LedgerSummary& settled, uint64_t stale, const ExpectationSpec& e,
                     const faults::Injector* injector, RunReport& report) {
  faults::LedgerSummary& l = report.ledger;
  const uint64_t ended = std::min(l.unaccounted > settled.unaccounted ? l.unaccounted - settled.unaccounted : 0,
                                  l.unaccounted > stale ? l.unaccounted - stale : 0);
  l.in_flight_at_stop = ended;
  l.unaccounted -= ended;
  l.finished_twice = settled.finished_twice;
  const LostCount lost = CountLost(report, injector, 0, /*cut_settled=*/true);
  report.lost_packets = lost.lost;
  report.expectations_met = true;
  for (ExpectationResult& r : report.expectations) {
    if (r.name == "exactly_once") {
      r.passed = l.balanced();
      r.detail = ExactlyOnceDetail(l, /*cut=*/true);
    } else if (r.name == "no_lost_packets") {
      r.passed = lost.lost == 0;
      r.detail = lost.detail;
    } else if (r.name == "lost_packets_min") {
      r.passed = lost.lost >= *e.lost_packets_min;
      r.detail = absl::StrCat(lost.detail, "; expected at least ", *e.lost_packets_min, " lost");
    }
    report.expectations_met = report.expectations_met && r.passed;
  }
}

}  // namespace

int ExitCodeFor(const RunReport& report) {
  if (report.causality_violations_total != 0) return kExitInternalError;
  if (report.stuck) return kExitStuck;
  if (!report.expectations_met) {
    // A failed expectation about findings is reported as a verifier finding.
    for (const ExpectationResult& r : report.expectations) {
      if (!r.passed && r.name == "no_verifier_findings") return kExitVerifierFinding;
    }
    return kExitExpectationFailed;
  }
  return kExitOk;
}

absl::StatusOr<RunReport> RunScenario(const ScenarioSpec& spec, const DriverRegistry& drivers,
                                      const RunOptions& options) {
  const absl::Time wall_start = absl::Now();
  RunReport report;
  report.scenario = spec.name;
  report.seed = options.seed.value_or(spec.seed);
  report.tie_break_seed = options.tie_break_seed.has_value() ? options.tie_break_seed
                                                              : spec.exploration.tie_break_seed;

  // Workload shapes, GUIDs and drivers first: nothing is built for a spec
  // that cannot run. The loader has checked the workloads already; a spec
  // built in code has not, and a request the driver cannot send must not be
  // cut or dropped here either.
  VMBSIM_RETURN_IF_ERROR(CheckWorkloadRequests(spec));
  // The format takes up to 16 guests, the fabric one for now: the root's
  // SynIC has one message-port namespace, so a second guest's VMBus server
  // cannot create its ports (connection ids 1 and 4) and the fabric would
  // stop on that while it is built.
  if (spec.fabric.guests.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("/fabric/guests: expected 1 guest (the fabric runs one guest partition for now), found ",
                     spec.fabric.guests.size()));
  }
  struct Built {
    const ChannelSpec* spec;
    GUID type;
    GUID instance;
    const DriverFactory* host_factory;
    const DriverFactory* guest_factory;
    const WorkloadSpec* closed_loop = nullptr;
    uint32_t request_bytes_max = 64;
    DriverInstance* host = nullptr;
    DriverInstance* guest = nullptr;
    std::vector<OpenLoop*> loops;
    bool host_stopped = false;  // Destroyed during the run (host_stop_ns / guest_stop_ns).
    bool guest_stopped = false;
    bool saving = false;  // A save_restore fault's save is in progress.
    uint64_t host_generation = 0;  // Host driver instances started by faults so far.
    uint64_t retargets = 0;  // MODIFYCHANNEL moves the host acknowledged (ChannelSpec::retarget).
    std::vector<std::string> retargets_refused;
  };
  std::vector<Built> built;
  for (size_t i = 0; i < spec.channels.size(); ++i) {
    const ChannelSpec& c = spec.channels[i];
    const std::string where = absl::StrCat("/channels/", i);
    VMBSIM_ASSIGN_OR_RETURN(const GUID type, ParseGuid(c.interface_type, where + "/interface_type"));
    VMBSIM_ASSIGN_OR_RETURN(const GUID instance, ParseGuid(c.interface_instance, where + "/interface_instance"));
    const DriverFactory* host = drivers.Find(c.host_driver.name);
    const DriverFactory* guest = drivers.Find(c.guest_driver.name);
    if (host == nullptr) return absl::InvalidArgumentError(absl::StrCat(where, "/host_driver/name: unknown driver ", c.host_driver.name));
    if (guest == nullptr) return absl::InvalidArgumentError(absl::StrCat(where, "/guest_driver/name: unknown driver ", c.guest_driver.name));
    Built b{&c, type, instance, host, guest};
    // The driver's request size: the closed loop's when there is one (every
    // open-loop request fits it: CheckWorkloadRequests), else the largest
    // open-loop request; for a channel without workloads 64, or the
    // channel's largest request when that is smaller (max_packet_bytes 2).
    std::optional<uint32_t> open_loop_max;
    for (const WorkloadSpec& w : spec.workloads) {
      if (w.channel != c.name) continue;
      if (w.arrival.kind == "closed_loop") {
        b.closed_loop = &w;
      } else {
        open_loop_max = std::max(open_loop_max.value_or(0), WorkloadBytesMax(w));
      }
    }
    b.request_bytes_max =
        b.closed_loop != nullptr ? static_cast<uint32_t>(b.closed_loop->size.value)
                                 : open_loop_max.value_or(std::min<uint32_t>(64, RequestBytesMax(c)));
    VMBSIM_CHECK_LE(b.request_bytes_max, RequestBytesMax(c));  // CheckWorkloadRequests.
    built.push_back(b);
  }

  sim::SimulatorOptions sim_options{.seed = report.seed, .tie_break_seed = report.tie_break_seed};
  auto simulator = std::make_unique<sim::Simulator>(sim_options);
  simulator->tracer().EnableFingerprint();
  for (sim::TraceSink* sink : options.sinks) simulator->tracer().AddSink(sink);

  fabric::FabricConfig config;
  VMBSIM_ASSIGN_OR_RETURN(config.costs, CostsFor(spec.fabric));
  config.root.vp_count = spec.fabric.root_vps;
  for (const GuestSpec& g : spec.fabric.guests) {
    fabric::PartitionConfig p;
    p.vp_count = g.vps;
    p.memory_pages_max = g.memory_mib * 256;
    config.guests.push_back(p);
  }
  config.monitor_mode = spec.fabric.monitor_mode == "periodic_poll"  ? fabric::MonitorMode::kPeriodicPoll
                         : spec.fabric.monitor_mode == "rate_limited" ? fabric::MonitorMode::kRateLimited
                                                                      : fabric::MonitorMode::kTimerPerId;
  config.preemption = spec.fabric.preemption == "none" ? fabric::Preemption::kNone : fabric::Preemption::kPacket;
  config.sample_ring_occupancy = true;  // report.json's ring_occupancy.
  auto fab = std::make_unique<fabric::Fabric>(simulator.get(), config);
  // VP speeds (spec.h kVpSpeedMin..kVpSpeedMax), in millionths.
  auto set_speeds = [](fabric::Partition& partition, const std::vector<double>& speeds) {
    for (size_t v = 0; v < speeds.size(); ++v) {
      partition.vp(static_cast<uint32_t>(v)).set_speed_ppm(static_cast<uint32_t>(std::llround(speeds[v] * 1e6)));
    }
  };
  set_speeds(fab->root(), spec.fabric.root_vp_speed);
  for (size_t g = 0; g < spec.fabric.guests.size(); ++g) {
    set_speeds(fab->guest(static_cast<uint16_t>(g + 1)), spec.fabric.guests[g].vp_speed);
  }

  kmcl::RuntimeOptions runtime_options;
  runtime_options.transaction_metrics = true;  // report.json's per-channel latencies and counts.
  runtime_options.measure_from = SimTime::FromNanoseconds(spec.stop.warmup_ns.value_or(0));
  // Offers of channels the scenario does not name (none today) get the
  // default too, rather than KMCL's 0.
  const fabric::CostModel& costs = config.costs;
  runtime_options.offer_interrupt_latency_100ns = OfferLatency100ns(std::nullopt, costs);
  runtime_options.channel_policy = [&built, &costs, &spec](bool is_server, const GUID& type, const GUID& instance) {
    kmcl::ChannelPolicy policy;
    for (const Built& b : built) {
      if (!SameGuid(b.type, type) || !SameGuid(b.instance, instance)) continue;
      policy.monitored = b.spec->monitored;
      policy.dedicated_interrupt = b.spec->interrupt != "shared";
      policy.interrupt_latency_100ns = OfferLatency100ns(b.spec->interrupt_latency_100ns, costs);
      policy.guest_target_vp = b.spec->guest_target_vp;
      policy.host_target_vp = b.spec->host_target_vp;
      policy.host_skips_recheck = b.spec->lost_wakeup_bug == "host";
      policy.guest_skips_recheck = b.spec->lost_wakeup_bug == "guest";
      policy.host_ignores_pending_send = b.spec->pending_send_bug == "host";
      policy.guest_ignores_pending_send = b.spec->pending_send_bug == "guest";
      policy.host_end = EndpointPolicyOf(b.spec->host_writer_policy, b.spec->host_reader);
      policy.guest_end = EndpointPolicyOf(b.spec->guest_writer_policy, b.spec->guest_reader);
      policy.early_signal_drop = spec.fabric.guests[b.spec->guest - 1].early_signal == "drop";
      if (b.spec->unstick_timer_ns > 0) policy.unstick_period = SimDuration::Nanoseconds(b.spec->unstick_timer_ns);
      if (b.spec->force_retire_after_ns.has_value()) {
        policy.force_retire_after = SimDuration::Nanoseconds(*b.spec->force_retire_after_ns);
      }
    }
    return policy;
  };
  auto runtime = std::make_unique<kmcl::Runtime>(fab.get(), runtime_options);
  kmcl::Runtime::Scope scope(runtime.get());

  // Shared back-ends, each on its own stream "backend.<name>". Declared
  // before the drivers, which hold links to them, so they outlive them.
  std::map<std::string, std::unique_ptr<Backend>> backends;
  for (size_t i = 0; i < spec.backends.size(); ++i) {
    const BackendSpec& b = spec.backends[i];
    absl::StatusOr<DistributionSampler> service = DistributionSampler::Create(b.service);
    if (!service.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("/backends/", i, "/service: ", service.status().message()));
    }
    backends[b.name] = std::make_unique<Backend>(simulator.get(), b.name, b.servers, *std::move(service),
                                                 simulator->ForkPrng(absl::StrCat("backend.", b.name)));
  }
  auto backend_of = [&backends](const ChannelSpec& c) -> Backend* {
    if (c.backend.empty()) return nullptr;
    const auto it = backends.find(c.backend);
    return it == backends.end() ? nullptr : it->second.get();
  };

  // Fault injection (tools/faults): the injector answers the fabric's fault
  // hook and counts "after" events; the ledger follows every send to its
  // end. Both are attached only when the scenario has a "faults" section
  // that asks for something, so other runs pay nothing.
  const bool faults_on = !spec.faults.injections.empty() || spec.faults.stuck_ns.has_value();
  std::unique_ptr<faults::Injector> injector;
  std::unique_ptr<faults::Ledger> ledger;
  // (guest, relid) -> index of the spec channel it belongs to (sub-channels
  // included), from KMCL's offers; recomputed when offers are added.
  std::map<std::pair<uint16_t, uint32_t>, int> channel_index;
  size_t channel_index_offers = 0;
  auto channel_of = [&](uint16_t guest, uint32_t relid) -> int {
    if (runtime->offers().size() != channel_index_offers) {
      channel_index.clear();
      channel_index_offers = runtime->offers().size();
      for (const kmcl::OfferRecord& offer : runtime->offers()) {
        for (size_t i = 0; i < built.size(); ++i) {
          if (offer.guest == built[i].spec->guest && SameGuid(offer.interface_type, built[i].type) &&
              SameGuid(offer.interface_instance, built[i].instance)) {
            channel_index[{offer.guest, offer.relid}] = static_cast<int>(i);
          }
        }
      }
    }
    const auto it = channel_index.find({guest, relid});
    return it == channel_index.end() ? -1 : it->second;
  };
  // Host drivers a fault stops and restarts; set below, once the driver
  // start-up code exists.
  std::function<bool(int)> stop_host_driver;
  std::function<bool(int)> start_host_driver;
  std::function<bool(int, int64_t)> save_host_driver;
  std::function<bool(uint16_t, int64_t)> reset_guest;
  if (faults_on) {
    ledger = std::make_unique<faults::Ledger>();
    simulator->tracer().AddSink(ledger.get());
  }
  if (!spec.faults.injections.empty()) {
    faults::InjectorEnvironment env;
    env.sim = simulator.get();
    env.fabric = fab.get();
    env.channel_of = channel_of;
    env.attached = [&fab, &runtime] {
      std::vector<std::pair<uint16_t, uint32_t>> now;
      for (const auto& key : runtime->AttachedChannels()) {
        if (fab->guest_endpoint(key.first, key.second) != nullptr) now.push_back(key);
      }
      return now;
    };
    env.stop_host_driver = [&stop_host_driver](int index) { return stop_host_driver && stop_host_driver(index); };
    env.start_host_driver = [&start_host_driver](int index) { return start_host_driver && start_host_driver(index); };
    env.save_host_driver = [&save_host_driver](int index, int64_t save_ns) {
      return save_host_driver && save_host_driver(index, save_ns);
    };
    env.reset_guest = [&reset_guest](uint16_t guest, int64_t reboot_ns) {
      return reset_guest && reset_guest(guest, reboot_ns);
    };
    injector = std::make_unique<faults::Injector>(spec, std::move(env));
    fab->SetFaultHook(injector.get());
    simulator->tracer().AddSink(injector.get());
  }

  // Open-loop workloads start once their channel's guest driver exists.
  std::vector<std::unique_ptr<OpenLoop>> loops;
  for (size_t i = 0; i < spec.workloads.size(); ++i) {
    const WorkloadSpec& w = spec.workloads[i];
    if (w.arrival.kind == "closed_loop") continue;
    for (Built& b : built) {
      if (b.spec->name != w.channel) continue;
      std::vector<uint32_t> vps = w.send_vps;
      if (vps.empty()) vps.push_back(b.spec->guest_target_vp.value_or(0));
      loops.push_back(std::make_unique<OpenLoop>(&w, static_cast<uint32_t>(i),
                                                 simulator->ForkPrng(absl::StrCat("workload.", i)),
                                                 simulator->ForkPrng(absl::StrCat("workload.", i, ".size")),
                                                 simulator->ForkPrng(absl::StrCat("workload.", i, ".phase")), runtime.get(),
                                                 b.spec->guest, std::move(vps), &b.guest));
      b.loops.push_back(loops.back().get());
    }
  }

  // Drivers: every host driver first, then the guests', all at time zero.
  // A driver whose factory fails (its Create returned an error) or whose
  // open-loop workload cannot start makes the world unbuildable: the run
  // goes on as far as the others take it (stopping it early could leave a
  // Create blocked mid-way when the drivers are torn down), and RunScenario
  // then returns the first such error.
  auto guest_vps_of = [&spec](const ChannelSpec& c) { return spec.fabric.guests[c.guest - 1].vps; };
  // Host drivers prepare to be saved only in runs that save them.
  bool save_restore_faults = false;
  for (const FaultSpec& f : spec.faults.injections) save_restore_faults |= f.kind == "save_restore";
  // What a driver of channel `b`'s side gets (DriverContext).
  auto context_for = [&backend_of, &guest_vps_of, save_restore_faults, rt = runtime.get()](const Built& b,
                                                                                          bool host_side) {
    DriverContext context;
    context.runtime = rt;
    context.device = rt->device(host_side ? 0 : b.spec->guest);
    context.vmbus_handle = rt->vmbus_handle(b.spec->guest);
    context.interface_type = b.type;
    context.interface_instance = b.instance;
    context.channel = b.spec;
    context.driver = host_side ? &b.spec->host_driver : &b.spec->guest_driver;
    context.host_side = host_side;
    context.closed_loop = b.closed_loop;
    context.request_bytes_max = b.request_bytes_max;
    context.guest_vps = guest_vps_of(*b.spec);
    context.backend = backend_of(*b.spec);
    context.save_restore = save_restore_faults;
    return context;
  };
  std::vector<std::unique_ptr<DriverInstance>> instances;
  std::vector<std::string> start_errors;
  // Set when the run is over and its teardown begins (and stays set while
  // kmcl::Runtime::ReleaseWorkers lets the driver code the teardown left
  // finish with every wait failing). A driver start that comes due then
  // does not start, and one that was under way (a Create blocked at the
  // cut) and succeeds is destroyed at once: the teardown has passed it by,
  // so it would never be torn down. Its failure is not the run's.
  bool run_over = false;
  // Takes the driver a start made and returns it; null when there is none
  // to keep (the start failed, or the run was over and it is destroyed).
  const auto keep_started = [&instances, &run_over](absl::StatusOr<std::unique_ptr<DriverInstance>>& made) {
    if (!made.ok()) return static_cast<DriverInstance*>(nullptr);
    DriverInstance* const instance = made->get();
    if (run_over) instance->Destroy();
    instances.push_back(std::move(*made));
    return run_over ? nullptr : instance;
  };
  for (bool host_side : {true, false}) {
    for (size_t i = 0; i < built.size(); ++i) {
      Built& b = built[i];
      const ChannelSpec& c = *b.spec;
      const DriverSpec& driver_spec = host_side ? c.host_driver : c.guest_driver;
      const std::string where =
          absl::StrCat("/channels/", i, "/", host_side ? "host_driver" : "guest_driver", ": driver \"",
                       driver_spec.name, "\" on channel \"", c.name, "\" failed to start: ");
      const DriverContext context = context_for(b, host_side);
      const DriverFactory* factory = host_side ? b.host_factory : b.guest_factory;
      DriverInstance** slot = host_side ? &b.host : &b.guest;
      const std::vector<OpenLoop*>* channel_loops = host_side ? nullptr : &b.loops;
      runtime->RunPassive(host_side ? 0 : c.guest, 0,
                          [&start_errors, &run_over, &keep_started, factory, context, slot, channel_loops, where] {
                            if (run_over) return;
                            absl::StatusOr<std::unique_ptr<DriverInstance>> made = (*factory)(context);
                            if (!made.ok() && !run_over) {
                              start_errors.push_back(absl::StrCat(where, made.status().message()));
                            }
                            DriverInstance* const instance = keep_started(made);
                            if (instance == nullptr) return;
                            *slot = instance;
                            if (channel_loops == nullptr) return;
                            for (OpenLoop* loop : *channel_loops) {
                              const absl::Status started = loop->Start();
                              if (!started.ok()) start_errors.push_back(std::string(started.message()));
                            }
                          });
    }
  }

  // Drivers the scenario stops during the run (rescind, guest close).
  for (Built& b : built) {
    for (bool host_side : {true, false}) {
      const std::optional<int64_t> at = host_side ? b.spec->host_stop_ns : b.spec->guest_stop_ns;
      if (!at.has_value()) continue;
      kmcl::Runtime* rt = runtime.get();
      Built* which = &b;  // `built` is not resized from here on.
      simulator->ScheduleAt(SimTime::FromNanoseconds(*at), [rt, which, host_side] {
        rt->RunPassive(host_side ? 0 : which->spec->guest, 0, [which, host_side] {
          DriverInstance* instance = host_side ? which->host : which->guest;
          bool& stopped = host_side ? which->host_stopped : which->guest_stopped;
          if (instance == nullptr || stopped) return;
          stopped = true;
          instance->Destroy();
        });
      });
    }
  }

  // MODIFYCHANNEL moves the scenario asks for: the guest's VMBus driver
  // sends them for the channel's primary relid; the fabric moves the
  // interrupt and the guest end's drain when the host takes the message, and
  // KMCL's callbacks follow the drain. A move the protocol refuses (the
  // channel not open then, a modify outstanding) is counted and named in the
  // report; it does not stop the run.
  const std::function<void(Built*, const ChannelSpec::Retarget*)> retarget = [&fab, &runtime](
                                                                                 Built* which,
                                                                                 const ChannelSpec::Retarget* move) {
    auto refuse = [which, at_ns = move->at_ns, vp = move->vp](absl::string_view why) {
      which->retargets_refused.push_back(absl::StrCat("to VP ", vp, " at ", at_ns, " ns: ", why));
    };
    const uint16_t guest = which->spec->guest;
    for (const kmcl::OfferRecord& offer : runtime->offers()) {
      if (offer.guest != guest || !SameGuid(offer.interface_type, which->type) ||
          !SameGuid(offer.interface_instance, which->instance)) {
        continue;
      }
      const absl::Status sent = fab->client(guest).ModifyChannel(offer.relid, move->vp, [which, refuse](uint32_t status) {
        if (status == 0) {
          ++which->retargets;
        } else {
          refuse(absl::StrFormat("MODIFYCHANNEL_RESPONSE status 0x%08x", status));
        }
      });
      if (!sent.ok()) refuse(sent.message());
      return;
    }
    refuse("the channel has no offer");
  };
  for (Built& b : built) {
    for (const ChannelSpec::Retarget& move : b.spec->retarget) {
      simulator->ScheduleAt(SimTime::FromNanoseconds(move.at_ns),
                            [fn = &retarget, which = &b, at = &move] { (*fn)(which, at); });
    }
  }

  // Faults that take a host driver down (rescind, host crash) and bring it
  // back (host crash).
  stop_host_driver = [&built, rt = runtime.get()](int index) {
    Built* which = &built[static_cast<size_t>(index)];
    if (which->host == nullptr || which->host_stopped) return false;
    which->host_stopped = true;
    rt->RunPassive(0, 0, [which] { which->host->Destroy(); });
    return true;
  };
  // Creates a new instance of a stopped host driver (PASSIVE), restoring
  // its channel from `restore` when not null.
  const std::function<void(Built*, const std::vector<uint8_t>*)> make_host =
      [&keep_started, &run_over, &context_for](Built* which, const std::vector<uint8_t>* restore) {
    if (run_over) return;
    DriverContext context = context_for(*which, /*host_side=*/true);
    context.restore = restore;
    absl::StatusOr<std::unique_ptr<DriverInstance>> made = (*which->host_factory)(context);
    DriverInstance* const instance = keep_started(made);
    if (instance == nullptr) return;  // A restart that failed: the channel stays rescinded.
    which->host = instance;
    which->host_stopped = false;
    ++which->host_generation;
  };
  start_host_driver = [&built, &make_host, rt = runtime.get()](int index) {
    Built* which = &built[static_cast<size_t>(index)];
    if (!which->host_stopped) return false;
    rt->RunPassive(0, 0, [which, &make_host] { make_host(which, nullptr); });
    return true;
  };
  // save_restore: the host driver pauses and saves its channel (SaveBegin
  // now, SaveEnd `save_ns` later), is torn down (the guest sees the old
  // channel rescinded: KMCL restores into a fresh channel only), and a new
  // instance restores the save and offers the channel again. A driver
  // stopped meanwhile (a rescind during the save) ended its save in its
  // teardown; nothing is restored then.
  save_host_driver = [&built, &make_host, rt = runtime.get(), simulation = simulator.get()](int index, int64_t save_ns) {
    Built* which = &built[static_cast<size_t>(index)];
    if (which->host == nullptr || which->host_stopped || which->saving || !which->host->CanSave()) return false;
    which->saving = true;
    struct SaveJob {
      Built* which;
      uint64_t generation;
      kmcl::Runtime* rt;
      const std::function<void(Built*, const std::vector<uint8_t>*)>* make_host;
      bool begun = false;
    };
    auto job = std::make_shared<SaveJob>(SaveJob{which, which->host_generation, rt, &make_host});
    rt->RunPassive(0, 0, [job] {
      if (!job->which->host_stopped) job->begun = job->which->host->SaveBegin().ok();
    });
    simulation->ScheduleAfter(sim::SimDuration::Nanoseconds(save_ns), [job] {
      job->rt->RunPassive(0, 0, [job] {
        Built* which = job->which;
        which->saving = false;
        // Stopped (and perhaps restarted) meanwhile: that teardown ended the save.
        if (which->host_stopped || which->host_generation != job->generation || !job->begun) return;
        absl::StatusOr<std::vector<uint8_t>> saved = which->host->SaveEnd();
        which->host_stopped = true;
        which->host->Destroy();
        // A save that failed restarts the driver afresh, as after a crash.
        (*job->make_host)(which, saved.ok() ? &*saved : nullptr);
      });
    });
    return true;
  };
  // guest_reset: the guest's drivers are abandoned where they stand (KMCL
  // freezes what they had; they are torn down after the run only to free
  // their memory) and its VMBus client unloads. `reboot_ns` later new
  // instances of them start, and once the unload has been answered as well
  // the client connects again, and the host offers every channel anew.
  // A guest resets again only once its client is connected again
  // (ResetGuest refuses otherwise).
  std::vector<std::pair<uint16_t, DriverInstance*>> abandoned;
  // One reset of one guest, from the reset to the reconnect.
  struct Reboot {
    kmcl::Runtime* rt;
    uint16_t guest;
    std::function<void(Built*)> start_driver;  // A new instance of the channel's guest driver (PASSIVE).
    std::vector<Built*> drivers;                // Whose guest driver starts again.
    bool unloaded = false;
    bool due = false;
    // Once both halves are over; in an event of its own, never inside the
    // client's work.
    static void ReconnectIfReady(const std::shared_ptr<Reboot>& r) {
      if (!r->unloaded || !r->due) return;
      r->rt->sim().ScheduleAt(r->rt->sim().Now(), [r] { r->rt->ReconnectGuest(r->guest).IgnoreError(); });
    }
  };
  const std::function<void(Built*)> start_guest_driver = [&keep_started, &run_over, &context_for](Built* which) {
    if (which->guest_stopped || run_over) return;  // Stopped by the scenario meanwhile, or too late.
    absl::StatusOr<std::unique_ptr<DriverInstance>> made =
        (*which->guest_factory)(context_for(*which, /*host_side=*/false));
    DriverInstance* const instance = keep_started(made);
    if (instance == nullptr) return;  // It did not come back: its channel stays closed.
    which->guest = instance;
  };
  reset_guest = [&built, &abandoned, &start_guest_driver, rt = runtime.get()](uint16_t guest, int64_t reboot_ns) {
    auto reboot = std::make_shared<Reboot>(Reboot{.rt = rt, .guest = guest, .start_driver = start_guest_driver});
    if (!rt->ResetGuest(guest, [reboot] {
          reboot->unloaded = true;
          Reboot::ReconnectIfReady(reboot);
        })) {
      return false;
    }
    for (Built& b : built) {
      if (b.spec->guest != guest || b.guest == nullptr || b.guest_stopped) continue;
      abandoned.emplace_back(guest, b.guest);
      b.guest = nullptr;
      reboot->drivers.push_back(&b);
    }
    rt->sim().ScheduleAfter(sim::SimDuration::Nanoseconds(reboot_ns), [reboot] {
      reboot->due = true;
      for (Built* which : reboot->drivers) {
        reboot->rt->RunPassive(reboot->guest, 0, [reboot, which] { reboot->start_driver(which); });
      }
      Reboot::ReconnectIfReady(reboot);
    });
    return true;
  };
  if (injector != nullptr) injector->Start();

  // The warm-up's end: data-path totals restart, and what the VPs and
  // monitor pages did so far is kept to be subtracted (transactions are
  // measured by their send time: RuntimeOptions::measure_from).
  WarmupBaseline warmup;
  const std::function<void()> end_warmup = [&warmup, &backends, rt = runtime.get(), f = fab.get()] {
    rt->RestartTotals();
    warmup = WarmupBaseline::Take(*f);
    for (auto& [name, backend] : backends) backend->RestartFigures();
  };
  if (spec.stop.warmup_ns.value_or(0) > 0) {
    simulator->ScheduleAt(SimTime::FromNanoseconds(*spec.stop.warmup_ns), [&end_warmup] { end_warmup(); });
  }

  // Run.
  sim::RunLimits limits;
  limits.end_time = SimTime::FromNanoseconds(spec.stop.time_ns.value_or(int64_t{60} * 1000 * 1000 * 1000));
  const uint64_t events_max = spec.stop.events_max.value_or(UINT64_MAX);
  sim::RunResult result = sim::RunResult::kQueueEmpty;
  const SimTime end_time = limits.end_time;
  // Liveness: run in slices of a quarter of stuck_ns and look at the
  // ledger between them.
  const std::optional<int64_t> stuck_ns = spec.faults.stuck_ns;
  const SimDuration slice = SimDuration::Nanoseconds(std::max<int64_t>(1, stuck_ns.value_or(0) / 4));
  for (;;) {
    const uint64_t done = simulator->events_executed();
    limits.events_max = std::min<uint64_t>(options.progress_events, events_max - done);
    if (stuck_ns.has_value()) {
      limits.end_time = simulator->Now() + slice < end_time ? simulator->Now() + slice : end_time;
    }
    result = simulator->Run(limits);
    if (stuck_ns.has_value() && ledger != nullptr) {
      // Progress is stamped at the acting VP's clock, which may run ahead of
      // the simulator's: no progress yet is zero idle time, never negative.
      const int64_t idle_ns =
          std::max<int64_t>(0, simulator->Now().nanoseconds() - ledger->last_progress().nanoseconds());
      if (result == sim::RunResult::kQueueEmpty || idle_ns >= *stuck_ns) {
        const uint64_t open = ledger->UnaccountedOpen(injector.get());
        if (open != 0) {
          report.stuck = true;
          report.stuck_idle_ns = idle_ns;
          report.stuck_queue_empty = result == sim::RunResult::kQueueEmpty;
          report.stuck_open_sends = open;
          simulator->tracer().Emit({.time = simulator->Now(),
                                    .kind = faults::kFaultStuckTraceKind,
                                    .size0 = static_cast<uint64_t>(report.stuck_idle_ns),
                                    .size1 = open});
          break;
        }
      }
      if (result == sim::RunResult::kEndTimeReached && limits.end_time < end_time) continue;
      limits.end_time = end_time;
    }
    if (result != sim::RunResult::kEventBudgetExhausted) break;
    if (simulator->events_executed() >= events_max) break;
    if (options.progress) options.progress(simulator->Now().nanoseconds(), simulator->events_executed());
    if (options.checkpoint) {
      RunCheckpoint c{.simulated_ns = simulator->Now().nanoseconds(), .events = simulator->events_executed()};
      if (ledger != nullptr) {
        c.ledger = true;
        c.sends = ledger->sends();
        c.completed = ledger->completed();
        c.failed = ledger->failed();
        c.finished_twice = ledger->finished_twice();
        const int64_t stale_before_ns = c.simulated_ns - options.checkpoint_stale_ns;
        if (stale_before_ns > 0) {
          c.stale_open =
              ledger->UnaccountedOpenSentBefore(SimTime::FromNanoseconds(stale_before_ns), injector.get());
        }
      }
      c.causality_violations = runtime->causality_violations().size();
      c.fault_firings = injector != nullptr ? injector->total_firings() : 0;
      options.checkpoint(c);
    }
  }
  if (result == sim::RunResult::kQueueEmpty && !spec.stop.quiescence && spec.stop.time_ns.has_value()) {
    result = sim::RunResult::kEndTimeReached;  // Idle until the end time.
  }
  if (report.stuck) result = sim::RunResult::kStopRequested;
  report.stop_reason = result;
  const SimTime end = (result == sim::RunResult::kEndTimeReached) ? limits.end_time : simulator->Now();
  report.simulated_ns = end.nanoseconds();
  // A Pause / Disable / peer close still waiting for packets its driver
  // never completed is a finding of the run (KMCL blocks there). Reported
  // before the trace is summed up: the finding is a trace record, and a
  // recording's footer counts every record.
  runtime->ReportHungTeardowns();
  report.events = simulator->events_executed();
  report.fingerprint = simulator->tracer().fingerprint();
  report.trace_records = simulator->tracer().record_count();

  // Channels: each spec channel's offers (primary and sub-channels).
  for (const Built& b : built) {
    ChannelReport c;
    c.name = b.spec->name;
    c.guest = b.spec->guest;
    c.interrupt = b.spec->interrupt;
    c.retargets = b.retargets;
    c.retargets_refused = b.retargets_refused;
    for (const kmcl::OfferRecord& offer : runtime->offers()) {
      if (offer.guest != c.guest || !SameGuid(offer.interface_type, b.type) ||
          !SameGuid(offer.interface_instance, b.instance)) {
        continue;
      }
      if (std::find(c.relids.begin(), c.relids.end(), offer.relid) != c.relids.end()) continue;
      c.relids.push_back(offer.relid);
      c.metrics += runtime->TransactionsFor(c.guest, offer.relid);
      c.totals += runtime->TotalsFor(c.guest, offer.relid);
    }
    for (const OpenLoop* loop : b.loops) {
      c.arrivals += loop->issued();
      c.arrivals_refused += loop->refused();
    }
    if (b.guest != nullptr) {
      c.requests_issued = b.guest->requests_issued();
      c.requests_ended = b.guest->requests_ended();
      c.guest_driver = b.guest->figures();
    }
    if (b.host != nullptr) c.host_driver = b.host->figures();
    report.channels.push_back(std::move(c));
  }
  report.warmup_ns = spec.stop.warmup_ns.value_or(0);
  report.measured_ns = std::max<int64_t>(0, report.simulated_ns - report.warmup_ns);
  report.percentiles = options.percentiles;
  const double span = std::max<double>(1.0, static_cast<double>(report.measured_ns));
  const WarmupBaseline now = WarmupBaseline::Take(*fab);
  for (size_t i = 0; i < now.vps.size(); ++i) {
    VpReport vp = now.vps[i];
    if (i < warmup.vps.size()) {
      vp.busy_ns -= warmup.vps[i].busy_ns;
      vp.isr_ns -= warmup.vps[i].isr_ns;
      vp.dpc_ns -= warmup.vps[i].dpc_ns;
      vp.passive_ns -= warmup.vps[i].passive_ns;
      vp.preemptions -= warmup.vps[i].preemptions;
      vp.work_items -= warmup.vps[i].work_items;
      vp.interrupts -= warmup.vps[i].interrupts;
    }
    vp.utilisation = static_cast<double>(vp.busy_ns) / span;
    report.vps.push_back(vp);
  }
  for (size_t i = 0; i < now.monitors.size(); ++i) {
    MonitorReport m = now.monitors[i];
    if (i < warmup.monitors.size()) {
      m.sets -= warmup.monitors[i].sets;
      m.coalesced -= warmup.monitors[i].coalesced;
      m.fires -= warmup.monitors[i].fires;
    }
    report.monitors.push_back(m);
  }
  report.shared_signals = {now.shared_signals.interrupts - warmup.shared_signals.interrupts,
                           now.shared_signals.doorbells - warmup.shared_signals.doorbells};
  for (const BackendSpec& b : spec.backends) {
    report.backends.push_back(BackendReport{.name = b.name, .figures = backends.at(b.name)->Figures()});
  }
  report.findings = runtime->verifier().findings();
  report.findings_total = runtime->verifier().total_count();
  report.peer_violations = runtime->peer_violations().size();
  report.causality_violations_total = runtime->causality_violations().size();
  for (const kmcl::CausalityViolation& v : runtime->causality_violations()) {
    if (report.causality_violations.size() == 16) break;
    report.causality_violations.push_back(absl::StrCat("guest ", v.guest, " relid ", v.relid, " transaction ",
                                                       v.trans_id, ": ", v.what, " (seen at ", v.time.ToString(),
                                                       ", caused at ", v.cause_time.ToString(), ")"));
  }
  report.kmcl = runtime->counters();
  if (injector != nullptr) {
    const std::vector<uint64_t> firings = injector->firings();
    for (size_t i = 0; i < spec.faults.injections.size(); ++i) {
      const FaultSpec& f = spec.faults.injections[i];
      FaultReport r{.index = i, .kind = f.kind, .firings = firings[i]};
      r.target = f.target.kind == "channel"     ? absl::StrCat("channel ", f.target.channel)
                 : f.target.kind == "partition" ? absl::StrCat("partition ", f.target.partition)
                 : f.target.kind == "class"     ? absl::StrCat("class ", f.target.interface_type)
                                                : "all";
      const FaultTriggerSpec& t = f.trigger;
      r.trigger = t.kind == "at_ns"   ? absl::StrCat("at_ns ", t.at_ns)
                  : t.kind == "after" ? absl::StrCat("after ", t.event, " x", t.count)
                  : t.kind == "while" ? absl::StrCat("while ", t.predicate)
                                      : absl::StrCat("probability ", t.numerator, "/", t.denominator);
      report.fault_firings += firings[i];
      report.faults.push_back(std::move(r));
    }
  }
  if (ledger != nullptr) {
    report.ledger_checked = true;
    report.ledger = ledger->Summarise(injector.get());
  }
  if (report.stuck) {
    const std::vector<kmcl::Runtime::ChannelDebugState> debug = runtime->DebugStates();
    for (const auto& [guest, relid] : runtime->AttachedChannels()) {
      for (const bool host_side : {false, true}) {
        fabric::ChannelDataPath* end = host_side ? fab->host_endpoint(guest, relid) : fab->guest_endpoint(guest, relid);
        if (end == nullptr) continue;
        EndpointState e;
        const int index = channel_of(guest, relid);
        e.channel = index >= 0 ? built[static_cast<size_t>(index)].spec->name : "";
        e.guest = guest;
        e.relid = relid;
        e.side = host_side ? "host" : "guest";
        const uint8_t* out = end->writer().memory().control_page();
        const uint8_t* in = end->reader().memory().control_page();
        e.out_write_index = fabric::LoadControlWord(out, fabric::ControlWord::kWriteIndex);
        e.out_read_index = fabric::LoadControlWord(out, fabric::ControlWord::kReadIndex);
        e.out_pending_send_sz = fabric::LoadControlWord(out, fabric::ControlWord::kPendingSendSz);
        e.in_write_index = fabric::LoadControlWord(in, fabric::ControlWord::kWriteIndex);
        e.in_read_index = fabric::LoadControlWord(in, fabric::ControlWord::kReadIndex);
        e.in_interrupt_mask = fabric::LoadControlWord(in, fabric::ControlWord::kInterruptMask);
        e.writer_blocked = end->writer_blocked();
        e.draining = end->draining();
        e.stalled = end->stalled();
        if (end->failed()) e.failed = std::string(end->status().message());
        e.held_by_faults = end->fault_held_count();
        for (const kmcl::Runtime::ChannelDebugState& k : debug) {
          if (k.guest != guest || k.relid != relid || (k.partition == 0) != host_side) continue;
          e.driver_state = absl::StrCat(k.state, k.running ? " running" : " not running");
          e.queued_sends += k.queued_sends;
          e.open_transactions += k.open_transactions;
          e.packets_held += k.packets_held;
        }
        report.stuck_state.push_back(std::move(e));
      }
    }
  }
  Evaluate(spec, *runtime, injector.get(), report);

  for (sim::TraceSink* sink : options.sinks) simulator->tracer().RemoveSink(sink);
  if (injector != nullptr) {
    fab->SetFaultHook(nullptr);  // Teardown runs without faults.
    simulator->tracer().RemoveSink(injector.get());
  }
  // A run cut by its time limit or event budget stops with sends in flight:
  // the ledger follows them through the teardown, and those that end there
  // (completed, or failed by the drivers' Disable) were in flight, not lost.
  const bool cut = report.stop_reason == sim::RunResult::kEndTimeReached ||
                   report.stop_reason == sim::RunResult::kEventBudgetExhausted;
  uint64_t stale_at_stop = 0;
  if (ledger != nullptr && cut) {
    const SimTime stop = SimTime::FromNanoseconds(report.simulated_ns);
    const SimDuration longest = ledger->completion_latency_max();
    if (longest.nanoseconds() < report.simulated_ns) {
      stale_at_stop = ledger->UnaccountedOpenSentBefore(stop - longest, injector.get());
    }
  }
  if (ledger != nullptr && !cut) simulator->tracer().RemoveSink(ledger.get());
  // Tear the drivers down (guests first) so they free what they own; this
  // runs after the report is taken and is not part of it. The wait is
  // bounded; what it does not reach (a driver stuck in a blocking call, a
  // Destroy behind a VP busy past the bound) ends after it, off the clock
  // (run_over).
  for (const std::unique_ptr<OpenLoop>& loop : loops) loop->Stop();
  run_over = true;
  // Drivers a guest reset abandoned: their channels are frozen, so this
  // only frees what they hold.
  for (const auto& [guest, instance] : abandoned) {
    runtime->RunPassive(guest, 0, [instance = instance] { instance->Destroy(); });
  }
  for (bool host_side : {false, true}) {
    for (Built& b : built) {
      DriverInstance* instance = host_side ? b.host : b.guest;
      bool& stopped = host_side ? b.host_stopped : b.guest_stopped;
      if (instance == nullptr || stopped) continue;
      // Marked first: a stop the scenario scheduled for later (guest_stop_ns
      // beyond a time limit) may come due during this teardown's run, and
      // must find the driver gone rather than destroy it a second time.
      stopped = true;
      runtime->RunPassive(host_side ? 0 : b.spec->guest, 0, [instance] { instance->Destroy(); });
    }
    simulator->Run(sim::RunLimits{.end_time = simulator->Now() + SimDuration::Seconds(10), .events_max = 50'000'000});
  }
  if (ledger != nullptr && cut) {
    simulator->tracer().RemoveSink(ledger.get());
    SettleCutLedger(ledger->Summarise(injector.get()), stale_at_stop, spec.expectations, injector.get(), report);
  }
  // What the bounded teardown did not reach ends now, off the clock.
  runtime->ReleaseWorkers();
  // The world goes in dependency order.
  instances.clear();
  loops.clear();
  runtime.reset();
  fab.reset();
  simulator.reset();
  if (!start_errors.empty()) {
    // The first error is the one that matters; the rest are counted.
    const std::string more =
        start_errors.size() == 1 ? "" : absl::StrCat(" (and ", start_errors.size() - 1, " more)");
    return absl::InvalidArgumentError(absl::StrCat(start_errors.front(), more));
  }
  report.wall_seconds = absl::ToDoubleSeconds(absl::Now() - wall_start);
  return report;
}

absl::StatusOr<std::map<std::string, int64_t>> CostValues(const FabricSpec& spec) {
  VMBSIM_ASSIGN_OR_RETURN(fabric::CostModel costs, CostsFor(spec));
  std::map<std::string, int64_t> values;
  for (const auto& [name, duration] : CostDurations(costs)) values[name] = duration->nanoseconds();
  values["ring_copy_per_byte_ps"] = costs.ring_copy_per_byte_ps;
  return values;
}

std::string PercentileKey(double percentile) {
  std::string digits = absl::StrFormat("%.6g", percentile);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  return "p" + digits;
}

absl::StatusOr<std::vector<double>> ParsePercentiles(const std::string& text) {
  std::vector<double> out;
  std::vector<std::string> keys;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    double p = 0;
    if (!absl::SimpleAtod(item, &p) || !(p > 0 && p <= 100)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--percentiles: '", item, "' is not a percentile in (0, 100]"));
    }
    const std::string key = PercentileKey(p);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--percentiles: '", item, "' repeats ", key, " (each prints as a report key)"));
    }
    keys.push_back(key);
    out.push_back(p);
  }
  if (out.size() > 16) return absl::InvalidArgumentError("--percentiles: at most 16 percentiles");
  return out;
}

}  // namespace vmbsim::scenario
