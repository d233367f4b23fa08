// ledger.h
//
// The exactly-once ledger: every KMCL send (VmbPacketSend*, the kmcl_send
// trace record) must end exactly once, completed (kmcl_finish with
// STATUS_SUCCESS) or failed with a status (any other kmcl_finish), or be
// accounted to the fault that lost it. The ledger is a trace sink over the
// KMCL records, so it checks what actually happened rather than what the
// runtime believes; at the end, each send still open is accounted to the
// fault that dropped its completion, else to the first lossy fault that
// fired on its channel (injector.h), else it is unaccounted: a lost send.
//
// It also keeps the time of the last progress (a send, a completion, a
// delivery, a ring read) for the liveness check.

#ifndef VMBSIM_TOOLS_FAULTS_LEDGER_H_
#define VMBSIM_TOOLS_FAULTS_LEDGER_H_

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "sim/core/sim_time.h"
#include "sim/core/trace.h"
#include "tools/faults/injector.h"

namespace vmbsim::faults {

struct LedgerSummary {
  uint64_t sends = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;               // Finished with a failure status.
  uint64_t accounted_to_faults = 0;  // Open, and a fault lost them.
  uint64_t unaccounted = 0;          // Open, and no fault explains it.
  uint64_t finished_twice = 0;       // Extra finishes of one send (never allowed).
  // A run cut by its time limit or event budget: sends still open at the
  // stop that ended (completed, or failed by the teardown) after it. They
  // are neither lost nor counted in `completed` / `failed`.
  uint64_t in_flight_at_stop = 0;
  std::map<size_t, uint64_t> by_fault;  // Injection index -> sends accounted to it.
  // sends == completed + failed + accounted_to_faults + unaccounted +
  // in_flight_at_stop, nothing unaccounted, and nothing finished twice.
  bool balanced() const {
    return finished_twice == 0 && unaccounted == 0 &&
           sends == completed + failed + accounted_to_faults + unaccounted + in_flight_at_stop;
  }
};

class Ledger : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& record) override;
  std::vector<uint16_t> Kinds() const override;

  // The sends accounted as above. `injector` may be null (no faults).
  LedgerSummary Summarise(const Injector* injector) const;
  // Open sends no fault accounts for.
  uint64_t UnaccountedOpen(const Injector* injector) const;
  // ... of them, those sent before `time`.
  uint64_t UnaccountedOpenSentBefore(sim::SimTime time, const Injector* injector) const;
  // The longest a send took to complete successfully (send to finish).
  sim::SimDuration completion_latency_max() const { return completion_latency_max_; }
  // The running totals, O(1), for checks during a run (a soak's checkpoints).
  uint64_t sends() const { return sends_; }
  uint64_t completed() const { return completed_; }
  uint64_t failed() const { return failed_; }
  uint64_t finished_twice() const { return finished_twice_; }
  sim::SimTime last_progress() const { return last_progress_; }

 private:
  // (partition, channel handle, transaction id).
  using Key = std::tuple<uint16_t, uint64_t, uint64_t>;
  struct Entry {
    uint16_t guest = 0;
    uint32_t relid = 0;
    uint64_t sends = 0;
    uint64_t finishes = 0;
    sim::SimTime sent;  // Of its first send.
  };
  std::optional<size_t> AccountTo(const Key& key, const Entry& entry, const Injector* injector) const;

  std::map<Key, Entry> open_;  // Sends not yet finished (finished ones leave).
  uint64_t sends_ = 0;
  uint64_t completed_ = 0;
  uint64_t failed_ = 0;
  uint64_t finished_twice_ = 0;
  sim::SimTime last_progress_;
  sim::SimDuration completion_latency_max_;
};

}  // namespace vmbsim::faults

#endif  // VMBSIM_TOOLS_FAULTS_LEDGER_H_
