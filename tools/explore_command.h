// explore_command.h
//
//   vmbsim explore SCENARIO --tie-break-seeds A..B [--jobs N] [--seed N]
//                  [--set PATH=VALUE]... [--driver-lib LIB.so]...
//
// Runs one scenario under every tie-break seed in A..B (each a different
// order of same-time events; the scenario's seed stays fixed) and prints
// each distinct outcome with the seeds that produce it. An outcome is the
// run's exit code, its failed expectations, its verifier findings (rule
// names) and its causality violations; runs that share an outcome may still
// differ in their trace, so each outcome also counts its distinct
// fingerprints. Every run is a child process, so a crash is an outcome too
// ("killed by signal 11"), never the end of the exploration; `--jobs`
// children run at once (default: the number of cores).
//
// Exit code: 0 when every run ended with the exit code of the insertion-order
// run (run first, in the parent's view as another child); 1 when some did
// not, or crashed; 2 for invalid input.

#ifndef VMBSIM_TOOLS_EXPLORE_COMMAND_H_
#define VMBSIM_TOOLS_EXPLORE_COMMAND_H_

#include <string>
#include <vector>

namespace vmbsim::tools {

int ExploreCommand(const std::vector<std::string>& args);

extern const char* const kExploreUsage;

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_EXPLORE_COMMAND_H_
