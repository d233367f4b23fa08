// fork_pool.h
//
// Runs independent tasks in child processes, a bounded number at a time: the
// parallel runner behind `vmbsim explore`, `swarm` and `sweep`. A task (one
// simulation, single-threaded as DESIGN.md requires) returns a short text
// that reaches the parent through a pipe or socket, with how its process
// ended. A task that crashes is one result among others ("killed by signal
// 11"), never the end of the batch.
//
// Why processes and not threads: a crash, an abort from a simulator check or
// a driver library's global state stays inside one process, and the parent
// goes on.
//
// Two ways to run them:
// - RunForked forks one child per task, so each task starts from the parent's
//   state as it was at that fork. For tasks that may leave global state behind
//   (drivers from --driver-lib).
// - RunPooled forks `jobs` workers once; each runs task after task and
//   streams the results back. On a 2-core VM a fork, the page faults of
//   the fresh child and its exit cost 6 to 9 ms a task, more than a short
//   simulation; a worker pays them once, and its heap is already mapped. A worker that dies inside a task (signal,
//   abort, _exit) has that task reported as RunForked reports it, and the
//   next task gets a fresh worker: crashes stay isolated, but a task sees
//   what earlier tasks in the same worker left in the process (heap, caches),
//   so it suits tasks whose result depends only on their inputs.
//
// The parent chooses tasks one at a time (`next`), so a caller can stop
// scheduling a group of tasks once it has what it needs (a sweep point whose
// confidence interval is narrow enough). Results arrive in completion order;
// callers that need a fixed order sort them.

#ifndef VMBSIM_TOOLS_FORK_POOL_H_
#define VMBSIM_TOOLS_FORK_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace vmbsim::tools {

struct ForkResult {
  size_t task = 0;          // What `next` returned for this child.
  std::string output;       // Everything the child's task returned.
  int wait_status = 0;      // As waitpid reports it.
  // "" when the child ended normally with exit 0, else "killed by signal N"
  // or "ended with status N" (the task never returned).
  std::string abnormal;
};

// Runs tasks in child processes, at most `jobs` at once. `next()` (parent)
// returns the next task id or nullopt when there is none to start now; it is
// asked again after each result, and the pool ends when it returns nullopt
// with no child running. `task(id)` runs in the child; its stdout and stderr
// go to /dev/null, and what it returns is sent to the parent. `done(result)`
// runs in the parent once per child, as children end.
//
// Returns InternalError when a pipe or a process cannot be created (after
// waiting for the children already running).
// REQUIRES: jobs >= 1; `task` does not return control to the parent's code
// in the child in any other way (the child leaves with _exit).
absl::Status RunForked(unsigned jobs, const std::function<std::optional<size_t>()>& next,
                       const std::function<std::string(size_t)>& task,
                       const std::function<void(ForkResult)>& done);

// As RunForked, but each of at most `jobs` worker processes runs many tasks
// in turn (see the file comment). `task(id)` runs in a worker started before
// the task was chosen: it sees the parent's state as of that worker's start
// (the first tasks, or a replacement after a crash) plus what earlier tasks
// in that worker left. Results of tasks that return are as RunForked's (exit
// status 0); a task that ends its process is reported with that process's
// wait status, empty output, and its worker is replaced for the next task.
// REQUIRES: as RunForked's; `task` leaves no state that changes a later
// task's result.
absl::Status RunPooled(unsigned jobs, const std::function<std::optional<size_t>()>& next,
                       const std::function<std::string(size_t)>& task,
                       const std::function<void(ForkResult)>& done);

// The seed ranges the forked commands take and print (explore, swarm):
// "A..B" with A <= B and fewer than `count_max` seeds, or nullopt.
std::optional<std::pair<uint64_t, uint64_t>> ParseSeedRange(const std::string& text, uint64_t count_max);
// Seeds as compact ranges, sorted: "0-2, 5, 9-11".
std::string SeedRanges(std::vector<uint64_t> seeds);

}  // namespace vmbsim::tools

#endif  // VMBSIM_TOOLS_FORK_POOL_H_
