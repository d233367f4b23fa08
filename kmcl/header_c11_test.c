/* kmcl/header_c11_test.c
 *
 * Proves that vmbuskernelmodeclientlibapi.h is a C11 header: this file is
 * built with -std=c11 -pedantic-errors and the project's warnings as errors.
 * Method: declare a driver function of every callback type the way WDK code
 * does, fill a state-change callback set, and build both V1 interface tables
 * from every exported function inside `sizeof`, so the compiler checks each
 * function against its table slot without referring to the (not yet
 * linked) definitions. main() then checks sizes and offsets at run time and
 * returns 0 when all hold.
 */
#include "vmbuskernelmodeclientlibapi.h"

#include <stdio.h>

/* ---- One driver function of every callback type. ---- */

static EVT_VMB_CHANNEL_OPENED TestChannelOpened;
static EVT_VMB_CHANNEL_CLOSED TestChannelClosed;
static EVT_VMB_CHANNEL_SUSPEND TestChannelSuspend;
static EVT_VMB_CHANNEL_STARTED TestChannelStarted;
static EVT_VMB_CHANNEL_POST_STARTED TestChannelPostStarted;
static EVT_VMB_CHANNEL_PROCESS_PACKET TestProcessPacket;
static EVT_VMB_CHANNEL_PROCESSING_COMPLETE TestProcessingComplete;
static EVT_VMB_PACKET_COMPLETION_ROUTINE TestPacketCompletion;
static EVT_VMB_CHANNEL_SAVE_PACKET TestSavePacket;
static EVT_VMB_CHANNEL_RESTORE_PACKET TestRestorePacket;
static EVT_VMB_CHANNEL_PNP_FAILURE TestPnpFailure;

static NTSTATUS TestChannelOpened(VMBCHANNEL Channel) {
  (void)Channel;
  return STATUS_SUCCESS;
}

static VOID TestChannelClosed(VMBCHANNEL Channel) { (void)Channel; }

static VOID TestChannelSuspend(VMBCHANNEL Channel) { (void)Channel; }

static VOID TestChannelStarted(VMBCHANNEL Channel) { (void)Channel; }

static VOID TestChannelPostStarted(VMBCHANNEL Channel) { (void)Channel; }

static VOID TestProcessPacket(VMBCHANNEL Channel, VMBPACKETCOMPLETION Packet, PVOID Buffer,
                              UINT32 BufferLength, UINT32 Flags) {
  (void)Channel;
  (void)Packet;
  (void)Buffer;
  (void)BufferLength;
  (void)Flags;
}

static VOID TestProcessingComplete(VMBCHANNEL Channel, UINT32 PacketsProcessed) {
  (void)Channel;
  (void)PacketsProcessed;
}

static VOID TestPacketCompletion(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer,
                                 UINT32 BufferLength) {
  (void)Packet;
  (void)Status;
  (void)Buffer;
  (void)BufferLength;
}

static NTSTATUS TestSavePacket(VMBCHANNEL Channel, VMBPACKET Packet, PVOID SaveBuf,
                               UINT32 SaveBufSize, PUINT32 BytesNeeded) {
  (void)Channel;
  (void)Packet;
  (void)SaveBuf;
  (void)SaveBufSize;
  *BytesNeeded = 0;
  return STATUS_SUCCESS;
}

static NTSTATUS TestRestorePacket(VMBCHANNEL Channel, PVOID LibBuf, UINT32 LibBufSize,
                                  PVOID SaveBuf, UINT32 SaveBufSize) {
  (void)Channel;
  (void)LibBuf;
  (void)LibBufSize;
  (void)SaveBuf;
  (void)SaveBufSize;
  return STATUS_SUCCESS;
}

static VOID TestPnpFailure(VMBCHANNEL Channel, NTSTATUS FailureStatus) {
  (void)Channel;
  (void)FailureStatus;
}

/* The callback pointers a driver passes to the Init* setters. */
static PFN_VMB_CHANNEL_PROCESS_PACKET const kProcessPacket = TestProcessPacket;
static PFN_VMB_CHANNEL_PROCESSING_COMPLETE const kProcessingComplete = TestProcessingComplete;
static PFN_VMB_PACKET_COMPLETION_ROUTINE const kPacketCompletion = TestPacketCompletion;
static PFN_VMB_CHANNEL_SAVE_PACKET const kSavePacket = TestSavePacket;
static PFN_VMB_CHANNEL_RESTORE_PACKET const kRestorePacket = TestRestorePacket;
static PFN_VMB_CHANNEL_PNP_FAILURE const kPnpFailure = TestPnpFailure;

/* ---- Every exported function in its table slot, checked by the compiler. ----
   An incompatible function is a constraint violation in the initializer, so
   -pedantic-errors rejects it. The compound literals are operands of sizeof
   and therefore never evaluated: no definition is needed to link. */

#define CLIENT_V1_METHODS_FROM_EXPORTS                                             \
  .VmbChannelAllocate = VmbChannelAllocate, .VmbChannelCleanup = VmbChannelCleanup, \
  .VmbChannelCreateGpadlFromBuffer = VmbChannelCreateGpadlFromBuffer,               \
  .VmbChannelCreateGpadlFromMdl = VmbChannelCreateGpadlFromMdl,                     \
  .VmbChannelDeleteGpadl = VmbChannelDeleteGpadl,                                   \
  .VmbChannelDisable = VmbChannelDisable, .VmbChannelEnable = VmbChannelEnable,     \
  .VmbChannelGetInterfaceInstance = VmbChannelGetInterfaceInstance,                 \
  .VmbChannelGetMmioSpace = VmbChannelGetMmioSpace,                                 \
  .VmbChannelGetPointer = VmbChannelGetPointer,                                     \
  .VmbChannelInitSetClientContextSize = VmbChannelInitSetClientContextSize,         \
  .VmbChannelInitSetFlags = VmbChannelInitSetFlags,                                 \
  .VmbChannelInitSetFriendlyName = VmbChannelInitSetFriendlyName,                   \
  .VmbChannelInitSetMaximumExternalData = VmbChannelInitSetMaximumExternalData,     \
  .VmbChannelInitSetMaximumPacketSize = VmbChannelInitSetMaximumPacketSize,         \
  .VmbChannelInitSetProcessPacketCallbacks = VmbChannelInitSetProcessPacketCallbacks, \
  .VmbChannelInitSetStateChangeCallbacks = VmbChannelInitSetStateChangeCallbacks,   \
  .VmbChannelPacketComplete = VmbChannelPacketComplete,                             \
  .VmbChannelPacketDeferToPassive = VmbChannelPacketDeferToPassive,                 \
  .VmbChannelPacketFail = VmbChannelPacketFail,                                     \
  .VmbChannelPacketGetExternalData = VmbChannelPacketGetExternalData,               \
  .VmbChannelPause = VmbChannelPause,                                               \
  .VmbChannelSendSynchronousRequest = VmbChannelSendSynchronousRequest,             \
  .VmbChannelSetIncomingProcessingAtPassive = VmbChannelSetIncomingProcessingAtPassive, \
  .VmbChannelSetInterruptLatency = VmbChannelSetInterruptLatency,                   \
  .VmbChannelSetPointer = VmbChannelSetPointer,                                     \
  .VmbChannelSetTransactionQuota = VmbChannelSetTransactionQuota,                   \
  .VmbChannelSizeofPacket = VmbChannelSizeofPacket,                                 \
  .VmbChannelStart = VmbChannelStart,                                               \
  .VmbClientChannelInitSetRingBufferPageCount =                                     \
      VmbClientChannelInitSetRingBufferPageCount,                                   \
  .VmbClientChannelInitSetTargetPnp = VmbClientChannelInitSetTargetPnp,             \
  .VmbPacketAllocate = VmbPacketAllocate, .VmbPacketFree = VmbPacketFree,           \
  .VmbPacketGetChannel = VmbPacketGetChannel,                                       \
  .VmbPacketGetPointer = VmbPacketGetPointer,                                       \
  .VmbPacketInitialize = VmbPacketInitialize, .VmbPacketSend = VmbPacketSend,       \
  .VmbPacketSendWithExternalMdl = VmbPacketSendWithExternalMdl,                     \
  .VmbPacketSendWithExternalPfns = VmbPacketSendWithExternalPfns,                   \
  .VmbPacketSetCompletionRoutine = VmbPacketSetCompletionRoutine,                   \
  .VmbPacketSetPointer = VmbPacketSetPointer

#define SERVER_ONLY_METHODS_FROM_EXPORTS                                           \
  .VmbChannelMapGpadl = VmbChannelMapGpadl,                                         \
  .VmbChannelRestoreFromBuffer = VmbChannelRestoreFromBuffer,                       \
  .VmbChannelSaveBegin = VmbChannelSaveBegin,                                       \
  .VmbChannelSaveContinue = VmbChannelSaveContinue,                                 \
  .VmbChannelSaveEnd = VmbChannelSaveEnd,                                           \
  .VmbChannelUnmapGpadl = VmbChannelUnmapGpadl,                                     \
  .VmbConvertVmbusHandleToKernelHandle = VmbConvertVmbusHandleToKernelHandle,       \
  .VmbPacketRestore = VmbPacketRestore,                                             \
  .VmbServerChannelInitSetFlags = VmbServerChannelInitSetFlags,                     \
  .VmbServerChannelInitSetMmioMegabytes = VmbServerChannelInitSetMmioMegabytes,     \
  .VmbServerChannelInitSetSaveRestorePacketCallbacks =                              \
      VmbServerChannelInitSetSaveRestorePacketCallbacks,                            \
  .VmbServerChannelInitSetTargetInterfaceId = VmbServerChannelInitSetTargetInterfaceId, \
  .VmbServerChannelInitSetTargetVtl = VmbServerChannelInitSetTargetVtl,             \
  .VmbServerChannelInitSetVmbusHandle = VmbServerChannelInitSetVmbusHandle

_Static_assert(sizeof((KMCL_CLIENT_INTERFACE_V1){
                   .Size = sizeof(KMCL_CLIENT_INTERFACE_V1),
                   .Version = KMCL_CLIENT_INTERFACE_VERSION_V1,
                   .Context = NULL,
                   .InterfaceReference = NULL,
                   .InterfaceDereference = NULL,
                   CLIENT_V1_METHODS_FROM_EXPORTS,
               }) == 360,
               "every exported client function fits its KMCL_CLIENT_INTERFACE_V1 slot");

_Static_assert(sizeof((KMCL_SERVER_ONLY_METHODS){SERVER_ONLY_METHODS_FROM_EXPORTS}) == 112,
               "every exported server function fits its KMCL_SERVER_ONLY_METHODS slot");

_Static_assert(sizeof((KMCL_SERVER_INTERFACE_V1){
                   .Size = sizeof(KMCL_SERVER_INTERFACE_V1),
                   .Version = KMCL_SERVER_INTERFACE_VERSION_V1,
                   .Context = NULL,
                   .InterfaceReference = NULL,
                   .InterfaceDereference = NULL,
                   CLIENT_V1_METHODS_FROM_EXPORTS,
                   SERVER_ONLY_METHODS_FROM_EXPORTS,
               }) == 472,
               "every exported function fits its KMCL_SERVER_INTERFACE_V1 slot");

/* ---- Run-time checks. ---- */

static int failures = 0;

static void Check(int condition, const char* what) {
  if (!condition) {
    fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

#define CHECK(condition) Check((condition) ? 1 : 0, #condition)

int main(void) {
  /* A driver's state-change callback set: the initializer, then members. */
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  CHECK(callbacks.Version == 1);
  CHECK(callbacks.Size == sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS));
  CHECK(callbacks.EvtChannelOpened == NULL && callbacks.EvtChannelPostStarted == NULL);
  callbacks.EvtChannelOpened = TestChannelOpened;
  callbacks.EvtChannelClosed = TestChannelClosed;
  callbacks.EvtChannelSuspend = TestChannelSuspend;
  callbacks.EvtChannelStarted = TestChannelStarted;
  callbacks.EvtChannelPostStarted = TestChannelPostStarted;
  CHECK(callbacks.EvtChannelOpened(NULL) == STATUS_SUCCESS);
  callbacks.EvtChannelClosed(NULL);

  /* The remaining callbacks go through their PFN_ types. */
  UINT32 bytes_needed = 1;
  CHECK(kSavePacket(NULL, NULL, NULL, 0, &bytes_needed) == STATUS_SUCCESS && bytes_needed == 0);
  CHECK(kRestorePacket(NULL, NULL, 0, NULL, 0) == STATUS_SUCCESS);
  kProcessPacket(NULL, NULL, NULL, 0, VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA);
  kProcessingComplete(NULL, 0);
  kPacketCompletion(NULL, STATUS_CANCELLED, NULL, 0);
  kPnpFailure(NULL, STATUS_DEVICE_REMOVED);

  /* Layouts (x64), as a driver built from C sees them. */
  CHECK(sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS) == 48);
  CHECK(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, Size) == 4);
  CHECK(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelPostStarted) == 40);
  CHECK(sizeof(KMCL_CLIENT_INTERFACE_V1) == 360);
  CHECK(offsetof(KMCL_CLIENT_INTERFACE_V1, Context) == 8);
  CHECK(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelAllocate) == 32);
  CHECK(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbPacketSetPointer) == 352);
  CHECK(sizeof(KMCL_SERVER_INTERFACE_V1) == 472);
  CHECK(offsetof(KMCL_SERVER_INTERFACE_V1, VmbChannelMapGpadl) == 360);
  CHECK(offsetof(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetVmbusHandle) == 464);
  CHECK(sizeof(KMCL_CLIENT_INTERFACE_V5) == 488);
  CHECK(sizeof(KMCL_SERVER_INTERFACE_V5) == 600);
  CHECK(sizeof(INTERFACE) == 32);
  CHECK(sizeof(MDL) == 48);
  CHECK(sizeof(GUID) == 16);
  CHECK(sizeof(UNICODE_STRING) == 16);
  CHECK(sizeof(ULONG) == 4 && sizeof(NTSTATUS) == 4 && sizeof(WCHAR) == 2);

  /* A client table is usable as an INTERFACE, as WdfFdoQueryForInterface
     takes it. */
  KMCL_CLIENT_INTERFACE_V1 table = {0};
  PINTERFACE header = (PINTERFACE)&table;
  header->Size = (USHORT)sizeof(table);
  header->Version = KMCL_CLIENT_INTERFACE_VERSION_V1;
  CHECK(table.Size == 360 && table.Version == 1);

  /* C's u"..." literals are WCHAR strings. */
  static WCHAR name[] = u"Network";
  UNICODE_STRING friendly_name = {(USHORT)(sizeof(name) - sizeof(WCHAR)), (USHORT)sizeof(name),
                                  name};
  CHECK(friendly_name.Length == 14 && friendly_name.Buffer[0] == 'N');

  /* The interface types are distinct. */
  CHECK(KMCL_CLIENT_INTERFACE_TYPE.Data1 != KMCL_SERVER_INTERFACE_TYPE.Data1);

  CHECK(NT_SUCCESS(STATUS_PENDING) && !NT_SUCCESS(STATUS_BUFFER_OVERFLOW));

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("header_c11_test: all checks passed\n");
  return 0;
}
