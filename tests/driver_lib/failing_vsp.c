/* tests/driver_lib/failing_vsp.c
 *
 * A driver library whose one driver, "failing_vsp" (host side), cannot
 * start: its Create returns STATUS_INSUFFICIENT_RESOURCES. tests/cli_test.sh
 * runs it to check that `vmbsim run` reports a driver that fails to start as
 * a driver-library error (exit 2, naming the driver and the status), not as
 * an internal error. */
#include "vmbsim_driver_plugin.h"
#include "vmbuskernelmodeclientlibapi.h"

static NTSTATUS FailingCreate(const VMBSIM_DRIVER_CONTEXT* Context, PVOID* Instance) {
  (void)Context;
  (void)Instance;
  return STATUS_INSUFFICIENT_RESOURCES;
}

static VOID FailingDestroy(PVOID Instance) { (void)Instance; }

static const VMBSIM_DRIVER kFailingVsp = {
    .Name = "failing_vsp",
    .Description = "host driver whose Create always fails",
    .HostSide = TRUE,
    .GuestSide = FALSE,
    .IntParams = NULL,
    .BoolParams = NULL,
    .Create = FailingCreate,
    .Destroy = FailingDestroy,
    .Submit = NULL,
};

NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar, PFN_VMBSIM_REGISTER_DRIVER Register) {
  if (Version != VMBSIM_DRIVER_PLUGIN_VERSION) return STATUS_REVISION_MISMATCH;
  return Register(Registrar, &kFailingVsp);
}
