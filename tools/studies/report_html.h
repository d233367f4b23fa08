// report_html.h
//
// `vmbsim report`: a sweep's results as one self-contained HTML page (inline
// CSS and SVG; no script, no network) or as a single SVG chart. Each
// metric gets one chart per swept axis, in axis order: that axis on x (a
// zipped axis by its first setting, the others going with it), one series
// per combination of the other axes' values, so that every plotted point is
// one point of the sweep, its mean over its seeds with the 95 % confidence
// interval as a shaded band. Nothing is averaged over the other axes: a
// value of theirs is a series, not noise. Each chart is followed by the
// table behind it. A numeric x axis gets a linear scale; any other, evenly
// spaced categories. A sweep with no axis gets one chart per metric against
// the point number.
//
// For tests and tools, every chart is an <svg class="chart"> with
// data-metric, data-x (the x setting), data-series and data-points
// attributes, each series a
// <g class="series"> holding one <path class="band"> (when the series has
// intervals), one <polyline class="line">, a <circle class="point"> per
// point and, when marked, a <circle class="knee">. The legend runs below
// the plot.
//
// The output is a pure function of the results: the same results give the
// same bytes.

#ifndef VMBSIM_TOOLS_STUDIES_REPORT_HTML_H_
#define VMBSIM_TOOLS_STUDIES_REPORT_HTML_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/studies/results.h"

namespace vmbsim::studies {

// The metrics charted when none are named: for each channel its round-trip
// p50 and p99, packets per doorbell and throughput, then interrupts per
// packet and host VP utilisation (those present in the results).
std::vector<std::string> DefaultCharts(const ResultSet& results);

// What a page shows (a study file's "charts", "knees" and "spread").
struct ReportLayout {
  // Metrics to chart (empty: DefaultCharts).
  std::vector<std::string> charts;
  // On the charts of these metrics (with a numeric x axis) each series' knee
  // is circled and named below the chart: the point of greatest bend
  // (Kneedle), where a curve turns from steep to flat or back.
  std::vector<std::string> knees;
  // A swept setting (e.g. "fabric.monitor_mode"): each chart whose x is
  // another axis also draws, for every combination of the remaining axes, a
  // grey band (<path class="spread">) from the lowest to the highest mean
  // over its values, with a table of the band below the chart. For a choice
  // the model cannot settle, the band is the honest answer.
  std::string spread;
  // Distributions at chosen points (`--distributions`, a study's
  // "distributions"): each a title and its HTML (run_html.h's
  // ChannelDistributionsHtml of one run of the point), placed after the
  // charts under "Distributions at chosen points".
  struct Distribution {
    std::string title;
    std::string html;
  };
  std::vector<Distribution> distributions;
};

// The page. InvalidArgument for a metric that is not in the results (the
// message lists what is), or a spread that is not a swept setting or is the
// only axis.
absl::StatusOr<std::string> RenderReportHtml(const ResultSet& results, const ReportLayout& layout);

// One chart as a standalone SVG document, against the axis holding the
// setting `x_path` (empty: the first axis). InvalidArgument for a metric
// that is not in the results or an `x_path` that is not swept.
absl::StatusOr<std::string> RenderChartSvg(const ResultSet& results, const std::string& metric,
                                           const std::string& x_path = "");

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_REPORT_HTML_H_
