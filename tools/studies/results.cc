#include "tools/studies/results.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/scenario/json_writer.h"

namespace vmbsim::studies {
namespace {

using scenario::ExactNumber;
using scenario::Json;

constexpr const char* kFixedColumns[] = {"point", "seed_index", "seed", "exit"};

double Ratio(uint64_t a, uint64_t b) { return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b); }

bool ParseExact(absl::string_view text, double* value) {
  const std::from_chars_result r = std::from_chars(text.data(), text.data() + text.size(), *value);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

std::string Optional(const std::optional<double>& v) { return v.has_value() ? ExactNumber(*v) : ""; }

void JsonOptional(Json& j, const std::string& key, const std::optional<double>& v) {
  j.Key(key);
  if (v.has_value()) {
    j.Exact(*v);
  } else {
    j.Null();
  }
}

}  // namespace

std::map<std::string, double> MetricsOf(const scenario::RunReport& r) {
  std::map<std::string, double> m;
  // The measured window (after stop.warmup_ns; all of the run without one).
  const double seconds = static_cast<double>(r.measured_ns) / 1e9;
  uint64_t packets = 0;
  for (const scenario::ChannelReport& c : r.channels) {
    const kmcl::DirectionTransactions& g = c.metrics.guest_to_host;
    packets += g.packets_processed + c.metrics.host_to_guest.packets_processed;
    const std::string p = c.name + ".";
    const sim::Histogram& rtt = g.send_to_completion_ns;
    if (rtt.count() > 0) {
      m[p + "rtt_mean_ns"] = rtt.mean();
      m[p + "rtt_p50_ns"] = static_cast<double>(rtt.ValueAtQuantile(0.50));
      m[p + "rtt_p90_ns"] = static_cast<double>(rtt.ValueAtQuantile(0.90));
      m[p + "rtt_p99_ns"] = static_cast<double>(rtt.ValueAtQuantile(0.99));
    }
    const sim::Histogram& s2p = g.send_to_process_ns;
    if (s2p.count() > 0) {
      m[p + "s2p_mean_ns"] = s2p.mean();
      m[p + "s2p_p99_ns"] = static_cast<double>(s2p.ValueAtQuantile(0.99));
    }
    m[p + "throughput_tps"] = seconds > 0 ? static_cast<double>(g.transactions_finished) / seconds : 0.0;
    m[p + "packets_per_doorbell"] = Ratio(c.totals.host.packets_received, c.totals.host.doorbells);
    if (c.totals.host_batches.count() > 0) m[p + "host_batch_mean"] = c.totals.host_batches.mean();
    m[p + "ring_full"] = static_cast<double>(c.totals.guest.ring_full);
    m[p + "sends_queued"] = static_cast<double>(g.queued_sends);
    // The doorbells the host rang per packet the guest sent: completions'
    // data signals and the space signals that restart a blocked guest
    // writer (a one-way stream has only the latter).
    m[p + "host_signals_per_packet"] = Ratio(c.totals.host.signals_sent, c.totals.guest.packets_sent);
  }
  uint64_t interrupts = 0;
  double host_sum = 0, guest_sum = 0, host_max = 0;
  uint64_t host_vps = 0, guest_vps = 0;
  for (const scenario::VpReport& vp : r.vps) {
    interrupts += vp.interrupts;
    if (vp.partition == 0) {
      host_sum += vp.utilisation;
      host_max = std::max(host_max, vp.utilisation);
      ++host_vps;
    } else {
      guest_sum += vp.utilisation;
      ++guest_vps;
    }
  }
  m["interrupts_per_packet"] = Ratio(interrupts, packets);
  m["host_vp_utilisation"] = host_vps == 0 ? 0.0 : host_sum / static_cast<double>(host_vps);
  m["host_vp_utilisation_max"] = host_max;
  m["guest_vp_utilisation"] = guest_vps == 0 ? 0.0 : guest_sum / static_cast<double>(guest_vps);
  for (const scenario::BackendReport& b : r.backends) {
    const std::string p = "backend." + b.name + ".";
    const double window = static_cast<double>(b.figures.window_ns) / 1e9;
    m[p + "served_per_s"] = window > 0 ? static_cast<double>(b.figures.served) / window : 0.0;
    m[p + "utilisation"] = b.figures.utilisation;
    m[p + "queue_length_mean"] = b.figures.queue_length_mean;
    m[p + "wait_mean_ns"] = b.figures.wait_mean_ns;
  }
  m["lost_packets"] = static_cast<double>(r.lost_packets);
  m["events"] = static_cast<double>(r.events);
  m["simulated_ns"] = static_cast<double>(r.simulated_ns);
  return m;
}

std::string EncodeRun(const std::string& exit, const std::map<std::string, double>& metrics, double wall_seconds) {
  std::string exit_line = exit;
  for (char& c : exit_line) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  std::string out = absl::StrCat("exit\t", exit_line, "\nwall\t", ExactNumber(wall_seconds), "\n");
  for (const auto& [name, value] : metrics) absl::StrAppend(&out, name, "\t", ExactNumber(value), "\n");
  return out;
}

absl::Status DecodeRun(absl::string_view text, RunRow* row) {
  bool have_exit = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t tab = line.find('\t');
    if (tab == absl::string_view::npos) return absl::DataLossError(absl::StrCat("a run sent '", line, "'"));
    const absl::string_view key = line.substr(0, tab);
    const absl::string_view value = line.substr(tab + 1);
    if (key == "exit") {
      row->exit = std::string(value);
      have_exit = true;
      continue;
    }
    double v = 0;
    if (!ParseExact(value, &v)) return absl::DataLossError(absl::StrCat("a run sent '", line, "'"));
    if (key == "wall") {
      row->wall_seconds = v;
    } else {
      row->metrics[std::string(key)] = v;
    }
  }
  if (!have_exit) return absl::DataLossError("a run ended without a report");
  return absl::OkStatus();
}

std::vector<std::string> MetricNames(const std::vector<RunRow>& rows) {
  std::set<std::string> names;
  for (const RunRow& row : rows) {
    for (const auto& [name, value] : row.metrics) names.insert(name);
  }
  return {names.begin(), names.end()};
}

Summary SummariseMetric(const std::vector<RunRow>& rows, size_t point, const std::string& metric) {
  std::vector<double> values;
  for (const RunRow& row : rows) {
    if (row.point != point || !row.ok()) continue;
    auto it = row.metrics.find(metric);
    if (it != row.metrics.end()) values.push_back(it->second);
  }
  return Summarise(values);
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool SplitCsvLine(absl::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  std::string current;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          current += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        current += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(current));
      current.clear();
    } else {
      current += c;
    }
  }
  fields->push_back(std::move(current));
  return !quoted;
}

std::string PlanValue(absl::string_view plan_text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(plan_text, '\n')) {
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return std::string(line.substr(key.size() + 1));
    }
  }
  return "";
}

std::vector<std::pair<std::string, std::string>> RenderResults(const ResultSet& results) {
  const std::vector<std::string> metrics = MetricNames(results.rows);
  std::vector<std::pair<std::string, std::string>> files;
  files.emplace_back("plan.txt", results.plan_text);

  // runs.csv
  std::vector<std::string> header(std::begin(kFixedColumns), std::end(kFixedColumns));
  for (const std::string& p : results.setting_paths) header.push_back(p);
  for (const std::string& m : metrics) header.push_back(m);
  header.push_back("command");
  std::string csv;
  {
    std::vector<std::string> quoted;
    for (const std::string& h : header) quoted.push_back(CsvField(h));
    absl::StrAppend(&csv, absl::StrJoin(quoted, ","), "\n");
  }
  for (const RunRow& row : results.rows) {
    std::vector<std::string> cells = {absl::StrCat(row.point), absl::StrCat(row.seed_index), absl::StrCat(row.seed),
                                      CsvField(row.exit)};
    for (const std::string& v : results.point_settings[row.point]) cells.push_back(CsvField(v));
    for (const std::string& m : metrics) {
      auto it = row.metrics.find(m);
      cells.push_back(it == row.metrics.end() ? "" : ExactNumber(it->second));
    }
    cells.push_back(CsvField(row.command));
    absl::StrAppend(&csv, absl::StrJoin(cells, ","), "\n");
  }
  files.emplace_back("runs.csv", csv);

  // runs.json
  {
    Json j;
    j.Begin('[');
    for (const RunRow& row : results.rows) {
      j.Begin('{');
      j.KUInt("point", row.point).KUInt("seed_index", row.seed_index).KUInt("seed", row.seed).KStr("exit", row.exit);
      j.Key("settings").Begin('{');
      for (size_t i = 0; i < results.setting_paths.size(); ++i) {
        j.KStr(results.setting_paths[i], results.point_settings[row.point][i]);
      }
      j.End('}');
      j.Key("metrics").Begin('{');
      for (const auto& [name, value] : row.metrics) j.KExact(name, value);
      j.End('}');
      j.KStr("command", row.command);
      j.End('}');
    }
    j.End(']');
    files.emplace_back("runs.json", j.Take());
  }

  // Per point: rows, successes, failures.
  const size_t point_count = results.point_settings.size();
  std::vector<uint64_t> used(point_count), ok(point_count);
  std::vector<std::vector<const RunRow*>> failed(point_count);
  for (const RunRow& row : results.rows) {
    ++used[row.point];
    if (row.ok()) {
      ++ok[row.point];
    } else {
      failed[row.point].push_back(&row);
    }
  }

  // points.csv
  {
    std::vector<std::string> h = {"point"};
    for (const std::string& p : results.setting_paths) h.push_back(CsvField(p));
    h.insert(h.end(), {"seeds_used", "runs_ok", "runs_failed"});
    for (const std::string& m : metrics) {
      for (const char* s : {".mean", ".sd", ".ci95_low", ".ci95_high"}) h.push_back(CsvField(m + s));
    }
    std::string out = absl::StrCat(absl::StrJoin(h, ","), "\n");
    for (size_t p = 0; p < point_count; ++p) {
      std::vector<std::string> cells = {absl::StrCat(p)};
      for (const std::string& v : results.point_settings[p]) cells.push_back(CsvField(v));
      cells.insert(cells.end(), {absl::StrCat(used[p]), absl::StrCat(ok[p]), absl::StrCat(used[p] - ok[p])});
      for (const std::string& m : metrics) {
        const Summary s = SummariseMetric(results.rows, p, m);
        cells.push_back(s.count == 0 ? "" : ExactNumber(s.mean));
        cells.push_back(Optional(s.sd));
        cells.push_back(Optional(s.ci95_low()));
        cells.push_back(Optional(s.ci95_high()));
      }
      absl::StrAppend(&out, absl::StrJoin(cells, ","), "\n");
    }
    files.emplace_back("points.csv", out);
  }

  // points.json
  {
    Json j;
    j.Begin('{');
    j.KStr("scenario", PlanValue(results.plan_text, "scenario"));
    j.KStr("scenario_name", PlanValue(results.plan_text, "scenario_name"));
    j.KStr("study", PlanValue(results.plan_text, "study"));
    j.KStr("seeds_max", PlanValue(results.plan_text, "seeds"));
    j.KStr("ci_target", PlanValue(results.plan_text, "ci_target"));
    j.Key("points").Begin('[');
    for (size_t p = 0; p < point_count; ++p) {
      j.Begin('{');
      j.KUInt("point", p);
      j.Key("settings").Begin('{');
      for (size_t i = 0; i < results.setting_paths.size(); ++i) {
        j.KStr(results.setting_paths[i], results.point_settings[p][i]);
      }
      j.End('}');
      j.KUInt("seeds_used", used[p]).KUInt("runs_ok", ok[p]).KUInt("runs_failed", used[p] - ok[p]);
      j.Key("failed_runs").Begin('[');
      for (const RunRow* row : failed[p]) {
        j.Begin('{').KUInt("seed", row->seed).KStr("exit", row->exit).KStr("command", row->command).End('}');
      }
      j.End(']');
      j.Key("metrics").Begin('{');
      for (const std::string& m : metrics) {
        const Summary s = SummariseMetric(results.rows, p, m);
        j.Key(m).Begin('{');
        j.KUInt("n", s.count);
        JsonOptional(j, "mean", s.count == 0 ? std::nullopt : std::optional<double>(s.mean));
        JsonOptional(j, "sd", s.sd);
        JsonOptional(j, "ci95_low", s.ci95_low());
        JsonOptional(j, "ci95_high", s.ci95_high());
        j.End('}');
      }
      j.End('}');
      j.End('}');
    }
    j.End(']');
    j.End('}');
    files.emplace_back("points.json", j.Take());
  }
  return files;
}

absl::Status WriteResults(const std::string& dir, const ResultSet& results) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create the directory ", dir, ": ", ec.message()));
  for (const auto& [name, text] : RenderResults(results)) {
    const std::string path = absl::StrCat(dir, "/", name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) return absl::InvalidArgumentError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResultSet> ParseRunsCsv(absl::string_view text, absl::string_view source, size_t setting_count) {
  ResultSet set;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": empty, expected a header line"));
  std::vector<std::string> header;
  const size_t fixed = std::size(kFixedColumns);
  if (!SplitCsvLine(lines[0], &header) || header.size() < fixed + setting_count + 1 || header.back() != "command" ||
      !std::equal(std::begin(kFixedColumns), std::end(kFixedColumns), header.begin())) {
    return absl::InvalidArgumentError(absl::StrCat(source, ":1: not a runs.csv header (expected ",
                                                   absl::StrJoin(kFixedColumns, ","), ",<", setting_count,
                                                   " settings>,<metrics>,command)"));
  }
  set.setting_paths.assign(header.begin() + fixed, header.begin() + fixed + setting_count);
  const std::vector<std::string> metrics(header.begin() + fixed + setting_count, header.end() - 1);
  std::map<size_t, std::vector<std::string>> settings;
  std::vector<std::string> fields;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string where = absl::StrCat(source, ":", i + 1, ": ");
    if (!SplitCsvLine(lines[i], &fields)) return absl::InvalidArgumentError(where + "unterminated quote");
    if (fields.size() != header.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "expected ", header.size(), " fields, found ", fields.size()));
    }
    RunRow row;
    if (!absl::SimpleAtoi(fields[0], &row.point) || !absl::SimpleAtoi(fields[1], &row.seed_index) ||
        !absl::SimpleAtoi(fields[2], &row.seed) || fields[3].empty()) {
      return absl::InvalidArgumentError(where + "point, seed_index and seed must be integers and exit not empty");
    }
    row.exit = fields[3];
    std::vector<std::string> values(fields.begin() + fixed, fields.begin() + fixed + setting_count);
    auto [it, inserted] = settings.emplace(row.point, values);
    if (!inserted && it->second != values) {
      return absl::InvalidArgumentError(absl::StrCat(where, "point ", row.point, " has other settings in an earlier row"));
    }
    for (size_t m = 0; m < metrics.size(); ++m) {
      const std::string& cell = fields[fixed + setting_count + m];
      if (cell.empty()) continue;
      double v = 0;
      if (!ParseExact(cell, &v)) {
        return absl::InvalidArgumentError(absl::StrCat(where, metrics[m], ": expected a number, found '", cell, "'"));
      }
      row.metrics[metrics[m]] = v;
    }
    row.command = fields.back();
    set.rows.push_back(std::move(row));
  }
  if (!settings.empty()) {
    set.point_settings.resize(settings.rbegin()->first + 1);
    for (auto& [point, values] : settings) set.point_settings[point] = std::move(values);
  }
  return set;
}

}  // namespace vmbsim::studies
