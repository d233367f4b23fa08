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

/* A request in the back-end (ECHO_VSP_CONFIG.BackendSubmit): on its
   channel's list until the back-end gives it back. */
struct _ECHO_VSP_REQUEST {
  struct _ECHO_VSP_REQUEST* Prev;
  struct _ECHO_VSP_REQUEST* Next;
  struct _ECHO_CHANNEL* Channel;
  BOOLEAN Completed; /* A suspend completed the packet already. */
  VMBPACKETCOMPLETION Packet;
  /* A shared-buffer request: its slot, in the mapping Mdl describes; Echo
     holds the slot's bytes as read, which the response complements. */
  BOOLEAN Shared;
  PMDL Mdl;
  UINT32 SlotOffset;
  UINT32 EchoLength;
  UINT8 Echo[]; /* As in ECHO_PENDING. */
};

/* One of the VSP's channels; its VmbChannelGetPointer. */
typedef struct _ECHO_CHANNEL {
  ECHO_VSP* Vsp;
  VMBCHANNEL Channel;
  UINT32 Index; /* 0 = the primary. */
  ECHO_PENDING* PendingHead; /* FIFO of this channel's packets to complete later. */
  ECHO_PENDING* PendingTail;
  ECHO_VSP_REQUEST* BackendHead; /* This channel's requests in the back-end, newest first. */
  UINT32 Gpadl;  /* The guest's shared buffer, while GpadlMdl is not NULL. */
  PMDL GpadlMdl; /* Its mapping (VmbChannelMapGpadl); NULL when unmapped. */
} ECHO_CHANNEL;

struct _ECHO_VSP {
  ECHO_CHANNEL Channels[ECHO_VSP_MAX_CHANNELS]; /* [0] the primary. */
  UINT32 ChannelCount; /* Enabled and started, in Channels[0..ChannelCount). */
  ECHO_VSP_CONFIG Config;
  ECHO_VSP_STATS Stats;
  UINT8* Pattern; /* Config.CompletionBytes bytes of EchoVspPatternByte. */
  KMCL_SERVER_INTERFACE_V5 Kmcl; /* For VmbChannelInitSetPrimaryChannel. */
  BOOLEAN HaveKmcl;              /* Kmcl holds a reference. */
  BOOLEAN Unloading;             /* EchoTeardown has begun. */
  BOOLEAN Saving;                /* Between EchoVspSaveBegin and EchoVspSaveEnd. */
  BOOLEAN Restored;              /* Created from a save: no greetings of its own. */
};

/* A greeting in flight: its packet's VmbPacketGetPointer. */
typedef struct _ECHO_GREETING {
  ECHO_VSP* Vsp;
  UINT32 Number;
} ECHO_GREETING;

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

static ECHO_CHANNEL* EchoChannelOf(VMBCHANNEL channel) {
  return (ECHO_CHANNEL*)VmbChannelGetPointer(channel);
}

/* Queues `packet` for EchoCompletePending; FALSE when out of memory. */
static BOOLEAN EchoDefer(ECHO_CHANNEL* ech, VMBPACKETCOMPLETION packet, const void* request,
                         UINT32 request_length) {
  const ECHO_VSP* vsp = ech->Vsp;
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
  if (ech->PendingTail == NULL) {
    ech->PendingHead = pending;
  } else {
    ech->PendingTail->Next = pending;
  }
  ech->PendingTail = pending;
  return TRUE;
}

/* Completes every packet queued on `ech`, oldest first. */
static VOID EchoCompletePending(ECHO_CHANNEL* ech) {
  ECHO_PENDING* pending = ech->PendingHead;
  ech->PendingHead = NULL;
  ech->PendingTail = NULL;
  while (pending != NULL) {
    ECHO_PENDING* next = pending->Next;
    EchoComplete(ech->Vsp, pending->Packet, pending->Echo, pending->EchoLength);
    free(pending);
    pending = next;
  }
}

/* ---- Shared buffer (ECHO_VSP_CONFIG.SharedBuffer) ---- */

static VOID EchoCompleteShared(VMBPACKETCOMPLETION packet, UINT32 status, UINT32 bytes_written) {
  ECHO_VSP_SHARED_COMPLETION completion;
  completion.Status = status;
  completion.BytesWritten = bytes_written;
  VmbChannelPacketComplete(packet, &completion, (UINT32)sizeof(completion));
}

/* Unmaps the channel's shared buffer, if mapped. PASSIVE_LEVEL. */
static VOID EchoUnmapGpadl(ECHO_CHANNEL* ech) {
  if (ech->GpadlMdl == NULL) return;
  VmbChannelUnmapGpadl(ech->Channel, ech->Gpadl);
  ech->GpadlMdl = NULL;
  ech->Gpadl = 0;
  ech->Vsp->Stats.GpadlUnmaps += 1;
}

/* The mapping of GPADL `gpadl`: the current one, or a new one (a guest that
   opened again shares a new buffer: the old mapping goes first); NULL when
   it does not map. PASSIVE_LEVEL. */
static PMDL EchoMapGpadl(ECHO_CHANNEL* ech, UINT32 gpadl) {
  PMDL mdl = NULL;
  if (ech->GpadlMdl != NULL && ech->Gpadl == gpadl) return ech->GpadlMdl;
  EchoUnmapGpadl(ech);
  if (!NT_SUCCESS(VmbChannelMapGpadl(ech->Channel, 0, gpadl, &mdl))) return NULL;
  ech->Gpadl = gpadl;
  ech->GpadlMdl = mdl;
  ech->Vsp->Stats.GpadlMaps += 1;
  return mdl;
}

/* The slot at `offset` of the buffer `mdl` maps, for CPU access; NULL once
   the mapping is gone. The address is asked for at every access, as the
   MDL, not an address, is what a request carries. */
static UINT8* EchoSlot(PMDL mdl, UINT32 offset) {
  UINT8* base = (UINT8*)MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority);
  return base == NULL ? NULL : base + offset;
}

/* Writes the response to `request` (its `length` bytes complemented) into
   the slot; returns the bytes written, 0 when the mapping is gone. */
static UINT32 EchoWriteResponse(PMDL mdl, UINT32 offset, const UINT8* request, UINT32 length) {
  UINT8* slot = EchoSlot(mdl, offset);
  if (slot == NULL) return 0;
  for (UINT32 i = 0; i < length; ++i) slot[i] = (UINT8)~request[i];
  return length;
}

/* ---- The back-end ---- */

/* Hands `packet` to the back-end with a copy of `length` bytes of `data`
   (the echo to send back, or a shared-buffer request's slot as read now);
   `mdl` and `offset` name the slot a shared request's response is written
   to (NULL for an in-band request). FALSE when out of memory. */
static BOOLEAN EchoSubmit(ECHO_CHANNEL* ech, VMBPACKETCOMPLETION packet, PMDL mdl, UINT32 offset,
                          const void* data, UINT32 length) {
  ECHO_VSP* vsp = ech->Vsp;
  ECHO_VSP_REQUEST* r = (ECHO_VSP_REQUEST*)malloc(sizeof(ECHO_VSP_REQUEST) + length);
  if (r == NULL) {
    return FALSE;
  }
  r->Prev = NULL;
  r->Next = ech->BackendHead;
  if (r->Next != NULL) r->Next->Prev = r;
  ech->BackendHead = r;
  r->Channel = ech;
  r->Completed = FALSE;
  r->Packet = packet;
  r->Shared = mdl != NULL;
  r->Mdl = mdl;
  r->SlotOffset = offset;
  r->EchoLength = length;
  if (length != 0) {
    memcpy(r->Echo, data, length);
  }
  vsp->Stats.BackendSubmitted += 1;
  vsp->Config.BackendSubmit(vsp->Config.BackendContext, r);
  return TRUE;
}

/* Hands `packet` to the back-end; FALSE when out of memory. */
static BOOLEAN EchoSubmitToBackend(ECHO_CHANNEL* ech, VMBPACKETCOMPLETION packet, const void* request,
                                   UINT32 request_length) {
  ECHO_VSP* vsp = ech->Vsp;
  const UINT32 echo_length =
      vsp->Config.CompletionBytes != 0 ? 0 : EchoLengthFor(vsp, request_length);
  return EchoSubmit(ech, packet, NULL, 0, request, echo_length);
}

/* The guest takes its buffer back (a revoke), or the channel is suspended:
   the requests still in the back-end are completed as aborted, their writes
   into the buffer cancelled (Config.BugUnmapInUse: not cancelled), and the
   GPADL is unmapped. PASSIVE_LEVEL. */
static VOID EchoReleaseSharedBuffer(ECHO_CHANNEL* ech) {
  ECHO_VSP* vsp = ech->Vsp;
  for (ECHO_VSP_REQUEST* r = ech->BackendHead; r != NULL; r = r->Next) {
    if (!r->Shared || r->Completed) continue;
    r->Completed = TRUE; /* Its write is cancelled with it (see EchoVspBackendComplete). */
    vsp->Stats.BackendCompletedEarly += 1;
    vsp->Stats.SharedAborted += 1;
    EchoCompleteShared(r->Packet, ECHO_VSP_SHARED_ABORTED, 0);
  }
  EchoUnmapGpadl(ech);
}

/* Hands a shared-buffer request to the back-end: `slot` (`length` bytes at
   `offset` of the mapping `mdl`) is copied, as read now; the response is
   written when the back-end returns it. FALSE when out of memory. */
static BOOLEAN EchoSubmitSharedToBackend(ECHO_CHANNEL* ech, VMBPACKETCOMPLETION packet, PMDL mdl,
                                         UINT32 offset, const UINT8* slot, UINT32 length) {
  return EchoSubmit(ech, packet, mdl, offset, slot, length);
}

/* Completes, now, the requests of `ech` still in the back-end (its channel
   is being suspended); they stay on the list until the back-end returns
   them. With Config.BugCompleteTwice the mark is (deliberately) not set, and
   the back-end's return completes them again. */
static VOID EchoCompleteBackendRequests(ECHO_CHANNEL* ech) {
  ECHO_VSP* vsp = ech->Vsp;
  /* Config.BugCompleteAfterClose: (deliberately) left to the back-end.
     Config.BugCompleteAfterRescind: an unload's suspend (deliberately) leaves
     them to EchoTeardown, which completes them after the Disable. */
  if (vsp->Config.BugCompleteAfterClose) return;
  if (vsp->Config.BugCompleteAfterRescind && vsp->Unloading) return;
  for (ECHO_VSP_REQUEST* r = ech->BackendHead; r != NULL; r = r->Next) {
    if (r->Completed || r->Shared) continue; /* Shared ones: EchoReleaseSharedBuffer. */
    if (!vsp->Config.BugCompleteTwice) r->Completed = TRUE;
    vsp->Stats.BackendCompletedEarly += 1;
    EchoComplete(vsp, r->Packet, r->Echo, r->EchoLength);
  }
}

VOID EchoVspBackendComplete(ECHO_VSP_REQUEST* Request) {
  ECHO_VSP* vsp = Request->Channel->Vsp;
  if (Request->Shared) {
    /* A request a revoke or suspend completed had its write cancelled: its
       GPADL is unmapped by now (spec §6.8). Config.BugUnmapInUse:
       (deliberately) not cancelled, so the write goes through the MDL the
       unmap took back. */
    if (!Request->Completed || vsp->Config.BugUnmapInUse) {
      const UINT32 written =
          EchoWriteResponse(Request->Mdl, Request->SlotOffset, Request->Echo, Request->EchoLength);
      if (!Request->Completed) {
        if (written != 0) vsp->Stats.SharedServed += 1;
        EchoCompleteShared(Request->Packet, written != 0 ? ECHO_VSP_SHARED_SERVED : ECHO_VSP_SHARED_ABORTED,
                           written);
      }
    }
  } else if (!Request->Completed) {
    EchoComplete(vsp, Request->Packet, Request->Echo, Request->EchoLength);
  }
  if (Request->Prev != NULL) {
    Request->Prev->Next = Request->Next;
  } else {
    Request->Channel->BackendHead = Request->Next;
  }
  if (Request->Next != NULL) Request->Next->Prev = Request->Prev;
  free(Request);
}

/* ---- Packet callbacks ---- */

static BOOLEAN EchoIsMalformed(PVOID buffer, UINT32 buffer_length, UINT32 flags) {
  if ((flags & ~VMBUS_CHANNEL_PROCESS_PACKET_FLAGS) != 0) {
    return TRUE;
  }
  return buffer == NULL && buffer_length != 0;
}

/* Counts a well-formed request and spends its service time. */
static VOID EchoServe(ECHO_CHANNEL* ech, UINT32 buffer_length) {
  ECHO_VSP* vsp = ech->Vsp;
  vsp->Stats.PacketsProcessed += 1;
  vsp->Stats.ChannelPacketsProcessed[ech->Index] += 1;
  vsp->Stats.BytesProcessed += buffer_length;
  if (vsp->Config.ServiceMicroseconds != 0) KeStallExecutionProcessor(vsp->Config.ServiceMicroseconds);
  if (vsp->Config.ServiceRoutine != NULL) vsp->Config.ServiceRoutine(vsp->Config.ServiceContext);
}

/* A shared-buffer request (see echo_vsp.h): FALSE when it is malformed (too
   short, a GPADL that does not map, a slot outside it), and then nothing
   was done with it. PASSIVE_LEVEL (the VSP processes at PASSIVE). */
static BOOLEAN EchoProcessShared(ECHO_CHANNEL* ech, VMBPACKETCOMPLETION packet, PVOID buffer,
                                 UINT32 buffer_length) {
  ECHO_VSP* vsp = ech->Vsp;
  ECHO_VSP_SHARED_REQUEST header;
  if (buffer == NULL || buffer_length < sizeof(header)) return FALSE;
  memcpy(&header, buffer, sizeof(header));
  if (header.Kind == ECHO_VSP_SHARED_KIND_REVOKE) {
    /* A GPADL that is not the one mapped was never used: nothing to stop. */
    if (ech->GpadlMdl != NULL && ech->Gpadl == header.Gpadl) EchoReleaseSharedBuffer(ech);
    EchoCompleteShared(packet, ECHO_VSP_SHARED_SERVED, 0);
    return TRUE;
  }
  if (header.Kind != ECHO_VSP_SHARED_KIND_REQUEST) return FALSE;
  const PMDL mdl = EchoMapGpadl(ech, header.Gpadl);
  if (mdl == NULL || header.SlotLength == 0) return FALSE;
  const UINT32 mapped_bytes = MmGetMdlByteCount(mdl);
  if (header.SlotOffset > mapped_bytes || header.SlotLength > mapped_bytes - header.SlotOffset) return FALSE;
  UINT8* slot = EchoSlot(mdl, header.SlotOffset);
  if (slot == NULL) return FALSE;
  EchoServe(ech, buffer_length);
  if (vsp->Config.BackendSubmit != NULL &&
      EchoSubmitSharedToBackend(ech, packet, mdl, header.SlotOffset, slot, header.SlotLength)) {
    return TRUE;
  }
  /* Served inline: complement the slot in place. */
  const UINT32 written = EchoWriteResponse(mdl, header.SlotOffset, slot, header.SlotLength);
  vsp->Stats.SharedServed += 1;
  EchoCompleteShared(packet, ECHO_VSP_SHARED_SERVED, written);
  return TRUE;
}

static VOID EchoProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                              UINT32 BufferLength, UINT32 Flags) {
  ECHO_CHANNEL* ech = EchoChannelOf(Channel);
  ECHO_VSP* vsp = ech->Vsp;
  if (EchoIsMalformed(Buffer, BufferLength, Flags) ||
      (vsp->Config.SharedBuffer && !EchoProcessShared(ech, Packet, Buffer, BufferLength))) {
    vsp->Stats.PacketsFailed += 1;
    VmbChannelPacketFail(Packet);
    return;
  }
  if (vsp->Config.SharedBuffer) return;
  EchoServe(ech, BufferLength);
  if (vsp->Config.BackendSubmit != NULL) {
    if (EchoSubmitToBackend(ech, Packet, Buffer, BufferLength)) return;
  } else if (vsp->Config.CompleteAsynchronously && EchoDefer(ech, Packet, Buffer, BufferLength)) {
    return;
  }
  EchoComplete(vsp, Packet, Buffer, BufferLength);
}

static VOID EchoProcessingComplete(VMBCHANNEL Channel, UINT32 PacketsProcessed) {
  ECHO_CHANNEL* ech = EchoChannelOf(Channel);
  ECHO_VSP* vsp = ech->Vsp;
  vsp->Stats.ProcessingCompleteCalls += 1;
  vsp->Stats.ProcessingCompletePackets += PacketsProcessed;
  EchoCompletePending(ech);
}

/* ---- State-change callbacks: count, log, and keep the contract ---- */

static VOID EchoRecordEvent(ECHO_VSP* vsp, VMBSIM_DRIVER_EVENT event, UINT64* counter) {
  *counter += 1;
  VmbsimDriverEventAppend(vsp->Stats.EventLog, &vsp->Stats.EventCount, event);
}

static NTSTATUS EchoChannelOpened(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = EchoChannelOf(Channel)->Vsp;
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_OPENED, &vsp->Stats.Opened);
  return STATUS_SUCCESS;
}

static VOID EchoChannelClosed(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = EchoChannelOf(Channel)->Vsp;
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_CLOSED, &vsp->Stats.Closed);
}

/* The pause or close that suspends the channel waits for every delivered
   packet to be completed (spec §5.3), so the deferred ones go now. */
static VOID EchoChannelSuspend(VMBCHANNEL Channel) {
  ECHO_CHANNEL* ech = EchoChannelOf(Channel);
  ECHO_VSP* vsp = ech->Vsp;
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_SUSPEND, &vsp->Stats.Suspended);
  EchoCompletePending(ech);
  EchoCompleteBackendRequests(ech);
  /* A close without a revoke, or a rescind: the buffer goes now. */
  EchoReleaseSharedBuffer(ech);
}

static VOID EchoGreetingDone(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer, UINT32 BufferLength) {
  ECHO_GREETING* greeting = (ECHO_GREETING*)VmbPacketGetPointer(Packet);
  ECHO_VSP* vsp = greeting->Vsp;
  (void)Buffer;
  (void)BufferLength;
  if (NT_SUCCESS(Status)) {
    vsp->Stats.GreetingsCompleted += 1;
  } else {
    vsp->Stats.GreetingsFailed += 1;
  }
  free(greeting);
  VmbPacketFree(Packet);
}

/* Sends Config.GreetingPackets 8-byte packets on the primary channel. */
static VOID EchoSendGreetings(ECHO_CHANNEL* ech) {
  ECHO_VSP* vsp = ech->Vsp;
  static const UINT8 kGreeting[8] = {'g', 'r', 'e', 'e', 't', 'i', 'n', 'g'};
  UINT32 i;
  if (ech != &vsp->Channels[0] || vsp->Restored) return;
  for (i = 0; i < vsp->Config.GreetingPackets; ++i) {
    ECHO_GREETING* greeting = (ECHO_GREETING*)malloc(sizeof(ECHO_GREETING));
    if (greeting == NULL) return;
    VMBPACKET packet = VmbPacketAllocate(ech->Channel);
    if (packet == NULL) {
      free(greeting);
      return;
    }
    greeting->Vsp = vsp;
    greeting->Number = i;
    VmbPacketSetPointer(packet, greeting);
    VmbPacketSetCompletionRoutine(packet, EchoGreetingDone);
    if (!NT_SUCCESS(VmbPacketSend(packet, (PVOID)kGreeting, sizeof(kGreeting), NULL,
                                  VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))) {
      free(greeting);
      VmbPacketFree(packet);
      return;
    }
    vsp->Stats.GreetingsSent += 1;
  }
}

/* ---- Save and restore (spec §5.9, §5.10, §6.9) ---- */

/* Two-call protocol: no buffer first, then one of BytesNeeded bytes. */
static NTSTATUS EchoSavePacket(VMBCHANNEL Channel, VMBPACKET Packet, PVOID SaveBuf, UINT32 SaveBufSize,
                               PUINT32 BytesNeeded) {
  const ECHO_GREETING* greeting = (const ECHO_GREETING*)VmbPacketGetPointer(Packet);
  ECHO_VSP_SAVED_GREETING saved;
  (void)Channel;
  *BytesNeeded = (UINT32)sizeof(saved);
  if (SaveBufSize < sizeof(saved)) return STATUS_BUFFER_TOO_SMALL;
  saved.Magic = ECHO_VSP_SAVED_GREETING_MAGIC;
  saved.Number = greeting->Number;
  memcpy(SaveBuf, &saved, sizeof(saved));
  greeting->Vsp->Stats.GreetingsSaved += 1;
  return STATUS_SUCCESS;
}

/* A saved greeting: a fresh packet, KMCL's part restored, the number kept. */
static NTSTATUS EchoRestorePacket(VMBCHANNEL Channel, PVOID LibBuf, UINT32 LibBufSize, PVOID SaveBuf,
                                  UINT32 SaveBufSize) {
  ECHO_VSP* vsp = EchoChannelOf(Channel)->Vsp;
  ECHO_VSP_SAVED_GREETING saved;
  if (SaveBuf == NULL || SaveBufSize != sizeof(saved)) return STATUS_INVALID_PARAMETER;
  memcpy(&saved, SaveBuf, sizeof(saved));
  if (saved.Magic != ECHO_VSP_SAVED_GREETING_MAGIC) return STATUS_INVALID_PARAMETER;
  ECHO_GREETING* greeting = (ECHO_GREETING*)malloc(sizeof(ECHO_GREETING));
  if (greeting == NULL) return STATUS_INSUFFICIENT_RESOURCES;
  VMBPACKET packet = VmbPacketAllocate(Channel);
  if (packet == NULL) {
    free(greeting);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  greeting->Vsp = vsp;
  greeting->Number = saved.Number;
  VmbPacketSetPointer(packet, greeting);
  VmbPacketSetCompletionRoutine(packet, EchoGreetingDone);
  const NTSTATUS status = VmbPacketRestore(packet, LibBuf, LibBufSize);
  if (!NT_SUCCESS(status)) {
    free(greeting);
    VmbPacketFree(packet);
    return status;
  }
  vsp->Stats.GreetingsRestored += 1;
  return STATUS_SUCCESS;
}

NTSTATUS EchoVspSaveBegin(ECHO_VSP* Vsp) {
  if (Vsp == NULL) return STATUS_INVALID_PARAMETER;
  if (Vsp->ChannelCount != 1 || !(Vsp->Config.SaveRestore || Vsp->Restored)) return STATUS_NOT_SUPPORTED;
  if (Vsp->Saving) return STATUS_INVALID_DEVICE_STATE;
  VmbChannelPause(Vsp->Channels[0].Channel);
  const NTSTATUS status = VmbChannelSaveBegin(Vsp->Channels[0].Channel);
  if (!NT_SUCCESS(status)) {
    VmbChannelSaveEnd(Vsp->Channels[0].Channel); /* Always after a Begin (spec §6.9). */
    return status;
  }
  Vsp->Saving = TRUE;
  return STATUS_SUCCESS;
}

NTSTATUS EchoVspSaveEnd(ECHO_VSP* Vsp, UINT8** Buffer, UINT32* Size) {
  if (Vsp == NULL || Buffer == NULL || Size == NULL) return STATUS_INVALID_PARAMETER;
  if (!Vsp->Saving) return STATUS_INVALID_DEVICE_STATE;
  const VMBCHANNEL channel = Vsp->Channels[0].Channel;
  UINT8* out = NULL;
  UINT32 size = 0;
  UINT32 capacity = 256;
  NTSTATUS status = STATUS_SUCCESS;
  for (;;) {
    UINT8* grown = (UINT8*)realloc(out, capacity);
    if (grown == NULL) {
      status = STATUS_INSUFFICIENT_RESOURCES;
      break;
    }
    out = grown;
    ULONG filled = 0;
    ULONG required = 0;
    status = VmbChannelSaveContinue(channel, out + size, capacity - size, &filled, &required);
    if (status == STATUS_SUCCESS || status == STATUS_BUFFER_OVERFLOW) size += filled;
    if (status == STATUS_SUCCESS) break;
    if (status != STATUS_BUFFER_OVERFLOW && status != STATUS_BUFFER_TOO_SMALL) break;
    if (required > capacity - size) capacity = size + required; /* Room for the next chunk. */
    capacity *= 2;
  }
  VmbChannelSaveEnd(channel);
  Vsp->Saving = FALSE;
  if (!NT_SUCCESS(status)) {
    free(out);
    return status;
  }
  *Buffer = out;
  *Size = size;
  return STATUS_SUCCESS;
}

static VOID EchoChannelStarted(VMBCHANNEL Channel) {
  ECHO_CHANNEL* ech = EchoChannelOf(Channel);
  ECHO_VSP* vsp = ech->Vsp;
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_STARTED, &vsp->Stats.Started);
  EchoSendGreetings(ech);
}

static VOID EchoChannelPostStarted(VMBCHANNEL Channel) {
  ECHO_VSP* vsp = EchoChannelOf(Channel)->Vsp;
  EchoRecordEvent(vsp, VMBSIM_DRIVER_EVENT_POST_STARTED, &vsp->Stats.PostStarted);
}

/* ---- Creation and teardown ---- */

/* The checked Init* calls of spec §8.4, in that order; returns the first failure. */
static NTSTATUS EchoConfigureChannel(ECHO_CHANNEL* ech, HANDLE vmbus_handle) {
  const VMBCHANNEL channel = ech->Channel;
  const ECHO_VSP_CONFIG* config = &ech->Vsp->Config;
  NTSTATUS status = STATUS_SUCCESS;
  if (vmbus_handle != NULL) {
    status = VmbServerChannelInitSetVmbusHandle(channel, vmbus_handle);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetMaximumPacketSize(channel, config->MaxPacketSize);
  }
  VmbChannelSetPointer(channel, ech);
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
  if (NT_SUCCESS(status) && ech->Index == 0 && (config->SaveRestore || config->RestoreBuffer != NULL)) {
    status = VmbServerChannelInitSetSaveRestorePacketCallbacks(channel, EchoSavePacket, EchoRestorePacket);
  }
  return status;
}

/* The settings real drivers make without checking a result (spec §8.2,
   §8.4): processing level, quota, friendly name. */
static VOID EchoApplyUncheckedSettings(ECHO_CHANNEL* ech) {
  const ECHO_VSP_CONFIG* config = &ech->Vsp->Config;
  UNICODE_STRING name;
  if (config->ProcessAtPassive || config->SharedBuffer) { /* Mapping a GPADL is PASSIVE_LEVEL. */
    VmbChannelSetIncomingProcessingAtPassive(ech->Channel, TRUE);
  }
  if (config->TransactionQuota != 0) {
    VmbChannelSetTransactionQuota(ech->Channel, config->TransactionQuota);
  }
  name.Buffer = kEchoFriendlyName;
  name.Length = (USHORT)(sizeof(kEchoFriendlyName) - sizeof(WCHAR)); /* Bytes, no NUL. */
  name.MaximumLength = (USHORT)sizeof(kEchoFriendlyName);
  (void)VmbChannelInitSetFriendlyName(ech->Channel, &name);
}

static ECHO_VSP* EchoAllocate(const ECHO_VSP_CONFIG* config) {
  ECHO_VSP* vsp = (ECHO_VSP*)calloc(1, sizeof(ECHO_VSP));
  if (vsp == NULL) {
    return NULL;
  }
  vsp->Config = *config;
  vsp->Restored = config->RestoreBuffer != NULL;
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

/* Frees the VSP. Packets still on a pending list (none after a Disable,
   whose Suspend completed them) are dropped, not completed: their channel is
   gone. So are the requests the back-end still holds (it has forgotten
   them: see ECHO_VSP_CONFIG.BackendSubmit). */
static VOID EchoFree(ECHO_VSP* vsp) {
  for (UINT32 i = 0; i < ECHO_VSP_MAX_CHANNELS; ++i) {
    ECHO_PENDING* pending = vsp->Channels[i].PendingHead;
    while (pending != NULL) {
      ECHO_PENDING* next = pending->Next;
      free(pending);
      pending = next;
    }
  }
  for (UINT32 i = 0; i < ECHO_VSP_MAX_CHANNELS; ++i) {
    ECHO_VSP_REQUEST* r = vsp->Channels[i].BackendHead;
    while (r != NULL) {
      ECHO_VSP_REQUEST* next = r->Next;
      free(r);
      r = next;
    }
  }
  free(vsp->Pattern);
  free(vsp);
}

/* Allocates, configures, enables and starts the next channel: the primary
   when there is none yet, else a sub-channel of it. On failure the channel
   is cleaned up again and not counted. */
static NTSTATUS EchoCreateChannel(ECHO_VSP* vsp, PDEVICE_OBJECT device, HANDLE vmbus_handle) {
  ECHO_CHANNEL* ech = &vsp->Channels[vsp->ChannelCount];
  ech->Vsp = vsp;
  ech->Index = vsp->ChannelCount;
  NTSTATUS status = VmbChannelAllocate(device, TRUE, &ech->Channel);
  if (!NT_SUCCESS(status)) {
    ech->Channel = NULL;
    return status;
  }
  status = EchoConfigureChannel(ech, vmbus_handle);
  if (NT_SUCCESS(status) && ech->Index != 0) {
    /* Before Enable, like every Init* setter; the primary is enabled. */
    status = vsp->Kmcl.VmbChannelInitSetPrimaryChannel(ech->Channel, vsp->Channels[0].Channel);
  }
  if (NT_SUCCESS(status)) {
    EchoApplyUncheckedSettings(ech);
    if (ech->Index == 0 && vsp->Config.RestoreBuffer != NULL) {
      /* The whole save at once: KMCL restores it chunk by chunk. */
      status = VmbChannelRestoreFromBuffer(ech->Channel, (PVOID)vsp->Config.RestoreBuffer,
                                           vsp->Config.RestoreBufferSize);
      if (status == STATUS_MORE_PROCESSING_REQUIRED) status = STATUS_INVALID_PARAMETER; /* Cut short. */
    }
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelEnable(ech->Channel);
  }
  if (!NT_SUCCESS(status)) {
    VmbChannelCleanup(ech->Channel); /* Still Disabled: a failed Enable leaves it so. */
    ech->Channel = NULL;
    return status;
  }
  VmbChannelStart(ech->Channel); /* Servers start explicitly (spec §6.1). */
  vsp->ChannelCount += 1;
  return STATUS_SUCCESS;
}

/* Queries the server V5 table for VmbChannelInitSetPrimaryChannel and keeps
   its reference. */
static NTSTATUS EchoQueryServerV5(ECHO_VSP* vsp, PDEVICE_OBJECT device) {
  memset(&vsp->Kmcl, 0, sizeof(vsp->Kmcl));
  const NTSTATUS status = VmbsimQueryInterface(
      device, &KMCL_SERVER_INTERFACE_TYPE, (PINTERFACE)&vsp->Kmcl,
      (USHORT)sizeof(KMCL_SERVER_INTERFACE_V5), KMCL_SERVER_INTERFACE_VERSION_V5, NULL);
  if (!NT_SUCCESS(status)) {
    return status;
  }
  vsp->HaveKmcl = TRUE;
  return vsp->Kmcl.VmbChannelInitSetPrimaryChannel != NULL ? STATUS_SUCCESS
                                                           : STATUS_NOT_SUPPORTED;
}

/* Disables the sub-channels, last first, then the primary, cleans them all
   up, releases the table and frees the VSP. Disable runs
   EvtChannelSuspend (which completes deferred packets) and waits for every
   delivered packet before returning. */
static VOID EchoTeardown(ECHO_VSP* vsp) {
  vsp->Unloading = TRUE;
  if (vsp->Saving) { /* Destroyed mid-save: the save context goes first. */
    VmbChannelSaveEnd(vsp->Channels[0].Channel);
    vsp->Saving = FALSE;
  }
  for (UINT32 i = vsp->ChannelCount; i > 0; --i) {
    VmbChannelDisable(vsp->Channels[i - 1].Channel);
  }
  /* Config.BugCompleteAfterRescind: the requests the suspends left in the
     back-end are completed now, on channels already disabled (rescinded). The
     correct VSP completed them in EvtChannelSuspend: none is left here. */
  if (vsp->Config.BugCompleteAfterRescind) {
    for (UINT32 i = 0; i < vsp->ChannelCount; ++i) {
      for (ECHO_VSP_REQUEST* r = vsp->Channels[i].BackendHead; r != NULL; r = r->Next) {
        if (r->Completed || r->Shared) continue;
        r->Completed = TRUE;
        vsp->Stats.BackendCompletedEarly += 1;
        EchoComplete(vsp, r->Packet, r->Echo, r->EchoLength);
      }
    }
  }
  for (UINT32 i = vsp->ChannelCount; i > 0; --i) {
    VmbChannelCleanup(vsp->Channels[i - 1].Channel);
  }
  if (vsp->HaveKmcl) {
    vsp->Kmcl.InterfaceDereference(vsp->Kmcl.Context);
  }
  EchoFree(vsp);
}

NTSTATUS EchoVspCreate(PDEVICE_OBJECT Device, HANDLE VmbusHandle, const ECHO_VSP_CONFIG* Config,
                       ECHO_VSP** Vsp) {
  if (Config == NULL || Vsp == NULL || Config->SubChannels >= ECHO_VSP_MAX_CHANNELS ||
      (Config->RestoreBuffer != NULL && Config->SubChannels != 0)) {
    return STATUS_INVALID_PARAMETER;
  }
  ECHO_VSP* vsp = EchoAllocate(Config);
  if (vsp == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  NTSTATUS status = EchoCreateChannel(vsp, Device, VmbusHandle);
  if (NT_SUCCESS(status) && Config->SubChannels != 0) {
    status = EchoQueryServerV5(vsp, Device);
  }
  for (UINT32 i = 0; NT_SUCCESS(status) && i < Config->SubChannels; ++i) {
    status = EchoCreateChannel(vsp, Device, VmbusHandle);
  }
  if (!NT_SUCCESS(status)) {
    EchoTeardown(vsp);
    return status;
  }
  vsp->Stats.Channels = vsp->ChannelCount;
  vsp->Config.RestoreBuffer = NULL; /* The caller's, used up. */
  vsp->Config.RestoreBufferSize = 0;
  *Vsp = vsp;
  return STATUS_SUCCESS;
}

VOID EchoVspDestroy(ECHO_VSP* Vsp) {
  if (Vsp == NULL) {
    return;
  }
  EchoTeardown(Vsp);
}

VOID EchoVspGetStats(const ECHO_VSP* Vsp, ECHO_VSP_STATS* Stats) { *Stats = Vsp->Stats; }

VMBCHANNEL EchoVspChannel(const ECHO_VSP* Vsp) { return Vsp->Channels[0].Channel; }

VMBCHANNEL EchoVspChannelAt(const ECHO_VSP* Vsp, UINT32 Index) {
  return Index < Vsp->ChannelCount ? Vsp->Channels[Index].Channel : NULL;
}
