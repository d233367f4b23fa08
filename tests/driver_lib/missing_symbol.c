/* tests/driver_lib/missing_symbol.c
 *
 * A driver library that calls a function nothing defines, as one linked
 * against a newer KMCL than vmbsim provides would: it cannot be loaded.
 * tests/cli_test.sh checks the error names the library and the symbol. */
#include "vmbsim_driver_plugin.h"
#include "vmbuskernelmodeclientlibapi.h"

NTSTATUS VmbChannelNoSuchFunction(VMBCHANNEL Channel);

NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar, PFN_VMBSIM_REGISTER_DRIVER Register) {
  (void)Registrar;
  (void)Register;
  return Version == 0 ? VmbChannelNoSuchFunction(NULL) : STATUS_SUCCESS;
}
