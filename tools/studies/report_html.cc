#include "tools/studies/report_html.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "tools/studies/svg.h"

namespace vmbsim::studies {
namespace {

constexpr double kWidth = 640;
constexpr double kPlotHeight = 340;
constexpr double kLeft = 70;
constexpr double kRight = 20;
constexpr double kLegendRow = 14;  // The legend runs below the plot, a row per series.
constexpr double kTop = 30;
constexpr double kBottom = 50;
using svg::Coord;
using svg::Escape;
using svg::kColours;
using svg::Num;
using svg::Ticks;

struct SeriesPoint {
  std::string x_label;
  double x = 0;
  size_t n = 0;
  double mean = 0;
  std::optional<double> low;
  std::optional<double> high;
};

struct Series {
  std::string label;
  std::vector<SeriesPoint> points;
  std::optional<size_t> knee;  // Index into points, when marked.
};

// The knee of a curve (the point of greatest bend, as in Kneedle: Satopaa et
// al., 2011): with x and y scaled to [0, 1], the interior point farthest from
// the chord between the first and the last point. Needs three points and a
// curve that is not flat.
std::optional<size_t> Knee(const std::vector<SeriesPoint>& points) {
  if (points.size() < 3) return std::nullopt;
  double x_min = points[0].x, x_max = points[0].x, y_min = points[0].mean, y_max = points[0].mean;
  for (const SeriesPoint& p : points) {
    x_min = std::min(x_min, p.x);
    x_max = std::max(x_max, p.x);
    y_min = std::min(y_min, p.mean);
    y_max = std::max(y_max, p.mean);
  }
  if (x_max == x_min || y_max == y_min) return std::nullopt;
  auto nx = [&](double x) { return (x - x_min) / (x_max - x_min); };
  auto ny = [&](double y) { return (y - y_min) / (y_max - y_min); };
  const double x0 = nx(points.front().x), y0 = ny(points.front().mean);
  const double dx = nx(points.back().x) - x0, dy = ny(points.back().mean) - y0;
  const double length = std::sqrt(dx * dx + dy * dy);
  if (length == 0) return std::nullopt;
  std::optional<size_t> best;
  double best_distance = 0;
  for (size_t i = 1; i + 1 < points.size(); ++i) {
    const double d = std::fabs(dx * (ny(points[i].mean) - y0) - dy * (nx(points[i].x) - x0)) / length;
    if (d > best_distance) {
      best_distance = d;
      best = i;
    }
  }
  return best;
}

// The range of the per-point means over the values of one swept setting
// (ReportLayout::spread), at each x, for one combination of the other axes.
struct SpreadPoint {
  std::string x_label;
  double x = 0;
  double low = 0;
  double high = 0;
};

struct Spread {
  std::string label;  // The other axes' settings, or empty.
  std::vector<SpreadPoint> points;
};

struct Chart {
  std::string metric;
  std::string x_path;
  bool numeric_x = true;
  std::vector<std::string> categories;
  std::vector<Series> series;
  bool knees = false;
  std::string spread_path;
  std::vector<Spread> spreads;
};

// A swept axis as columns of the settings: one for a grid, one per zipped
// setting for the zip axis.
struct AxisColumns {
  size_t first = 0;
  size_t width = 1;
};

// The axes of a sweep, from plan.txt, which lists each axis's settings
// together, in axis order, as "grid PATH=..." or "zip PATH=..." lines (there
// is at most one zipped axis). Without swept settings, none. A plan whose
// lines do not match the settings columns (it cannot, from vmbsim) gives an
// axis per column.
std::vector<AxisColumns> AxesOf(const ResultSet& results) {
  std::vector<AxisColumns> axes;
  size_t column = 0;
  bool previous_zip = false;
  for (absl::string_view line : absl::StrSplit(results.plan_text, '\n')) {
    const bool grid = absl::StartsWith(line, "grid ");
    const bool zip = absl::StartsWith(line, "zip ");
    if (zip && previous_zip) {
      ++axes.back().width;
    } else if (grid || zip) {
      axes.push_back(AxisColumns{column, 1});
    }
    if (grid || zip) ++column;
    previous_zip = zip;
  }
  if (column != results.setting_paths.size()) {
    axes.clear();
    for (size_t i = 0; i < results.setting_paths.size(); ++i) axes.push_back(AxisColumns{i, 1});
  }
  return axes;
}

// The axis holding the setting `path` (any of a zip axis's settings).
std::optional<size_t> AxisOfPath(const ResultSet& results, const std::vector<AxisColumns>& axes,
                                 const std::string& path) {
  for (size_t a = 0; a < axes.size(); ++a) {
    for (size_t i = axes[a].first; i < axes[a].first + axes[a].width; ++i) {
      if (results.setting_paths[i] == path) return a;
    }
  }
  return std::nullopt;
}

// Axis `x_axis`'s first setting is x (its other zipped settings go with
// it); the settings of the other axes name a point's series, so each
// (x, series) is one point of the sweep, its mean and interval over its
// seeds. With a spread axis other than x, the series that differ only in it
// also form one spread.
Chart BuildChart(const ResultSet& results, const std::vector<AxisColumns>& axes, const std::string& metric,
                 std::optional<size_t> x_axis, bool knees, std::optional<size_t> spread_axis) {
  Chart chart;
  chart.metric = metric;
  chart.knees = knees;
  // Plain columns rather than optionals in the loop (no column is
  // [0, 0)).
  const bool has_x = x_axis.has_value();
  const bool has_spread = spread_axis.has_value() && spread_axis != x_axis;
  const AxisColumns x_columns = has_x ? axes[x_axis.value_or(0)] : AxisColumns{0, 0};
  const AxisColumns spread_columns = has_spread ? axes[spread_axis.value_or(0)] : AxisColumns{0, 0};
  if (has_spread) chart.spread_path = results.setting_paths[spread_columns.first];
  chart.x_path = has_x ? results.setting_paths[x_columns.first] : "point";
  auto in = [](const AxisColumns& a, size_t i) { return i >= a.first && i < a.first + a.width; };
  std::map<std::string, size_t> series_index;
  std::map<std::string, size_t> spread_index;
  std::vector<std::string> x_values;
  for (size_t p = 0; p < results.point_settings.size(); ++p) {
    const std::vector<std::string>& s = results.point_settings[p];
    const std::string x = has_x && x_columns.first < s.size() ? s[x_columns.first] : absl::StrCat(p);
    std::vector<std::string> rest;
    std::vector<std::string> rest_but_spread;
    for (size_t i = 0; i < s.size(); ++i) {
      if (in(x_columns, i)) continue;
      rest.push_back(absl::StrCat(results.setting_paths[i], "=", s[i]));
      if (!in(spread_columns, i)) rest_but_spread.push_back(rest.back());
    }
    const std::string label = rest.empty() ? metric : absl::StrJoin(rest, ", ");
    auto [it, inserted] = series_index.emplace(label, chart.series.size());
    if (inserted) chart.series.push_back(Series{label, {}});
    const Summary summary = SummariseMetric(results.rows, p, metric);
    if (summary.count == 0) continue;
    SeriesPoint point;
    point.x_label = x;
    point.n = summary.count;
    point.mean = summary.mean;
    point.low = summary.ci95_low();
    point.high = summary.ci95_high();
    chart.series[it->second].points.push_back(point);
    if (std::find(x_values.begin(), x_values.end(), x) == x_values.end()) x_values.push_back(x);
    if (has_spread) {
      const std::string spread_label = absl::StrJoin(rest_but_spread, ", ");
      auto [sit, new_spread] = spread_index.emplace(spread_label, chart.spreads.size());
      if (new_spread) chart.spreads.push_back(Spread{spread_label, {}});
      std::vector<SpreadPoint>& points = chart.spreads[sit->second].points;
      auto at = std::find_if(points.begin(), points.end(), [&](const SpreadPoint& q) { return q.x_label == x; });
      if (at == points.end()) {
        points.push_back(SpreadPoint{x, 0, summary.mean, summary.mean});
      } else {
        at->low = std::min(at->low, summary.mean);
        at->high = std::max(at->high, summary.mean);
      }
    }
  }
  for (const std::string& x : x_values) {
    double v = 0;
    if (!absl::SimpleAtod(x, &v)) chart.numeric_x = false;
  }
  chart.categories = x_values;
  auto x_of = [&](const std::string& label) {
    double v = 0;
    if (chart.numeric_x) {
      absl::SimpleAtod(label, &v);
      return v;
    }
    return static_cast<double>(std::find(x_values.begin(), x_values.end(), label) - x_values.begin());
  };
  for (Series& series : chart.series) {
    for (SeriesPoint& point : series.points) point.x = x_of(point.x_label);
    // Points in x order, so that lines, bands and knees follow the axis.
    std::stable_sort(series.points.begin(), series.points.end(),
                     [](const SeriesPoint& a, const SeriesPoint& b) { return a.x < b.x; });
    if (knees && chart.numeric_x) series.knee = Knee(series.points);
  }
  for (Spread& spread : chart.spreads) {
    for (SpreadPoint& point : spread.points) point.x = x_of(point.x_label);
    std::stable_sort(spread.points.begin(), spread.points.end(),
                     [](const SpreadPoint& a, const SpreadPoint& b) { return a.x < b.x; });
  }
  return chart;
}

std::string ChartSvg(const Chart& chart) {
  double x_low = 0, x_high = 1, y_low = 0, y_high = 1;
  bool first = true;
  size_t point_count = 0;
  for (const Series& s : chart.series) {
    for (const SeriesPoint& p : s.points) {
      ++point_count;
      const double lo = p.low.value_or(p.mean), hi = p.high.value_or(p.mean);
      if (first) {
        x_low = x_high = p.x;
        y_low = lo;
        y_high = hi;
        first = false;
      }
      x_low = std::min(x_low, p.x);
      x_high = std::max(x_high, p.x);
      y_low = std::min(y_low, lo);
      y_high = std::max(y_high, hi);
    }
  }
  if (y_low > 0 && y_low < 0.5 * y_high) y_low = 0;  // Show zero when it is near.
  if (y_high == y_low) {
    const double pad = y_high == 0 ? 1 : std::fabs(y_high) * 0.1;
    y_low -= pad;
    y_high += pad;
  }
  if (!chart.numeric_x) {
    x_low = -0.5;
    x_high = static_cast<double>(chart.categories.size()) - 0.5;
  } else if (x_high == x_low) {
    x_low -= 1;
    x_high += 1;
  }
  const size_t legend_rows = chart.series.size() + (chart.spreads.empty() ? 0 : 1);
  const double height = kPlotHeight + kLegendRow * static_cast<double>(legend_rows) + 6;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kPlotHeight - kTop - kBottom;
  auto sx = [&](double x) { return kLeft + (x - x_low) / (x_high - x_low) * plot_w; };
  auto sy = [&](double y) { return kTop + plot_h - (y - y_low) / (y_high - y_low) * plot_h; };

  std::string out = absl::StrFormat(
      "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "data-metric=\"%s\" data-x=\"%s\" data-series=\"%d\" data-points=\"%d\">\n",
      static_cast<int>(kWidth), static_cast<int>(height), static_cast<int>(kWidth), static_cast<int>(height),
      Escape(chart.metric), Escape(chart.x_path), chart.series.size(), point_count);
  absl::StrAppend(&out, "<text x=\"", Coord(kLeft), "\" y=\"18\" font-size=\"14\" font-family=\"sans-serif\">",
                  Escape(chart.metric), " (mean, 95% CI)</text>\n");
  // Axes, grid lines and tick labels.
  absl::StrAppend(&out, "<g class=\"axes\" font-size=\"11\" font-family=\"sans-serif\" fill=\"#333\">\n");
  for (double t : Ticks(y_low, y_high)) {
    absl::StrAppend(&out, "<line x1=\"", Coord(kLeft), "\" x2=\"", Coord(kLeft + plot_w), "\" y1=\"", Coord(sy(t)),
                    "\" y2=\"", Coord(sy(t)), "\" stroke=\"#e4e4e4\"/>\n");
    absl::StrAppend(&out, "<text x=\"", Coord(kLeft - 6), "\" y=\"", Coord(sy(t) + 4), "\" text-anchor=\"end\">", Num(t),
                    "</text>\n");
  }
  if (chart.numeric_x) {
    for (double t : Ticks(x_low, x_high)) {
      absl::StrAppend(&out, "<text x=\"", Coord(sx(t)), "\" y=\"", Coord(kTop + plot_h + 16),
                      "\" text-anchor=\"middle\">", Num(t), "</text>\n");
    }
  } else {
    for (size_t i = 0; i < chart.categories.size(); ++i) {
      absl::StrAppend(&out, "<text x=\"", Coord(sx(static_cast<double>(i))), "\" y=\"", Coord(kTop + plot_h + 16),
                      "\" text-anchor=\"middle\">", Escape(chart.categories[i]), "</text>\n");
    }
  }
  absl::StrAppend(&out, "<line x1=\"", Coord(kLeft), "\" x2=\"", Coord(kLeft + plot_w), "\" y1=\"", Coord(kTop + plot_h),
                  "\" y2=\"", Coord(kTop + plot_h), "\" stroke=\"#333\"/>\n");
  absl::StrAppend(&out, "<line x1=\"", Coord(kLeft), "\" x2=\"", Coord(kLeft), "\" y1=\"", Coord(kTop), "\" y2=\"",
                  Coord(kTop + plot_h), "\" stroke=\"#333\"/>\n");
  absl::StrAppend(&out, "<text x=\"", Coord(kLeft + plot_w / 2), "\" y=\"", Coord(kPlotHeight - 12),
                  "\" text-anchor=\"middle\">", Escape(chart.x_path), "</text>\n</g>\n");
  // Spreads under everything else: a grey band from the lowest to the
  // highest mean over the spread setting's values.
  for (const Spread& spread : chart.spreads) {
    std::string d;
    for (size_t k = 0; k < spread.points.size(); ++k) {
      absl::StrAppend(&d, k == 0 ? "M" : " L", Coord(sx(spread.points[k].x)), ",", Coord(sy(spread.points[k].high)));
    }
    for (size_t k = spread.points.size(); k-- > 0;) {
      absl::StrAppend(&d, " L", Coord(sx(spread.points[k].x)), ",", Coord(sy(spread.points[k].low)));
    }
    absl::StrAppend(&out, "<path class=\"spread\" data-over=\"", Escape(chart.spread_path), "\" data-label=\"",
                    Escape(spread.label), "\" data-points=\"", spread.points.size(), "\" d=\"", d,
                    " Z\" fill=\"#888\" fill-opacity=\"0.22\" stroke=\"#888\" stroke-dasharray=\"3,3\"/>\n");
  }
  // Series: band, line, points, legend entry.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const char* colour = kColours[i % std::size(kColours)];
    absl::StrAppend(&out, "<g class=\"series\" data-label=\"", Escape(s.label), "\">\n");
    std::vector<const SeriesPoint*> banded;
    for (const SeriesPoint& p : s.points) {
      if (p.low.has_value()) banded.push_back(&p);
    }
    if (!banded.empty()) {
      std::string d;
      for (size_t k = 0; k < banded.size(); ++k) {
        absl::StrAppend(&d, k == 0 ? "M" : " L", Coord(sx(banded[k]->x)), ",", Coord(sy(*banded[k]->high)));
      }
      for (size_t k = banded.size(); k-- > 0;) {
        absl::StrAppend(&d, " L", Coord(sx(banded[k]->x)), ",", Coord(sy(*banded[k]->low)));
      }
      absl::StrAppend(&out, "<path class=\"band\" d=\"", d, " Z\" fill=\"", colour,
                      "\" fill-opacity=\"0.18\" stroke=\"none\"/>\n");
    }
    std::string points;
    for (const SeriesPoint& p : s.points) {
      absl::StrAppend(&points, points.empty() ? "" : " ", Coord(sx(p.x)), ",", Coord(sy(p.mean)));
    }
    absl::StrAppend(&out, "<polyline class=\"line\" points=\"", points, "\" fill=\"none\" stroke=\"", colour,
                    "\" stroke-width=\"1.5\"/>\n");
    for (const SeriesPoint& p : s.points) {
      absl::StrAppend(&out, "<circle class=\"point\" cx=\"", Coord(sx(p.x)), "\" cy=\"", Coord(sy(p.mean)),
                      "\" r=\"3\" fill=\"", colour, "\"><title>", Escape(chart.x_path), "=", Escape(p.x_label), ": ",
                      Num(p.mean));
      if (p.low.has_value()) absl::StrAppend(&out, " [", Num(*p.low), ", ", Num(*p.high), "]");
      absl::StrAppend(&out, " n=", p.n, "</title></circle>\n");
    }
    if (s.knee.has_value()) {
      const SeriesPoint& k = s.points[*s.knee];
      absl::StrAppend(&out, "<circle class=\"knee\" cx=\"", Coord(sx(k.x)), "\" cy=\"", Coord(sy(k.mean)),
                      "\" r=\"7\" fill=\"none\" stroke=\"", colour, "\" stroke-width=\"1.5\"/>\n<text class=\"knee\" x=\"",
                      Coord(sx(k.x) + 9), "\" y=\"", Coord(sy(k.mean) - 9),
                      "\" font-size=\"10\" font-family=\"sans-serif\">knee</text>\n");
    }
    const double ly = kPlotHeight + kLegendRow * static_cast<double>(i);
    absl::StrAppend(&out, "<rect x=\"", Coord(kLeft), "\" y=\"", Coord(ly), "\" width=\"10\" height=\"10\" fill=\"",
                    colour, "\"/><text x=\"", Coord(kLeft + 14), "\" y=\"", Coord(ly + 9),
                    "\" font-size=\"10\" font-family=\"sans-serif\">", Escape(s.label), "</text>\n");
    absl::StrAppend(&out, "</g>\n");
  }
  if (!chart.spreads.empty()) {
    const double ly = kPlotHeight + kLegendRow * static_cast<double>(chart.series.size());
    absl::StrAppend(&out, "<rect x=\"", Coord(kLeft), "\" y=\"", Coord(ly),
                    "\" width=\"10\" height=\"10\" fill=\"#888\" fill-opacity=\"0.4\"/><text x=\"",
                    Coord(kLeft + 14), "\" y=\"", Coord(ly + 9), "\" font-size=\"10\" font-family=\"sans-serif\">range over ",
                    Escape(chart.spread_path), "</text>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

std::string ChartTable(const Chart& chart) {
  std::string out;
  for (const Series& s : chart.series) {
    if (!s.knee.has_value()) continue;
    absl::StrAppend(&out, "<p class=\"knee\">knee of ", Escape(s.label), ": ", Escape(chart.x_path), " = ",
                    Escape(s.points[*s.knee].x_label), "</p>\n");
  }
  absl::StrAppend(&out, "<table class=\"data\" data-metric=\"", Escape(chart.metric), "\" data-x=\"",
                  Escape(chart.x_path), "\">\n<tr><th>", Escape(chart.x_path),
                                 "</th><th>series</th><th>n</th><th>mean</th><th>ci95_low</th><th>ci95_high</th></tr>\n");
  for (const Series& s : chart.series) {
    for (const SeriesPoint& p : s.points) {
      absl::StrAppend(&out, "<tr><td>", Escape(p.x_label), "</td><td>", Escape(s.label), "</td><td>", p.n,
                      "</td><td>", Num(p.mean), "</td><td>", p.low.has_value() ? Num(*p.low) : "", "</td><td>",
                      p.high.has_value() ? Num(*p.high) : "", "</td></tr>\n");
    }
  }
  absl::StrAppend(&out, "</table>\n");
  if (chart.spreads.empty()) return out;
  absl::StrAppend(&out, "<table class=\"spread\" data-metric=\"", Escape(chart.metric), "\" data-x=\"",
                  Escape(chart.x_path), "\" data-over=\"",
                  Escape(chart.spread_path), "\">\n<tr><th>", Escape(chart.x_path), "</th><th>other settings</th><th>",
                  "lowest mean over ", Escape(chart.spread_path), "</th><th>highest mean</th></tr>\n");
  for (const Spread& spread : chart.spreads) {
    for (const SpreadPoint& p : spread.points) {
      absl::StrAppend(&out, "<tr><td>", Escape(p.x_label), "</td><td>", Escape(spread.label), "</td><td>", Num(p.low),
                      "</td><td>", Num(p.high), "</td></tr>\n");
    }
  }
  return out + "</table>\n";
}

absl::Status CheckMetric(const ResultSet& results, const std::string& metric) {
  const std::vector<std::string> names = MetricNames(results.rows);
  if (std::find(names.begin(), names.end(), metric) != names.end()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("no metric '", metric, "' in the results; there are: ", absl::StrJoin(names, ", ")));
}

}  // namespace

std::vector<std::string> DefaultCharts(const ResultSet& results) {
  const std::vector<std::string> names = MetricNames(results.rows);
  const std::set<std::string> present(names.begin(), names.end());
  std::vector<std::string> channels;
  for (const std::string& n : names) {
    const size_t dot = n.rfind('.');
    if (dot == std::string::npos) continue;
    const std::string channel = n.substr(0, dot);
    if (std::find(channels.begin(), channels.end(), channel) == channels.end()) channels.push_back(channel);
  }
  std::vector<std::string> charts;
  for (const std::string& c : channels) {
    for (const char* m : {".rtt_p50_ns", ".rtt_p99_ns", ".packets_per_doorbell", ".throughput_tps"}) {
      if (present.count(c + m) != 0) charts.push_back(c + m);
    }
  }
  for (const char* m : {"interrupts_per_packet", "host_vp_utilisation"}) {
    if (present.count(m) != 0) charts.push_back(m);
  }
  return charts;
}

absl::StatusOr<std::string> RenderReportHtml(const ResultSet& results, const ReportLayout& layout) {
  const std::vector<std::string> charts = layout.charts.empty() ? DefaultCharts(results) : layout.charts;
  for (const std::string& m : charts) {
    if (absl::Status s = CheckMetric(results, m); !s.ok()) return s;
  }
  const std::vector<AxisColumns> axes = AxesOf(results);
  std::optional<size_t> spread_axis;
  if (!layout.spread.empty()) {
    spread_axis = AxisOfPath(results, axes, layout.spread);
    if (!spread_axis.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("spread: '", layout.spread, "' is not a swept setting"));
    }
    if (axes.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat("spread: '", layout.spread,
                                                     "' is the only swept axis; there is no other x to span it over"));
    }
  }
  const std::string name = PlanValue(results.plan_text, "scenario_name");
  const std::string study = PlanValue(results.plan_text, "study");
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vmbsim sweep: ",
      Escape(study.empty() ? name : study), "</title>\n<style>\n",
      "body{font-family:sans-serif;margin:24px;max-width:1000px;color:#222}\n",
      "table.data{border-collapse:collapse;font-size:12px;margin:8px 0 28px}\n",
      "table.data td,table.data th{border:1px solid #ccc;padding:2px 8px;text-align:right}\n",
      "pre{background:#f6f6f6;padding:8px;font-size:12px;overflow-x:auto}\n.failed{color:#b00}\n",
      "</style>\n</head>\n<body>\n<h1>", Escape(study.empty() ? name : study), "</h1>\n");
  absl::StrAppend(&out, "<p>Scenario <code>", Escape(name), "</code>; ", results.point_settings.size(), " points, ",
                  results.rows.size(), " runs. Each metric is charted against each swept axis in turn: that axis on x, one ",
                  "series per combination of the other axes' values. Each point is one point of the sweep, the mean ",
                  "over its seeds; the band is the 95% Student t confidence interval. Runs that failed are listed ",
                  "below and are not in any mean.</p>\n");
  if (!layout.spread.empty()) {
    absl::StrAppend(&out, "<p id=\"spread\">The grey band spans the lowest to the highest mean over the values of <code>",
                    Escape(layout.spread), "</code> (on every chart whose x is another axis): where the model cannot ",
                    "know which is right, the answer lies somewhere in the band.</p>\n");
  }
  std::vector<const RunRow*> failed;
  for (const RunRow& row : results.rows) {
    if (!row.ok()) failed.push_back(&row);
  }
  absl::StrAppend(&out, "<h2>Failed runs</h2>\n");
  if (failed.empty()) {
    absl::StrAppend(&out, "<p id=\"failed-runs\">none</p>\n");
  } else {
    absl::StrAppend(&out, "<ul id=\"failed-runs\" class=\"failed\">\n");
    for (const RunRow* row : failed) {
      absl::StrAppend(&out, "<li>point ", row->point, ", seed ", row->seed, ": exit ", Escape(row->exit), ": <code>",
                      Escape(row->command), "</code></li>\n");
    }
    absl::StrAppend(&out, "</ul>\n");
  }
  // Per metric, a chart against each axis (one against the point number
  // when nothing was swept).
  std::vector<std::optional<size_t>> x_axes;
  for (size_t a = 0; a < axes.size(); ++a) x_axes.push_back(a);
  if (x_axes.empty()) x_axes.push_back(std::nullopt);
  for (const std::string& metric : charts) {
    const bool knees = std::find(layout.knees.begin(), layout.knees.end(), metric) != layout.knees.end();
    absl::StrAppend(&out, "<h2>", Escape(metric), "</h2>\n");
    for (const std::optional<size_t>& x_axis : x_axes) {
      const Chart chart = BuildChart(results, axes, metric, x_axis, knees, spread_axis);
      if (x_axes.size() > 1) absl::StrAppend(&out, "<h3>against <code>", Escape(chart.x_path), "</code></h3>\n");
      absl::StrAppend(&out, ChartSvg(chart), ChartTable(chart));
    }
  }
  if (!layout.distributions.empty()) {
    absl::StrAppend(&out, "<h2>Distributions at chosen points</h2>\n<p>One run of each point (its first seed, run "
                          "again: runs are deterministic), its round trips and batch sizes.</p>\n");
    for (const ReportLayout::Distribution& d : layout.distributions) {
      absl::StrAppend(&out, "<section class=\"distribution\">\n<h3>", Escape(d.title), "</h3>\n", d.html,
                      "</section>\n");
    }
  }
  absl::StrAppend(&out, "<h2>Plan</h2>\n<pre>", Escape(results.plan_text), "</pre>\n</body>\n</html>\n");
  return out;
}

absl::StatusOr<std::string> RenderChartSvg(const ResultSet& results, const std::string& metric,
                                           const std::string& x_path) {
  if (absl::Status s = CheckMetric(results, metric); !s.ok()) return s;
  const std::vector<AxisColumns> axes = AxesOf(results);
  std::optional<size_t> x_axis;
  if (!axes.empty()) x_axis = 0;
  if (!x_path.empty()) {
    x_axis = AxisOfPath(results, axes, x_path);
    if (!x_axis.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("no swept setting '", x_path, "' to put on x; swept: ",
                                                     absl::StrJoin(results.setting_paths, ", ")));
    }
  }
  return absl::StrCat("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
                      ChartSvg(BuildChart(results, axes, metric, x_axis, false, std::nullopt)));
}

}  // namespace vmbsim::studies
