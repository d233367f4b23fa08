// driver_crash.h
//
// A driver from a library (`--driver-lib`) that faults (a bad pointer, a
// stack overflow, a division by zero) is reported with the callback it
// faulted in, instead of dying with a bare signal:
//
//   vmbsim: the driver crashed: SIGSEGV inside EvtVmbChannelProcessPacket
//   (partition 0, relid 1) at 1234567 ns of simulated time
//
// and the process exits with kExitDriverCrashed (5). What runs is known
// from kmcl::Runtime::DriverCodeRunning (every KMCL callback and completion
// routine, the DPCs and PASSIVE jobs run for a driver) and from the plugin's
// own entry points (Create, Destroy, Submit), marked here. A fault inside a
// KMCL call the driver made counts as the driver's.
//
// The handlers run on an alternate stack (so a driver's stack overflow, on a
// fiber's stack too, is caught) and are async-signal-safe: they read plain
// fields and write(2) one preformatted line. A fault outside driver code is
// not theirs: the handler that was installed before (a sanitizer's) or the
// default action takes it, as if nothing had been installed.
//
// Installed once, when the first driver library loads; built-in drivers are
// the project's own code, whose faults stay internal errors.

#ifndef VMBSIM_TOOLS_SCENARIO_DRIVER_CRASH_H_
#define VMBSIM_TOOLS_SCENARIO_DRIVER_CRASH_H_

namespace vmbsim::scenario {

inline constexpr int kExitDriverCrashed = 5;

// Installs the handlers (SIGSEGV, SIGBUS, SIGFPE, SIGILL) for this process
// and the children it forks. Idempotent.
void InstallDriverCrashReport();

// While alive, a plugin entry point (`what`, e.g. "Create of driver
// \"my_vsp\"", a string that outlives the scope) runs outside any KMCL
// callback.
class PluginEntryScope {
 public:
  explicit PluginEntryScope(const char* what);
  ~PluginEntryScope();
  PluginEntryScope(const PluginEntryScope&) = delete;
  PluginEntryScope& operator=(const PluginEntryScope&) = delete;

 private:
  const char* const saved_;
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_DRIVER_CRASH_H_
