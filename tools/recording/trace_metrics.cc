#include "tools/recording/trace_metrics.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmcl/trace_kinds.h"

namespace vmbsim::recording {
namespace {

void MergeInto(DirectionFigures& to, const DirectionFigures& from) {
  to.sent += from.sent;
  to.bytes_sent += from.bytes_sent;
  to.finished += from.finished;
  to.latency_ns.Merge(from.latency_ns);
  to.batches += from.batches;
  to.packets_read += from.packets_read;
}

}  // namespace

std::vector<uint16_t> TraceMetrics::Kinds() const {
  return {kmcl::kKmclSendTraceKind, kmcl::kKmclFinishTraceKind, kmcl::kKmclBatchTraceKind};
}

void TraceMetrics::OnRecord(const sim::TraceRecord& r) {
  if (r.kind != kmcl::kKmclSendTraceKind && r.kind != kmcl::kKmclFinishTraceKind &&
      r.kind != kmcl::kKmclBatchTraceKind) {
    return;
  }
  const bool host = r.partition == 0;
  HandleFigures& h = handles_[r.id0];
  if (h.relid.second == 0 && r.channel != 0) h.relid = {static_cast<uint16_t>(r.size1 & 0xFFFF), r.channel};
  switch (r.kind) {
    case kmcl::kKmclSendTraceKind: {
      DirectionFigures& d = host ? h.host_to_guest : h.guest_to_host;
      ++d.sent;
      d.bytes_sent += r.size0;
      in_flight_[{r.id0, r.id1}] = r.time.nanoseconds();
      break;
    }
    case kmcl::kKmclFinishTraceKind: {
      DirectionFigures& d = host ? h.host_to_guest : h.guest_to_host;
      const auto it = in_flight_.find({r.id0, r.id1});
      if (it == in_flight_.end()) break;  // Its send is not in the trace.
      ++d.finished;
      d.latency_ns.Record(std::max<int64_t>(0, r.time.nanoseconds() - it->second));
      in_flight_.erase(it);
      break;
    }
    default: {
      // A drain batch of the reader: the host reads what the guest sent.
      DirectionFigures& d = host ? h.guest_to_host : h.host_to_guest;
      ++d.batches;
      d.packets_read += r.size0;
      break;
    }
  }
}

std::optional<std::pair<uint16_t, uint32_t>> TraceMetrics::RelidOf(uint64_t handle) const {
  const auto it = handles_.find(handle);
  if (it == handles_.end() || it->second.relid.second == 0) return std::nullopt;
  return it->second.relid;
}

std::vector<ChannelFigures> TraceMetrics::Channels(const std::vector<TraceChannelInfo>& channels) const {
  // Both ends' handles of a channel add up under its (guest, relid).
  std::map<std::pair<uint16_t, uint32_t>, ChannelFigures> relids;
  for (const auto& [handle, h] : handles_) {
    ChannelFigures& c = relids[h.relid];
    MergeInto(c.guest_to_host, h.guest_to_host);
    MergeInto(c.host_to_guest, h.host_to_guest);
  }
  std::vector<ChannelFigures> out;
  std::set<std::pair<uint16_t, uint32_t>> named;
  for (const TraceChannelInfo& c : channels) {
    ChannelFigures figures{.name = c.name};
    for (uint32_t relid : c.relids) {
      named.insert({c.guest, relid});
      const auto it = relids.find({c.guest, relid});
      if (it == relids.end()) continue;
      MergeInto(figures.guest_to_host, it->second.guest_to_host);
      MergeInto(figures.host_to_guest, it->second.host_to_guest);
    }
    out.push_back(std::move(figures));
  }
  for (auto& [key, figures] : relids) {
    if (named.contains(key)) continue;
    figures.name = key.second == 0 ? "(channels that never opened)" : absl::StrCat("g", key.first, "/r", key.second);
    out.push_back(std::move(figures));
  }
  return out;
}

std::string CompareFigures(const std::vector<ChannelFigures>& a, const std::vector<ChannelFigures>& b,
                           const std::string& label_a, const std::string& label_b) {
  // Channels by name, in a's order then b's extra ones.
  std::vector<std::string> names;
  for (const ChannelFigures& c : a) names.push_back(c.name);
  for (const ChannelFigures& c : b) {
    if (std::find(names.begin(), names.end(), c.name) == names.end()) names.push_back(c.name);
  }
  const auto find = [](const std::vector<ChannelFigures>& list, const std::string& name) -> const ChannelFigures* {
    for (const ChannelFigures& c : list) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  std::string out = absl::StrFormat("%-34s %16s %16s %10s\n", "channel / figure", label_a, label_b, "change");
  const auto row = [&out](const std::string& what, double x, double y, bool integer) {
    const std::string change =
        x == y ? "=" : (x == 0 ? "new" : absl::StrFormat("%+.1f%%", 100.0 * (y - x) / x));
    if (integer) {
      absl::StrAppendFormat(&out, "  %-32s %16.0f %16.0f %10s\n", what, x, y, change);
    } else {
      absl::StrAppendFormat(&out, "  %-32s %16.3f %16.3f %10s\n", what, x, y, change);
    }
  };
  const DirectionFigures empty;
  for (const std::string& name : names) {
    const ChannelFigures* x = find(a, name);
    const ChannelFigures* y = find(b, name);
    absl::StrAppend(&out, name, x == nullptr ? " (only in " + label_b + ")" : "",
                    y == nullptr ? " (only in " + label_a + ")" : "", "\n");
    for (int direction = 0; direction < 2; ++direction) {
      const auto pick = [direction, &empty](const ChannelFigures* c) -> const DirectionFigures& {
        if (c == nullptr) return empty;
        return direction == 0 ? c->guest_to_host : c->host_to_guest;
      };
      const DirectionFigures& dx = pick(x);
      const DirectionFigures& dy = pick(y);
      const std::string d = direction == 0 ? "guest->host " : "host->guest ";
      if (dx.sent != 0 || dy.sent != 0) {
        row(d + "packets", static_cast<double>(dx.sent), static_cast<double>(dy.sent), true);
        row(d + "bytes", static_cast<double>(dx.bytes_sent), static_cast<double>(dy.bytes_sent), true);
      }
      if (dx.finished != 0 || dy.finished != 0) {
        const sim::Histogram::PercentileSummary px = dx.latency_ns.Percentiles();
        const sim::Histogram::PercentileSummary py = dy.latency_ns.Percentiles();
        row(d + "latency p50 (us)", px.p50 / 1e3, py.p50 / 1e3, false);
        row(d + "latency p99 (us)", px.p99 / 1e3, py.p99 / 1e3, false);
        row(d + "latency p99.9 (us)", px.p999 / 1e3, py.p999 / 1e3, false);
        row(d + "latency mean (us)", dx.latency_ns.mean() / 1e3, dy.latency_ns.mean() / 1e3, false);
      }
      if (dx.batches != 0 || dy.batches != 0) {
        row(d + "reader batches", static_cast<double>(dx.batches), static_cast<double>(dy.batches), true);
        row(d + "packets per batch", dx.packets_per_batch(), dy.packets_per_batch(), false);
      }
    }
  }
  return out;
}

}  // namespace vmbsim::recording
