// monitor_page.h
//
// The Monitored Notification Facility (MNF, spec §3.5): the child→parent
// monitor page through which a guest raises guest→host doorbells without a
// hypercall. The guest sets the pending bit of the channel's monitor id; the
// hypervisor notices within the id's latency and signals the host once, so
// every set inside that window coalesces into one signal.
//
// The page is real guest memory (4096 bytes, byte-exact layout of
// `struct hv_monitor_page`): trigger_state at 0x000, trigger_group[4]
// {pending, armed} at 0x008, latency u16[4][32] at 0x240 (100 ns units),
// parameter[4][32] {u32 connection id, u16 flag, u16 reserved} at 0x440.
// Monitor id m is group m / 32, bit m % 32; 128 ids.
//
// The scan algorithm of the real hypervisor is not public (spec open question
// 1; Linux says only that a set bit "will be inspected by the hypervisor
// within a certain window"). Modelled with three modes, so that a study can
// show the spread between them rather than one guess:
//   kTimerPerId (default): a 0→1 set of id m at time t arms a check at
//     t + latency(m); at the check the pending bit is cleared and one signal
//     goes to parameter(m). Sets while armed coalesce. The latency is read
//     when the window opens, so a change takes effect from the next window.
//   kPeriodicPoll: the hypervisor polls id m every latency(m) with a phase
//     drawn once per id from the page's PRNG stream; the signal comes at the
//     first poll after the set (delay uniform in (0, L]).
//   kRateLimited: a check at most once per latency(m). A 0->1 set at t is
//     checked at max(t, next_check(m)); after the check next_check(m) is the
//     check time + latency(m). An isolated set is signalled at once (the
//     best case), a busy id at most once per L. This reads the page's
//     per-id `next_checktime` word (s32 at 0x040 + 4 m) and the group's
//     `armed` word as what their names suggest; their real use is not
//     published. The model keeps next_check there in 100 ns units (low
//     32 bits of the simulated time) and sets the id's armed bit while a
//     check is scheduled, so a page dump shows the state. The other modes
//     leave both words zero.
// Whichever mode runs, the report names it (report.json "monitor_pages").
// A latency of 0 signals at the instant of the set (after the setting event).
// Which side writes what: the host configures latency and parameter
// (`Configure`); the guest only sets pending bits (`SetPending`).

#ifndef VMBSIM_SIM_FABRIC_MONITOR_PAGE_H_
#define VMBSIM_SIM_FABRIC_MONITOR_PAGE_H_

#include <array>
#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"

namespace vmbsim::fabric {

inline constexpr uint32_t kMonitorIdCount = 128;
inline constexpr uint32_t kMonitorTriggerStateOffset = 0x000;
inline constexpr uint32_t kMonitorTriggerGroupOffset = 0x008;  // 8 bytes per group.
inline constexpr uint32_t kMonitorNextCheckTimeOffset = 0x040;
inline constexpr uint32_t kMonitorLatencyOffset = 0x240;       // u16 per id.
inline constexpr uint32_t kMonitorParameterOffset = 0x440;     // 8 bytes per id.

enum class MonitorMode { kTimerPerId, kPeriodicPoll, kRateLimited };

// The scenario name of a mode ("timer_per_id", "periodic_poll", "rate_limited").
const char* MonitorModeName(MonitorMode mode);

class MonitorPage {
 public:
  // Called when a window closes: one host signal for `monitor_id` to the
  // configured connection id and flag.
  using FireHandler = std::function<void(uint8_t monitor_id, uint32_t connection_id, uint16_t flag)>;

  // `page` is the 4096-byte child→parent monitor page in guest memory; `*sim`
  // and the page must outlive this object.
  MonitorPage(sim::Simulator* sim, uint8_t* page, uint16_t partition_id, MonitorMode mode,
              sim::Prng prng);

  void SetFireHandler(FireHandler handler) { fire_ = std::move(handler); }

  // Host side: assigns id `monitor_id` to a channel: latency (100 ns units),
  // the connection id and flag to signal, and enables its trigger group.
  // InvalidArgument for an id >= 128.
  absl::Status Configure(uint8_t monitor_id, uint16_t latency_100ns, uint32_t connection_id,
                         uint16_t flag);
  // Host side: changes the latency; it applies from the next window.
  absl::Status SetLatency(uint8_t monitor_id, uint16_t latency_100ns);
  // Host side: releases the id (clears its parameter and pending bit; an
  // armed window is cancelled).
  absl::Status Release(uint8_t monitor_id);

  // Guest side: sets the pending bit of `monitor_id` now. (A guest VP in the
  // middle of a callback schedules this at its local clock.) InvalidArgument
  // for an id >= 128.
  // FailedPrecondition if the id was never configured (the guest wrote a
  // bit the host does not watch; the set is counted and otherwise ignored).
  absl::Status SetPending(uint8_t monitor_id);

  bool pending(uint8_t monitor_id) const;
  uint16_t latency_100ns(uint8_t monitor_id) const;

  uint64_t sets() const { return sets_; }
  uint64_t coalesced() const { return coalesced_; }
  uint64_t fires() const { return fires_; }
  uint64_t unwatched_sets() const { return unwatched_sets_; }
  MonitorMode mode() const { return mode_; }

 private:
  struct IdState {
    bool configured = false;
    sim::EventId check;
    uint32_t sets_in_window = 0;
    int64_t poll_phase_ns = -1;  // kPeriodicPoll: drawn on first use.
    int64_t next_check_ns = 0;   // kRateLimited: no check before this.
  };

  uint32_t LoadU32(uint32_t offset) const;
  void StoreU32(uint32_t offset, uint32_t value);
  void Fire(uint8_t monitor_id);
  sim::SimTime CheckTimeFor(uint8_t monitor_id, sim::SimTime set_at);

  sim::Simulator* const sim_;
  uint8_t* const page_;
  const uint16_t partition_id_;
  const MonitorMode mode_;
  sim::Prng prng_;
  FireHandler fire_;
  std::array<IdState, kMonitorIdCount> ids_;
  uint64_t sets_ = 0;
  uint64_t coalesced_ = 0;
  uint64_t fires_ = 0;
  uint64_t unwatched_sets_ = 0;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_MONITOR_PAGE_H_
