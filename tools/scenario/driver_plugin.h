// driver_plugin.h
//
// Loads a driver library (kmcl/vmbsim_driver_plugin.h) and adds its drivers
// to a registry. Errors name the library: a file that cannot be loaded, a
// missing VmbsimRegisterDrivers, a version mismatch, a malformed VMBSIM_DRIVER,
// a name already taken. The library stays loaded for the process's lifetime.

#ifndef VMBSIM_TOOLS_SCENARIO_DRIVER_PLUGIN_H_
#define VMBSIM_TOOLS_SCENARIO_DRIVER_PLUGIN_H_

#include <string>

#include "absl/status/status.h"
#include "tools/scenario/drivers.h"

namespace vmbsim::scenario {

absl::Status LoadDriverLibrary(const std::string& path, DriverRegistry* registry);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_DRIVER_PLUGIN_H_
