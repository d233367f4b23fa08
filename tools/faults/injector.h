// injector.h
//
// Carries out a scenario's "faults" section: the fabric's FaultHook (it
// answers every opportunity the fabric, its data paths, SynICs, servers and
// KMCL offer) and a trace sink (it counts the events "after" triggers wait
// for). Action kinds (stalls, latency changes, spurious doorbells, host
// crashes, saves, rescinds) are scheduled as simulator events at their trigger.
//
// Every firing is one trace record (kFaultFiredTraceKind) and one count in
// firings(). Probabilistic triggers draw from the injection's own PRNG
// stream, "fault.<index>", forked from the run's seed, and only at
// opportunities where everything else about the injection holds, so adding
// an injection never shifts another's draws and a run is a pure function of
// (scenario, seed, tie-break seed).
//
// For the ledger (ledger.h), the injector remembers which lossy fault first
// fired on each channel and which transactions a fault dropped (a lost or
// rewritten completion), so unfinished sends can be accounted to the fault
// that lost them.

#ifndef VMBSIM_TOOLS_FAULTS_INJECTOR_H_
#define VMBSIM_TOOLS_FAULTS_INJECTOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/core/prng.h"
#include "sim/core/simulator.h"
#include "sim/core/trace.h"
#include "sim/fabric/fabric.h"
#include "sim/fabric/fault_hook.h"
#include "tools/faults/catalogue.h"
#include "tools/scenario/spec.h"

namespace vmbsim::faults {

// What the injector needs from the world it runs in (the scenario runner).
struct InjectorEnvironment {
  sim::Simulator* sim = nullptr;
  fabric::Fabric* fabric = nullptr;
  // The index in spec.channels of channel (guest, relid), or -1.
  std::function<int(uint16_t guest, uint32_t relid)> channel_of;
  // Every attached (guest, relid), ascending.
  std::function<std::vector<std::pair<uint16_t, uint32_t>>()> attached;
  // Tears the host driver of spec channel `index` down (a rescind) / starts
  // a new instance of it. False when there is nothing to do.
  std::function<bool(int index)> stop_host_driver;
  std::function<bool(int index)> start_host_driver;
  // save_restore: the host driver of spec channel `index` begins saving its
  // channel now and ends `save_ns` later, then a new instance restores the
  // save. False when there is nothing to save (no driver, one that cannot
  // save, a save already in progress).
  std::function<bool(int index, int64_t save_ns)> save_host_driver;
  // guest_reset: guest partition `guest` resets now and is back `reboot_ns`
  // later. False when it cannot reset now (its VMBus client not connected,
  // a reset already in progress).
  std::function<bool(uint16_t guest, int64_t reboot_ns)> reset_guest;
};

class Injector : public fabric::FaultHook, public sim::TraceSink {
 public:
  // `spec` and everything `env` points to must outlive the injector.
  // REQUIRES: every injection's kind is implemented (the loader checks).
  Injector(const scenario::ScenarioSpec& spec, InjectorEnvironment env);

  // Schedules the action kinds with "at_ns" triggers. Call once, before the run.
  void Start();

  fabric::FaultAction At(const fabric::FaultPoint& point) override;
  void OnRecord(const sim::TraceRecord& record) override;
  std::vector<uint16_t> Kinds() const override;

  // Firings per injection, in spec order.
  std::vector<uint64_t> firings() const;
  uint64_t total_firings() const;

  // The first lossy injection that fired on channel (guest, relid), or on
  // any channel of `guest` (relid 0: a send never bound to a relid).
  std::optional<size_t> LossyFaultFor(uint16_t guest, uint32_t relid) const;
  // The injection that dropped (or misaddressed) the completion of
  // transaction `trans_id` sent by the host (`sender_is_host`) or the guest
  // on channel (guest, relid).
  std::optional<size_t> DroppedTransaction(uint16_t guest, uint32_t relid, bool sender_is_host,
                                           uint64_t trans_id) const;
  // Whether a lossy injection fired on any channel of spec channel `index`.
  bool LossyOnChannel(int index) const;

 private:
  struct Armed {
    const scenario::FaultSpec* spec = nullptr;
    const FaultKindInfo* info = nullptr;
    size_t index = 0;
    sim::Prng prng = sim::Prng::FromSeed(0);  // Replaced by the injection's stream.
    uint64_t firings = 0;
    uint64_t executions = 0;  // Action kinds: times the action ran.
    uint64_t max_firings = 0;
    uint16_t after_kind = 0;
    uint64_t events_seen = 0;
    bool after_reached = false;
    // signal_throttle: per channel, the window's start and doorbells in it.
    std::map<std::pair<uint16_t, uint32_t>, std::pair<int64_t, uint64_t>> windows;
  };

  int64_t Int(const Armed& a, const char* name) const;
  const std::string& Str(const Armed& a, const char* name) const;
  bool TargetMatches(const Armed& a, uint16_t guest, uint32_t relid, bool host_side) const;
  bool ChannelMatches(const Armed& a, int channel) const;
  // The partitions an action targets, ascending: the one named, every one
  // (root included), or the guests of the targeted channels.
  std::vector<uint16_t> Partitions(const Armed& a) const;
  bool Predicate(const std::string& name, uint16_t guest, uint32_t relid) const;
  // Whether the trigger holds now (draws for a probability).
  bool Triggered(Armed& a, uint16_t guest, uint32_t relid);
  bool Eligible(Armed& a, const fabric::FaultPoint& point);
  // Counts and traces one firing.
  void Fire(Armed& a, uint16_t guest, uint32_t relid, uint64_t trans_id = 0, uint64_t detail = 0);
  // Tears the host driver of spec channel `channel` down in an event of its
  // own, now: never from inside the server or the data path that met the
  // fault's site.
  void StopHostDriverSoon(int channel);
  std::optional<fabric::FaultAction> Decide(Armed& a, const fabric::FaultPoint& point);
  // Ring corruption by the peer of `point.endpoint`; false when there is
  // nothing to corrupt (no unread packet).
  bool Corrupt(Armed& a, const fabric::FaultPoint& point);
  void RunAction(size_t index);
  // A save of spec channel `channel` has begun: rescinds whose step is
  // "save" get their opportunity.
  void OnSaveBegun(int channel);
  void Lossy(const Armed& a, uint16_t guest, uint32_t relid);

  const scenario::ScenarioSpec& spec_;
  InjectorEnvironment env_;
  std::vector<Armed> armed_;
  std::vector<std::vector<size_t>> by_site_;  // Injection indexes per fabric::FaultSite.
  std::map<std::pair<uint16_t, uint32_t>, int64_t> first_activity_ns_;
  std::map<std::pair<uint16_t, uint32_t>, size_t> lossy_by_channel_;
  std::map<uint16_t, size_t> lossy_by_guest_;
  std::map<std::tuple<uint16_t, uint32_t, bool, uint64_t>, size_t> dropped_;
  std::vector<bool> lossy_channel_index_;
};

}  // namespace vmbsim::faults

#endif  // VMBSIM_TOOLS_FAULTS_INJECTOR_H_
