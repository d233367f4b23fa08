// version.h
//
// The version of vmbsim, as `vmbsim version` prints it and trace files
// record it. Bumped when a release changes what a scenario or a trace means.

#ifndef VMBSIM_TOOLS_VERSION_H_
#define VMBSIM_TOOLS_VERSION_H_

namespace vmbsim {

inline constexpr char kVmbsimVersion[] = "0.5.0";

}  // namespace vmbsim

#endif  // VMBSIM_TOOLS_VERSION_H_
