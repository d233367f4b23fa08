/* tests/driver_lib/wrong_abi.c
 *
 * A driver library built for another plugin version: it refuses the version
 * vmbsim passes, as a library built against an older header would.
 * tests/cli_test.sh checks the error names the library and the versions. */
#include "vmbsim_driver_plugin.h"
#include "vmbuskernelmodeclientlibapi.h"

NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar, PFN_VMBSIM_REGISTER_DRIVER Register) {
  (void)Registrar;
  (void)Register;
  if (Version != VMBSIM_DRIVER_PLUGIN_VERSION + 1000) return STATUS_REVISION_MISMATCH;
  return STATUS_SUCCESS;
}
