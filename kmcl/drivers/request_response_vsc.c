/* kmcl/drivers/request_response_vsc.c
 *
 * The request/response VSC (request_response_vsc.h): a KMCL client driver
 * that sends requests as transactions and measures their round trips.
 * Written as a Windows guest driver would be, using only the exported KMCL
 * functions, to prove that the public header is enough for one.
 */
#include "kmcl/drivers/request_response_vsc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbuskernelmodeclientlibapi.h"

/* One request's packet object and timing. Closed-loop requests live in the
   pool and are reused; open-loop ones are allocated per RrVscSubmit, linked
   into a list while in flight, and freed by their completion routine. */
typedef struct _RR_CHANNEL RR_CHANNEL;

typedef struct _RR_REQUEST {
  RR_VSC* Vsc;
  RR_CHANNEL* Channel; /* The channel its packet object belongs to. */
  VMBPACKET Packet; /* NULL in a pool entry VmbPacketAllocate could not fill. */
  struct _RR_REQUEST* Next;
  struct _RR_REQUEST* Prev;
  ULONGLONG SentAt100ns;
  UINT64 Sequence; /* Of the request in flight. */
  BOOLEAN Pooled;
  BOOLEAN InFlight;
} RR_REQUEST;

/* One of the VSC's channels; its VmbChannelGetPointer. */
struct _RR_CHANNEL {
  RR_VSC* Vsc;
  VMBCHANNEL Channel;
  UINT32 Index;           /* 0 = the primary. */
  BOOLEAN Enabled;        /* VmbChannelEnable succeeded: Disable at teardown. */
  BOOLEAN Running;        /* From EvtChannelPostStarted to EvtChannelSuspend. */
  BOOLEAN Suspended;      /* From EvtChannelSuspend to the next EvtChannelPostStarted. */
  BOOLEAN PoolHasPackets; /* Its pool slots' packet objects were allocated. */
};

struct _RR_VSC {
  RR_CHANNEL Channels[RR_VSC_MAX_CHANNELS]; /* [0] the primary. */
  UINT32 ChannelCount; /* Allocated and configured, in Channels[0..ChannelCount). */
  RR_VSC_CONFIG Config;
  RR_VSC_STATS Stats;
  UINT8* Request; /* The request being built; VmbPacketSend copies it. */
  UINT64 NextSequence;
  BOOLEAN SubChannelsEnabled;
  RR_REQUEST* Pool;          /* Config.Outstanding entries; slot k on channel k % channels. */
  RR_REQUEST* OpenLoopHead;  /* Open-loop requests in flight. */
  UINT8* Shared;             /* Config.SharedBuffer: a slot of RequestBytes per pool entry. */
  UINT32 SharedBytes;
  UINT32 Gpadl;              /* The GPADL over Shared while the channel is open; 0 otherwise. */
  BOOLEAN Stopping;          /* Teardown began: the closed loop sends no more. */
  KMCL_CLIENT_INTERFACE_V5 Kmcl; /* For the V5 setters. */
  BOOLEAN HaveKmcl;              /* Kmcl holds a reference. */
};

static EVT_VMB_CHANNEL_OPENED RrChannelOpened;
static EVT_VMB_CHANNEL_CLOSED RrChannelClosed;
static EVT_VMB_CHANNEL_SUSPEND RrChannelSuspend;
static EVT_VMB_CHANNEL_STARTED RrChannelStarted;
static EVT_VMB_CHANNEL_POST_STARTED RrChannelPostStarted;
static EVT_VMB_CHANNEL_PNP_FAILURE RrChannelPnpFailure;
static EVT_VMB_CHANNEL_PROCESS_PACKET RrProcessPacket;
static EVT_VMB_PACKET_COMPLETION_ROUTINE RrPacketCompleted;

/* Written as a UTF-16 literal: WCHAR is a 16-bit code unit (wdk_shim.h). */
static WCHAR kRrFriendlyName[] = u"RrVsc";

UINT8 RrVscPatternByte(UINT32 Offset) { return (UINT8)(Offset * 13u + 0x5Au); }

/* ---- Requests and their transactions ---- */

/* Writes `sequence` little-endian into the request's first (up to) 8 bytes;
   the pattern after them was written once at creation. */
static VOID RrStampSequence(RR_VSC* vsc, UINT64 sequence) {
  UINT8* out = vsc->Request;
  if (vsc->Config.RequestBytes >= 8) {
    /* The usual case, once per request: spelled out so that the compiler
       can merge the eight byte stores into one. */
    out[0] = (UINT8)sequence;
    out[1] = (UINT8)(sequence >> 8);
    out[2] = (UINT8)(sequence >> 16);
    out[3] = (UINT8)(sequence >> 24);
    out[4] = (UINT8)(sequence >> 32);
    out[5] = (UINT8)(sequence >> 40);
    out[6] = (UINT8)(sequence >> 48);
    out[7] = (UINT8)(sequence >> 56);
    return;
  }
  for (UINT32 i = 0; i < vsc->Config.RequestBytes; ++i) {
    out[i] = (UINT8)(sequence >> (8 * i));
  }
}

/* ---- Shared buffer (RR_VSC_CONFIG.SharedBuffer) ---- */

static VOID RrPutU32(UINT8* out, UINT32 value) {
  out[0] = (UINT8)value;
  out[1] = (UINT8)(value >> 8);
  out[2] = (UINT8)(value >> 16);
  out[3] = (UINT8)(value >> 24);
}

static UINT32 RrGetU32(const UINT8* in) {
  return (UINT32)in[0] | ((UINT32)in[1] << 8) | ((UINT32)in[2] << 16) | ((UINT32)in[3] << 24);
}

/* Byte `offset` of the request with sequence number `sequence`, as the
   slot holds it before the host answers. */
static UINT8 RrSharedRequestByte(UINT64 sequence, UINT32 offset) {
  return offset < 8 ? (UINT8)(sequence >> (8 * offset)) : RrVscPatternByte(offset);
}

static UINT32 RrSlotOffset(const RR_VSC* vsc, const RR_REQUEST* request) {
  return (UINT32)(request - vsc->Pool) * vsc->Config.RequestBytes;
}

/* Writes the request bytes of `sequence` into `request`'s slot, and the
   header naming that slot into the in-band request (after its sequence
   number, which RrStampSequence wrote). */
static VOID RrFillSlot(RR_VSC* vsc, const RR_REQUEST* request, UINT64 sequence) {
  const UINT32 offset = RrSlotOffset(vsc, request);
  UINT8* slot = vsc->Shared + offset;
  for (UINT32 i = 0; i < vsc->Config.RequestBytes; ++i) {
    slot[i] = RrSharedRequestByte(sequence, i);
  }
  RrPutU32(vsc->Request + 8, vsc->Gpadl);
  RrPutU32(vsc->Request + 12, offset);
  RrPutU32(vsc->Request + 16, vsc->Config.RequestBytes);
  RrPutU32(vsc->Request + 20, 0);
}

/* The kind field of a revoke (ECHO_VSP_SHARED_KIND_REVOKE of echo_vsp.h:
   the two samples speak one protocol but share no header). */
#define RR_SHARED_KIND_REVOKE 1u

/* Stops the closed loop and takes the shared buffer back from the host with
   a revoke naming the GPADL, waiting for its completion: from then on the
   host has the GPADL unmapped, so EvtChannelClosed can delete it (KMCL runs
   EvtChannelClosed before the host learns of the close, spec §7.4). The
   requests still in flight end as the host completes them. PASSIVE_LEVEL. */
static VOID RrRevokeSharedBuffer(RR_VSC* vsc) {
  UINT8 revoke[RR_VSC_SHARED_REQUEST_BYTES_MIN];
  UINT8 completion[8];
  UINT32 completion_bytes = (UINT32)sizeof(completion);
  vsc->Stopping = TRUE;
  if (vsc->Gpadl == 0 || !vsc->Channels[0].Running) {
    return; /* Never shared, or the channel is already closing. */
  }
  memset(revoke, 0, sizeof(revoke));
  RrPutU32(revoke + 8, vsc->Gpadl);
  RrPutU32(revoke + 20, RR_SHARED_KIND_REVOKE);
  const NTSTATUS status = VmbChannelSendSynchronousRequest(
      vsc->Channels[0].Channel, revoke, (UINT32)sizeof(revoke), NULL,
      VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, completion, &completion_bytes, NULL);
  if (NT_SUCCESS(status)) {
    vsc->Stats.GpadlsRevoked += 1;
  }
}

/* A successful shared-buffer transaction: its completion says whether the
   host served it (then the slot must hold the request complemented) or
   aborted it. */
static VOID RrCheckSlot(RR_VSC* vsc, const RR_REQUEST* request, const UINT8* completion,
                        UINT32 completion_length) {
  if (completion == NULL || completion_length < 8 || RrGetU32(completion) != 0) {
    vsc->Stats.SharedAborted += 1; /* ECHO_VSP_SHARED_ABORTED, or no answer at all. */
    return;
  }
  const UINT8* slot = vsc->Shared + RrSlotOffset(vsc, request);
  BOOLEAN same = RrGetU32(completion + 4) == vsc->Config.RequestBytes;
  for (UINT32 i = 0; same && i < vsc->Config.RequestBytes; ++i) {
    const UINT8 response = (UINT8)~RrSharedRequestByte(request->Sequence, i);
    same = slot[i] == response;
  }
  if (same) {
    vsc->Stats.SharedChecked += 1;
  } else {
    vsc->Stats.SharedMismatches += 1;
  }
}

/* Sends the next request on `request`'s packet object, timed at `now_100ns`
   (KeQueryInterruptTime, read by the caller with no KMCL call since, so the
   clock has not moved). KMCL never runs a completion routine inside the
   call that caused it (header conventions), so the bookkeeping can follow
   the send. */
static NTSTATUS RrSendBytesAt(RR_VSC* vsc, RR_REQUEST* request, UINT32 bytes, ULONGLONG now_100ns) {
  RrStampSequence(vsc, vsc->NextSequence);
  if (vsc->Config.SharedBuffer) {
    RrFillSlot(vsc, request, vsc->NextSequence);
  }
  request->Sequence = vsc->NextSequence;
  request->SentAt100ns = now_100ns;
  const NTSTATUS status =
      VmbPacketSend(request->Packet, vsc->Request, bytes, NULL,
                    VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  if (!NT_SUCCESS(status)) {
    vsc->Stats.SendErrors += 1;
    return status;
  }
  request->InFlight = TRUE;
  vsc->NextSequence += 1;
  vsc->Stats.Sent += 1;
  vsc->Stats.ChannelSent[request->Channel->Index] += 1;
  vsc->Stats.InFlight += 1;
  vsc->Stats.BytesSent += bytes;
  return status;
}

static NTSTATUS RrSendBytes(RR_VSC* vsc, RR_REQUEST* request, UINT32 bytes) {
  return RrSendBytesAt(vsc, request, bytes, KeQueryInterruptTime());
}

static NTSTATUS RrSend(RR_VSC* vsc, RR_REQUEST* request) {
  return RrSendBytes(vsc, request, vsc->Config.RequestBytes);
}

static UINT32 RrLatencyBucket(UINT64 latency_100ns) {
  UINT32 bucket = 0;
  while (latency_100ns > 1) { /* At most 63 steps. */
    latency_100ns >>= 1;
    bucket += 1;
  }
  return bucket;
}

static VOID RrRecordLatency(RR_VSC_STATS* stats, UINT64 latency_100ns) {
  if (stats->LatencyCount == 0 || latency_100ns < stats->LatencyMin100ns) {
    stats->LatencyMin100ns = latency_100ns;
  }
  if (latency_100ns > stats->LatencyMax100ns) {
    stats->LatencyMax100ns = latency_100ns;
  }
  stats->LatencyCount += 1;
  stats->LatencySum100ns += latency_100ns;
  stats->LatencyHistogram[RrLatencyBucket(latency_100ns)] += 1;
}

/* Returns whether it read the time (to time a success; a failure is not
   timed), and if so sets *now_100ns to it. */
static BOOLEAN RrRecordOutcome(RR_VSC* vsc, const RR_REQUEST* request, NTSTATUS status,
                               UINT32 completion_length, ULONGLONG* now_100ns) {
  RR_VSC_STATS* stats = &vsc->Stats;
  stats->InFlight -= 1;
  if (status != STATUS_SUCCESS) {
    stats->Failed += 1;
    stats->LastFailureStatus = status;
    if (status == STATUS_CANCELLED || status == STATUS_DEVICE_REMOVED) {
      stats->Cancelled += 1;
    }
    return FALSE;
  }
  const ULONGLONG now = KeQueryInterruptTime();
  stats->Completed += 1;
  stats->BytesReceived += completion_length;
  RrRecordLatency(stats, now >= request->SentAt100ns ? now - request->SentAt100ns : 0);
  *now_100ns = now;
  return TRUE;
}

static BOOLEAN RrClosedLoopWantsMore(const RR_VSC* vsc) {
  if (vsc->Stopping) {
    return FALSE;
  }
  return vsc->Config.TotalRequests == 0 || vsc->Stats.Sent < vsc->Config.TotalRequests;
}

static VOID RrUnlinkOpenLoop(RR_VSC* vsc, RR_REQUEST* request) {
  if (request->Prev != NULL) {
    request->Prev->Next = request->Next;
  } else {
    vsc->OpenLoopHead = request->Next;
  }
  if (request->Next != NULL) {
    request->Next->Prev = request->Prev;
  }
}

/* The transaction is over: record it, then reuse the pooled packet while the
   closed loop runs (else leave it idle), or free an open-loop one. */
static VOID RrPacketCompleted(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer,
                              UINT32 BufferLength) {
  RR_REQUEST* request = (RR_REQUEST*)VmbPacketGetPointer(Packet);
  if (request == NULL || !request->InFlight) {
    return; /* Not a transaction of ours: nothing safe to do. */
  }
  RR_VSC* vsc = request->Vsc;
  request->InFlight = FALSE;
  if (vsc->Config.SharedBuffer && Status == STATUS_SUCCESS) {
    RrCheckSlot(vsc, request, (const UINT8*)Buffer, BufferLength);
  }
  ULONGLONG completed_at_100ns = 0;
  BOOLEAN timed = RrRecordOutcome(vsc, request, Status, BufferLength, &completed_at_100ns);
  if (vsc->Config.CompletionServiceRoutine != NULL) {
    vsc->Config.CompletionServiceRoutine(vsc->Config.CompletionServiceContext);
    timed = FALSE; /* The clock moved: the next send reads it again. */
  }
  if (!request->Pooled) {
    RrUnlinkOpenLoop(vsc, request);
    VmbPacketFree(Packet);
    free(request);
    return;
  }
  if (request->Channel->Running && RrClosedLoopWantsMore(vsc)) {
    /* The next request goes out at the time just read, if one was: no KMCL
       call came between, so asking again would give the same value. A
       failure leaves the packet idle until the next PostStarted. */
    (void)RrSendBytesAt(vsc, request, vsc->Config.RequestBytes,
                        timed ? completed_at_100ns : KeQueryInterruptTime());
  }
}

/* ---- Closed loop ---- */

/* Gives every pool slot of `rch` (slots k with k % channels == its index)
   a packet object of that channel whose completion routine (and so whose
   freeing) is ours. Slots left without one shrink the window. */
static VOID RrAllocatePoolPackets(RR_CHANNEL* rch) {
  RR_VSC* vsc = rch->Vsc;
  for (UINT32 i = rch->Index; i < vsc->Config.Outstanding; i += vsc->ChannelCount) {
    RR_REQUEST* request = &vsc->Pool[i];
    request->Channel = rch;
    request->Packet = VmbPacketAllocate(rch->Channel);
    if (request->Packet == NULL) {
      break;
    }
    VmbPacketSetCompletionRoutine(request->Packet, RrPacketCompleted);
    VmbPacketSetPointer(request->Packet, request);
  }
  rch->PoolHasPackets = TRUE;
}

/* Sends on every idle pool slot of `rch`. */
static VOID RrStartClosedLoop(RR_CHANNEL* rch) {
  RR_VSC* vsc = rch->Vsc;
  if (!rch->PoolHasPackets) {
    RrAllocatePoolPackets(rch);
  }
  for (UINT32 i = rch->Index; i < vsc->Config.Outstanding && RrClosedLoopWantsMore(vsc);
       i += vsc->ChannelCount) {
    RR_REQUEST* request = &vsc->Pool[i];
    if (request->Packet != NULL && !request->InFlight) {
      (void)RrSend(vsc, request);
    }
  }
}

/* ---- Open loop ---- */

NTSTATUS RrVscSubmit(RR_VSC* Vsc) { return RrVscSubmitBytes(Vsc, Vsc->Config.RequestBytes); }

/* The channel an open-loop request goes out on: the sending processor's,
   when it runs; else the primary (see request_response_vsc.h). */
static RR_CHANNEL* RrSubmitChannel(RR_VSC* vsc) {
  if (vsc->ChannelCount > 1) {
    RR_CHANNEL* rch = &vsc->Channels[KeGetCurrentProcessorNumberEx(NULL) % vsc->ChannelCount];
    if (rch->Running) {
      return rch;
    }
  }
  return &vsc->Channels[0];
}

NTSTATUS RrVscSubmitBytes(RR_VSC* Vsc, UINT32 Bytes) {
  if (Bytes > Vsc->Config.RequestBytes) {
    return STATUS_INVALID_PARAMETER_2; /* The request buffer holds RequestBytes. */
  }
  if (Vsc->Config.SharedBuffer) {
    Vsc->Stats.SendErrors += 1;
    return STATUS_NOT_SUPPORTED; /* The shared buffer has slots for the closed loop only. */
  }
  RR_CHANNEL* rch = RrSubmitChannel(Vsc);
  if (rch->Suspended) {
    /* Suspended (a rescind, a close): sending now is a contract violation.
       Before the first start, sends are fine: KMCL queues them until the open.
       Counted with the sends that failed: the request was not sent. */
    Vsc->Stats.SendErrors += 1;
    return STATUS_INVALID_DEVICE_STATE;
  }
  RR_REQUEST* request = (RR_REQUEST*)calloc(1, sizeof(RR_REQUEST));
  if (request == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  request->Vsc = Vsc;
  request->Channel = rch;
  request->Packet = VmbPacketAllocate(rch->Channel);
  if (request->Packet == NULL) {
    free(request);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  VmbPacketSetCompletionRoutine(request->Packet, RrPacketCompleted);
  VmbPacketSetPointer(request->Packet, request);
  const NTSTATUS status = RrSendBytes(Vsc, request, Bytes);
  if (!NT_SUCCESS(status)) {
    VmbPacketFree(request->Packet); /* Not accepted, so still ours. */
    free(request);
    return status;
  }
  request->Next = Vsc->OpenLoopHead;
  if (Vsc->OpenLoopHead != NULL) {
    Vsc->OpenLoopHead->Prev = request;
  }
  Vsc->OpenLoopHead = request;
  return status;
}

/* ---- Channel callbacks ---- */

/* Packets from the host carry nothing this driver acts on. */
static RR_CHANNEL* RrChannelOf(VMBCHANNEL channel) { return (RR_CHANNEL*)VmbChannelGetPointer(channel); }

static VOID RrProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                            UINT32 BufferLength, UINT32 Flags) {
  RR_VSC* vsc = RrChannelOf(Channel)->Vsc;
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
  vsc->Stats.ProcessPacketCalls += 1;
  VmbChannelPacketComplete(Packet, NULL, 0);
}

static VOID RrRecordEvent(RR_VSC* vsc, VMBSIM_DRIVER_EVENT event, UINT64* counter) {
  *counter += 1;
  VmbsimDriverEventAppend(vsc->Stats.EventLog, &vsc->Stats.EventCount, event);
}

/* A shared-buffer driver donates its buffer now (spec §6.8: long-lived
   GPADLs from EvtChannelOpened on); a GPADL that cannot be had fails the
   open. */
static NTSTATUS RrChannelOpened(VMBCHANNEL Channel) {
  RR_VSC* vsc = RrChannelOf(Channel)->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_OPENED, &vsc->Stats.Opened);
  if (vsc->Config.SharedBuffer) {
    UINT32 gpadl = 0;
    const NTSTATUS status =
        VmbChannelCreateGpadlFromBuffer(Channel, 0, vsc->Shared, vsc->SharedBytes, &gpadl);
    if (!NT_SUCCESS(status)) {
      return status;
    }
    vsc->Gpadl = gpadl;
    vsc->Stats.GpadlsCreated += 1;
  }
  return STATUS_SUCCESS;
}

/* Every GPADL goes inside EvtChannelClosed (spec §6.8); the delete waits
   until the host has unmapped it, so the buffer is the driver's again. */
static VOID RrChannelClosed(VMBCHANNEL Channel) {
  RR_VSC* vsc = RrChannelOf(Channel)->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_CLOSED, &vsc->Stats.Closed);
  if (vsc->Gpadl != 0) {
    VmbChannelDeleteGpadl(Channel, vsc->Gpadl);
    vsc->Gpadl = 0;
    vsc->Stats.GpadlsDeleted += 1;
  }
}

/* The driver must stop sending (spec §5.3): completions from here on leave
   their packets idle. */
static VOID RrChannelSuspend(VMBCHANNEL Channel) {
  RR_CHANNEL* rch = RrChannelOf(Channel);
  RR_VSC* vsc = rch->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_SUSPEND, &vsc->Stats.Suspended);
  rch->Running = FALSE;
  rch->Suspended = TRUE;
}

static VOID RrChannelStarted(VMBCHANNEL Channel) {
  RR_VSC* vsc = RrChannelOf(Channel)->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_STARTED, &vsc->Stats.Started);
}

/* From the primary's first PostStarted: enable every sub-channel (Enable is
   PASSIVE and does not block; KMCL binds each to a sub-channel offer of the
   open primary, at once or when the offer arrives; client Enable implies
   Start). */
static VOID RrEnableSubChannels(RR_VSC* vsc) {
  vsc->SubChannelsEnabled = TRUE;
  for (UINT32 i = 1; i < vsc->ChannelCount; ++i) {
    RR_CHANNEL* rch = &vsc->Channels[i];
    if (!NT_SUCCESS(VmbChannelEnable(rch->Channel))) {
      vsc->Stats.SubChannelEnableErrors += 1;
      continue;
    }
    rch->Enabled = TRUE;
  }
}

/* The incoming queue runs, so completions can arrive: start (or resume) the
   channel's share of the closed loop; the primary's first one also brings up
   the sub-channels. */
static VOID RrChannelPostStarted(VMBCHANNEL Channel) {
  RR_CHANNEL* rch = RrChannelOf(Channel);
  RR_VSC* vsc = rch->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_POST_STARTED, &vsc->Stats.PostStarted);
  rch->Running = TRUE;
  rch->Suspended = FALSE;
  if (rch->Index == 0 && !vsc->SubChannelsEnabled) {
    RrEnableSubChannels(vsc);
  }
  if (vsc->Config.Outstanding != 0) {
    RrStartClosedLoop(rch);
  }
}

static VOID RrChannelPnpFailure(VMBCHANNEL Channel, NTSTATUS FailureStatus) {
  RR_VSC* vsc = RrChannelOf(Channel)->Vsc;
  RrRecordEvent(vsc, VMBSIM_DRIVER_EVENT_PNP_FAILURE, &vsc->Stats.PnpFailures);
  vsc->Stats.LastPnpFailureStatus = FailureStatus;
}

/* ---- Creation and teardown ---- */

static BOOLEAN RrIsZeroGuid(const GUID* guid) {
  static const GUID kZero;
  return memcmp(guid, &kZero, sizeof(GUID)) == 0;
}

/* The checked Init* calls of spec §8.2 with callbacks and pointer, in that
   order, then the V5 ones for a sub-channel (primary, target VP); returns
   the first failure. */
static NTSTATUS RrConfigureChannel(RR_CHANNEL* rch) {
  RR_VSC* vsc = rch->Vsc;
  const VMBCHANNEL channel = rch->Channel;
  const RR_VSC_CONFIG* config = &vsc->Config;
  NTSTATUS status = VmbChannelInitSetMaximumPacketSize(channel, config->MaxPacketSize);
  if (NT_SUCCESS(status) && (config->IncomingPageCount != 0 || config->OutgoingPageCount != 0)) {
    status = VmbClientChannelInitSetRingBufferPageCount(channel, config->IncomingPageCount,
                                                        config->OutgoingPageCount);
  }
  if (NT_SUCCESS(status)) {
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    callbacks.EvtChannelOpened = RrChannelOpened;
    callbacks.EvtChannelClosed = RrChannelClosed;
    callbacks.EvtChannelSuspend = RrChannelSuspend;
    callbacks.EvtChannelStarted = RrChannelStarted;
    callbacks.EvtChannelPostStarted = RrChannelPostStarted;
    status = VmbChannelInitSetStateChangeCallbacks(channel, &callbacks);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetProcessPacketCallbacks(channel, RrProcessPacket, NULL);
  }
  VmbChannelSetPointer(channel, rch);
  if (NT_SUCCESS(status) && rch->Index == 0) {
    const GUID* instance =
        RrIsZeroGuid(&config->InterfaceInstance) ? NULL : &config->InterfaceInstance;
    status = VmbClientChannelInitSetTargetPnp(channel, &config->InterfaceType, instance,
                                              RrChannelPnpFailure);
  }
  if (NT_SUCCESS(status) && rch->Index != 0) {
    /* Type and instance come from the primary's offer. */
    status = vsc->Kmcl.VmbChannelInitSetPrimaryChannel(channel, vsc->Channels[0].Channel);
    if (NT_SUCCESS(status)) {
      const UINT32 vp_count = config->VpCount != 0 ? config->VpCount : 1;
      status = vsc->Kmcl.VmbClientChannelInitSetTargetProcessorIndex(channel, rch->Index % vp_count);
    }
  }
  return status;
}

/* The settings real drivers make without checking a result (spec §8.2). */
static VOID RrApplyUncheckedSettings(RR_CHANNEL* rch) {
  UNICODE_STRING name;
  VmbChannelSetIncomingProcessingAtPassive(rch->Channel, rch->Vsc->Config.ProcessAtPassive);
  name.Buffer = kRrFriendlyName;
  name.Length = (USHORT)(sizeof(kRrFriendlyName) - sizeof(WCHAR)); /* Bytes, no NUL. */
  name.MaximumLength = (USHORT)sizeof(kRrFriendlyName);
  (void)VmbChannelInitSetFriendlyName(rch->Channel, &name);
}

static VOID RrFree(RR_VSC* vsc) {
  free(vsc->Shared);
  free(vsc->Pool);
  free(vsc->Request);
  free(vsc);
}

static RR_VSC* RrAllocate(const RR_VSC_CONFIG* config) {
  RR_VSC* vsc = (RR_VSC*)calloc(1, sizeof(RR_VSC));
  if (vsc == NULL) {
    return NULL;
  }
  vsc->Config = *config;
  /* calloc of 0 may return NULL, so ask for at least one of each. */
  vsc->Request = (UINT8*)calloc(config->RequestBytes != 0 ? config->RequestBytes : 1, 1);
  vsc->Pool = (RR_REQUEST*)calloc(config->Outstanding != 0 ? config->Outstanding : 1,
                                  sizeof(RR_REQUEST));
  if (config->SharedBuffer) {
    /* Whole pages, page-aligned, as drivers allocate GPADL buffers: the
       GPADL's page list and first-page offset, and so the run, then do not
       depend on where the allocator put the buffer. */
    const UINT32 page_bytes = 4096u;
    vsc->SharedBytes = config->Outstanding * config->RequestBytes;
    const size_t allocated = ((size_t)vsc->SharedBytes + page_bytes - 1) / page_bytes * page_bytes;
    vsc->Shared = (UINT8*)aligned_alloc(page_bytes, allocated);
    if (vsc->Shared != NULL) {
      memset(vsc->Shared, 0, allocated);
    }
  }
  if (vsc->Request == NULL || vsc->Pool == NULL || (config->SharedBuffer && vsc->Shared == NULL)) {
    RrFree(vsc);
    return NULL;
  }
  for (UINT32 i = 8; i < config->RequestBytes; ++i) {
    vsc->Request[i] = RrVscPatternByte(i);
  }
  for (UINT32 i = 0; i < config->Outstanding; ++i) {
    vsc->Pool[i].Vsc = vsc;
    vsc->Pool[i].Pooled = TRUE;
  }
  return vsc;
}

/* Queries the client V5 table and checks it has the members this driver
   calls; keeps the reference. */
static NTSTATUS RrQueryClientV5(RR_VSC* vsc, PDEVICE_OBJECT device) {
  memset(&vsc->Kmcl, 0, sizeof(vsc->Kmcl));
  const NTSTATUS status = VmbsimQueryInterface(
      device, &KMCL_CLIENT_INTERFACE_TYPE, (PINTERFACE)&vsc->Kmcl,
      (USHORT)sizeof(KMCL_CLIENT_INTERFACE_V5), KMCL_CLIENT_INTERFACE_VERSION_V5, NULL);
  if (!NT_SUCCESS(status)) {
    return status;
  }
  vsc->HaveKmcl = TRUE;
  if (vsc->Kmcl.VmbChannelInitSetPrimaryChannel == NULL ||
      vsc->Kmcl.VmbClientChannelInitSetTargetProcessorIndex == NULL) {
    return STATUS_NOT_SUPPORTED;
  }
  return STATUS_SUCCESS;
}

/* Allocates and configures the next channel (the primary first). On failure
   the channel is cleaned up again and not counted. */
static NTSTATUS RrCreateChannel(RR_VSC* vsc, PDEVICE_OBJECT device) {
  RR_CHANNEL* rch = &vsc->Channels[vsc->ChannelCount];
  rch->Vsc = vsc;
  rch->Index = vsc->ChannelCount;
  NTSTATUS status = VmbChannelAllocate(device, FALSE, &rch->Channel);
  if (NT_SUCCESS(status)) {
    status = RrConfigureChannel(rch);
    if (!NT_SUCCESS(status)) {
      VmbChannelCleanup(rch->Channel);
    }
  }
  if (!NT_SUCCESS(status)) {
    rch->Channel = NULL;
    return status;
  }
  RrApplyUncheckedSettings(rch);
  vsc->ChannelCount += 1;
  return STATUS_SUCCESS;
}

/* Disables the enabled channels, sub-channels first (last first), frees the
   packet objects the driver still owns, cleans every channel up, releases
   the table and frees the VSC. */
static VOID RrTeardown(RR_VSC* vsc) {
  if (vsc->Config.SharedBuffer) {
    RrRevokeSharedBuffer(vsc);
  }
  for (UINT32 i = vsc->ChannelCount; i > 0; --i) {
    RR_CHANNEL* rch = &vsc->Channels[i - 1];
    if (rch->Enabled) {
      VmbChannelDisable(rch->Channel);
      rch->Enabled = FALSE;
    }
    rch->Running = FALSE; /* Also when the channel never ran. */
  }
  for (UINT32 i = 0; i < vsc->Config.Outstanding; ++i) {
    RR_REQUEST* request = &vsc->Pool[i];
    if (request->Packet != NULL && !request->InFlight) {
      VmbPacketFree(request->Packet);
    }
  }
  /* Packet objects still in flight (KMCL never ended their transaction) go
     with their channel; after Cleanup no completion routine can run. */
  for (UINT32 i = vsc->ChannelCount; i > 0; --i) {
    VmbChannelCleanup(vsc->Channels[i - 1].Channel);
  }
  while (vsc->OpenLoopHead != NULL) {
    RR_REQUEST* request = vsc->OpenLoopHead;
    vsc->OpenLoopHead = request->Next;
    free(request);
  }
  if (vsc->HaveKmcl) {
    vsc->Kmcl.InterfaceDereference(vsc->Kmcl.Context);
  }
  RrFree(vsc);
}

NTSTATUS RrVscCreate(PDEVICE_OBJECT Device, const RR_VSC_CONFIG* Config, RR_VSC** Vsc) {
  if (Config == NULL || Vsc == NULL || Config->SubChannels >= RR_VSC_MAX_CHANNELS) {
    return STATUS_INVALID_PARAMETER;
  }
  if (Config->SharedBuffer &&
      (Config->Outstanding == 0 || Config->SubChannels != 0 || Config->EarlyRequests != 0 ||
       Config->RequestBytes < RR_VSC_SHARED_REQUEST_BYTES_MIN ||
       Config->Outstanding > UINT32_MAX / Config->RequestBytes)) {
    return STATUS_INVALID_PARAMETER; /* See "Shared buffer" in request_response_vsc.h. */
  }
  RR_VSC* vsc = RrAllocate(Config);
  if (vsc == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  NTSTATUS status = STATUS_SUCCESS;
  if (Config->SubChannels != 0) {
    status = RrQueryClientV5(vsc, Device);
  }
  for (UINT32 i = 0; NT_SUCCESS(status) && i <= Config->SubChannels; ++i) {
    status = RrCreateChannel(vsc, Device);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelEnable(vsc->Channels[0].Channel);
  }
  if (!NT_SUCCESS(status)) {
    RrTeardown(vsc); /* Nothing is enabled: a failed Enable leaves it Disabled. */
    return status;
  }
  vsc->Channels[0].Enabled = TRUE;
  vsc->Stats.Channels = vsc->ChannelCount;
  /* Implied by Enable on a client; real drivers call it anyway (spec §8.2). */
  VmbChannelStart(vsc->Channels[0].Channel);
  /* Before the open completes: KMCL queues these until the channel opens. */
  for (UINT32 i = 0; i < vsc->Config.EarlyRequests; ++i) {
    if (!NT_SUCCESS(RrVscSubmit(vsc))) {
      break;
    }
  }
  *Vsc = vsc;
  return STATUS_SUCCESS;
}

VOID RrVscDestroy(RR_VSC* Vsc) {
  if (Vsc == NULL) {
    return;
  }
  RrTeardown(Vsc);
}

VOID RrVscGetStats(const RR_VSC* Vsc, RR_VSC_STATS* Stats) { *Stats = Vsc->Stats; }

VMBCHANNEL RrVscChannel(const RR_VSC* Vsc) { return Vsc->Channels[0].Channel; }
