// report_html.h
//
// `vmbsim report`: a sweep's results as one self-contained HTML page (inline
// CSS and SVG; no script, no network) or as a single SVG chart. Each chart
// plots one metric's per-point mean against the first swept setting, one
// series per combination of the other axes' values, with the 95 %
// confidence interval as a shaded band, and is followed by the table behind
// it. A numeric first axis gets a linear scale; any other, evenly spaced
// categories.
//
// For tests and tools, every chart is an <svg class="chart"> with
// data-metric, data-series and data-points attributes, each series a
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

// The page. `charts` names metrics (empty: DefaultCharts); on the charts of
// the metrics in `knees` (with a numeric x axis) each series' knee is circled
// and named below the chart: the point of greatest bend (Kneedle), where a
// curve turns from steep to flat or back. InvalidArgument for a metric that
// is not in the results (the message lists what is).
absl::StatusOr<std::string> RenderReportHtml(const ResultSet& results, const std::vector<std::string>& charts,
                                             const std::vector<std::string>& knees = {});

// One chart as a standalone SVG document.
absl::StatusOr<std::string> RenderChartSvg(const ResultSet& results, const std::string& metric);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_REPORT_HTML_H_
