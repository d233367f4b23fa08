#include "tools/faults/scenario_json.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmbsim::faults {
namespace {

using scenario::ScenarioSpec;

std::string Q(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Members of one JSON object, joined.
class Obj {
 public:
  Obj& Add(const std::string& key, const std::string& raw) {
    members_.push_back(absl::StrCat(Q(key), ": ", raw));
    return *this;
  }
  Obj& Str(const std::string& key, const std::string& value) { return Add(key, Q(value)); }
  template <typename T>
  Obj& Num(const std::string& key, T value) {
    return Add(key, absl::StrCat(value));
  }
  Obj& Bool(const std::string& key, bool value) { return Add(key, value ? "true" : "false"); }
  Obj& Dbl(const std::string& key, double value) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.17g", value);
    return Add(key, buffer);
  }
  template <typename T>
  Obj& Opt(const std::string& key, const std::optional<T>& value) {
    if (value.has_value()) Num(key, *value);
    return *this;
  }
  std::string Take(const std::string& indent = "") const {
    if (members_.empty()) return "{}";
    return absl::StrCat("{", absl::StrJoin(members_, absl::StrCat(", ")), "}");
  }

 private:
  std::vector<std::string> members_;
};

std::string Array(const std::vector<std::string>& items, const std::string& separator = ", ") {
  return absl::StrCat("[", absl::StrJoin(items, separator), "]");
}

// A distribution with the keys of its kind only, in `unit` ("bytes", "ns").
std::string Distribution(const scenario::DistributionSpec& d, const std::string& unit) {
  Obj o;
  o.Str("kind", d.kind);
  if (d.kind == "fixed") o.Num(unit, d.value);
  if (d.kind == "exponential") o.Num("mean_" + unit, d.mean);
  if (d.kind == "lognormal") o.Num("median_" + unit, d.median).Dbl("sigma", d.sigma);
  if (d.kind == "uniform" || d.kind == "exponential" || d.kind == "lognormal") {
    o.Opt("min_" + unit, d.min).Opt("max_" + unit, d.max);
  }
  if (d.kind == "empirical") {
    std::vector<std::string> rows;
    for (const scenario::DistributionSpec::Row& row : d.table) {
      rows.push_back(Obj().Num(unit, row.value).Num("weight", row.weight).Take());
    }
    o.Add("table", Array(rows));
  }
  return o.Take();
}

// "windows", "openvmm", "none" or "fixed:N", as the loader reads it.
std::string WriterPolicy(const scenario::WriterPolicySpec& w) {
  return w.kind == "fixed" ? absl::StrCat("fixed:", w.fixed_bytes) : w.kind;
}

std::string Reader(const scenario::ReaderSpec& r) {
  Obj o;
  o.Str("kind", r.kind).Opt("dpc_budget_ns", r.dpc_budget_ns).Num("budget_packets", r.budget_packets);
  o.Opt("poll_period_ns", r.poll_period_ns);
  return o.Take();
}

// One speed per VP, as an array (fabric.*vp_speed).
std::string Speeds(const std::vector<double>& speeds) {
  std::vector<std::string> items;
  for (const double speed : speeds) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%.17g", speed);
    items.push_back(buffer);
  }
  return Array(items);
}

std::string Driver(const scenario::DriverSpec& d) {
  Obj params;
  for (const auto& [k, v] : d.string_params) params.Str(k, v);
  for (const auto& [k, v] : d.int_params) params.Num(k, v);
  for (const auto& [k, v] : d.bool_params) params.Bool(k, v);
  for (const auto& [k, v] : d.distribution_params) params.Add(k, Distribution(v, "ns"));
  Obj o;
  o.Str("name", d.name);
  o.Add("params", params.Take());
  return o.Take();
}

}  // namespace

std::string ScenarioToJson(const ScenarioSpec& spec) {
  Obj root;
  root.Str("name", spec.name);
  root.Str("description", spec.description);
  root.Num("seed", spec.seed);
  {
    Obj stop;
    stop.Opt("time_ns", spec.stop.time_ns).Opt("events_max", spec.stop.events_max).Bool("quiescence", spec.stop.quiescence);
    stop.Opt("warmup_ns", spec.stop.warmup_ns);
    root.Add("stop", stop.Take());
  }
  {
    std::vector<std::string> guests;
    for (const scenario::GuestSpec& g : spec.fabric.guests) {
      Obj guest;
      guest.Num("vps", g.vps).Num("memory_mib", g.memory_mib).Str("early_signal", g.early_signal);
      if (!g.vp_speed.empty()) guest.Add("vp_speed", Speeds(g.vp_speed));
      guests.push_back(guest.Take());
    }
    Obj costs;
    for (const auto& [k, v] : spec.fabric.cost_overrides) costs.Num(k, v);
    Obj fabric;
    fabric.Num("root_vps", spec.fabric.root_vps)
        .Add("guests", Array(guests))
        .Str("cost_profile", spec.fabric.cost_profile)
        .Add("cost_overrides", costs.Take())
        .Str("monitor_mode", spec.fabric.monitor_mode)
        .Str("preemption", spec.fabric.preemption);
    if (!spec.fabric.root_vp_speed.empty()) fabric.Add("root_vp_speed", Speeds(spec.fabric.root_vp_speed));
    root.Add("fabric", fabric.Take());
  }
  if (!spec.backends.empty()) {
    std::vector<std::string> backends;
    for (const scenario::BackendSpec& b : spec.backends) {
      backends.push_back(
          Obj().Str("name", b.name).Num("servers", b.servers).Add("service", Distribution(b.service, "ns")).Take());
    }
    root.Add("backends", Array(backends));
  }
  {
    std::vector<std::string> channels;
    for (const scenario::ChannelSpec& c : spec.channels) {
      Obj o;
      o.Str("name", c.name)
          .Str("interface_type", c.interface_type)
          .Str("interface_instance", c.interface_instance)
          .Num("guest", c.guest)
          .Add("host_driver", Driver(c.host_driver))
          .Add("guest_driver", Driver(c.guest_driver))
          .Num("incoming_ring_pages", c.incoming_ring_pages)
          .Num("outgoing_ring_pages", c.outgoing_ring_pages)
          .Num("max_packet_bytes", c.max_packet_bytes)
          .Bool("monitored", c.monitored)
          .Str("interrupt", c.interrupt)
          .Opt("interrupt_latency_100ns", c.interrupt_latency_100ns)
          .Opt("guest_target_vp", c.guest_target_vp)
          .Opt("host_target_vp", c.host_target_vp)
          .Bool("host_passive_processing", c.host_passive_processing)
          .Bool("guest_passive_processing", c.guest_passive_processing)
          .Opt("host_transaction_quota", c.host_transaction_quota)
          .Opt("guest_transaction_quota", c.guest_transaction_quota)
          .Num("sub_channels", c.sub_channels)
          .Str("lost_wakeup_bug", c.lost_wakeup_bug)
          .Str("pending_send_bug", c.pending_send_bug)
          .Opt("host_stop_ns", c.host_stop_ns)
          .Opt("guest_stop_ns", c.guest_stop_ns)
          .Str("host_writer_policy", WriterPolicy(c.host_writer_policy))
          .Str("guest_writer_policy", WriterPolicy(c.guest_writer_policy))
          .Add("host_reader", Reader(c.host_reader))
          .Add("guest_reader", Reader(c.guest_reader))
          .Opt("force_retire_after_ns", c.force_retire_after_ns)
          .Num("unstick_timer_ns", c.unstick_timer_ns);
      if (!c.backend.empty()) o.Str("backend", c.backend);
      if (!c.retarget.empty()) {
        std::vector<std::string> moves;
        moves.reserve(c.retarget.size());
        for (const scenario::ChannelSpec::Retarget& m : c.retarget) moves.push_back(absl::StrCat("[", m.at_ns, ",", m.vp, "]"));
        o.Add("retarget", Array(moves, ","));
      }
      channels.push_back(o.Take());
    }
    root.Add("channels", Array(channels, ",\n    "));
  }
  {
    std::vector<std::string> workloads;
    for (const scenario::WorkloadSpec& w : spec.workloads) {
      const scenario::ArrivalSpec& a = w.arrival;
      Obj arrival;
      arrival.Str("kind", a.kind)
          .Num("outstanding", a.outstanding)
          .Num("interval_ns", a.interval_ns)
          .Num("burst", a.burst)
          .Num("on_ns", a.on_ns)
          .Num("off_ns", a.off_ns);
      if (a.kind == "mmpp2") arrival.Num("off_interval_ns", a.off_interval_ns);
      if (a.kind == "renewal") arrival.Add("gap", Distribution(a.gap, "ns"));
      if (a.kind == "trace") {
        // The recorded arrivals, [time_ns, bytes] each; they carry the sizes
        // and the count, so the workload has no size.
        std::vector<std::string> events;
        events.reserve(a.events.size());
        for (const scenario::ArrivalSpec::Event& e : a.events) events.push_back(absl::StrCat("[", e.time_ns, ",", e.bytes, "]"));
        arrival.Add("events", Array(events, ","));
      }
      Obj workload;
      workload.Str("channel", w.channel).Add("arrival", arrival.Take());
      if (a.kind != "trace") workload.Add("size", Distribution(w.size, "bytes"));
      workload.Num("requests", w.requests).Num("start_ns", w.start_ns);
      if (!w.send_vps.empty()) {
        std::vector<std::string> vps;
        for (uint32_t vp : w.send_vps) vps.push_back(absl::StrCat(vp));
        workload.Add("send_vps", Array(vps));
      }
      workloads.push_back(workload.Take());
    }
    root.Add("workloads", Array(workloads, ",\n    "));
  }
  if (spec.exploration.tie_break_seed.has_value()) {
    root.Add("exploration", Obj().Num("tie_break_seed", *spec.exploration.tie_break_seed).Take());
  }
  {
    const scenario::ExpectationSpec& e = spec.expectations;
    Obj o;
    if (!e.lost_packets_min.has_value()) o.Bool("no_lost_packets", e.no_lost_packets);
    o.Bool("no_verifier_findings", e.no_verifier_findings);
    std::vector<std::string> latency;
    for (const scenario::LatencyBound& b : e.latency) {
      Obj l;
      if (!b.channel.empty()) l.Str("channel", b.channel);
      latency.push_back(l.Str("metric", b.metric).Dbl("percentile", b.percentile).Num("max_ns", b.max_ns).Take());
    }
    o.Add("latency", Array(latency));
    if (e.interrupts_per_packet_max.has_value()) o.Dbl("interrupts_per_packet_max", *e.interrupts_per_packet_max);
    if (e.interrupts_per_packet_min.has_value()) o.Dbl("interrupts_per_packet_min", *e.interrupts_per_packet_min);
    std::vector<std::string> findings;
    for (const scenario::FindingExpectation& f : e.findings) {
      findings.push_back(Obj().Str("rule", f.rule).Num("min_count", f.min_count).Opt("max_count", f.max_count).Take());
    }
    o.Add("findings", Array(findings));
    o.Opt("lost_packets_min", e.lost_packets_min).Opt("failed_transactions_min", e.failed_transactions_min);
    root.Add("expectations", o.Take());
  }
  {
    std::vector<std::string> injections;
    for (const scenario::FaultSpec& f : spec.faults.injections) {
      Obj target;
      if (f.target.kind == "channel") target.Str("channel", f.target.channel);
      if (f.target.kind == "partition") target.Num("partition", f.target.partition);
      if (f.target.kind == "class") target.Str("class", f.target.interface_type);
      if (f.target.kind == "all") target.Bool("all", true);
      Obj trigger;
      const scenario::FaultTriggerSpec& t = f.trigger;
      if (t.kind == "at_ns") trigger.Num("at_ns", t.at_ns);
      if (t.kind == "after") trigger.Add("after", Obj().Str("event", t.event).Num("count", t.count).Take());
      if (t.kind == "probability") {
        trigger.Add("probability", Obj().Num("numerator", t.numerator).Num("denominator", t.denominator).Take());
      }
      if (t.kind == "while") trigger.Str("while", t.predicate);
      Obj params;
      for (const auto& [k, v] : f.int_params) params.Num(k, v);
      for (const auto& [k, v] : f.string_params) params.Str(k, v);
      Obj o;
      o.Str("kind", f.kind).Add("target", target.Take()).Add("trigger", trigger.Take()).Add("params", params.Take());
      o.Opt("max_firings", f.max_firings);
      injections.push_back(o.Take());
    }
    Obj faults;
    faults.Opt("stuck_ns", spec.faults.stuck_ns);
    faults.Add("injections", Array(injections, ",\n    "));
    root.Add("faults", faults.Take());
  }
  std::string out = root.Take();
  // One top-level member a line, for people reading the file.
  std::string pretty = "{\n  ";
  int depth = 0;
  bool in_string = false;
  for (size_t i = 1; i + 1 < out.size(); ++i) {
    const char c = out[i];
    if (in_string) {
      pretty += c;
      if (c == '\\') {
        pretty += out[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    if (c == ',' && depth == 0 && i + 1 < out.size() && out[i + 1] == ' ') {
      pretty += ",\n ";
      continue;
    }
    pretty += c;
  }
  return pretty + "\n}\n";
}

}  // namespace vmbsim::faults
