#include "tools/recording/capture_csv.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace vmbsim::recording {
namespace {

constexpr size_t kFieldCount = 5;

// A decimal integer of digits only (no sign, no blanks), or nothing.
std::optional<uint64_t> Digits(absl::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  for (const char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;  // Above 2^64 - 1.
  return value;
}

}  // namespace

absl::StatusOr<Capture> ParseCsvCapture(absl::string_view text, absl::string_view source,
                                        uint32_t max_packet_bytes) {
  Capture capture;
  capture.source = std::string(source);
  capture.format = "csv";
  bool header_seen = false;
  std::optional<int64_t> previous_ns;
  uint64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    // The piece after a final newline is no line.
    if (line.empty() && line.data() + line.size() == text.data() + text.size()) break;
    ++capture.lines;
    absl::ConsumeSuffix(&line, "\r");
    const absl::string_view stripped = absl::StripAsciiWhitespace(line);
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", line_number, ": ", what));
    };
    if (stripped.empty() || stripped[0] == '#') {
      ++capture.skipped_lines;
      continue;
    }
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    for (absl::string_view& field : fields) field = absl::StripAsciiWhitespace(field);
    if (!header_seen) {
      if (absl::StrJoin(fields, ",") != kCsvCaptureHeader) {
        return fail(absl::StrCat("expected the header \"", kCsvCaptureHeader, "\", found ", QuoteFound(stripped)));
      }
      header_seen = true;
      ++capture.skipped_lines;
      continue;
    }
    if (fields.size() != kFieldCount) {
      return fail(absl::StrCat("expected 5 fields (", kCsvCaptureHeader, "), found ", fields.size(), " in ",
                               QuoteFound(stripped)));
    }
    const absl::string_view time_text = fields[0];
    const absl::string_view channel_name = fields[1];
    const absl::string_view direction = fields[2];
    const absl::string_view size_text = fields[3];
    const absl::string_view flags_text = fields[4];

    const std::optional<uint64_t> time_ns = Digits(time_text);
    if (!time_ns.has_value() || *time_ns > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(absl::StrCat("time_ns: expected an integer number of nanoseconds in 0..",
                               std::numeric_limits<int64_t>::max(), ", found ", QuoteFound(time_text)));
    }
    const auto time = static_cast<int64_t>(*time_ns);
    if (previous_ns.has_value() && time < *previous_ns) {
      return fail(absl::StrCat("time_ns: expected records in time order, found ", time, " after ", *previous_ns));
    }
    if (!previous_ns.has_value()) capture.origin_ns = time;
    previous_ns = time;
    if (time - capture.origin_ns > kCaptureSpanNsMax) {
      return fail(absl::StrCat("time_ns: expected at most ", kCaptureSpanNsMax, " ns after the first record (",
                               capture.origin_ns, "), found ", time));
    }
    if (!IsChannelName(channel_name)) {
      return fail(absl::StrCat("channel: expected a name of 1..", kChannelNameBytesMax,
                               " characters from [a-z0-9_-], found ", QuoteFound(channel_name)));
    }
    if (direction != "g2h" && direction != "h2g") {
      return fail(absl::StrCat("direction: expected \"g2h\" or \"h2g\", found ", QuoteFound(direction)));
    }
    bool completion = false;
    bool signal = false;
    if (!flags_text.empty()) {
      for (absl::string_view flag : absl::StrSplit(flags_text, '|')) {
        flag = absl::StripAsciiWhitespace(flag);
        if (flag == "completion") {
          completion = true;
        } else if (flag == "signal") {
          signal = true;
        } else {
          return fail(absl::StrCat("flags: expected \"completion\" or \"signal\", separated by '|', found ",
                                   QuoteFound(flag)));
        }
      }
    }
    const bool request = direction == "g2h" && !completion;
    const uint32_t bytes_max = request ? max_packet_bytes : kPacketBytesMax;
    const std::optional<uint64_t> size = Digits(size_text);
    if (!size.has_value() || *size == 0 || *size > bytes_max) {
      return fail(request ? absl::StrCat("size: expected a request of 1..", max_packet_bytes,
                                         " bytes (max_packet_bytes; raise it with --max-packet-bytes, at most ",
                                         kPacketBytesMax, "), found ", QuoteFound(size_text))
                          : absl::StrCat("size: expected 1..", kPacketBytesMax, " bytes, found ", QuoteFound(size_text)));
    }

    ++capture.records;
    CaptureChannel& channel = ChannelNamed(&capture, channel_name);
    if (signal) ++channel.signals;
    if (request) {
      channel.requests.push_back({.time_ns = time - capture.origin_ns, .bytes = static_cast<uint32_t>(*size)});
    } else if (direction == "g2h") {
      ++channel.guest_completions;
    } else {
      ++channel.host_packets;
      channel.host_bytes += *size;
    }
  }
  if (!header_seen) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": expected the header \"", kCsvCaptureHeader, "\", found no line but blanks and comments"));
  }
  return capture;
}

}  // namespace vmbsim::recording
