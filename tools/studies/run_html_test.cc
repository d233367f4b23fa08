// run_html_test.cc
//
// Goal: `vmbsim run --html` draws what the run did. Method: library
// scenarios run with a VpActivity sink; the activity adds up exactly to the
// busy time of the VPs that only run work items (the root's here), the histograms hold every request and batch, and the page
// has one chart of each kind per channel and a row per VP, the same bytes
// each time.

#include "tools/studies/run_html.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::studies {
namespace {

struct RunOutput {
  scenario::RunReport report;
  VpActivity activity;
};

void RunScenario(const std::string& name, RunOutput* run, std::vector<std::string> overrides = {}) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> spec =
      scenario::LoadScenarioFile(absl::StrCat("scenarios/", name, ".json"), registry.descriptors(), overrides);
  ASSERT_TRUE(spec.ok()) << spec.status();
  scenario::RunOptions options;
  options.sinks.push_back(&run->activity);
  absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, registry, options);
  ASSERT_TRUE(report.ok()) << report.status();
  run->report = std::move(*report);
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(VpActivityTest, AddsUpToEachVpsBusyTime) {
  RunOutput run;
  RunScenario("dispatch_vs_passive", &run);
  ASSERT_FALSE(run.activity.rows().empty());
  // 120 slices cover the run, and the slice width doubled to get there.
  EXPECT_GE(run.activity.bin_ns() * static_cast<int64_t>(VpActivity::kBins), run.report.simulated_ns);
  EXPECT_LT(run.activity.bin_ns() * static_cast<int64_t>(VpActivity::kBins) / 2, run.report.simulated_ns);
  for (const scenario::VpReport& vp : run.report.vps) {
    const auto it = run.activity.rows().find({vp.partition, vp.vp});
    int64_t total = 0;
    if (it != run.activity.rows().end()) {
      for (int64_t ns : it->second) total += ns;
    }
    // Work items exactly; what a VP is charged between items (a sender's
    // copies and signals at its own clock, stalls) has no work-item record.
    if (vp.partition == 0) {
      EXPECT_EQ(total, vp.busy_ns) << "root VP " << vp.vp;
    } else {
      EXPECT_LE(total, vp.busy_ns) << "guest VP " << vp.vp;
      EXPECT_GT(total, vp.busy_ns / 2) << "guest VP " << vp.vp;
    }
  }
}

TEST(RunHtmlTest, OneChartOfEachKindPerChannelAndARowPerVp) {
  RunOutput run;
  RunScenario("dispatch_vs_passive", &run);
  const std::string html = RenderRunHtml(run.report, run.activity, scenario::ExitCodeFor(run.report));
  ASSERT_EQ(run.report.channels.size(), 2u);
  EXPECT_EQ(Count(html, "<svg class=\"histogram\""), 4u);  // Round trips and batches, per channel.
  for (const scenario::ChannelReport& c : run.report.channels) {
    EXPECT_NE(html.find(absl::StrCat("data-metric=\"", c.name, ".round_trip_ns\"")), std::string::npos) << c.name;
    EXPECT_NE(html.find(absl::StrCat("data-metric=\"", c.name, ".host_batch\"")), std::string::npos) << c.name;
  }
  EXPECT_EQ(Count(html, "<svg class=\"vp-levels\""), 1u);
  EXPECT_EQ(Count(html, "<svg class=\"activity\""), 1u);
  EXPECT_NE(html.find(absl::StrCat("data-vps=\"", run.report.vps.size(), "\">")), std::string::npos);
  EXPECT_EQ(Count(html, "<g class=\"vp\""), run.report.vps.size() + run.activity.rows().size());
  EXPECT_EQ(Count(html, "<li class=\"passed\">"), run.report.expectations.size());
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html, RenderRunHtml(run.report, run.activity, scenario::ExitCodeFor(run.report)));
}

// The bins hold every request: the round-trip table's counts add up to the
// requests that finished.
TEST(RunHtmlTest, TheRoundTripBinsHoldEveryRequest) {
  RunOutput run;
  RunScenario("hello", &run);
  const std::string html = RenderRunHtml(run.report, run.activity, 0);
  const size_t table = html.find("<table class=\"data\" data-metric=\"echo.round_trip_ns\">");
  ASSERT_NE(table, std::string::npos);
  const size_t end = html.find("</table>", table);
  uint64_t sum = 0;
  for (size_t row = html.find("<tr><td>", table); row < end; row = html.find("<tr><td>", row + 1)) {
    const size_t last = html.rfind("<td>", html.find("</tr>", row));
    sum += std::stoull(html.substr(last + 4));
  }
  EXPECT_EQ(sum, 1000u);
}

}  // namespace
}  // namespace vmbsim::studies
