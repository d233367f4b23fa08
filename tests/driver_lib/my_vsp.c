/* tests/driver_lib/my_vsp.c
 *
 * A driver library as a team would write one for `vmbsim run --driver-lib`
 * (kmcl/vmbsim_driver_plugin.h): one host driver, "my_vsp", that completes
 * every request with a 16-byte status whose first byte is the `status_byte`
 * parameter. C11, built against the public headers only; the KMCL functions
 * resolve against the vmbsim binary when the library is loaded. */
#include <stdlib.h>
#include <string.h>

#include "vmbsim_driver_plugin.h"
#include "vmbuskernelmodeclientlibapi.h"

typedef struct _MY_VSP {
  VMBCHANNEL Channel;
  UINT8 Status[16];
} MY_VSP;

static VOID MyProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer, UINT32 BufferLength,
                            UINT32 Flags) {
  MY_VSP* vsp = (MY_VSP*)VmbChannelGetPointer(Channel);
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
  VmbChannelPacketComplete(Packet, vsp->Status, sizeof(vsp->Status));
}

static NTSTATUS MyCreate(const VMBSIM_DRIVER_CONTEXT* Context, PVOID* Instance) {
  MY_VSP* vsp = (MY_VSP*)calloc(1, sizeof(MY_VSP));
  if (vsp == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  LONGLONG status_byte = 0;
  if (Context->Params->GetInt(Context->Params->Context, "status_byte", &status_byte)) {
    vsp->Status[0] = (UINT8)status_byte;
  }
  NTSTATUS status = VmbChannelAllocate(Context->Device, TRUE, &vsp->Channel);
  if (!NT_SUCCESS(status)) {
    free(vsp);
    return status;
  }
  VmbChannelSetPointer(vsp->Channel, vsp);
  if (Context->VmbusHandle != NULL) VmbServerChannelInitSetVmbusHandle(vsp->Channel, Context->VmbusHandle);
  VmbChannelInitSetMaximumPacketSize(vsp->Channel, Context->MaxPacketSize);
  VmbServerChannelInitSetTargetInterfaceId(vsp->Channel, Context->InterfaceType, Context->InterfaceInstance);
  VmbChannelInitSetProcessPacketCallbacks(vsp->Channel, MyProcessPacket, NULL);
  status = VmbChannelEnable(vsp->Channel);
  if (!NT_SUCCESS(status)) {
    VmbChannelCleanup(vsp->Channel);
    free(vsp);
    return status;
  }
  VmbChannelStart(vsp->Channel);
  *Instance = vsp;
  return STATUS_SUCCESS;
}

static VOID MyDestroy(PVOID Instance) {
  MY_VSP* vsp = (MY_VSP*)Instance;
  VmbChannelDisable(vsp->Channel);
  VmbChannelCleanup(vsp->Channel);
  free(vsp);
}

static const char* const kMyIntParams[] = {"status_byte", NULL};

static const VMBSIM_DRIVER kMyVsp = {
    .Name = "my_vsp",
    .Description = "example host driver from a driver library",
    .HostSide = TRUE,
    .GuestSide = FALSE,
    .IntParams = kMyIntParams,
    .BoolParams = NULL,
    .Create = MyCreate,
    .Destroy = MyDestroy,
    .Submit = NULL,
};

NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar, PFN_VMBSIM_REGISTER_DRIVER Register) {
  if (Version != VMBSIM_DRIVER_PLUGIN_VERSION) return STATUS_REVISION_MISMATCH;
  return Register(Registrar, &kMyVsp);
}
