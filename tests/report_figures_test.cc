// Goal: report.json's per-channel figures (the transaction counters and
// latencies kept by the KMCL runtime, kmcl::ChannelTransactions; the data
// path's ring-full, signal and batch counters) and per-VP interrupt counts
// (kept by the SynIC) say what the run's trace says, for every library
// scenario and for every KMCL send path: VmbPacketSend with and without
// completion, sends queued before the open and behind a full ring, waiting
// synchronous requests, their timeout, non-blocking (zero-timeout)
// synchronous requests, and sends refused at the call.
// Method: an oracle trace sink rebuilds the figures from the trace alone and
// the test compares them with the report. It matches each delivery to its
// send by the peer endpoint's handle and transaction id, and requires that
// every delivery has a send record; it decides whether a send waited in the
// send queue from the fabric, not from the send record's own bit (a direct
// send's very next record is its ring write); a refused send is its
// oversize_packet finding with a failure status. Two test drivers
// (registered beside the built-ins) take every path in one run.
// Not rebuilt: reader doorbells and those coalesced into a drain, and ring
// occupancy, which no per-endpoint trace record carries.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::scenario {
namespace {

using fabric::FabricTraceKind;
using kmcl::kKmclBatchTraceKind;
using kmcl::kKmclCallbackTraceKind;
using kmcl::kKmclDeliverTraceKind;
using kmcl::kKmclFinishTraceKind;
using kmcl::kKmclSendTraceKind;
using kmcl::kKmclStateTraceKind;

// One direction's transaction figures (kmcl::DirectionTransactions).
struct Figures {
  uint64_t sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t queued = 0;
  uint64_t failed_sends = 0;
  uint64_t processed = 0;
  uint64_t bytes_processed = 0;
  uint64_t finished = 0;
  uint64_t failed = 0;
  uint64_t process_count = 0;
  int64_t process_sum_ns = 0;
  uint64_t completion_count = 0;
  int64_t completion_sum_ns = 0;
};

// One ring endpoint's data-path figures (fabric::DataPathCounters and the
// reader's batch histogram).
struct EndpointFigures {
  uint64_t ring_full = 0;
  uint64_t signals_sent = 0;
  uint64_t signals_suppressed = 0;
  uint64_t batches = 0;
  uint64_t packets_read = 0;
};

class TraceOracle : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& r) override {
    // The record after a send record says what that send did: a send that
    // went straight into the ring is followed at once by its ring write.
    if (pending_send_.has_value()) ResolvePendingSend(r);
    const bool host = r.partition == 0;
    const uint16_t guest = static_cast<uint16_t>(r.size1 & 0xFFFF);
    switch (r.kind) {
      case fabric::TraceKind(FabricTraceKind::kInterrupt):
        ++interrupts_[{r.partition, r.vp}];
        return;
      case fabric::TraceKind(FabricTraceKind::kRingFull):
        ++endpoints_[{r.partition, r.channel}].ring_full;
        return;
      case fabric::TraceKind(FabricTraceKind::kRingCommitWrite): {
        EndpointFigures& e = endpoints_[{r.partition, r.channel}];
        ++(r.id1 != 0 ? e.signals_sent : e.signals_suppressed);
        return;
      }
      case fabric::TraceKind(FabricTraceKind::kRingCommitRead): {
        EndpointFigures& e = endpoints_[{r.partition, r.channel}];
        ++e.batches;
        if (r.id1 != 0) ++e.signals_sent;  // The blocked writer's wake-up.
        return;
      }
      case fabric::TraceKind(FabricTraceKind::kRingRead):
        ++endpoints_[{r.partition, r.channel}].packets_read;
        return;
      case kmcl::kContractViolationTraceKind:
        // A send refused at the call: an oversize_packet finding with the
        // failure it returned (completions and sends accepted earlier carry
        // STATUS_SUCCESS).
        if (r.id1 == static_cast<uint64_t>(kmcl::Rule::kOversizePacket) && r.size0 != 0) {
          ++FiguresOf(r.id0, host).failed_sends;
        }
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
        ++unfinished_;
        const bool queued_bit = (r.size1 >> 16) != 0;
        auto [it, fresh] = sends_.insert({{r.id0, r.id1}, Send{r.time.nanoseconds()}});
        if (!fresh) ++repeated_sends_;
        pending_send_ = PendingSend{&f, r.partition, r.channel, r.id1, queued_bit};
        return;
      }
      case kKmclDeliverTraceKind: {
        Learn(r.id0, guest, r.channel, host);
        auto peer = latest_.find({guest, r.channel, !host});
        auto s = peer == latest_.end() ? sends_.end() : sends_.find({peer->second, r.id1});
        if (s == sends_.end()) {
          ++unmatched_deliveries_;  // A packet that entered the ring without a send record.
          return;
        }
        if (s->second.delivered) return;  // A re-delivery.
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
  // The ring endpoint of `partition` (0: the host) on channel `relid`.
  EndpointFigures Endpoint(uint16_t partition, uint32_t relid) const {
    auto it = endpoints_.find({partition, relid});
    return it == endpoints_.end() ? EndpointFigures{} : it->second;
  }
  uint64_t Interrupts(uint16_t partition, uint32_t vp) const {
    auto it = interrupts_.find({partition, vp});
    return it == interrupts_.end() ? 0 : it->second;
  }
  uint64_t unfinished() const { return unfinished_; }
  uint64_t unmatched_deliveries() const { return unmatched_deliveries_; }
  uint64_t repeated_sends() const { return repeated_sends_; }
  uint64_t queued_bit_mismatches() const { return queued_bit_mismatches_; }

 private:
  struct Send {
    int64_t time_ns = 0;
    bool delivered = false;
    bool finished = false;
  };
  struct PendingSend {
    Figures* figures;  // Stable: map nodes, and nothing rebinds before the next record.
    uint16_t partition;
    uint32_t relid;
    uint64_t trans_id;
    bool queued_bit;
  };

  void ResolvePendingSend(const sim::TraceRecord& next) {
    const PendingSend p = *pending_send_;
    pending_send_.reset();
    const bool written = next.kind == fabric::TraceKind(FabricTraceKind::kRingWrite) &&
                         next.partition == p.partition && next.channel == p.relid && p.relid != 0 &&
                         next.id1 == p.trans_id;
    if (!written) ++p.figures->queued;
    if (written == p.queued_bit) ++queued_bit_mismatches_;
  }

  // A handle's channel is the (guest, relid) its records name last; what it
  // sent (or was refused) before any moves there at its first binding.
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
    into.failed_sends += pending->second.failed_sends;
    if (pending_send_.has_value() && pending_send_->figures == &pending->second) pending_send_->figures = &into;
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
  std::map<std::pair<uint16_t, uint32_t>, EndpointFigures> endpoints_;  // (partition, relid).
  std::map<std::pair<uint16_t, uint32_t>, uint64_t> interrupts_;
  std::optional<PendingSend> pending_send_;
  uint64_t unfinished_ = 0;
  uint64_t unmatched_deliveries_ = 0;
  uint64_t repeated_sends_ = 0;
  uint64_t queued_bit_mismatches_ = 0;
};

void ExpectSame(const kmcl::DirectionTransactions& d, const Figures& f, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(d.packets_sent, f.sent);
  EXPECT_EQ(d.bytes_sent, f.bytes_sent);
  EXPECT_EQ(d.queued_sends, f.queued);
  EXPECT_EQ(d.sends_failed, f.failed_sends);
  EXPECT_EQ(d.packets_processed, f.processed);
  EXPECT_EQ(d.bytes_processed, f.bytes_processed);
  EXPECT_EQ(d.transactions_finished, f.finished);
  EXPECT_EQ(d.transactions_failed, f.failed);
  EXPECT_EQ(d.send_to_process_ns.count(), f.process_count);
  EXPECT_EQ(d.send_to_process_ns.sum(), f.process_sum_ns);
  EXPECT_EQ(d.send_to_completion_ns.count(), f.completion_count);
  EXPECT_EQ(d.send_to_completion_ns.sum(), f.completion_sum_ns);
}

// One direction's data-path figures: its writer endpoint's and its reader's.
void ExpectSameDataPath(const fabric::DataPathCounters& writer, const fabric::DataPathCounters& reader,
                        const sim::Histogram& reader_batches, const EndpointFigures& traced_writer,
                        const EndpointFigures& traced_reader, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(writer.ring_full, traced_writer.ring_full);
  EXPECT_EQ(writer.signals_sent, traced_writer.signals_sent);
  EXPECT_EQ(writer.signals_suppressed, traced_writer.signals_suppressed);
  EXPECT_EQ(reader.batches, traced_reader.batches);
  EXPECT_EQ(reader_batches.count(), traced_reader.batches);
  EXPECT_EQ(reader_batches.sum(), static_cast<int64_t>(traced_reader.packets_read));
  EXPECT_EQ(reader.packets_received, traced_reader.packets_read);
}

void Add(Figures& into, const Figures& f) {
  into.sent += f.sent;
  into.bytes_sent += f.bytes_sent;
  into.queued += f.queued;
  into.failed_sends += f.failed_sends;
  into.processed += f.processed;
  into.bytes_processed += f.bytes_processed;
  into.finished += f.finished;
  into.failed += f.failed;
  into.process_count += f.process_count;
  into.process_sum_ns += f.process_sum_ns;
  into.completion_count += f.completion_count;
  into.completion_sum_ns += f.completion_sum_ns;
}

void Add(EndpointFigures& into, const EndpointFigures& e) {
  into.ring_full += e.ring_full;
  into.signals_sent += e.signals_sent;
  into.signals_suppressed += e.signals_suppressed;
  into.batches += e.batches;
  into.packets_read += e.packets_read;
}

// Compares every figure of `report` the trace can rebuild with `oracle`'s.
// Returns the packets processed in the run.
uint64_t ExpectReportMatchesTrace(const ScenarioSpec& spec, const RunReport& report, const TraceOracle& oracle) {
  EXPECT_EQ(oracle.unmatched_deliveries(), 0u) << "packets delivered without a send record";
  EXPECT_EQ(oracle.repeated_sends(), 0u);
  EXPECT_EQ(oracle.queued_bit_mismatches(), 0u) << "send records whose queued bit contradicts the ring";
  uint64_t packets = 0;
  for (const ChannelReport& c : report.channels) {
    Figures guest_to_host;
    Figures host_to_guest;
    EndpointFigures guest_end;
    EndpointFigures host_end;
    for (uint32_t relid : c.relids) {
      const auto [g2h, h2g] = oracle.ChannelFigures(c.guest, relid);
      Add(guest_to_host, g2h);
      Add(host_to_guest, h2g);
      Add(guest_end, oracle.Endpoint(c.guest, relid));
      Add(host_end, oracle.Endpoint(0, relid));
    }
    ExpectSame(c.metrics.guest_to_host, guest_to_host, c.name + " guest_to_host");
    ExpectSame(c.metrics.host_to_guest, host_to_guest, c.name + " host_to_guest");
    // Host endpoints' records carry the relid but not the guest: with one
    // guest they are unambiguous (every library scenario has one). A run cut
    // at its time limit (scaling_96vp) stops with reader batches under way,
    // counted by the data path but traced only when they end, after the
    // stop: its data-path figures are not compared.
    const bool cut = report.stop_reason == sim::RunResult::kEndTimeReached;
    if (spec.fabric.guests.size() == 1 && !cut) {
      ExpectSameDataPath(c.totals.guest, c.totals.host, c.totals.host_batches, guest_end, host_end,
                         c.name + " guest_to_host data path");
      ExpectSameDataPath(c.totals.host, c.totals.guest, c.totals.guest_batches, host_end, guest_end,
                         c.name + " host_to_guest data path");
    }
    packets += c.metrics.guest_to_host.packets_processed + c.metrics.host_to_guest.packets_processed;
  }
  for (const VpReport& vp : report.vps) {
    EXPECT_EQ(vp.interrupts, oracle.Interrupts(vp.partition, vp.vp)) << "partition " << vp.partition << " vp " << vp.vp;
  }
  // no_lost_packets counts unfinished sends, then refused arrivals and
  // unanswered requests.
  uint64_t lost = oracle.unfinished();
  for (const ChannelReport& c : report.channels) {
    lost += c.arrivals_refused;
    if (c.requests_issued >= 0) lost += static_cast<uint64_t>(c.requests_issued - c.requests_ended);
  }
  EXPECT_EQ(report.lost_packets, lost);
  return packets;
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
    // The whole run against the whole trace: a warm-up leaves the run as it
    // is and only narrows the figures (checked in report_test).
    spec->stop.warmup_ns.reset();
    TraceOracle oracle;
    absl::StatusOr<RunReport> report = RunScenario(*spec, registry, RunOptions{.sinks = {&oracle}});
    ASSERT_TRUE(report.ok()) << report.status();
    ++scenarios;
    packets += ExpectReportMatchesTrace(*spec, *report, oracle);
  }
  EXPECT_GE(scenarios, 13);
  EXPECT_GT(packets, 10000u);  // The comparison covered real traffic.
}

// ---------------------------------------------------------------------------
// Every send path in one run: two test drivers, C++ over the public header.

constexpr UINT32 kWait = VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION;
constexpr UINT32 kClientMaxPacket = 1024;  // Client rings: one data page each.
constexpr UINT32 kServerMaxPacket = 8192;  // More than the client's rings take.

// What the drivers' calls returned, by path (one run at a time).
struct PathTally {
  std::map<std::string, std::map<NTSTATUS, int>> by_path;
  void Add(const std::string& path, NTSTATUS status) { ++by_path[path][status]; }
  int Count(const std::string& path, NTSTATUS status) const {
    auto p = by_path.find(path);
    if (p == by_path.end()) return 0;
    auto s = p->second.find(status);
    return s == p->second.end() ? 0 : s->second;
  }
};
PathTally g_tally;

// The client's request that is to time out has this size; the server holds
// it until the next packet arrives, so its answer always comes late.
constexpr UINT32 kHeldRequestBytes = 208;
VMBPACKETCOMPLETION g_held = nullptr;

VOID PathsProcessPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32) {
  if (g_held != nullptr) {
    VmbChannelPacketComplete(g_held, nullptr, 0);
    g_held = nullptr;
  }
  if (length == kHeldRequestBytes) {
    g_held = packet;
    return;
  }
  VmbChannelPacketComplete(packet, buffer, std::min<UINT32>(length, 16));
}

VOID PathsSendDone(VMBPACKET packet, NTSTATUS status, PVOID, UINT32) {
  g_tally.Add("completion routine", status);
  VmbPacketFree(packet);
}

// VmbPacketSend of `bytes` bytes, with or without WAIT_FOR_COMPLETION.
void SendPacket(VMBCHANNEL channel, UINT32 bytes, UINT32 flags, const std::string& path) {
  static std::vector<uint8_t> payload(16384, 0x6B);  // PVOID Buffer: not const in the API.
  VMBPACKET packet = VmbPacketAllocate(channel);
  ASSERT_NE(packet, nullptr);
  VmbPacketSetCompletionRoutine(packet, PathsSendDone);
  const NTSTATUS status = VmbPacketSend(packet, payload.data(), bytes, nullptr, flags);
  if (status != STATUS_SUCCESS) VmbPacketFree(packet);  // Refused: still the caller's.
  g_tally.Add(path, status);
}

// VmbChannelSendSynchronousRequest; `timeout_100ns` as the LARGE_INTEGER
// (0: the non-blocking form when `flags` has no WAIT), or none.
void SyncRequest(VMBCHANNEL channel, UINT32 bytes, UINT32 flags, std::optional<LONGLONG> timeout_100ns,
                 const std::string& path) {
  static std::vector<uint8_t> payload(16384, 0x5C);
  std::vector<uint8_t> reply(64);
  UINT32 reply_size = static_cast<UINT32>(reply.size());
  LARGE_INTEGER timeout;
  timeout.QuadPart = timeout_100ns.value_or(0);
  const bool waits = (flags & kWait) != 0;
  g_tally.Add(path, VmbChannelSendSynchronousRequest(channel, payload.data(), bytes, nullptr, flags,
                                                     waits ? reply.data() : nullptr, waits ? &reply_size : nullptr,
                                                     timeout_100ns.has_value() ? &timeout : nullptr));
}

// The paths both ends may take, from PASSIVE code of a running channel.
void CommonPaths(VMBCHANNEL channel, UINT32 max_packet, const std::string& side) {
  for (int i = 0; i < 4; ++i) {
    SendPacket(channel, 64, kWait, side + " async wait");
    SendPacket(channel, 100, 0, side + " async no wait");
  }
  // A burst the one-page ring cannot hold: ring-full episodes, then sends
  // behind them in the send queue.
  for (int i = 0; i < 12; ++i) SendPacket(channel, 1000, kWait, side + " burst");
  // Non-blocking requests: those that do not fit now are refused
  // (STATUS_BUFFER_OVERFLOW) and are not sends.
  for (int i = 0; i < 4; ++i) SyncRequest(channel, 512, 0, 0, side + " non-blocking");
  // Refused at the call: above MaximumPacketSize.
  SendPacket(channel, max_packet + 1, kWait, side + " above maximum");
}

VOID ClientPostStarted(VMBCHANNEL channel) {
  CommonPaths(channel, kClientMaxPacket, "client");
  // Synchronous requests waiting for their completion, and one whose
  // timeout expires first (the server holds it).
  for (int i = 0; i < 3; ++i) SyncRequest(channel, 200, kWait, std::nullopt, "client sync");
  SyncRequest(channel, kHeldRequestBytes, kWait, -10, "client sync timeout");  // 1 us.

  // A non-blocking request on an idle ring goes in.
  SyncRequest(channel, 256, 0, 0, "client non-blocking idle");
}

VOID ServerPostStarted(VMBCHANNEL channel) {
  CommonPaths(channel, kServerMaxPacket, "server");
  // Within the server's maximum but never in the client's one-page ring.
  SendPacket(channel, 5000, kWait, "server never fits");
  SyncRequest(channel, 5000, 0, 0, "server never fits non-blocking");
}

class PathsDriver : public DriverInstance {
 public:
  explicit PathsDriver(VMBCHANNEL channel) : channel_(channel) {}
  void Destroy() override {
    VmbChannelDisable(channel_);
    VmbChannelCleanup(channel_);
  }

 private:
  VMBCHANNEL channel_;
};

absl::StatusOr<std::unique_ptr<DriverInstance>> MakePathsDriver(const DriverContext& context) {
  const bool server = context.host_side;
  VMBCHANNEL channel = nullptr;
  if (VmbChannelAllocate(context.device, server ? TRUE : FALSE, &channel) != STATUS_SUCCESS) {
    return absl::InternalError("VmbChannelAllocate failed");
  }
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  callbacks.EvtChannelPostStarted = server ? ServerPostStarted : ClientPostStarted;
  bool ok = VmbChannelInitSetStateChangeCallbacks(channel, &callbacks) == STATUS_SUCCESS &&
            VmbChannelInitSetProcessPacketCallbacks(channel, PathsProcessPacket, nullptr) == STATUS_SUCCESS &&
            VmbChannelInitSetMaximumPacketSize(channel, server ? kServerMaxPacket : kClientMaxPacket) ==
                STATUS_SUCCESS;
  if (server) {
    ok = ok && VmbServerChannelInitSetVmbusHandle(channel, context.vmbus_handle) == STATUS_SUCCESS &&
         VmbServerChannelInitSetTargetInterfaceId(channel, context.interface_type, context.interface_instance) ==
             STATUS_SUCCESS;
  } else {
    ok = ok && VmbClientChannelInitSetRingBufferPageCount(channel, 1, 1) == STATUS_SUCCESS &&
         VmbClientChannelInitSetTargetPnp(channel, &context.interface_type, &context.interface_instance,
                                          nullptr) == STATUS_SUCCESS;
  }
  if (!ok || VmbChannelEnable(channel) != STATUS_SUCCESS) {
    VmbChannelCleanup(channel);
    return absl::InternalError("paths driver: configuration failed");
  }
  // Sent while the channel opens: they wait in the send queue (the client's
  // before its channel even has a relid).
  for (int i = 0; i < 3; ++i) SendPacket(channel, 48, kWait, server ? "server before open" : "client before open");
  VmbChannelStart(channel);
  return std::make_unique<PathsDriver>(channel);
}

constexpr char kPathsScenario[] = R"json({
  "name": "every_send_path",
  "description": "Two test drivers take every KMCL send path both ways.",
  "fabric": {"root_vps": 1, "guests": [{"vps": 1}]},
  "channels": [
    {"name": "paths", "interface_type": "5ca1ab1e-0000-4000-8000-0000000000f1",
     "interface_instance": "00000000-0000-4000-8000-0000000000f1",
     "host_driver": {"name": "paths_vsp"}, "guest_driver": {"name": "paths_vsc"}}
  ]
})json";

class EverySendPathTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EverySendPathTest, ReportsWhatItsTraceSays) {
  DriverRegistry registry = DriverRegistry::WithBuiltins();
  ASSERT_TRUE(registry
                  .Register(DriverDescriptor{.name = "paths_vsp", .description = "test", .host_side = true},
                            MakePathsDriver)
                  .ok());
  ASSERT_TRUE(registry
                  .Register(DriverDescriptor{.name = "paths_vsc", .description = "test", .guest_side = true},
                            MakePathsDriver)
                  .ok());
  absl::StatusOr<ScenarioSpec> spec =
      LoadScenario(kPathsScenario, "every_send_path", registry.descriptors(), {GetParam()});
  ASSERT_TRUE(spec.ok()) << spec.status();
  g_tally = {};
  g_held = nullptr;
  TraceOracle oracle;
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, RunOptions{.sinks = {&oracle}});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->channels.size(), 1u);
  ExpectReportMatchesTrace(*spec, *report, oracle);

  // The run took every path, so the comparison covered each.
  const PathTally& t = g_tally;
  for (const std::string side : {"client", "server"}) {
    SCOPED_TRACE(side);
    EXPECT_EQ(t.Count(side + " before open", STATUS_SUCCESS), 3);
    EXPECT_EQ(t.Count(side + " async wait", STATUS_SUCCESS), 4);
    EXPECT_EQ(t.Count(side + " async no wait", STATUS_SUCCESS), 4);
    EXPECT_EQ(t.Count(side + " burst", STATUS_SUCCESS), 12);
    EXPECT_GT(t.Count(side + " non-blocking", STATUS_BUFFER_OVERFLOW), 0);
    EXPECT_EQ(t.Count(side + " above maximum", STATUS_INVALID_PARAMETER_3), 1);
  }
  EXPECT_EQ(t.Count("client sync", STATUS_SUCCESS), 3);
  EXPECT_EQ(t.Count("client sync timeout", STATUS_CANCELLED), 1);
  EXPECT_EQ(t.Count("client non-blocking idle", STATUS_SUCCESS), 1);
  EXPECT_EQ(t.Count("server never fits", STATUS_INVALID_BUFFER_SIZE), 1);
  EXPECT_EQ(t.Count("server never fits non-blocking", STATUS_INVALID_BUFFER_SIZE), 1);
  const ChannelReport& c = report->channels[0];
  for (const kmcl::DirectionTransactions* d : {&c.metrics.guest_to_host, &c.metrics.host_to_guest}) {
    EXPECT_GT(d->queued_sends, 3u);  // Before the open, and behind a full ring.
    EXPECT_GE(d->sends_failed, 1u);
  }
  EXPECT_GT(c.totals.guest.ring_full, 0u);
  EXPECT_GT(c.totals.host.ring_full, 0u);
  EXPECT_EQ(c.metrics.guest_to_host.transactions_failed, 1u);  // The timed-out request.
  EXPECT_EQ(report->lost_packets, 0u);
}

INSTANTIATE_TEST_SUITE_P(CostProfiles, EverySendPathTest,
                         ::testing::Values("fabric.cost_profile=\"default\"", "fabric.cost_profile=\"zero\""));

}  // namespace
}  // namespace vmbsim::scenario
