/* kmcl/drivers/echo_vsp.h
 *
 * A sample host-side VSP (KMCL server endpoint) written against nothing but
 * the public KMCL header: it offers one channel and completes every packet
 * the guest sends, with either the request bytes echoed back or a fixed-size
 * deterministic pattern as the completion payload. It follows the call order
 * of a real host driver (spec §8.4) and the receive pattern of one (§8.6):
 * check the length, fail malformed packets with VmbChannelPacketFail,
 * complete everything else exactly once, inline or from the end-of-batch
 * callback.
 *
 * The echo protocol: any in-band payload is a request. A packet is malformed
 * (failed, which stops the channel's incoming queue, spec §6.6) when it
 * carries flag bits this KMCL version does not define, or a NULL buffer with
 * a non-zero length. External data, if present, is not read; completing the
 * packet releases it.
 *
 * Shared buffer (Config.SharedBuffer): the guest donates a buffer through a
 * GPADL (the request/response VSC's shared-buffer mode) and every request
 * names a slot of it. A request's in-band bytes then start with an
 * ECHO_VSP_SHARED_REQUEST header: the guest's tag, the GPADL handle, and
 * the slot's offset and length in the GPADL. The VSP maps the GPADL
 * (VmbChannelMapGpadl) the first time a request names it, reads the slot
 * through MmGetSystemAddressForMdlSafe, serves the request (inline, or in
 * the back-end), writes the response (every byte of the slot complemented)
 * back into the slot the same way, and completes the packet with an
 * ECHO_VSP_SHARED_COMPLETION (status ECHO_VSP_SHARED_SERVED).
 *
 * Before it closes the channel the guest revokes the buffer with a request
 * of kind ECHO_VSP_SHARED_KIND_REVOKE naming the GPADL, as Linux's netvsc
 * revokes its receive buffer (NVSP_MSG1_TYPE_REVOKE_RECV_BUF): under KMCL
 * the guest deletes its GPADLs in EvtChannelClosed, before CLOSECHANNEL
 * reaches the host (spec §7.4), and VmbChannelDeleteGpadl waits while the
 * host has the GPADL mapped (§6.8), so the host must unmap on the revoke.
 * On a revoke, and on a suspend (a rescind, a close without a revoke), the
 * VSP completes the requests still in the back-end with status
 * ECHO_VSP_SHARED_ABORTED and cancels their writes into the buffer, then
 * unmaps the GPADL (§6.8: the server must have stopped using it), and
 * completes the revoke. A request shorter than the header, naming a GPADL
 * that does not map or a slot outside it is malformed. Because VmbChannelMapGpadl is PASSIVE_LEVEL, a shared-buffer
 * VSP processes its packets at PASSIVE (ProcessAtPassive is implied), and
 * CompleteAsynchronously is ignored.
 *
 * Sub-channels (Config.SubChannels > 0): after the primary is enabled and
 * started, the VSP queries the server V5 table (VmbsimQueryInterface with
 * KMCL_SERVER_INTERFACE_TYPE / KMCL_SERVER_INTERFACE_VERSION_V5) and creates
 * that many more server channels, configured like the primary and tied to it
 * with the table's VmbChannelInitSetPrimaryChannel before their Enable and
 * Start; KMCL offers each with the primary's type and instance and the next
 * sub-channel index (spec §6.11, vmbsim's reading). Every channel runs the
 * same callbacks: the statistics add up over all of them, except
 * ChannelPacketsProcessed, which is per channel (0 = primary, then the
 * sub-channels in creation order). Deferred completions are kept per
 * channel. The table's reference is held until EchoVspDestroy.
 *
 * Threading: vmbsim delivers every callback as an event of its single-
 * threaded event loop, so the counters are plain fields. A Windows build of
 * this driver would need interlocked updates (and per-channel counters, as
 * its channels' callbacks would run on different processors).
 */
#ifndef VMBSIM_KMCL_DRIVERS_ECHO_VSP_H_
#define VMBSIM_KMCL_DRIVERS_ECHO_VSP_H_

#include "vmbuskernelmodeclientlibapi.h"

#include "kmcl/drivers/driver_events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A request the VSP handed to its back-end (opaque). */
typedef struct _ECHO_VSP_REQUEST ECHO_VSP_REQUEST;

typedef struct _ECHO_VSP_CONFIG {
  GUID InterfaceType;     /* Offer's type (the protocol). */
  GUID InterfaceInstance; /* Offer's instance. */
  UINT32 MaxPacketSize;   /* Passed to VmbChannelInitSetMaximumPacketSize. */
  BOOLEAN ProcessAtPassive;
  UINT32 TransactionQuota; /* 0 = library default (the setter is not called). */
  /* Completion payload size when the sender asked for a completion: 0 echoes
     the request back, up to MaxPacketSize bytes; otherwise this many bytes of
     a fixed pattern (see EchoVspPatternByte). */
  UINT32 CompletionBytes;
  /* TRUE: keep received packets on a list and complete them from
     EvtVmbChannelProcessingComplete (or EvtChannelSuspend) instead of inline. */
  BOOLEAN CompleteAsynchronously;
  /* Sub-channels to offer besides the primary, 0 to ECHO_VSP_MAX_CHANNELS - 1
     (more fail creation with STATUS_INVALID_PARAMETER). 0 = no query of the
     V5 table. */
  UINT32 SubChannels;
  /* Packets the VSP sends to the guest from EvtChannelStarted, with
     WAIT_FOR_COMPLETION, on the primary: Started runs when the host accepts
     the open, before the guest has seen the open result, so these reach the
     guest's ring first (spec §5.4 allows sends from Started). 0: none. */
  UINT32 GreetingPackets;
  /* The device's own work per request, in microseconds, spent in
     ProcessPacket before completing it (KeStallExecutionProcessor: the
     processing VP is busy meanwhile). 0: none. */
  UINT32 ServiceMicroseconds;
  /* The device's work per request as a routine, for work whose length
     varies: when not NULL, ProcessPacket calls ServiceRoutine(ServiceContext)
     for every well-formed request, after ServiceMicroseconds and before
     completing it; the routine spends the request's service time on the
     calling processor (vmbsim's scenario runner draws it from the channel's
     `service` distribution and charges it to the processing VP). */
  VOID (*ServiceRoutine)(PVOID Context);
  PVOID ServiceContext;
  /* A device back-end shared with other channels (vmbsim's scenario
     "backends"): when BackendSubmit is not NULL, ProcessPacket hands every
     well-formed request, after its service time, to
     BackendSubmit(BackendContext, Request) instead of completing it, and the
     back-end calls EchoVspBackendComplete(Request) at DISPATCH_LEVEL once it
     has served the request; the VSP completes the packet then. A channel that
     is suspended (paused or closed) meanwhile completes its requests still in
     the back-end at once, as it completes deferred ones (the pause waits for
     them, spec §5.3); the back-end's later EchoVspBackendComplete of such a
     request only frees it. A back-end must not call EchoVspBackendComplete
     after EchoVspDestroy. CompleteAsynchronously is ignored when set. */
  VOID (*BackendSubmit)(PVOID Context, ECHO_VSP_REQUEST* Request);
  PVOID BackendContext;
  /* A deliberate bug, for fault-injection campaigns to find: TRUE makes a
     suspend complete the requests still in the back-end without marking them
     completed, so the back-end's later EchoVspBackendComplete completes the
     same packet a second time (KMCL's verifier: double_completion). Only a
     suspend while requests are in the back-end shows it, i.e. a rescind
     during I/O; a run without one never does. FALSE in every correct use. */
  BOOLEAN BugCompleteTwice;
  /* A deliberate bug, for fault-injection campaigns to find: TRUE makes a
     suspend leave the requests still in the back-end alone instead of
     completing them, so each is completed when the back-end returns it, even
     after the close has gone on without it. Under KMCL's default teardown the
     close waits for those completions and nothing is wrong; with a bounded
     teardown (force_retire_after) the close retires them first
     (packet_not_completed_at_close) and the late completion is refused
     (KMCL's verifier: completion_after_close). FALSE in every correct use. */
  BOOLEAN BugCompleteAfterClose;
  /* A deliberate bug, for fault-injection campaigns to find: TRUE makes the
     VSP's unload (EchoVspDestroy, which disables its channels: a rescind)
     leave the requests still in the back-end to itself, to complete them
     once VmbChannelDisable has returned, instead of completing them in
     EvtChannelSuspend. Under KMCL's default teardown the Disable waits for
     the back-end's own completions and nothing is left to complete; with a
     bounded teardown (force_retire_after) the Disable retires them first
     (packet_not_completed_at_close) and the unload's completion is for a
     rescinded channel's retired packet (KMCL's verifier:
     completion_after_close). A pause or a peer close is unaffected: only a
     rescind during I/O shows it. FALSE in every correct use. */
  BOOLEAN BugCompleteAfterRescind;
  /* Requests name slots of a guest buffer shared through a GPADL (see
     "Shared buffer" above). FALSE: plain echo requests. */
  BOOLEAN SharedBuffer;
  /* A deliberate bug, for fault-injection campaigns to find: with
     SharedBuffer, TRUE makes a revoke (or a suspend) complete the requests
     still in the back-end and unmap the GPADL without cancelling the
     back-end's writes, so the back-end's later EchoVspBackendComplete still
     writes its response into the guest's buffer through the MDL the unmap
     took back: the GPADL is torn down while still in use (KMCL's verifier:
     gpadl_use_after_unmap; a real host would write into memory the guest
     deletes and frees right after). Only a revoke or suspend while requests
     are in the back-end shows it. FALSE in every correct use. */
  BOOLEAN BugUnmapInUse;
  /* Save / restore (spec §6.9; see EchoVspSaveBegin). TRUE registers the
     primary's save and restore packet callbacks
     (VmbServerChannelInitSetSaveRestorePacketCallbacks), which saving and
     restoring need; FALSE leaves them out (EchoVspSaveBegin then fails with
     STATUS_NOT_SUPPORTED). A RestoreBuffer implies it. */
  BOOLEAN SaveRestore;
  /* When not NULL, the
     primary channel is restored from these RestoreBufferSize bytes (what
     EchoVspSaveEnd of an earlier instance returned) before its Enable, and
     no greetings are sent: the saved ones are sent again instead. Restoring
     needs SubChannels 0 (STATUS_INVALID_PARAMETER otherwise); a buffer KMCL
     refuses fails creation with its status. */
  const UINT8* RestoreBuffer;
  UINT32 RestoreBufferSize;
} ECHO_VSP_CONFIG;

/* The head of a shared-buffer request's in-band bytes (little-endian, as
   both ends of a vmbsim run are). */
typedef struct _ECHO_VSP_SHARED_REQUEST {
  UINT64 Tag;        /* The guest's, not interpreted. */
  UINT32 Gpadl;      /* GPADL handle of the shared buffer. */
  UINT32 SlotOffset; /* The request's bytes in the GPADL... */
  UINT32 SlotLength; /* ...and how many; the response overwrites them. */
  UINT32 Kind;       /* ECHO_VSP_SHARED_KIND_*. */
} ECHO_VSP_SHARED_REQUEST;

#define ECHO_VSP_SHARED_KIND_REQUEST 0u /* Serve the slot. */
#define ECHO_VSP_SHARED_KIND_REVOKE 1u  /* Stop using the GPADL (slot fields 0). */

/* The completion payload of a shared-buffer request. */
typedef struct _ECHO_VSP_SHARED_COMPLETION {
  UINT32 Status;       /* ECHO_VSP_SHARED_SERVED or ECHO_VSP_SHARED_ABORTED. */
  UINT32 BytesWritten; /* Response bytes written into the slot. */
} ECHO_VSP_SHARED_COMPLETION;

#define ECHO_VSP_SHARED_SERVED 0u  /* The response is in the slot. */
#define ECHO_VSP_SHARED_ABORTED 1u /* Not served (a suspend); the slot is as the guest left it. */

/* The primary plus at most 127 sub-channels. */
#define ECHO_VSP_MAX_CHANNELS 128u

typedef struct _ECHO_VSP_STATS {
  UINT64 PacketsProcessed;  /* ProcessPacket calls that were completed. */
  UINT64 BytesProcessed;    /* Their BufferLength (the ring's 8-byte-rounded length). */
  UINT64 PacketsFailed;     /* Malformed packets, failed with VmbChannelPacketFail. */
  UINT64 ProcessingCompleteCalls;
  UINT64 ProcessingCompletePackets; /* Sum of their PacketsProcessed arguments. */
  UINT64 Opened, Closed, Suspended, Started, PostStarted;
  UINT32 EventLog[VMBSIM_DRIVER_EVENT_LOG_CAPACITY]; /* VMBSIM_DRIVER_EVENT codes. */
  UINT32 EventCount; /* Events so far; only the first 32 are in EventLog. */
  UINT32 Channels;   /* Channels created: 1 + Config.SubChannels. */
  /* PacketsProcessed per channel: [0] the primary, [i] sub-channel i. */
  UINT64 ChannelPacketsProcessed[ECHO_VSP_MAX_CHANNELS];
  UINT64 GreetingsSent;      /* Accepted by VmbPacketSend. */
  UINT64 GreetingsCompleted; /* Their completion routine ran with STATUS_SUCCESS. */
  UINT64 GreetingsFailed;    /* ... with a failure status. */
  UINT64 BackendSubmitted;   /* Requests handed to the back-end. */
  UINT64 BackendCompletedEarly; /* ... completed by a suspend before the back-end served them. */
  UINT64 SharedServed;  /* Shared-buffer requests whose response went into the slot. */
  UINT64 SharedAborted; /* ... completed as aborted by a suspend. */
  UINT64 GpadlMaps;     /* VmbChannelMapGpadl calls that succeeded. */
  UINT64 GpadlUnmaps;   /* VmbChannelUnmapGpadl calls. */
  UINT64 GreetingsSaved;    /* Greetings in flight that a save wrote (EvtVmbChannelSavePacket). */
  UINT64 GreetingsRestored; /* Greetings sent again from a restore (VmbPacketRestore succeeded). */
} ECHO_VSP_STATS;

typedef struct _ECHO_VSP ECHO_VSP;

/* Creates the VSP's server channel under `Device` (the control device the
   host driver owns), configures it, enables it (posting the offer) and starts
   it, then its sub-channels the same way (see above). `VmbusHandle` selects
   the guest partition; NULL leaves the library's default target. On success
   writes *Vsp; on failure returns the failing call's NTSTATUS
   (STATUS_INVALID_PARAMETER for a NULL Config or Vsp or too many
   sub-channels, STATUS_INSUFFICIENT_RESOURCES when memory runs out,
   STATUS_NOT_SUPPORTED when the V5 table lacks
   VmbChannelInitSetPrimaryChannel) and leaves nothing behind.
   PASSIVE_LEVEL. */
NTSTATUS EchoVspCreate(PDEVICE_OBJECT Device, HANDLE VmbusHandle, const ECHO_VSP_CONFIG* Config,
                       ECHO_VSP** Vsp);

/* Disables the sub-channels (last first), then the primary (rescinding
   the offers; blocks until torn down), cleans them up, releases the V5
   table and frees the VSP. NULL is ignored. PASSIVE_LEVEL, not from
   one of the VSP's own callbacks. */
VOID EchoVspDestroy(ECHO_VSP* Vsp);

/* Save (spec §6.9), as a host driver does when its VM is saved or the VSP
   is serviced: EchoVspSaveBegin pauses the primary channel (its suspend
   completes the deferred and back-end requests, and the pause waits for
   every delivered packet) and calls VmbChannelSaveBegin; KMCL asks the VSP,
   through EvtVmbChannelSavePacket, for its own state of every greeting
   still in flight (its number: ECHO_VSP_SAVED_GREETING). EchoVspSaveEnd
   collects the saved chunks (VmbChannelSaveContinue until it succeeds) and
   calls VmbChannelSaveEnd; it gives the bytes in *Buffer (free them with
   free()) and their count in *Size. A save may take any time between the
   two calls; EchoVspDestroy meanwhile ends it (VmbChannelSaveEnd) before it
   disables the channels. The saved instance is then destroyed, and a new
   one created with ECHO_VSP_CONFIG.RestoreBuffer takes over: its restore
   callback allocates a packet per saved greeting, hands KMCL's part to
   VmbPacketRestore and keeps the number; the restored greetings go out once
   the new channel opens. Only a VSP with Config.SaveRestore and without
   sub-channels saves (STATUS_NOT_SUPPORTED otherwise); STATUS_INVALID_DEVICE_STATE when a save
   is in progress (Begin) or not (End). PASSIVE_LEVEL. */
NTSTATUS EchoVspSaveBegin(ECHO_VSP* Vsp);
NTSTATUS EchoVspSaveEnd(ECHO_VSP* Vsp, UINT8** Buffer, UINT32* Size);

/* The VSP's own saved state of one greeting (little-endian). */
typedef struct _ECHO_VSP_SAVED_GREETING {
  UINT32 Magic;  /* ECHO_VSP_SAVED_GREETING_MAGIC. */
  UINT32 Number; /* 0 .. GreetingPackets - 1, in sending order. */
} ECHO_VSP_SAVED_GREETING;
#define ECHO_VSP_SAVED_GREETING_MAGIC 0x47726565u

/* The back-end has served `Request`: completes its packet, unless its
   channel was suspended meanwhile (then it was completed already), and frees
   it. DISPATCH_LEVEL or below. */
VOID EchoVspBackendComplete(ECHO_VSP_REQUEST* Request);

/* Copies the VSP's counters to *Stats. */
VOID EchoVspGetStats(const ECHO_VSP* Vsp, ECHO_VSP_STATS* Stats);

/* The VSP's (primary) channel, for tests that drive it further (pause,
   start). */
VMBCHANNEL EchoVspChannel(const ECHO_VSP* Vsp);

/* Channel `Index` of the VSP: 0 the primary, 1..SubChannels the
   sub-channels; NULL past the last. */
VMBCHANNEL EchoVspChannelAt(const ECHO_VSP* Vsp, UINT32 Index);

/* Byte `Index` of the pattern completion payload, so that a test can check
   what the guest received. */
UINT8 EchoVspPatternByte(UINT32 Index);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_DRIVERS_ECHO_VSP_H_ */
