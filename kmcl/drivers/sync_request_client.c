/* kmcl/drivers/sync_request_client.c
 *
 * The synchronous-request client (sync_request_client.h): a KMCL client
 * driver that negotiates with VmbChannelSendSynchronousRequest from
 * EvtChannelPostStarted. Written as a Windows guest driver would be, using
 * only the exported KMCL functions and KeQueryInterruptTime.
 */
#include "kmcl/drivers/sync_request_client.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmbuskernelmodeclientlibapi.h"

struct _SYNC_CLIENT {
  VMBCHANNEL Channel;
  SYNC_CLIENT_CONFIG Config;
  SYNC_CLIENT_STATS Stats;
  UINT8* Request;    /* Config.RequestBytes bytes (at least 1 allocated). */
  UINT8* Completion; /* Config.CompletionBufferBytes bytes (at least 1 allocated). */
  UINT64 NextSequence;
};

static EVT_VMB_CHANNEL_OPENED SyncChannelOpened;
static EVT_VMB_CHANNEL_CLOSED SyncChannelClosed;
static EVT_VMB_CHANNEL_SUSPEND SyncChannelSuspend;
static EVT_VMB_CHANNEL_STARTED SyncChannelStarted;
static EVT_VMB_CHANNEL_POST_STARTED SyncChannelPostStarted;
static EVT_VMB_CHANNEL_PNP_FAILURE SyncChannelPnpFailure;
static EVT_VMB_CHANNEL_PROCESS_PACKET SyncProcessPacket;

/* Written as a UTF-16 literal: WCHAR is a 16-bit code unit (wdk_shim.h). */
static WCHAR kSyncFriendlyName[] = u"SyncClient";

UINT8 SyncClientPatternByte(UINT32 Offset) { return (UINT8)(Offset * 17u + 0x3Cu); }

/* ---- The negotiation ---- */

static VOID SyncStampSequence(SYNC_CLIENT* client, UINT64 sequence) {
  for (UINT32 i = 0; i < 8 && i < client->Config.RequestBytes; ++i) {
    client->Request[i] = (UINT8)(sequence >> (8 * i));
  }
}

static VOID SyncRecordRequest(SYNC_CLIENT* client, NTSTATUS status, UINT32 completion_size,
                              UINT64 duration_100ns) {
  SYNC_CLIENT_STATS* stats = &client->Stats;
  stats->RequestsMade += 1;
  stats->BytesSent += client->Config.RequestBytes;
  if (status == STATUS_SUCCESS) {
    stats->Succeeded += 1;
    stats->BytesReceived += completion_size;
  } else {
    stats->Failed += 1;
  }
  if (stats->RecordCount < SYNC_CLIENT_RECORD_CAPACITY) {
    stats->RequestStatus[stats->RecordCount] = status;
    stats->CompletionSize[stats->RecordCount] = completion_size;
    stats->RequestDuration100ns[stats->RecordCount] = duration_100ns;
    stats->RecordCount += 1;
  }
}

/* Makes one synchronous request and waits for its completion (or the
   timeout); returns the call's status. */
static NTSTATUS SyncSendOne(SYNC_CLIENT* client) {
  const SYNC_CLIENT_CONFIG* config = &client->Config;
  const BOOLEAN has_buffer = config->CompletionBufferBytes != 0;
  UINT32 completion_size = config->CompletionBufferBytes;
  LARGE_INTEGER timeout;
  /* Negative: relative, in 100 ns units (KeWaitForSingleObject form). */
  timeout.QuadPart = -(LONGLONG)config->TimeoutMs * 10000;
  SyncStampSequence(client, client->NextSequence);
  client->NextSequence += 1;
  const ULONGLONG start_100ns = KeQueryInterruptTime();
  const NTSTATUS status = VmbChannelSendSynchronousRequest(
      client->Channel, client->Request, config->RequestBytes, NULL,
      VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, has_buffer ? client->Completion : NULL,
      has_buffer ? &completion_size : NULL, config->TimeoutMs != 0 ? &timeout : NULL);
  const ULONGLONG end_100ns = KeQueryInterruptTime();
  SyncRecordRequest(client, status, completion_size,
                    end_100ns >= start_100ns ? end_100ns - start_100ns : 0);
  if (status == STATUS_SUCCESS && config->CompletionServiceRoutine != NULL) {
    config->CompletionServiceRoutine(config->CompletionServiceContext);
  }
  return status;
}

static VOID SyncNegotiate(SYNC_CLIENT* client) {
  client->Stats.Negotiations += 1;
  for (UINT32 i = 0; i < client->Config.Requests; ++i) {
    if (SyncSendOne(client) == STATUS_DEVICE_REMOVED) {
      break; /* The channel is shutting down; the rest would fail the same way. */
    }
  }
}

/* ---- Channel callbacks ---- */

/* Packets from the host carry nothing this driver acts on. */
static VOID SyncProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                              UINT32 BufferLength, UINT32 Flags) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
  client->Stats.ProcessPacketCalls += 1;
  VmbChannelPacketComplete(Packet, NULL, 0);
}

static VOID SyncRecordEvent(SYNC_CLIENT* client, VMBSIM_DRIVER_EVENT event, UINT64* counter) {
  *counter += 1;
  VmbsimDriverEventAppend(client->Stats.EventLog, &client->Stats.EventCount, event);
}

static NTSTATUS SyncChannelOpened(VMBCHANNEL Channel) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_OPENED, &client->Stats.Opened);
  return STATUS_SUCCESS;
}

static VOID SyncChannelClosed(VMBCHANNEL Channel) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_CLOSED, &client->Stats.Closed);
}

static VOID SyncChannelSuspend(VMBCHANNEL Channel) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_SUSPEND, &client->Stats.Suspended);
}

/* Must not wait for the peer here (spec §5.4): the negotiation waits for
   PostStarted. */
static VOID SyncChannelStarted(VMBCHANNEL Channel) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_STARTED, &client->Stats.Started);
}

static VOID SyncChannelPostStarted(VMBCHANNEL Channel) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_POST_STARTED, &client->Stats.PostStarted);
  SyncNegotiate(client);
}

static VOID SyncChannelPnpFailure(VMBCHANNEL Channel, NTSTATUS FailureStatus) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)VmbChannelGetPointer(Channel);
  SyncRecordEvent(client, VMBSIM_DRIVER_EVENT_PNP_FAILURE, &client->Stats.PnpFailures);
  client->Stats.LastPnpFailureStatus = FailureStatus;
}

/* ---- Creation and teardown ---- */

static BOOLEAN SyncIsZeroGuid(const GUID* guid) {
  static const GUID kZero;
  return memcmp(guid, &kZero, sizeof(GUID)) == 0;
}

/* The checked Init* calls of spec §8.2 with callbacks and pointer, in that
   order; returns the first failure. */
static NTSTATUS SyncConfigureChannel(SYNC_CLIENT* client) {
  const VMBCHANNEL channel = client->Channel;
  const SYNC_CLIENT_CONFIG* config = &client->Config;
  NTSTATUS status = STATUS_SUCCESS;
  if (config->MaxPacketSize != 0) {
    status = VmbChannelInitSetMaximumPacketSize(channel, config->MaxPacketSize);
  }
  if (NT_SUCCESS(status)) {
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    callbacks.EvtChannelOpened = SyncChannelOpened;
    callbacks.EvtChannelClosed = SyncChannelClosed;
    callbacks.EvtChannelSuspend = SyncChannelSuspend;
    callbacks.EvtChannelStarted = SyncChannelStarted;
    callbacks.EvtChannelPostStarted = SyncChannelPostStarted;
    status = VmbChannelInitSetStateChangeCallbacks(channel, &callbacks);
  }
  if (NT_SUCCESS(status)) {
    status = VmbChannelInitSetProcessPacketCallbacks(channel, SyncProcessPacket, NULL);
  }
  VmbChannelSetPointer(channel, client);
  if (NT_SUCCESS(status)) {
    const GUID* instance =
        SyncIsZeroGuid(&config->InterfaceInstance) ? NULL : &config->InterfaceInstance;
    status = VmbClientChannelInitSetTargetPnp(channel, &config->InterfaceType, instance,
                                              SyncChannelPnpFailure);
  }
  return status;
}

static VOID SyncSetFriendlyName(SYNC_CLIENT* client) {
  UNICODE_STRING name;
  name.Buffer = kSyncFriendlyName;
  name.Length = (USHORT)(sizeof(kSyncFriendlyName) - sizeof(WCHAR)); /* Bytes, no NUL. */
  name.MaximumLength = (USHORT)sizeof(kSyncFriendlyName);
  (void)VmbChannelInitSetFriendlyName(client->Channel, &name); /* Unchecked, as §8.2. */
}

static VOID SyncFree(SYNC_CLIENT* client) {
  free(client->Completion);
  free(client->Request);
  free(client);
}

static SYNC_CLIENT* SyncAllocate(const SYNC_CLIENT_CONFIG* config) {
  SYNC_CLIENT* client = (SYNC_CLIENT*)calloc(1, sizeof(SYNC_CLIENT));
  if (client == NULL) {
    return NULL;
  }
  client->Config = *config;
  /* calloc of 0 may return NULL, so ask for at least one byte of each. */
  client->Request = (UINT8*)calloc(config->RequestBytes != 0 ? config->RequestBytes : 1, 1);
  client->Completion = (UINT8*)calloc(
      config->CompletionBufferBytes != 0 ? config->CompletionBufferBytes : 1, 1);
  if (client->Request == NULL || client->Completion == NULL) {
    SyncFree(client);
    return NULL;
  }
  for (UINT32 i = 8; i < config->RequestBytes; ++i) {
    client->Request[i] = SyncClientPatternByte(i);
  }
  return client;
}

NTSTATUS SyncClientCreate(PDEVICE_OBJECT Device, const SYNC_CLIENT_CONFIG* Config,
                          SYNC_CLIENT** Client) {
  if (Config == NULL || Client == NULL) {
    return STATUS_INVALID_PARAMETER;
  }
  SYNC_CLIENT* client = SyncAllocate(Config);
  if (client == NULL) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  NTSTATUS status = VmbChannelAllocate(Device, FALSE, &client->Channel);
  if (!NT_SUCCESS(status)) {
    SyncFree(client);
    return status;
  }
  status = SyncConfigureChannel(client);
  if (NT_SUCCESS(status)) {
    SyncSetFriendlyName(client);
    status = VmbChannelEnable(client->Channel);
  }
  if (!NT_SUCCESS(status)) {
    VmbChannelCleanup(client->Channel); /* Still Disabled: a failed Enable leaves it so. */
    SyncFree(client);
    return status;
  }
  /* Implied by Enable on a client; real drivers call it anyway (spec §8.2). */
  VmbChannelStart(client->Channel);
  *Client = client;
  return STATUS_SUCCESS;
}

VOID SyncClientDestroy(SYNC_CLIENT* Client) {
  if (Client == NULL) {
    return;
  }
  VmbChannelDisable(Client->Channel);
  VmbChannelCleanup(Client->Channel);
  SyncFree(Client);
}

VOID SyncClientGetStats(const SYNC_CLIENT* Client, SYNC_CLIENT_STATS* Stats) {
  *Stats = Client->Stats;
}

VMBCHANNEL SyncClientChannel(const SYNC_CLIENT* Client) { return Client->Channel; }
