// scenario_commands.h
//
// The scenario commands of the vmbsim CLI:
//
//   vmbsim run [FILE|NAME] [--seed N] [--tie-break-seed N] [--set PATH=VALUE]...
//              [--out DIR] [--record FILE] [--timeline FILE [--timeline-from T]
//              [--timeline-to T] [--timeline-channel RELID]] [--html FILE]
//              [--driver-lib LIB.so]... [--quiet]
//   vmbsim check FILE... [--driver-lib LIB.so]...
//   vmbsim list
//
// A NAME is a scenario of the library (scenarios/NAME.json, found in
// $VMBSIM_SCENARIO_DIR, else ./scenarios); with neither a FILE nor a NAME,
// `run` runs the library's default scenario, "hello".
//
// Exit codes (runner.h): 0 success; 1 an expectation failed; 2 invalid input
// (command line, scenario file, driver library); 3 a verifier finding the
// scenario did not expect; 70 internal error.

#ifndef VMBSIM_TOOLS_SCENARIO_COMMANDS_H_
#define VMBSIM_TOOLS_SCENARIO_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/scenario/drivers.h"

namespace vmbsim::tools {

// $VMBSIM_SCENARIO_DIR, else ./scenarios: the scenario library.
std::string ScenarioDir();
// FILE if it names a file, else $VMBSIM_SCENARIO_DIR/NAME.json (default
// directory: ./scenarios) if that exists, else FILE as given.
std::string ResolveScenario(const std::string& arg);
// The value of "--name VALUE" or "--name=VALUE" at args[*i], if it is that
// flag (advancing *i past a separate value); a missing value sets *error.
std::optional<std::string> FlagValue(const std::vector<std::string>& args, size_t* i, const std::string& name,
                                     std::string* error);
// A simulated time or duration on the command line: an integer with an
// optional unit, "1500" or "1500ns", "12us", "3ms", "1s". False when `text`
// is not one (or does not fit int64 nanoseconds).
bool ParseTimeNs(const std::string& text, int64_t* out);
// The built-in drivers plus those of each `--driver-lib` library.
absl::StatusOr<scenario::DriverRegistry> Registry(const std::vector<std::string>& libraries);

int RunScenarioCommand(const std::vector<std::string>& args);
int CheckScenarioCommand(const std::vector<std::string>& args);
int ListScenariosCommand(const std::vector<std::string>& args);

// Help text of the three commands (part of `vmbsim help`).
extern const char* const kScenarioCommandsUsage;

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_SCENARIO_COMMANDS_H_
