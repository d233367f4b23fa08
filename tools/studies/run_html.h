// run_html.h
//
// `vmbsim run --html FILE`: one run as a self-contained HTML page (inline
// CSS and SVG, no script, nothing fetched), the single-run companion of the
// sweep report (report_html.h):
//
//   * a summary: seed, events, simulated time, fingerprint, exit code, each
//     expectation with its verdict, the verifier findings;
//   * per channel, the distribution of round trips (send to completion, in
//     log-spaced bins, four a decade) and of the host's drain batches
//     (packets per batch);
//   * per VP, the time at each level (ISR, DPC, PASSIVE) over the measured
//     window, as stacked bars;
//   * a timeline overview: per VP, how busy it was in each of up to 120
//     slices of the run (VpActivity, a trace sink).
// Each chart is followed by the table behind it.
//
// For tests: the charts are <svg class="histogram"> (data-metric,
// data-bars; one <rect class="bar"> a bin), <svg class="vp-levels">
// (data-vps; a <g class="vp"> a VP holding a <rect class="level"> per
// nonzero level) and <svg class="activity"> (data-vps, data-bins; a
// <g class="vp"> a VP holding a <rect class="cell"> per bin with any work).
//
// The output is a pure function of the report and the activity.

#ifndef VMBSIM_TOOLS_STUDIES_RUN_HTML_H_
#define VMBSIM_TOOLS_STUDIES_RUN_HTML_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/core/trace.h"
#include "tools/scenario/runner.h"

namespace vmbsim::studies {

// Busy time per VP over the run, in kBins equal slices: a trace sink over
// the fabric's end-of-work records, so it shows work items; what a VP is
// charged between items (a guest's sends and signals made at its own clock,
// VP stalls) has no such record and is not in it. The slice width starts at 1 us and
// doubles (merging neighbours) whenever the run outgrows the slices, so the
// memory is fixed and the slices always cover the run so far.
class VpActivity : public sim::TraceSink {
 public:
  static constexpr size_t kBins = 120;

  void OnRecord(const sim::TraceRecord& record) override;
  std::vector<uint16_t> Kinds() const override;

  int64_t bin_ns() const { return bin_ns_; }
  // (partition, VP) -> busy ns in each slice; only VPs that did work.
  const std::map<std::pair<uint16_t, uint32_t>, std::vector<int64_t>>& rows() const { return rows_; }

 private:
  void Cover(int64_t end_ns);
  void Add(std::vector<int64_t>& row, int64_t from_ns, int64_t to_ns);

  int64_t bin_ns_ = 1000;
  std::map<std::pair<uint16_t, uint32_t>, std::vector<int64_t>> rows_;
};

// The page. `exit_code` is the run's (scenario::ExitCodeFor).
std::string RenderRunHtml(const scenario::RunReport& report, const VpActivity& activity, int exit_code);

// The page's per-channel distributions alone (round trips, then batch
// sizes; an <h3> per channel, `heading` levels below it), for the sweep
// report's chosen points (report_html.h, ReportLayout::distributions).
std::string ChannelDistributionsHtml(const scenario::RunReport& report, int heading = 3);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_RUN_HTML_H_
