// scenario_json.h
//
// A ScenarioSpec written back as scenario JSON that the loader reads to the
// same spec: what swarm and shrink write so that a failing run can be
// replayed on its own (`vmbsim run FILE`). Every field is written
// explicitly, defaults included, so the file does not depend on the
// defaults of a later version; the seed and, when set, the tie-break seed
// are pinned.

#ifndef VMBSIM_TOOLS_FAULTS_SCENARIO_JSON_H_
#define VMBSIM_TOOLS_FAULTS_SCENARIO_JSON_H_

#include <string>

#include "tools/scenario/spec.h"

namespace vmbsim::faults {

std::string ScenarioToJson(const scenario::ScenarioSpec& spec);

}  // namespace vmbsim::faults

#endif  // VMBSIM_TOOLS_FAULTS_SCENARIO_JSON_H_
