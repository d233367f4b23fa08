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

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_REPORT_H_
