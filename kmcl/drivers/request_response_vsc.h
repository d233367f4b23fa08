/* kmcl/drivers/request_response_vsc.h
 *
 * A sample guest-side VSC (KMCL client endpoint) written against nothing but
 * the public KMCL header: it opens one offer and sends requests as KMCL
 * transactions (VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION), timing each
 * round trip with KeQueryInterruptTime. It follows the call order of a real
 * guest driver (spec §8.2) and the request/response send pattern (§8.7).
 *
 * Two ways to load the channel:
 *   - Closed loop (Config.Outstanding > 0): from EvtChannelPostStarted the
 *     driver keeps Outstanding requests in flight, on a pool of packet
 *     objects allocated once and reused from their completion routine, until
 *     Sent reaches Config.TotalRequests. It stops resending at
 *     EvtChannelSuspend and picks up again at the next PostStarted.
 *   - Open loop: the host program calls RrVscSubmit, which sends one request
 *     on a freshly allocated packet object, freed when its transaction ends.
 *
 * Sub-channels (Config.SubChannels > 0): as the streaming VSC does
 * (streaming_vsc.h), the driver creates the primary and SubChannels
 * sub-channels tied to it with the client V5 table's
 * VmbChannelInitSetPrimaryChannel, sub-channel i interrupting guest VP
 * i % VpCount, and enables the sub-channels from the primary's first
 * EvtChannelPostStarted. Requests are spread over the channels that run
 * (between their EvtChannelPostStarted and EvtChannelSuspend) by one rule:
 *   - closed loop: window slot k belongs to channel k % (1 + SubChannels),
 *     is started by that channel's PostStarted and, being a packet object
 *     of that channel, resent there from its completion routine;
 *   - open loop: a request goes out on channel p % (1 + SubChannels), p the
 *     sending processor (KeGetCurrentProcessorNumberEx), when that channel
 *     runs; on the primary otherwise (before the sub-channels open, or
 *     after one is suspended). So with a channel per VP each VP sends on
 *     the channel that interrupts it, as Linux's storvsc picks the channel
 *     of the sending CPU.
 * Stats.ChannelSent counts the requests per channel.
 *
 * A request is Config.RequestBytes bytes: its sequence number (UINT64,
 * little-endian; truncated if RequestBytes < 8) followed by
 * RrVscPatternByte(offset). Packets the host sends to the guest are
 * completed at once with no payload.
 *
 * Shared buffer (Config.SharedBuffer; the echo VSP's shared-buffer mode,
 * echo_vsp.h): the request bytes travel in a buffer the driver donates to
 * the host through a GPADL instead of in the packet. The buffer holds one
 * slot of RequestBytes per closed-loop window slot, page-aligned (so that the
 * GPADL, and the run, do not depend on the allocator). From EvtChannelOpened
 * the driver creates the GPADL over it (VmbChannelCreateGpadlFromBuffer),
 * and it deletes it in EvtChannelClosed (VmbChannelDeleteGpadl, which
 * waits until the host has unmapped it: spec §6.8). RrVscDestroy first
 * stops the closed loop and revokes the buffer (a synchronous request of
 * kind ECHO_VSP_SHARED_KIND_REVOKE naming the GPADL), so that the host has
 * unmapped it before the close. Each request writes its
 * bytes (as above) into its slot and sends RequestBytes in-band bytes that
 * start with an ECHO_VSP_SHARED_REQUEST header (sequence number, GPADL
 * handle, slot offset and length; the pattern after it). A completion that
 * says the host served the request is checked against the slot: every byte
 * of the request complemented (Stats.SharedChecked, SharedMismatches); one
 * that says it was aborted is counted (SharedAborted). Requires a closed
 * loop on one channel: Outstanding > 0, SubChannels and EarlyRequests 0,
 * RequestBytes >= RR_VSC_SHARED_REQUEST_BYTES_MIN.
 *
 * Threading: vmbsim delivers every callback as an event of its single-
 * threaded event loop, so the counters are plain fields.
 */
#ifndef VMBSIM_KMCL_DRIVERS_REQUEST_RESPONSE_VSC_H_
#define VMBSIM_KMCL_DRIVERS_REQUEST_RESPONSE_VSC_H_

#include "vmbuskernelmodeclientlibapi.h"

#include "kmcl/drivers/driver_events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The primary plus at most 127 sub-channels. */
#define RR_VSC_MAX_CHANNELS 128u

typedef struct _RR_VSC_CONFIG {
  GUID InterfaceType;
  GUID InterfaceInstance; /* All zero: any instance of InterfaceType. */
  /* Ring sizes in 4 KiB pages; both 0 = library default (the setter is not
     called), otherwise both are passed as given. */
  UINT32 IncomingPageCount;
  UINT32 OutgoingPageCount;
  UINT32 MaxPacketSize; /* Passed to VmbChannelInitSetMaximumPacketSize. */
  UINT32 RequestBytes;
  UINT32 Outstanding;    /* Closed-loop window; 0 = open loop (RrVscSubmit). */
  UINT64 TotalRequests;  /* Closed loop stops once Sent reaches it; 0 = never. */
  BOOLEAN ProcessAtPassive;
  /* Requests sent right after VmbChannelEnable, before the channel has
     opened (KMCL queues them until it does): the guest signalling during
     open. They count in the stats like any other. 0: none. */
  UINT32 EarlyRequests;
  /* The driver's own work per completed transaction: when not NULL, the
     completion routine calls CompletionServiceRoutine(CompletionServiceContext)
     after recording the outcome (so the round trip does not include it) and
     before the closed loop sends the next request; the routine spends the
     time on the calling processor (vmbsim's scenario runner draws it from
     the driver's `service` distribution). */
  VOID (*CompletionServiceRoutine)(PVOID Context);
  PVOID CompletionServiceContext;
  /* Sub-channels besides the primary, 0 to RR_VSC_MAX_CHANNELS - 1 (more
     fail creation with STATUS_INVALID_PARAMETER). 0: one channel, and no
     query of the V5 table. */
  UINT32 SubChannels;
  /* The guest's VPs: sub-channel i interrupts VP i % VpCount; 0 = 1. */
  UINT32 VpCount;
  /* Requests in a buffer shared through a GPADL (see "Shared buffer"
     above). FALSE: requests in the packet only. */
  BOOLEAN SharedBuffer;
} RR_VSC_CONFIG;

/* The smallest request of the shared-buffer mode: its header
   (ECHO_VSP_SHARED_REQUEST: u64 sequence, u32 GPADL, u32 slot offset, u32
   slot length, u32 reserved). */
#define RR_VSC_SHARED_REQUEST_BYTES_MIN 24u

#define RR_VSC_LATENCY_BUCKETS 64u

typedef struct _RR_VSC_STATS {
  UINT64 Sent;       /* VmbPacketSend calls that succeeded. */
  UINT64 SendErrors; /* ... and that failed (the packet stayed the driver's), or open-loop
                        submissions refused while suspended. */
  UINT64 Completed;  /* Transactions that ended with STATUS_SUCCESS. */
  UINT64 Failed;     /* ... with any other status (Cancelled included). */
  UINT64 Cancelled;  /* ... with STATUS_CANCELLED or STATUS_DEVICE_REMOVED. */
  UINT64 InFlight;   /* Sent - Completed - Failed. */
  NTSTATUS LastFailureStatus; /* STATUS_SUCCESS until a transaction fails. */
  UINT64 BytesSent;
  UINT64 BytesReceived; /* Completion payload bytes of successful transactions. */
  /* Round trip of successful transactions, KeQueryInterruptTime at send to
     KeQueryInterruptTime in the completion routine, in 100 ns units. Min and
     Max are 0 while LatencyCount is 0. Bucket b of the histogram counts
     latencies in [2^b, 2^(b+1)); bucket 0 also counts 0. */
  UINT64 LatencyCount;
  UINT64 LatencySum100ns;
  UINT64 LatencyMin100ns;
  UINT64 LatencyMax100ns;
  UINT64 LatencyHistogram[RR_VSC_LATENCY_BUCKETS];
  UINT64 ProcessPacketCalls; /* Packets from the host, each completed at once. */
  UINT64 Opened, Closed, Suspended, Started, PostStarted, PnpFailures;
  NTSTATUS LastPnpFailureStatus;
  UINT32 EventLog[VMBSIM_DRIVER_EVENT_LOG_CAPACITY]; /* VMBSIM_DRIVER_EVENT codes. */
  UINT32 EventCount; /* Events so far; only the first 32 are in EventLog. */
  UINT32 Channels;   /* Channels created: 1 + Config.SubChannels. */
  UINT64 SubChannelEnableErrors;
  /* Requests sent per channel: [0] the primary, [i] sub-channel i. */
  UINT64 ChannelSent[RR_VSC_MAX_CHANNELS];
  /* Shared buffer: completions whose slot held the host's response, those
     whose slot did not, those the host aborted, and GPADLs created,
     revoked and deleted (creations that failed fail the open). */
  UINT64 SharedChecked;
  UINT64 SharedMismatches;
  UINT64 SharedAborted;
  UINT64 GpadlsCreated;
  UINT64 GpadlsRevoked; /* Revokes the host completed. */
  UINT64 GpadlsDeleted;
} RR_VSC_STATS;

typedef struct _RR_VSC RR_VSC;

/* Creates the VSC's client channel under `Device` (the guest device it
   serves) and its sub-channels, configures them, and enables and starts the
   primary; the channel opens when a matching offer exists. On success
   writes *Vsc; on failure returns the failing call's NTSTATUS
   (STATUS_INVALID_PARAMETER for a NULL Config or Vsc or too many
   sub-channels, STATUS_INSUFFICIENT_RESOURCES when memory runs out,
   STATUS_NOT_SUPPORTED when the V5 table lacks a setter it needs) and
   leaves nothing behind. PASSIVE_LEVEL. */
NTSTATUS RrVscCreate(PDEVICE_OBJECT Device, const RR_VSC_CONFIG* Config, RR_VSC** Vsc);

/* Disables the sub-channels (last first) and the primary (closing them;
   blocks until torn down; KMCL ends the transactions still in flight),
   frees the packet objects the driver still owns, cleans the channels up
   and frees the VSC. NULL is ignored.
   PASSIVE_LEVEL, not from one of the VSC's own callbacks. */
VOID RrVscDestroy(RR_VSC* Vsc);

/* Open loop: sends one request now on a newly allocated packet object and
   returns VmbPacketSend's status (STATUS_INSUFFICIENT_RESOURCES if no packet
   object or memory could be had). It does not check the channel's state:
   before the channel opens KMCL queues the request, and sending after
   EvtChannelSuspend is the caller's contract violation to provoke or avoid.
   With Config.SharedBuffer it sends nothing and returns
   STATUS_NOT_SUPPORTED (the buffer has slots for the closed loop only).
   DISPATCH_LEVEL. */
NTSTATUS RrVscSubmit(RR_VSC* Vsc);

/* Copies the VSC's counters to *Stats. */
/* As RrVscSubmit, with a request of `Bytes` bytes (at most RequestBytes, the
   size of the request buffer; STATUS_INVALID_PARAMETER_2 otherwise).
   DISPATCH_LEVEL. */
NTSTATUS RrVscSubmitBytes(RR_VSC* Vsc, UINT32 Bytes);

VOID RrVscGetStats(const RR_VSC* Vsc, RR_VSC_STATS* Stats);

/* The VSC's (primary) channel, for tests that drive it further. */
VMBCHANNEL RrVscChannel(const RR_VSC* Vsc);

/* Byte `Offset` (>= 8) of every request's payload after its sequence
   number. */
UINT8 RrVscPatternByte(UINT32 Offset);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_DRIVERS_REQUEST_RESPONSE_VSC_H_ */
