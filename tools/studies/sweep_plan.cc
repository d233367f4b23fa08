#include "tools/studies/sweep_plan.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sim/check.h"
#include "tools/scenario/json_writer.h"
#include "tools/scenario/shell_quote.h"

namespace vmbsim::studies {

using scenario::ShellQuote;

namespace {

constexpr uint64_t kRunsMax = 1'000'000;

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::vector<std::string> Point::Overrides() const {
  std::vector<std::string> out;
  for (const auto& [path, value] : settings) out.push_back(absl::StrCat(path, "=", value));
  return out;
}

std::string Point::Label() const { return absl::StrJoin(Overrides(), ", "); }

absl::Status SweepPlan::Expand() {
  points.clear();
  std::set<std::string> seen;
  uint64_t count = 1;
  for (const Axis& axis : axes) {
    for (const std::string& path : axis.paths) {
      if (!seen.insert(path).second) return absl::InvalidArgumentError(absl::StrCat("'", path, "' is swept twice"));
    }
    for (const std::vector<std::string>& row : axis.values) {
      if (row.size() != axis.paths.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--zip: the zipped settings ", absl::StrJoin(axis.paths, ", "),
                                                       " must have the same number of values"));
      }
    }
    if (axis.values.empty()) return absl::InvalidArgumentError("an axis without values");
    count *= axis.values.size();
    if (count * seeds > kRunsMax) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", kRunsMax, " runs (points x seeds)"));
    }
  }
  if (seeds == 0 || count * seeds > kRunsMax) {
    return absl::InvalidArgumentError(absl::StrCat("--seeds: expected 1..", kRunsMax / count, " for ", count, " point(s)"));
  }
  for (uint64_t p = 0; p < count; ++p) {
    Point point;
    point.index = p;
    uint64_t rest = p;
    std::vector<size_t> digits(axes.size());
    for (size_t a = axes.size(); a-- > 0;) {
      digits[a] = rest % axes[a].values.size();
      rest /= axes[a].values.size();
    }
    for (size_t a = 0; a < axes.size(); ++a) {
      for (size_t j = 0; j < axes[a].paths.size(); ++j) {
        point.settings.emplace_back(axes[a].paths[j], axes[a].values[digits[a]][j]);
      }
    }
    points.push_back(std::move(point));
  }
  return absl::OkStatus();
}

uint64_t SweepPlan::SeedFor(size_t point, uint64_t seed_index) const {
  const uint64_t seed = seed_base + seed_index;
  if (!independent_streams) return seed;
  return Mix64(seed ^ Mix64(0x5eed0000ull + point));
}

bool SweepPlan::InShard(const Shard& shard, size_t point, uint64_t seed_index) const {
  if (ci_target.has_value()) return point % shard.count == shard.index;
  return (point * seeds + seed_index) % shard.count == shard.index;
}

std::string SweepPlan::ReproduceCommand(size_t point, uint64_t seed) const {
  std::string out = absl::StrCat("vmbsim run ", ShellQuote(scenario), " --seed ", seed);
  for (const std::string& lib : driver_libs) absl::StrAppend(&out, " --driver-lib ", ShellQuote(lib));
  for (const std::string& o : overrides) absl::StrAppend(&out, " --set ", ShellQuote(o));
  for (const std::string& o : points[point].Overrides()) absl::StrAppend(&out, " --set ", ShellQuote(o));
  return out;
}

std::string SweepPlan::ToText() const {
  std::string out = "vmbsim sweep plan 1\n";
  absl::StrAppend(&out, "scenario ", scenario, "\n");
  absl::StrAppend(&out, "scenario_name ", scenario_name, "\n");
  if (!study.empty()) absl::StrAppend(&out, "study ", study, "\n");
  for (const std::string& o : overrides) absl::StrAppend(&out, "set ", o, "\n");
  for (const std::string& lib : driver_libs) absl::StrAppend(&out, "driver_lib ", lib, "\n");
  for (const Axis& axis : axes) {
    for (size_t j = 0; j < axis.paths.size(); ++j) {
      std::vector<std::string> column;
      for (const auto& row : axis.values) column.push_back(row[j]);
      absl::StrAppend(&out, axis.zipped ? "zip " : "grid ", axis.paths[j], "=", absl::StrJoin(column, ","), "\n");
    }
  }
  absl::StrAppend(&out, "seeds ", seeds, "\n");
  absl::StrAppend(&out, "seed_base ", seed_base, "\n");
  absl::StrAppend(&out, "independent_streams ", independent_streams ? 1 : 0, "\n");
  if (ci_target.has_value()) absl::StrAppend(&out, "ci_target ", scenario::ExactNumber(*ci_target), "\n");
  for (const std::string& m : ci_metrics) absl::StrAppend(&out, "ci_metric ", m, "\n");
  absl::StrAppend(&out, "points ", points.size(), "\n");
  absl::StrAppend(&out, "runs ", runs(), "\n");
  return out;
}

absl::Status CheckAxisPath(absl::string_view where, absl::string_view path) {
  if (path == "seed" || path == "/seed") {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": the seed is not a setting to sweep (every run's seed comes from --seed and --seeds)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<std::string, std::vector<std::string>>> ParseAxisArg(absl::string_view flag,
                                                                             absl::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == absl::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected PATH=v1,v2,..., got '", arg, "'"));
  }
  std::pair<std::string, std::vector<std::string>> out;
  out.first = std::string(arg.substr(0, eq));
  VMBSIM_RETURN_IF_ERROR(CheckAxisPath(absl::StrCat(flag, " ", out.first), out.first));
  const absl::string_view values = arg.substr(eq + 1);
  int depth = 0;
  bool quoted = false;
  std::string current;
  for (size_t i = 0; i <= values.size(); ++i) {
    const char c = i < values.size() ? values[i] : ',';
    if (quoted) {
      current += c;
      if (c == '\\' && i + 1 < values.size()) {
        current += values[++i];
      } else if (c == '"') {
        quoted = false;
      }
      continue;
    }
    if (c == ',' && depth == 0) {
      if (current.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(flag, ": ", out.first, ": an empty value in '", values, "'"));
      }
      out.second.push_back(current);
      current.clear();
      continue;
    }
    if (c == '"') quoted = true;
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') --depth;
    current += c;
  }
  if (quoted || depth != 0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", out.first, ": unbalanced quotes or brackets in '", values, "'"));
  }
  return out;
}

absl::StatusOr<Shard> ParseShard(absl::string_view text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  Shard shard;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shard.index) || !absl::SimpleAtoi(parts[1], &shard.count) ||
      shard.count == 0 || shard.count > 1'000'000 || shard.index >= shard.count) {
    return absl::InvalidArgumentError(absl::StrCat("--shard: expected i/n with 0 <= i < n <= 1000000, got '", text, "'"));
  }
  return shard;
}

absl::StatusOr<double> ParseRelative(absl::string_view flag, absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  const bool percent = absl::ConsumeSuffix(&t, "%");
  t = absl::StripAsciiWhitespace(t);
  double value = 0;
  if (!absl::SimpleAtod(t, &value) || !(value > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected a fraction like 2% or 0.02, got '", text, "'"));
  }
  if (percent) value /= 100.0;
  if (value > 1.0) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected at most 100%, got '", text, "'"));
  }
  return value;
}

}  // namespace vmbsim::studies
