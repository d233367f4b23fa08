#include "tools/scenario/timeline.h"

#include <algorithm>
#include <fstream>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/check.h"
#include "kmcl/trace_kinds.h"
#include "sim/fabric/trace_kinds.h"
#include "tools/faults/catalogue.h"
#include "tools/scenario/gzip.h"

namespace vmbsim::scenario {
namespace {

using fabric::FabricTraceKind;
using fabric::TraceKind;

// The KMCL layer's records (kmcl/trace_kinds.h): in each, id0 is the channel
// handle and size1's low 16 bits name the guest, except in the state record.

constexpr uint16_t kRootPartition = 0;
constexpr uint16_t kDefaultGuest = 1;   // The host-side ring owner until a record names one.
constexpr uint64_t kIrqlDispatch = 2;   // fabric::Irql::kDispatch.
constexpr uint64_t kIrqlInterrupt = 3;  // fabric::Irql::kInterrupt.

// Microseconds with nanosecond precision, from integer nanoseconds, in the
// fewest characters that keep every digit: "12.345", "12.3", "12".
std::string Micros(int64_t ns) {
  const uint64_t magnitude = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  std::string out = absl::StrCat(ns < 0 ? "-" : "", magnitude / 1000);
  uint64_t fraction = magnitude % 1000;
  if (fraction == 0) return out;
  int digits = 3;
  while (fraction % 10 == 0) {
    fraction /= 10;
    --digits;
  }
  absl::StrAppendFormat(&out, ".%0*d", digits, fraction);
  return out;
}

// A channel as a person names it: "g1/r3" (relids repeat across guests);
// "g1" for a send made before its channel had a relid.
std::string ChannelName(uint64_t guest_relid) {
  const uint32_t relid = static_cast<uint32_t>(guest_relid & 0xFFFFFFFF);
  const uint64_t guest = guest_relid >> 32;
  return relid == 0 ? absl::StrCat("\"g", guest, "\"") : absl::StrCat("\"g", guest, "/r", relid, "\"");
}

uint64_t GuestRelid(uint16_t guest, uint32_t relid) { return uint64_t{guest} << 32 | relid; }

// A JSON string literal: quotes, backslashes and control characters escaped;
// other bytes (UTF-8) pass through.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string ProcessName(uint16_t pid) {
  return pid == kRootPartition ? std::string("root") : absl::StrCat("guest ", pid);
}

}  // namespace

TimelineWriter::TimelineWriter(uint64_t max_events) : max_events_(max_events) {}

bool TimelineWriter::Add(const Event& event) {
  // Outside the window: followed (counters and flows stay right) but not kept.
  if (event.ts_ns < window_from_ns_ || event.ts_ns > window_to_ns_) return false;
  VMBSIM_CHECK_LE(events_.size(), max_events_);  // The bound below is never passed.
  if (events_.size() == max_events_) {
    truncated_ = true;
    return false;
  }
  events_.push_back(event);
  processes_.insert(event.pid);
  // Counters belong to the process; the rest sit on a VP's thread.
  if (event.type != Type::kRing) threads_.insert({event.pid, event.tid});
  return true;
}

uint16_t TimelineWriter::GuestOfRelid(uint32_t relid) const {
  auto it = relid_guest_.find(relid);
  return it == relid_guest_.end() ? kDefaultGuest : it->second;
}

void TimelineWriter::Learn(uint64_t handle, uint16_t guest, uint32_t relid, bool host) {
  // A send made before its channel opened carries no relid yet.
  if (relid == 0 || guest == kRootPartition) return;
  relid_guest_[relid] = guest;
  handles_[{guest, relid, host}] = handle;
}

void TimelineWriter::OnRecord(const sim::TraceRecord& r) {
  if (truncated_) return;  // The bound was reached: the rest of the run is not collected.
  if (channel_.has_value() && r.channel != 0 && r.channel != *channel_) return;
  const int64_t ts_ns = r.time.nanoseconds();
  if (r.kind == TraceKind(FabricTraceKind::kVpWorkEnd)) {
    // The record is stamped at the item's end and carries its busy time.
    // (Records may come from a trace file: a busy time past int64 or the
    // item's end is damage, and is not drawn.)
    const int64_t busy_ns = static_cast<int64_t>(r.size0);
    if (busy_ns < 0 || busy_ns > ts_ns) return;
    const int64_t start_ns = ts_ns - busy_ns;
    // Preemption (fabric::Preemption::kPacket): an item of a higher level that
    // starts inside an item in progress on the same VP preempts it, and every
    // item in progress there ends later by its duration (the VP's spans). The
    // record of a preempted item carries its own busy time, stamped before
    // the preemption happened, so the slice is stretched here: it encloses
    // the slices that preempted it, as the VP's time did.
    std::vector<OpenSlice>& open = open_slices_[{r.partition, r.vp}];
    while (!open.empty() && open.back().end_ns <= start_ns) open.pop_back();
    if (!open.empty() && open.back().irql < r.id0) {
      for (OpenSlice& outer : open) {
        outer.end_ns += busy_ns;
        if (outer.index != kNotKept) events_[outer.index].a[0] += r.size0;
      }
    } else {
      open.clear();  // Not a preemption (only damaged records overlap so).
    }
    const bool kept =
        Add({.ts_ns = start_ns, .a = {r.size0, r.id0}, .tid = r.vp, .pid = r.partition, .type = Type::kSlice});
    if (busy_ns > 0) open.push_back({kept ? events_.size() - 1 : kNotKept, ts_ns, r.id0});
  } else if (r.kind == TraceKind(FabricTraceKind::kRingWrite)) {
    OnRingRecord(r, /*write=*/true);
  } else if (r.kind == TraceKind(FabricTraceKind::kRingRead)) {
    OnRingRecord(r, /*write=*/false);
  } else if (r.kind == TraceKind(FabricTraceKind::kInterrupt)) {
    Add({.ts_ns = ts_ns, .a = {r.id0}, .tid = r.vp, .pid = r.partition, .type = Type::kInterrupt});
  } else if (r.kind >= kmcl::kKmclStateTraceKind && r.kind <= kmcl::kKmclBatchTraceKind) {
    OnKmclRecord(r);
  } else if (r.kind == faults::kFaultFiredTraceKind) {
    Add({.ts_ns = ts_ns, .a = {r.id0, r.id1, r.size0, r.size1}, .tid = r.vp, .pid = r.partition, .type = Type::kFault});
  } else if (r.kind == faults::kFaultStuckTraceKind) {
    Add({.ts_ns = ts_ns, .a = {r.size0, r.size1}, .pid = r.partition, .type = Type::kStuck});
  }
}

void TimelineWriter::OnRingRecord(const sim::TraceRecord& r, bool write) {
  const bool from_guest = r.partition != kRootPartition;
  if (from_guest && r.channel != 0) relid_guest_[r.channel] = r.partition;
  const uint16_t guest = from_guest ? r.partition : GuestOfRelid(r.channel);
  // A writer fills the ring toward its peer; a reader drains the ring from it.
  const bool to_host = write ? from_guest : !from_guest;
  auto [it, inserted] = ring_index_.try_emplace({guest, r.channel, to_host}, rings_.size());
  if (inserted) {
    // The counter sits in the guest's process, so its name need not repeat the guest.
    rings_.push_back(Ring{.name = absl::StrFormat("ring r%d to %s", r.channel, to_host ? "host" : "guest")});
  }
  Ring& ring = rings_[it->second];
  const int64_t bytes = static_cast<int64_t>(r.size0);
  ring.occupancy_bytes += write ? bytes : -bytes;
  Add({.ts_ns = r.time.nanoseconds(),
       .a = {it->second, static_cast<uint64_t>(ring.occupancy_bytes)},
       .pid = guest,
       .type = Type::kRing});
}

void TimelineWriter::OnKmclRecord(const sim::TraceRecord& r) {
  const bool host = r.partition == kRootPartition;
  const uint64_t handle = r.id0;
  if (r.kind == kmcl::kKmclStateTraceKind) {
    if (!host) Learn(handle, r.partition, r.channel, /*host=*/false);
    return;
  }
  const uint16_t guest = static_cast<uint16_t>(r.size1 & 0xFFFF);
  Learn(handle, guest, r.channel, host);
  const int64_t ts_ns = r.time.nanoseconds();
  switch (r.kind) {
    case kmcl::kKmclSendTraceKind: {
      // A reused (handle, trans id) starts a new flow; the old one stays open.
      const uint64_t id = flow_id_next_++;
      if (Add({.ts_ns = ts_ns, .a = {id, GuestRelid(guest, r.channel), r.id1, r.size0}, .tid = r.vp,
               .pid = r.partition,
               .type = Type::kFlowStart})) {
        flows_[{handle, r.id1}] = Flow{.id = id};
      }
      break;
    }
    case kmcl::kKmclDeliverTraceKind: {
      const uint64_t passive = (r.size1 >> 16) & 1;
      if (!Add({.ts_ns = ts_ns, .a = {GuestRelid(guest, r.channel), r.id1, r.size0, passive}, .tid = r.vp,
                .pid = r.partition, .type = Type::kDeliver})) {
        break;
      }
      // The sender is the other side of this channel.
      auto peer = handles_.find({guest, r.channel, !host});
      if (peer == handles_.end()) break;
      auto flow = flows_.find({peer->second, r.id1});
      if (flow == flows_.end() || flow->second.stepped) break;
      if (Add({.ts_ns = ts_ns, .a = {flow->second.id}, .tid = r.vp, .pid = r.partition,
               .type = Type::kFlowStep})) {
        flow->second.stepped = true;
        flow->second.step_index = events_.size() - 1;
      }
      break;
    }
    case kmcl::kKmclFinishTraceKind: {
      auto flow = flows_.find({handle, r.id1});
      if (flow == flows_.end()) break;
      if (Add({.ts_ns = ts_ns, .a = {flow->second.id, r.size0}, .tid = r.vp, .pid = r.partition,
               .type = Type::kFlowEnd})) {
        if (flow->second.stepped) {
          Event& step = events_[flow->second.step_index];
          VMBSIM_CHECK(step.type == Type::kFlowStep);
          VMBSIM_CHECK_EQ(step.a[0], flow->second.id);
          // Local clocks of two VPs: the finish may be stamped before the
          // delivery it followed in the model.
          if (step.ts_ns > ts_ns) step.type = Type::kDropped;
        }
        flows_.erase(flow);
      }
      break;
    }
    case kmcl::kKmclBatchTraceKind:
      Add({.ts_ns = ts_ns, .a = {GuestRelid(guest, r.channel), r.size0}, .tid = r.vp, .pid = r.partition,
           .type = Type::kBatchEnd});
      break;
    default:
      break;
  }
}

std::string TimelineWriter::ToJson() const {
  std::string out;
  out.reserve(256 + 80 * events_.size());
  absl::StrAppend(&out, "{\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"scenario\":", Quote(scenario_),
                  ",\"truncated\":", truncated_ ? "true" : "false", ",\"events\":", events_.size(),
                  ",\"max_events\":", max_events_, "},\n\"traceEvents\":[\n");
  bool first = true;
  auto line = [&](const std::string& event) {
    if (!first) out += ",\n";
    first = false;
    out += event;
  };
  for (const uint16_t pid : processes_) {
    line(absl::StrCat("{\"ph\":\"M\",\"pid\":", pid, ",\"name\":\"process_name\",\"args\":{\"name\":",
                      Quote(ProcessName(pid)), "}}"));
    line(absl::StrCat("{\"ph\":\"M\",\"pid\":", pid,
                      ",\"name\":\"process_sort_index\",\"args\":{\"sort_index\":", pid, "}}"));
  }
  for (const auto& [pid, tid] : threads_) {
    line(absl::StrCat("{\"ph\":\"M\",\"pid\":", pid, ",\"tid\":", tid,
                      ",\"name\":\"thread_name\",\"args\":{\"name\":\"VP ", tid, "\"}}"));
  }

  // Slices are collected at their end; order everything by start time, ties
  // in arrival order. Each event carries only what the viewers need and what
  // its name does not already say: no "cat", the default instant scope
  // ("s":"t") left out, a counter without a thread, a status only when it
  // is not success.
  std::vector<size_t> order(events_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [this](size_t x, size_t y) { return events_[x].ts_ns < events_[y].ts_ns; });
  for (const size_t index : order) {
    const Event& e = events_[index];
    const std::string where = absl::StrCat("\"pid\":", e.pid, ",\"tid\":", e.tid, ",\"ts\":", Micros(e.ts_ns));
    switch (e.type) {
      case Type::kSlice: {
        const uint64_t irql = e.a[1];
        const bool named = irql == kIrqlInterrupt || irql == kIrqlDispatch || irql == 0;
        line(absl::StrCat("{\"ph\":\"X\",", where, ",\"dur\":", Micros(static_cast<int64_t>(e.a[0])),
                          ",\"name\":\"",
                          irql == kIrqlInterrupt ? "ISR" : irql == kIrqlDispatch ? "DPC" : irql == 0 ? "passive" : "work",
                          named ? "\"}" : absl::StrCat("\",\"args\":{\"irql\":", irql, "}}")));
        break;
      }
      case Type::kRing:
        line(absl::StrCat("{\"ph\":\"C\",\"pid\":", e.pid, ",\"ts\":", Micros(e.ts_ns),
                          ",\"name\":", Quote(rings_[e.a[0]].name), ",\"args\":{\"bytes\":",
                          static_cast<int64_t>(e.a[1]), "}}"));
        break;
      case Type::kFlowStart:
        line(absl::StrCat("{\"ph\":\"s\",", where, ",\"name\":\"packet\",\"id\":", e.a[0],
                          ",\"args\":{\"ch\":", ChannelName(e.a[1]), ",\"trans\":", e.a[2], ",\"bytes\":", e.a[3],
                          "}}"));
        break;
      case Type::kFlowStep:
        line(absl::StrCat("{\"ph\":\"t\",", where, ",\"name\":\"packet\",\"id\":", e.a[0], "}"));
        break;
      case Type::kFlowEnd:
        line(absl::StrCat("{\"ph\":\"f\",\"bp\":\"e\",", where, ",\"name\":\"packet\",\"id\":", e.a[0],
                          e.a[1] == 0 ? std::string("}")
                                      : absl::StrFormat(",\"args\":{\"status\":\"0x%08x\"}}",
                                                        static_cast<uint32_t>(e.a[1]))));
        break;
      case Type::kDeliver:
        line(absl::StrCat("{\"ph\":\"i\",", where, ",\"name\":\"ProcessPacket\",\"args\":{\"ch\":",
                          ChannelName(e.a[0]), ",\"trans\":", e.a[1], ",\"bytes\":", e.a[2],
                          e.a[3] != 0 ? ",\"passive\":true}}" : "}}"));
        break;
      case Type::kInterrupt:
        line(absl::StrCat("{\"ph\":\"i\",", where, ",\"name\":\"interrupt\",\"args\":{\"sint\":", e.a[0],
                          "}}"));
        break;
      case Type::kBatchEnd:
        line(absl::StrCat("{\"ph\":\"i\",", where, ",\"name\":\"batch end\",\"args\":{\"ch\":",
                          ChannelName(e.a[0]), ",\"packets\":", e.a[1], "}}"));
        break;
      case Type::kFault: {
        const size_t kind = static_cast<size_t>(e.a[0]);
        const std::string name =
            kind < faults::Catalogue().size() ? faults::Catalogue()[kind].name : absl::StrCat("fault ", kind);
        line(absl::StrCat("{\"ph\":\"i\",\"s\":\"p\",", where, ",\"name\":", Quote(absl::StrCat("fault: ", name)),
                          ",\"args\":{\"injection\":", e.a[1], ",\"trans\":", e.a[2], ",\"detail\":", e.a[3],
                          "}}"));
        break;
      }
      case Type::kStuck:
        line(absl::StrCat("{\"ph\":\"i\",\"s\":\"g\",", where, ",\"name\":\"stuck\",\"args\":{\"idle_ns\":",
                          e.a[0], ",\"open_sends\":", e.a[1], "}}"));
        break;
      case Type::kDropped:
        break;
    }
  }
  out += "\n]}\n";
  return out;
}

std::string TimelineWriter::ToFileContents(absl::string_view path) const {
  return IsGzipPath(path) ? GzipCompress(ToJson()) : ToJson();
}

absl::Status TimelineWriter::WriteFile(const std::string& path) const {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return absl::UnavailableError(absl::StrCat("timeline ", path, ": cannot open for writing"));
  const std::string contents = ToFileContents(path);
  file.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  file.close();
  if (!file) return absl::DataLossError(absl::StrCat("timeline ", path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace vmbsim::scenario
