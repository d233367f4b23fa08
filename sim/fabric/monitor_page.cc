#include "sim/fabric/monitor_page.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {
namespace {

uint32_t PendingWordOffset(uint8_t id) { return kMonitorTriggerGroupOffset + 8 * (id / 32); }
uint32_t LatencyOffset(uint8_t id) { return kMonitorLatencyOffset + 2 * id; }
uint32_t ParameterOffset(uint8_t id) { return kMonitorParameterOffset + 8 * id; }
uint32_t ArmedWordOffset(uint8_t id) { return PendingWordOffset(id) + 4; }
uint32_t NextCheckTimeOffset(uint8_t id) { return kMonitorNextCheckTimeOffset + 4 * id; }

absl::Status CheckId(uint8_t id, const char* what) {
  if (id >= kMonitorIdCount) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": monitor id ", id, " out of range (ids are 0..", kMonitorIdCount - 1, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* MonitorModeName(MonitorMode mode) {
  switch (mode) {
    case MonitorMode::kTimerPerId:
      return "timer_per_id";
    case MonitorMode::kPeriodicPoll:
      return "periodic_poll";
    case MonitorMode::kRateLimited:
      return "rate_limited";
  }
  return "unknown";
}

MonitorPage::MonitorPage(sim::Simulator* sim, uint8_t* page, uint16_t partition_id, MonitorMode mode,
                         sim::Prng prng)
    : sim_(sim), page_(page), partition_id_(partition_id), mode_(mode), prng_(std::move(prng)) {
  VMBSIM_CHECK(sim != nullptr);
  VMBSIM_CHECK(page != nullptr);
}

uint32_t MonitorPage::LoadU32(uint32_t offset) const {
  uint32_t v;
  std::memcpy(&v, page_ + offset, sizeof(v));
  return v;
}

void MonitorPage::StoreU32(uint32_t offset, uint32_t value) { std::memcpy(page_ + offset, &value, sizeof(value)); }

absl::Status MonitorPage::Configure(uint8_t id, uint16_t latency_100ns, uint32_t connection_id, uint16_t flag) {
  if (absl::Status s = CheckId(id, "monitor configure"); !s.ok()) return s;
  std::memcpy(page_ + LatencyOffset(id), &latency_100ns, sizeof(latency_100ns));
  StoreU32(ParameterOffset(id), connection_id & 0x00FFFFFFu);  // hv_connection_id: low 24 bits.
  std::memcpy(page_ + ParameterOffset(id) + 4, &flag, sizeof(flag));
  StoreU32(kMonitorTriggerStateOffset, LoadU32(kMonitorTriggerStateOffset) | (1u << (id / 32)));
  ids_[id].configured = true;
  return absl::OkStatus();
}

absl::Status MonitorPage::SetLatency(uint8_t id, uint16_t latency_100ns) {
  if (absl::Status s = CheckId(id, "monitor latency"); !s.ok()) return s;
  std::memcpy(page_ + LatencyOffset(id), &latency_100ns, sizeof(latency_100ns));
  ids_[id].poll_phase_ns = -1;  // A poll period change re-draws the phase.
  return absl::OkStatus();
}

absl::Status MonitorPage::Release(uint8_t id) {
  if (absl::Status s = CheckId(id, "monitor release"); !s.ok()) return s;
  IdState& state = ids_[id];
  if (state.check.valid()) sim_->Cancel(state.check);
  state = IdState{};
  StoreU32(PendingWordOffset(id), LoadU32(PendingWordOffset(id)) & ~(1u << (id % 32)));
  StoreU32(ArmedWordOffset(id), LoadU32(ArmedWordOffset(id)) & ~(1u << (id % 32)));
  StoreU32(NextCheckTimeOffset(id), 0);
  std::memset(page_ + ParameterOffset(id), 0, 8);
  return absl::OkStatus();
}

bool MonitorPage::pending(uint8_t id) const {
  VMBSIM_CHECK_LT(id, kMonitorIdCount);
  return (LoadU32(PendingWordOffset(id)) >> (id % 32)) & 1u;
}

uint16_t MonitorPage::latency_100ns(uint8_t id) const {
  VMBSIM_CHECK_LT(id, kMonitorIdCount);
  uint16_t v;
  std::memcpy(&v, page_ + LatencyOffset(id), sizeof(v));
  return v;
}

sim::SimTime MonitorPage::CheckTimeFor(uint8_t id, sim::SimTime set_at) {
  const int64_t latency_ns = int64_t{latency_100ns(id)} * 100;
  if (mode_ == MonitorMode::kTimerPerId || latency_ns == 0) {
    return set_at + sim::SimDuration::Nanoseconds(latency_ns);
  }
  IdState& state = ids_[id];
  if (mode_ == MonitorMode::kRateLimited) {
    return sim::SimTime::FromNanoseconds(std::max(set_at.nanoseconds(), state.next_check_ns));
  }
  if (state.poll_phase_ns < 0) state.poll_phase_ns = static_cast<int64_t>(prng_.Below(static_cast<uint64_t>(latency_ns)));
  // The first poll instant strictly after the set: phase + k * latency.
  const int64_t since_phase = set_at.nanoseconds() - state.poll_phase_ns;
  const int64_t k = since_phase < 0 ? 0 : since_phase / latency_ns + 1;
  return sim::SimTime::FromNanoseconds(state.poll_phase_ns + k * latency_ns);
}

absl::Status MonitorPage::SetPending(uint8_t id) {
  if (absl::Status s = CheckId(id, "monitor set"); !s.ok()) return s;
  const sim::SimTime at = sim_->Now();
  ++sets_;
  IdState& state = ids_[id];
  const uint32_t word = LoadU32(PendingWordOffset(id));
  const bool was_clear = ((word >> (id % 32)) & 1u) == 0;
  StoreU32(PendingWordOffset(id), word | (1u << (id % 32)));  // The guest's locked OR.
  sim_->tracer().Emit({.time = at, .kind = TraceKind(FabricTraceKind::kMonitorSet), .partition = partition_id_,
                       .id0 = id, .id1 = was_clear ? 1u : 0u});
  if (!state.configured) {
    ++unwatched_sets_;
    return absl::FailedPreconditionError(absl::StrCat("monitor set: id ", id, " is not assigned to a channel"));
  }
  ++state.sets_in_window;
  if (!was_clear) {
    ++coalesced_;
    sim_->tracer().Emit({.time = at, .kind = TraceKind(FabricTraceKind::kMonitorCoalesced),
                         .partition = partition_id_, .id0 = id});
    return absl::OkStatus();
  }
  struct FireEvent {
    MonitorPage* page;
    uint8_t id;
    void operator()() const { page->Fire(id); }
  };
  state.check = sim_->ScheduleAt(CheckTimeFor(id, at), FireEvent{this, id});
  if (mode_ == MonitorMode::kRateLimited) {
    StoreU32(ArmedWordOffset(id), LoadU32(ArmedWordOffset(id)) | (1u << (id % 32)));
  }
  return absl::OkStatus();
}

void MonitorPage::Fire(uint8_t id) {
  IdState& state = ids_[id];
  state.check = {};
  const uint32_t sets_in_window = state.sets_in_window;
  state.sets_in_window = 0;
  // Clear the pending bit before signalling: a set that races with the
  // signal opens a new window rather than being lost.
  StoreU32(PendingWordOffset(id), LoadU32(PendingWordOffset(id)) & ~(1u << (id % 32)));
  if (mode_ == MonitorMode::kRateLimited) {
    state.next_check_ns = sim_->Now().nanoseconds() + int64_t{latency_100ns(id)} * 100;
    StoreU32(ArmedWordOffset(id), LoadU32(ArmedWordOffset(id)) & ~(1u << (id % 32)));
    StoreU32(NextCheckTimeOffset(id), static_cast<uint32_t>(state.next_check_ns / 100));
  }
  ++fires_;
  const uint32_t connection_id = LoadU32(ParameterOffset(id));
  uint16_t flag;
  std::memcpy(&flag, page_ + ParameterOffset(id) + 4, sizeof(flag));
  sim_->tracer().Emit({.time = sim_->Now(), .kind = TraceKind(FabricTraceKind::kMonitorFire),
                       .partition = partition_id_, .id0 = id, .id1 = connection_id, .size0 = sets_in_window});
  if (fire_) fire_(id, connection_id, flag);
}

}  // namespace vmbsim::fabric
