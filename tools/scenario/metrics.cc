#include "tools/scenario/metrics.h"

#include <algorithm>
#include <tuple>

#include "sim/fabric/trace_kinds.h"

namespace vmbsim::scenario {
namespace {

// The KMCL layer's record kinds (kmcl/runtime_internal.h).
constexpr uint16_t kKmclState = 0x0201;
constexpr uint16_t kKmclDeliver = 0x0202;
constexpr uint16_t kKmclFinish = 0x0203;
constexpr uint16_t kKmclSend = 0x0205;
constexpr uint16_t kKmclBatch = 0x0206;

}  // namespace

void MetricsCollector::Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host) {
  if (relid == 0 || guest == 0) return;
  if (handle == last_learned_handle_[host] && relid == last_learned_relid_[host]) return;  // Nothing new.
  last_learned_handle_[host] = handle;
  last_learned_relid_[host] = relid;
  ChannelMetrics* metrics = &channels_[{guest, relid}];
  auto [it, inserted] = bindings_.try_emplace(handle, Binding{guest, relid, host, metrics});
  if (!inserted) {
    if (it->second.relid == relid && it->second.guest == guest) return;
    it->second = Binding{guest, relid, host, metrics};  // Re-enabled onto another offer.
    for (MetricsCacheEntry& e : metrics_cache_) e = MetricsCacheEntry{};
  }
  handles_[{guest, relid, host}] = handle;
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

ChannelMetrics* MetricsCollector::MetricsOf(uint64_t handle) {
  // Two channel handles (the endpoints of one channel) alternate in the
  // common case; remember both.
  for (const MetricsCacheEntry& e : metrics_cache_) {
    if (e.handle == handle && e.metrics != nullptr) return e.metrics;
  }
  auto it = bindings_.find(handle);
  if (it == bindings_.end()) return &unbound_[handle];  // Not cached: it moves once the relid is known.
  metrics_cache_[metrics_cache_next_] = MetricsCacheEntry{handle, it->second.metrics};
  metrics_cache_next_ ^= 1;
  return it->second.metrics;
}

DirectionMetrics* MetricsCollector::DirectionOf(uint64_t handle, bool sender_is_host) {
  ChannelMetrics* m = MetricsOf(handle);
  return sender_is_host ? &m->host_to_guest : &m->guest_to_host;
}

void MetricsCollector::OnRing(const sim::TraceRecord& r, bool write) {
  RingCacheEntry& cached = ring_cache_[r.partition == 0 ? 1 : 0][write ? 1 : 0];
  if (cached.ring != nullptr && cached.partition == r.partition && cached.relid == r.channel &&
      (r.partition != 0 || guest_of_relid_ambiguous_ == 0)) {
    Ring& ring = *cached.ring;
    ring.bytes += write ? static_cast<int64_t>(r.size0) : -static_cast<int64_t>(r.size0);
    if (write) ring.metrics->ring_occupancy_bytes.Record(std::max<int64_t>(0, ring.bytes));
    return;
  }
  uint16_t guest = r.partition;
  if (guest != 0) {
    auto [it, inserted] = guest_of_relid_.try_emplace(r.channel, guest);
    if (!inserted && it->second != guest && it->second != 0xFFFF) {
      it->second = 0xFFFF;
      ++guest_of_relid_ambiguous_;  // Host-side cache entries may be stale now.
    }
  } else {
    auto it = guest_of_relid_.find(r.channel);
    if (it == guest_of_relid_.end() || it->second == 0xFFFF) return;
    guest = it->second;
  }
  // The guest writes and the host reads the guest->host ring.
  const bool guest_to_host = (r.partition != 0) == write;
  Ring& ring = rings_[{guest, r.channel, guest_to_host}];
  if (ring.metrics == nullptr) {
    ChannelMetrics& m = channels_[{guest, r.channel}];
    ring.metrics = guest_to_host ? &m.guest_to_host : &m.host_to_guest;
  }
  cached = RingCacheEntry{r.partition, r.channel, &ring};
  ring.bytes += write ? static_cast<int64_t>(r.size0) : -static_cast<int64_t>(r.size0);
  if (write) ring.metrics->ring_occupancy_bytes.Record(std::max<int64_t>(0, ring.bytes));
}

std::vector<uint16_t> MetricsCollector::Kinds() const {
  std::vector<uint16_t> kinds = {fabric::TraceKind(fabric::FabricTraceKind::kInterrupt),
                                 fabric::TraceKind(fabric::FabricTraceKind::kRingWrite),
                                 fabric::TraceKind(fabric::FabricTraceKind::kRingRead)};
  for (uint16_t kind = kKmclState; kind <= kKmclBatch; ++kind) kinds.push_back(kind);
  return kinds;
}

MetricsCollector::Sender& MetricsCollector::SenderOf(uint64_t handle) {
  if (last_sender_ == nullptr || last_sender_handle_ != handle) {
    last_sender_ = &senders_[handle];
    last_sender_handle_ = handle;
  }
  return *last_sender_;
}

void MetricsCollector::OnRecord(const sim::TraceRecord& r) {
  if (r.kind == fabric::TraceKind(fabric::FabricTraceKind::kInterrupt)) {
    ++interrupts_[{r.partition, r.vp}];
    return;
  }
  if (r.kind == fabric::TraceKind(fabric::FabricTraceKind::kRingWrite)) {
    OnRing(r, true);
    return;
  }
  if (r.kind == fabric::TraceKind(fabric::FabricTraceKind::kRingRead)) {
    OnRing(r, false);
    return;
  }
  if (r.kind < kKmclState || r.kind > kKmclBatch) return;
  const bool host = r.partition == 0;
  const uint64_t handle = r.id0;
  if (r.kind == kKmclState) {
    if (!host) Learn(handle, r.partition, r.channel, false);
    return;
  }
  const uint16_t guest = static_cast<uint16_t>(r.size1 & 0xFFFF);
  Learn(handle, guest, r.channel, host);
  const int64_t now = r.time.nanoseconds();
  switch (r.kind) {
    case kKmclSend: {
      DirectionMetrics* d = DirectionOf(handle, host);
      ++d->packets_sent;
      d->bytes_sent += r.size0;
      if ((r.size1 >> 16) != 0) ++d->queued_sends;
      Sender& sender = SenderOf(handle);
      if (sender.window.empty()) sender.base = r.id1;
      if (r.id1 < sender.base) break;  // Not in id order: not measured.
      if (r.id1 - sender.base >= sender.window.size()) sender.window.resize(r.id1 - sender.base + 1);
      Send& send = sender.window[r.id1 - sender.base];
      if (!send.live) ++unfinished_;
      send = Send{now, true, false, false};
      break;
    }
    case kKmclDeliver: {
      // The sender is the other side of this channel.
      auto peer = handles_.find({guest, r.channel, !host});
      if (peer == handles_.end()) break;
      Sender& sender = SenderOf(peer->second);
      Send* send = sender.Find(r.id1);
      if (send == nullptr || send->delivered) break;
      send->delivered = true;
      DirectionMetrics* d = DirectionOf(peer->second, !host);
      ++d->packets_processed;
      d->bytes_processed += r.size0;
      d->send_to_process_ns.Record(std::max<int64_t>(0, now - send->time_ns));
      if (send->finished) sender.Retire(send);
      break;
    }
    case kKmclFinish: {
      Sender& sender = SenderOf(handle);
      Send* send = sender.Find(r.id1);
      if (send == nullptr || send->finished) break;
      DirectionMetrics* d = DirectionOf(handle, host);
      ++d->transactions_finished;
      if (static_cast<uint32_t>(r.size0) != 0) ++d->transactions_failed;
      d->send_to_completion_ns.Record(std::max<int64_t>(0, now - send->time_ns));
      --unfinished_;
      // A send without WAIT finishes at ring entry, maybe before its delivery.
      if (send->delivered || static_cast<uint32_t>(r.size0) != 0) {
        sender.Retire(send);
      } else {
        send->finished = true;
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace vmbsim::scenario
