// swarm_command.h
//
//   vmbsim swarm SCENARIO... --seeds A..B [--jobs N] [--out DIR] [--set PATH=VALUE]...
//                [--driver-lib LIB.so]...
//   vmbsim shrink SCENARIO --seed S [--tie-break-seed T] [--as-is] [--out FILE]
//                [--set PATH=VALUE]... [--driver-lib LIB.so]...
//
// swarm: for each scenario and each seed in A..B, runs the swarm variant of
// the scenario for that seed (tools/faults/swarm.h: random faults, random
// parameters and tie-break seed, liveness on), in `--jobs` worker
// processes (fork_pool.h's RunPooled; a child per run with a driver library); groups the failures by signature and prints each
// group with its seeds and the commands that reproduce and shrink it, and a
// progress line (runs done, failures, time left) on stderr. With --out,
// writes DIR/swarm.json (the summary) and, per failure group, the first
// failing variant as DIR/<scenario>-seed<S>.json, which `vmbsim run`
// replays on its own. Exit 0 when no run failed, 1 when some did, 2 for
// invalid input.
//
// shrink: rebuilds the swarm variant of SCENARIO for seed S (with --as-is,
// SCENARIO itself with seed S), checks that it fails, and shrinks it while
// its signature holds (fewer injections, requests, channels, a shorter time
// limit); writes the smallest failing scenario (seeds pinned) to FILE
// (default <name>-shrunk.json), replays the written file to prove it fails
// alone, and prints the steps and the reduction in events. Exit 0 when the
// written scenario fails with the original signature, 1 when it does not,
// 2 for invalid input (or a scenario that does not fail).

#ifndef VMBSIM_TOOLS_SWARM_COMMAND_H_
#define VMBSIM_TOOLS_SWARM_COMMAND_H_

#include <string>
#include <vector>

namespace vmbsim::tools {

int SwarmCommand(const std::vector<std::string>& args);
int ShrinkCommand(const std::vector<std::string>& args);

extern const char* const kSwarmUsage;

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_SWARM_COMMAND_H_
