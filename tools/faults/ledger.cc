#include "tools/faults/ledger.h"

#include <algorithm>

#include "kmcl/trace_kinds.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::faults {

std::vector<uint16_t> Ledger::Kinds() const {
  return {kmcl::kKmclSendTraceKind, kmcl::kKmclFinishTraceKind, kmcl::kKmclDeliverTraceKind,
          fabric::TraceKind(fabric::FabricTraceKind::kRingRead)};
}

void Ledger::OnRecord(const sim::TraceRecord& record) {
  last_progress_ = std::max(last_progress_, record.time);
  if (record.kind == kmcl::kKmclSendTraceKind) {
    Entry& e = open_[{record.partition, record.id0, record.id1}];
    if (e.sends == 0) e.sent = record.time;
    ++e.sends;
    ++sends_;
    e.guest = static_cast<uint16_t>(record.size1 & 0xFFFF);
    if (record.channel != 0) e.relid = record.channel;
    return;
  }
  if (record.kind != kmcl::kKmclFinishTraceKind) return;
  // STATUS_SUCCESS is 0; every other NTSTATUS is a failure here.
  if (record.size0 == 0) {
    ++completed_;
  } else {
    ++failed_;
  }
  const auto it = open_.find({record.partition, record.id0, record.id1});
  if (it == open_.end()) {
    ++finished_twice_;  // Finished with nothing open: a second finish.
    return;
  }
  ++it->second.finishes;
  if (record.size0 == 0 && record.time > it->second.sent) {
    completion_latency_max_ = std::max(completion_latency_max_, record.time - it->second.sent);
  }
  if (record.channel != 0) it->second.relid = record.channel;
  if (it->second.finishes >= it->second.sends) open_.erase(it);
}

std::optional<size_t> Ledger::AccountTo(const Key& key, const Entry& entry, const Injector* injector) const {
  if (injector == nullptr) return std::nullopt;
  if (auto dropped = injector->DroppedTransaction(entry.guest, entry.relid, std::get<0>(key) == 0, std::get<2>(key))) {
    return dropped;
  }
  return injector->LossyFaultFor(entry.guest, entry.relid);
}

LedgerSummary Ledger::Summarise(const Injector* injector) const {
  LedgerSummary s;
  s.sends = sends_;
  s.completed = completed_;
  s.failed = failed_;
  s.finished_twice = finished_twice_;
  // A finish that matched nothing counted as completed or failed: take it
  // back out, it is reported as finished_twice instead.
  for (const auto& [key, entry] : open_) {
    const uint64_t open = entry.sends - entry.finishes;
    if (std::optional<size_t> fault = AccountTo(key, entry, injector)) {
      s.accounted_to_faults += open;
      s.by_fault[*fault] += open;
    } else {
      s.unaccounted += open;
    }
  }
  const uint64_t extra = std::min(s.finished_twice, s.completed + s.failed);
  if (s.completed >= extra) {
    s.completed -= extra;
  } else {
    s.failed -= extra - s.completed;
    s.completed = 0;
  }
  return s;
}

uint64_t Ledger::UnaccountedOpen(const Injector* injector) const {
  uint64_t open = 0;
  for (const auto& [key, entry] : open_) {
    if (!AccountTo(key, entry, injector).has_value()) open += entry.sends - entry.finishes;
  }
  return open;
}

uint64_t Ledger::UnaccountedOpenSentBefore(sim::SimTime time, const Injector* injector) const {
  uint64_t open = 0;
  for (const auto& [key, entry] : open_) {
    if (entry.sent < time && !AccountTo(key, entry, injector).has_value()) open += entry.sends - entry.finishes;
  }
  return open;
}

}  // namespace vmbsim::faults
