/* kmcl/drivers/sync_request_client.h
 *
 * A sample guest-side client (KMCL client endpoint) written against nothing
 * but the public KMCL header, doing what VmbChannelSendSynchronousRequest is
 * for: a protocol negotiation from EvtChannelPostStarted, the one callback
 * that may block on the peer (spec §5.5, §6.7). Each time the channel starts
 * running it makes Config.Requests synchronous requests in a row, each
 * waiting for the peer's completion, and records what every call returned.
 * A request is Config.RequestBytes bytes: a UINT64 sequence number,
 * little-endian (truncated if RequestBytes < 8), then
 * SyncClientPatternByte(offset).
 *
 * The driver passes the configured sizes through unchanged, so a test can
 * provoke KMCL's errors: a CompletionBufferBytes that is not a multiple of 8
 * (STATUS_INVALID_PARAMETER), a buffer smaller than the peer's completion
 * (STATUS_BUFFER_TOO_SMALL), a timeout that expires (STATUS_CANCELLED). It
 * stops a negotiation early only on STATUS_DEVICE_REMOVED (the channel is
 * going away). Packets the host sends are completed at once with no payload.
 *
 * Threading: vmbsim delivers every callback as an event of its single-
 * threaded event loop, so the counters are plain fields.
 */
#ifndef VMBSIM_KMCL_DRIVERS_SYNC_REQUEST_CLIENT_H_
#define VMBSIM_KMCL_DRIVERS_SYNC_REQUEST_CLIENT_H_

#include "vmbuskernelmodeclientlibapi.h"

#include "kmcl/drivers/driver_events.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _SYNC_CLIENT_CONFIG {
  GUID InterfaceType;
  GUID InterfaceInstance; /* All zero: any instance of InterfaceType. */
  UINT32 MaxPacketSize;   /* 0 = library default (the setter is not called). */
  UINT32 RequestBytes;
  /* Capacity passed in *CompletionBufferSize; the spec requires a multiple
     of 8 but the driver does not check. 0 = pass no completion buffer (NULL
     buffer and NULL size). */
  UINT32 CompletionBufferBytes;
  UINT32 Requests;  /* Synchronous requests per negotiation (per PostStarted). */
  UINT32 TimeoutMs; /* 0 = NULL Timeout (wait forever); else a relative timeout. */
  /* The driver's own work per answered request: when not NULL, called with
     CompletionServiceContext after each VmbChannelSendSynchronousRequest that
     returned STATUS_SUCCESS (after its duration is recorded) and before the
     next request; the routine spends the time on the calling processor
     (vmbsim's scenario runner draws it from the driver's `service`
     distribution). */
  VOID (*CompletionServiceRoutine)(PVOID Context);
  PVOID CompletionServiceContext;
} SYNC_CLIENT_CONFIG;

/* Requests whose results are kept; later ones are only counted. */
#define SYNC_CLIENT_RECORD_CAPACITY 16u

typedef struct _SYNC_CLIENT_STATS {
  UINT64 Negotiations; /* PostStarted callbacks that ran the request sequence. */
  UINT64 RequestsMade;
  UINT64 Succeeded; /* Calls that returned STATUS_SUCCESS. */
  UINT64 Failed;    /* Calls that returned anything else. */
  UINT64 BytesSent; /* Request bytes of every call. */
  UINT64 BytesReceived; /* Completion bytes of the successful calls. */
  /* Per request, in call order, for the first SYNC_CLIENT_RECORD_CAPACITY:
     the returned status, *CompletionBufferSize after the call (the bytes
     written on success; on failure whatever KMCL left there, which by the
     header's conventions is still the capacity; 0 when no buffer was
     passed), and the time the call took, by KeQueryInterruptTime. */
  NTSTATUS RequestStatus[SYNC_CLIENT_RECORD_CAPACITY];
  UINT32 CompletionSize[SYNC_CLIENT_RECORD_CAPACITY];
  UINT64 RequestDuration100ns[SYNC_CLIENT_RECORD_CAPACITY];
  UINT32 RecordCount;
  UINT64 ProcessPacketCalls; /* Packets from the host, each completed at once. */
  UINT64 Opened, Closed, Suspended, Started, PostStarted, PnpFailures;
  NTSTATUS LastPnpFailureStatus;
  UINT32 EventLog[VMBSIM_DRIVER_EVENT_LOG_CAPACITY]; /* VMBSIM_DRIVER_EVENT codes. */
  UINT32 EventCount; /* Events so far; only the first 32 are in EventLog. */
} SYNC_CLIENT_STATS;

typedef struct _SYNC_CLIENT SYNC_CLIENT;

/* Creates the client's channel under `Device` (the guest device it serves),
   configures it, and enables and starts it; the negotiation runs when the
   channel opens and starts. On success writes *Client; on failure returns
   the failing call's NTSTATUS (STATUS_INVALID_PARAMETER for a NULL Config or
   Client, STATUS_INSUFFICIENT_RESOURCES when memory runs out) and leaves
   nothing behind. PASSIVE_LEVEL. */
NTSTATUS SyncClientCreate(PDEVICE_OBJECT Device, const SYNC_CLIENT_CONFIG* Config,
                          SYNC_CLIENT** Client);

/* Disables the channel (blocks until torn down), cleans it up and frees the
   client. NULL is ignored. PASSIVE_LEVEL, not from one of the client's own
   callbacks. */
VOID SyncClientDestroy(SYNC_CLIENT* Client);

/* Copies the client's counters and records to *Stats. */
VOID SyncClientGetStats(const SYNC_CLIENT* Client, SYNC_CLIENT_STATS* Stats);

/* The client's channel, for tests that drive it further. */
VMBCHANNEL SyncClientChannel(const SYNC_CLIENT* Client);

/* Byte `Offset` (>= 8) of every request's payload after its sequence
   number. */
UINT8 SyncClientPatternByte(UINT32 Offset);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_DRIVERS_SYNC_REQUEST_CLIENT_H_ */
