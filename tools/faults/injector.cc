#include "tools/faults/injector.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_buffer.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::faults {
namespace {

using fabric::FaultAction;
using fabric::FaultPoint;
using fabric::FaultSite;
using Kind = FaultAction::Kind;

constexpr uint32_t kDescriptorBytes = 16;

// The sites where injection `info` (with its parameters) may act.
std::vector<FaultSite> SitesOf(const FaultKindInfo& info, const scenario::FaultSpec& spec) {
  auto param = [&spec](const char* name, const char* fallback) {
    const auto it = spec.string_params.find(name);
    return it == spec.string_params.end() ? std::string(fallback) : it->second;
  };
  switch (info.mechanism) {
    case Mechanism::kSignal: {
      if (info.kind == FaultKind::kEarlySignalDrop) return {FaultSite::kSignalToGuest};
      if (info.kind == FaultKind::kSignalThrottle || info.kind == FaultKind::kMonitorLatencyJitter) {
        return {FaultSite::kSignalToHost};
      }
      const std::string direction = param("direction", "both");
      if (direction == "to_host") return {FaultSite::kSignalToHost};
      if (direction == "to_guest") return {FaultSite::kSignalToGuest};
      return {FaultSite::kSignalToHost, FaultSite::kSignalToGuest};
    }
    case Mechanism::kInterrupt:
      return {FaultSite::kInterruptAtHost, FaultSite::kInterruptAtGuest};
    case Mechanism::kRingRead:
      return {FaultSite::kRingRead};
    case Mechanism::kRingWrite:
      return {FaultSite::kRingWrite};
    case Mechanism::kMessagePost:
      return {FaultSite::kMessagePost};
    case Mechanism::kMessageDeliver:
      return {FaultSite::kMessageDeliver};
    case Mechanism::kOpenChannel:
      return {FaultSite::kOpenChannel};
    case Mechanism::kGpadlCreate:
      return {FaultSite::kGpadlCreate};
    case Mechanism::kPacketAllocate:
      return {FaultSite::kPacketAllocate};
    case Mechanism::kLifecycle: {
      const std::string step = param("step", "now");
      if (step == "opening") return {FaultSite::kOpenChannel};
      if (step == "mid_send") return {FaultSite::kRingWrite};
      if (step == "gpadl_create") return {FaultSite::kGpadlCreate};
      if (step == "gpadl_teardown") return {FaultSite::kGpadlTeardown};
      return {};  // "now": an action; "save": at a save_restore's save (OnSaveBegun).
    }
    case Mechanism::kAction:
      return {};
  }
  return {};
}

bool IsAction(const FaultKindInfo& info, const scenario::FaultSpec& spec) {
  if (info.mechanism == Mechanism::kAction) return true;
  if (info.mechanism != Mechanism::kLifecycle) return false;
  const auto it = spec.string_params.find("step");
  return it == spec.string_params.end() || it->second == "now";
}

// Whether a side parameter ("both" | "host" | "guest") admits the side that acts.
bool SideAdmits(const std::string& side, bool host_side) {
  return side == "both" || (side == "host") == host_side;
}

}  // namespace

Injector::Injector(const scenario::ScenarioSpec& spec, InjectorEnvironment env)
    : spec_(spec), env_(std::move(env)), by_site_(fabric::kFaultSiteCount) {
  VMBSIM_CHECK(env_.sim != nullptr);
  VMBSIM_CHECK(env_.fabric != nullptr);
  lossy_channel_index_.assign(spec_.channels.size(), false);
  for (size_t i = 0; i < spec_.faults.injections.size(); ++i) {
    const scenario::FaultSpec& f = spec_.faults.injections[i];
    const FaultKindInfo* info = FindKind(f.kind);
    VMBSIM_CHECK(info != nullptr);
    VMBSIM_CHECK(info->implemented);
    Armed a;
    a.spec = &f;
    a.info = info;
    a.index = i;
    a.prng = env_.sim->ForkPrng(absl::StrCat("fault.", i));
    const bool once = f.trigger.kind == "at_ns" || f.trigger.kind == "after";
    a.max_firings = f.max_firings.value_or(once ? 1 : UINT64_MAX);
    if (f.trigger.kind == "after") {
      for (const EventName& e : AfterEvents()) {
        if (f.trigger.event == e.name) a.after_kind = e.trace_kind;
      }
      VMBSIM_CHECK_NE(a.after_kind, 0);  // The loader checked the name.
    }
    for (const FaultSite site : SitesOf(*info, f)) by_site_[static_cast<size_t>(site)].push_back(i);
    armed_.push_back(std::move(a));
  }
}

void Injector::Start() {
  for (Armed& a : armed_) {
    if (!IsAction(*a.info, *a.spec) || a.spec->trigger.kind != "at_ns") continue;
    const sim::SimTime at = std::max(env_.sim->Now(), sim::SimTime::FromNanoseconds(a.spec->trigger.at_ns));
    struct Run {
      Injector* self;
      size_t index;
      void operator()() const { self->RunAction(index); }
    };
    env_.sim->ScheduleAt(at, Run{this, a.index});
  }
}

std::vector<uint16_t> Injector::Kinds() const {
  std::vector<uint16_t> kinds;
  for (const Armed& a : armed_) {
    if (a.after_kind != 0) kinds.push_back(a.after_kind);
  }
  std::sort(kinds.begin(), kinds.end());
  kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
  if (kinds.empty()) kinds.push_back(kFaultStuckTraceKind);  // Empty means every kind: ask for one we never see.
  return kinds;
}

void Injector::OnRecord(const sim::TraceRecord& record) {
  for (Armed& a : armed_) {
    if (a.after_kind != record.kind) continue;
    ++a.events_seen;
    if (a.events_seen < a.spec->trigger.count) continue;
    a.after_reached = true;
    // An action runs at the Nth event, and again every N events up to its
    // limit; never from inside the tracer (the action emits records itself).
    if (IsAction(*a.info, *a.spec) && a.events_seen % a.spec->trigger.count == 0 &&
        a.executions < a.max_firings) {
      ++a.executions;
      struct Run {
        Injector* self;
        size_t index;
        void operator()() const { self->RunAction(index); }
      };
      env_.sim->ScheduleAt(env_.sim->Now(), Run{this, a.index});
    }
  }
}

int64_t Injector::Int(const Armed& a, const char* name) const {
  const auto it = a.spec->int_params.find(name);
  if (it != a.spec->int_params.end()) return it->second;
  const FaultParamInfo* p = FindParam(*a.info, name);
  VMBSIM_CHECK(p != nullptr);
  return p->default_value;
}

const std::string& Injector::Str(const Armed& a, const char* name) const {
  const auto it = a.spec->string_params.find(name);
  if (it != a.spec->string_params.end()) return it->second;
  const FaultParamInfo* p = FindParam(*a.info, name);
  VMBSIM_CHECK(p != nullptr);
  VMBSIM_CHECK(!p->choices.empty());
  return p->choices[0];
}

bool Injector::ChannelMatches(const Armed& a, int channel) const {
  const scenario::FaultTargetSpec& t = a.spec->target;
  if (t.kind == "all") return true;
  if (channel < 0) return false;
  const scenario::ChannelSpec& c = spec_.channels[static_cast<size_t>(channel)];
  if (t.kind == "channel") return c.name == t.channel;
  if (t.kind == "class") return absl::EqualsIgnoreCase(c.interface_type, t.interface_type);
  if (t.kind == "partition") return c.guest == t.partition;
  return false;
}

bool Injector::TargetMatches(const Armed& a, uint16_t guest, uint32_t relid, bool host_side) const {
  const scenario::FaultTargetSpec& t = a.spec->target;
  if (t.kind == "all") return true;
  if (t.kind == "partition") return t.partition == 0 ? host_side : (guest == t.partition && !host_side);
  if (guest == 0 || relid == 0 || !env_.channel_of) return false;
  return ChannelMatches(a, env_.channel_of(guest, relid));
}

bool Injector::Predicate(const std::string& name, uint16_t guest, uint32_t relid) const {
  fabric::ChannelDataPath* g = env_.fabric->guest_endpoint(guest, relid);
  fabric::ChannelDataPath* h = env_.fabric->host_endpoint(guest, relid);
  if (g == nullptr || h == nullptr) return false;
  if (name == "channel_attached") return true;
  if (name == "writer_blocked") return g->writer_blocked() || h->writer_blocked();
  if (name == "reader_draining") return g->draining() || h->draining();
  if (name == "reader_masked") {
    for (const fabric::ChannelDataPath* end : {g, h}) {
      if (fabric::LoadControlWord(end->reader().memory().control_page(), fabric::ControlWord::kInterruptMask) != 0) {
        return true;
      }
    }
    return false;
  }
  if (name == "ring_nonempty") {
    return g->writer().committed_write_index() != h->reader().committed_read_index() ||
           h->writer().committed_write_index() != g->reader().committed_read_index();
  }
  return false;
}

bool Injector::Triggered(Armed& a, uint16_t guest, uint32_t relid) {
  const scenario::FaultTriggerSpec& t = a.spec->trigger;
  if (t.kind == "at_ns") return env_.sim->Now().nanoseconds() >= t.at_ns;
  if (t.kind == "after") return a.after_reached;
  if (t.kind == "while") return Predicate(t.predicate, guest, relid);
  return a.prng.Chance(sim::Ratio{t.numerator, t.denominator});
}

void Injector::Fire(Armed& a, uint16_t guest, uint32_t relid, uint64_t trans_id, uint64_t detail) {
  ++a.firings;
  env_.sim->tracer().Emit({.time = env_.sim->Now(),
                           .kind = kFaultFiredTraceKind,
                           .partition = guest,
                           .channel = relid,
                           .id0 = static_cast<uint64_t>(a.info->kind),
                           .id1 = a.index,
                           .size0 = trans_id,
                           .size1 = detail});
  if (a.info->lossy) Lossy(a, guest, relid);
}

void Injector::Lossy(const Armed& a, uint16_t guest, uint32_t relid) {
  lossy_by_channel_.emplace(std::make_pair(guest, relid), a.index);
  if (guest != 0) lossy_by_guest_.emplace(guest, a.index);
  if (env_.channel_of && guest != 0 && relid != 0) {
    const int channel = env_.channel_of(guest, relid);
    if (channel >= 0) lossy_channel_index_[static_cast<size_t>(channel)] = true;
  }
}

fabric::FaultAction Injector::At(const FaultPoint& point) {
  if (point.guest != 0 && point.relid != 0) {
    first_activity_ns_.emplace(std::make_pair(point.guest, point.relid), env_.sim->Now().nanoseconds());
  }
  for (const size_t i : by_site_[static_cast<size_t>(point.site)]) {
    Armed& a = armed_[i];
    if (a.firings >= a.max_firings) continue;
    if (std::optional<FaultAction> action = Decide(a, point)) return *action;
  }
  return {};
}

bool Injector::Eligible(Armed& a, const FaultPoint& point) {
  if (!TargetMatches(a, point.guest, point.relid, point.host_side)) return false;
  return Triggered(a, point.guest, point.relid);
}

std::optional<FaultAction> Injector::Decide(Armed& a, const FaultPoint& point) {
  const FaultKind kind = a.info->kind;
  const bool completion = point.packet_type == static_cast<uint16_t>(fabric::PacketType::kComp);
  // Conditions of the site itself, before the trigger (which may draw).
  switch (kind) {
    case FaultKind::kInterruptDrop:
    case FaultKind::kInterruptDelay:
    case FaultKind::kInterruptDuplicate:
      if (!SideAdmits(Str(a, "side"), point.site == FaultSite::kInterruptAtHost)) return std::nullopt;
      break;
    case FaultKind::kRingBadWriteIndex:
    case FaultKind::kRingBadDescriptorLength:
    case FaultKind::kRingBadDataOffset:
    case FaultKind::kRingBadPacketType:
    case FaultKind::kRingOversizePacket:
    case FaultKind::kRingZeroLengthPacket:
      if (!SideAdmits(Str(a, "reader"), point.host_side) || point.endpoint == nullptr) return std::nullopt;
      if (point.endpoint->failed()) return std::nullopt;
      break;
    case FaultKind::kRingReadIndexBackwards:
      if (!SideAdmits(Str(a, "side"), point.host_side) || point.endpoint == nullptr) return std::nullopt;
      break;
    case FaultKind::kCompletionDrop:
    case FaultKind::kCompletionDuplicate:
    case FaultKind::kCompletionLate:
    case FaultKind::kCompletionReorder:
    case FaultKind::kCompletionWrongTransId:
      if (!completion || !SideAdmits(Str(a, "side"), point.host_side)) return std::nullopt;
      break;
    case FaultKind::kMonitorLatencyJitter: {
      const fabric::ChannelAttachment* att = env_.fabric->attachment(point.guest, point.relid);
      if (att == nullptr || att->monitor_id == fabric::kMonitorIdNone) return std::nullopt;
      break;
    }
    case FaultKind::kEarlySignalDrop: {
      const auto it = first_activity_ns_.find({point.guest, point.relid});
      if (it == first_activity_ns_.end() || env_.sim->Now().nanoseconds() - it->second > Int(a, "window_ns")) {
        return std::nullopt;
      }
      break;
    }
    default:
      break;
  }
  if (!Eligible(a, point)) return std::nullopt;
  switch (kind) {
    case FaultKind::kSignalDrop:
    case FaultKind::kInterruptDrop:
    case FaultKind::kEarlySignalDrop:
      Fire(a, point.guest, point.relid);
      return FaultAction{.kind = Kind::kDrop};
    case FaultKind::kSignalDelay:
    case FaultKind::kInterruptDelay:
    case FaultKind::kMessageDelay: {
      const int64_t delay = Int(a, "delay_ns");
      Fire(a, point.guest, point.relid, 0, static_cast<uint64_t>(delay));
      return FaultAction{.kind = Kind::kDelay, .delay = sim::SimDuration::Nanoseconds(delay)};
    }
    case FaultKind::kSignalDuplicate:
    case FaultKind::kInterruptDuplicate:
      Fire(a, point.guest, point.relid);
      return FaultAction{.kind = Kind::kDuplicate};
    case FaultKind::kMonitorLatencyJitter: {
      const int64_t jitter = static_cast<int64_t>(a.prng.Below(static_cast<uint64_t>(Int(a, "jitter_ns")) + 1));
      Fire(a, point.guest, point.relid, 0, static_cast<uint64_t>(jitter));
      if (jitter == 0) return FaultAction{};
      return FaultAction{.kind = Kind::kDelay, .delay = sim::SimDuration::Nanoseconds(jitter)};
    }
    case FaultKind::kSignalThrottle: {
      // Windows follow each other from `start`; the doorbells counted fill
      // them in order, signals_max each, so one that waits is let through
      // in the first window with room and counts there (released at a
      // window's end, it must not leave another signals_max through).
      const int64_t now = env_.sim->Now().nanoseconds();
      const int64_t window = Int(a, "window_ns");
      const uint64_t max = static_cast<uint64_t>(Int(a, "signals_max"));
      auto& [start, count] = a.windows[{point.guest, point.relid}];
      const int64_t filled_until = start + window * static_cast<int64_t>((count + max - 1) / max);
      if (count == 0 || now >= filled_until) {
        start = now;
        count = 0;
      }
      const int64_t slot = start + window * static_cast<int64_t>(count / max);
      ++count;
      if (slot <= now) return std::nullopt;
      const int64_t wait = slot - now;
      Fire(a, point.guest, point.relid, 0, static_cast<uint64_t>(wait));
      return FaultAction{.kind = Kind::kDelay, .delay = sim::SimDuration::Nanoseconds(wait)};
    }
    case FaultKind::kMessageQueueFull:
    case FaultKind::kGpadlFailure:
    case FaultKind::kPacketAllocateFailure:
      Fire(a, point.guest, point.relid);
      return FaultAction{.kind = Kind::kFail};
    case FaultKind::kOpenFailure:
      Fire(a, point.guest, point.relid, 0, static_cast<uint64_t>(Int(a, "status")));
      return FaultAction{.kind = Kind::kFail, .value = static_cast<uint64_t>(Int(a, "status"))};
    case FaultKind::kRingBadWriteIndex:
    case FaultKind::kRingBadDescriptorLength:
    case FaultKind::kRingBadDataOffset:
    case FaultKind::kRingBadPacketType:
    case FaultKind::kRingOversizePacket:
    case FaultKind::kRingZeroLengthPacket:
    case FaultKind::kRingReadIndexBackwards:
      if (Corrupt(a, point)) Fire(a, point.guest, point.relid, point.trans_id);
      return FaultAction{};
    case FaultKind::kCompletionDrop:
      Fire(a, point.guest, point.relid, point.trans_id);
      dropped_.emplace(std::make_tuple(point.guest, point.relid, !point.host_side, point.trans_id), a.index);
      return FaultAction{.kind = Kind::kDrop};
    case FaultKind::kCompletionDuplicate:
      Fire(a, point.guest, point.relid, point.trans_id);
      return FaultAction{.kind = Kind::kDuplicate};
    case FaultKind::kCompletionLate: {
      const int64_t delay = Int(a, "delay_ns");
      Fire(a, point.guest, point.relid, point.trans_id, static_cast<uint64_t>(delay));
      return FaultAction{.kind = Kind::kDelay, .delay = sim::SimDuration::Nanoseconds(delay)};
    }
    case FaultKind::kCompletionReorder:
      Fire(a, point.guest, point.relid, point.trans_id);
      return FaultAction{.kind = Kind::kHold, .delay = sim::SimDuration::Nanoseconds(Int(a, "delay_ns"))};
    case FaultKind::kCompletionWrongTransId: {
      const uint64_t wrong = point.trans_id + static_cast<uint64_t>(Int(a, "offset"));
      Fire(a, point.guest, point.relid, point.trans_id, wrong);
      dropped_.emplace(std::make_tuple(point.guest, point.relid, !point.host_side, point.trans_id), a.index);
      return FaultAction{.kind = Kind::kRewrite, .value = wrong};
    }
    case FaultKind::kRescind: {
      // At a lifecycle site: the host driver is torn down right after the
      // event that reached the site (never from inside the server or the
      // data path).
      const int channel = env_.channel_of ? env_.channel_of(point.guest, point.relid) : -1;
      if (channel < 0 || !env_.stop_host_driver) return std::nullopt;
      Fire(a, point.guest, point.relid, point.trans_id);
      StopHostDriverSoon(channel);
      return FaultAction{};
    }
    default:
      return std::nullopt;
  }
}

bool Injector::Corrupt(Armed& a, const FaultPoint& point) {
  const FaultKind kind = a.info->kind;
  if (kind == FaultKind::kRingReadIndexBackwards) {
    // The reading peer rewrites the read index of the ring this endpoint writes.
    const fabric::RingMemory& memory = point.endpoint->writer().memory();
    const uint32_t size = memory.data_size_bytes();
    const uint32_t back = static_cast<uint32_t>(std::min<int64_t>(Int(a, "bytes"), size - 8)) & ~7u;
    const uint32_t read = fabric::LoadControlWord(memory.control_page(), fabric::ControlWord::kReadIndex);
    if (!memory.IsValidIndex(read) || back == 0) return false;
    fabric::StoreControlWord(memory.control_page(), fabric::ControlWord::kReadIndex, (read + size - back) % size);
    return true;
  }
  // The writing peer corrupts the ring this endpoint is about to read.
  const fabric::RingReader& reader = point.endpoint->reader();
  const fabric::RingMemory& memory = reader.memory();
  uint8_t* control = memory.control_page();
  const uint32_t size = memory.data_size_bytes();
  if (kind == FaultKind::kRingBadWriteIndex) {
    fabric::StoreControlWord(control, fabric::ControlWord::kWriteIndex, size + 8);
    return true;
  }
  const uint32_t write = fabric::LoadControlWord(control, fabric::ControlWord::kWriteIndex);
  const uint32_t cursor = reader.read_cursor_index();
  if (!memory.IsValidIndex(write) || write == cursor) return false;  // Nothing unread to corrupt.
  std::array<uint8_t, kDescriptorBytes> d{};
  memory.ReadData(cursor, absl::MakeSpan(d));
  auto store16 = [&d](size_t offset, uint16_t value) {
    d[offset] = static_cast<uint8_t>(value);
    d[offset + 1] = static_cast<uint8_t>(value >> 8);
  };
  switch (kind) {
    case FaultKind::kRingBadDescriptorLength:
      store16(2, 2);  // offset8: just past the descriptor ...
      store16(4, 1);  // ... len8: shorter than that.
      break;
    case FaultKind::kRingBadDataOffset:
      store16(2, 1);  // Inside the 16-byte descriptor.
      break;
    case FaultKind::kRingBadPacketType:
      store16(0, 0x77);
      break;
    case FaultKind::kRingOversizePacket:
      store16(4, static_cast<uint16_t>(std::min<uint32_t>(size / 8 + 1, 0xFFFF)));
      break;
    case FaultKind::kRingZeroLengthPacket:
      store16(2, 0);
      store16(4, 0);
      break;
    default:
      return false;
  }
  memory.WriteData(cursor, absl::MakeConstSpan(d));
  return true;
}

void Injector::RunAction(size_t index) {
  Armed& a = armed_[index];
  if (a.spec->trigger.kind == "at_ns") {
    if (a.executions >= a.max_firings) return;
    ++a.executions;
  }
  fabric::Fabric& fab = *env_.fabric;
  switch (a.info->kind) {
    case FaultKind::kSpuriousSignal:
    case FaultKind::kMonitorLatencyChange: {
      if (!env_.attached) return;
      for (const auto& [guest, relid] : env_.attached()) {
        const int channel = env_.channel_of ? env_.channel_of(guest, relid) : -1;
        if (!ChannelMatches(a, channel) &&
            !(a.spec->target.kind == "partition" && a.spec->target.partition == guest)) {
          continue;
        }
        if (a.info->kind == FaultKind::kSpuriousSignal) {
          const std::string& side = Str(a, "side");
          bool rang = false;
          if (side != "guest") rang |= fab.RingDoorbell(guest, relid, /*host_end=*/true);
          if (side != "host") rang |= fab.RingDoorbell(guest, relid, /*host_end=*/false);
          if (rang) Fire(a, guest, relid);
          continue;
        }
        const fabric::ChannelAttachment* att = fab.attachment(guest, relid);
        if (att == nullptr || att->monitor_id == fabric::kMonitorIdNone) continue;
        const uint16_t latency = static_cast<uint16_t>(Int(a, "latency_100ns"));
        if (fab.monitor_page(guest).SetLatency(att->monitor_id, latency).ok()) Fire(a, guest, relid, 0, latency);
      }
      return;
    }
    case FaultKind::kVpStall: {
      const sim::SimDuration duration = sim::SimDuration::Nanoseconds(Int(a, "duration_ns"));
      const uint32_t vp = static_cast<uint32_t>(Int(a, "vp"));
      for (const uint16_t p : Partitions(a)) {
        if (p > fab.guest_count()) continue;
        fabric::Partition& part = p == 0 ? fab.root() : fab.guest(p);
        part.vp(vp % part.vp_count()).Stall(duration);
        Fire(a, p, 0, 0, static_cast<uint64_t>(duration.nanoseconds()));
      }
      return;
    }
    case FaultKind::kHostCrash:
    case FaultKind::kRescind: {
      for (size_t c = 0; c < spec_.channels.size(); ++c) {
        if (!ChannelMatches(a, static_cast<int>(c)) || !env_.stop_host_driver) continue;
        if (!env_.stop_host_driver(static_cast<int>(c))) continue;
        Fire(a, spec_.channels[c].guest, 0, 0, c);
        lossy_channel_index_[c] = true;
        lossy_by_guest_.emplace(spec_.channels[c].guest, a.index);
        if (a.info->kind != FaultKind::kHostCrash || !env_.start_host_driver) continue;
        InjectorEnvironment* env = &env_;
        struct Restart {
          InjectorEnvironment* env;
          int channel;
          void operator()() const { env->start_host_driver(channel); }
        };
        env_.sim->ScheduleAfter(sim::SimDuration::Nanoseconds(Int(a, "restart_ns")),
                                Restart{env, static_cast<int>(c)});
      }
      return;
    }
    case FaultKind::kGuestReset: {
      const int64_t reboot_ns = Int(a, "reboot_ns");
      for (const uint16_t guest : Partitions(a)) {
        if (guest == 0 || !env_.reset_guest || !env_.reset_guest(guest, reboot_ns)) continue;
        Fire(a, guest, 0, 0, static_cast<uint64_t>(reboot_ns));
        // What the old drivers had in flight never finishes, on every
        // channel of the guest.
        lossy_by_guest_.emplace(guest, a.index);
        for (size_t c = 0; c < spec_.channels.size(); ++c) {
          if (spec_.channels[c].guest == guest) lossy_channel_index_[c] = true;
        }
      }
      return;
    }
    case FaultKind::kSaveRestore: {
      for (size_t c = 0; c < spec_.channels.size(); ++c) {
        if (!ChannelMatches(a, static_cast<int>(c)) || !env_.save_host_driver) continue;
        if (!env_.save_host_driver(static_cast<int>(c), Int(a, "save_ns"))) continue;
        Fire(a, spec_.channels[c].guest, 0, 0, c);
        // The guest sees the saved channel rescinded and the restored one
        // offered: what it had in flight fails, and it may not reopen.
        lossy_channel_index_[c] = true;
        lossy_by_guest_.emplace(spec_.channels[c].guest, a.index);
        OnSaveBegun(static_cast<int>(c));
      }
      return;
    }
    default:
      return;
  }
}

std::vector<uint16_t> Injector::Partitions(const Armed& a) const {
  std::vector<uint16_t> partitions;
  const scenario::FaultTargetSpec& t = a.spec->target;
  if (t.kind == "partition") {
    partitions.push_back(t.partition);
  } else if (t.kind == "all") {
    for (uint16_t p = 0; p <= env_.fabric->guest_count(); ++p) partitions.push_back(p);
  } else {
    for (size_t c = 0; c < spec_.channels.size(); ++c) {
      if (ChannelMatches(a, static_cast<int>(c))) partitions.push_back(spec_.channels[c].guest);
    }
    std::sort(partitions.begin(), partitions.end());
    partitions.erase(std::unique(partitions.begin(), partitions.end()), partitions.end());
  }
  return partitions;
}

void Injector::OnSaveBegun(int channel) {
  const uint16_t guest = spec_.channels[static_cast<size_t>(channel)].guest;
  for (Armed& a : armed_) {
    if (a.info->kind != FaultKind::kRescind || Str(a, "step") != "save" || a.firings >= a.max_firings) continue;
    if (!ChannelMatches(a, channel) || !Triggered(a, guest, 0)) continue;
    // The host driver is torn down while its save is in progress: after
    // the save has begun, before it ends.
    Fire(a, guest, 0, 0, static_cast<uint64_t>(channel));
    lossy_channel_index_[static_cast<size_t>(channel)] = true;
    lossy_by_guest_.emplace(guest, a.index);
    StopHostDriverSoon(channel);
  }
}

void Injector::StopHostDriverSoon(int channel) {
  struct Stop {
    InjectorEnvironment* env;
    int channel;
    void operator()() const { env->stop_host_driver(channel); }
  };
  env_.sim->ScheduleAt(env_.sim->Now(), Stop{&env_, channel});
}

std::vector<uint64_t> Injector::firings() const {
  std::vector<uint64_t> out;
  for (const Armed& a : armed_) out.push_back(a.firings);
  return out;
}

uint64_t Injector::total_firings() const {
  uint64_t total = 0;
  for (const Armed& a : armed_) total += a.firings;
  return total;
}

std::optional<size_t> Injector::LossyFaultFor(uint16_t guest, uint32_t relid) const {
  if (relid != 0) {
    const auto it = lossy_by_channel_.find({guest, relid});
    if (it != lossy_by_channel_.end()) return it->second;
    // A rescind or crash names the channel by its spec index, not its relid.
    if (env_.channel_of) {
      const int channel = env_.channel_of(guest, relid);
      if (channel >= 0 && lossy_channel_index_[static_cast<size_t>(channel)]) {
        const auto g = lossy_by_guest_.find(guest);
        if (g != lossy_by_guest_.end()) return g->second;
      }
    }
    return std::nullopt;
  }
  const auto it = lossy_by_guest_.find(guest);
  if (it != lossy_by_guest_.end()) return it->second;
  return std::nullopt;
}

std::optional<size_t> Injector::DroppedTransaction(uint16_t guest, uint32_t relid, bool sender_is_host,
                                                   uint64_t trans_id) const {
  const auto it = dropped_.find({guest, relid, sender_is_host, trans_id});
  if (it == dropped_.end()) return std::nullopt;
  return it->second;
}

bool Injector::LossyOnChannel(int index) const {
  return index >= 0 && static_cast<size_t>(index) < lossy_channel_index_.size() &&
         lossy_channel_index_[static_cast<size_t>(index)];
}

}  // namespace vmbsim::faults
