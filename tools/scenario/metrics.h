// metrics.h
//
// Per-channel latency and traffic figures computed from the run's trace
// records (the KMCL layer's send, deliver and finish records, kmcl
// runtime_internal.h kinds 0x0202/0x0203/0x0205), and per-VP interrupt
// counts (the fabric's kInterrupt). Figures the fabric keeps itself
// (signals, batches, ring occupancy) come from kmcl::Runtime::TotalsFor
// instead. Nothing here depends on which driver runs: a driver from
// --driver-lib is measured the same way.
//
//   send_to_process     VmbPacketSend* on one side -> the peer's ProcessPacket
//                       for that transaction (first delivery).
//   send_to_completion  VmbPacketSend* -> the sender's transaction finished
//                       (the completion routine's status; for a send without
//                       WAIT_FOR_COMPLETION, its entry into the ring).
//
// A send is timed at the sending VP's local clock (after the costs charged
// so far in its work item), while the packet is visible in the ring from the
// start of that item (channel_data_path.h), so a peer can take it a few
// nanoseconds "before" the send's time; such intervals count as 0.
//
// Channels are keyed by (guest, relid). A send made before its channel
// opened carries no relid; it is matched by the channel handle and the
// transaction id, and the handle's relid is learnt from its later records.

#ifndef VMBSIM_TOOLS_SCENARIO_METRICS_H_
#define VMBSIM_TOOLS_SCENARIO_METRICS_H_

#include <cstdint>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "sim/core/histogram.h"
#include "sim/core/trace.h"

namespace vmbsim::scenario {

// One direction of one channel.
struct DirectionMetrics {
  uint64_t packets_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t packets_processed = 0;  // First deliveries to the peer's ProcessPacket.
  uint64_t bytes_processed = 0;
  uint64_t transactions_finished = 0;
  uint64_t transactions_failed = 0;  // Finished with a failure status.
  uint64_t queued_sends = 0;         // Sends that waited in the send queue.
  sim::Histogram send_to_process_ns;
  sim::Histogram send_to_completion_ns;
  // Ring occupancy is the fabric's own figure (kmcl::EndpointTotals).
};

struct ChannelMetrics {
  DirectionMetrics guest_to_host;
  DirectionMetrics host_to_guest;
};

class MetricsCollector : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& record) override;
  // Interrupts and the KMCL layer's records.
  std::vector<uint16_t> Kinds() const override;
  // The per-packet kinds (sends, deliveries, finishes) straight to their
  // handlers.
  std::vector<std::pair<uint16_t, Route>> Routes() const override;

  const std::map<std::pair<uint16_t, uint32_t>, ChannelMetrics>& channels() const { return channels_; }
  // SINT interrupts delivered, by (partition, vp).
  const std::map<std::pair<uint16_t, uint32_t>, uint64_t>& interrupts() const { return interrupts_; }
  // Sends whose transaction has not finished.
  uint64_t unfinished_sends() const { return unfinished_; }

 private:
  // OnRecord only dispatches on the kind (and, while the collector is the
  // tracer's only sink, the tracer calls the per-packet kinds' handlers
  // directly through Routes()). The handlers' common cases hit the caches
  // below and stay inline; first sightings of a channel or handle take
  // the out-of-line *New/*Uncached paths.
  template <void (MetricsCollector::*kHandler)(const sim::TraceRecord&)>
  static void RouteTo(sim::TraceSink* sink, const sim::TraceRecord& record) {
    (static_cast<MetricsCollector*>(sink)->*kHandler)(record);
  }
  void OnKmclState(const sim::TraceRecord& record);
  void OnSend(const sim::TraceRecord& record);
  void OnDeliver(const sim::TraceRecord& record);
  void OnFinish(const sim::TraceRecord& record);
  void OnOtherKmcl(const sim::TraceRecord& record);
  void OnInterrupt(const sim::TraceRecord& record);

  // ---- Sends and their transactions.
  struct Send {
    int64_t time_ns = 0;
    bool live = false;  // A send with this id was made and not yet retired.
    bool delivered = false;
    bool finished = false;
  };
  // One sending channel's sends, by transaction id: KMCL numbers a channel's
  // transactions 1, 2, 3, ..., so a window indexed by id - base replaces a
  // map; retired sends leave from the front. The window is a ring of
  // power-of-two capacity, so a send costs no allocation once the ring has
  // grown to the channel's largest number of unfinished sends.
  //
  //   ring:  |....[head ... head + size)....|   (indices modulo capacity)
  //                base      base + size - 1    (transaction ids)
  struct Sender {
    uint64_t base = 0;
    uint64_t head = 0;
    uint64_t size = 0;
    std::vector<Send> ring;  // Capacity 0 or a power of two.
    // MetricsOf(this sender's handle), valid while metrics_epoch is the
    // collector's binding_epoch_: one compare instead of a lookup per send.
    ChannelMetrics* metrics = nullptr;
    uint64_t metrics_epoch = 0;

    uint64_t Mask() const { return ring.size() - 1; }
    Send& At(uint64_t offset) { return ring[(head + offset) & Mask()]; }
    Send* Find(uint64_t trans_id) {
      if (trans_id < base || trans_id - base >= size) return nullptr;
      Send* s = &At(trans_id - base);
      return s->live ? s : nullptr;
    }
    // Makes the window cover offsets [0, new_size), the new ones not live.
    // REQUIRES: new_size > size.
    void Grow(uint64_t new_size) {
      if (new_size > ring.size()) Reserve(new_size);
      for (uint64_t i = size; i < new_size; ++i) At(i) = Send{};
      size = new_size;
    }
    // Unwraps the window into a ring of at least `capacity` sends.
    void Reserve(uint64_t capacity);
    void Retire(Send* s) {
      s->live = false;
      while (size != 0 && !At(0).live) {
        head = (head + 1) & Mask();
        --size;
        ++base;
      }
    }
  };
  // A channel's sends come from one handle at a time, so the last one found
  // answers almost every lookup.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Sender& SenderOf(uint64_t handle) {
    if (ABSL_PREDICT_FALSE(last_sender_ == nullptr || last_sender_handle_ != handle)) return SenderOfUncached(handle);
    return *last_sender_;
  }
  Sender& SenderOfUncached(uint64_t handle);
  // The metrics of the channel `sender` (whose handle is `handle`) sends on.
  ABSL_ATTRIBUTE_ALWAYS_INLINE ChannelMetrics* MetricsOf(Sender& sender, uint64_t handle) {
    if (ABSL_PREDICT_FALSE(sender.metrics_epoch != binding_epoch_)) {
      sender.metrics = MetricsOf(handle);
      sender.metrics_epoch = binding_epoch_;
    }
    return sender.metrics;
  }
  absl::node_hash_map<uint64_t, Sender> senders_;  // By channel handle (node-based: cached).
  uint64_t last_sender_handle_ = 0;
  Sender* last_sender_ = nullptr;
  uint64_t unfinished_ = 0;

  // ---- Which channel a handle is.
  struct Binding {
    uint16_t guest = 0;
    uint32_t relid = 0;
    bool host = false;
    ChannelMetrics* metrics = nullptr;  // Into channels_ (a std::map: stable).
  };
  // Every KMCL record teaches the collector which channel its handle is;
  // an endpoint's records repeat its handle, so the common case is "nothing
  // new" after two compares.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host) {
    if (relid == 0 || guest == 0) return;
    if (handle == last_learned_handle_[host] && relid == last_learned_relid_[host]) return;  // Nothing new.
    LearnNew(handle, guest, relid, host);
  }
  void LearnNew(uint64_t handle, uint16_t guest, uint32_t relid, bool host);
  // The metrics of `handle`'s channel; an unbound handle's gather in
  // unbound_ until its relid is known.
  ChannelMetrics* MetricsOf(uint64_t handle);
  // Sets *handle to the endpoint on `host`'s side of channel (guest, relid);
  // false when none is known yet.
  ABSL_ATTRIBUTE_ALWAYS_INLINE bool HandleOf(uint16_t guest, uint32_t relid, bool host, uint64_t* handle) {
    if (peer_cache_.valid && peer_cache_.guest == guest && peer_cache_.relid == relid && peer_cache_.host == host) {
      *handle = peer_cache_.handle;
      return true;
    }
    return HandleOfUncached(guest, relid, host, handle);
  }
  bool HandleOfUncached(uint16_t guest, uint32_t relid, bool host, uint64_t* handle);

  // Lookups only (never iterated), so hash order cannot leak into results.
  absl::flat_hash_map<uint64_t, Binding> bindings_;                               // Channel handle -> channel.
  absl::flat_hash_map<std::tuple<uint16_t, uint32_t, bool>, uint64_t> handles_;  // (guest, relid, host) -> handle.
  // The entry of handles_ read last (a channel's deliveries come in runs);
  // cleared whenever handles_ changes.
  struct PeerCacheEntry {
    bool valid = false;
    bool host = false;
    uint16_t guest = 0;
    uint32_t relid = 0;
    uint64_t handle = 0;
  };
  PeerCacheEntry peer_cache_;
  // Changes whenever bindings_ (and so any MetricsOf result) changes.
  uint64_t binding_epoch_ = 1;
  uint64_t last_learned_handle_[2] = {0, 0};  // [host]
  uint32_t last_learned_relid_[2] = {0, 0};
  std::map<std::pair<uint16_t, uint32_t>, ChannelMetrics> channels_;
  std::map<uint64_t, ChannelMetrics> unbound_;  // Sends before the handle's relid was known.
  std::map<std::pair<uint16_t, uint32_t>, uint64_t> interrupts_;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_METRICS_H_
