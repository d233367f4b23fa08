#include "tools/recording/import_command.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tools/recording/capture_csv.h"
#include "tools/recording/capture_scenario.h"
#include "tools/recording/capture_trace_cmd.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"

namespace vmbsim::recording {

const char* const kImportUsage = R"(import command:
  import CAPTURE -o FILE   turn a capture from a real system into a scenario that replays it

import flags:
  -o, --out FILE           the scenario to write ("-": stdout)
  --format F               csv (time_ns,channel,direction,size,flags) or trace-cmd
                           (`trace-cmd report` / `perf script` text of the hyperv and netvsc
                           events); default: csv for a *.csv file or one whose first line
                           starts with "time_ns,", else trace-cmd
  --name NAME              the scenario's name (default: the capture's file name)
  --max-packet-bytes N     every channel's max_packet_bytes (default 4096, at most 16777216)
  --start-ns N             when the capture's first record is replayed (default 1000000: 1 ms,
                           after the channels have opened)

exit codes: 0 written, 2 invalid input (the message names file:line), 70 internal error
)";

namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalidInput = 2;
constexpr int kExitInternalError = 70;

int Invalid(const std::string& message) {
  std::fprintf(stderr, "vmbsim: import: %s\n", message.c_str());
  return kExitInvalidInput;
}

// The value of "--flag VALUE" / "--flag=VALUE" (or "-o VALUE") at args[*i].
std::optional<std::string> Flag(const std::vector<std::string>& args, size_t* i,
                                const std::vector<std::string>& names, std::string* error) {
  for (const std::string& name : names) {
    if (args[*i] == name) {
      if (*i + 1 >= args.size()) {
        *error = absl::StrCat(name, ": missing value");
        return std::string();
      }
      return args[++*i];
    }
    if (absl::StartsWith(args[*i], name + "=")) return args[*i].substr(name.size() + 1);
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ReadCapture(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": is a directory, not a capture"));
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", errno != 0 ? std::strerror(errno) : "unknown error"));
  }
  std::string text;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kCaptureFileBytesMax) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": more than ", kCaptureFileBytesMax,
                                                     " bytes, more than a capture may have; import a part of it"));
    }
  }
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat(path, ": reading failed"));
  return text;
}

// "csv" for a file named *.csv or whose first line that is neither blank
// nor a comment starts with "time_ns,", else "trace-cmd".
std::string GuessFormat(const std::string& path, absl::string_view text) {
  if (absl::EndsWithIgnoreCase(path, ".csv")) return "csv";
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    return absl::StartsWith(line, "time_ns,") ? "csv" : "trace-cmd";
  }
  return "csv";
}

std::string DefaultName(const std::string& path) {
  return NameFrom(std::filesystem::path(path).stem().string());
}

}  // namespace

int ImportCommand(const std::vector<std::string>& args) {
  std::optional<std::string> capture_path;
  std::string out_path;
  std::string format;
  std::string name;
  uint32_t max_packet_bytes = 4096;
  int64_t start_ns = kReplayStartNsDefault;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = Flag(args, &i, {"-o", "--out"}, &error)) {
      if (!error.empty()) return Invalid(error);
      out_path = *v;
    } else if (auto v = Flag(args, &i, {"--format"}, &error)) {
      if (!error.empty()) return Invalid(error);
      if (*v != "csv" && *v != "trace-cmd") {
        return Invalid(absl::StrCat("--format: expected \"csv\" or \"trace-cmd\", found \"", *v, "\""));
      }
      format = *v;
    } else if (auto v = Flag(args, &i, {"--name"}, &error)) {
      if (!error.empty()) return Invalid(error);
      if (!IsChannelName(*v)) {
        return Invalid(absl::StrCat("--name: expected a name of 1..", kChannelNameBytesMax,
                                    " characters from [a-z0-9_-], found \"", *v, "\""));
      }
      name = *v;
    } else if (auto v = Flag(args, &i, {"--max-packet-bytes"}, &error)) {
      uint32_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n) || n == 0 || n > kPacketBytesMax) {
        return Invalid(absl::StrCat("--max-packet-bytes: expected an integer in 1..", kPacketBytesMax, ", found \"",
                                    *v, "\""));
      }
      max_packet_bytes = n;
    } else if (auto v = Flag(args, &i, {"--start-ns"}, &error)) {
      int64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n) || n < 0 || n > kCaptureSpanNsMax) {
        return Invalid(absl::StrCat("--start-ns: expected an integer in 0..", kCaptureSpanNsMax, ", found \"", *v,
                                    "\""));
      }
      start_ns = n;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return Invalid(absl::StrCat("unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!capture_path.has_value()) {
      capture_path = args[i];
    } else {
      return Invalid(absl::StrCat("one capture at a time; got '", *capture_path, "' and '", args[i], "'"));
    }
  }
  if (!capture_path.has_value()) return Invalid("expected a capture file (vmbsim import CAPTURE -o FILE)");
  if (out_path.empty()) return Invalid("expected -o FILE, the scenario to write (\"-\" for stdout)");

  absl::StatusOr<std::string> text = ReadCapture(*capture_path);
  if (!text.ok()) return Invalid(std::string(text.status().message()));
  if (format.empty()) format = GuessFormat(*capture_path, *text);
  absl::StatusOr<Capture> capture = format == "csv"
                                        ? ParseCsvCapture(*text, *capture_path, max_packet_bytes)
                                        : ParseTraceCmdCapture(*text, *capture_path, max_packet_bytes);
  if (!capture.ok()) return Invalid(std::string(capture.status().message()));
  const ScenarioOptions options{.name = name.empty() ? DefaultName(*capture_path) : name,
                                .max_packet_bytes = max_packet_bytes,
                                .start_ns = start_ns};
  absl::StatusOr<std::string> json = ScenarioJsonFor(*capture, options);
  if (!json.ok()) return Invalid(std::string(json.status().message()));

  // What is written must load: a failure here is a bug of the importer.
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenario(*json, out_path, registry.descriptors());
  if (!spec.ok()) {
    std::fprintf(stderr, "vmbsim: import: internal error: the scenario does not load: %s\n",
                 std::string(spec.status().message()).c_str());
    return kExitInternalError;
  }

  FILE* summary = out_path == "-" ? stderr : stdout;
  if (out_path == "-") {
    std::fwrite(json->data(), 1, json->size(), stdout);
    std::fflush(stdout);
  } else {
    errno = 0;
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    if (!out.is_open()) {
      return Invalid(absl::StrCat("-o: cannot write ", out_path, ": ", errno != 0 ? std::strerror(errno) : "unknown error"));
    }
    out.write(json->data(), static_cast<std::streamsize>(json->size()));
    out.close();
    if (!out) return Invalid(absl::StrCat("-o: writing ", out_path, " failed"));
  }
  uint64_t requests = 0;
  for (const CaptureChannel& channel : capture->channels) requests += channel.requests.size();
  std::fprintf(summary, "%s", CaptureSummary(*capture).c_str());
  std::fprintf(summary, "wrote %s: scenario \"%s\", %zu channel(s), %llu request(s) to replay\n",
               out_path == "-" ? "<stdout>" : out_path.c_str(), options.name.c_str(), capture->channels.size(),
               static_cast<unsigned long long>(requests));
  return kExitOk;
}

}  // namespace vmbsim::recording
