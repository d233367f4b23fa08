#include "tools/scenario/report.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "kmcl/ntstatus.h"
#include "sim/core/histogram.h"
#include "tools/scenario/json_writer.h"

namespace vmbsim::scenario {
namespace {

// A latency histogram: count, min, the report's percentiles (each with its
// error bound: sim::Histogram::ErrorBoundAt), max and mean.
void Latency(Json& j, const std::string& key, const sim::Histogram& h, const std::vector<double>& percentiles) {
  j.Key(key).Begin('{');
  j.KUInt("count", h.count());
  if (h.count() > 0) {
    j.KInt("min_ns", h.min());
    for (double p : percentiles) {
      const int64_t value = h.ValueAtQuantile(p / 100.0);
      j.KInt(PercentileKey(p) + "_ns", value);
      j.KInt(PercentileKey(p) + "_error_ns", sim::Histogram::ErrorBoundAt(value));
    }
    j.KInt("max_ns", h.max());
    j.KNum("mean_ns", h.mean());
  }
  j.End('}');
}

// Per second of the measured window.
double PerSecond(uint64_t count, int64_t window_ns) {
  return window_ns <= 0 ? 0.0 : static_cast<double>(count) * 1e9 / static_cast<double>(window_ns);
}

// `count_key`: the sample count; then, when there are samples, mean, p50,
// p99 and max, each key ending in `_unit`.
void CountAndSpread(Json& j, const std::string& count_key, const std::string& unit, const sim::Histogram& h) {
  j.KUInt(count_key, h.count());
  if (h.count() == 0) return;
  j.KNum("mean_" + unit, h.mean());
  j.KInt("p50_" + unit, h.ValueAtQuantile(0.5));
  j.KInt("p99_" + unit, h.ValueAtQuantile(0.99));
  j.KInt("max_" + unit, h.max());
}

void Batches(Json& j, const std::string& key, const sim::Histogram& h) {
  j.Key(key).Begin('{');
  CountAndSpread(j, "batches", "packets", h);
  if (h.count() > 0) {
    j.Key("distribution").Begin('[');
    for (const auto& bucket : h.NonEmptyBuckets()) {
      j.Begin('{').KInt("packets", bucket.value_min).KUInt("batches", bucket.count).End('}');
    }
    j.End(']');
  }
  j.End('}');
}

void Direction(Json& j, const std::string& key, const RunReport& r, const kmcl::DirectionTransactions& d,
               const fabric::DataPathCounters& writer, const sim::Histogram& occupancy,
               const fabric::DataPathCounters& reader, const sim::Histogram& reader_batches) {
  j.Key(key).Begin('{');
  j.KUInt("packets_sent", d.packets_sent);
  j.KUInt("bytes_sent", d.bytes_sent);
  j.KUInt("packets_processed", d.packets_processed);
  j.KUInt("bytes_processed", d.bytes_processed);
  j.KNum("packets_per_s", PerSecond(d.packets_processed, r.measured_ns));
  j.KNum("bytes_per_s", PerSecond(d.bytes_processed, r.measured_ns));
  j.KUInt("sends_queued", d.queued_sends);
  j.KUInt("sends_failed", d.sends_failed);
  j.KUInt("transactions_finished", d.transactions_finished);
  j.KUInt("transactions_failed", d.transactions_failed);
  Latency(j, "send_to_process", d.send_to_process_ns, r.percentiles);
  Latency(j, "send_to_completion", d.send_to_completion_ns, r.percentiles);
  Latency(j, "process_to_complete", d.process_to_complete_ns, r.percentiles);
  j.KUInt("signals_sent", writer.signals_sent);
  j.KUInt("signals_suppressed", writer.signals_suppressed);
  j.KUInt("ring_full", writer.ring_full);
  j.KUInt("ring_lock_waits", writer.lock_waits);
  j.KUInt("ring_lock_wait_ns", writer.lock_wait_ns);
  j.KUInt("reader_doorbells", reader.doorbells);
  j.KUInt("reader_doorbells_coalesced", reader.doorbells_coalesced);
  j.KNum("packets_per_doorbell",
         reader.doorbells == 0 ? 0.0 : static_cast<double>(reader.packets_received) / static_cast<double>(reader.doorbells));
  Batches(j, "reader_batches", reader_batches);
  j.Key("ring_occupancy").Begin('{');
  CountAndSpread(j, "samples", "bytes", occupancy);
  j.End('}');
  j.End('}');
}

const char* StopName(sim::RunResult r) { return sim::RunResultName(r); }

}  // namespace

std::string ReportJson(const RunReport& r) {
  Json j;
  j.Begin('{');
  j.KStr("scenario", r.scenario);
  j.KUInt("seed", r.seed);
  if (r.tie_break_seed.has_value()) j.KUInt("tie_break_seed", *r.tie_break_seed);
  j.KStr("fingerprint", absl::StrFormat("%016x", r.fingerprint));
  j.KUInt("trace_records", r.trace_records);
  j.KStr("stop_reason", StopName(r.stop_reason));
  j.KInt("simulated_ns", r.simulated_ns);
  j.KInt("warmup_ns", r.warmup_ns);
  j.KInt("measured_ns", r.measured_ns);
  uint64_t packets = 0, bytes = 0;
  for (const ChannelReport& c : r.channels) {
    packets += c.metrics.guest_to_host.packets_processed + c.metrics.host_to_guest.packets_processed;
    bytes += c.metrics.guest_to_host.bytes_processed + c.metrics.host_to_guest.bytes_processed;
  }
  j.Key("throughput").Begin('{');
  j.KNum("packets_per_s", PerSecond(packets, r.measured_ns));
  j.KNum("bytes_per_s", PerSecond(bytes, r.measured_ns));
  j.End('}');
  j.Key("histograms").Begin('{');
  j.KInt("exact_up_to_ns", sim::Histogram::kExactValueMax);
  j.KNum("relative_error_max", 1.0 / 128.0);
  j.End('}');
  j.KUInt("events", r.events);
  j.KNum("wall_seconds", r.wall_seconds);
  j.KNum("simulated_to_wall_ratio",
         r.wall_seconds > 0 ? static_cast<double>(r.simulated_ns) / 1e9 / r.wall_seconds : 0.0);
  j.KInt("exit_code", ExitCodeFor(r));
  j.KUInt("lost_packets", r.lost_packets);
  j.Key("expectations").Begin('[');
  for (const ExpectationResult& e : r.expectations) {
    j.Begin('{').KStr("name", e.name).KBool("passed", e.passed).KStr("detail", e.detail).End('}');
  }
  j.End(']');
  j.Key("channels").Begin('[');
  for (const ChannelReport& c : r.channels) {
    j.Begin('{');
    j.KStr("name", c.name);
    j.KInt("guest", c.guest);
    j.KStr("interrupt", c.interrupt);
    j.KUInt("retargets", c.retargets);
    j.Key("retargets_refused").Begin('[');
    for (const std::string& why : c.retargets_refused) j.Str(why);
    j.End(']');
    j.Key("relids").Begin('[');
    for (uint32_t relid : c.relids) j.UInt(relid);
    j.End(']');
    j.KUInt("arrivals", c.arrivals);
    j.KUInt("arrivals_refused", c.arrivals_refused);
    j.KInt("requests_issued", c.requests_issued);
    j.KInt("requests_ended", c.requests_ended);
    Direction(j, "guest_to_host", r, c.metrics.guest_to_host, c.totals.guest, c.totals.guest_ring_occupancy, c.totals.host,
              c.totals.host_batches);
    Direction(j, "host_to_guest", r, c.metrics.host_to_guest, c.totals.host, c.totals.host_ring_occupancy, c.totals.guest,
              c.totals.guest_batches);
    j.Key("host_driver").Begin('{');
    for (const auto& [k, v] : c.host_driver) j.KInt(k, v);
    j.End('}');
    j.Key("guest_driver").Begin('{');
    for (const auto& [k, v] : c.guest_driver) j.KInt(k, v);
    j.End('}');
    j.End('}');
  }
  j.End(']');
  j.Key("vps").Begin('[');
  for (const VpReport& vp : r.vps) {
    j.Begin('{')
        .KInt("partition", vp.partition)
        .KUInt("vp", vp.vp)
        .KInt("busy_ns", vp.busy_ns)
        .KInt("isr_ns", vp.isr_ns)
        .KInt("dpc_ns", vp.dpc_ns)
        .KInt("passive_ns", vp.passive_ns)
        .KUInt("preemptions", vp.preemptions)
        .KNum("speed", vp.speed)
        .KNum("utilisation", vp.utilisation)
        .KUInt("interrupts", vp.interrupts)
        .KUInt("work_items", vp.work_items)
        .End('}');
  }
  j.End(']');
  j.Key("monitor_pages").Begin('[');
  for (const MonitorReport& m : r.monitors) {
    // "coalesced": sets that found the id's bit already set. With a
    // dedicated monitor id per channel it stays 0 (while its window is open
    // the host has not been signalled, so the guest rings no second data
    // doorbell); channels sharing an id (channels[].interrupt "shared")
    // coalesce each other's sets.
    j.Begin('{')
        .KInt("guest", m.guest)
        .KStr("mode", m.mode)
        .KUInt("sets", m.sets)
        .KUInt("coalesced", m.coalesced)
        .KUInt("fires", m.fires)
        .End('}');
  }
  j.End(']');
  j.Key("shared_signals")
      .Begin('{')
      .KUInt("interrupts", r.shared_signals.interrupts)
      .KUInt("doorbells", r.shared_signals.doorbells)
      .End('}');
  j.Key("backends").Begin('[');
  for (const BackendReport& b : r.backends) {
    const BackendFigures& f = b.figures;
    j.Begin('{')
        .KStr("name", b.name)
        .KUInt("servers", f.servers)
        .KUInt("arrivals", f.arrivals)
        .KUInt("served", f.served)
        .KNum("served_per_s", PerSecond(f.served, f.window_ns))
        .KNum("utilisation", f.utilisation)
        .KNum("queue_length_mean", f.queue_length_mean)
        .KUInt("queue_length_max", f.queue_length_max)
        .KNum("wait_mean_ns", f.wait_mean_ns)
        .KNum("service_mean_ns", f.service_mean_ns)
        .End('}');
  }
  j.End(']');
  j.Key("verifier").Begin('{');
  j.KUInt("findings_total", r.findings_total);
  j.KUInt("unexpected", r.unexpected_findings);
  j.Key("findings").Begin('[');
  for (const kmcl::Finding& f : r.findings) {
    j.Begin('{')
        .KInt("time_ns", f.time.nanoseconds())
        .KStr("channel", absl::StrFormat("0x%016x", f.channel))
        .KUInt("relid", f.relid)
        .KStr("function", f.function)
        .KStr("rule", kmcl::RuleName(f.rule))
        .KStr("status", kmcl::NtStatusToString(f.status))
        .KStr("detail", f.detail)
        .End('}');
  }
  j.End(']');
  j.End('}');
  j.Key("kmcl").Begin('{');
  j.KUInt("packets_sent", r.kmcl.packets_sent);
  j.KUInt("packets_queued", r.kmcl.packets_queued);
  j.KUInt("packets_delivered", r.kmcl.packets_delivered);
  j.KUInt("packets_completed", r.kmcl.packets_completed);
  j.KUInt("completions_received", r.kmcl.completions_received);
  j.KUInt("transactions_cancelled", r.kmcl.transactions_cancelled);
  j.KUInt("processing_complete_calls", r.kmcl.processing_complete_calls);
  j.KUInt("quota_stalls", r.kmcl.quota_stalls);
  j.KUInt("channels_moved", r.kmcl.channels_moved);
  j.KUInt("packets_retired", r.kmcl.packets_retired);
  j.KUInt("peer_violations", r.peer_violations);
  j.End('}');
  j.Key("causality_violations").Begin('[');
  for (const std::string& v : r.causality_violations) j.Str(v);
  j.End(']');
  if (r.ledger_checked || !r.faults.empty()) {
    j.Key("faults").Begin('{');
    j.KUInt("firings", r.fault_firings);
    j.Key("injections").Begin('[');
    for (const FaultReport& f : r.faults) {
      j.Begin('{')
          .KUInt("index", f.index)
          .KStr("kind", f.kind)
          .KStr("target", f.target)
          .KStr("trigger", f.trigger)
          .KUInt("firings", f.firings)
          .End('}');
    }
    j.End(']');
    const faults::LedgerSummary& l = r.ledger;
    j.Key("ledger").Begin('{');
    j.KUInt("sends", l.sends);
    j.KUInt("completed", l.completed);
    j.KUInt("failed", l.failed);
    j.KUInt("accounted_to_faults", l.accounted_to_faults);
    j.KUInt("in_flight_at_stop", l.in_flight_at_stop);
    j.KUInt("unaccounted", l.unaccounted);
    j.KUInt("finished_twice", l.finished_twice);
    j.KBool("balanced", l.balanced());
    j.Key("by_fault").Begin('[');
    for (const auto& [index, count] : l.by_fault) j.Begin('{').KUInt("index", index).KUInt("sends", count).End('}');
    j.End(']');
    j.End('}');
    j.KBool("stuck", r.stuck);
    if (r.stuck) {
      j.KInt("stuck_idle_ns", r.stuck_idle_ns);
      j.KBool("stuck_queue_empty", r.stuck_queue_empty);
      j.KUInt("stuck_open_sends", r.stuck_open_sends);
      j.Key("state").Begin('[');
      for (const EndpointState& e : r.stuck_state) {
        j.Begin('{')
            .KStr("channel", e.channel)
            .KUInt("guest", e.guest)
            .KUInt("relid", e.relid)
            .KStr("side", e.side)
            .KUInt("out_write_index", e.out_write_index)
            .KUInt("out_read_index", e.out_read_index)
            .KUInt("out_pending_send_sz", e.out_pending_send_sz)
            .KUInt("in_write_index", e.in_write_index)
            .KUInt("in_read_index", e.in_read_index)
            .KUInt("in_interrupt_mask", e.in_interrupt_mask)
            .KBool("writer_blocked", e.writer_blocked)
            .KBool("draining", e.draining)
            .KBool("stalled", e.stalled)
            .KStr("failed", e.failed)
            .KUInt("held_by_faults", e.held_by_faults)
            .KStr("driver_state", e.driver_state)
            .KUInt("queued_sends", e.queued_sends)
            .KUInt("open_transactions", e.open_transactions)
            .KUInt("packets_held", e.packets_held)
            .End('}');
      }
      j.End(']');
    }
    j.End('}');
  }
  j.End('}');
  return j.Take();
}

std::string ReportCsv(const RunReport& r) {
  // One row per channel and direction. Numbers print as in report.json
  // (integers exactly, rates with 6 significant digits); a latency with no
  // samples leaves its cells empty.
  std::vector<std::string> header = {"channel",         "direction",           "packets_sent",
                                     "bytes_sent",      "packets_processed",   "bytes_processed",
                                     "packets_per_s",   "bytes_per_s",         "transactions_finished",
                                     "transactions_failed"};
  for (const char* latency : {"send_to_process", "send_to_completion", "process_to_complete"}) {
    header.push_back(absl::StrCat(latency, "_count"));
    header.push_back(absl::StrCat(latency, "_mean_ns"));
    for (double p : r.percentiles) header.push_back(absl::StrCat(latency, "_", PercentileKey(p), "_ns"));
    header.push_back(absl::StrCat(latency, "_max_ns"));
  }
  for (const char* figure : {"signals_sent", "signals_suppressed", "ring_full", "ring_lock_waits",
                             "ring_lock_wait_ns", "reader_doorbells", "packets_per_doorbell"}) {
    header.push_back(figure);
  }
  std::string out = absl::StrCat(absl::StrJoin(header, ","), "\n");
  const auto num = [](double v) { return absl::StrFormat("%.6g", v); };
  const auto row = [&](const ChannelReport& c, const char* direction, const kmcl::DirectionTransactions& d,
                       const fabric::DataPathCounters& writer, const fabric::DataPathCounters& reader) {
    // A channel name may hold a comma or a quote: quoted as RFC 4180 says.
    std::string name = c.name;
    if (name.find_first_of(",\"\n") != std::string::npos) {
      name = absl::StrCat("\"", absl::StrReplaceAll(name, {{"\"", "\"\""}}), "\"");
    }
    std::vector<std::string> cells = {name,
                                      direction,
                                      absl::StrCat(d.packets_sent),
                                      absl::StrCat(d.bytes_sent),
                                      absl::StrCat(d.packets_processed),
                                      absl::StrCat(d.bytes_processed),
                                      num(PerSecond(d.packets_processed, r.measured_ns)),
                                      num(PerSecond(d.bytes_processed, r.measured_ns)),
                                      absl::StrCat(d.transactions_finished),
                                      absl::StrCat(d.transactions_failed)};
    for (const sim::Histogram* h : {&d.send_to_process_ns, &d.send_to_completion_ns, &d.process_to_complete_ns}) {
      cells.push_back(absl::StrCat(h->count()));
      const bool any = h->count() > 0;
      cells.push_back(any ? num(h->mean()) : "");
      for (double p : r.percentiles) cells.push_back(any ? absl::StrCat(h->ValueAtQuantile(p / 100.0)) : "");
      cells.push_back(any ? absl::StrCat(h->max()) : "");
    }
    cells.push_back(absl::StrCat(writer.signals_sent));
    cells.push_back(absl::StrCat(writer.signals_suppressed));
    cells.push_back(absl::StrCat(writer.ring_full));
    cells.push_back(absl::StrCat(writer.lock_waits));
    cells.push_back(absl::StrCat(writer.lock_wait_ns));
    cells.push_back(absl::StrCat(reader.doorbells));
    cells.push_back(num(reader.doorbells == 0 ? 0.0
                                              : static_cast<double>(reader.packets_received) /
                                                    static_cast<double>(reader.doorbells)));
    absl::StrAppend(&out, absl::StrJoin(cells, ","), "\n");
  };
  for (const ChannelReport& c : r.channels) {
    row(c, "guest_to_host", c.metrics.guest_to_host, c.totals.guest, c.totals.host);
    row(c, "host_to_guest", c.metrics.host_to_guest, c.totals.host, c.totals.guest);
  }
  return out;
}

std::string ReportSummary(const RunReport& r) {
  std::string out = absl::StrFormat("scenario %s: %s at %.3f ms simulated, %d events, %.2f s wall\n", r.scenario,
                                    StopName(r.stop_reason), static_cast<double>(r.simulated_ns) / 1e6, r.events,
                                    r.wall_seconds);
  for (const ChannelReport& c : r.channels) {
    const kmcl::DirectionTransactions& g = c.metrics.guest_to_host;
    const sim::Histogram& h = g.send_to_completion_ns;
    absl::StrAppendFormat(&out, "  %-12s g->h %d sent, %d processed", c.name, g.packets_sent, g.packets_processed);
    if (h.count() > 0) {
      absl::StrAppendFormat(&out, "; round trip p50 %.1f us, p99 %.1f us", h.ValueAtQuantile(0.5) / 1000.0,
                            h.ValueAtQuantile(0.99) / 1000.0);
    }
    const uint64_t doorbells = c.totals.host.doorbells;
    if (doorbells > 0) {
      absl::StrAppendFormat(&out, "; %.2f packets per host doorbell",
                            static_cast<double>(c.totals.host.packets_received) / static_cast<double>(doorbells));
    }
    if (c.totals.guest.lock_waits > 0) {
      absl::StrAppendFormat(&out, "; ring lock waited %d times, %.1f us", c.totals.guest.lock_waits,
                            c.totals.guest.lock_wait_ns / 1000.0);
    }
    if (c.retargets > 0 || !c.retargets_refused.empty()) {
      absl::StrAppendFormat(&out, "; interrupt moved %d time(s)", c.retargets);
      for (const std::string& why : c.retargets_refused) absl::StrAppend(&out, "; a move refused: ", why);
    }
    out += "\n";
  }
  for (const VpReport& vp : r.vps) {
    if (vp.busy_ns == 0) continue;
    absl::StrAppendFormat(&out, "  vp %d/%d busy %.1f us: ISR %.1f, DPC %.1f, PASSIVE %.1f us; %d preemptions\n",
                          vp.partition, vp.vp, vp.busy_ns / 1000.0, vp.isr_ns / 1000.0, vp.dpc_ns / 1000.0,
                          vp.passive_ns / 1000.0, vp.preemptions);
  }
  for (const BackendReport& b : r.backends) {
    const BackendFigures& f = b.figures;
    absl::StrAppendFormat(&out,
                          "  backend %s: %d servers, %d served (%.0f/s), utilisation %.3f, queue mean %.2f max %d, "
                          "wait mean %.1f us, service mean %.1f us\n",
                          b.name, f.servers, f.served, PerSecond(f.served, f.window_ns), f.utilisation, f.queue_length_mean, f.queue_length_max,
                          f.wait_mean_ns / 1000.0, f.service_mean_ns / 1000.0);
  }
  absl::StrAppendFormat(&out, "  verifier findings: %d (%d unexpected)\n", r.findings_total, r.unexpected_findings);
  if (r.kmcl.packets_retired > 0) {
    absl::StrAppendFormat(&out, "  packets retired by a bounded teardown (force_retire_after): %d\n", r.kmcl.packets_retired);
  }
  for (const std::string& v : r.causality_violations) absl::StrAppend(&out, "  INTERNAL ERROR causality: ", v, "\n");
  for (const FaultReport& f : r.faults) {
    absl::StrAppendFormat(&out, "  fault %d %s (%s, %s): fired %d\n", f.index, f.kind, f.target, f.trigger,
                          f.firings);
  }
  if (r.ledger_checked) {
    const faults::LedgerSummary& l = r.ledger;
    absl::StrAppendFormat(&out,
                          "  ledger: %d sends = %d completed + %d failed + %d accounted to faults + %d in flight at "
                          "the stop + %d unaccounted; %d finished twice\n",
                          l.sends, l.completed, l.failed, l.accounted_to_faults, l.in_flight_at_stop, l.unaccounted,
                          l.finished_twice);
  }
  if (r.stuck) {
    absl::StrAppendFormat(&out, "  STUCK: %s with %d send(s) outstanding (last progress %.3f ms before)\n",
                          r.stuck_queue_empty ? "nothing left to run" : "no progress", r.stuck_open_sends,
                          static_cast<double>(r.stuck_idle_ns) / 1e6);
    for (const EndpointState& e : r.stuck_state) {
      std::vector<std::string> flags;
      if (e.writer_blocked) flags.push_back("writer blocked");
      if (e.draining) flags.push_back("draining");
      if (e.stalled) flags.push_back("stalled");
      if (!e.failed.empty()) flags.push_back(absl::StrCat("FAILED: ", e.failed));
      if (e.held_by_faults != 0) flags.push_back(absl::StrCat(e.held_by_faults, " held by faults"));
      absl::StrAppendFormat(&out,
                            "    %s (guest %d relid %d) %s: out ring w=%d r=%d pending_send_sz=%d; in ring w=%d r=%d "
                            "mask=%d; %s%sdriver %s, queued %d, open transactions %d, packets held %d\n",
                            e.channel, e.guest, e.relid, e.side, e.out_write_index, e.out_read_index,
                            e.out_pending_send_sz, e.in_write_index, e.in_read_index, e.in_interrupt_mask,
                            absl::StrJoin(flags, ", "), flags.empty() ? "" : "; ", e.driver_state, e.queued_sends,
                            e.open_transactions, e.packets_held);
    }
  }
  for (const ExpectationResult& e : r.expectations) {
    absl::StrAppendFormat(&out, "  %s %s: %s\n", e.passed ? "PASS" : "FAIL", e.name, e.detail);
  }
  absl::StrAppendFormat(&out, "fingerprint %016x\n", r.fingerprint);
  return out;
}

}  // namespace vmbsim::scenario
