// timeline.h
//
// A timeline of a run for a person to look at: a trace sink that turns the
// run's records into a Chrome trace-event file (the "JSON Object Format":
// {"displayTimeUnit": "ns", "otherData": {...}, "traceEvents": [...]}),
// which chrome://tracing and ui.perfetto.dev open, plain or gzip-compressed
// (a path ending in ".gz"). It shows a batch form:
//
//   process = partition ("root" for 0, "guest N"), thread = VP ("VP n"),
//   each named once by "M" metadata events;
//   "X" slices    one per VP work item (fabric kVpWorkEnd): "ISR" at
//                 interrupt level, "DPC" at DISPATCH, "passive" at PASSIVE
//                 ("work" with its irql otherwise);
//   "C" counters  ring occupancy in bytes per channel and direction,
//                 "ring r<relid> to host" / "to guest" (kRingWrite adds the
//                 packet's ring footprint, kRingRead takes it away), in the
//                 guest's process, since the ring lives in guest memory;
//   flows         one per transaction, keyed by (channel handle, trans id):
//                 "s" at VmbPacketSend* (KMCL 0x0205), "t" at the peer's
//                 ProcessPacket (0x0202) when the peer's handle is known,
//                 "f" (binding to the enclosing slice) when the transaction
//                 finishes (0x0203), with its NTSTATUS when not success.
//                 A send without WAIT can finish at a local time before its
//                 delivery; its step is then left out, as viewers drop a
//                 step after the end;
//   "i" instants  ProcessPacket deliveries, SINT interrupts (kInterrupt) and
//                 KMCL drain-batch ends (0x0206).
// A channel is named "g<guest>/r<relid>" in arguments ("ch"), as relids
// repeat across guests; "trans" is the transaction id.
//
// The file is compact (about 80 bytes an event on the library's scenarios;
// README, `--timeline`): one event a line and no other whitespace, no "cat",
// no argument the name already says, the default instant scope left out.
// Times are microseconds printed from integer nanoseconds with only the
// digits needed ("12.345", "12.3", "12"), so nothing is lost to float
// formatting. The output is deterministic: events are ordered by time, ties
// in the order their records arrived, and nothing comes from a pointer or an
// unordered container.
//
// Simplifications, on purpose:
//   * Fabric ring records on the host side do not name the guest. The ring
//     of relid r is taken to belong to the guest that the last KMCL record or
//     guest-side ring record for relid r named, and to guest 1 before any
//     did. A ring's key is fixed when it is first seen.
//   * Occupancy follows record order (the order the model changed the ring),
//     while each sample is stamped with its record's local-clock time, so two
//     VPs' samples can interleave slightly out of time order.
//   * VP stalls are not drawn; a stall that lands inside an item is not in
//     its slice.
//   * A window (set_window) and a channel (set_channel) narrow what is kept,
//     so a long run can be looked at around the moment that matters.
//   * Collection is bounded: after `max_events` events the sink ignores the
//     rest of the run and the file says "truncated": true. Each event costs
//     48 bytes of memory.

#ifndef VMBSIM_TOOLS_SCENARIO_TIMELINE_H_
#define VMBSIM_TOOLS_SCENARIO_TIMELINE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sim/core/trace.h"

namespace vmbsim::scenario {

inline constexpr uint64_t kTimelineEventsMaxDefault = 2'000'000;

class TimelineWriter : public sim::TraceSink {
 public:
  explicit TimelineWriter(uint64_t max_events = kTimelineEventsMaxDefault);

  // The scenario's name, written to "otherData" (empty by default).
  void set_scenario(std::string scenario) { scenario_ = std::move(scenario); }
  // Keeps only events in [from_ns, to_ns] (slices by their start). Records
  // before the window are still followed, so ring counters start at the
  // right level; a flow that started before it is not drawn.
  void set_window(int64_t from_ns, int64_t to_ns) {
    window_from_ns_ = from_ns;
    window_to_ns_ = to_ns;
  }
  // Keeps only the records of relid `relid` and those of no channel (VP
  // work, interrupts), so the CPUs stay in view.
  void set_channel(uint32_t relid) { channel_ = relid; }

  void OnRecord(const sim::TraceRecord& record) override;

  // The whole file. Call after the run; may be called more than once.
  std::string ToJson() const;
  // The bytes of the file at `path`: ToJson(), gzip-compressed when `path`
  // ends in ".gz".
  std::string ToFileContents(absl::string_view path) const;
  // Writes ToFileContents(path) to `path`, replacing it. Returns Unavailable
  // if the file cannot be opened and DataLoss if writing it fails; both name
  // the path.
  absl::Status WriteFile(const std::string& path) const;

  uint64_t event_count() const { return events_.size(); }
  bool truncated() const { return truncated_; }

 private:
  enum class Type : uint8_t {
    kSlice,       // a = {duration ns, irql}.
    kRing,        // a = {ring index, occupancy bytes (int64 bits)}.
    kFlowStart,   // a = {flow id, guest << 32 | relid, trans id, bytes}.
    kFlowStep,    // a = {flow id}.
    kFlowEnd,     // a = {flow id, NTSTATUS}.
    kDeliver,     // a = {guest << 32 | relid, trans id, bytes, passive}.
    kInterrupt,   // a = {sint}.
    kBatchEnd,    // a = {guest << 32 | relid, packets}.
    kFault,       // A fault fired: a = {fault kind, injection index, trans id, detail}.
    kStuck,       // Liveness gave up: a = {ns without progress, open sends}.
    kDropped,     // A flow step that fell after its flow's end; not written.
  };
  struct Event {
    int64_t ts_ns = 0;
    uint64_t a[4] = {0, 0, 0, 0};
    uint32_t tid = 0;
    uint16_t pid = 0;
    Type type = Type::kSlice;
  };
  struct Ring {
    std::string name;
    int64_t occupancy_bytes = 0;
  };
  struct Flow {
    uint64_t id = 0;
    bool stepped = false;   // Its first delivery has been drawn,
    size_t step_index = 0;  // as this event.
  };

  // Appends an event unless the bound is reached; returns false (and marks
  // the timeline truncated) when it is.
  bool Add(const Event& event);
  void OnRingRecord(const sim::TraceRecord& record, bool write);
  void OnKmclRecord(const sim::TraceRecord& record);
  void Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host);
  uint16_t GuestOfRelid(uint32_t relid) const;

  uint64_t max_events_;
  int64_t window_from_ns_ = 0;
  int64_t window_to_ns_ = INT64_MAX;
  std::optional<uint32_t> channel_;
  bool truncated_ = false;
  std::string scenario_;
  std::vector<Event> events_;  // In record arrival order.
  std::set<uint16_t> processes_;
  std::set<std::pair<uint16_t, uint32_t>> threads_;

  std::map<uint32_t, uint16_t> relid_guest_;                        // Relid -> guest last named.
  std::map<std::tuple<uint16_t, uint32_t, bool>, size_t> ring_index_;  // (guest, relid, to_host).
  std::vector<Ring> rings_;

  std::map<std::tuple<uint16_t, uint32_t, bool>, uint64_t> handles_;  // (guest, relid, host) -> handle.
  std::map<std::pair<uint64_t, uint64_t>, Flow> flows_;               // (sender handle, trans id).
  uint64_t flow_id_next_ = 1;

  // Per (partition, VP): the work items still in progress at the last slice,
  // innermost last, each with its end as stretched so far by the items that
  // preempted it.
  struct OpenSlice {
    size_t index;  // Into events_, or kNotKept (outside the window, or past the bound).
    int64_t end_ns;
    uint64_t irql;
  };
  static constexpr size_t kNotKept = SIZE_MAX;
  std::map<std::pair<uint16_t, uint32_t>, std::vector<OpenSlice>> open_slices_;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_TIMELINE_H_
