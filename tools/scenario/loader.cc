// loader.cc
//
// Three steps: parse the text into a DOM (a SAX builder, so that a syntax
// error keeps its byte position and a repeated key is caught), apply the
// `--set` overrides to that DOM, then walk it once against the key table,
// filling a ScenarioSpec and stopping at the first problem. nlohmann/json
// never throws here: the SAX parser reports errors through the builder, and
// every typed read first checks the value's type.

#include "tools/scenario/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "kmcl/verifier.h"
#include "nlohmann/json.hpp"
#include "sim/check.h"
#include "tools/faults/catalogue.h"

namespace vmbsim::scenario {
namespace {

using Json = nlohmann::json;

// Bounds. Wide enough for any experiment we can imagine, narrow enough that
// downstream arithmetic (time + duration, pages * 4096, count * size) cannot
// overflow int64.
constexpr int64_t kVpsMax = 1024;
constexpr size_t kGuestsMax = 16;
constexpr int64_t kMemoryMibMax = int64_t{1} << 20;        // 1 TiB.
constexpr int64_t kRingPagesMin = 1;                       // Data pages (one control page more).
constexpr int64_t kRingPagesMax = 65535;                   // 256 MiB with the control page.
constexpr int64_t kPacketBytesMax = int64_t{16} << 20;     // 16 MiB.
constexpr int64_t kTimeNsMax = 1'000'000'000'000'000'000;  // About 31.7 years.
constexpr int64_t kDurationNsMax = 1'000'000'000'000'000;  // About 11.6 days.
constexpr int64_t kCountMax = 1'000'000'000;
constexpr int64_t kCostMax = 1'000'000'000'000;  // 1000 s in ns; 1 s per byte in ps.
constexpr int64_t kQuotaMax = int64_t{1} << 20;
constexpr int64_t kOutstandingMax = int64_t{1} << 20;
constexpr double kInterruptsPerPacketMax = 1e6;
constexpr size_t kChannelsMax = 4096;
constexpr size_t kWorkloadsMax = 4096;
constexpr size_t kBackendsMax = 256;
constexpr int64_t kBackendServersMax = 65536;
constexpr size_t kSizeTableMax = 4096;
// A log-normal's sigma: at 10 a draw four standard deviations out is
// already e^40 times the median, beyond any duration, so larger values add
// nothing but saturated draws.
constexpr double kSigmaMax = 10.0;
// Events of one "trace" arrival: a recorded burst of millions of requests
// fits; the file size limit (kFileBytesMax) binds first.
constexpr size_t kArrivalEventsMax = 8'000'000;
constexpr size_t kRetargetsMax = 10'000;
constexpr size_t kLatencyBoundsMax = 1024;
constexpr size_t kFindingsMax = 1024;
constexpr size_t kNameBytesMax = 64;
constexpr size_t kFileBytesMax = size_t{64} << 20;
constexpr size_t kFoundStringBytesMax = 48;  // Longer strings are cut in messages.

static_assert((kRingPagesMax + 1) * 4096 <= std::numeric_limits<uint32_t>::max() + int64_t{1});
constexpr int64_t kBudgetPacketsMax = 65536;
static_assert(kDurationNsMax <= kTimeNsMax);

const std::vector<std::string>& KeysOf(absl::string_view schema_path);

// ---------------------------------------------------------------------------
// Text helpers.

// `text` as a JSON string literal; invalid UTF-8 (possible in an override)
// becomes U+FFFD instead of an exception.
std::string Quote(absl::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string QuoteList(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& value : values) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Quote(value));
  }
  return out;
}

// A value as it appears after "found" in a message.
std::string Describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return value.empty() ? "{}" : "an object";
    case Json::value_t::array:
      return value.empty() ? "[]" : "an array";
    case Json::value_t::string: {
      const std::string& text = value.get_ref<const std::string&>();
      if (text.size() <= kFoundStringBytesMax) return Quote(text);
      std::string quoted = Quote(text.substr(0, kFoundStringBytesMax));
      quoted.insert(quoted.size() - 1, "...");
      return quoted;
    }
    case Json::value_t::number_float:
      // 1e400 parses to infinity, which nlohmann would print as null.
      if (!std::isfinite(value.get<double>())) return "a number out of range";
      break;
    default:
      break;
  }
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A bound of a number range: integral bounds without exponent ("1000000",
// where StrCat would print "1e+06").
std::string FormatBound(double bound) {
  if (bound == std::trunc(bound) && std::fabs(bound) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(bound));
  }
  return absl::StrCat(bound);
}

// "an integer", "a string", ...: for "X is <kind>, not ..." messages.
std::string KindOf(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a binary value";
  }
}

// RFC 6901: "~" and "/" in a reference token are written "~0" and "~1".
std::string Child(absl::string_view pointer, absl::string_view key) {
  std::string out = absl::StrCat(pointer, "/");
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Child(absl::string_view pointer, size_t index) {
  return absl::StrCat(pointer, "/", index);
}

// Optimal string alignment distance (Levenshtein plus adjacent
// transpositions), ignoring ASCII case: "defualt" is one edit from "default".
size_t EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const char ai = absl::ascii_tolower(static_cast<unsigned char>(a[i - 1]));
      const char bj = absl::ascii_tolower(static_cast<unsigned char>(b[j - 1]));
      const size_t cost = ai == bj ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && ai == absl::ascii_tolower(static_cast<unsigned char>(b[j - 2])) &&
          absl::ascii_tolower(static_cast<unsigned char>(a[i - 2])) == bj) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// The candidate nearest to `word`, when it is near enough to be a likely
// typo: at most a third of the longer word's length in edits (two for short
// words), or a prefix of at least 3 characters of the other ("delay" for
// "delay_ns": a forgotten unit). Ties go to the earlier candidate, so the
// answer is deterministic.
std::optional<std::string> Nearest(absl::string_view word,
                                   const std::vector<std::string>& candidates) {
  // Bounded: the table is O(n*m), and no valid name is longer than this.
  constexpr size_t kWordBytesMax = 256;
  if (word.size() > kWordBytesMax) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    const size_t distance = EditDistance(word, candidate);
    const size_t limit = std::max<size_t>(2, std::max(word.size(), candidate.size()) / 3);
    const absl::string_view shorter = word.size() < candidate.size() ? word : candidate;
    const absl::string_view longer = word.size() < candidate.size() ? candidate : word;
    const bool is_prefix = shorter.size() >= 3 && absl::StartsWithIgnoreCase(longer, shorter);
    if (distance > limit && !is_prefix) continue;
    if (!best.has_value() || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

// "; did you mean "x"?" or "".
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates) {
  const std::optional<std::string> nearest = Nearest(word, candidates);
  if (!nearest.has_value()) return "";
  return absl::StrCat("; did you mean ", Quote(*nearest), "?");
}

// For unknown names: the nearest valid one, or the whole list when none is
// near.
std::string UnknownNameHint(absl::string_view word, const std::vector<std::string>& candidates) {
  std::string hint = DidYouMean(word, candidates);
  if (hint.empty() && !candidates.empty()) {
    hint = absl::StrCat("; expected one of ", QuoteList(candidates));
  }
  return hint;
}

bool Contains(const std::vector<std::string>& values, absl::string_view value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// ---------------------------------------------------------------------------
// Numbers. Integral floats (1e6) count as integers, as in JSON Schema.

std::optional<int64_t> AsInt64(const Json& value) {
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_number_float()) {
    const double d = value.get<double>();
    // [-2^63, 2^63) is exactly the doubles that convert without overflow.
    if (std::isfinite(d) && d == std::trunc(d) && d >= -9223372036854775808.0 &&
        d < 9223372036854775808.0) {
      return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> AsUint64(const Json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    const int64_t i = value.get<int64_t>();
    if (i < 0) return std::nullopt;
    return static_cast<uint64_t>(i);
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && d >= 0.0 && d < 18446744073709551616.0) {
      return static_cast<uint64_t>(d);
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Key and enum tables: what the loader reads, and what schema_test compares
// with the schema.

const std::vector<std::string>& CostOverrideNamesList() {
  static const auto* const names = new std::vector<std::string>{
      "hypercall_signal_event_ns",
      "signal_delivery_to_running_vp_ns",
      "vp_wakeup_from_halt_ns",
      "hypercall_post_message_ns",
      "host_ctrl_msg_processing_ns",
      "host_gpadl_per_page_ns",
      "simp_delivery_ns",
      "eom_redelivery_ns",
      "monitor_latency_default_ns",
      "monitor_set_bit_ns",
      "ring_copy_per_packet_ns",
      "ring_copy_per_byte_ps",
      "isr_dispatch_ns",
      "kmcl_callback_ns",
      "kmcl_call_ns",
  };
  return *names;
}

// The keys of a distribution object (spec.h DistributionSpec) whose
// quantity is in `unit` ("bytes" or "ns"), and of its table rows.
std::vector<std::string> DistributionKeys(absl::string_view unit) {
  return {"kind",
          std::string(unit),
          absl::StrCat("min_", unit),
          absl::StrCat("max_", unit),
          absl::StrCat("mean_", unit),
          absl::StrCat("median_", unit),
          "sigma",
          "table"};
}

std::vector<std::string> DistributionRowKeys(absl::string_view unit) { return {std::string(unit), "weight"}; }

// The keys of channels[].host_reader / guest_reader (spec.h ReaderSpec).
std::vector<std::string> ReaderKeys() { return {"kind", "dpc_budget_ns", "budget_packets", "poll_period_ns"}; }

const std::map<std::string, std::vector<std::string>>& KeyTable() {
  static const auto* const table = new std::map<std::string, std::vector<std::string>>{
      {"",
       {"name", "description", "seed", "stop", "fabric", "backends", "channels", "workloads", "exploration",
        "expectations", "faults"}},
      {"stop", {"time_ns", "events_max", "quiescence", "warmup_ns"}},
      {"fabric",
       {"root_vps", "root_vp_speed", "guests", "cost_profile", "cost_overrides", "monitor_mode", "preemption"}},
      {"fabric.guests[]", {"vps", "vp_speed", "memory_mib", "early_signal"}},
      {"fabric.cost_overrides", CostOverrideNamesList()},
      {"channels[]",
       {"name", "interface_type", "interface_instance", "guest", "host_driver", "guest_driver",
        "incoming_ring_pages", "outgoing_ring_pages", "max_packet_bytes", "monitored",
        "interrupt_latency_100ns", "guest_target_vp", "host_target_vp", "host_passive_processing",
        "guest_passive_processing", "host_transaction_quota", "guest_transaction_quota",
        "sub_channels", "lost_wakeup_bug", "pending_send_bug", "host_stop_ns", "guest_stop_ns", "backend",
        "host_writer_policy", "guest_writer_policy", "host_reader", "guest_reader", "force_retire_after_ns",
        "unstick_timer_ns", "interrupt", "retarget"}},
      {"channels[].host_reader", ReaderKeys()},
      {"channels[].guest_reader", ReaderKeys()},
      {"backends[]", {"name", "servers", "service"}},
      {"backends[].service", DistributionKeys("ns")},
      {"backends[].service.table[]", DistributionRowKeys("ns")},
      {"channels[].host_driver", {"name", "params"}},
      {"channels[].guest_driver", {"name", "params"}},
      {"workloads[]", {"channel", "arrival", "size", "requests", "start_ns", "send_vps"}},
      {"workloads[].arrival",
       {"kind", "outstanding", "interval_ns", "burst", "on_ns", "off_ns", "off_interval_ns", "gap", "events"}},
      {"workloads[].arrival.gap", DistributionKeys("ns")},
      {"workloads[].arrival.gap.table[]", DistributionRowKeys("ns")},
      {"workloads[].size", DistributionKeys("bytes")},
      {"workloads[].size.table[]", DistributionRowKeys("bytes")},
      {"exploration", {"tie_break_seed"}},
      {"expectations",
       {"no_lost_packets", "no_verifier_findings", "latency", "interrupts_per_packet_max",
        "interrupts_per_packet_min", "findings", "lost_packets_min", "failed_transactions_min"}},
      {"expectations.latency[]", {"channel", "metric", "percentile", "max_ns"}},
      {"expectations.findings[]", {"rule", "min_count", "max_count"}},
      {"faults", {"stuck_ns", "injections"}},
      {"faults.injections[]", {"kind", "target", "trigger", "params", "max_firings"}},
      {"faults.injections[].target", {"channel", "partition", "class", "all"}},
      {"faults.injections[].trigger", {"at_ns", "after", "probability", "while"}},
      {"faults.injections[].trigger.after", {"event", "count"}},
      {"faults.injections[].trigger.probability", {"numerator", "denominator"}},
      {"faults.injections[].params", faults::AllParamNames()},
  };
  return *table;
}

const std::vector<std::string>& KeysOf(absl::string_view schema_path) {
  const auto& table = KeyTable();
  const auto it = table.find(std::string(schema_path));
  VMBSIM_CHECK_MSG(it != table.end(), schema_path);
  return it->second;
}

const std::vector<std::string>& CostProfiles() {
  static const auto* const values = new std::vector<std::string>{"default", "zero"};
  return *values;
}

const std::vector<std::string>& MonitorModes() {
  static const auto* const values = new std::vector<std::string>{"timer_per_id", "periodic_poll", "rate_limited"};
  return *values;
}

const std::vector<std::string>& PreemptionModes() {
  static const auto* const values = new std::vector<std::string>{"packet", "none"};
  return *values;
}

const std::vector<std::string>& ReaderKinds() {
  static const auto* const values = new std::vector<std::string>{"dpc_drain", "napi", "batched", "polled"};
  return *values;
}

// Which end of a channel runs the deliberately buggy drain loop.
const std::vector<std::string>& EarlySignalPolicies() {
  static const auto* const values = new std::vector<std::string>{"hold", "drop"};
  return *values;
}

// The server's dedicated/shared choice for a channel's guest->host signal.
const std::vector<std::string>& InterruptKinds() {
  static const auto* const values = new std::vector<std::string>{"dedicated", "shared"};
  return *values;
}

const std::vector<std::string>& BuggyEndpoints() {
  static const auto* const values = new std::vector<std::string>{"none", "host", "guest"};
  return *values;
}

const std::vector<std::string>& ArrivalKinds() {
  static const auto* const values = new std::vector<std::string>{
      "closed_loop", "fixed_rate", "poisson", "bursts", "on_off", "renewal", "mmpp2", "trace"};
  return *values;
}

const std::vector<std::string>& DistributionKinds() {
  static const auto* const values =
      new std::vector<std::string>{"fixed", "uniform", "exponential", "lognormal", "empirical"};
  return *values;
}

const std::vector<std::string>& LatencyMetrics() {
  static const auto* const values =
      new std::vector<std::string>{"send_to_completion", "send_to_process"};
  return *values;
}

const std::vector<std::string>& RuleNames() {
  static const auto* const values = [] {
    auto* names = new std::vector<std::string>;
    for (const kmcl::Rule rule : kmcl::kAllRules) names->push_back(kmcl::RuleName(rule));
    return names;
  }();
  return *values;
}

// ---------------------------------------------------------------------------
// Parsing: a SAX handler that builds the DOM, like nlohmann's own
// json_sax_dom_parser, but keeps the error position and rejects a key
// repeated in one object.

class DomBuilder {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  // `*root` receives the document. It must outlive the builder.
  explicit DomBuilder(Json* root) : root_(root) {}

  bool null() { return Place(Json(nullptr)) != nullptr; }
  bool boolean(bool value) { return Place(Json(value)) != nullptr; }
  bool number_integer(number_integer_t value) { return Place(Json(value)) != nullptr; }
  bool number_unsigned(number_unsigned_t value) { return Place(Json(value)) != nullptr; }
  bool number_float(number_float_t value, const string_t& /*text*/) {
    return Place(Json(value)) != nullptr;
  }
  bool string(string_t& value) { return Place(Json(std::move(value))) != nullptr; }
  bool binary(binary_t& value) { return Place(Json::binary(std::move(value))) != nullptr; }

  bool start_object(std::size_t /*size*/) {
    stack_.push_back(Place(Json::object()));
    return true;
  }
  bool key(string_t& key) {
    VMBSIM_CHECK(!stack_.empty());
    Json& object = *stack_.back();
    VMBSIM_CHECK(object.is_object());
    if (object.contains(key)) {
      duplicate_pointer_ = Child(PointerOfTop(), key);
      return false;
    }
    key_slot_ = &object[key];
    return true;
  }
  bool end_object() {
    VMBSIM_CHECK(!stack_.empty());
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*size*/) {
    stack_.push_back(Place(Json::array()));
    return true;
  }
  bool end_array() {
    VMBSIM_CHECK(!stack_.empty());
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const Json::exception& error) {
    error_position_ = position;
    error_what_ = error.what();
    return false;
  }

  // Set when parsing stopped at a repeated key.
  const std::optional<std::string>& duplicate_pointer() const { return duplicate_pointer_; }
  // Set when parsing stopped at a syntax error: bytes read, and nlohmann's text.
  const std::optional<size_t>& error_position() const { return error_position_; }
  const std::string& error_what() const { return error_what_; }

 private:
  // Stores `value` where the parser is (the root, the next array element, or
  // the slot of the last key) and returns its address. Addresses stay valid
  // while the value is on `stack_`: a parent gains no element until the child
  // on top of it is closed, and object elements never move.
  Json* Place(Json value) {
    if (stack_.empty()) {
      *root_ = std::move(value);
      return root_;
    }
    Json& parent = *stack_.back();
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    VMBSIM_CHECK(key_slot_ != nullptr);
    Json* slot = key_slot_;
    key_slot_ = nullptr;
    *slot = std::move(value);
    return slot;
  }

  // The JSON pointer of the innermost open container. Error path only: it
  // searches each object for the child's address.
  std::string PointerOfTop() const {
    std::string pointer;
    for (size_t i = 1; i < stack_.size(); ++i) {
      const Json& parent = *stack_[i - 1];
      if (parent.is_array()) {
        pointer = Child(pointer, parent.size() - 1);
        continue;
      }
      for (auto it = parent.begin(); it != parent.end(); ++it) {
        if (&it.value() == stack_[i]) {
          pointer = Child(pointer, it.key());
          break;
        }
      }
    }
    return pointer;
  }

  Json* root_;
  std::vector<Json*> stack_;  // Open containers, outermost first.
  Json* key_slot_ = nullptr;  // Where the value after a key goes.
  std::optional<std::string> duplicate_pointer_;
  std::optional<size_t> error_position_;
  std::string error_what_;
};

// "<source>:<line>:<column>: invalid JSON: <reason>" for the byte at
// `offset` (lines and columns 1-based, columns in bytes).
absl::Status SyntaxError(absl::string_view text, absl::string_view source, size_t offset,
                         absl::string_view reason) {
  VMBSIM_CHECK_LE(offset, text.size());
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  const size_t column = offset - line_start + 1;
  return absl::InvalidArgumentError(
      absl::StrCat(source, ":", line, ":", column, ": invalid JSON: ", reason));
}

absl::Status Parse(absl::string_view text, absl::string_view source, Json* doc) {
  // nlohmann's lexer takes a NUL byte for the end of the input (so that C
  // strings parse), which would make "{...}<NUL>anything" parse as "{...}"
  // and drop the rest unseen. JSON text never holds a raw NUL (RFC 8259
  // allows U+0000 only escaped, inside a string), so the first one is an
  // error at its own position; the parser stops there, so any error it
  // reports lies at or before it.
  const size_t nul = text.find('\0');
  DomBuilder builder(doc);
  const bool ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (ok && nul == absl::string_view::npos) return absl::OkStatus();
  if (builder.duplicate_pointer().has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", *builder.duplicate_pointer(), ": duplicate key"));
  }
  constexpr absl::string_view kNulReason =
      "unexpected NUL byte (JSON text holds U+0000 only as \"\\u0000\" inside a string)";
  if (ok) return SyntaxError(text, source, nul, kNulReason);
  VMBSIM_CHECK(builder.error_position().has_value());
  // nlohmann counts bytes read, the offending one included (and end of input
  // as one more), so the offending byte is at position - 1.
  const size_t position = *builder.error_position();
  const size_t offset = std::min(position == 0 ? 0 : position - 1, text.size());
  // The NUL itself, read as the end of the input ("unexpected end of input")
  // or inside a string ("control character U+0000 must be escaped").
  if (offset == nul) return SyntaxError(text, source, nul, kNulReason);
  // "[json.exception.parse_error.101] parse error at line 1, column 5: <reason>"
  // or "[json.exception.out_of_range.406] number overflow parsing '1e400'":
  // keep the reason; the position is ours.
  absl::string_view reason = builder.error_what();
  if (absl::StartsWith(reason, "[json.exception.")) {
    const size_t tag_end = reason.find("] ");
    if (tag_end != absl::string_view::npos) reason.remove_prefix(tag_end + 2);
  }
  if (absl::StartsWith(reason, "parse error")) {
    const size_t reason_at = reason.find(": ");
    if (reason_at != absl::string_view::npos) reason.remove_prefix(reason_at + 2);
  }
  return SyntaxError(text, source, offset, reason);
}

// ---------------------------------------------------------------------------
// Overrides.

std::optional<size_t> ParseIndex(absl::string_view token) {
  if (token.empty() || token.size() > 9) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;  // RFC 6901: no leading zeros.
  size_t index = 0;
  for (const char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    index = index * 10 + static_cast<size_t>(c - '0');
  }
  return index;
}

absl::Status ApplyOverride(const std::string& text, Json* doc) {
  const auto fail = [&text](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("--set ", Quote(text), ": ", why));
  };
  const size_t equals = text.find('=');
  if (equals == std::string::npos) return fail("expected \"path=value\"");
  const absl::string_view path = absl::string_view(text).substr(0, equals);
  const std::string value_text = text.substr(equals + 1);
  if (path.empty()) return fail("empty path");

  std::vector<std::string> tokens;
  if (path[0] == '/') {
    for (absl::string_view raw : absl::StrSplit(path.substr(1), '/')) {
      std::string token;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '~') {
          token += raw[i];
        } else if (i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
          token += raw[i + 1] == '0' ? '~' : '/';
          ++i;
        } else {
          return fail(
              absl::StrCat("bad JSON pointer ", Quote(path), " (\"~\" must be \"~0\" or \"~1\")"));
        }
      }
      tokens.push_back(std::move(token));
    }
  } else {
    for (absl::string_view token : absl::StrSplit(path, '.')) {
      if (token.empty()) return fail(absl::StrCat("empty component in path ", Quote(path)));
      tokens.emplace_back(token);
    }
  }

  // As in Parse: nlohmann would read "1<NUL>x" as 1 and drop the rest.
  if (value_text.find('\0') != std::string::npos) return fail("the value holds a NUL byte");
  Json value = Json::parse(value_text, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) value = Json(value_text);  // Not JSON: a bare string.

  Json* node = doc;
  std::string pointer;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    const bool last = i + 1 == tokens.size();
    if (node->is_object()) {
      if (last) {
        (*node)[token] = std::move(value);
        return absl::OkStatus();
      }
      const auto it = node->find(token);
      node = it == node->end() ? &((*node)[token] = Json::object()) : &it.value();
    } else if (node->is_array()) {
      const std::optional<size_t> index = ParseIndex(token);
      if (!index.has_value()) {
        return fail(absl::StrCat(pointer.empty() ? "the document" : pointer, " is an array and ",
                                 Quote(token), " is not an index"));
      }
      if (*index >= node->size()) {
        return fail(absl::StrCat(Child(pointer, *index), ": no such element (the array has ",
                                 node->size(), ")"));
      }
      if (last) {
        (*node)[*index] = std::move(value);
        return absl::OkStatus();
      }
      node = &(*node)[*index];
    } else {
      return fail(absl::StrCat(pointer.empty() ? "the document" : pointer, " is ", KindOf(*node),
                               ", not an object or array"));
    }
    pointer = Child(pointer, token);
  }
  VMBSIM_CHECK(false);  // The loop returns at the last token; tokens is never empty.
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Validation.

bool IsName(absl::string_view text) {
  if (text.empty() || text.size() > kNameBytesMax) return false;
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", either case: what fabric::Guid::Parse
// accepts, without depending on the fabric.
bool IsGuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

// An object of the document whose keys have been checked against the table.
class Object {
 public:
  Object(const Json* json, std::string pointer, const std::vector<std::string>* keys)
      : json_(json), pointer_(std::move(pointer)), keys_(keys) {}

  // The value of `key`, or nullptr when absent. REQUIRES: `key` is in the
  // object's key table (a loader bug otherwise: the schema test would miss it).
  const Json* Find(absl::string_view key) const {
    VMBSIM_CHECK_MSG(Contains(*keys_, key), key);
    const auto it = json_->find(std::string(key));
    return it == json_->end() ? nullptr : &it.value();
  }
  std::string Pointer(absl::string_view key) const { return Child(pointer_, key); }
  const std::string& pointer() const { return pointer_; }

 private:
  const Json* json_;
  std::string pointer_;
  const std::vector<std::string>* keys_;
};

class Loader {
 public:
  Loader(absl::string_view source, const std::vector<DriverDescriptor>& drivers)
      : source_(source), drivers_(drivers) {}

  absl::StatusOr<ScenarioSpec> Load(const Json& doc) const;

 private:
  absl::Status Error(absl::string_view pointer, absl::string_view what) const {
    if (pointer.empty()) return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what));
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", pointer, ": ", what));
  }
  absl::Status Mismatch(absl::string_view pointer, absl::string_view expected, const Json& found,
                        absl::string_view tail = "") const {
    return Error(pointer, absl::StrCat("expected ", expected, ", found ", Describe(found), tail));
  }
  absl::Status Missing(const Object& object, absl::string_view key,
                       absl::string_view why = "") const {
    return Error(object.pointer(), absl::StrCat("missing required key ", Quote(key), why));
  }

  // Checks that `json` is an object with only the keys of `schema_path`.
  absl::StatusOr<Object> ReadObject(const Json& json, std::string pointer,
                                    absl::string_view schema_path) const {
    const std::vector<std::string>& keys = KeysOf(schema_path);
    if (!json.is_object()) return Mismatch(pointer, "an object", json);
    for (auto it = json.begin(); it != json.end(); ++it) {
      if (!Contains(keys, it.key())) {
        return Error(Child(pointer, it.key()),
                     absl::StrCat("unknown key", UnknownNameHint(it.key(), keys)));
      }
    }
    return Object(&json, std::move(pointer), &keys);
  }

  // Checks that `key` of `object`, when present, is an array of
  // `count_min..count_max` elements, and returns it (nullptr when absent).
  absl::StatusOr<const Json*> ReadArray(const Object& object, absl::string_view key,
                                        size_t count_min, size_t count_max,
                                        absl::string_view noun) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return value;
    if (!value->is_array() || value->size() < count_min || value->size() > count_max) {
      return Mismatch(object.Pointer(key),
                      absl::StrCat("an array of ", count_min, "..", count_max, " ", noun), *value);
    }
    return value;
  }

  // Typed field readers: each leaves `*out` unchanged when `key` is absent.
  template <typename T>
  absl::Status IntValue(const Json& value, absl::string_view pointer, int64_t min, int64_t max,
                        T* out, absl::string_view note = "") const {
    VMBSIM_CHECK_LE(min, max);
    VMBSIM_CHECK(std::in_range<T>(min));
    VMBSIM_CHECK(std::in_range<T>(max));
    const std::optional<int64_t> number = AsInt64(value);
    if (!number.has_value() || *number < min || *number > max) {
      return Mismatch(pointer, absl::StrCat("an integer in ", min, "..", max, note), value);
    }
    *out = static_cast<T>(*number);
    return absl::OkStatus();
  }

  template <typename T>
  absl::Status Int(const Object& object, absl::string_view key, int64_t min, int64_t max, T* out,
                   absl::string_view note = "") const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    return IntValue(*value, object.Pointer(key), min, max, out, note);
  }

  // `null` resets the field.
  template <typename T>
  absl::Status OptionalInt(const Object& object, absl::string_view key, int64_t min, int64_t max,
                           std::optional<T>* out, absl::string_view note = "") const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_null()) {
      out->reset();
      return absl::OkStatus();
    }
    T number{};
    VMBSIM_RETURN_IF_ERROR(IntValue(*value, object.Pointer(key), min, max, &number, note));
    *out = number;
    return absl::OkStatus();
  }

  absl::Status Uint64Value(const Json& value, absl::string_view pointer, uint64_t* out) const {
    const std::optional<uint64_t> number = AsUint64(value);
    if (!number.has_value()) {
      return Mismatch(
          pointer, absl::StrCat("an integer in 0..", std::numeric_limits<uint64_t>::max()), value);
    }
    *out = *number;
    return absl::OkStatus();
  }

  absl::Status Uint64(const Object& object, absl::string_view key, uint64_t* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    return Uint64Value(*value, object.Pointer(key), out);
  }

  absl::Status OptionalUint64(const Object& object, absl::string_view key,
                              std::optional<uint64_t>* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_null()) {
      out->reset();
      return absl::OkStatus();
    }
    uint64_t number = 0;
    VMBSIM_RETURN_IF_ERROR(Uint64Value(*value, object.Pointer(key), &number));
    *out = number;
    return absl::OkStatus();
  }

  // A number in [min, max], or (min, max] when `min_exclusive`.
  absl::Status NumberValue(const Json& value, absl::string_view pointer, double min,
                           bool min_exclusive, double max, double* out) const {
    const bool in_range =
        value.is_number() && std::isfinite(value.get<double>()) &&
        (min_exclusive ? value.get<double>() > min : value.get<double>() >= min) &&
        value.get<double>() <= max;
    if (!in_range) {
      return Mismatch(pointer,
                      absl::StrCat("a number in ", min_exclusive ? "(" : "[", FormatBound(min),
                                   ", ", FormatBound(max), "]"),
                      value);
    }
    *out = value.get<double>();
    return absl::OkStatus();
  }

  absl::Status Number(const Object& object, absl::string_view key, double min, bool min_exclusive,
                      double max, double* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    return NumberValue(*value, object.Pointer(key), min, min_exclusive, max, out);
  }

  absl::Status OptionalNumber(const Object& object, absl::string_view key, double min, double max,
                              std::optional<double>* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_null()) {
      out->reset();
      return absl::OkStatus();
    }
    double number = 0;
    VMBSIM_RETURN_IF_ERROR(NumberValue(*value, object.Pointer(key), min, false, max, &number));
    *out = number;
    return absl::OkStatus();
  }

  absl::Status Bool(const Object& object, absl::string_view key, bool* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_boolean()) return Mismatch(object.Pointer(key), "true or false", *value);
    *out = value->get<bool>();
    return absl::OkStatus();
  }

  absl::Status String(const Object& object, absl::string_view key, std::string* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string()) return Mismatch(object.Pointer(key), "a string", *value);
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Name(const Object& object, absl::string_view key, std::string* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string() || !IsName(value->get_ref<const std::string&>())) {
      return Mismatch(object.Pointer(key),
                      absl::StrCat("a name of 1..", kNameBytesMax, " characters [a-z0-9_-]"),
                      *value);
    }
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status Guid(const Object& object, absl::string_view key, std::string* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (!value->is_string() || !IsGuid(value->get_ref<const std::string&>())) {
      return Mismatch(object.Pointer(key), "a GUID \"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\"",
                      *value);
    }
    *out = value->get<std::string>();
    return absl::OkStatus();
  }

  // One of `values`; an unknown string gets the nearest value suggested.
  absl::Status Enum(const Object& object, absl::string_view key,
                    const std::vector<std::string>& values, std::string* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_string() && Contains(values, value->get_ref<const std::string&>())) {
      *out = value->get<std::string>();
      return absl::OkStatus();
    }
    const std::string tail =
        value->is_string() ? DidYouMean(value->get_ref<const std::string&>(), values) : "";
    return Mismatch(object.Pointer(key), absl::StrCat("one of ", QuoteList(values)), *value, tail);
  }

  // The name of a channel declared in "channels".
  absl::Status ChannelRef(const Object& object, absl::string_view key,
                          const std::vector<std::string>& channel_names, std::string* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    if (value->is_string() && Contains(channel_names, value->get_ref<const std::string&>())) {
      *out = value->get<std::string>();
      return absl::OkStatus();
    }
    const std::string expected =
        channel_names.empty()
            ? std::string("the name of a channel (the scenario declares none)")
            : absl::StrCat("the name of a channel (one of ", QuoteList(channel_names), ")");
    const std::string tail =
        value->is_string() ? DidYouMean(value->get_ref<const std::string&>(), channel_names) : "";
    return Mismatch(object.Pointer(key), expected, *value, tail);
  }

  // A partition's "vp_speed": one number for all `vps` VPs, or an array of
  // exactly `vps` numbers; `*out` gets one speed per VP either way.
  absl::Status VpSpeeds(const Object& object, absl::string_view key, uint32_t vps, std::vector<double>* out) const {
    const Json* value = object.Find(key);
    if (value == nullptr) return absl::OkStatus();
    double speed = 1;
    if (!value->is_array()) {
      VMBSIM_RETURN_IF_ERROR(NumberValue(*value, object.Pointer(key), kVpSpeedMin, false, kVpSpeedMax, &speed));
      out->assign(vps, speed);
      return absl::OkStatus();
    }
    if (value->size() != vps) {
      return Mismatch(object.Pointer(key),
                      absl::StrCat("a number, or an array of ", vps, " numbers (one per VP)"), *value);
    }
    out->clear();
    for (size_t i = 0; i < value->size(); ++i) {
      VMBSIM_RETURN_IF_ERROR(
          NumberValue((*value)[i], Child(object.Pointer(key), i), kVpSpeedMin, false, kVpSpeedMax, &speed));
      out->push_back(speed);
    }
    return absl::OkStatus();
  }

  absl::Status ReadBackend(const Json& json, std::string pointer, BackendSpec* out) const;
  absl::Status ReadStop(const Json& json, std::string pointer, StopSpec* out) const;
  absl::Status ReadFabric(const Json& json, std::string pointer, FabricSpec* out) const;
  absl::Status ReadDriver(const Json& json, std::string pointer, absl::string_view schema_path,
                          bool host_side, DriverSpec* out) const;
  absl::Status ReadChannel(const Json& json, std::string pointer, const FabricSpec& fabric,
                           ChannelSpec* out) const;
  absl::Status ReadWorkload(const Json& json, std::string pointer,
                            const std::vector<std::string>& channel_names, WorkloadSpec* out) const;
  absl::Status ReadArrival(const Json& json, std::string pointer, ArrivalSpec* out) const;
  // A distribution object (spec.h DistributionSpec) whose keys carry `unit`
  // ("bytes": the keys of `schema_path` "workloads[].size"; "ns": those of
  // "workloads[].arrival.gap"), values in 0..value_max. With
  // `legacy_defaults` (request sizes) "kind" defaults to "fixed" and a fixed
  // or uniform size may leave its values out, as before the other kinds
  // existed; otherwise "kind" and the kind's values are required.
  absl::Status ReadDistribution(const Json& json, std::string pointer, absl::string_view schema_path,
                                absl::string_view unit, int64_t value_max, bool legacy_defaults,
                                DistributionSpec* out) const;
  // channels[].<side>_writer_policy: "windows", "openvmm", "none" or
  // "fixed:N" with N in 1..`ring_pages` * 4096 - 8 (the ring it writes).
  absl::Status ReadWriterPolicy(const Object& object, absl::string_view key, uint32_t ring_pages,
                                absl::string_view ring_key, WriterPolicySpec* out) const;
  absl::Status ReadReader(const Json& json, std::string pointer, absl::string_view schema_path,
                          ReaderSpec* out) const;
  absl::Status ReadExpectations(const Json& json, std::string pointer,
                                const std::vector<std::string>& channel_names,
                                ExpectationSpec* out) const;

  absl::Status ReadFaults(const Json& json, std::string pointer, const ScenarioSpec& spec, FaultsSpec* out) const;
  absl::Status ReadFault(const Json& json, std::string pointer, const ScenarioSpec& spec, FaultSpec* out) const;

  std::string source_;
  const std::vector<DriverDescriptor>& drivers_;
};

absl::StatusOr<ScenarioSpec> Loader::Load(const Json& doc) const {
  ScenarioSpec spec;
  VMBSIM_ASSIGN_OR_RETURN(const Object root, ReadObject(doc, "", ""));
  if (root.Find("name") == nullptr) return Missing(root, "name");
  VMBSIM_RETURN_IF_ERROR(Name(root, "name", &spec.name));
  VMBSIM_RETURN_IF_ERROR(String(root, "description", &spec.description));
  VMBSIM_RETURN_IF_ERROR(Uint64(root, "seed", &spec.seed));
  if (const Json* stop = root.Find("stop")) {
    VMBSIM_RETURN_IF_ERROR(ReadStop(*stop, root.Pointer("stop"), &spec.stop));
  }
  if (const Json* fabric = root.Find("fabric")) {
    VMBSIM_RETURN_IF_ERROR(ReadFabric(*fabric, root.Pointer("fabric"), &spec.fabric));
  }

  std::vector<std::string> backend_names;
  VMBSIM_ASSIGN_OR_RETURN(const Json* backends, ReadArray(root, "backends", 0, kBackendsMax, "back-ends"));
  if (backends != nullptr) {
    for (size_t i = 0; i < backends->size(); ++i) {
      const std::string pointer = Child(root.Pointer("backends"), i);
      BackendSpec backend;
      VMBSIM_RETURN_IF_ERROR(ReadBackend((*backends)[i], pointer, &backend));
      for (size_t j = 0; j < backend_names.size(); ++j) {
        if (backend_names[j] == backend.name) {
          return Mismatch(Child(pointer, "name"), "a back-end name not used by an earlier back-end",
                          Json(backend.name), absl::StrCat(" (", Child(root.Pointer("backends"), j), " has it)"));
        }
      }
      backend_names.push_back(backend.name);
      spec.backends.push_back(std::move(backend));
    }
  }

  std::vector<std::string> channel_names;
  VMBSIM_ASSIGN_OR_RETURN(const Json* channels,
                          ReadArray(root, "channels", 0, kChannelsMax, "channels"));
  if (channels != nullptr) {
    // (interface_type, interface_instance), lower-cased -> the channel that has it.
    std::map<std::pair<std::string, std::string>, std::string> offers;
    for (size_t i = 0; i < channels->size(); ++i) {
      const std::string pointer = Child(root.Pointer("channels"), i);
      ChannelSpec channel;
      VMBSIM_RETURN_IF_ERROR(ReadChannel((*channels)[i], pointer, spec.fabric, &channel));
      if (!channel.backend.empty()) {
        if (!Contains(backend_names, channel.backend)) {
          const std::string expected =
              backend_names.empty() ? std::string("the name of a back-end (the scenario declares none in \"backends\")")
                                    : absl::StrCat("the name of a back-end (one of ", QuoteList(backend_names), ")");
          return Mismatch(Child(pointer, "backend"), expected, Json(channel.backend),
                          DidYouMean(channel.backend, backend_names));
        }
        const auto host = std::find_if(drivers_.begin(), drivers_.end(), [&](const DriverDescriptor& d) {
          return d.name == channel.host_driver.name;
        });
        if (host == drivers_.end() || !host->uses_backend) {
          return Error(Child(pointer, "backend"),
                       absl::StrCat("host driver ", Quote(channel.host_driver.name),
                                    " does not use a back-end (echo_vsp does)"));
        }
      }
      // Workloads and expectations name channels, so names must be unique.
      for (size_t j = 0; j < channel_names.size(); ++j) {
        if (channel_names[j] == channel.name) {
          return Mismatch(Child(pointer, "name"), "a channel name not used by an earlier channel",
                          Json(channel.name),
                          absl::StrCat(" (", Child(root.Pointer("channels"), j), " has it)"));
        }
      }
      // The host offers each (type, instance) pair once (vmbus-fabric.md:
      // an offer is identified by both GUIDs).
      const auto key = std::make_pair(absl::AsciiStrToLower(channel.interface_type),
                                      absl::AsciiStrToLower(channel.interface_instance));
      const auto [it, inserted] = offers.emplace(key, pointer);
      if (!inserted) {
        return Mismatch(Child(pointer, "interface_instance"),
                        "an interface_instance not used by an earlier channel of the same "
                        "interface_type",
                        Json(channel.interface_instance),
                        absl::StrCat(" (", it->second, " has it)"));
      }
      channel_names.push_back(channel.name);
      spec.channels.push_back(std::move(channel));
    }
  }

  VMBSIM_ASSIGN_OR_RETURN(const Json* workloads,
                          ReadArray(root, "workloads", 0, kWorkloadsMax, "workloads"));
  if (workloads != nullptr) {
    for (size_t i = 0; i < workloads->size(); ++i) {
      WorkloadSpec workload;
      VMBSIM_RETURN_IF_ERROR(ReadWorkload((*workloads)[i], Child(root.Pointer("workloads"), i),
                                          channel_names, &workload));
      for (size_t k = 0; k < workload.send_vps.size(); ++k) {
        const auto channel = std::find_if(spec.channels.begin(), spec.channels.end(),
                                          [&](const ChannelSpec& c) { return c.name == workload.channel; });
        const uint32_t guest_vps = spec.fabric.guests[channel->guest - 1].vps;
        if (workload.send_vps[k] >= guest_vps) {
          return Mismatch(Child(Child(Child(root.Pointer("workloads"), i), "send_vps"), k),
                          absl::StrCat("an integer in 0..", guest_vps - 1, " (guest ", channel->guest, " has ",
                                       guest_vps, " VPs)"),
                          Json(workload.send_vps[k]));
        }
      }
      spec.workloads.push_back(std::move(workload));
    }
  }

  if (const absl::Status requests = CheckWorkloadRequests(spec); !requests.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", requests.message()));
  }

  if (const Json* exploration = root.Find("exploration")) {
    VMBSIM_ASSIGN_OR_RETURN(const Object object,
                            ReadObject(*exploration, root.Pointer("exploration"), "exploration"));
    VMBSIM_RETURN_IF_ERROR(
        OptionalUint64(object, "tie_break_seed", &spec.exploration.tie_break_seed));
  }
  if (const Json* expectations = root.Find("expectations")) {
    VMBSIM_RETURN_IF_ERROR(ReadExpectations(*expectations, root.Pointer("expectations"),
                                            channel_names, &spec.expectations));
  }
  if (const Json* faults = root.Find("faults")) {
    VMBSIM_RETURN_IF_ERROR(ReadFaults(*faults, root.Pointer("faults"), spec, &spec.faults));
  }
  return spec;
}

constexpr size_t kInjectionsMax = 1024;
constexpr uint64_t kProbabilityDenominatorMax = uint64_t{1} << 32;

absl::Status Loader::ReadFaults(const Json& json, std::string pointer, const ScenarioSpec& spec,
                                FaultsSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "faults"));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "stuck_ns", 1, kDurationNsMax, &out->stuck_ns));
  VMBSIM_ASSIGN_OR_RETURN(const Json* injections,
                          ReadArray(object, "injections", 0, kInjectionsMax, "fault injections"));
  if (injections == nullptr) return absl::OkStatus();
  for (size_t i = 0; i < injections->size(); ++i) {
    FaultSpec fault;
    VMBSIM_RETURN_IF_ERROR(ReadFault((*injections)[i], Child(object.Pointer("injections"), i), spec, &fault));
    out->injections.push_back(std::move(fault));
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadFault(const Json& json, std::string pointer, const ScenarioSpec& spec,
                               FaultSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "faults.injections[]"));
  if (object.Find("kind") == nullptr) return Missing(object, "kind");
  VMBSIM_RETURN_IF_ERROR(Enum(object, "kind", faults::KindNames(), &out->kind));
  const faults::FaultKindInfo& info = *faults::FindKind(out->kind);
  if (!info.implemented) {
    return Error(object.Pointer("kind"),
                 absl::StrCat("fault kind ", Quote(out->kind), " is in the catalogue but not modelled yet (",
                              info.not_modelled, ")"));
  }
  // Target: exactly one form.
  if (const Json* target = object.Find("target")) {
    VMBSIM_ASSIGN_OR_RETURN(const Object t,
                            ReadObject(*target, object.Pointer("target"), "faults.injections[].target"));
    if (target->size() != 1) {
      return Mismatch(t.pointer(), "an object with exactly one of \"channel\", \"partition\", \"class\", \"all\"",
                      *target);
    }
    std::vector<std::string> channel_names;
    for (const ChannelSpec& c : spec.channels) channel_names.push_back(c.name);
    uint8_t bit = 0;
    if (t.Find("channel") != nullptr) {
      out->target.kind = "channel";
      bit = faults::kTargetChannel;
      VMBSIM_RETURN_IF_ERROR(ChannelRef(t, "channel", channel_names, &out->target.channel));
    } else if (t.Find("partition") != nullptr) {
      out->target.kind = "partition";
      bit = faults::kTargetPartition;
      VMBSIM_RETURN_IF_ERROR(Int(t, "partition", 0, static_cast<int64_t>(spec.fabric.guests.size()),
                                 &out->target.partition, " (0 is the root, 1.. the guests)"));
    } else if (t.Find("class") != nullptr) {
      out->target.kind = "class";
      bit = faults::kTargetClass;
      VMBSIM_RETURN_IF_ERROR(Guid(t, "class", &out->target.interface_type));
    } else {
      out->target.kind = "all";
      bit = faults::kTargetAll;
      const Json& all = *t.Find("all");
      if (!all.is_boolean() || !all.get<bool>()) return Mismatch(t.Pointer("all"), "true", all);
    }
    if ((info.targets & bit) == 0) {
      return Error(t.pointer(), absl::StrCat("fault kind ", Quote(out->kind), " cannot target a ", out->target.kind));
    }
    if (info.kind == faults::FaultKind::kGuestReset && out->target.kind == "partition" && out->target.partition == 0) {
      return Error(t.Pointer("partition"), "guest_reset resets a guest partition (1..); 0 is the root");
    }
  }
  // Trigger: exactly one form.
  uint8_t trigger_bit = faults::kTriggerProbability;
  if (const Json* trigger = object.Find("trigger")) {
    VMBSIM_ASSIGN_OR_RETURN(const Object t,
                            ReadObject(*trigger, object.Pointer("trigger"), "faults.injections[].trigger"));
    if (trigger->size() != 1) {
      return Mismatch(t.pointer(),
                      "an object with exactly one of \"at_ns\", \"after\", \"probability\", \"while\"", *trigger);
    }
    FaultTriggerSpec& tr = out->trigger;
    if (t.Find("at_ns") != nullptr) {
      tr.kind = "at_ns";
      trigger_bit = faults::kTriggerAt;
      VMBSIM_RETURN_IF_ERROR(Int(t, "at_ns", 0, kTimeNsMax, &tr.at_ns));
    } else if (const Json* after = t.Find("after")) {
      tr.kind = "after";
      trigger_bit = faults::kTriggerAfter;
      VMBSIM_ASSIGN_OR_RETURN(const Object a,
                              ReadObject(*after, t.Pointer("after"), "faults.injections[].trigger.after"));
      if (a.Find("event") == nullptr) return Missing(a, "event");
      VMBSIM_RETURN_IF_ERROR(Enum(a, "event", faults::AfterEventNames(), &tr.event));
      VMBSIM_RETURN_IF_ERROR(Int(a, "count", 1, kCountMax, &tr.count));
    } else if (const Json* probability = t.Find("probability")) {
      tr.kind = "probability";
      trigger_bit = faults::kTriggerProbability;
      VMBSIM_ASSIGN_OR_RETURN(
          const Object pr,
          ReadObject(*probability, t.Pointer("probability"), "faults.injections[].trigger.probability"));
      if (pr.Find("numerator") == nullptr) return Missing(pr, "numerator");
      if (pr.Find("denominator") == nullptr) return Missing(pr, "denominator");
      VMBSIM_RETURN_IF_ERROR(Int(pr, "denominator", 1, static_cast<int64_t>(kProbabilityDenominatorMax),
                                 &tr.denominator));
      VMBSIM_RETURN_IF_ERROR(Int(pr, "numerator", 0, static_cast<int64_t>(tr.denominator), &tr.numerator,
                                 " (at most the denominator)"));
    } else {
      tr.kind = "while";
      trigger_bit = faults::kTriggerWhile;
      VMBSIM_RETURN_IF_ERROR(Enum(t, "while", faults::WhilePredicates(), &tr.predicate));
    }
  } else if ((info.triggers & faults::kTriggerProbability) == 0) {
    return Missing(object, "trigger", absl::StrCat(" (fault kind ", Quote(out->kind),
                                                   " is an action: it needs \"at_ns\" or \"after\")"));
  }
  if ((info.triggers & trigger_bit) == 0) {
    return Error(object.Pointer("trigger"),
                 absl::StrCat("fault kind ", Quote(out->kind), " cannot be triggered by \"", out->trigger.kind, "\""));
  }
  // Parameters, against the catalogue entry.
  if (const Json* params = object.Find("params")) {
    VMBSIM_ASSIGN_OR_RETURN(const Object p,
                            ReadObject(*params, object.Pointer("params"), "faults.injections[].params"));
    std::vector<std::string> own;
    for (const faults::FaultParamInfo& param : info.params) own.push_back(param.name);
    for (auto it = params->begin(); it != params->end(); ++it) {
      const faults::FaultParamInfo* param = faults::FindParam(info, it.key());
      if (param == nullptr) {
        return Error(p.Pointer(it.key()),
                     absl::StrCat("fault kind ", Quote(out->kind), " has no parameter ", Quote(it.key()),
                                  own.empty() ? std::string(" (it takes none)")
                                              : absl::StrCat(" (it takes ", QuoteList(own), ")")));
      }
      if (param->choices.empty()) {
        int64_t value = 0;
        VMBSIM_RETURN_IF_ERROR(Int(p, it.key(), param->min, param->max, &value));
        out->int_params[it.key()] = value;
      } else {
        std::string value;
        VMBSIM_RETURN_IF_ERROR(Enum(p, it.key(), param->choices, &value));
        out->string_params[it.key()] = value;
      }
    }
  }
  if (out->kind == "rescind") {
    const auto step = out->string_params.find("step");
    const bool now = step == out->string_params.end() || step->second == "now";
    if (now && out->trigger.kind != "at_ns" && out->trigger.kind != "after") {
      return Error(object.Pointer("trigger"),
                   "a rescind at step \"now\" is an action: it needs an \"at_ns\" or \"after\" trigger");
    }
  }
  VMBSIM_RETURN_IF_ERROR(OptionalUint64(object, "max_firings", &out->max_firings));
  if (out->max_firings.has_value() && (*out->max_firings == 0 || *out->max_firings > uint64_t{kCountMax})) {
    return Mismatch(object.Pointer("max_firings"), absl::StrCat("an integer in 1..", kCountMax), *object.Find("max_firings"));
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadStop(const Json& json, std::string pointer, StopSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "stop"));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "time_ns", 1, kTimeNsMax, &out->time_ns));
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "events_max", 1, std::numeric_limits<int64_t>::max(), &out->events_max));
  VMBSIM_RETURN_IF_ERROR(Bool(object, "quiescence", &out->quiescence));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "warmup_ns", 0, kTimeNsMax, &out->warmup_ns));
  if (out->warmup_ns.has_value() && out->time_ns.has_value() && *out->warmup_ns >= *out->time_ns) {
    return Error(object.Pointer("warmup_ns"),
                 absl::StrCat("the warm-up (", *out->warmup_ns, " ns) must end before stop.time_ns (",
                              *out->time_ns, " ns)"));
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadFabric(const Json& json, std::string pointer, FabricSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "fabric"));
  VMBSIM_RETURN_IF_ERROR(Int(object, "root_vps", 1, kVpsMax, &out->root_vps));
  VMBSIM_RETURN_IF_ERROR(VpSpeeds(object, "root_vp_speed", out->root_vps, &out->root_vp_speed));
  VMBSIM_ASSIGN_OR_RETURN(const Json* guests, ReadArray(object, "guests", 1, kGuestsMax, "guests"));
  if (guests != nullptr) {
    out->guests.clear();
    for (size_t i = 0; i < guests->size(); ++i) {
      VMBSIM_ASSIGN_OR_RETURN(
          const Object guest,
          ReadObject((*guests)[i], Child(object.Pointer("guests"), i), "fabric.guests[]"));
      GuestSpec spec;
      VMBSIM_RETURN_IF_ERROR(Int(guest, "vps", 1, kVpsMax, &spec.vps));
      VMBSIM_RETURN_IF_ERROR(VpSpeeds(guest, "vp_speed", spec.vps, &spec.vp_speed));
      VMBSIM_RETURN_IF_ERROR(Int(guest, "memory_mib", 1, kMemoryMibMax, &spec.memory_mib));
      VMBSIM_RETURN_IF_ERROR(Enum(guest, "early_signal", EarlySignalPolicies(), &spec.early_signal));
      out->guests.push_back(spec);
    }
  }
  VMBSIM_RETURN_IF_ERROR(Enum(object, "cost_profile", CostProfiles(), &out->cost_profile));
  if (const Json* overrides = object.Find("cost_overrides")) {
    VMBSIM_ASSIGN_OR_RETURN(
        const Object costs,
        ReadObject(*overrides, object.Pointer("cost_overrides"), "fabric.cost_overrides"));
    for (const std::string& name : CostOverrideNames()) {
      int64_t value = 0;
      if (costs.Find(name) == nullptr) continue;
      if (name == "monitor_latency_default_ns") {
        // It goes into offers, in 100 ns units: it must fit them exactly.
        constexpr int64_t kMax = int64_t{kInterruptLatency100nsMax} * 100;
        const std::string expected = absl::StrCat(
            "a multiple of 100 in 0..", kMax, " (offers carry it in 100 ns units, 16 bits)");
        const Json& json_value = *costs.Find(name);
        const std::optional<int64_t> number = AsInt64(json_value);
        if (!number.has_value() || *number < 0 || *number > kMax || *number % 100 != 0) {
          return Mismatch(costs.Pointer(name), expected, json_value);
        }
        value = *number;
      } else {
        VMBSIM_RETURN_IF_ERROR(Int(costs, name, 0, kCostMax, &value));
      }
      out->cost_overrides[name] = value;
    }
  }
  VMBSIM_RETURN_IF_ERROR(Enum(object, "monitor_mode", MonitorModes(), &out->monitor_mode));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "preemption", PreemptionModes(), &out->preemption));
  return absl::OkStatus();
}

absl::Status Loader::ReadDriver(const Json& json, std::string pointer,
                                absl::string_view schema_path, bool host_side,
                                DriverSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), schema_path));
  const Json* name = object.Find("name");
  if (name == nullptr) return Missing(object, "name");

  const char* side = host_side ? "host-side" : "guest-side";
  std::vector<std::string> allowed;
  for (const DriverDescriptor& driver : drivers_) {
    if ((host_side ? driver.host_side : driver.guest_side) && !Contains(allowed, driver.name)) {
      allowed.push_back(driver.name);
    }
  }
  const DriverDescriptor* descriptor = nullptr;
  if (name->is_string()) {
    for (const DriverDescriptor& driver : drivers_) {
      if (driver.name == name->get_ref<const std::string&>()) {
        descriptor = &driver;
        break;
      }
    }
  }
  if (descriptor == nullptr || !(host_side ? descriptor->host_side : descriptor->guest_side)) {
    const std::string expected =
        allowed.empty()
            ? absl::StrCat("the name of a ", side, " driver (none is registered)")
            : absl::StrCat("the name of a ", side, " driver (one of ", QuoteList(allowed), ")");
    std::string tail;
    if (descriptor != nullptr) {
      tail = absl::StrCat(" (a ", host_side ? "guest-side" : "host-side", " driver)");
    } else if (name->is_string()) {
      tail = DidYouMean(name->get_ref<const std::string&>(), allowed);
    }
    return Mismatch(object.Pointer("name"), expected, *name, tail);
  }
  out->name = descriptor->name;

  const Json* params = object.Find("params");
  if (params == nullptr) return absl::OkStatus();
  const std::string params_pointer = object.Pointer("params");
  if (!params->is_object()) return Mismatch(params_pointer, "an object of parameters", *params);
  std::vector<std::string> declared;
  for (const DriverParam& param : descriptor->params) declared.push_back(param.name);
  for (auto it = params->begin(); it != params->end(); ++it) {
    const std::string param_pointer = Child(params_pointer, it.key());
    const auto param = std::find_if(descriptor->params.begin(), descriptor->params.end(),
                                    [&it](const DriverParam& p) { return p.name == it.key(); });
    if (param == descriptor->params.end()) {
      const std::string hint = declared.empty() ? absl::StrCat("; driver ", Quote(descriptor->name),
                                                               " takes no parameters")
                                                : UnknownNameHint(it.key(), declared);
      return Error(param_pointer,
                   absl::StrCat("unknown parameter of driver ", Quote(descriptor->name), hint));
    }
    const Json& value = it.value();
    switch (param->type) {
      case ParamType::kInt: {
        const std::optional<int64_t> number = AsInt64(value);
        if (!number.has_value() || *number < param->int_min || *number > param->int_max) {
          const bool ranged = param->int_min != std::numeric_limits<int64_t>::min() ||
                              param->int_max != std::numeric_limits<int64_t>::max();
          return Mismatch(param_pointer,
                          ranged ? absl::StrCat("an integer in ", param->int_min, "..", param->int_max) : "an integer",
                          value);
        }
        out->int_params[it.key()] = *number;
        break;
      }
      case ParamType::kBool:
        if (!value.is_boolean()) return Mismatch(param_pointer, "true or false", value);
        out->bool_params[it.key()] = value.get<bool>();
        break;
      case ParamType::kString:
        if (!value.is_string()) return Mismatch(param_pointer, "a string", value);
        out->string_params[it.key()] = value.get<std::string>();
        break;
      case ParamType::kDistribution: {
        // The keys of a duration distribution, as at workloads[].arrival.gap.
        DistributionSpec distribution;
        VMBSIM_RETURN_IF_ERROR(ReadDistribution(value, param_pointer, "workloads[].arrival.gap", "ns",
                                                kDurationNsMax, /*legacy_defaults=*/false, &distribution));
        out->distribution_params[it.key()] = std::move(distribution);
        break;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadWriterPolicy(const Object& object, absl::string_view key, uint32_t ring_pages,
                                      absl::string_view ring_key, WriterPolicySpec* out) const {
  const Json* value = object.Find(key);
  if (value == nullptr) return absl::OkStatus();
  const int64_t fixed_max = int64_t{ring_pages} * 4096 - 8;
  const std::string expected =
      absl::StrCat("\"windows\", \"openvmm\", \"none\" or \"fixed:N\" (N in 1..", fixed_max,
                   " bytes: the ", ring_key, " ring's data size - 8)");
  if (!value->is_string()) return Mismatch(object.Pointer(key), expected, *value);
  const std::string& text = value->get_ref<const std::string&>();
  if (text == "windows" || text == "openvmm" || text == "none") {
    out->kind = text;
    out->fixed_bytes = 0;
    return absl::OkStatus();
  }
  constexpr absl::string_view kFixed = "fixed:";
  int64_t bytes = 0;
  const absl::string_view digits = absl::string_view(text).substr(std::min(text.size(), kFixed.size()));
  const bool is_fixed = absl::StartsWith(text, kFixed) && !digits.empty() && digits.size() <= 12 &&
                        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (is_fixed) bytes = std::stoll(std::string(digits));
  if (!is_fixed || bytes < 1 || bytes > fixed_max) {
    const std::string tail =
        is_fixed ? "" : DidYouMean(text, {"windows", "openvmm", "none"});
    return Mismatch(object.Pointer(key), expected, *value, tail);
  }
  out->kind = "fixed";
  out->fixed_bytes = static_cast<uint32_t>(bytes);
  return absl::OkStatus();
}

absl::Status Loader::ReadReader(const Json& json, std::string pointer, absl::string_view schema_path,
                                ReaderSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), schema_path));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "kind", ReaderKinds(), &out->kind));
  // Keys of another kind are accepted and ignored, as for distributions.
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "dpc_budget_ns", 1, kDurationNsMax, &out->dpc_budget_ns));
  VMBSIM_RETURN_IF_ERROR(Int(object, "budget_packets", 1, kBudgetPacketsMax, &out->budget_packets));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "poll_period_ns", 1, kDurationNsMax, &out->poll_period_ns));
  if (out->kind == "polled" && !out->poll_period_ns.has_value()) {
    return Missing(object, "poll_period_ns", " (a \"polled\" reader has no default period)");
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadChannel(const Json& json, std::string pointer, const FabricSpec& fabric,
                                 ChannelSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "channels[]"));
  // No useful default exists for these: workloads refer to the name, the
  // offer needs both GUIDs, and each end needs a driver.
  for (const char* key :
       {"name", "interface_type", "interface_instance", "host_driver", "guest_driver"}) {
    if (object.Find(key) == nullptr) return Missing(object, key);
  }
  VMBSIM_RETURN_IF_ERROR(Name(object, "name", &out->name));
  VMBSIM_RETURN_IF_ERROR(Guid(object, "interface_type", &out->interface_type));
  VMBSIM_RETURN_IF_ERROR(Guid(object, "interface_instance", &out->interface_instance));
  VMBSIM_RETURN_IF_ERROR(Int(object, "guest", 1, static_cast<int64_t>(fabric.guests.size()),
                             &out->guest,
                             absl::StrCat(" (fabric.guests has ", fabric.guests.size(), ")")));
  VMBSIM_RETURN_IF_ERROR(ReadDriver(*object.Find("host_driver"), object.Pointer("host_driver"),
                                    "channels[].host_driver", /*host_side=*/true,
                                    &out->host_driver));
  VMBSIM_RETURN_IF_ERROR(ReadDriver(*object.Find("guest_driver"), object.Pointer("guest_driver"),
                                    "channels[].guest_driver", /*host_side=*/false,
                                    &out->guest_driver));
  VMBSIM_RETURN_IF_ERROR(
      Int(object, "incoming_ring_pages", kRingPagesMin, kRingPagesMax, &out->incoming_ring_pages));
  VMBSIM_RETURN_IF_ERROR(
      Int(object, "outgoing_ring_pages", kRingPagesMin, kRingPagesMax, &out->outgoing_ring_pages));
  VMBSIM_RETURN_IF_ERROR(
      Int(object, "max_packet_bytes", 1, kPacketBytesMax, &out->max_packet_bytes));
  VMBSIM_RETURN_IF_ERROR(Bool(object, "monitored", &out->monitored));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "interrupt", InterruptKinds(), &out->interrupt));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "interrupt_latency_100ns", 0,
                                     int64_t{kInterruptLatency100nsMax},
                                     &out->interrupt_latency_100ns));
  VMBSIM_CHECK_GE(out->guest, 1);
  VMBSIM_CHECK_LE(size_t{out->guest}, fabric.guests.size());
  const uint32_t guest_vps = fabric.guests[out->guest - 1].vps;
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "guest_target_vp", 0, int64_t{guest_vps} - 1, &out->guest_target_vp,
                  absl::StrCat(" (guest ", out->guest, " has ", guest_vps, " VPs)")));
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "host_target_vp", 0, int64_t{fabric.root_vps} - 1, &out->host_target_vp,
                  absl::StrCat(" (fabric.root_vps is ", fabric.root_vps, ")")));
  VMBSIM_ASSIGN_OR_RETURN(const Json* retarget,
                          ReadArray(object, "retarget", 0, kRetargetsMax, "[time_ns, guest VP] pairs"));
  if (retarget != nullptr) {
    int64_t previous = 0;
    for (size_t i = 0; i < retarget->size(); ++i) {
      const Json& pair = (*retarget)[i];
      const std::string at = Child(object.Pointer("retarget"), i);
      if (!pair.is_array() || pair.size() != 2) return Mismatch(at, "a [time_ns, guest VP] pair", pair);
      ChannelSpec::Retarget move;
      VMBSIM_RETURN_IF_ERROR(IntValue(pair[0], Child(at, size_t{0}), previous, kTimeNsMax, &move.at_ns,
                                      i == 0 ? "" : " (times do not decrease)"));
      VMBSIM_RETURN_IF_ERROR(IntValue(pair[1], Child(at, size_t{1}), 0, int64_t{guest_vps} - 1, &move.vp,
                                      absl::StrCat(" (guest ", out->guest, " has ", guest_vps, " VPs)")));
      previous = move.at_ns;
      out->retarget.push_back(move);
    }
  }
  VMBSIM_RETURN_IF_ERROR(Bool(object, "host_passive_processing", &out->host_passive_processing));
  VMBSIM_RETURN_IF_ERROR(Bool(object, "guest_passive_processing", &out->guest_passive_processing));
  // KMCL: a transaction quota of 0 is a caller bug (kmcl-api.md §6.2).
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "host_transaction_quota", 1, kQuotaMax, &out->host_transaction_quota));
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "guest_transaction_quota", 1, kQuotaMax, &out->guest_transaction_quota));
  VMBSIM_RETURN_IF_ERROR(
      Int(object, "sub_channels", 0, int64_t{kSubChannelsMax}, &out->sub_channels));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "lost_wakeup_bug", BuggyEndpoints(), &out->lost_wakeup_bug));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "pending_send_bug", BuggyEndpoints(), &out->pending_send_bug));
  // The host writes the host->guest (incoming) ring, the guest the other.
  VMBSIM_RETURN_IF_ERROR(ReadWriterPolicy(object, "host_writer_policy", out->incoming_ring_pages,
                                          "incoming_ring_pages", &out->host_writer_policy));
  VMBSIM_RETURN_IF_ERROR(ReadWriterPolicy(object, "guest_writer_policy", out->outgoing_ring_pages,
                                          "outgoing_ring_pages", &out->guest_writer_policy));
  if (const Json* reader = object.Find("host_reader")) {
    VMBSIM_RETURN_IF_ERROR(
        ReadReader(*reader, object.Pointer("host_reader"), "channels[].host_reader", &out->host_reader));
  }
  if (const Json* reader = object.Find("guest_reader")) {
    VMBSIM_RETURN_IF_ERROR(
        ReadReader(*reader, object.Pointer("guest_reader"), "channels[].guest_reader", &out->guest_reader));
  }
  // Teardown times; whether they fall inside the run is the runner's business.
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "host_stop_ns", 0, kTimeNsMax, &out->host_stop_ns));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, "guest_stop_ns", 0, kTimeNsMax, &out->guest_stop_ns));
  VMBSIM_RETURN_IF_ERROR(Name(object, "backend", &out->backend));
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "force_retire_after_ns", 0, kTimeNsMax, &out->force_retire_after_ns));
  VMBSIM_RETURN_IF_ERROR(Int(object, "unstick_timer_ns", 0, kTimeNsMax, &out->unstick_timer_ns));
  return absl::OkStatus();
}

absl::Status Loader::ReadBackend(const Json& json, std::string pointer, BackendSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "backends[]"));
  for (const char* key : {"name", "service"}) {
    if (object.Find(key) == nullptr) return Missing(object, key);
  }
  VMBSIM_RETURN_IF_ERROR(Name(object, "name", &out->name));
  VMBSIM_RETURN_IF_ERROR(Int(object, "servers", 1, kBackendServersMax, &out->servers));
  return ReadDistribution(*object.Find("service"), object.Pointer("service"), "backends[].service", "ns",
                          kDurationNsMax, /*legacy_defaults=*/false, &out->service);
}

absl::Status Loader::ReadWorkload(const Json& json, std::string pointer,
                                  const std::vector<std::string>& channel_names,
                                  WorkloadSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), "workloads[]"));
  if (object.Find("channel") == nullptr) return Missing(object, "channel");
  VMBSIM_RETURN_IF_ERROR(ChannelRef(object, "channel", channel_names, &out->channel));
  if (const Json* arrival = object.Find("arrival")) {
    VMBSIM_RETURN_IF_ERROR(ReadArrival(*arrival, object.Pointer("arrival"), &out->arrival));
  }
  if (const Json* size = object.Find("size")) {
    VMBSIM_RETURN_IF_ERROR(ReadDistribution(*size, object.Pointer("size"), "workloads[].size", "bytes",
                                            kPacketBytesMax, /*legacy_defaults=*/true, &out->size));
    // Every request must fit the channel (CheckWorkloadRequests), so a
    // size with an unbounded tail needs its bound.
    if (!DistributionMax(out->size).has_value()) {
      return Error(object.Pointer("size"),
                   absl::StrCat("missing required key \"max_bytes\" (kind ", Quote(out->size.kind),
                                " needs a bound: requests must fit max_packet_bytes)"));
    }
  }
  VMBSIM_RETURN_IF_ERROR(Int(object, "requests", 1, kCountMax, &out->requests));
  VMBSIM_RETURN_IF_ERROR(Int(object, "start_ns", 0, kTimeNsMax, &out->start_ns));
  VMBSIM_ASSIGN_OR_RETURN(const Json* send_vps, ReadArray(object, "send_vps", 1, kVpsMax, "guest VP indices"));
  if (send_vps != nullptr) {
    if (out->arrival.kind == "closed_loop") {
      return Error(object.Pointer("send_vps"),
                   "unexpected for arrival kind \"closed_loop\" (the guest driver sends its requests from its "
                   "completions, on the channel's VP)");
    }
    // The VPs' range is the channel's guest's, checked once the workload is read.
    for (size_t i = 0; i < send_vps->size(); ++i) {
      uint32_t vp = 0;
      VMBSIM_RETURN_IF_ERROR(IntValue((*send_vps)[i], Child(object.Pointer("send_vps"), i), 0, kVpsMax - 1, &vp));
      out->send_vps.push_back(vp);
    }
  }
  if (out->arrival.kind == "trace") {
    // The events say how many requests and how big; a size or a request
    // count that disagrees is a mistake, not a setting.
    if (object.Find("size") != nullptr) {
      return Error(object.Pointer("size"), "unexpected for arrival kind \"trace\" (its events carry the sizes)");
    }
    const uint64_t events = out->arrival.events.size();
    if (object.Find("requests") != nullptr && out->requests != events) {
      return Mismatch(object.Pointer("requests"),
                      absl::StrCat(events, " (the number of arrival events) or no key"), *object.Find("requests"));
    }
    out->requests = events;
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadArrival(const Json& json, std::string pointer, ArrivalSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object,
                          ReadObject(json, std::move(pointer), "workloads[].arrival"));
  VMBSIM_RETURN_IF_ERROR(Enum(object, "kind", ArrivalKinds(), &out->kind));
  VMBSIM_RETURN_IF_ERROR(Int(object, "outstanding", 1, kOutstandingMax, &out->outstanding));
  VMBSIM_RETURN_IF_ERROR(Int(object, "interval_ns", 1, kDurationNsMax, &out->interval_ns));
  VMBSIM_RETURN_IF_ERROR(Int(object, "burst", 1, kOutstandingMax, &out->burst));
  VMBSIM_RETURN_IF_ERROR(Int(object, "on_ns", 0, kDurationNsMax, &out->on_ns));
  VMBSIM_RETURN_IF_ERROR(Int(object, "off_ns", 0, kDurationNsMax, &out->off_ns));
  VMBSIM_RETURN_IF_ERROR(Int(object, "off_interval_ns", 0, kDurationNsMax, &out->off_interval_ns));
  if (const Json* gap = object.Find("gap")) {
    VMBSIM_RETURN_IF_ERROR(ReadDistribution(*gap, object.Pointer("gap"), "workloads[].arrival.gap", "ns",
                                            kDurationNsMax, /*legacy_defaults=*/false, &out->gap));
  }
  if (out->kind == "renewal" && object.Find("gap") == nullptr) {
    return Missing(object, "gap", " (kind \"renewal\" draws its gaps from it)");
  }
  VMBSIM_ASSIGN_OR_RETURN(const Json* events,
                          ReadArray(object, "events", 1, kArrivalEventsMax, "[time_ns, bytes] pairs"));
  if (events != nullptr && out->kind != "trace") {
    return Error(object.Pointer("events"), absl::StrCat("unexpected for kind ", Quote(out->kind),
                                                        " (only kind \"trace\" replays events)"));
  }
  if (out->kind == "trace" && events == nullptr) {
    return Missing(object, "events", " (kind \"trace\" replays them)");
  }
  if (events != nullptr) {
    out->events.reserve(events->size());
    int64_t previous = 0;
    for (size_t i = 0; i < events->size(); ++i) {
      const Json& pair = (*events)[i];
      const std::string at = Child(object.Pointer("events"), i);
      if (!pair.is_array() || pair.size() != 2) return Mismatch(at, "a [time_ns, bytes] pair", pair);
      ArrivalSpec::Event event;
      VMBSIM_RETURN_IF_ERROR(IntValue(pair[0], Child(at, size_t{0}), previous, kTimeNsMax, &event.time_ns,
                                      i == 0 ? "" : " (times do not decrease)"));
      VMBSIM_RETURN_IF_ERROR(IntValue(pair[1], Child(at, size_t{1}), 0, kPacketBytesMax, &event.bytes));
      previous = event.time_ns;
      out->events.push_back(event);
    }
  }
  // Without an on phase an on_off workload never sends, and the run would
  // wait for requests that never come.
  if ((out->kind == "on_off" || out->kind == "mmpp2") && out->on_ns == 0) {
    const Json* on_ns = object.Find("on_ns");
    const std::string kind = Quote(out->kind);
    if (on_ns == nullptr) return Missing(object, "on_ns", absl::StrCat(" (kind ", kind, " needs an on phase)"));
    return Mismatch(object.Pointer("on_ns"),
                    absl::StrCat("an integer in 1..", kDurationNsMax, " for kind ", kind),
                    *on_ns);
  }
  // An MMPP-2 state that is never left, or an off state of zero mean length,
  // is a Poisson process written the long way; both are refused so that a
  // typo does not silently change the process.
  if (out->kind == "mmpp2" && out->off_ns == 0) {
    const Json* off_ns = object.Find("off_ns");
    if (off_ns == nullptr) return Missing(object, "off_ns", " (kind \"mmpp2\" needs an off state)");
    return Mismatch(object.Pointer("off_ns"), absl::StrCat("an integer in 1..", kDurationNsMax, " for kind \"mmpp2\""),
                    *off_ns);
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadDistribution(const Json& json, std::string pointer, absl::string_view schema_path,
                                      absl::string_view unit, int64_t value_max, bool legacy_defaults,
                                      DistributionSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object, ReadObject(json, std::move(pointer), schema_path));
  const std::string value_key(unit);
  const std::string min_key = absl::StrCat("min_", unit);
  const std::string max_key = absl::StrCat("max_", unit);
  const std::string mean_key = absl::StrCat("mean_", unit);
  const std::string median_key = absl::StrCat("median_", unit);
  if (!legacy_defaults && object.Find("kind") == nullptr) return Missing(object, "kind");
  VMBSIM_RETURN_IF_ERROR(Enum(object, "kind", DistributionKinds(), &out->kind));
  VMBSIM_RETURN_IF_ERROR(Int(object, value_key, 0, value_max, &out->value));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, min_key, 0, value_max, &out->min));
  VMBSIM_RETURN_IF_ERROR(OptionalInt(object, max_key, 0, value_max, &out->max));
  VMBSIM_RETURN_IF_ERROR(Int(object, mean_key, 0, value_max, &out->mean));
  VMBSIM_RETURN_IF_ERROR(Int(object, median_key, 0, value_max, &out->median));
  VMBSIM_RETURN_IF_ERROR(Number(object, "sigma", 0.0, /*min_exclusive=*/false, kSigmaMax, &out->sigma));
  VMBSIM_ASSIGN_OR_RETURN(const Json* table, ReadArray(object, "table", 0, kSizeTableMax, "entries"));
  if (table != nullptr) {
    out->table.clear();
    const std::string row_path = absl::StrCat(schema_path, ".table[]");
    for (size_t i = 0; i < table->size(); ++i) {
      VMBSIM_ASSIGN_OR_RETURN(const Object entry, ReadObject((*table)[i], Child(object.Pointer("table"), i), row_path));
      DistributionSpec::Row row;
      VMBSIM_RETURN_IF_ERROR(Int(entry, value_key, 0, value_max, &row.value));
      VMBSIM_RETURN_IF_ERROR(Int(entry, "weight", 1, kCountMax, &row.weight));
      out->table.push_back(row);
    }
  }
  // Keys another kind uses are accepted and ignored, so that a sweep can
  // switch kinds with --set over a file written for one of them; the keys
  // the chosen kind needs must be there (sizes keep their old defaults).
  const std::string for_kind = absl::StrCat(" (kind ", Quote(out->kind), " draws from it)");
  if (out->kind == "fixed" && !legacy_defaults && object.Find(value_key) == nullptr) {
    return Missing(object, value_key, for_kind);
  }
  if (out->kind == "uniform" && !legacy_defaults) {
    if (object.Find(min_key) == nullptr || out->min == std::nullopt) return Missing(object, min_key, for_kind);
    if (object.Find(max_key) == nullptr || out->max == std::nullopt) return Missing(object, max_key, for_kind);
  }
  if (out->kind == "exponential" && object.Find(mean_key) == nullptr) return Missing(object, mean_key, for_kind);
  if (out->kind == "lognormal") {
    if (object.Find(median_key) == nullptr) return Missing(object, median_key, for_kind);
    if (object.Find("sigma") == nullptr) return Missing(object, "sigma", for_kind);
  }
  if (out->min.has_value() && out->max.has_value() && *out->min > *out->max) {
    return Error(object.pointer(), absl::StrCat("expected ", min_key, " <= ", max_key, " for kind ", Quote(out->kind),
                                                ", found ", min_key, " ", *out->min, " and ", max_key, " ", *out->max));
  }
  if (out->kind == "uniform" && out->min.value_or(0) > out->max.value_or(0)) {
    return Error(object.pointer(), absl::StrCat("expected ", min_key, " <= ", max_key, " for kind \"uniform\", found ",
                                                min_key, " ", out->min.value_or(0), " and ", max_key, " 0"));
  }
  if (out->kind == "empirical" && out->table.empty()) {
    if (table == nullptr) return Missing(object, "table", for_kind);
    return Mismatch(object.Pointer("table"), "a non-empty array for kind \"empirical\"", *table);
  }
  return absl::OkStatus();
}

absl::Status Loader::ReadExpectations(const Json& json, std::string pointer,
                                      const std::vector<std::string>& channel_names,
                                      ExpectationSpec* out) const {
  VMBSIM_ASSIGN_OR_RETURN(const Object object,
                          ReadObject(json, std::move(pointer), "expectations"));
  VMBSIM_RETURN_IF_ERROR(Bool(object, "no_lost_packets", &out->no_lost_packets));
  VMBSIM_RETURN_IF_ERROR(Bool(object, "no_verifier_findings", &out->no_verifier_findings));

  VMBSIM_ASSIGN_OR_RETURN(const Json* latency,
                          ReadArray(object, "latency", 0, kLatencyBoundsMax, "latency bounds"));
  if (latency != nullptr) {
    for (size_t i = 0; i < latency->size(); ++i) {
      VMBSIM_ASSIGN_OR_RETURN(
          const Object bound_object,
          ReadObject((*latency)[i], Child(object.Pointer("latency"), i), "expectations.latency[]"));
      LatencyBound bound;
      // A bound without a limit would always pass.
      if (bound_object.Find("max_ns") == nullptr) return Missing(bound_object, "max_ns");
      VMBSIM_RETURN_IF_ERROR(ChannelRef(bound_object, "channel", channel_names, &bound.channel));
      VMBSIM_RETURN_IF_ERROR(Enum(bound_object, "metric", LatencyMetrics(), &bound.metric));
      VMBSIM_RETURN_IF_ERROR(Number(bound_object, "percentile", 0.0, /*min_exclusive=*/true, 100.0,
                                    &bound.percentile));
      VMBSIM_RETURN_IF_ERROR(Int(bound_object, "max_ns", 1, kTimeNsMax, &bound.max_ns));
      out->latency.push_back(std::move(bound));
    }
  }

  VMBSIM_RETURN_IF_ERROR(OptionalNumber(object, "interrupts_per_packet_max", 0.0,
                                        kInterruptsPerPacketMax, &out->interrupts_per_packet_max));
  VMBSIM_RETURN_IF_ERROR(OptionalNumber(object, "interrupts_per_packet_min", 0.0,
                                        kInterruptsPerPacketMax, &out->interrupts_per_packet_min));
  if (out->interrupts_per_packet_min.has_value() && out->interrupts_per_packet_max.has_value() &&
      *out->interrupts_per_packet_min > *out->interrupts_per_packet_max) {
    return Error(object.pointer(),
                 absl::StrCat("expected interrupts_per_packet_min <= interrupts_per_packet_max, "
                              "found ",
                              Describe(*object.Find("interrupts_per_packet_min")), " and ",
                              Describe(*object.Find("interrupts_per_packet_max"))));
  }

  VMBSIM_ASSIGN_OR_RETURN(const Json* findings,
                          ReadArray(object, "findings", 0, kFindingsMax, "findings"));
  if (findings != nullptr) {
    std::map<std::string, std::string> listed;  // Rule -> the entry that lists it.
    for (size_t i = 0; i < findings->size(); ++i) {
      const std::string entry_pointer = Child(object.Pointer("findings"), i);
      VMBSIM_ASSIGN_OR_RETURN(const Object entry,
                              ReadObject((*findings)[i], entry_pointer, "expectations.findings[]"));
      FindingExpectation finding;
      if (entry.Find("rule") == nullptr) return Missing(entry, "rule");
      VMBSIM_RETURN_IF_ERROR(Enum(entry, "rule", RuleNames(), &finding.rule));
      const auto [it, inserted] = listed.emplace(finding.rule, entry_pointer);
      if (!inserted) {
        return Mismatch(entry.Pointer("rule"), "a rule not listed by an earlier entry",
                        Json(finding.rule), absl::StrCat(" (", it->second, " lists it)"));
      }
      VMBSIM_RETURN_IF_ERROR(Int(entry, "min_count", 0, kCountMax, &finding.min_count));
      VMBSIM_RETURN_IF_ERROR(OptionalInt(entry, "max_count", 0, kCountMax, &finding.max_count));
      if (finding.max_count.has_value() && finding.min_count > *finding.max_count) {
        return Error(entry_pointer,
                     absl::StrCat("expected min_count <= max_count, found min_count ",
                                  finding.min_count, " and max_count ", *finding.max_count));
      }
      out->findings.push_back(std::move(finding));
    }
  }

  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "lost_packets_min", 1, kCountMax, &out->lost_packets_min));
  VMBSIM_RETURN_IF_ERROR(
      OptionalInt(object, "failed_transactions_min", 1, kCountMax, &out->failed_transactions_min));
  // Expecting lost packets contradicts "no_lost_packets": true. Absent, the
  // latter's default gives way (a negative scenario need not spell it out).
  if (out->lost_packets_min.has_value()) {
    if (object.Find("no_lost_packets") != nullptr && out->no_lost_packets) {
      return Mismatch(object.Pointer("lost_packets_min"),
                      "no lost_packets_min while \"no_lost_packets\" is true",
                      *object.Find("lost_packets_min"),
                      " (set \"no_lost_packets\" to false or leave it out)");
    }
    out->no_lost_packets = false;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckWorkloadRequests(const ScenarioSpec& spec) {
  const auto error = [](absl::string_view pointer, absl::string_view expected, uint32_t found) {
    return absl::InvalidArgumentError(
        absl::StrCat(pointer, ": expected ", expected, ", found ", found));
  };
  // The largest request of workload `index` and the pointer of the field
  // that says so.
  const auto largest = [&spec](size_t index) -> std::pair<uint32_t, std::string> {
    const WorkloadSpec& workload = spec.workloads[index];
    if (workload.arrival.kind == "trace") {
      const std::vector<ArrivalSpec::Event>& events = workload.arrival.events;
      size_t row = 0;
      for (size_t i = 1; i < events.size(); ++i) {
        if (events[i].bytes > events[row].bytes) row = i;
      }
      if (events.empty()) return {0, absl::StrCat("/workloads/", index, "/arrival/events")};
      return {events[row].bytes, absl::StrCat("/workloads/", index, "/arrival/events/", row, "/1")};
    }
    const DistributionSpec& size = workload.size;
    const std::string pointer = absl::StrCat("/workloads/", index, "/size");
    if (size.kind == "fixed") return {static_cast<uint32_t>(size.value), pointer + "/bytes"};
    if (size.kind != "empirical") return {SizeBytesMax(size), pointer + "/max_bytes"};
    if (size.table.empty()) return {0, pointer + "/table"};
    size_t row = 0;
    for (size_t i = 1; i < size.table.size(); ++i) {
      if (size.table[i].value > size.table[row].value) row = i;
    }
    return {static_cast<uint32_t>(size.table[row].value), absl::StrCat(pointer, "/table/", row, "/bytes")};
  };
  for (size_t w = 0; w < spec.workloads.size(); ++w) {
    const WorkloadSpec& workload = spec.workloads[w];
    if (workload.arrival.kind != "trace" && !DistributionMax(workload.size).has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("/workloads/", w, "/size/max_bytes: expected a bound for kind ",
                                                     Quote(workload.size.kind), ", found none"));
    }
  }
  for (size_t c = 0; c < spec.channels.size(); ++c) {
    const ChannelSpec& channel = spec.channels[c];
    std::optional<size_t> closed_loop;  // The channel's closed-loop workload.
    for (size_t w = 0; w < spec.workloads.size(); ++w) {
      const WorkloadSpec& workload = spec.workloads[w];
      if (workload.channel != channel.name) continue;
      const auto [bytes, pointer] = largest(w);
      VMBSIM_CHECK_EQ(bytes, WorkloadBytesMax(workload));
      if (bytes > RequestBytesMax(channel)) {
        return error(pointer,
                     absl::StrCat("a request of at most ", RequestBytesMax(channel),
                                  " bytes (/channels/", c, "/max_packet_bytes)"),
                     bytes);
      }
      if (workload.arrival.kind != "closed_loop") continue;
      if (workload.size.kind != "fixed") {
        return absl::InvalidArgumentError(absl::StrCat(
            "/workloads/", w, "/size/kind: expected \"fixed\" for a closed_loop workload (the "
            "guest driver keeps `outstanding` requests of one size in flight), found ",
            Quote(workload.size.kind)));
      }
      if (closed_loop.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "/workloads/", w, "/arrival/kind: expected one closed_loop workload per channel, found "
            "a second on channel ", Quote(channel.name), " (/workloads/", *closed_loop,
            " is the first)"));
      }
      closed_loop = w;
    }
    if (!closed_loop.has_value()) continue;
    const uint32_t closed_bytes = static_cast<uint32_t>(spec.workloads[*closed_loop].size.value);
    for (size_t w = 0; w < spec.workloads.size(); ++w) {
      if (w == *closed_loop || spec.workloads[w].channel != channel.name) continue;
      const auto [bytes, pointer] = largest(w);
      if (bytes > closed_bytes) {
        return error(pointer,
                     absl::StrCat("a request of at most ", closed_bytes, " bytes (/workloads/",
                                  *closed_loop,
                                  "/size/bytes: the closed loop on this channel sets the guest "
                                  "driver's request buffer)"),
                     bytes);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ScenarioSpec> LoadScenario(absl::string_view json_text,
                                          absl::string_view source_name,
                                          const std::vector<DriverDescriptor>& drivers,
                                          const std::vector<std::string>& overrides) {
  Json doc;
  VMBSIM_RETURN_IF_ERROR(Parse(json_text, source_name, &doc));
  for (const std::string& override_text : overrides) {
    VMBSIM_RETURN_IF_ERROR(ApplyOverride(override_text, &doc));
  }
  VMBSIM_ASSIGN_OR_RETURN(ScenarioSpec spec, Loader(source_name, drivers).Load(doc));
  spec.document_json = doc.dump();
  return spec;
}

absl::StatusOr<ScenarioSpec> LoadScenarioFile(const std::string& path,
                                              const std::vector<DriverDescriptor>& drivers,
                                              const std::vector<std::string>& overrides) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  // The size first, from the open file itself (no race with a rename): an
  // oversize regular file is refused without reading a byte of it.
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  if (S_ISDIR(info.st_mode)) return absl::NotFoundError(absl::StrCat(path, ": is a directory"));
  const bool regular = S_ISREG(info.st_mode);
  if (regular && static_cast<uint64_t>(info.st_size) > kFileBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", info.st_size,
                                                   " bytes, more than a scenario file may have (",
                                                   kFileBytesMax, "); not read"));
  }
  // Read in chunks up to the limit either way: `path` may be a pipe (no
  // size), or a regular file may grow while it is read.
  std::string text;
  if (regular) text.reserve(static_cast<size_t>(info.st_size));
  char chunk[64 * 1024];
  for (;;) {
    const ssize_t got = read(fd, chunk, sizeof(chunk));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      return absl::NotFoundError(absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
    }
    if (got == 0) break;
    text.append(chunk, static_cast<size_t>(got));
    if (text.size() > kFileBytesMax) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kFileBytesMax, " bytes; not a scenario"));
    }
  }
  return LoadScenario(text, path, drivers, overrides);
}

absl::StatusOr<std::string> WithWorkloads(absl::string_view document_json,
                                          const std::vector<WorkloadSpec>& workloads) {
  Json doc = Json::parse(document_json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("the scenario document is not a JSON object");
  }
  Json out = Json::array();
  for (const WorkloadSpec& w : workloads) {
    VMBSIM_CHECK_EQ(w.arrival.kind, "trace");
    Json events = Json::array();
    for (const ArrivalSpec::Event& e : w.arrival.events) events.push_back(Json::array({e.time_ns, e.bytes}));
    Json workload = Json::object();
    workload["channel"] = w.channel;
    workload["start_ns"] = w.start_ns;
    workload["arrival"] = Json::object({{"kind", "trace"}, {"events", std::move(events)}});
    out.push_back(std::move(workload));
  }
  doc["workloads"] = std::move(out);
  return doc.dump();
}

const std::vector<std::string>& CostOverrideNames() { return CostOverrideNamesList(); }

std::map<std::string, std::vector<std::string>> KnownKeysForSchemaTest() { return KeyTable(); }

std::map<std::string, std::vector<std::string>> EnumValuesForSchemaTest() {
  return {
      {"fabric.cost_profile", CostProfiles()},
      {"fabric.monitor_mode", MonitorModes()},
      {"fabric.preemption", PreemptionModes()},
      {"fabric.guests[].early_signal", EarlySignalPolicies()},
      {"channels[].lost_wakeup_bug", BuggyEndpoints()},
      {"channels[].pending_send_bug", BuggyEndpoints()},
      {"channels[].interrupt", InterruptKinds()},
      {"channels[].host_reader.kind", ReaderKinds()},
      {"channels[].guest_reader.kind", ReaderKinds()},
      {"workloads[].arrival.kind", ArrivalKinds()},
      {"workloads[].arrival.gap.kind", DistributionKinds()},
      {"workloads[].size.kind", DistributionKinds()},
      {"backends[].service.kind", DistributionKinds()},
      {"expectations.latency[].metric", LatencyMetrics()},
      {"expectations.findings[].rule", RuleNames()},
      {"faults.injections[].kind", faults::KindNames()},
      {"faults.injections[].trigger.after.event", faults::AfterEventNames()},
      {"faults.injections[].trigger.while", faults::WhilePredicates()},
      {"faults.injections[].params.direction", faults::FindKind("signal_drop")->params[0].choices},
      {"faults.injections[].params.side", faults::FindKind("interrupt_drop")->params[0].choices},
      {"faults.injections[].params.reader", faults::FindKind("ring_bad_write_index")->params[0].choices},
      {"faults.injections[].params.step", faults::FindKind("rescind")->params[0].choices},
  };
}

}  // namespace vmbsim::scenario
