#include "tools/scenario/metrics.h"

#include <tuple>
#include <utility>
#include <vector>

#include "sim/check.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::scenario {
namespace {

// The KMCL layer's record kinds (kmcl/runtime_internal.h).
constexpr uint16_t kKmclState = 0x0201;
constexpr uint16_t kKmclDeliver = 0x0202;
constexpr uint16_t kKmclFinish = 0x0203;
constexpr uint16_t kKmclCallback = 0x0204;
constexpr uint16_t kKmclSend = 0x0205;
constexpr uint16_t kKmclBatch = 0x0206;

}  // namespace

void MetricsCollector::LearnNew(uint64_t handle, uint16_t guest, uint32_t relid, bool host) {
  last_learned_handle_[host] = handle;
  last_learned_relid_[host] = relid;
  ChannelMetrics* metrics = &channels_[{guest, relid}];
  auto [it, inserted] = bindings_.try_emplace(handle, Binding{guest, relid, host, metrics});
  if (!inserted) {
    if (it->second.relid == relid && it->second.guest == guest) return;
    it->second = Binding{guest, relid, host, metrics};  // Re-enabled onto another offer.
  }
  ++binding_epoch_;  // Senders' memos of MetricsOf (and of unbound_ entries, erased below) are stale.
  handles_[{guest, relid, host}] = handle;
  peer_cache_ = PeerCacheEntry{};
  // Figures gathered before the relid was known move to the channel.
  auto pending = unbound_.find(handle);
  if (pending != unbound_.end()) {
    ChannelMetrics& into = channels_[{guest, relid}];
    for (auto [from, to] : {std::pair{&pending->second.guest_to_host, &into.guest_to_host},
                            std::pair{&pending->second.host_to_guest, &into.host_to_guest}}) {
      to->packets_sent += from->packets_sent;
      to->bytes_sent += from->bytes_sent;
      to->queued_sends += from->queued_sends;
    }
    unbound_.erase(pending);
  }
}

MetricsCollector::Sender& MetricsCollector::SenderOfUncached(uint64_t handle) {
  last_sender_ = &senders_[handle];
  last_sender_handle_ = handle;
  return *last_sender_;
}

ChannelMetrics* MetricsCollector::MetricsOf(uint64_t handle) {
  auto it = bindings_.find(handle);
  if (it == bindings_.end()) return &unbound_[handle];  // Moves once the relid is known.
  return it->second.metrics;
}

bool MetricsCollector::HandleOfUncached(uint16_t guest, uint32_t relid, bool host, uint64_t* handle) {
  auto it = handles_.find({guest, relid, host});
  if (it == handles_.end()) return false;
  peer_cache_ = PeerCacheEntry{true, host, guest, relid, it->second};
  *handle = it->second;
  return true;
}

void MetricsCollector::Sender::Reserve(uint64_t capacity) {
  uint64_t grown_size = ring.empty() ? 16 : ring.size();
  while (grown_size < capacity) grown_size *= 2;
  std::vector<Send> grown(grown_size);
  for (uint64_t i = 0; i < size; ++i) grown[i] = At(i);
  ring = std::move(grown);
  head = 0;  // The window starts at index 0 again.
  VMBSIM_CHECK_GE(ring.size(), capacity);
}

std::vector<uint16_t> MetricsCollector::Kinds() const {
  std::vector<uint16_t> kinds = {fabric::TraceKind(fabric::FabricTraceKind::kInterrupt)};
  for (uint16_t kind = kKmclState; kind <= kKmclBatch; ++kind) kinds.push_back(kind);
  return kinds;
}

std::vector<std::pair<uint16_t, sim::TraceSink::Route>> MetricsCollector::Routes() const {
  return {{kKmclSend, &RouteTo<&MetricsCollector::OnSend>},
          {kKmclDeliver, &RouteTo<&MetricsCollector::OnDeliver>},
          {kKmclFinish, &RouteTo<&MetricsCollector::OnFinish>}};
}

void MetricsCollector::OnRecord(const sim::TraceRecord& r) {
  switch (r.kind) {
    case fabric::TraceKind(fabric::FabricTraceKind::kInterrupt):
      return OnInterrupt(r);
    case kKmclState:
      return OnKmclState(r);
    case kKmclSend:
      return OnSend(r);
    case kKmclDeliver:
      return OnDeliver(r);
    case kKmclFinish:
      return OnFinish(r);
    case kKmclCallback:
    case kKmclBatch:
      return OnOtherKmcl(r);
    default:
      return;
  }
}

void MetricsCollector::OnInterrupt(const sim::TraceRecord& r) { ++interrupts_[{r.partition, r.vp}]; }

// A state record names a guest endpoint's channel; the root's name the
// host's partition, which is not the channel's guest.
void MetricsCollector::OnKmclState(const sim::TraceRecord& r) {
  if (r.partition != 0) Learn(r.id0, r.partition, r.channel, /*host=*/false);
}

// The other KMCL records (batch ends, callbacks) only teach handles.
void MetricsCollector::OnOtherKmcl(const sim::TraceRecord& r) {
  Learn(r.id0, static_cast<uint16_t>(r.size1 & 0xFFFF), r.channel, r.partition == 0);
}

void MetricsCollector::OnSend(const sim::TraceRecord& r) {
  const bool host = r.partition == 0;
  const uint64_t handle = r.id0;
  Learn(handle, static_cast<uint16_t>(r.size1 & 0xFFFF), r.channel, host);
  Sender& sender = SenderOf(handle);
  ChannelMetrics* m = MetricsOf(sender, handle);
  DirectionMetrics* d = host ? &m->host_to_guest : &m->guest_to_host;
  ++d->packets_sent;
  d->bytes_sent += r.size0;
  if ((r.size1 >> 16) != 0) ++d->queued_sends;
  if (sender.size == 0) sender.base = r.id1;
  if (r.id1 < sender.base) return;  // Not in id order: not measured.
  if (r.id1 - sender.base >= sender.size) sender.Grow(r.id1 - sender.base + 1);
  Send& send = sender.At(r.id1 - sender.base);
  if (!send.live) ++unfinished_;
  send = Send{r.time.nanoseconds(), true, false, false};
}

void MetricsCollector::OnDeliver(const sim::TraceRecord& r) {
  const bool host = r.partition == 0;
  const uint16_t guest = static_cast<uint16_t>(r.size1 & 0xFFFF);
  Learn(r.id0, guest, r.channel, host);
  // The sender is the other side of this channel.
  uint64_t peer = 0;
  if (!HandleOf(guest, r.channel, !host, &peer)) return;
  Sender& sender = SenderOf(peer);
  Send* send = sender.Find(r.id1);
  if (send == nullptr || send->delivered) return;
  send->delivered = true;
  ChannelMetrics* m = MetricsOf(sender, peer);
  DirectionMetrics* d = host ? &m->guest_to_host : &m->host_to_guest;  // The sender's side is !host.
  ++d->packets_processed;
  d->bytes_processed += r.size0;
  const int64_t waited_ns = r.time.nanoseconds() - send->time_ns;
  d->send_to_process_ns.Record(waited_ns > 0 ? waited_ns : 0);  // See the header: a peer may be "early".
  if (send->finished) sender.Retire(send);
}

void MetricsCollector::OnFinish(const sim::TraceRecord& r) {
  const bool host = r.partition == 0;
  const uint64_t handle = r.id0;
  Learn(handle, static_cast<uint16_t>(r.size1 & 0xFFFF), r.channel, host);
  Sender& sender = SenderOf(handle);
  Send* send = sender.Find(r.id1);
  if (send == nullptr || send->finished) return;
  ChannelMetrics* m = MetricsOf(sender, handle);
  DirectionMetrics* d = host ? &m->host_to_guest : &m->guest_to_host;
  ++d->transactions_finished;
  const bool failed = static_cast<uint32_t>(r.size0) != 0;
  if (failed) ++d->transactions_failed;
  const int64_t waited_ns = r.time.nanoseconds() - send->time_ns;
  d->send_to_completion_ns.Record(waited_ns > 0 ? waited_ns : 0);
  --unfinished_;
  // A send without WAIT finishes at ring entry, maybe before its delivery.
  if (send->delivered || failed) {
    sender.Retire(send);
  } else {
    send->finished = true;
  }
}

}  // namespace vmbsim::scenario
