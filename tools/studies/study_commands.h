// study_commands.h
//
// The study commands of the vmbsim CLI:
//
//   vmbsim sweep [SCENARIO] [--study NAME|FILE] [--grid PATH=v1,v2,...]...
//                [--zip PATH=v1,v2,...]... [--seeds N] [--seed N] [--jobs N]
//                [--out DIR] [--set PATH=VALUE]... [--driver-lib LIB.so]...
//                [--shard i/n] [--ci-target 2%] [--ci-metric NAME]...
//                [--independent-streams]
//   vmbsim merge DIR... --out DIR
//   vmbsim report DIR -o FILE [--format html|svg] [--chart METRIC]
//
// Exit codes: 0 success (sweep: every run exited 0); 1 sweep: some runs
// failed (each is listed with the command that repeats it); 2 invalid input
// (command line, grid path or value, study file, result files); 70 internal
// error.

#ifndef VMBSIM_TOOLS_STUDIES_STUDY_COMMANDS_H_
#define VMBSIM_TOOLS_STUDIES_STUDY_COMMANDS_H_

#include <string>
#include <vector>

namespace vmbsim::studies {

int SweepCommand(const std::vector<std::string>& args);
int MergeCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);

extern const char* const kStudyCommandsUsage;

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_STUDY_COMMANDS_H_
