#include "tools/faults/swarm.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmcl/verifier.h"
#include "sim/core/prng.h"
#include "tools/faults/catalogue.h"

namespace vmbsim::faults {
namespace {

using scenario::FaultSpec;
using scenario::ScenarioSpec;

int64_t Pick(sim::Prng& prng, const FaultParamInfo& p) {
  // The default, a quarter of it or four times it, within the range.
  const int64_t choices[] = {p.default_value, p.default_value / 4, p.default_value * 4};
  const int64_t v = choices[prng.Below(3)];
  return std::clamp(v, p.min, p.max);
}

FaultSpec RandomInjection(sim::Prng& prng, const FaultKindInfo& info, const ScenarioSpec& base) {
  FaultSpec f;
  f.kind = info.name;
  for (const FaultParamInfo& p : info.params) {
    if (p.choices.empty()) {
      f.int_params[p.name] = Pick(prng, p);
    } else {
      const size_t n = p.swarm_choices != 0 ? p.swarm_choices : p.choices.size();
      f.string_params[p.name] = p.choices[prng.Below(n)];
    }
  }
  // Target: every channel, or one of them; a VP stall hits one partition
  // (stalling every partition at once would only shift time).
  if (info.kind == FaultKind::kVpStall) {
    f.target.kind = "partition";
    f.target.partition = static_cast<uint16_t>(prng.Below(base.fabric.guests.size() + 1));
  } else if (!base.channels.empty() && (info.targets & kTargetChannel) != 0 && prng.Below(2) == 0) {
    f.target.kind = "channel";
    f.target.channel = base.channels[prng.Below(base.channels.size())].name;
  } else if ((info.targets & kTargetAll) != 0) {
    f.target.kind = "all";
  } else {
    f.target.kind = "partition";
    f.target.partition = 1;
  }
  const bool action = info.mechanism == Mechanism::kAction ||
                      (info.kind == FaultKind::kRescind && f.string_params["step"] == "now");
  if (action) {
    f.trigger.kind = "at_ns";
    f.trigger.at_ns = static_cast<int64_t>(prng.Below(10'000'000));
  } else if (info.kind == FaultKind::kSignalThrottle) {
    f.trigger.kind = "while";
    f.trigger.predicate = "channel_attached";
  } else if (info.kind == FaultKind::kRescind || info.kind == FaultKind::kOpenFailure ||
             info.kind == FaultKind::kGpadlFailure) {
    // Once, at a random opportunity.
    f.trigger.kind = "probability";
    f.trigger.numerator = 1;
    f.trigger.denominator = 1 + prng.Below(4);
    f.max_firings = 1;
  } else {
    static constexpr uint64_t kDenominators[] = {20, 100, 500, 2000};
    f.trigger.kind = "probability";
    f.trigger.numerator = 1;
    f.trigger.denominator = kDenominators[prng.Below(4)];
  }
  return f;
}

}  // namespace

std::optional<ScenarioSpec> WithoutGuest(const ScenarioSpec& spec, uint16_t guest) {
  if (guest < 1 || guest > spec.fabric.guests.size() || spec.fabric.guests.size() < 2) return std::nullopt;
  ScenarioSpec c = spec;
  c.fabric.guests.erase(c.fabric.guests.begin() + (guest - 1));
  std::set<std::string> gone;
  for (const scenario::ChannelSpec& ch : spec.channels) {
    if (ch.guest == guest) gone.insert(ch.name);
  }
  if (gone.size() == spec.channels.size()) return std::nullopt;  // No channel would be left.
  std::erase_if(c.channels, [&](const scenario::ChannelSpec& ch) { return gone.count(ch.name) != 0; });
  for (scenario::ChannelSpec& ch : c.channels) {
    if (ch.guest > guest) --ch.guest;
  }
  std::erase_if(c.workloads, [&](const scenario::WorkloadSpec& w) { return gone.count(w.channel) != 0; });
  std::erase_if(c.expectations.latency, [&](const scenario::LatencyBound& b) { return gone.count(b.channel) != 0; });
  std::erase_if(c.faults.injections, [&](const FaultSpec& f) {
    return (f.target.kind == "channel" && gone.count(f.target.channel) != 0) ||
           (f.target.kind == "partition" && f.target.partition == guest);
  });
  for (FaultSpec& f : c.faults.injections) {
    if (f.target.kind == "partition" && f.target.partition > guest) --f.target.partition;
  }
  return c;
}

ScenarioSpec SwarmVariant(const ScenarioSpec& base, uint64_t seed) {
  ScenarioSpec spec = base;
  sim::Prng prng = sim::Prng::FromSeed(seed).Fork("swarm");
  spec.seed = seed;
  spec.exploration.tie_break_seed = prng.Below(uint64_t{1} << 32);
  spec.expectations.latency.clear();
  spec.expectations.interrupts_per_packet_max.reset();
  spec.expectations.interrupts_per_packet_min.reset();
  // A negative scenario's counts of what it loses are not invariants either:
  // under faults a run may lose differently (a crash fails what a bug strands).
  spec.expectations.lost_packets_min.reset();
  spec.expectations.failed_transactions_min.reset();
  if (!spec.faults.stuck_ns.has_value()) spec.faults.stuck_ns = kSwarmStuckNsDefault;
  std::vector<const FaultKindInfo*> kinds;
  for (const FaultKindInfo& info : Catalogue()) {
    if (info.implemented && info.swarm) kinds.push_back(&info);
  }
  const uint64_t count = 1 + prng.Below(3);
  for (uint64_t i = 0; i < count && !kinds.empty(); ++i) {
    const size_t pick = prng.Below(kinds.size());
    spec.faults.injections.push_back(RandomInjection(prng, *kinds[pick], base));
    kinds.erase(kinds.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  return spec;
}

std::string FailureSignature(const scenario::RunReport& report) {
  const int exit = scenario::ExitCodeFor(report);
  if (exit == scenario::kExitOk) return "";
  std::vector<std::string> failed;
  for (const scenario::ExpectationResult& r : report.expectations) {
    if (!r.passed) failed.push_back(r.name);
  }
  std::set<std::string> rules;
  for (const kmcl::Finding& f : report.findings) rules.insert(kmcl::RuleName(f.rule));
  std::string out = absl::StrCat("exit ", exit);
  if (!failed.empty()) absl::StrAppend(&out, "; failed ", absl::StrJoin(failed, ","));
  if (!rules.empty()) absl::StrAppend(&out, "; findings ", absl::StrJoin(rules, ","));
  if (report.causality_violations_total != 0) absl::StrAppend(&out, "; causality violations");
  if (report.stuck) {
    std::set<std::string> shape;
    for (const scenario::EndpointState& e : report.stuck_state) {
      if (!e.failed.empty()) shape.insert(absl::StrCat(e.side, " endpoint failed"));
      // A blocked writer is a consequence (the ring filled behind the cause),
      // not the cause: left out, so a shorter run fails the same way.
      if (e.in_write_index != e.in_read_index && !e.draining && !e.stalled) {
        shape.insert(absl::StrCat(e.side, " reader idle with unread data, ",
                                  e.in_interrupt_mask != 0 ? "masked" : "unmasked"));
      }
      if (e.stalled) shape.insert(absl::StrCat(e.side, " reader stalled"));
    }
    absl::StrAppend(&out, "; stuck: ", shape.empty() ? "no channel holds unread data" : absl::StrJoin(shape, ", "));
  }
  return out;
}

absl::StatusOr<ShrinkResult> Shrink(const ScenarioSpec& failing, const RunFn& run, int runs_max) {
  ShrinkResult result;
  absl::StatusOr<scenario::RunReport> first = run(failing);
  if (!first.ok()) return first.status();
  result.signature = FailureSignature(*first);
  if (result.signature.empty()) {
    return absl::FailedPreconditionError("the scenario does not fail: nothing to shrink");
  }
  result.runs = 1;
  result.spec = failing;
  result.events_before = result.events_after = first->events;
  int64_t simulated_ns = first->simulated_ns;
  // Keeps `candidate` if it fails the same way.
  auto attempt = [&](const ScenarioSpec& candidate, const std::string& what) {
    if (result.runs >= runs_max) return false;
    ++result.runs;
    absl::StatusOr<scenario::RunReport> report = run(candidate);
    if (!report.ok() || FailureSignature(*report) != result.signature) return false;
    // Smaller means fewer events: a change that keeps the failure but makes
    // the run longer (a faster workload that runs further) is not taken.
    if (report->events > result.events_after) return false;
    result.spec = candidate;
    result.events_after = report->events;
    simulated_ns = report->simulated_ns;
    result.steps.push_back({what, report->events});
    return true;
  };
  bool progress = true;
  while (progress && result.runs < runs_max) {
    progress = false;
    // Injections, one at a time.
    for (size_t i = result.spec.faults.injections.size(); i-- > 0;) {
      ScenarioSpec c = result.spec;
      c.faults.injections.erase(c.faults.injections.begin() + static_cast<std::ptrdiff_t>(i));
      progress |= attempt(c, absl::StrCat("drop injection ", i, " (", result.spec.faults.injections[i].kind, ")"));
    }
    // Time triggers, earlier: the work before a fault shrinks with it.
    for (size_t i = 0; i < result.spec.faults.injections.size(); ++i) {
      const int64_t at = result.spec.faults.injections[i].trigger.at_ns;
      if (result.spec.faults.injections[i].trigger.kind != "at_ns" || at < 1000) continue;
      ScenarioSpec c = result.spec;
      c.faults.injections[i].trigger.at_ns = at / 2;
      progress |= attempt(c, absl::StrCat("injection ", i, " at_ns ", at, " -> ", at / 2));
    }
    // A driver's scheduled stop, earlier (halved, else by a quarter): a close
    // or rescind that must overlap the I/O to fail keeps overlapping it when
    // it comes sooner, and the work behind it goes. Before the workload
    // steps, which would otherwise thin the I/O the stop must overlap.
    for (size_t ch = 0; ch < result.spec.channels.size(); ++ch) {
      for (const bool host : {false, true}) {
        const std::optional<int64_t> stop =
            host ? result.spec.channels[ch].host_stop_ns : result.spec.channels[ch].guest_stop_ns;
        if (!stop.has_value() || *stop < 2000) continue;
        for (const int64_t earlier : {*stop / 2, *stop - *stop / 4}) {
          ScenarioSpec c = result.spec;
          (host ? c.channels[ch].host_stop_ns : c.channels[ch].guest_stop_ns) = earlier;
          if (attempt(c, absl::StrCat("channel ", c.channels[ch].name, host ? " host_stop_ns " : " guest_stop_ns ",
                                      *stop, " -> ", earlier))) {
            progress = true;
            break;
          }
        }
      }
    }
    // Probability triggers, twice as likely: the fault that causes the
    // failure comes sooner, and less work runs before it.
    for (size_t i = 0; i < result.spec.faults.injections.size(); ++i) {
      const scenario::FaultTriggerSpec& t = result.spec.faults.injections[i].trigger;
      if (t.kind != "probability" || t.denominator < 2 * t.numerator || t.denominator < 2) continue;
      ScenarioSpec c = result.spec;
      c.faults.injections[i].trigger.denominator = t.denominator / 2;
      progress |= attempt(c, absl::StrCat("injection ", i, " probability ", t.numerator, "/", t.denominator, " -> ",
                                          t.numerator, "/", t.denominator / 2));
    }
    // Workload sizes, halved.
    for (size_t w = 0; w < result.spec.workloads.size(); ++w) {
      const uint64_t requests = result.spec.workloads[w].requests;
      if (requests <= 1) continue;
      ScenarioSpec c = result.spec;
      c.workloads[w].requests = requests / 2;
      if (c.workloads[w].arrival.kind == "closed_loop") {
        c.workloads[w].arrival.outstanding =
            std::max<uint32_t>(1, std::min<uint64_t>(c.workloads[w].arrival.outstanding, requests / 2));
      }
      if (attempt(c, absl::StrCat("workload ", w, " requests ", requests, " -> ", requests / 2))) {
        progress = true;
        continue;
      }
      c.workloads[w].requests = requests - requests / 4;
      if (c.workloads[w].requests < requests) {
        progress |= attempt(c, absl::StrCat("workload ", w, " requests ", requests, " -> ", requests - requests / 4));
      }
    }
    // Counts a driver takes as parameters rather than from a workload
    // (streaming_vsc's packets, sync_client's requests, greetings), halved.
    static constexpr const char* kCountParams[] = {"packets_per_channel", "requests", "greeting_packets",
                                                   "early_requests"};
    for (size_t ch = 0; ch < result.spec.channels.size(); ++ch) {
      for (const bool host : {false, true}) {
        for (const char* param : kCountParams) {
          const scenario::DriverSpec& d =
              host ? result.spec.channels[ch].host_driver : result.spec.channels[ch].guest_driver;
          const auto it = d.int_params.find(param);
          if (it == d.int_params.end() || it->second <= 1) continue;
          const int64_t count = it->second;
          ScenarioSpec c = result.spec;
          (host ? c.channels[ch].host_driver : c.channels[ch].guest_driver).int_params[param] = count / 2;
          progress |= attempt(c, absl::StrCat("channel ", c.channels[ch].name, host ? " host " : " guest ", param,
                                              " ", count, " -> ", count / 2));
        }
      }
    }
    // Open-loop rates, doubled: a failure that needs requests close together
    // (a full ring) comes sooner, and the halvings above then cut the rest.
    for (size_t w = 0; w < result.spec.workloads.size(); ++w) {
      const scenario::ArrivalSpec& a = result.spec.workloads[w].arrival;
      if (a.kind != "poisson" && a.kind != "fixed_rate" && a.kind != "bursts") continue;
      if (a.interval_ns < 2) continue;
      ScenarioSpec c = result.spec;
      c.workloads[w].arrival.interval_ns = a.interval_ns / 2;
      progress |= attempt(c, absl::StrCat("workload ", w, " interval_ns ", a.interval_ns, " -> ", a.interval_ns / 2));
    }
    // Closed-loop depth, halved.
    for (size_t w = 0; w < result.spec.workloads.size(); ++w) {
      const uint32_t outstanding = result.spec.workloads[w].arrival.outstanding;
      if (result.spec.workloads[w].arrival.kind != "closed_loop" || outstanding <= 1) continue;
      ScenarioSpec c = result.spec;
      c.workloads[w].arrival.outstanding = outstanding / 2;
      progress |= attempt(c, absl::StrCat("workload ", w, " outstanding ", outstanding, " -> ", outstanding / 2));
    }
    // Guest partitions (with their channels, and everything that names
    // those or the partition), the last first; the guests behind one move
    // down a number, and what names them with them.
    for (size_t g = result.spec.fabric.guests.size(); result.spec.fabric.guests.size() > 1 && g-- > 0;) {
      const std::optional<ScenarioSpec> c = WithoutGuest(result.spec, static_cast<uint16_t>(g + 1));
      if (c.has_value()) progress |= attempt(*c, absl::StrCat("drop partition ", g + 1));
    }
    // Channels (with their workloads and the injections and bounds that name them).
    for (size_t ch = result.spec.channels.size(); result.spec.channels.size() > 1 && ch-- > 0;) {
      ScenarioSpec c = result.spec;
      const std::string name = c.channels[ch].name;
      c.channels.erase(c.channels.begin() + static_cast<std::ptrdiff_t>(ch));
      std::erase_if(c.workloads, [&](const scenario::WorkloadSpec& w) { return w.channel == name; });
      std::erase_if(c.faults.injections,
                    [&](const FaultSpec& f) { return f.target.kind == "channel" && f.target.channel == name; });
      std::erase_if(c.expectations.latency, [&](const scenario::LatencyBound& b) { return b.channel == name; });
      progress |= attempt(c, absl::StrCat("drop channel ", name));
    }
    // Sub-channels.
    for (size_t ch = 0; ch < result.spec.channels.size(); ++ch) {
      if (result.spec.channels[ch].sub_channels == 0) continue;
      ScenarioSpec c = result.spec;
      c.channels[ch].sub_channels /= 2;
      progress |= attempt(c, absl::StrCat("channel ", c.channels[ch].name, " sub-channels halved"));
    }
    // Liveness threshold, halved: a stuck run is judged sooner (down to 0.1 ms).
    if (result.spec.faults.stuck_ns.has_value() && *result.spec.faults.stuck_ns >= 200'000) {
      ScenarioSpec c = result.spec;
      c.faults.stuck_ns = *result.spec.faults.stuck_ns / 2;
      progress |= attempt(c, absl::StrCat("stuck_ns ", *result.spec.faults.stuck_ns, " -> ", *c.faults.stuck_ns));
    }
  }
  // The warm-up only shapes the report; without it the time limit below
  // may go under it.
  if (result.spec.stop.warmup_ns.has_value()) {
    ScenarioSpec c = result.spec;
    c.stop.warmup_ns.reset();
    attempt(c, "drop the warm-up");
  }
  // Duration, last (a time limit taken early would cut the runs the other
  // steps try): the time the failing run took.
  const int64_t limit = result.spec.stop.time_ns.value_or(int64_t{60} * 1000 * 1000 * 1000);
  if (simulated_ns > 0 && simulated_ns < limit) {
    ScenarioSpec c = result.spec;
    c.stop.time_ns = simulated_ns;
    attempt(c, absl::StrCat("time limit ", limit, " -> ", simulated_ns, " ns"));
  }
  // Then bisect the time limit between nothing and what still fails: a
  // verifier finding is made when it happens, so a run cut just after it
  // fails the same way with every event behind it left out.
  if (result.spec.stop.time_ns.has_value()) {
    int64_t failing_ns = *result.spec.stop.time_ns;
    int64_t passing_ns = 0;
    while (failing_ns - passing_ns > std::max<int64_t>(1000, failing_ns / 64) && result.runs < runs_max) {
      const int64_t mid = passing_ns + (failing_ns - passing_ns) / 2;
      ScenarioSpec c = result.spec;
      c.stop.time_ns = mid;
      if (attempt(c, absl::StrCat("time limit ", failing_ns, " -> ", mid, " ns"))) {
        failing_ns = mid;
      } else {
        passing_ns = mid;
      }
    }
  }
  return result;
}

}  // namespace vmbsim::faults
