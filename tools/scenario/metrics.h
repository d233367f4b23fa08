// metrics.h
//
// Per-channel latency and traffic figures computed from the run's trace
// records (the KMCL layer's send, deliver and finish records, kmcl
// runtime_internal.h kinds 0x0202/0x0203/0x0205), and per-VP interrupt
// counts (the fabric's kInterrupt). Nothing here depends on which driver
// runs: a driver from --driver-lib is measured the same way.
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
#include <deque>
#include <map>
#include <tuple>
#include <utility>
#include <vector>

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
  // Bytes in this direction's ring (packets with their trailers), sampled at
  // each write after it; from the fabric's ring write and read records.
  sim::Histogram ring_occupancy_bytes;
};

struct ChannelMetrics {
  DirectionMetrics guest_to_host;
  DirectionMetrics host_to_guest;
};

class MetricsCollector : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& record) override;
  // Interrupts, ring writes and reads, and the KMCL layer's records.
  std::vector<uint16_t> Kinds() const override;

  const std::map<std::pair<uint16_t, uint32_t>, ChannelMetrics>& channels() const { return channels_; }
  // Ring records from the root name no guest; they are attributed to the
  // guest whose own records showed that relid, and skipped when several
  // guests use it.
  // SINT interrupts delivered, by (partition, vp).
  const std::map<std::pair<uint16_t, uint32_t>, uint64_t>& interrupts() const { return interrupts_; }
  // Sends whose transaction has not finished.
  uint64_t unfinished_sends() const { return unfinished_; }

 private:
  struct Send {
    int64_t time_ns = 0;
    bool live = false;  // A send with this id was made and not yet retired.
    bool delivered = false;
    bool finished = false;
  };
  // One sending channel's sends, by transaction id: KMCL numbers a channel's
  // transactions 1, 2, 3, ..., so a window indexed by id - base replaces a
  // map; retired sends are popped from the front.
  struct Sender {
    uint64_t base = 0;
    std::deque<Send> window;
    Send* Find(uint64_t trans_id) {
      if (trans_id < base || trans_id - base >= window.size()) return nullptr;
      Send* s = &window[trans_id - base];
      return s->live ? s : nullptr;
    }
    void Retire(Send* s) {
      s->live = false;
      while (!window.empty() && !window.front().live) {
        window.pop_front();
        ++base;
      }
    }
  };
  Sender& SenderOf(uint64_t handle);
  struct Binding {
    uint16_t guest = 0;
    uint32_t relid = 0;
    bool host = false;
    ChannelMetrics* metrics = nullptr;  // Into channels_ (a std::map: stable).
  };
  void Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host);
  ChannelMetrics* MetricsOf(uint64_t handle);
  DirectionMetrics* DirectionOf(uint64_t handle, bool sender_is_host);

  // Lookups only (never iterated), so hash order cannot leak into results.
  absl::flat_hash_map<uint64_t, Binding> bindings_;                               // Channel handle -> channel.
  absl::flat_hash_map<std::tuple<uint16_t, uint32_t, bool>, uint64_t> handles_;  // (guest, relid, host) -> handle.
  absl::node_hash_map<uint64_t, Sender> senders_;  // By channel handle (node-based: cached).
  uint64_t last_sender_handle_ = 0;
  Sender* last_sender_ = nullptr;
  std::map<std::pair<uint16_t, uint32_t>, ChannelMetrics> channels_;
  std::map<uint64_t, ChannelMetrics> unbound_;  // Sends before the handle's relid was known.
  std::map<std::pair<uint16_t, uint32_t>, uint64_t> interrupts_;
  uint64_t unfinished_ = 0;
  void OnRing(const sim::TraceRecord& record, bool write);
  struct Ring {
    int64_t bytes = 0;
    DirectionMetrics* metrics = nullptr;
  };
  absl::flat_hash_map<uint32_t, uint16_t> guest_of_relid_;  // 0xFFFF: more than one guest.
  // Node-based: the cache below holds pointers into it.
  absl::node_hash_map<std::tuple<uint16_t, uint32_t, bool>, Ring> rings_;  // (guest, relid, guest->host).
  // The ring each (record partition is the root, write) pair touched last:
  // a channel's records come in runs, so most lookups stop here.
  struct RingCacheEntry {
    uint16_t partition = 0xFFFF;
    uint32_t relid = 0;
    Ring* ring = nullptr;
  };
  RingCacheEntry ring_cache_[2][2];
  uint64_t guest_of_relid_ambiguous_ = 0;  // Relids seen from more than one guest.
  struct MetricsCacheEntry {
    uint64_t handle = 0;
    ChannelMetrics* metrics = nullptr;
  };
  MetricsCacheEntry metrics_cache_[2];
  int metrics_cache_next_ = 0;
  uint64_t last_learned_handle_[2] = {0, 0};  // [host]
  uint32_t last_learned_relid_[2] = {0, 0};
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_METRICS_H_
