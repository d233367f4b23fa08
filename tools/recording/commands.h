// commands.h
//
// The record/replay commands of the vmbsim CLI (README, "Replaying and
// comparing runs"):
//
//   vmbsim trace FILE [--json] [--from T] [--to T] [--channel RELID] [--vp N]
//                [--partition P] [--kind K[,K...]] [--limit N] [--timeline OUT]
//   vmbsim replay FILE [--set PATH=VALUE]... [--driver-lib LIB.so]... [--context N]
//   vmbsim diff A B [--context N]
//
// (`vmbsim run --record FILE` writes the trace; scenario_commands.h.) Times
// T are integers with an optional unit: 1500, 1500ns, 12us, 3ms, 1s.
//
// Exit codes: 0 identical (replay, diff) or printed (trace); 2 invalid input
// (flags, a damaged or unreadable trace, a scenario that no longer loads);
// 5 the runs differ (replay, diff); 70 internal error.

#ifndef VMBSIM_TOOLS_RECORDING_COMMANDS_H_
#define VMBSIM_TOOLS_RECORDING_COMMANDS_H_

#include <string>
#include <vector>

namespace vmbsim::recording {

int TraceCommand(const std::vector<std::string>& args);
int ReplayCommand(const std::vector<std::string>& args);
int DiffCommand(const std::vector<std::string>& args);

// Help text of the three commands (part of `vmbsim help`).
extern const char* const kRecordingCommandsUsage;

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_COMMANDS_H_
