/* kmcl/drivers/streaming_vsc.c
 *
 * The streaming VSC (streaming_vsc.h): a KMCL client driver that opens a
 * primary channel and its sub-channels and streams fire-and-forget packets
 * over all of them. Written as a Windows guest driver would be, using only
 * the exported KMCL functions and the V5 table, to prove that the public
 * header is enough for one.
 */
#include "kmcl/drivers/streaming_vsc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbuskernelmodeclientlibapi.h"

/* Bytes of a packet's header: channel index (4) and sequence number (8). */
#define STREAM_HEADER_BYTES 12u

/* One of the VSC's channels; its VmbChannelGetPointer. */
typedef struct _STREAM_CHANNEL {
  STREAMING_VSC* Vsc;
  VMBCHANNEL Channel;
  UINT32 Index;    /* 0 = the primary. */
  BOOLEAN Enabled; /* VmbChannelEnable succeeded: Disable at teardown. */
  UINT8* Buffer;   /* Config.PacketBytes being built; VmbPacketSend copies it. */
} STREAM_CHANNEL;

struct _STREAMING_VSC {
  STREAM_CHANNEL Channels[STREAMING_VSC_MAX_CHANNELS]; /* [0] the primary. */
  UINT32 ChannelCount; /* Allocated and configured, in Channels[0..ChannelCount). */
  STREAMING_VSC_CONFIG Config;
  STREAMING_VSC_STATS Stats;
  KMCL_CLIENT_INTERFACE_V5 Kmcl; /* For the V5 setters. */
  BOOLEAN HaveKmcl;              /* Kmcl holds a reference. */
  BOOLEAN SubChannelsEnabled;    /* The primary's first PostStarted enabled them. */
};

static EVT_VMB_CHANNEL_OPENED StreamChannelOpened;
static EVT_VMB_CHANNEL_CLOSED StreamChannelClosed;
static EVT_VMB_CHANNEL_SUSPEND StreamChannelSuspend;
static EVT_VMB_CHANNEL_STARTED StreamChannelStarted;
static EVT_VMB_CHANNEL_POST_STARTED StreamChannelPostStarted;
static EVT_VMB_CHANNEL_PNP_FAILURE StreamChannelPnpFailure;
static EVT_VMB_CHANNEL_PROCESS_PACKET StreamProcessPacket;

/* Written as a UTF-16 literal: WCHAR is a 16-bit code unit (wdk_shim.h). */
static WCHAR kStreamFriendlyName[] = u"StreamingVsc";

UINT8 StreamingVscPatternByte(UINT32 Offset) { return (UINT8)(Offset * 29u + 0x3Cu); }

static STREAM_CHANNEL* StreamChannelOf(VMBCHANNEL channel) {
  return (STREAM_CHANNEL*)VmbChannelGetPointer(channel);
}

/* ---- Streaming ---- */

/* Writes the channel index and `sequence`, little-endian, into the first (up
   to) 12 bytes of the channel's buffer; the pattern after them was written
   once at creation. */
static VOID StreamStamp(STREAM_CHANNEL* sch, UINT64 sequence) {
  UINT8 header[STREAM_HEADER_BYTES];
  for (UINT32 i = 0; i < 4; ++i) {
    header[i] = (UINT8)(sch->Index >> (8 * i));
  }
  for (UINT32 i = 0; i < 8; ++i) {
    header[4 + i] = (UINT8)(sequence >> (8 * i));
  }
  const UINT32 bytes = sch->Vsc->Config.PacketBytes;
  memcpy(sch->Buffer, header, bytes < STREAM_HEADER_BYTES ? bytes : STREAM_HEADER_BYTES);
}

static VOID StreamRecordSendError(STREAMING_VSC* vsc, NTSTATUS status) {
  vsc->Stats.SendErrors += 1;
  vsc->Stats.LastSendError = status;
}

/* Sends the channel's next packet on a fresh packet object whose default
   completion routine frees it once it is in the ring. */
static NTSTATUS StreamSendOne(STREAM_CHANNEL* sch) {
  STREAMING_VSC* vsc = sch->Vsc;
  if (vsc->Config.ServiceRoutine != NULL) vsc->Config.ServiceRoutine(vsc->Config.ServiceContext);
  VMBPACKET packet = VmbPacketAllocate(sch->Channel);
  if (packet == NULL) {
    StreamRecordSendError(vsc, STATUS_INSUFFICIENT_RESOURCES);
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  const UINT64 sequence = vsc->Stats.ChannelPacketsSent[sch->Index];
  StreamStamp(sch, sequence);
  const NTSTATUS status =
      VmbPacketSend(packet, sch->Buffer, vsc->Config.PacketBytes, NULL, 0 /* no completion */);
  if (!NT_SUCCESS(status)) {
    VmbPacketFree(packet); /* Not accepted, so still ours. */
    StreamRecordSendError(vsc, status);
    return status;
  }
  vsc->Stats.ChannelPacketsSent[sch->Index] = sequence + 1;
  vsc->Stats.Sent += 1;
  vsc->Stats.BytesSent += vsc->Config.PacketBytes;
  return status;
}

/* Sends what is left of the channel's share, all at once; KMCL queues what
   the ring cannot take. Stops at the first failure. */
static VOID StreamSendShare(STREAM_CHANNEL* sch) {
  const STREAMING_VSC* vsc = sch->Vsc;
  while (vsc->Stats.ChannelPacketsSent[sch->Index] < vsc->Config.PacketsPerChannel) {
    if (!NT_SUCCESS(StreamSendOne(sch))) {
      return;
    }
  }
}

/* ---- Sub-channels ---- */

/* From the primary's first PostStarted: enable every sub-channel. Enable is
   PASSIVE and does not block; KMCL binds each sub-channel to a sub-channel
   offer of the (now open) primary, at once or when the offer arrives. Client
   Enable implies Start. */
static VOID StreamEnableSubChannels(STREAMING_VSC* vsc) {
  vsc->SubChannelsEnabled = TRUE;
  for (UINT32 i = 1; i < vsc->ChannelCount; ++i) {
    STREAM_CHANNEL* sch = &vsc->Channels[i];
    const NTSTATUS status = VmbChannelEnable(sch->Channel);
    if (!NT_SUCCESS(status)) {
      vsc->Stats.SubChannelEnableErrors += 1;
      vsc->Stats.LastSubChannelEnableError = status;
      continue;
    }
    sch->Enabled = TRUE;
  }
}

/* ---- Channel callbacks ---- */

/* Packets from the host carry nothing this driver acts on. */
static VOID StreamProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                                UINT32 BufferLength, UINT32 Flags) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
  vsc->Stats.ProcessPacketCalls += 1;
  VmbChannelPacketComplete(Packet, NULL, 0);
}

static VOID StreamRecordEvent(STREAMING_VSC* vsc, VMBSIM_DRIVER_EVENT event, UINT64* counter) {
  *counter += 1;
  VmbsimDriverEventAppend(vsc->Stats.EventLog, &vsc->Stats.EventCount, event);
}

static NTSTATUS StreamChannelOpened(VMBCHANNEL Channel) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_OPENED, &vsc->Stats.Opened);
  vsc->Stats.ChannelsOpen += 1;
  return STATUS_SUCCESS;
}

static VOID StreamChannelClosed(VMBCHANNEL Channel) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_CLOSED, &vsc->Stats.Closed);
  vsc->Stats.ChannelsOpen -= 1;
}

/* Every send happens inside PostStarted, so nothing is left to stop. */
static VOID StreamChannelSuspend(VMBCHANNEL Channel) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_SUSPEND, &vsc->Stats.Suspended);
}

static VOID StreamChannelStarted(VMBCHANNEL Channel) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_STARTED, &vsc->Stats.Started);
}

/* The channel runs: stream its share; the primary's first one also brings
   up the sub-channels. */
static VOID StreamChannelPostStarted(VMBCHANNEL Channel) {
  STREAM_CHANNEL* sch = StreamChannelOf(Channel);
  STREAMING_VSC* vsc = sch->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_POST_STARTED, &vsc->Stats.PostStarted);
  if (sch->Index == 0 && !vsc->SubChannelsEnabled) {
    StreamEnableSubChannels(vsc);
  }
  StreamSendShare(sch);
}

static VOID StreamChannelPnpFailure(VMBCHANNEL Channel, NTSTATUS FailureStatus) {
  STREAMING_VSC* vsc = StreamChannelOf(Channel)->Vsc;
  StreamRecordEvent(vsc, VMBSIM_DRIVER_EVENT_PNP_FAILURE, &vsc->Stats.PnpFailures);
  vsc->Stats.LastPnpFailureStatus = FailureStatus;
}

/* ---- Creation and teardown ---- */

static BOOLEAN StreamIsZeroGuid(const GUID* guid) {
  static const GUID kZero;
  return memcmp(guid, &kZero, sizeof(GUID)) == 0;
}

static UINT32 StreamMaxPacketSize(const STREAMING_VSC_CONFIG* config) {
  if (config->MaxPacketSize != 0) {
    return config->MaxPacketSize;
  }
  return config->PacketBytes < 8 ? 8 : config->PacketBytes;
}

/* The checked Init* calls of spec §8.2 for channel `sch`, then the V5 ones
   (primary, target VP); returns the first failure. */
static NTSTATUS StreamConfigureChannel(STREAM_CHANNEL* sch) {
  STREAMING_VSC* vsc = sch->Vsc;
  const STREAMING_VSC_CONFIG* config = &vsc->Config;
  const VMBCHANNEL channel = sch->Channel;
  NTSTATUS status = VmbChannelInitSetMaximumPacketSize(channel, StreamMaxPacketSize(config));
  if (NT_SUCCESS(status) && (config->IncomingPageCount != 0 || config->OutgoingPageCount != 0)) {
    status = VmbClientChannelInitSetRingBufferPageCount(channel, config->IncomingPageCount,
                                                        config->OutgoingPageCount);
  }
  if (NT_SUCCESS(status)) {
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    callbacks.EvtChannelOpened = StreamChannelOpened;
    callbacks.EvtChannelClosed = StreamChannelClosed;
    callbacks.EvtChannelSuspend = StreamChannelSuspend;
    callbacks.EvtChannelStarted = StreamChannelStarted;
    callbacks.EvtChannelPostStarted = StreamChannelPostStarted;
    status = VmbChannelInitSetStateChangeCallbacks(channel, &callbacks);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetProcessPacketCallbacks(channel, StreamProcessPacket, NULL);
  }
  VmbChannelSetPointer(channel, sch);
  if (NT_SUCCESS(status)) {
    if (sch->Index == 0) {
      const GUID* instance =
          StreamIsZeroGuid(&config->InterfaceInstance) ? NULL : &config->InterfaceInstance;
      status = VmbClientChannelInitSetTargetPnp(channel, &config->InterfaceType, instance,
                                                StreamChannelPnpFailure);
    } else {
      /* Type and instance come from the primary's offer. */
      status = vsc->Kmcl.VmbChannelInitSetPrimaryChannel(channel, vsc->Channels[0].Channel);
    }
  }
  if (NT_SUCCESS(status) && config->TargetVpSpread) {
    const UINT32 vp_count = config->VpCount != 0 ? config->VpCount : 1;
    status = vsc->Kmcl.VmbClientChannelInitSetTargetProcessorIndex(channel, config->FirstVp + sch->Index % vp_count);
  }
  return status;
}

/* The settings real drivers make without checking a result (spec §8.2). */
static VOID StreamApplyUncheckedSettings(STREAM_CHANNEL* sch) {
  UNICODE_STRING name;
  name.Buffer = kStreamFriendlyName;
  name.Length = (USHORT)(sizeof(kStreamFriendlyName) - sizeof(WCHAR)); /* Bytes, no NUL. */
  name.MaximumLength = (USHORT)sizeof(kStreamFriendlyName);
  (void)VmbChannelInitSetFriendlyName(sch->Channel, &name);
}

/* Allocates and configures the next channel (the primary first). On failure
   the channel is cleaned up again and not counted. */
static NTSTATUS StreamCreateChannel(STREAMING_VSC* vsc, PDEVICE_OBJECT device) {
  STREAM_CHANNEL* sch = &vsc->Channels[vsc->ChannelCount];
  const UINT32 bytes = vsc->Config.PacketBytes;
  sch->Vsc = vsc;
  sch->Index = vsc->ChannelCount;
  sch->Buffer = (UINT8*)malloc(bytes != 0 ? bytes : 1); /* malloc(0) may return NULL. */
  if (sch->Buffer == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  for (UINT32 i = STREAM_HEADER_BYTES; i < bytes; ++i) {
    sch->Buffer[i] = StreamingVscPatternByte(i);
  }
  NTSTATUS status = VmbChannelAllocate(device, FALSE, &sch->Channel);
  if (NT_SUCCESS(status)) {
    status = StreamConfigureChannel(sch);
    if (!NT_SUCCESS(status)) {
      VmbChannelCleanup(sch->Channel);
    }
  }
  if (!NT_SUCCESS(status)) {
    free(sch->Buffer);
    sch->Buffer = NULL;
    sch->Channel = NULL;
    return status;
  }
  StreamApplyUncheckedSettings(sch);
  vsc->ChannelCount += 1;
  return STATUS_SUCCESS;
}

/* Queries the client V5 table and checks it has the members this driver
   calls; keeps the reference. */
static NTSTATUS StreamQueryClientV5(STREAMING_VSC* vsc, PDEVICE_OBJECT device) {
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

/* Disables the sub-channels, last first, then the primary, cleans them all
   up, releases the table and frees the VSC. Channels never enabled need no
   Disable. */
static VOID StreamTeardown(STREAMING_VSC* vsc) {
  for (UINT32 i = vsc->ChannelCount; i > 0; --i) {
    STREAM_CHANNEL* sch = &vsc->Channels[i - 1];
    if (sch->Enabled) {
      VmbChannelDisable(sch->Channel);
      sch->Enabled = FALSE;
    }
  }
  for (UINT32 i = vsc->ChannelCount; i > 0; --i) {
    STREAM_CHANNEL* sch = &vsc->Channels[i - 1];
    VmbChannelCleanup(sch->Channel);
    free(sch->Buffer);
  }
  if (vsc->HaveKmcl) {
    vsc->Kmcl.InterfaceDereference(vsc->Kmcl.Context);
  }
  free(vsc);
}

NTSTATUS StreamingVscCreate(PDEVICE_OBJECT Device, const STREAMING_VSC_CONFIG* Config,
                            STREAMING_VSC** Vsc) {
  if (Config == NULL || Vsc == NULL || Config->SubChannels >= STREAMING_VSC_MAX_CHANNELS) {
    return STATUS_INVALID_PARAMETER;
  }
  STREAMING_VSC* vsc = (STREAMING_VSC*)calloc(1, sizeof(STREAMING_VSC));
  if (vsc == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  vsc->Config = *Config;
  NTSTATUS status = STATUS_SUCCESS;
  if (Config->SubChannels != 0 || Config->TargetVpSpread) {
    status = StreamQueryClientV5(vsc, Device);
  }
  for (UINT32 i = 0; NT_SUCCESS(status) && i <= Config->SubChannels; ++i) {
    status = StreamCreateChannel(vsc, Device);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelEnable(vsc->Channels[0].Channel);
  }
  if (!NT_SUCCESS(status)) {
    StreamTeardown(vsc); /* Nothing is enabled: a failed Enable leaves it Disabled. */
    return status;
  }
  vsc->Channels[0].Enabled = TRUE;
  /* Implied by Enable on a client; real drivers call it anyway (spec §8.2). */
  VmbChannelStart(vsc->Channels[0].Channel);
  vsc->Stats.Channels = vsc->ChannelCount;
  *Vsc = vsc;
  return STATUS_SUCCESS;
}

VOID StreamingVscDestroy(STREAMING_VSC* Vsc) {
  if (Vsc == NULL) {
    return;
  }
  StreamTeardown(Vsc);
}

VOID StreamingVscGetStats(const STREAMING_VSC* Vsc, STREAMING_VSC_STATS* Stats) {
  *Stats = Vsc->Stats;
}

VMBCHANNEL StreamingVscChannel(const STREAMING_VSC* Vsc, UINT32 Index) {
  return Index < Vsc->ChannelCount ? Vsc->Channels[Index].Channel : NULL;
}
