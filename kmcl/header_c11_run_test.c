/* kmcl/header_c11_run_test.c
 *
 * A server and a client driver written in C11 (built with -std=c11
 * -pedantic-errors) against vmbuskernelmodeclientlibapi.h alone: they run
 * the whole life of a channel through the exported functions and record
 * what they saw for the C++ harness (header_c11_run_test_main.cc; the
 * phases are listed in header_c11_run_test.h). Nothing here but the API
 * header's types: no libc, no C++.
 */
#include "header_c11_run_test.h"

#include "vmbuskernelmodeclientlibapi.h"

static const GUID kC11Type = {0x0c11c11c, 0x1111, 0x2222, {0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa}};
static const GUID kC11Instance = {0x0c11c11c, 0x3333, 0x4444, {0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22}};

static VmbsimC11Results g_results;

/* One tag per sent packet, found again through VmbPacketGetPointer. */
typedef struct C11PacketTag {
  VmbsimC11Endpoint* endpoint;
  int index;
  unsigned char seed;
} C11PacketTag;

static C11PacketTag g_host_tags[VMBSIM_C11_PACKETS];
static C11PacketTag g_guest_tags[VMBSIM_C11_PACKETS];

/* The guest's requests are seeded 0x10 + index, the host's 0x90 + index;
   byte 0 carries the seed, byte b is seed * 3 + b. */
static unsigned char PayloadByte(unsigned char seed, UINT32 b) {
  return b == 0 ? seed : (unsigned char)((seed * 3u + b) & 0xffu);
}

static void FillPayload(unsigned char* payload, unsigned char seed) {
  UINT32 b;
  for (b = 0; b < VMBSIM_C11_PAYLOAD; ++b) payload[b] = PayloadByte(seed, b);
}

/* Whether buffer holds the payload of some seed in [first, first + count). */
static int IsPayload(const void* buffer, UINT32 length, unsigned char first, int count) {
  const unsigned char* bytes = (const unsigned char*)buffer;
  UINT32 b;
  if (buffer == NULL || length != VMBSIM_C11_PAYLOAD) return 0;
  if (bytes[0] < first || bytes[0] >= first + count) return 0;
  for (b = 0; b < length; ++b) {
    if (bytes[b] != PayloadByte(bytes[0], b)) return 0;
  }
  return 1;
}

static int Fail(int step, NTSTATUS status) {
  if (g_results.failed_step == 0) {
    g_results.failed_step = step;
    g_results.failed_status = status;
  }
  return step;
}

static VmbsimC11Endpoint* EndpointOf(VMBCHANNEL channel) {
  return (VmbsimC11Endpoint*)VmbChannelGetPointer(channel);
}

static void Record(VMBCHANNEL channel, char event) {
  VmbsimC11Endpoint* endpoint = EndpointOf(channel);
  if (endpoint == NULL) return;
  if (endpoint->event_count < VMBSIM_C11_EVENTS_MAX) {
    endpoint->events[endpoint->event_count++] = event;
    endpoint->events[endpoint->event_count] = '\0';
  }
}

/* ---- Callbacks, shared by both drivers. ---- */

static EVT_VMB_CHANNEL_OPENED C11Opened;
static EVT_VMB_CHANNEL_CLOSED C11Closed;
static EVT_VMB_CHANNEL_SUSPEND C11Suspend;
static EVT_VMB_CHANNEL_STARTED C11Started;
static EVT_VMB_CHANNEL_POST_STARTED C11PostStarted;
static EVT_VMB_CHANNEL_PROCESS_PACKET C11ProcessPacket;
static EVT_VMB_CHANNEL_PROCESSING_COMPLETE C11ProcessingComplete;
static EVT_VMB_PACKET_COMPLETION_ROUTINE C11SendDone;

static NTSTATUS C11Opened(VMBCHANNEL Channel) {
  Record(Channel, 'O');
  return STATUS_SUCCESS;
}

static VOID C11Closed(VMBCHANNEL Channel) { Record(Channel, 'C'); }

static VOID C11Suspend(VMBCHANNEL Channel) { Record(Channel, 'U'); }

static VOID C11Started(VMBCHANNEL Channel) { Record(Channel, 'S'); }

static VOID C11PostStarted(VMBCHANNEL Channel) { Record(Channel, 'P'); }

/* Checks the request came from the other driver and echoes it in the
   completion. */
static VOID C11ProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                             UINT32 BufferLength, UINT32 Flags) {
  VmbsimC11Endpoint* endpoint = EndpointOf(Channel);
  const unsigned char first = endpoint == &g_results.host ? 0x10 : 0x90;
  ++endpoint->packets_processed;
  if (Flags != 0 || !IsPayload(Buffer, BufferLength, first, VMBSIM_C11_PACKETS)) ++endpoint->bad_packets;
  VmbChannelPacketComplete(Packet, Buffer, BufferLength);
}

static VOID C11ProcessingComplete(VMBCHANNEL Channel, UINT32 PacketsProcessed) {
  EndpointOf(Channel)->processing_complete_sum += (int)PacketsProcessed;
}

static VOID C11SendDone(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer, UINT32 BufferLength) {
  C11PacketTag* tag = (C11PacketTag*)VmbPacketGetPointer(Packet);
  VmbsimC11Endpoint* endpoint = tag->endpoint;
  ++endpoint->completions;
  if (endpoint->completion_seen[tag->index]++ != 0) ++endpoint->completed_twice;
  if (Status == STATUS_SUCCESS && IsPayload(Buffer, BufferLength, tag->seed, 1)) {
    ++endpoint->completions_ok;
  } else {
    ++endpoint->completion_mismatches;
  }
  VmbPacketFree(Packet);
}

static NTSTATUS Configure(VmbsimC11Endpoint* endpoint) {
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  NTSTATUS status;
  VmbChannelSetPointer(endpoint->channel, endpoint);
  status = VmbChannelInitSetMaximumPacketSize(endpoint->channel, 4096);
  if (status != STATUS_SUCCESS) return status;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  callbacks.EvtChannelOpened = C11Opened;
  callbacks.EvtChannelClosed = C11Closed;
  callbacks.EvtChannelSuspend = C11Suspend;
  callbacks.EvtChannelStarted = C11Started;
  callbacks.EvtChannelPostStarted = C11PostStarted;
  status = VmbChannelInitSetStateChangeCallbacks(endpoint->channel, &callbacks);
  if (status != STATUS_SUCCESS) return status;
  return VmbChannelInitSetProcessPacketCallbacks(endpoint->channel, C11ProcessPacket, C11ProcessingComplete);
}

/* Sends VMBSIM_C11_PACKETS requests with completion requested. */
static int SendAll(VmbsimC11Endpoint* endpoint, C11PacketTag* tags, unsigned char first_seed, int step) {
  unsigned char payload[VMBSIM_C11_PAYLOAD];
  int i;
  for (i = 0; i < VMBSIM_C11_PACKETS; ++i) {
    NTSTATUS status;
    VMBPACKET packet = VmbPacketAllocate(endpoint->channel);
    if (packet == NULL) return Fail(step, STATUS_INSUFFICIENT_RESOURCES);
    tags[i].endpoint = endpoint;
    tags[i].index = i;
    tags[i].seed = (unsigned char)(first_seed + i);
    FillPayload(payload, tags[i].seed);
    VmbPacketSetPointer(packet, &tags[i]);
    VmbPacketSetCompletionRoutine(packet, C11SendDone);
    /* The bytes are copied at send time: payload is reused at once. */
    status = VmbPacketSend(packet, payload, VMBSIM_C11_PAYLOAD, NULL,
                           VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
    if (status != STATUS_SUCCESS) {
      VmbPacketFree(packet);
      return Fail(step + 1, status);
    }
    ++endpoint->sent;
  }
  return 0;
}

/* ---- Entry points. ---- */

VmbsimC11Results* VmbsimC11Scenario_Results(void) { return &g_results; }

void VmbsimC11Scenario_Reset(void) {
  static const VmbsimC11Results kZero;
  g_results = kZero;
}

int VmbsimC11Scenario_Host(PDEVICE_OBJECT host, HANDLE vmbus) {
  VmbsimC11Endpoint* endpoint = &g_results.host;
  NTSTATUS status = VmbChannelAllocate(host, TRUE, &endpoint->channel);
  if (status != STATUS_SUCCESS) return Fail(10, status);
  status = VmbServerChannelInitSetVmbusHandle(endpoint->channel, vmbus);
  if (status != STATUS_SUCCESS) return Fail(11, status);
  status = VmbServerChannelInitSetTargetInterfaceId(endpoint->channel, kC11Type, kC11Instance);
  if (status != STATUS_SUCCESS) return Fail(12, status);
  status = Configure(endpoint);
  if (status != STATUS_SUCCESS) return Fail(13, status);
  status = VmbChannelEnable(endpoint->channel);
  if (status != STATUS_SUCCESS) return Fail(14, status);
  VmbChannelStart(endpoint->channel);
  return 0;
}

int VmbsimC11Scenario_Guest(PDEVICE_OBJECT guest) {
  VmbsimC11Endpoint* endpoint = &g_results.guest;
  NTSTATUS status = VmbChannelAllocate(guest, FALSE, &endpoint->channel);
  if (status != STATUS_SUCCESS) return Fail(20, status);
  status = VmbClientChannelInitSetRingBufferPageCount(endpoint->channel, 8, 8);
  if (status != STATUS_SUCCESS) return Fail(21, status);
  status = VmbClientChannelInitSetTargetPnp(endpoint->channel, &kC11Type, &kC11Instance, NULL);
  if (status != STATUS_SUCCESS) return Fail(22, status);
  status = Configure(endpoint);
  if (status != STATUS_SUCCESS) return Fail(23, status);
  status = VmbChannelEnable(endpoint->channel);
  if (status != STATUS_SUCCESS) return Fail(24, status);
  VmbChannelStart(endpoint->channel);  /* Redundant on a client; real drivers call it. */
  return 0;
}

int VmbsimC11Scenario_GuestSend(void) { return SendAll(&g_results.guest, g_guest_tags, 0x10, 30); }

int VmbsimC11Scenario_HostSend(void) { return SendAll(&g_results.host, g_host_tags, 0x90, 40); }

int VmbsimC11Scenario_GuestClose(void) {
  VmbChannelDisable(g_results.guest.channel);
  return 0;
}

int VmbsimC11Scenario_HostClose(void) {
  VmbChannelDisable(g_results.host.channel);
  return 0;
}

int VmbsimC11Scenario_GuestCleanup(void) {
  VmbChannelCleanup(g_results.guest.channel);
  return 0;
}

int VmbsimC11Scenario_HostCleanup(void) {
  VmbChannelCleanup(g_results.host.channel);
  return 0;
}
