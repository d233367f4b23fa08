// report.h
//
// What `vmbsim run` prints and writes: a short human summary, and
// report.json (the format is described field by field in the README,
// "report.json"). Both are pure functions of a RunReport; the JSON is written
// by hand (the loader is the only user of nlohmann/json) with keys in a
// fixed order, so two runs of the same scenario and seed give byte-identical
// files apart from the wall-clock fields ("wall_seconds",
// "simulated_to_wall_ratio").

#ifndef VMBSIM_TOOLS_SCENARIO_REPORT_H_
#define VMBSIM_TOOLS_SCENARIO_REPORT_H_

#include <string>

#include "tools/scenario/runner.h"

namespace vmbsim::scenario {

std::string ReportJson(const RunReport& report);
std::string ReportSummary(const RunReport& report);
// report.csv: one row per channel and direction with the main figures of
// report.json (the same numbers, for spreadsheets and pandas); the columns
// are described in the README, "report.csv".
std::string ReportCsv(const RunReport& report);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_REPORT_H_
