// Goal: report.json's per-channel traffic and latency figures (kept by the
// KMCL runtime, kmcl::ChannelTransactions) and per-VP interrupt counts (kept
// by the SynIC) say what the run's trace says, for every library scenario.
// Method: an oracle trace sink rebuilds the figures from the trace alone
// (the KMCL layer's send, deliver and finish records, the fabric's interrupt
// records), matching each delivery to its send by the peer endpoint's handle
// and transaction id, and the test compares them with the report.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

using kmcl::kKmclBatchTraceKind;
using kmcl::kKmclCallbackTraceKind;
using kmcl::kKmclDeliverTraceKind;
using kmcl::kKmclFinishTraceKind;
using kmcl::kKmclSendTraceKind;
using kmcl::kKmclStateTraceKind;

struct Figures {
  uint64_t sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t queued = 0;
  uint64_t processed = 0;
  uint64_t bytes_processed = 0;
  uint64_t finished = 0;
  uint64_t failed = 0;
  uint64_t process_count = 0;
  int64_t process_sum_ns = 0;
  uint64_t completion_count = 0;
  int64_t completion_sum_ns = 0;
};

class TraceOracle : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& r) override {
    const bool host = r.partition == 0;
    const uint16_t guest = static_cast<uint16_t>(r.size1 & 0xFFFF);
    switch (r.kind) {
      case fabric::TraceKind(fabric::FabricTraceKind::kInterrupt):
        ++interrupts_[{r.partition, r.vp}];
        return;
      case kKmclStateTraceKind:
        if (!host) Learn(r.id0, r.partition, r.channel, false);
        return;
      case kKmclCallbackTraceKind:
      case kKmclBatchTraceKind:
        Learn(r.id0, guest, r.channel, host);
        return;
      case kKmclSendTraceKind: {
        Learn(r.id0, guest, r.channel, host);
        Figures& f = FiguresOf(r.id0, host);
        ++f.sent;
        f.bytes_sent += r.size0;
        if ((r.size1 >> 16) != 0) ++f.queued;
        sends_[{r.id0, r.id1}] = Send{r.time.nanoseconds()};
        ++unfinished_;
        return;
      }
      case kKmclDeliverTraceKind: {
        Learn(r.id0, guest, r.channel, host);
        auto peer = latest_.find({guest, r.channel, !host});
        if (peer == latest_.end()) return;
        auto s = sends_.find({peer->second, r.id1});
        if (s == sends_.end() || s->second.delivered) return;
        s->second.delivered = true;
        Figures& f = host ? channels_[{guest, r.channel}].first : channels_[{guest, r.channel}].second;
        ++f.processed;
        f.bytes_processed += r.size0;
        ++f.process_count;
        f.process_sum_ns += std::max<int64_t>(0, r.time.nanoseconds() - s->second.time_ns);
        return;
      }
      case kKmclFinishTraceKind: {
        Learn(r.id0, guest, r.channel, host);
        auto s = sends_.find({r.id0, r.id1});
        if (s == sends_.end() || s->second.finished) return;
        s->second.finished = true;
        --unfinished_;
        auto b = bindings_.find(r.id0);
        if (b == bindings_.end()) return;  // Never bound: not reported.
        Figures& f = FiguresOf(r.id0, host);
        ++f.finished;
        if (static_cast<uint32_t>(r.size0) != 0) ++f.failed;
        ++f.completion_count;
        f.completion_sum_ns += std::max<int64_t>(0, r.time.nanoseconds() - s->second.time_ns);
        return;
      }
      default:
        return;
    }
  }

  // (guest->host, host->guest) of channel (guest, relid).
  std::pair<Figures, Figures> ChannelFigures(uint16_t guest, uint32_t relid) const {
    auto it = channels_.find({guest, relid});
    return it == channels_.end() ? std::pair<Figures, Figures>{} : it->second;
  }
  uint64_t Interrupts(uint16_t partition, uint32_t vp) const {
    auto it = interrupts_.find({partition, vp});
    return it == interrupts_.end() ? 0 : it->second;
  }
  uint64_t unfinished() const { return unfinished_; }

 private:
  struct Send {
    int64_t time_ns = 0;
    bool delivered = false;
    bool finished = false;
  };

  // A handle's channel is the (guest, relid) its records name last; what it
  // sent before any moves there at its first binding.
  void Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host) {
    if (guest == 0 || relid == 0) return;
    auto [it, first] = bindings_.insert_or_assign(handle, std::make_pair(guest, relid));
    latest_[{guest, relid, host}] = handle;
    if (!first) return;
    auto pending = unbound_.find(handle);
    if (pending == unbound_.end()) return;
    Figures& into = host ? channels_[{guest, relid}].second : channels_[{guest, relid}].first;
    into.sent += pending->second.sent;
    into.bytes_sent += pending->second.bytes_sent;
    into.queued += pending->second.queued;
    unbound_.erase(pending);
  }
  Figures& FiguresOf(uint64_t handle, bool host) {
    auto b = bindings_.find(handle);
    if (b == bindings_.end()) return unbound_[handle];
    std::pair<Figures, Figures>& c = channels_[b->second];
    return host ? c.second : c.first;
  }

  std::map<uint64_t, std::pair<uint16_t, uint32_t>> bindings_;  // Handle -> (guest, relid).
  std::map<std::tuple<uint16_t, uint32_t, bool>, uint64_t> latest_;  // (guest, relid, host) -> handle.
  std::map<std::pair<uint64_t, uint64_t>, Send> sends_;              // (handle, trans id).
  std::map<uint64_t, Figures> unbound_;
  std::map<std::pair<uint16_t, uint32_t>, std::pair<Figures, Figures>> channels_;
  std::map<std::pair<uint16_t, uint32_t>, uint64_t> interrupts_;
  uint64_t unfinished_ = 0;
};

void ExpectSame(const kmcl::DirectionTransactions& d, const Figures& f, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(d.packets_sent, f.sent);
  EXPECT_EQ(d.bytes_sent, f.bytes_sent);
  EXPECT_EQ(d.queued_sends, f.queued);
  EXPECT_EQ(d.packets_processed, f.processed);
  EXPECT_EQ(d.bytes_processed, f.bytes_processed);
  EXPECT_EQ(d.transactions_finished, f.finished);
  EXPECT_EQ(d.transactions_failed, f.failed);
  EXPECT_EQ(d.send_to_process_ns.count(), f.process_count);
  EXPECT_EQ(d.send_to_process_ns.sum(), f.process_sum_ns);
  EXPECT_EQ(d.send_to_completion_ns.count(), f.completion_count);
  EXPECT_EQ(d.send_to_completion_ns.sum(), f.completion_sum_ns);
}

void Add(Figures& into, const Figures& f) {
  into.sent += f.sent;
  into.bytes_sent += f.bytes_sent;
  into.queued += f.queued;
  into.processed += f.processed;
  into.bytes_processed += f.bytes_processed;
  into.finished += f.finished;
  into.failed += f.failed;
  into.process_count += f.process_count;
  into.process_sum_ns += f.process_sum_ns;
  into.completion_count += f.completion_count;
  into.completion_sum_ns += f.completion_sum_ns;
}

TEST(ReportFiguresTest, EveryLibraryScenarioReportsWhatItsTraceSays) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  int scenarios = 0;
  uint64_t packets = 0;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios")) {
    const std::string file = entry.path().string();
    if (entry.path().extension() != ".json" || entry.path().filename() == "scenario.schema.json") continue;
    SCOPED_TRACE(file);
    absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(file, registry.descriptors());
    ASSERT_TRUE(spec.ok()) << spec.status();
    TraceOracle oracle;
    absl::StatusOr<RunReport> report = RunScenario(*spec, registry, RunOptions{.sinks = {&oracle}});
    ASSERT_TRUE(report.ok()) << report.status();
    ++scenarios;
    for (const ChannelReport& c : report->channels) {
      Figures guest_to_host;
      Figures host_to_guest;
      for (uint32_t relid : c.relids) {
        const auto [g2h, h2g] = oracle.ChannelFigures(c.guest, relid);
        Add(guest_to_host, g2h);
        Add(host_to_guest, h2g);
      }
      ExpectSame(c.metrics.guest_to_host, guest_to_host, c.name + " guest_to_host");
      ExpectSame(c.metrics.host_to_guest, host_to_guest, c.name + " host_to_guest");
      packets += c.metrics.guest_to_host.packets_processed + c.metrics.host_to_guest.packets_processed;
    }
    for (const VpReport& vp : report->vps) {
      EXPECT_EQ(vp.interrupts, oracle.Interrupts(vp.partition, vp.vp))
          << "partition " << vp.partition << " vp " << vp.vp;
    }
    // no_lost_packets counts unfinished sends, then refused arrivals and
    // unanswered requests.
    uint64_t lost = oracle.unfinished();
    for (const ChannelReport& c : report->channels) {
      lost += c.arrivals_refused;
      if (c.requests_issued >= 0) lost += static_cast<uint64_t>(c.requests_issued - c.requests_ended);
    }
    EXPECT_EQ(report->lost_packets, lost);
  }
  EXPECT_GE(scenarios, 13);
  EXPECT_GT(packets, 10000u);  // The comparison covered real traffic.
}

}  // namespace
}  // namespace vmbsim::scenario
