/* kmcl/drivers/streaming_vsc.h
 *
 * A sample multi-channel guest-side VSC (KMCL client endpoints) written
 * against nothing but the public KMCL header: it opens a primary channel
 * plus Config.SubChannels sub-channels and streams fire-and-forget packets
 * over them, the way a multi-queue device (one channel per RSS queue or per
 * group of VPs) spreads its traffic.
 *
 * Channels. Channel 0 is the primary: it selects the offer with
 * VmbClientChannelInitSetTargetPnp. Channels 1..SubChannels are tied to it
 * with the client V5 table's VmbChannelInitSetPrimaryChannel (the table is
 * queried with VmbsimQueryInterface, KMCL_CLIENT_INTERFACE_TYPE and
 * KMCL_CLIENT_INTERFACE_VERSION_V5, and held until StreamingVscDestroy);
 * KMCL binds each to one of the primary's sub-channel offers (same type and
 * instance, sub-channel index != 0), lowest relid first. With
 * Config.TargetVpSpread, channel i also gets
 * VmbClientChannelInitSetTargetProcessorIndex(FirstVp + i % VpCount), so each channel
 * interrupts its own guest VP; otherwise KMCL picks (vmbsim: relid % VPs).
 * All Init* calls for every channel are made by StreamingVscCreate.
 *
 * When the sub-channels are enabled: StreamingVscCreate enables (and starts)
 * only the primary. The sub-channels are enabled from the primary's first
 * EvtChannelPostStarted, once: the primary is then open, so its offer is
 * known, and the host offers sub-channels after their primary (a real VSC
 * would ask for them at that point of its protocol). Enable is PASSIVE and
 * does not block, so calling it from the primary's callback is allowed; a
 * sub-channel whose offer has not arrived yet binds when it does. Client
 * Enable implies Start, so the driver does not call VmbChannelStart for the
 * sub-channels (it would be a no-op). A failed Enable is counted in
 * SubChannelEnableErrors and leaves that channel unused.
 *
 * Streaming. The stream is split evenly over the channels: each carries
 * Config.PacketsPerChannel packets, sent all at once from that channel's
 * EvtChannelPostStarted (KMCL queues what the ring cannot take, spec §6.7).
 * A packet is a fresh VmbPacketAllocate object sent with VmbPacketSend,
 * flags 0 (no completion requested), and the default completion routine,
 * which frees it once it is in the ring. A channel that is paused and
 * started again sends only what is left of its share. A packet is
 * Config.PacketBytes bytes: the channel index (UINT32, little-endian), the
 * channel's sequence number (UINT64, little-endian), then
 * StreamingVscPatternByte(offset) (the header truncated if PacketBytes <
 * 12). Packets the host sends are completed at once with no payload.
 *
 * Threading: vmbsim delivers every callback as an event of its single-
 * threaded event loop, so the counters are plain fields shared by all the
 * channels. A Windows build of this driver would need interlocked updates.
 */
#ifndef VMBSIM_KMCL_DRIVERS_STREAMING_VSC_H_
#define VMBSIM_KMCL_DRIVERS_STREAMING_VSC_H_

#include "vmbuskernelmodeclientlibapi.h"

#include "kmcl/drivers/driver_events.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The primary plus at most 127 sub-channels. */
#define STREAMING_VSC_MAX_CHANNELS 128u

typedef struct _STREAMING_VSC_CONFIG {
  GUID InterfaceType;
  GUID InterfaceInstance; /* All zero: any instance of InterfaceType. */
  /* Sub-channels besides the primary, 0 to STREAMING_VSC_MAX_CHANNELS - 1.
     0 = a single channel (and no query of the V5 table unless
     TargetVpSpread). */
  UINT32 SubChannels;
  UINT32 PacketBytes;       /* In-band bytes per packet. */
  UINT64 PacketsPerChannel; /* Packets each channel sends in all. */
  /* TRUE: channel i interrupts guest VP i % VpCount (V5
     VmbClientChannelInitSetTargetProcessorIndex). */
  BOOLEAN TargetVpSpread;
  UINT32 VpCount; /* The guest's VP count, for the spread; 0 = 1. */
  /* The first VP of the spread: channel i interrupts VP
     FirstVp + i % VpCount (0: the spread starts at VP 0). */
  UINT32 FirstVp;
  /* Ring sizes in 4 KiB pages; both 0 = library default (the setter is not
     called), otherwise both are passed as given. */
  UINT32 IncomingPageCount;
  UINT32 OutgoingPageCount;
  UINT32 MaxPacketSize; /* 0 = PacketBytes, at least 8. */
  /* The driver's own work per packet (building it), as a routine: when not
     NULL, ServiceRoutine(ServiceContext) runs before each packet is
     allocated and sent, on the sending processor (vmbsim's scenario runner
     draws the time from the driver's `service` distribution and charges it
     to that VP), so a channel sends at most one packet per service time. */
  VOID (*ServiceRoutine)(PVOID Context);
  PVOID ServiceContext;
} STREAMING_VSC_CONFIG;

typedef struct _STREAMING_VSC_STATS {
  UINT32 Channels;     /* Channels created: 1 + Config.SubChannels. */
  UINT32 ChannelsOpen; /* Between EvtChannelOpened and EvtChannelClosed now. */
  UINT64 Sent;         /* VmbPacketSend calls that succeeded, all channels. */
  UINT64 BytesSent;
  /* Failed VmbPacketAllocate or VmbPacketSend calls; the channel stops
     sending until its next PostStarted. */
  UINT64 SendErrors;
  NTSTATUS LastSendError; /* STATUS_SUCCESS until a send fails. */
  UINT64 SubChannelEnableErrors;
  NTSTATUS LastSubChannelEnableError;
  UINT64 ProcessPacketCalls; /* Packets from the host, each completed at once. */
  /* Summed over all channels. */
  UINT64 Opened, Closed, Suspended, Started, PostStarted, PnpFailures;
  NTSTATUS LastPnpFailureStatus;
  UINT32 EventLog[VMBSIM_DRIVER_EVENT_LOG_CAPACITY]; /* VMBSIM_DRIVER_EVENT codes. */
  UINT32 EventCount; /* Events so far; only the first 32 are in EventLog. */
  /* Sent per channel: [0] the primary, [i] sub-channel i. */
  UINT64 ChannelPacketsSent[STREAMING_VSC_MAX_CHANNELS];
} STREAMING_VSC_STATS;

typedef struct _STREAMING_VSC STREAMING_VSC;

/* Creates the VSC's channels under `Device` (the guest device it serves),
   configures all of them, and enables and starts the primary; it opens when
   a matching offer exists, and the sub-channels follow (see above). On
   success writes *Vsc; on failure returns the failing call's NTSTATUS
   (STATUS_INVALID_PARAMETER for a NULL Config or Vsc or too many
   sub-channels, STATUS_INSUFFICIENT_RESOURCES when memory runs out,
   STATUS_NOT_SUPPORTED when the V5 table lacks a member it needs) and leaves
   nothing behind. PASSIVE_LEVEL. */
NTSTATUS StreamingVscCreate(PDEVICE_OBJECT Device, const STREAMING_VSC_CONFIG* Config,
                            STREAMING_VSC** Vsc);

/* Disables the sub-channels (last first), then the primary (closing them;
   blocks until torn down; packets still queued are dropped and freed by
   KMCL), cleans them up, releases the V5 table and frees the VSC. NULL is
   ignored. PASSIVE_LEVEL, not from one of the VSC's own callbacks. */
VOID StreamingVscDestroy(STREAMING_VSC* Vsc);

/* Copies the VSC's counters to *Stats. */
VOID StreamingVscGetStats(const STREAMING_VSC* Vsc, STREAMING_VSC_STATS* Stats);

/* Channel `Index` of the VSC: 0 the primary, 1..SubChannels the
   sub-channels; NULL past the last. For tests. */
VMBCHANNEL StreamingVscChannel(const STREAMING_VSC* Vsc, UINT32 Index);

/* Byte `Offset` (>= 12) of every packet's payload after its header. */
UINT8 StreamingVscPatternByte(UINT32 Offset);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* VMBSIM_KMCL_DRIVERS_STREAMING_VSC_H_ */
