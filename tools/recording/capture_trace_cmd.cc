#include "tools/recording/capture_trace_cmd.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace vmbsim::recording {
namespace {

// The field layout of each known event, as its TP_printk prints it, in a
// small pattern language: literal text, where one blank matches one or
// more blanks, and fields:
//   {x}  hex digits (the format writes the "0x" itself: "0x{x}")
//   {#x} "0" or "0x" and hex digits (printf's %#x)
//   {d}  a decimal integer, maybe negative      {u}  decimal digits
//   {g}  a GUID, 8-4-4-4-12 hex digits          {s}  a run of non-blanks
struct EventFormat {
  absl::string_view system;  // "hyperv" or "netvsc" (perf script's prefix).
  absl::string_view pattern;
};

const std::map<std::string, EventFormat, std::less<>>& Formats() {
  static const auto* const formats = new std::map<std::string, EventFormat, std::less<>>{
      {"vmbus_on_msg_dpc", {"hyperv", "msgtype={u}"}},
      {"vmbus_on_message", {"hyperv", "msgtype={u}"}},
      {"vmbus_onoffer",
       {"hyperv",
        "child_relid 0x{x}, monitorid 0x{x}, is_dedicated {d}, connection_id 0x{x}, if_type {g}, if_instance {g}, "
        "chn_flags 0x{x}, mmio_megabytes {d}, sub_channel_index {d}"}},
      {"vmbus_onoffer_rescind", {"hyperv", "child_relid 0x{x}"}},
      {"vmbus_onopen_result", {"hyperv", "child_relid 0x{x}, openid {d}, status {d}"}},
      {"vmbus_ongpadl_created", {"hyperv", "child_relid 0x{x}, gpadl 0x{x}, creation_status {d}"}},
      {"vmbus_ongpadl_torndown", {"hyperv", "gpadl 0x{x}"}},
      {"vmbus_onversion_response", {"hyperv", "version_supported {d}"}},
      {"vmbus_request_offers", {"hyperv", "sending ret {d}"}},
      {"vmbus_open",
       {"hyperv", "sending child_relid 0x{x}, openid {d}, gpadlhandle 0x{x}, target_vp 0x{x}, offset 0x{x}, ret {d}"}},
      {"vmbus_close_internal", {"hyperv", "sending child_relid 0x{x}, ret {d}"}},
      {"vmbus_establish_gpadl_header",
       {"hyperv", "sending child_relid 0x{x}, gpadl 0x{x}, range_buflen {d} rangecount {d}, ret {d}"}},
      {"vmbus_establish_gpadl_body", {"hyperv", "sending msgnumber {d}, gpadl 0x{x}, ret {d}"}},
      {"vmbus_teardown_gpadl", {"hyperv", "sending child_relid 0x{x}, gpadl 0x{x}, ret {d}"}},
      {"vmbus_negotiate_version",
       {"hyperv", "sending vmbus_version_requested {d}, target_vcpu 0x{x}, pages {x}:{x}:{x}, ret {d}"}},
      {"vmbus_release_relid", {"hyperv", "sending child_relid 0x{x}, ret {d}"}},
      {"vmbus_send_tl_connect_request", {"hyperv", "sending guest_endpoint_id {g}, host_service_id {g}, ret {d}"}},
      {"vmbus_send_modifychannel", {"hyperv", "binding child_relid 0x{x} to target_vp 0x{x}, ret {d}"}},
      {"vmbus_chan_sched", {"hyperv", "relid 0x{x}"}},
      {"vmbus_setevent", {"hyperv", "relid 0x{x}"}},
      {"vmbus_on_event", {"hyperv", "relid 0x{x}"}},
      {"rndis_send", {"netvsc", "dev={s} q={u} req={#x} type={s} msg_len={u}"}},
      {"rndis_recv", {"netvsc", "dev={s} q={u} req={#x} type={s} msg_len={u}"}},
      {"nvsp_send", {"netvsc", "dev={s} type={s}"}},
      {"nvsp_send_pkt", {"netvsc", "dev={s} qid={u} type={s} section={u} size={d}"}},
      {"nvsp_recv", {"netvsc", "dev={s} qid={u} type={s}"}},
  };
  return *formats;
}

// A device name's share of a channel name: room for "-q" and 10 digits.
constexpr size_t kDeviceNameBytesMax = kChannelNameBytesMax - 12;

// The network interface type (netvsc's class id), lower case as %pUl prints it.
constexpr absl::string_view kNetworkInterfaceType = "f8615163-df3e-46c5-913f-f2d2f965ed0e";

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsHex(char c) { return absl::ascii_isxdigit(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }

// The pattern as the user reads it in a message.
std::string Readable(absl::string_view pattern) {
  std::string out(pattern);
  for (const auto& [field, shown] : std::vector<std::pair<std::string, std::string>>{
           {"{#x}", "<hex>"}, {"{x}", "<hex>"}, {"{d}", "<int>"}, {"{u}", "<uint>"}, {"{g}", "<guid>"}, {"{s}", "<word>"}}) {
    out = absl::StrReplaceAll(out, {{field, shown}});
  }
  return out;
}

// Matches `text` against `pattern` (see EventFormat); on success returns the
// fields' texts in order ("{#x}" without its "0x"), else sets `*failed_at`
// to where in `text` the match went wrong (the start of the field or literal
// that did not match).
std::optional<std::vector<absl::string_view>> Match(absl::string_view pattern, absl::string_view text,
                                                    size_t* failed_at) {
  std::vector<absl::string_view> fields;
  size_t t = 0;
  size_t p = 0;
  auto run = [&](auto accept) {
    const size_t begin = t;
    while (t < text.size() && accept(text[t])) ++t;
    return text.substr(begin, t - begin);
  };
  while (p < pattern.size()) {
    *failed_at = t;
    if (pattern[p] == '{') {
      const size_t close = pattern.find('}', p);
      const absl::string_view field = pattern.substr(p, close + 1 - p);
      p = close + 1;
      absl::string_view value;
      if (field == "{x}") {
        value = run(IsHex);
      } else if (field == "{u}") {
        value = run(IsDigit);
      } else if (field == "{d}") {
        const size_t begin = t;
        if (t < text.size() && text[t] == '-') ++t;
        if (run(IsDigit).empty()) return std::nullopt;
        value = text.substr(begin, t - begin);
      } else if (field == "{#x}") {
        if (absl::StartsWith(text.substr(t), "0x")) {
          t += 2;
          value = run(IsHex);
        } else if (t < text.size() && text[t] == '0') {
          value = text.substr(t++, 1);
        }
      } else if (field == "{g}") {
        const size_t begin = t;
        for (const size_t length : {8, 4, 4, 4, 12}) {
          if (t != begin) {
            if (t >= text.size() || text[t] != '-') return std::nullopt;
            ++t;
          }
          if (run(IsHex).size() != length) return std::nullopt;
        }
        value = text.substr(begin, t - begin);
      } else {  // {s}
        value = run([](char c) { return !IsBlank(c); });
      }
      if (value.empty()) return std::nullopt;
      fields.push_back(value);
    } else if (pattern[p] == ' ') {
      ++p;
      if (run(IsBlank).empty()) return std::nullopt;
    } else {
      if (t >= text.size() || text[t] != pattern[p]) return std::nullopt;
      ++t;
      ++p;
    }
  }
  *failed_at = t;
  if (t != text.size()) return std::nullopt;
  return fields;
}

std::optional<uint64_t> Hex(absl::string_view text) {
  uint64_t value = 0;
  if (text.size() > 16) return std::nullopt;
  if (!absl::SimpleHexAtoi(text, &value)) return std::nullopt;
  return value;
}

std::optional<uint64_t> Decimal(absl::string_view text) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

// "<seconds>.<fraction>:" with 1..9 fraction digits, in ns.
std::optional<int64_t> Timestamp(absl::string_view token) {
  if (!absl::ConsumeSuffix(&token, ":")) return std::nullopt;
  const size_t dot = token.find('.');
  if (dot == absl::string_view::npos) return std::nullopt;
  const absl::string_view seconds = token.substr(0, dot);
  const absl::string_view fraction = token.substr(dot + 1);
  // 10 digits of seconds: below 10^10 s, so the ns fit int64 with room.
  if (seconds.empty() || seconds.size() > 10 || fraction.empty() || fraction.size() > 9) return std::nullopt;
  for (const char c : seconds) {
    if (!IsDigit(c)) return std::nullopt;
  }
  for (const char c : fraction) {
    if (!IsDigit(c)) return std::nullopt;
  }
  int64_t ns = 0;
  for (const char c : seconds) ns = ns * 10 + (c - '0');
  int64_t fraction_ns = 0;
  for (size_t i = 0; i < 9; ++i) fraction_ns = fraction_ns * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  return ns * 1'000'000'000 + fraction_ns;
}

// What the hyperv events tell about one relid.
struct RelidFacts {
  std::optional<std::string> if_type;
  std::optional<uint64_t> sub_channel_index;
  std::optional<uint32_t> target_vp;
  uint64_t offers = 0;
  uint64_t opens = 0;
  uint64_t closes = 0;
  uint64_t setevents = 0;
  uint64_t chan_scheds = 0;
};

}  // namespace

absl::StatusOr<Capture> ParseTraceCmdCapture(absl::string_view text, absl::string_view source,
                                             uint32_t max_packet_bytes) {
  Capture capture;
  capture.source = std::string(source);
  capture.format = "trace-cmd";
  std::optional<int64_t> previous_ns;
  std::optional<uint64_t> first_unrecognised_line;
  std::map<uint32_t, RelidFacts> relids;
  std::map<std::string, uint64_t> pending_rndis_bytes;  // Per device: the last rndis_send's msg_len.
  std::map<std::string, uint64_t> devices;              // Per device: netvsc events.
  std::map<std::string, std::string> device_names;      // Device as in channel names -> as in the capture.
  uint64_t unknown_size_requests = 0;
  bool traffic_seen = false;
  uint64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.empty() && line.data() + line.size() == text.data() + text.size()) break;
    ++capture.lines;
    absl::ConsumeSuffix(&line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) {
      ++capture.skipped_lines;
      continue;
    }
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", what));
    };

    // The event token is the first token ending in ':' that follows one
    // ending in ':' (the timestamp): "<name>:" or "<system>:<name>:". The
    // command name and pid before them never end in ':' (trace-cmd joins
    // them as comm-pid; perf prints the pid alone), so the fields after the
    // event are never searched.
    const std::vector<absl::string_view> tokens =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    std::optional<size_t> event_index;
    for (size_t i = 1; i < tokens.size() && !event_index.has_value(); ++i) {
      if (absl::EndsWith(tokens[i - 1], ":") && absl::EndsWith(tokens[i], ":")) event_index = i;
    }
    absl::string_view name;
    absl::string_view system;
    if (event_index.has_value()) {
      name = absl::StripSuffix(tokens[*event_index], ":");
      if (const size_t colon = name.rfind(':'); colon != absl::string_view::npos) {
        system = name.substr(0, colon);
        name = name.substr(colon + 1);
      }
    }
    const auto known = event_index.has_value() ? Formats().find(name) : Formats().end();
    const bool is_known = known != Formats().end() && (system.empty() || system == known->second.system);
    if (!is_known) {
      if (event_index.has_value() && !name.empty() && Timestamp(tokens[*event_index - 1]).has_value()) {
        ++capture.unknown_events[std::string(name)];
      } else {
        ++capture.unknown_lines;
        if (!first_unrecognised_line.has_value()) first_unrecognised_line = line_number;
      }
      continue;
    }
    const std::optional<int64_t> time = Timestamp(tokens[*event_index - 1]);
    if (!time.has_value()) {
      return fail(absl::StrCat(name, ": expected a timestamp \"<seconds>.<fraction>:\" (1 to 9 fraction digits) "
                               "before the event name, found ",
                               QuoteFound(tokens[*event_index - 1])));
    }
    if (previous_ns.has_value() && *time < *previous_ns) {
      return fail(absl::StrFormat("%s: expected events in time order, found %d.%09d after %d.%09d", name,
                                  *time / 1'000'000'000, *time % 1'000'000'000, *previous_ns / 1'000'000'000,
                                  *previous_ns % 1'000'000'000));
    }
    if (!previous_ns.has_value()) capture.origin_ns = *time;
    previous_ns = *time;
    const int64_t at_ns = *time - capture.origin_ns;

    // The fields: the text after the event token, trimmed.
    const absl::string_view event_token = tokens[*event_index];
    const absl::string_view payload = absl::StripAsciiWhitespace(
        line.substr(static_cast<size_t>(event_token.data() + event_token.size() - line.data())));
    const EventFormat& format = known->second;
    size_t failed_at = 0;
    const std::optional<std::vector<absl::string_view>> fields = Match(format.pattern, payload, &failed_at);
    auto malformed = [&](absl::string_view why = "") {
      // Show where the fields stop matching, also far into a long line.
      constexpr size_t kContextBytes = 32;
      const std::string found =
          failed_at <= kContextBytes ? QuoteFound(payload)
                                     : QuoteFound(absl::StrCat("...", payload.substr(failed_at - kContextBytes / 2)));
      return fail(absl::StrCat(name, ": expected \"", Readable(format.pattern), "\"", why, ", found ", found));
    };
    if (!fields.has_value()) return malformed();
    failed_at = 0;  // The layout matched: a value is wrong, show the line from its start.
    // Every hex field of these events is at most 64 bits; relids, VPs and
    // sizes at most 32.
    auto u32_hex = [&](size_t index) -> std::optional<uint32_t> {
      const std::optional<uint64_t> v = Hex((*fields)[index]);
      if (!v.has_value() || *v > std::numeric_limits<uint32_t>::max()) return std::nullopt;
      return static_cast<uint32_t>(*v);
    };
    auto u32_decimal = [&](size_t index) -> std::optional<uint32_t> {
      const std::optional<uint64_t> v = Decimal((*fields)[index]);
      if (!v.has_value() || *v > std::numeric_limits<uint32_t>::max()) return std::nullopt;
      return static_cast<uint32_t>(*v);
    };
    for (size_t i = 0; i < fields->size(); ++i) {
      const absl::string_view value = (*fields)[i];
      const absl::string_view digits = absl::StripPrefix(value, "-");
      const bool numeric = !digits.empty() && std::all_of(digits.begin(), digits.end(), IsDigit);
      // 20 characters hold any 64-bit value in decimal; hex fields are
      // checked by Hex below where they are used.
      if (numeric && value.size() > 20) return malformed(" (a number out of range)");
    }
    ++capture.records;
    ++capture.events[std::string(name)];

    // A device's channels are "<dev>-q<queue>", with the device name made a
    // scenario name (NameFrom); two devices may not meet in one name.
    std::string device;
    if (format.system == "netvsc") {
      const absl::string_view dev = (*fields)[0];
      device = NameFrom(dev.substr(0, kDeviceNameBytesMax));
      const auto [it, added] = device_names.emplace(device, std::string(dev));
      if (!added && it->second != dev) {
        return fail(absl::StrCat(name, ": devices \"", it->second, "\" and \"", dev,
                                 "\" would share the channel names \"", device, "-q<queue>\"; rename one"));
      }
      ++devices[device];
    }
    if (name == "vmbus_onoffer") {
      const std::optional<uint32_t> relid = u32_hex(0);
      const std::optional<uint64_t> sub_index = Decimal((*fields)[8]);
      if (!relid.has_value() || !sub_index.has_value()) return malformed(" (a number out of range)");
      RelidFacts& facts = relids[*relid];
      ++facts.offers;
      facts.if_type = absl::AsciiStrToLower((*fields)[4]);
      facts.sub_channel_index = *sub_index;
    } else if (name == "vmbus_open") {
      const std::optional<uint32_t> relid = u32_hex(0);
      const std::optional<uint32_t> target_vp = u32_hex(3);
      if (!relid.has_value() || !target_vp.has_value()) return malformed(" (a number out of range)");
      RelidFacts& facts = relids[*relid];
      ++facts.opens;
      facts.target_vp = *target_vp;
    } else if (name == "vmbus_close_internal" || name == "vmbus_setevent" || name == "vmbus_chan_sched") {
      const std::optional<uint32_t> relid = u32_hex(0);
      if (!relid.has_value()) return malformed(" (a number out of range)");
      RelidFacts& facts = relids[*relid];
      if (name == "vmbus_close_internal") ++facts.closes;
      if (name == "vmbus_setevent") ++facts.setevents;
      if (name == "vmbus_chan_sched") ++facts.chan_scheds;
    } else if (name == "rndis_send" || name == "rndis_recv") {
      const std::optional<uint32_t> queue = u32_decimal(1);
      const std::optional<uint32_t> msg_len = u32_decimal(4);
      if (!queue.has_value() || !msg_len.has_value() || !Hex((*fields)[2]).has_value()) {
        return malformed(" (a number out of range)");
      }
      if (name == "rndis_send") {
        pending_rndis_bytes[device] = *msg_len;
      } else {
        ChannelNamed(&capture, absl::StrCat(device, "-q", *queue)).host_bytes += *msg_len;
      }
    } else if (name == "nvsp_send_pkt") {
      const std::optional<uint32_t> queue = u32_decimal(1);
      const std::optional<uint32_t> section = u32_decimal(3);
      const absl::string_view kind = (*fields)[2];
      const absl::string_view size_text = (*fields)[4];
      if (!queue.has_value() || !section.has_value()) return malformed(" (a number out of range)");
      if (kind != "DATA" && kind != "CONTROL") return malformed(" (type: DATA or CONTROL)");
      const std::optional<uint64_t> size = absl::StartsWith(size_text, "-") ? std::nullopt : Decimal(size_text);
      if (!size.has_value()) return malformed(" (size: at least 0)");
      uint64_t bytes = *size;
      if (bytes == 0) {
        const auto pending = pending_rndis_bytes.find(device);
        if (kind == "CONTROL" && pending != pending_rndis_bytes.end()) {
          bytes = pending->second;
        } else {
          bytes = max_packet_bytes;
          ++unknown_size_requests;
        }
      }
      if (kind == "CONTROL") pending_rndis_bytes.erase(device);
      if (bytes == 0 || bytes > max_packet_bytes) {
        return fail(absl::StrCat(name, ": expected a request of 1..", max_packet_bytes,
                                 " bytes (max_packet_bytes; raise it with --max-packet-bytes, at most ",
                                 kPacketBytesMax, "), found ", bytes));
      }
      ChannelNamed(&capture, absl::StrCat(device, "-q", *queue))
          .requests.push_back({.time_ns = at_ns, .bytes = static_cast<uint32_t>(bytes)});
      traffic_seen = true;
    } else if (name == "nvsp_recv") {
      const std::optional<uint32_t> queue = u32_decimal(1);
      if (!queue.has_value()) return malformed(" (a number out of range)");
      ++ChannelNamed(&capture, absl::StrCat(device, "-q", *queue)).host_packets;
      traffic_seen = true;
    }
    if (at_ns > kCaptureSpanNsMax) {
      return fail(absl::StrCat(name, ": expected at most ", kCaptureSpanNsMax, " ns after the first event, found ",
                               at_ns));
    }
  }

  if (!traffic_seen) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": expected nvsp_send_pkt or nvsp_recv events (the netvsc events that name a channel's traffic), "
                "found none in ", capture.lines, " line(s) (", capture.records, " other known event(s), ",
        capture.unknown_lines, " unrecognised line(s))"));
  }

  // Link queues to relids when the capture says unambiguously which offer
  // each queue is (see the header).
  if (devices.size() == 1) {
    std::map<uint64_t, std::vector<uint32_t>> offers_by_index;
    for (const auto& [relid, facts] : relids) {
      if (facts.if_type == kNetworkInterfaceType && facts.sub_channel_index.has_value()) {
        offers_by_index[*facts.sub_channel_index].push_back(relid);
      }
    }
    const std::string& device = devices.begin()->first;
    for (CaptureChannel& channel : capture.channels) {
      for (const auto& [index, offered] : offers_by_index) {
        if (channel.name != absl::StrCat(device, "-q", index) || offered.size() != 1) continue;
        const RelidFacts& facts = relids[offered[0]];
        channel.relid = offered[0];
        channel.guest_target_vp = facts.target_vp;
        channel.signals = facts.setevents;
      }
    }
  }
  for (const auto& [relid, facts] : relids) {
    std::vector<std::string> parts;
    if (facts.offers != 0) {
      parts.push_back(absl::StrCat("offered (if_type ", facts.if_type.value_or("?"), ", sub_channel_index ",
                                   facts.sub_channel_index.value_or(0), ")"));
    }
    if (facts.opens != 0) parts.push_back(absl::StrCat("opened on target_vp ", facts.target_vp.value_or(0)));
    if (facts.closes != 0) parts.push_back("closed");
    parts.push_back(absl::StrCat(facts.setevents, " vmbus_setevent, ", facts.chan_scheds, " vmbus_chan_sched"));
    std::string note = absl::StrFormat("relid 0x%x: %s", relid, absl::StrJoin(parts, "; "));
    capture.notes.push_back(std::move(note));
  }
  if (unknown_size_requests != 0) {
    capture.notes.push_back(absl::StrCat(unknown_size_requests,
                                         " nvsp_send_pkt DATA request(s) of unknown size (page-buffer sends, size=0) "
                                         "replayed at max_packet_bytes (",
                                         max_packet_bytes, ")"));
  }
  if (first_unrecognised_line.has_value()) {
    capture.notes.push_back(absl::StrCat(capture.unknown_lines, " unrecognised line(s), the first at line ",
                                         *first_unrecognised_line));
  }
  return capture;
}

}  // namespace vmbsim::recording
