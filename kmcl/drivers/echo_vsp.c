/* kmcl/drivers/echo_vsp.c
 *
 * The echo VSP (echo_vsp.h): a KMCL server driver that completes every
 * request with an echo or a pattern. Written as a Windows host driver would
 * be, using only the exported KMCL functions, to prove that the public header
 * is enough for one.
 */
#include "kmcl/drivers/echo_vsp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbuskernelmodeclientlibapi.h"

/* A packet waiting for asynchronous completion, with the bytes it will echo
   (copied, because the delivered buffer is only promised until the call
   returns). */
typedef struct _ECHO_PENDING {
  struct _ECHO_PENDING* Next;
  VMBPACKETCOMPLETION Packet;
  UINT32 EchoLength;
  UINT8 Echo[]; /* EchoLength bytes; none in pattern mode. */
} ECHO_PENDING;

struct _ECHO_VSP {
  VMBCHANNEL Channel;
  ECHO_VSP_CONFIG Config;
  ECHO_VSP_STATS Stats;
  UINT8* Pattern; /* Config.CompletionBytes bytes of EchoVspPatternByte. */
  ECHO_PENDING* PendingHead; /* FIFO of packets to complete later. */
  ECHO_PENDING* PendingTail;
};

static EVT_VMB_CHANNEL_OPENED EchoChannelOpened;
static EVT_VMB_CHANNEL_CLOSED EchoChannelClosed;
static EVT_VMB_CHANNEL_SUSPEND EchoChannelSuspend;
static EVT_VMB_CHANNEL_STARTED EchoChannelStarted;
static EVT_VMB_CHANNEL_POST_STARTED EchoChannelPostStarted;
static EVT_VMB_CHANNEL_PROCESS_PACKET EchoProcessPacket;
static EVT_VMB_CHANNEL_PROCESSING_COMPLETE EchoProcessingComplete;

/* Written as a UTF-16 literal: WCHAR is a 16-bit code unit (wdk_shim.h). */
static WCHAR kEchoFriendlyName[] = u"EchoVsp";

UINT8 EchoVspPatternByte(UINT32 Index) { return (UINT8)(Index * 31u + 7u); }

/* ---- Completing packets ---- */

static UINT32 EchoLengthFor(const ECHO_VSP* vsp, UINT32 request_length) {
  return request_length < vsp->Config.MaxPacketSize ? request_length : vsp->Config.MaxPacketSize;
}

/* Completes `packet` with the configured payload; `request` holds the
   request bytes to echo (at least EchoLengthFor(request_length) of them). */
static VOID EchoComplete(ECHO_VSP* vsp, VMBPACKETCOMPLETION packet, PVOID request,
                         UINT32 request_length) {
  if (vsp->Config.CompletionBytes != 0) {
    VmbChannelPacketComplete(packet, vsp->Pattern, vsp->Config.CompletionBytes);
  } else {
    VmbChannelPacketComplete(packet, request, EchoLengthFor(vsp, request_length));
  }
}

/* Queues `packet` for EchoCompletePending; FALSE when out of memory. */
static BOOLEAN EchoDefer(ECHO_VSP* vsp, VMBPACKETCOMPLETION packet, const void* request,
                         UINT32 request_length) {
  const UINT32 echo_length =
      vsp->Config.CompletionBytes != 0 ? 0 : EchoLengthFor(vsp, request_length);
  ECHO_PENDING* pending = (ECHO_PENDING*)malloc(sizeof(ECHO_PENDING) + echo_length);
  if (pending == NULL) {
    return FALSE;
  }
  pending->Next = NULL;
  pending->Packet = packet;
  pending->EchoLength = echo_length;
  if (echo_length != 0) {
    memcpy(pending->Echo, request, echo_length);
  }
  if (vsp->PendingTail == NULL) {
    vsp->PendingHead = pending;
  } else {
    vsp->PendingTail->Next = pending;
  }
  vsp->PendingTail = pending;
  return TRUE;
}

/* Completes every queued packet, oldest first. */
static VOID EchoCompletePending(ECHO_VSP* vsp) {
  ECHO_PENDING* pending = vsp->PendingHead;
  vsp->PendingHead = NULL;
  vsp->PendingTail = NULL;
  while (pending != NULL) {
    ECHO_PENDING* next = pending->Next;
    EchoComplete(vsp, pending->Packet, pending->Echo, pending->EchoLength);
    free(pending);
    pending = next;
  }
}

/* ---- Packet callbacks ---- */

static BOOLEAN EchoIsMalformed(PVOID buffer, UINT32 buffer_length, UINT32 flags) {
  if ((flags & ~VMBUS_CHANNEL_PROCESS_PACKET_FLAGS) != 0) {
    return TRUE;
  }
  return buffer == NULL && buffer_length != 0;
}

static VOID EchoProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                              UINT32 BufferLength, UINT32 Flags) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  if (EchoIsMalformed(Buffer, BufferLength, Flags)) {
    vsp->Stats.PacketsFailed += 1;
    VmbChannelPacketFail(Packet);
    return;
  }
  vsp->Stats.PacketsProcessed += 1;
  vsp->Stats.BytesProcessed += BufferLength;
  if (vsp->Config.CompleteAsynchronously && EchoDefer(vsp, Packet, Buffer, BufferLength)) {
    return;
  }
  EchoComplete(vsp, Packet, Buffer, BufferLength);
}

static VOID EchoProcessingComplete(VMBCHANNEL Channel, UINT32 PacketsProcessed) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  vsp->Stats.ProcessingCompleteCalls += 1;
  vsp->Stats.ProcessingCompletePackets += PacketsProcessed;
  EchoCompletePending(vsp);
}

/* ---- State-change callbacks: count, log, and keep the contract ---- */

static VOID EchoRecordEvent(ECHO_VSP* vsp, VMBSIM_DRIVER_EVENT event, UINT64* counter) {
  *counter += 1;
  VmbsimDriverEventAppend(vsp->Stats.EventLog, &vsp->Stats.EventCount, event);
}

static NTSTATUS EchoChannelOpened(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_OPENED, &vsp->Stats.Opened);
  return STATUS_SUCCESS;
}

static VOID EchoChannelClosed(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_CLOSED, &vsp->Stats.Closed);
}

/* The pause or close that suspends the channel waits for every delivered
   packet to be completed (spec §5.3), so the deferred ones go now. */
static VOID EchoChannelSuspend(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_SUSPEND, &vsp->Stats.Suspended);
  EchoCompletePending(vsp);
}

static VOID EchoChannelStarted(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_STARTED, &vsp->Stats.Started);
}

static VOID EchoChannelPostStarted(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = (ECHO_VSP*)VmbChannelGetPointer(Channel);
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_POST_STARTED, &vsp->Stats.PostStarted);
}

/* ---- Creation and teardown ---- */

/* The checked Init* calls of spec §8.4, in that order; returns the first failure. */
static NTSTATUS EchoConfigureChannel(ECHO_VSP* vsp, HANDLE vmbus_handle) {
  const VMBCHANNEL channel = vsp->Channel;
  const ECHO_VSP_CONFIG* config = &vsp->Config;
  NTSTATUS status = STATUS_SUCCESS;
  if (vmbus_handle != NULL) {
    status = VmbServerChannelInitSetVmbusHandle(channel, vmbus_handle);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetMaximumPacketSize(channel, config->MaxPacketSize);
  }
  VmbChannelSetPointer(channel, vsp);
  if (NT_SUCCESS(status)) {
    status = VmbServerChannelInitSetTargetInterfaceId(channel, config->InterfaceType,
                                                      config->InterfaceInstance);
  }
  if (NT_SUCCESS(status)) {
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    callbacks.EvtChannelOpened = EchoChannelOpened;
    callbacks.EvtChannelClosed = EchoChannelClosed;
    callbacks.EvtChannelSuspend = EchoChannelSuspend;
    callbacks.EvtChannelStarted = EchoChannelStarted;
    callbacks.EvtChannelPostStarted = EchoChannelPostStarted;
    status = VmbChannelInitSetStateChangeCallbacks(channel, &callbacks);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetProcessPacketCallbacks(channel, EchoProcessPacket,
                                                     EchoProcessingComplete);
  }
  if (NT_SUCCESS(status)) {
    status = VmbServerChannelInitSetFlags(
        channel, VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE);
  }
  return status;
}

/* The settings real drivers make without checking a result (spec §8.2,
   §8.4): processing level, quota, friendly name. */
static VOID EchoApplyUncheckedSettings(ECHO_VSP* vsp) {
  UNICODE_STRING name;
  if (vsp->Config.ProcessAtPassive) {
    VmbChannelSetIncomingProcessingAtPassive(vsp->Channel, TRUE);
  }
  if (vsp->Config.TransactionQuota != 0) {
    VmbChannelSetTransactionQuota(vsp->Channel, vsp->Config.TransactionQuota);
  }
  name.Buffer = kEchoFriendlyName;
  name.Length = (USHORT)(sizeof(kEchoFriendlyName) - sizeof(WCHAR)); /* Bytes, no NUL. */
  name.MaximumLength = (USHORT)sizeof(kEchoFriendlyName);
  (void)VmbChannelInitSetFriendlyName(vsp->Channel, &name);
}

static ECHO_VSP* EchoAllocate(const ECHO_VSP_CONFIG* config) {
  ECHO_VSP* vsp = (ECHO_VSP*)calloc(1, sizeof(ECHO_VSP));
  if (vsp == NULL) {
    return NULL;
  }
  vsp->Config = *config;
  if (config->CompletionBytes != 0) {
    vsp->Pattern = (UINT8*)malloc(config->CompletionBytes);
    if (vsp->Pattern == NULL) {
      free(vsp);
      return NULL;
    }
    for (UINT32 i = 0; i < config->CompletionBytes; ++i) {
      vsp->Pattern[i] = EchoVspPatternByte(i);
    }
  }
  return vsp;
}

/* Frees the VSP. Packets still on the pending list (none after a Disable,
   whose Suspend completed them) are dropped, not completed: their channel is
   gone. */
static VOID EchoFree(ECHO_VSP* vsp) {
  ECHO_PENDING* pending = vsp->PendingHead;
  while (pending != NULL) {
    ECHO_PENDING* next = pending->Next;
    free(pending);
    pending = next;
  }
  free(vsp->Pattern);
  free(vsp);
}

NTSTATUS EchoVspCreate(PDEVICE_OBJECT Device, HANDLE VmbusHandle, const ECHO_VSP_CONFIG* Config,
                       ECHO_VSP** Vsp) {
  if (Config == NULL || Vsp == NULL) {
    return STATUS_INVALID_PARAMETER;
  }
  ECHO_VSP* vsp = EchoAllocate(Config);
  if (vsp == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  NTSTATUS status = VmbChannelAllocate(Device, TRUE, &vsp->Channel);
  if (!NT_SUCCESS(status)) {
    EchoFree(vsp);
    return status;
  }
  status = EchoConfigureChannel(vsp, VmbusHandle);
  if (NT_SUCCESS(status)) {
    EchoApplyUncheckedSettings(vsp);
    status = VmbChannelEnable(vsp->Channel);
  }
  if (!NT_SUCCESS(status)) {
    VmbChannelCleanup(vsp->Channel); /* Still Disabled: a failed Enable leaves it so. */
    EchoFree(vsp);
    return status;
  }
  VmbChannelStart(vsp->Channel); /* Servers start explicitly (spec §6.1). */
  *Vsp = vsp;
  return STATUS_SUCCESS;
}

VOID EchoVspDestroy(ECHO_VSP* Vsp) {
  if (Vsp == NULL) {
    return;
  }
  /* Disable runs EvtChannelSuspend (which completes deferred packets) and
     waits for every delivered packet before returning. */
  VmbChannelDisable(Vsp->Channel);
  VmbChannelCleanup(Vsp->Channel);
  EchoFree(Vsp);
}

VOID EchoVspGetStats(const ECHO_VSP* Vsp, ECHO_VSP_STATS* Stats) { *Stats = Vsp->Stats; }

VMBCHANNEL EchoVspChannel(const ECHO_VSP* Vsp) { return Vsp->Channel; }
