// trace_metrics.h
//
// The figures a person compares between two runs, computed from trace
// records alone, in one pass and in memory that does not grow with the
// trace (only with the channels and the transactions in flight): per channel
// and direction, the transactions sent, their bytes, the send-to-completion
// latency percentiles, and the reader's drain batches (packets per batch:
// the batching a doorbell buys). `vmbsim diff` and what-if replay print them
// side by side; the same code measures both sides, so a difference is a
// difference of the runs, never of the method.
//
// It reads KMCL's records, which name the channel's handle (id0), the guest
// (size1) and the relid:
//   kmcl_send    a transaction starts on the sending side (partition 0: host);
//   kmcl_finish  it ends on the same side: latency = finish - send, matched
//                by (channel handle, trans id);
//   kmcl_batch   a drain batch of `packets` ended on the reading side.
// Figures are kept per handle, because a send made before its channel opened
// carries no relid yet; a handle's (guest, relid) is learned from its first
// record that has one. A channel's relids (its primary and sub-channels) are
// summed under its name when the trace's footer lists them; otherwise it is
// "g<guest>/r<relid>".

#ifndef VMBSIM_TOOLS_RECORDING_TRACE_METRICS_H_
#define VMBSIM_TOOLS_RECORDING_TRACE_METRICS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sim/core/histogram.h"
#include "sim/core/trace.h"
#include "tools/recording/trace_file.h"

namespace vmbsim::recording {

// One direction of one channel.
struct DirectionFigures {
  uint64_t sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t finished = 0;
  sim::Histogram latency_ns;  // Send to completion, of finished transactions.
  uint64_t batches = 0;       // Drain batches of the reader (the other side).
  uint64_t packets_read = 0;  // Packets those batches read.
  double packets_per_batch() const {
    return batches == 0 ? 0.0 : static_cast<double>(packets_read) / static_cast<double>(batches);
  }
};

struct ChannelFigures {
  std::string name;
  DirectionFigures guest_to_host;
  DirectionFigures host_to_guest;
};

class TraceMetrics : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& record) override;
  std::vector<uint16_t> Kinds() const override;

  // The figures per channel, named by `channels` (a footer's list; empty:
  // by guest and relid), in the order of `channels`, then unnamed ones by
  // (guest, relid).
  std::vector<ChannelFigures> Channels(const std::vector<TraceChannelInfo>& channels) const;

  // The (guest, relid) of a KMCL channel handle, once a record has said.
  std::optional<std::pair<uint16_t, uint32_t>> RelidOf(uint64_t handle) const;

 private:
  struct HandleFigures {
    std::pair<uint16_t, uint32_t> relid{0, 0};  // (guest, relid); relid 0: not known yet.
    DirectionFigures guest_to_host;
    DirectionFigures host_to_guest;
  };
  std::map<uint64_t, HandleFigures> handles_;
  // (sending channel handle, trans id) -> send time.
  absl::flat_hash_map<std::pair<uint64_t, uint64_t>, int64_t> in_flight_;
};

// The per-channel comparison table of two sets of figures ("recorded" and
// "replayed", or the two traces of a diff), one line per figure that either
// side has: packets, latency p50/p99/p99.9/mean, packets per batch.
std::string CompareFigures(const std::vector<ChannelFigures>& a, const std::vector<ChannelFigures>& b,
                           const std::string& label_a, const std::string& label_b);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_TRACE_METRICS_H_
