// sweep_test.cc
//
// Goal: a sweep's plan, runs, statistics and files behave as sweep.h and
// results.h say. Method: small inline scenarios run through RunSweep (each
// run a child process, as in `vmbsim sweep`); the files are compared as
// bytes. The common-random-numbers test measures what the design promises:
// the interval of the difference between two points is much narrower when
// both use the same seeds than when each point draws its own.

#include "tools/studies/sweep.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tools/scenario/loader.h"
#include "tools/studies/report_html.h"
#include "tools/studies/results.h"
#include "tools/studies/statistics.h"
#include "tools/studies/sweep_plan.h"

namespace vmbsim::studies {
namespace {

// One monitored channel under Poisson load; the host spends `service_us`
// per request, so round trips queue and vary from seed to seed.
constexpr const char* kPoisson = R"({
  "name": "poisson",
  "channels": [{"name": "c0", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
                "interface_instance": "00000000-0000-4000-8000-000000000001",
                "host_driver": {"name": "echo_vsp", "params": {"service_us": 10}},
                "guest_driver": {"name": "rr_vsc"}, "interrupt_latency_100ns": 200}],
  "workloads": [{"channel": "c0", "arrival": {"kind": "poisson", "interval_ns": 25000},
                 "size": {"kind": "uniform", "min_bytes": 64, "max_bytes": 512}, "requests": 1500}],
  "expectations": {"latency": [{"channel": "c0", "percentile": 50, "max_ns": 150000}]}
})";

SweepPlan Plan(std::vector<Axis> axes, uint64_t seeds) {
  SweepPlan plan;
  plan.scenario = "poisson.json";
  plan.scenario_name = "poisson";
  plan.axes = std::move(axes);
  plan.seeds = seeds;
  plan.seed_base = 1;
  EXPECT_TRUE(plan.Expand().ok());
  return plan;
}

Axis Grid(const std::string& path, std::vector<std::string> values) {
  Axis axis;
  axis.paths = {path};
  for (std::string& v : values) axis.values.push_back({std::move(v)});
  return axis;
}

ResultSet Sweep(const SweepPlan& plan, unsigned jobs, Shard shard = {}) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  std::vector<scenario::ScenarioSpec> specs;
  for (const Point& point : plan.points) {
    std::vector<std::string> overrides = plan.overrides;  // As `vmbsim sweep` orders them.
    for (std::string& o : point.Overrides()) overrides.push_back(std::move(o));
    absl::StatusOr<scenario::ScenarioSpec> spec =
        scenario::LoadScenario(kPoisson, "inline", registry.descriptors(), overrides);
    EXPECT_TRUE(spec.ok()) << spec.status();
    specs.push_back(*spec);
  }
  absl::StatusOr<ResultSet> results = RunSweep(plan, specs, registry, {.jobs = jobs, .shard = shard});
  EXPECT_TRUE(results.ok()) << results.status();
  return *results;
}

TEST(SweepPlanTest, AxisValuesSplitAtTopLevelCommasOnly) {
  auto parsed = ParseAxisArg("--grid", R"(channels.0.host_driver.params={"service_us":10,"x":[1,2]},{"service_us":20},"a,b")");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->first, "channels.0.host_driver.params");
  EXPECT_EQ(parsed->second, (std::vector<std::string>{R"({"service_us":10,"x":[1,2]})", R"({"service_us":20})", R"("a,b")"}));
  EXPECT_FALSE(ParseAxisArg("--grid", "novalues").ok());
  EXPECT_FALSE(ParseAxisArg("--grid", "a=1,,2").ok());
  EXPECT_FALSE(ParseAxisArg("--grid", "a={1,2").ok());
  EXPECT_EQ(ParseAxisArg("--grid", "=1").status().message(), "--grid: expected PATH=v1,v2,..., got '=1'");
}

TEST(SweepPlanTest, CrossProductWithTheFirstAxisSlowestAndZippedSettingsTogether) {
  Axis zip;
  zip.zipped = true;
  zip.paths = {"b", "c"};
  zip.values = {{"1", "x"}, {"2", "y"}};
  SweepPlan plan = Plan({Grid("a", {"10", "20", "30"}), zip}, 2);
  ASSERT_EQ(plan.points.size(), 6u);
  EXPECT_EQ(plan.points[0].Label(), "a=10, b=1, c=x");
  EXPECT_EQ(plan.points[1].Label(), "a=10, b=2, c=y");
  EXPECT_EQ(plan.points[5].Label(), "a=30, b=2, c=y");
  EXPECT_EQ(plan.runs(), 12u);
  EXPECT_EQ(plan.SeedFor(4, 1), 2u);  // Common random numbers: the seed ignores the point.
  plan.independent_streams = true;
  EXPECT_NE(plan.SeedFor(4, 1), plan.SeedFor(3, 1));
  EXPECT_EQ(plan.ReproduceCommand(1, 7), "vmbsim run poisson.json --seed 7 --set a=10 --set b=2 --set c=y");
  // Every run is in exactly one shard.
  for (uint64_t n : {1, 3, 5}) {
    int hits = 0;
    for (uint64_t i = 0; i < n; ++i) {
      for (size_t p = 0; p < 6; ++p) {
        for (uint64_t k = 0; k < 2; ++k) hits += plan.InShard({i, n}, p, k) ? 1 : 0;
      }
    }
    EXPECT_EQ(hits, 12);
  }
  SweepPlan twice = Plan({}, 1);
  twice.axes = {Grid("a", {"1"}), Grid("a", {"2"})};
  EXPECT_EQ(twice.Expand().message(), "'a' is swept twice");
  EXPECT_FALSE(ParseShard("3/3").ok());
  EXPECT_FALSE(ParseShard("1/0").ok());
  EXPECT_EQ(ParseShard("2/7")->index, 2u);
  EXPECT_DOUBLE_EQ(*ParseRelative("--ci-target", "2%"), 0.02);
  EXPECT_DOUBLE_EQ(*ParseRelative("--ci-target", "0.05"), 0.05);
  EXPECT_FALSE(ParseRelative("--ci-target", "0").ok());
  EXPECT_FALSE(ParseRelative("--ci-target", "150%").ok());
}

TEST(SweepTest, ResultsDoNotDependOnJobsAndReadBackExactly) {
  const SweepPlan plan = Plan({Grid("channels.0.interrupt_latency_100ns", {"0", "500"})}, 3);
  const ResultSet one = Sweep(plan, 1);
  const ResultSet two = Sweep(plan, 2);
  ASSERT_EQ(one.rows.size(), 6u);
  EXPECT_EQ(RenderResults(one), RenderResults(two));
  // runs.csv holds the exact values: parsed back, it renders the same files.
  const std::string csv = RenderResults(one)[1].second;
  absl::StatusOr<ResultSet> back = ParseRunsCsv(csv, "runs.csv", 1);
  ASSERT_TRUE(back.ok()) << back.status();
  back->plan_text = one.plan_text;
  EXPECT_EQ(RenderResults(*back), RenderResults(one));
  // Every run met the scenario's expectations and has the metrics.
  for (const RunRow& row : one.rows) {
    EXPECT_EQ(row.exit, "0");
    EXPECT_GT(row.metrics.at("c0.rtt_mean_ns"), 10000);
  }
  // Shards hold disjoint runs that add up to the whole.
  size_t total = 0;
  for (uint64_t i = 0; i < 4; ++i) total += Sweep(plan, 2, {i, 4}).rows.size();
  EXPECT_EQ(total, 6u);
}

TEST(SweepTest, FailedRunsAreListedAndNeverAveraged) {
  // At 500 us of monitor latency the p50 bound of 150 us fails: exit 1.
  const SweepPlan plan = Plan({Grid("channels.0.interrupt_latency_100ns", {"0", "5000"})}, 2);
  const ResultSet results = Sweep(plan, 2);
  for (const RunRow& row : results.rows) EXPECT_EQ(row.exit, row.point == 0 ? "0" : "1");
  EXPECT_EQ(SummariseMetric(results.rows, 1, "c0.rtt_mean_ns").count, 0u);
  EXPECT_EQ(SummariseMetric(results.rows, 0, "c0.rtt_mean_ns").count, 2u);
  const std::string points_json = RenderResults(results)[4].second;
  EXPECT_NE(points_json.find("\"command\": \"vmbsim run poisson.json --seed 1 --set "
                             "channels.0.interrupt_latency_100ns=5000\""),
            std::string::npos)
      << points_json;
}

TEST(SweepTest, CommonRandomNumbersNarrowTheIntervalOfADifference) {
  // The host's service time at 10 and 12 us per request (direct doorbells);
  // the per-seed difference of the mean round trip, with the same seeds at
  // both points and with a seed per point.
  const Axis axis = Grid("channels.0.host_driver.params.service_us", {"10", "12"});
  constexpr uint64_t kSeeds = 8;
  auto difference = [&](bool independent) {
    SweepPlan plan = Plan({axis}, kSeeds);
    plan.overrides = {"channels.0.monitored=false"};
    plan.independent_streams = independent;
    const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
    std::vector<scenario::ScenarioSpec> specs;
    for (const Point& point : plan.points) {
      std::vector<std::string> overrides = plan.overrides;
      for (const std::string& o : point.Overrides()) overrides.push_back(o);
      specs.push_back(*scenario::LoadScenario(kPoisson, "inline", registry.descriptors(), overrides));
    }
    const ResultSet results = *RunSweep(plan, specs, registry, {.jobs = 2});
    std::vector<double> d;
    for (uint64_t k = 0; k < kSeeds; ++k) {
      d.push_back(results.rows[kSeeds + k].metrics.at("c0.rtt_mean_ns") - results.rows[k].metrics.at("c0.rtt_mean_ns"));
    }
    return Summarise(d);
  };
  const Summary crn = difference(false);
  const Summary independent = difference(true);
  // Both estimate the same difference (a few microseconds of queueing)...
  EXPECT_GT(crn.mean, 2000);
  EXPECT_LT(crn.mean, 5000);
  EXPECT_GT(independent.mean, 0);
  // ... but the paired one far more precisely (measured: 302 ns against
  // 1386 ns half-width).
  EXPECT_LT(*crn.ci95_half * 3, *independent.ci95_half)
      << "CRN half-width " << *crn.ci95_half << " ns, independent " << *independent.ci95_half << " ns";
}

TEST(SweepTest, ACiTargetStopsAPointAtTheFirstSeedCountThatMeetsIt) {
  SweepPlan plan = Plan({Grid("channels.0.interrupt_latency_100ns", {"0", "200"})}, 12);
  plan.ci_target = 0.01;
  plan.ci_metrics = {"c0.rtt_mean_ns"};
  const ResultSet results = Sweep(plan, 2);
  for (size_t p = 0; p < 2; ++p) {
    std::vector<RunRow> rows;
    for (const RunRow& row : results.rows) {
      if (row.point == p) rows.push_back(row);
    }
    ASSERT_GE(rows.size(), 3u);
    const Summary s = SummariseMetric(rows, p, "c0.rtt_mean_ns");
    if (rows.size() < 12) {
      EXPECT_TRUE(IntervalWithin(s, 0.01));
      rows.pop_back();
      EXPECT_FALSE(rows.size() >= 3 && IntervalWithin(SummariseMetric(rows, p, "c0.rtt_mean_ns"), 0.01));
    }
  }
  // The same with one job: the stopping point does not depend on jobs.
  EXPECT_EQ(RenderResults(results), RenderResults(Sweep(plan, 1)));
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Each metric gets a chart per axis: 3 latencies x 2 request counts is, with
// latency on x, 2 series of 3 points and, with the request count on x, 3
// series of 2 points; every point is one sweep point with its interval, and
// the table behind the chart has its row.
TEST(ReportTest, EachMetricHasAChartPerAxisWithASeriesPerValueOfTheOthers) {
  const SweepPlan plan =
      Plan({Grid("channels.0.interrupt_latency_100ns", {"0", "200", "400"}), Grid("workloads.0.requests", {"300", "600"})}, 2);
  const ResultSet results = Sweep(plan, 2);
  absl::StatusOr<std::string> html = RenderReportHtml(results, {.charts = {"c0.rtt_p99_ns", "interrupts_per_packet"}});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(Count(*html, "<svg class=\"chart\""), 4u);
  for (const std::string metric : {"c0.rtt_p99_ns", "interrupts_per_packet"}) {
    EXPECT_EQ(Count(*html, "data-metric=\"" + metric + "\" data-x=\"channels.0.interrupt_latency_100ns\" data-series=\"2\" "
                           "data-points=\"6\""),
              1u)
        << metric;
    EXPECT_EQ(Count(*html, "data-metric=\"" + metric + "\" data-x=\"workloads.0.requests\" data-series=\"3\" "
                           "data-points=\"6\""),
              1u)
        << metric;
    EXPECT_EQ(Count(*html, "<table class=\"data\" data-metric=\"" + metric + "\""), 2u) << metric;
  }
  // Point 5 (400, 600) in the request-count chart: x 600, series latency 400,
  // its own mean and interval.
  const Summary last = SummariseMetric(results.rows, 5, "c0.rtt_p99_ns");
  EXPECT_NE(html->find(absl::StrFormat("<tr><td>600</td><td>channels.0.interrupt_latency_100ns=400</td><td>2</td>"
                                       "<td>%.6g</td><td>%.6g</td><td>%.6g</td></tr>",
                                       last.mean, *last.ci95_low(), *last.ci95_high())),
            std::string::npos);
  EXPECT_EQ(Count(*html, "<path class=\"band\""), Count(*html, "<g class=\"series\""));
  EXPECT_EQ(html->find("<script"), std::string::npos);
  EXPECT_EQ(html->find("http://", html->find("<body")), html->find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(*html, *RenderReportHtml(results, {.charts = {"c0.rtt_p99_ns", "interrupts_per_packet"}}));
  EXPECT_EQ(RenderReportHtml(results, {.charts = {"nope"}}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(DefaultCharts(results).empty());
  absl::StatusOr<std::string> svg = RenderChartSvg(results, "c0.rtt_mean_ns");
  ASSERT_TRUE(svg.ok());
  EXPECT_EQ(svg->rfind("<?xml", 0), 0u);
  EXPECT_NE(svg->find("data-x=\"channels.0.interrupt_latency_100ns\" data-series=\"2\""), std::string::npos);
  svg = RenderChartSvg(results, "c0.rtt_mean_ns", "workloads.0.requests");
  ASSERT_TRUE(svg.ok());
  EXPECT_NE(svg->find("data-x=\"workloads.0.requests\" data-series=\"3\" data-points=\"6\""), std::string::npos);
  EXPECT_EQ(RenderChartSvg(results, "c0.rtt_mean_ns", "fabric.nope").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A zipped axis is one axis: its settings go together on x, and no series
// is split by them.
TEST(ReportTest, AZippedAxisIsOneChartAndNoSeries) {
  SweepPlan plan = Plan({Grid("channels.0.interrupt_latency_100ns", {"0", "200"})}, 2);
  Axis zip;
  zip.zipped = true;
  zip.paths = {"workloads.0.requests", "channels.0.max_packet_bytes"};
  zip.values = {{"300", "1024"}, {"600", "2048"}};
  plan.axes.push_back(zip);
  ASSERT_TRUE(plan.Expand().ok());
  const ResultSet results = Sweep(plan, 2);
  absl::StatusOr<std::string> html = RenderReportHtml(results, {.charts = {"c0.rtt_p50_ns"}});
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_EQ(Count(*html, "<svg class=\"chart\""), 2u);
  EXPECT_NE(html->find("data-x=\"channels.0.interrupt_latency_100ns\" data-series=\"2\" data-points=\"4\""),
            std::string::npos);
  EXPECT_NE(html->find("data-x=\"workloads.0.requests\" data-series=\"2\" data-points=\"4\""), std::string::npos);
  EXPECT_NE(html->find("<g class=\"series\" data-label=\"workloads.0.requests=300, channels.0.max_packet_bytes=1024\">"),
            std::string::npos);
  EXPECT_EQ(html->find("data-x=\"channels.0.max_packet_bytes\""), std::string::npos);
}

// The monitor scan model is not public, so the built-in monitor-latency study
// shows the three modes as a band. At light load the modes order as their
// definitions say: timer_per_id waits the whole window after a set,
// periodic_poll half of it on average, rate_limited nothing for an isolated
// set; the band spans exactly the lowest and highest of the three means.
TEST(ReportTest, ASpreadSpansTheMeansOverTheMonitorModes) {
  SweepPlan plan = Plan({Grid("channels.0.interrupt_latency_100ns", {"200", "1000"}),
                         Grid("fabric.monitor_mode", {"timer_per_id", "periodic_poll", "rate_limited"})},
                        2);
  // Light load: a request every 2 ms on average, so windows rarely overlap
  // (a request finds the previous window within 100 us of it 5 % of the time).
  plan.overrides = {R"(workloads.0.arrival={"kind":"poisson","interval_ns":2000000})", "workloads.0.requests=200",
                    "expectations.latency=[]"};
  const ResultSet results = Sweep(plan, 2);
  // Points are in grid order: latency outermost, then mode.
  for (size_t latency = 0; latency < 2; ++latency) {
    const double timer = SummariseMetric(results.rows, latency * 3 + 0, "c0.rtt_mean_ns").mean;
    const double poll = SummariseMetric(results.rows, latency * 3 + 1, "c0.rtt_mean_ns").mean;
    const double limited = SummariseMetric(results.rows, latency * 3 + 2, "c0.rtt_mean_ns").mean;
    EXPECT_LT(limited, poll) << latency;
    EXPECT_LT(poll, timer) << latency;
    const double window_ns = latency == 0 ? 20000 : 100000;
    // Each request pays at most one guest->host window: timer_per_id all of it.
    EXPECT_NEAR(timer - limited, window_ns, window_ns * 0.1) << latency;
  }
  ReportLayout layout{.charts = {"c0.rtt_mean_ns"}, .spread = "fabric.monitor_mode"};
  absl::StatusOr<std::string> html = RenderReportHtml(results, layout);
  ASSERT_TRUE(html.ok()) << html.status();
  EXPECT_NE(html->find("data-x=\"channels.0.interrupt_latency_100ns\" data-series=\"3\" data-points=\"6\""),
            std::string::npos);
  EXPECT_NE(html->find("data-x=\"fabric.monitor_mode\" data-series=\"2\" data-points=\"6\""), std::string::npos);
  // One spread (there is no other swept axis), over both x values; none on
  // the chart with the monitor mode on x.
  const size_t spread = html->find("<path class=\"spread\" data-over=\"fabric.monitor_mode\"");
  ASSERT_NE(spread, std::string::npos);
  EXPECT_EQ(html->find("<path class=\"spread\"", spread + 1), std::string::npos);
  EXPECT_NE(html->find("data-points=\"2\"", spread), std::string::npos);
  const double low = SummariseMetric(results.rows, 5, "c0.rtt_mean_ns").mean;   // rate_limited, 100 us.
  const double high = SummariseMetric(results.rows, 3, "c0.rtt_mean_ns").mean;  // timer_per_id, 100 us.
  EXPECT_NE(html->find(absl::StrFormat("<tr><td>1000</td><td></td><td>%.6g</td><td>%.6g</td></tr>", low, high)),
            std::string::npos)
      << *html;
  // The band is named on the page and in the legend.
  EXPECT_NE(html->find("range over fabric.monitor_mode"), std::string::npos);
  // A spread over the latency spans, on the monitor-mode chart, each mode's
  // two latencies.
  layout.spread = "channels.0.interrupt_latency_100ns";
  html = RenderReportHtml(results, layout);
  ASSERT_TRUE(html.ok()) << html.status();
  ASSERT_EQ(Count(*html, "<path class=\"spread\""), 1u);
  EXPECT_NE(html->find("<path class=\"spread\" data-over=\"channels.0.interrupt_latency_100ns\" data-label=\"\" "
                       "data-points=\"3\""),
            std::string::npos);
  layout.spread = "fabric.nope";
  EXPECT_EQ(RenderReportHtml(results, layout).status().code(), absl::StatusCode::kInvalidArgument);
  // With one axis there is nothing to span it over.
  SweepPlan single = plan;
  single.axes.pop_back();
  single.seeds = 1;
  ASSERT_TRUE(single.Expand().ok());
  layout.spread = "channels.0.interrupt_latency_100ns";
  EXPECT_EQ(RenderReportHtml(Sweep(single, 2), layout).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmbsim::studies
