#include "tools/studies/run_html.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmcl/verifier.h"
#include "sim/core/histogram.h"
#include "sim/fabric/trace_kinds.h"
#include "tools/studies/svg.h"

namespace vmbsim::studies {

using svg::Coord;
using svg::Escape;
using svg::kColours;
using svg::Num;

// ---------------------------------------------------------------------------
// VpActivity.

std::vector<uint16_t> VpActivity::Kinds() const { return {fabric::TraceKind(fabric::FabricTraceKind::kVpWorkEnd)}; }

void VpActivity::Cover(int64_t end_ns) {
  while (end_ns > bin_ns_ * static_cast<int64_t>(kBins)) {
    for (auto& [vp, row] : rows_) {
      for (size_t i = 0; i < kBins / 2; ++i) row[i] = row[2 * i] + row[2 * i + 1];
      std::fill(row.begin() + kBins / 2, row.end(), 0);
    }
    bin_ns_ *= 2;
  }
}

void VpActivity::Add(std::vector<int64_t>& row, int64_t from_ns, int64_t to_ns) {
  for (int64_t t = from_ns; t < to_ns;) {
    const int64_t bin = t / bin_ns_;
    const int64_t bin_end = (bin + 1) * bin_ns_;
    const int64_t until = std::min(to_ns, bin_end);
    row[static_cast<size_t>(bin)] += until - t;
    t = until;
  }
}

void VpActivity::OnRecord(const sim::TraceRecord& r) {
  const int64_t end = r.time.nanoseconds();
  // The item's busy time, laid just before its end (a preempted item's
  // stretch is the preempting work's, which has its own record).
  const int64_t busy = static_cast<int64_t>(std::min<uint64_t>(r.size0, static_cast<uint64_t>(std::max<int64_t>(end, 0))));
  if (busy <= 0) return;
  Cover(end);
  auto [it, inserted] = rows_.try_emplace({r.partition, r.vp});
  if (inserted) it->second.assign(kBins, 0);
  Add(it->second, end - busy, end);
}

// ---------------------------------------------------------------------------
// The page.

namespace {

constexpr double kWidth = 640;
constexpr double kLeft = 90;
constexpr double kRight = 20;

std::string VpName(uint16_t partition, uint32_t vp) {
  return partition == 0 ? absl::StrCat("root VP ", vp) : absl::StrCat("guest ", partition, " VP ", vp);
}

struct Bin {
  double low = 0;   // Inclusive.
  double high = 0;  // Exclusive.
  uint64_t count = 0;
};

// Log-spaced bins, four a decade, over the histogram's range; each of its
// buckets counts where its middle falls. Values below 1 share the first bin.
std::vector<Bin> LogBins(const sim::Histogram& h) {
  std::vector<Bin> bins;
  if (h.count() == 0) return bins;
  const double low = std::max<double>(1, static_cast<double>(h.min()));
  const double high = std::max<double>(low + 1, static_cast<double>(h.max()) + 1);
  const int first = static_cast<int>(std::floor(std::log10(low) * 4));
  const int last = static_cast<int>(std::ceil(std::log10(high) * 4));
  for (int k = first; k < std::max(last, first + 1); ++k) {
    bins.push_back({std::pow(10.0, k / 4.0), std::pow(10.0, (k + 1) / 4.0), 0});
  }
  bins.front().low = 0;
  for (const sim::Histogram::Bucket& b : h.NonEmptyBuckets()) {
    const double middle = (static_cast<double>(b.value_min) + static_cast<double>(b.value_max)) / 2;
    size_t i = 0;
    while (i + 1 < bins.size() && middle >= bins[i].high) ++i;
    bins[i].count += b.count;
  }
  return bins;
}

// Packets per batch: one bin per value up to 16, then doubling ranges.
std::vector<Bin> BatchBins(const sim::Histogram& h) {
  std::vector<Bin> bins;
  if (h.count() == 0) return bins;
  const int64_t max = h.max();
  for (int64_t v = 1; v <= std::min<int64_t>(max, 16); ++v) bins.push_back({double(v), double(v + 1), 0});
  for (int64_t v = 17; v <= max; v *= 2) bins.push_back({double(v), double(2 * v), 0});
  if (bins.empty()) bins.push_back({0, 1, 0});
  for (const sim::Histogram::Bucket& b : h.NonEmptyBuckets()) {
    size_t i = 0;
    while (i + 1 < bins.size() && static_cast<double>(b.value_min) >= bins[i + 1].low) ++i;
    bins[i].count += b.count;
  }
  return bins;
}

// A bar chart of `bins`, labelled by `label(bin)` under every other bar.
template <typename Label>
std::string HistogramSvg(const std::string& metric, const std::string& title, const std::vector<Bin>& bins,
                         Label label) {
  constexpr double kHeight = 220, kTop = 28, kBottom = 40;
  uint64_t most = 1;
  for (const Bin& b : bins) most = std::max(most, b.count);
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  const double bar_w = bins.empty() ? 0 : plot_w / static_cast<double>(bins.size());
  std::string out = absl::StrFormat(
      "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "data-metric=\"%s\" data-bars=\"%d\">\n",
      static_cast<int>(kWidth), static_cast<int>(kHeight), Escape(metric), bins.size());
  absl::StrAppend(&out, "<text x=\"", Coord(kLeft), "\" y=\"18\" font-size=\"13\" font-family=\"sans-serif\">",
                  Escape(title), "</text>\n<g font-size=\"10\" font-family=\"sans-serif\" fill=\"#333\">\n");
  for (double t : svg::Ticks(0, static_cast<double>(most))) {
    const double y = kTop + plot_h - t / static_cast<double>(most) * plot_h;
    absl::StrAppend(&out, "<line x1=\"", Coord(kLeft), "\" x2=\"", Coord(kLeft + plot_w), "\" y1=\"", Coord(y),
                    "\" y2=\"", Coord(y), "\" stroke=\"#e4e4e4\"/><text x=\"", Coord(kLeft - 6), "\" y=\"",
                    Coord(y + 4), "\" text-anchor=\"end\">", Num(t), "</text>\n");
  }
  for (size_t i = 0; i < bins.size(); ++i) {
    const Bin& b = bins[i];
    const double h = static_cast<double>(b.count) / static_cast<double>(most) * plot_h;
    const double x = kLeft + bar_w * static_cast<double>(i);
    absl::StrAppend(&out, "<rect class=\"bar\" x=\"", Coord(x + 1), "\" y=\"", Coord(kTop + plot_h - h),
                    "\" width=\"", Coord(std::max(1.0, bar_w - 2)), "\" height=\"", Coord(h), "\" fill=\"",
                    kColours[0], "\"><title>", Escape(label(b)), ": ", b.count, "</title></rect>\n");
    if (i % 2 == 0) {
      absl::StrAppend(&out, "<text x=\"", Coord(x + bar_w / 2), "\" y=\"", Coord(kTop + plot_h + 14),
                      "\" text-anchor=\"middle\">", Escape(label(b)), "</text>\n");
    }
  }
  absl::StrAppend(&out, "</g>\n</svg>\n");
  return out;
}

std::string BinTable(const std::string& metric, const std::string& unit, const std::vector<Bin>& bins) {
  std::string out = absl::StrCat("<table class=\"data\" data-metric=\"", Escape(metric), "\"><tr><th>from ", unit,
                                 "</th><th>below ", unit, "</th><th>count</th></tr>\n");
  for (const Bin& b : bins) {
    if (b.count == 0) continue;
    absl::StrAppend(&out, "<tr><td>", absl::StrFormat("%.0f", b.low), "</td><td>", absl::StrFormat("%.0f", b.high),
                    "</td><td>", b.count, "</td></tr>\n");
  }
  return out + "</table>\n";
}

std::string LevelsSvg(const scenario::RunReport& report) {
  constexpr double kRow = 22, kTop = 10;
  const double plot_w = kWidth - kLeft - kRight;
  const double height = kTop + kRow * static_cast<double>(report.vps.size()) + 30;
  const double span = std::max<double>(1, static_cast<double>(report.measured_ns));
  std::string out = absl::StrFormat(
      "<svg class=\"vp-levels\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" data-vps=\"%d\">\n"
      "<g font-size=\"10\" font-family=\"sans-serif\" fill=\"#333\">\n",
      static_cast<int>(kWidth), static_cast<int>(height), report.vps.size());
  struct Level {
    const char* name;
    const char* colour;
  };
  static constexpr Level kLevels[] = {{"isr", "#d62728"}, {"dpc", "#ff7f0e"}, {"passive", "#1f77b4"}};
  for (size_t i = 0; i < report.vps.size(); ++i) {
    const scenario::VpReport& vp = report.vps[i];
    const double y = kTop + kRow * static_cast<double>(i);
    absl::StrAppend(&out, "<g class=\"vp\" data-vp=\"", Escape(VpName(vp.partition, vp.vp)), "\">\n<text x=\"",
                    Coord(kLeft - 6), "\" y=\"", Coord(y + 13), "\" text-anchor=\"end\">",
                    Escape(VpName(vp.partition, vp.vp)), "</text>\n");
    double x = kLeft;
    const int64_t ns[] = {vp.isr_ns, vp.dpc_ns, vp.passive_ns};
    for (size_t l = 0; l < 3; ++l) {
      if (ns[l] <= 0) continue;
      const double w = static_cast<double>(ns[l]) / span * plot_w;
      absl::StrAppend(&out, "<rect class=\"level\" data-level=\"", kLevels[l].name, "\" x=\"", Coord(x), "\" y=\"",
                      Coord(y + 2), "\" width=\"", Coord(std::max(0.5, w)), "\" height=\"", Coord(kRow - 6),
                      "\" fill=\"", kLevels[l].colour, "\"><title>", kLevels[l].name, " ",
                      Num(static_cast<double>(ns[l]) / 1000), " us</title></rect>\n");
      x += w;
    }
    absl::StrAppend(&out, "</g>\n");
  }
  const double legend_y = kTop + kRow * static_cast<double>(report.vps.size()) + 12;
  for (size_t l = 0; l < 3; ++l) {
    const double x = kLeft + 90 * static_cast<double>(l);
    absl::StrAppend(&out, "<rect x=\"", Coord(x), "\" y=\"", Coord(legend_y - 9), "\" width=\"10\" height=\"10\" fill=\"",
                    kLevels[l].colour, "\"/><text x=\"", Coord(x + 14), "\" y=\"", Coord(legend_y), "\">",
                    kLevels[l].name, "</text>\n");
  }
  absl::StrAppend(&out, "<text x=\"", Coord(kLeft + 300), "\" y=\"", Coord(legend_y),
                  "\">the full width is the measured window</text>\n</g>\n</svg>\n");
  return out;
}

std::string ActivitySvg(const VpActivity& activity) {
  constexpr double kRow = 16, kTop = 10;
  const double plot_w = kWidth - kLeft - kRight;
  const double cell_w = plot_w / static_cast<double>(VpActivity::kBins);
  const size_t vps = activity.rows().size();
  std::string out = absl::StrFormat(
      "<svg class=\"activity\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" data-vps=\"%d\" "
      "data-bins=\"%d\">\n<g font-size=\"10\" font-family=\"sans-serif\" fill=\"#333\">\n",
      static_cast<int>(kWidth), static_cast<int>(kTop + kRow * static_cast<double>(vps) + 24), vps,
      VpActivity::kBins);
  size_t i = 0;
  for (const auto& [key, row] : activity.rows()) {
    const double y = kTop + kRow * static_cast<double>(i++);
    absl::StrAppend(&out, "<g class=\"vp\" data-vp=\"", Escape(VpName(key.first, key.second)), "\">\n<text x=\"",
                    Coord(kLeft - 6), "\" y=\"", Coord(y + 11), "\" text-anchor=\"end\">",
                    Escape(VpName(key.first, key.second)), "</text>\n");
    for (size_t b = 0; b < row.size(); ++b) {
      if (row[b] <= 0) continue;
      const double busy = std::min(1.0, static_cast<double>(row[b]) / static_cast<double>(activity.bin_ns()));
      absl::StrAppend(&out, "<rect class=\"cell\" x=\"", Coord(kLeft + cell_w * static_cast<double>(b)), "\" y=\"",
                      Coord(y + 1), "\" width=\"", Coord(cell_w), "\" height=\"", Coord(kRow - 3), "\" fill=\"",
                      kColours[0], "\" fill-opacity=\"", absl::StrFormat("%.3f", 0.08 + 0.92 * busy), "\"><title>",
                      Num(busy * 100), " % busy</title></rect>\n");
    }
    absl::StrAppend(&out, "</g>\n");
  }
  absl::StrAppend(&out, "<text x=\"", Coord(kLeft), "\" y=\"", Coord(kTop + kRow * static_cast<double>(vps) + 14),
                  "\">each cell ", Num(static_cast<double>(activity.bin_ns()) / 1000),
                  " us of simulated time; darker is busier</text>\n</g>\n</svg>\n");
  return out;
}

}  // namespace

namespace {

// One histogram per channel that has samples, each with its table: `histogram`
// picks the channel's histogram, `bins` cuts it, `what` names its samples
// ("requests"), `suffix` and `title` name the metric and the chart, `unit`
// heads the table's bounds.
template <typename Pick, typename Cut, typename LabelFn>
void AppendPerChannel(std::string& out, const scenario::RunReport& r, const std::string& sub, Pick histogram,
                      Cut bins_of, LabelFn label, const char* suffix, const char* title, const char* what,
                      const char* unit) {
  for (const scenario::ChannelReport& c : r.channels) {
    const sim::Histogram& h = histogram(c);
    if (h.count() == 0) continue;
    const std::vector<Bin> bins = bins_of(h);
    const std::string metric = c.name + suffix;
    absl::StrAppend(&out, "<", sub, ">", Escape(c.name), "</", sub, ">\n",
                    HistogramSvg(metric, absl::StrCat(c.name, ": ", title, ", ", h.count(), " ", what), bins, label),
                    BinTable(metric, unit, bins));
  }
}

}  // namespace

std::string ChannelDistributionsHtml(const scenario::RunReport& r, int heading) {
  const std::string level = absl::StrCat("h", heading), sub = absl::StrCat("h", heading + 1);
  std::string out;
  absl::StrAppend(&out, "<", level, ">Round trips</", level, ">\n<p>Per channel, requests from send to completion (guest to host), "
                        "in bins of a quarter decade.</p>\n");
  AppendPerChannel(
      out, r, sub, [](const scenario::ChannelReport& c) -> const sim::Histogram& {
        return c.metrics.guest_to_host.send_to_completion_ns;
      },
      LogBins,
      [](const Bin& b) {
        return b.high <= 1000 ? absl::StrFormat("%.3g ns", b.low) : absl::StrFormat("%.3g us", b.low / 1000);
      },
      ".round_trip_ns", "round trip", "requests", "ns");
  absl::StrAppend(&out, "<", level, ">Batch sizes</", level, ">\n<p>Per channel, packets the host read per drain batch.</p>\n");
  AppendPerChannel(
      out, r, sub, [](const scenario::ChannelReport& c) -> const sim::Histogram& { return c.totals.host_batches; },
      BatchBins,
      [](const Bin& b) { return b.high - b.low <= 1 ? Num(b.low) : absl::StrCat(Num(b.low), "-", Num(b.high - 1)); },
      ".host_batch", "host batches", "batches", "packets");
  return out;
}

std::string RenderRunHtml(const scenario::RunReport& r, const VpActivity& activity, int exit_code) {
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vmbsim run: ", Escape(r.scenario),
      "</title>\n<style>\nbody{font-family:sans-serif;margin:24px;max-width:1000px;color:#222}\n",
      "table.data{border-collapse:collapse;font-size:12px;margin:8px 0 28px}\n",
      "table.data td,table.data th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n",
      ".failed{color:#b00}\n.passed{color:#070}\n</style>\n</head>\n<body>\n<h1>", Escape(r.scenario), "</h1>\n");
  absl::StrAppend(&out, "<table class=\"data\" id=\"summary\">\n<tr><th>seed</th><td>", r.seed, "</td></tr>\n");
  if (r.tie_break_seed.has_value()) absl::StrAppend(&out, "<tr><th>tie-break seed</th><td>", *r.tie_break_seed, "</td></tr>\n");
  absl::StrAppend(&out, "<tr><th>events</th><td>", r.events, "</td></tr>\n<tr><th>simulated</th><td>",
                  Num(static_cast<double>(r.simulated_ns) / 1e6), " ms</td></tr>\n");
  if (r.warmup_ns > 0) {
    absl::StrAppend(&out, "<tr><th>measured after the warm-up</th><td>", Num(static_cast<double>(r.measured_ns) / 1e6),
                    " ms</td></tr>\n");
  }
  absl::StrAppend(&out, "<tr><th>fingerprint</th><td>", absl::StrFormat("%016x", r.fingerprint),
                  "</td></tr>\n<tr><th>exit code</th><td>", exit_code, "</td></tr>\n<tr><th>verifier findings</th><td>",
                  r.findings_total, "</td></tr>\n</table>\n<h2>Expectations</h2>\n<ul id=\"expectations\">\n");
  for (const scenario::ExpectationResult& e : r.expectations) {
    absl::StrAppend(&out, "<li class=\"", e.passed ? "passed" : "failed", "\">", e.passed ? "PASS " : "FAIL ",
                    Escape(e.name), ": ", Escape(e.detail), "</li>\n");
  }
  absl::StrAppend(&out, "</ul>\n");
  for (size_t i = 0; i < r.findings.size() && i < 20; ++i) {
    const kmcl::Finding& f = r.findings[i];
    absl::StrAppend(&out, i == 0 ? "<h2>Findings</h2>\n<ul id=\"findings\">\n" : "", "<li>",
                    Num(static_cast<double>(f.time.nanoseconds()) / 1000), " us ", Escape(f.function), ": ",
                    kmcl::RuleName(f.rule), ": ", Escape(f.detail), "</li>\n",
                    i + 1 == std::min<size_t>(r.findings.size(), 20) ? "</ul>\n" : "");
  }

  absl::StrAppend(&out, ChannelDistributionsHtml(r, 2));
  absl::StrAppend(&out, "<h2>VP utilisation</h2>\n", LevelsSvg(r),
                  "<table class=\"data\" id=\"vps\"><tr><th>VP</th><th>ISR us</th><th>DPC us</th><th>PASSIVE us</th>"
                  "<th>utilisation</th><th>interrupts</th><th>preemptions</th></tr>\n");
  for (const scenario::VpReport& vp : r.vps) {
    absl::StrAppend(&out, "<tr><td>", Escape(VpName(vp.partition, vp.vp)), "</td><td>",
                    Num(static_cast<double>(vp.isr_ns) / 1000), "</td><td>", Num(static_cast<double>(vp.dpc_ns) / 1000),
                    "</td><td>", Num(static_cast<double>(vp.passive_ns) / 1000), "</td><td>", Num(vp.utilisation),
                    "</td><td>", vp.interrupts, "</td><td>", vp.preemptions, "</td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n<h2>Activity over time</h2>\n", ActivitySvg(activity), "</body>\n</html>\n");
  return out;
}

}  // namespace vmbsim::studies
