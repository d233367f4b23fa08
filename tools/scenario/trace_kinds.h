// trace_kinds.h
//
// The scenario runner's trace record kinds (sim::TraceRecord::kind), in the
// range 0x0300..0x03FF. A scenario's workload is part of the run, so its
// arrivals are events of the run like any other: a recording carries them,
// and what-if replay (tools/recording) takes a run's arrival process from
// them.
//
// Numbers are part of the trace fingerprint: append new kinds, never
// renumber.

#ifndef VMBSIM_TOOLS_SCENARIO_TRACE_KINDS_H_
#define VMBSIM_TOOLS_SCENARIO_TRACE_KINDS_H_

#include <cstdint>

namespace vmbsim::scenario {

// An open-loop arrival: the runner hands a request to the guest driver.
// partition = guest, vp = the VP it is submitted on, id0 = the workload's
// index in "workloads", size0 = request bytes. Closed-loop workloads have no
// arrival records: their driver sends when a request ends (its sends are the
// KMCL send records).
inline constexpr uint16_t kWorkloadArrivalTraceKind = 0x0300;

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_TRACE_KINDS_H_
