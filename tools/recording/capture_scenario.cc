#include "tools/recording/capture_scenario.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace vmbsim::recording {
namespace {

// The interface type every imported channel offers (a vmbsim GUID, as the
// library's "5ca1ab1e-..." types); the instance tells channels apart.
constexpr absl::string_view kImportInterfaceType = "5ca1ab1e-0000-4000-8000-00000000ca97";
constexpr size_t kEventsPerLine = 8;

// "1.234 ms" style, for summaries: exact to the microsecond.
std::string Millis(int64_t ns) {
  return absl::StrFormat("%d.%06d ms", ns / 1'000'000, ns % 1'000'000);
}

}  // namespace

CaptureChannel& ChannelNamed(Capture* capture, absl::string_view name) {
  for (CaptureChannel& channel : capture->channels) {
    if (channel.name == name) return channel;
  }
  capture->channels.push_back(CaptureChannel{.name = std::string(name)});
  return capture->channels.back();
}

bool IsChannelName(absl::string_view name) {
  if (name.empty() || name.size() > kChannelNameBytesMax) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; });
}

std::string NameFrom(absl::string_view text) {
  std::string name = absl::AsciiStrToLower(text.substr(0, kChannelNameBytesMax));
  for (char& c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) c = '_';
  }
  return name.empty() ? "capture" : name;
}

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", byte);
    } else if (byte >= 0x80) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string QuoteFound(absl::string_view text) {
  constexpr size_t kFoundBytesMax = 48;
  if (text.size() <= kFoundBytesMax) return JsonQuote(text);
  std::string quoted = JsonQuote(text.substr(0, kFoundBytesMax));
  quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

absl::StatusOr<std::string> ScenarioJsonFor(const Capture& capture, const ScenarioOptions& options) {
  if (capture.channels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(capture.source, ": no channel traffic in the capture; nothing to replay"));
  }
  if (capture.channels.size() > kChannelsMax) {
    return absl::InvalidArgumentError(absl::StrCat(capture.source, ": expected at most ", kChannelsMax,
                                                   " channels (the scenario format's limit), found ",
                                                   capture.channels.size()));
  }
  uint64_t requests = 0;
  uint64_t host_packets = 0;
  uint32_t guest_vps = 2;
  for (const CaptureChannel& channel : capture.channels) {
    requests += channel.requests.size();
    host_packets += channel.host_packets;
    if (channel.guest_target_vp.has_value()) guest_vps = std::max(guest_vps, *channel.guest_target_vp + 1);
    for (const CaptureRequest& request : channel.requests) {
      // The parsers check both; a spec built in code might not have.
      if (request.time_ns < 0 || request.time_ns > kCaptureSpanNsMax) {
        return absl::InvalidArgumentError(absl::StrCat(capture.source, ": channel ", channel.name, ": a request at ",
                                                       request.time_ns, " ns, outside 0..", kCaptureSpanNsMax));
      }
      if (request.bytes == 0 || request.bytes > options.max_packet_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(capture.source, ": channel ", channel.name, ": a request of ",
                                                       request.bytes, " bytes, outside 1..", options.max_packet_bytes,
                                                       " (max_packet_bytes)"));
      }
    }
  }
  if (options.start_ns < 0 || options.start_ns > kCaptureSpanNsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("start_ns: expected 0..", kCaptureSpanNsMax, ", found ", options.start_ns));
  }
  if (guest_vps > kGuestVpsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(capture.source, ": a channel interrupts guest VP ", guest_vps - 1, "; a scenario guest has at most ",
                     kGuestVpsMax, " VPs"));
  }

  std::string out;
  absl::StrAppend(&out, "{\n  \"name\": ", JsonQuote(options.name), ",\n");
  absl::StrAppend(&out, "  \"description\": ",
                  JsonQuote(absl::StrCat("Imported from ", capture.source, " (", capture.format, "): ",
                                         capture.channels.size(), " channel(s), ", requests,
                                         " guest-to-host request(s) replayed at their captured times and sizes; ",
                                         host_packets, " host-to-guest packet(s) counted, not replayed.")),
                  ",\n");
  absl::StrAppend(&out, "  \"seed\": 1,\n");
  absl::StrAppend(&out, "  \"fabric\": {\"root_vps\": 2, \"guests\": [{\"vps\": ", guest_vps, "}]},\n");
  absl::StrAppend(&out, "  \"channels\": [\n");
  for (size_t i = 0; i < capture.channels.size(); ++i) {
    const CaptureChannel& channel = capture.channels[i];
    absl::StrAppend(&out, "    {\"name\": ", JsonQuote(channel.name), ", \"interface_type\": \"", kImportInterfaceType,
                    "\", \"interface_instance\": \"", absl::StrFormat("00000000-0000-4000-8000-%012x", i + 1), "\",\n");
    absl::StrAppend(&out, "     \"host_driver\": {\"name\": \"echo_vsp\"}, \"guest_driver\": {\"name\": \"rr_vsc\"}, ",
                    "\"max_packet_bytes\": ", options.max_packet_bytes);
    if (channel.guest_target_vp.has_value()) absl::StrAppend(&out, ", \"guest_target_vp\": ", *channel.guest_target_vp);
    absl::StrAppend(&out, "}", i + 1 < capture.channels.size() ? "," : "", "\n");
  }
  absl::StrAppend(&out, "  ],\n");
  absl::StrAppend(&out, "  \"workloads\": [");
  bool first_workload = true;
  for (const CaptureChannel& channel : capture.channels) {
    if (channel.requests.empty()) continue;
    absl::StrAppend(&out, first_workload ? "\n" : ",\n");
    first_workload = false;
    absl::StrAppend(&out, "    {\"channel\": ", JsonQuote(channel.name), ", \"start_ns\": ", options.start_ns,
                    ", \"requests\": ", channel.requests.size(), ", \"arrival\": {\"kind\": \"trace\", \"events\": [");
    for (size_t k = 0; k < channel.requests.size(); ++k) {
      if (k % kEventsPerLine == 0) absl::StrAppend(&out, "\n      ");
      absl::StrAppend(&out, "[", channel.requests[k].time_ns, ", ", channel.requests[k].bytes, "]",
                      k + 1 < channel.requests.size() ? ", " : "");
    }
    absl::StrAppend(&out, "\n    ]}}");
    if (out.size() > kScenarioFileBytesMax) break;  // Reported below; no point going on.
  }
  absl::StrAppend(&out, first_workload ? "],\n" : "\n  ],\n");
  absl::StrAppend(&out, "  \"expectations\": {\"no_lost_packets\": true}\n}\n");
  if (out.size() > kScenarioFileBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(capture.source, ": the scenario would be more than ",
                                                   kScenarioFileBytesMax, " bytes (", requests,
                                                   " requests), the most a scenario file may have; import a part of "
                                                   "the capture"));
  }
  return out;
}

std::string CaptureSummary(const Capture& capture) {
  std::string out = absl::StrCat(capture.source, " (", capture.format, "): ", capture.lines, " line(s): ",
                                 capture.records, " record(s), ", capture.skipped_lines,
                                 " blank, comment or header, ", capture.unknown_lines, " unrecognised");
  uint64_t unknown_events = 0;
  for (const auto& [name, count] : capture.unknown_events) unknown_events += count;
  if (unknown_events != 0) {
    absl::StrAppend(&out, ", ", unknown_events, " event(s) of other kinds (");
    size_t shown = 0;
    for (const auto& [name, count] : capture.unknown_events) {
      if (shown == 8) {
        absl::StrAppend(&out, ", ...");
        break;
      }
      absl::StrAppend(&out, shown++ == 0 ? "" : ", ", name, " ", count);
    }
    absl::StrAppend(&out, ")");
  }
  absl::StrAppend(&out, "\n");
  if (!capture.events.empty()) {
    absl::StrAppend(&out, "  events:");
    for (const auto& [name, count] : capture.events) absl::StrAppend(&out, " ", name, " ", count);
    absl::StrAppend(&out, "\n");
  }
  for (const CaptureChannel& channel : capture.channels) {
    absl::StrAppend(&out, "  channel ", channel.name);
    if (channel.relid.has_value()) absl::StrAppendFormat(&out, " (relid 0x%x)", *channel.relid);
    absl::StrAppend(&out, ": ", channel.requests.size(), " request(s) to replay");
    if (!channel.requests.empty()) {
      uint32_t smallest = channel.requests.front().bytes;
      uint32_t largest = smallest;
      uint64_t bytes = 0;
      for (const CaptureRequest& r : channel.requests) {
        smallest = std::min(smallest, r.bytes);
        largest = std::max(largest, r.bytes);
        bytes += r.bytes;
      }
      absl::StrAppend(&out, " (", bytes, " bytes, ", smallest, "..", largest, " each, at ",
                      Millis(channel.requests.front().time_ns), "..", Millis(channel.requests.back().time_ns), ")");
    }
    absl::StrAppend(&out, "; counted only: ", channel.host_packets, " host-to-guest packet(s)");
    if (channel.host_bytes != 0) absl::StrAppend(&out, " (", channel.host_bytes, " bytes)");
    absl::StrAppend(&out, ", ", channel.guest_completions, " guest completion(s), ", channel.signals, " signal(s)");
    if (channel.guest_target_vp.has_value()) absl::StrAppend(&out, "; guest target VP ", *channel.guest_target_vp);
    absl::StrAppend(&out, "\n");
  }
  for (const std::string& note : capture.notes) absl::StrAppend(&out, "  ", note, "\n");
  return out;
}

}  // namespace vmbsim::recording
