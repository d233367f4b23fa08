/* tests/driver_lib/crashing_vsp.c
 *
 * A driver library whose one driver, "crashing_vsp" (host side), faults on
 * purpose where its int parameter `crash` says: 1 writes into page 0 in
 * EvtVmbChannelProcessPacket, 2 overflows its stack there (unbounded
 * recursion), 3 writes into page 0 in Create.
 * tests/cli_test.sh checks that `vmbsim run` names the callback and exits 5
 * (driver_crash.h). */
#include <stdint.h>
#include <stdlib.h>

#include "vmbsim_driver_plugin.h"
#include "vmbuskernelmodeclientlibapi.h"

typedef struct _CRASHING_VSP {
  VMBCHANNEL Channel;
  LONGLONG Crash;
} CRASHING_VSP;

/* The address comes from data the compiler cannot see through, so the
   write is not optimised away: a plain store into page 0, which is never
   mapped. Not the null pointer itself, which UBSan's null check would stop
   first (in the sanitizer build) before the fault this driver is about. */
static volatile uintptr_t g_bad_address = 16;

static void WriteToPageZero(void) { *(volatile UINT8*)g_bad_address = 1; }

/* Far deeper than any stack: 1 KiB a frame. */
static volatile UINT32 g_depth_limit = 0xFFFFFFFFu;

static UINT32 Recurse(volatile UINT8* previous, UINT32 depth) {
  if (depth == g_depth_limit) return 0;
  volatile UINT8 frame[1024];
  frame[0] = (UINT8)depth;
  frame[1023] = previous != NULL ? previous[0] : 0;
  return Recurse(frame, depth + 1) + frame[1023];
}

static VOID CrashingProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer, UINT32 BufferLength,
                                  UINT32 Flags) {
  CRASHING_VSP* vsp = (CRASHING_VSP*)VmbChannelGetPointer(Channel);
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
  if (vsp->Crash == 1) WriteToPageZero();
  if (vsp->Crash == 2) (void)Recurse(NULL, 0);
  VmbChannelPacketComplete(Packet, NULL, 0);
}

static NTSTATUS CrashingCreate(const VMBSIM_DRIVER_CONTEXT* Context, PVOID* Instance) {
  CRASHING_VSP* vsp = (CRASHING_VSP*)calloc(1, sizeof(CRASHING_VSP));
  if (vsp == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  Context->Params->GetInt(Context->Params->Context, "crash", &vsp->Crash);
  if (vsp->Crash == 3) WriteToPageZero();
  NTSTATUS status = VmbChannelAllocate(Context->Device, TRUE, &vsp->Channel);
  if (!NT_SUCCESS(status)) {
    free(vsp);
    return status;
  }
  VmbChannelSetPointer(vsp->Channel, vsp);
  if (Context->VmbusHandle != NULL) VmbServerChannelInitSetVmbusHandle(vsp->Channel, Context->VmbusHandle);
  VmbChannelInitSetMaximumPacketSize(vsp->Channel, Context->MaxPacketSize);
  VmbServerChannelInitSetTargetInterfaceId(vsp->Channel, Context->InterfaceType, Context->InterfaceInstance);
  VmbChannelInitSetProcessPacketCallbacks(vsp->Channel, CrashingProcessPacket, NULL);
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

static VOID CrashingDestroy(PVOID Instance) {
  CRASHING_VSP* vsp = (CRASHING_VSP*)Instance;
  VmbChannelDisable(vsp->Channel);
  VmbChannelCleanup(vsp->Channel);
  free(vsp);
}

static const char* const kCrashingIntParams[] = {"crash", NULL};

static const VMBSIM_DRIVER kCrashingVsp = {
    .Name = "crashing_vsp",
    .Description = "host driver that faults where its crash parameter says",
    .HostSide = TRUE,
    .GuestSide = FALSE,
    .IntParams = kCrashingIntParams,
    .BoolParams = NULL,
    .Create = CrashingCreate,
    .Destroy = CrashingDestroy,
    .Submit = NULL,
};

NTSTATUS VmbsimRegisterDrivers(UINT32 Version, PVOID Registrar, PFN_VMBSIM_REGISTER_DRIVER Register) {
  if (Version != VMBSIM_DRIVER_PLUGIN_VERSION) return STATUS_REVISION_MISMATCH;
  return Register(Registrar, &kCrashingVsp);
}
