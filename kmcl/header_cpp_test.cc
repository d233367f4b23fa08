// kmcl/header_cpp_test.cc
//
// Pins the KMCL header's binary contract as C++ sees it: the size and every
// slot offset of the interface tables, the layouts of the WDK shim types, the
// numeric value of every flag, version and status constant, and the exact
// type of every callback, function and table member. Built with -Wall
// -Wextra -Werror -pedantic (see BUILD.bazel), so it also proves the header
// is warning-free C++20. Type checks are static_asserts inside unevaluated
// operands, so nothing here needs the (not yet written) function definitions.

// The header comes first: it must need nothing before it, and the standard
// headers below must survive its annotation macros (_In_, _At_, ...).
#include "kmcl/vmbuskernelmodeclientlibapi.h"
#include "vmbuskernelmodeclientlibapi.h"  // The spelling drivers use; a no-op here.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <type_traits>

#include "gtest/gtest.h"

namespace {

// The exported functions are `noexcept` in C++; the FN_ types are not.
template <typename F>
struct AddNoexcept;
template <typename R, typename... Args>
struct AddNoexcept<R(Args...)> {
  using type = R(Args...) noexcept;
};
template <typename F>
using AddNoexceptT = typename AddNoexcept<F>::type;

// ---- Exported functions: each has exactly its FN_ type (plus noexcept). ----

#define EXPECT_EXPORT_TYPE(function, fn_type)                                  \
  static_assert(std::is_same_v<decltype(function), AddNoexceptT<fn_type>>, \
                #function " must have type " #fn_type)

EXPECT_EXPORT_TYPE(VmbChannelAllocate, FN_VMB_CHANNEL_ALLOCATE);
EXPECT_EXPORT_TYPE(VmbChannelCleanup, FN_VMB_CHANNEL_CLEANUP);
EXPECT_EXPORT_TYPE(VmbChannelCreateGpadlFromBuffer, FN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER);
EXPECT_EXPORT_TYPE(VmbChannelCreateGpadlFromMdl, FN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL);
EXPECT_EXPORT_TYPE(VmbChannelDeleteGpadl, FN_VMB_CHANNEL_DELETE_GPADL);
EXPECT_EXPORT_TYPE(VmbChannelDisable, FN_VMB_CHANNEL_DISABLE);
EXPECT_EXPORT_TYPE(VmbChannelEnable, FN_VMB_CHANNEL_ENABLE);
EXPECT_EXPORT_TYPE(VmbChannelGetInterfaceInstance, FN_VMB_CHANNEL_GET_INTERFACE_INSTANCE);
EXPECT_EXPORT_TYPE(VmbChannelGetMmioSpace, FN_VMB_CHANNEL_GET_MMIO_SPACE);
EXPECT_EXPORT_TYPE(VmbChannelGetPointer, FN_VMB_CHANNEL_GET_POINTER);
EXPECT_EXPORT_TYPE(VmbChannelInitSetClientContextSize,
                   FN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE);
EXPECT_EXPORT_TYPE(VmbChannelInitSetFlags, FN_VMB_CHANNEL_INIT_SET_FLAGS);
EXPECT_EXPORT_TYPE(VmbChannelInitSetFriendlyName, FN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME);
EXPECT_EXPORT_TYPE(VmbChannelInitSetMaximumExternalData,
                   FN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA);
EXPECT_EXPORT_TYPE(VmbChannelInitSetMaximumPacketSize,
                   FN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE);
EXPECT_EXPORT_TYPE(VmbChannelInitSetProcessPacketCallbacks,
                   FN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS);
EXPECT_EXPORT_TYPE(VmbChannelInitSetStateChangeCallbacks,
                   FN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS);
EXPECT_EXPORT_TYPE(VmbChannelPacketComplete, FN_VMB_CHANNEL_PACKET_COMPLETE);
EXPECT_EXPORT_TYPE(VmbChannelPacketDeferToPassive, FN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE);
EXPECT_EXPORT_TYPE(VmbChannelPacketFail, FN_VMB_CHANNEL_PACKET_FAIL);
EXPECT_EXPORT_TYPE(VmbChannelPacketGetExternalData, FN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA);
EXPECT_EXPORT_TYPE(VmbChannelPause, FN_VMB_CHANNEL_PAUSE);
EXPECT_EXPORT_TYPE(VmbChannelSendSynchronousRequest, FN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST);
EXPECT_EXPORT_TYPE(VmbChannelSetIncomingProcessingAtPassive,
                   FN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE);
EXPECT_EXPORT_TYPE(VmbChannelSetInterruptLatency, FN_VMB_CHANNEL_SET_INTERRUPT_LATENCY);
EXPECT_EXPORT_TYPE(VmbChannelSetPointer, FN_VMB_CHANNEL_SET_POINTER);
EXPECT_EXPORT_TYPE(VmbChannelSetTransactionQuota, FN_VMB_CHANNEL_SET_TRANSACTION_QUOTA);
EXPECT_EXPORT_TYPE(VmbChannelSizeofPacket, FN_VMB_CHANNEL_SIZEOF_PACKET);
EXPECT_EXPORT_TYPE(VmbChannelStart, FN_VMB_CHANNEL_START);
EXPECT_EXPORT_TYPE(VmbClientChannelInitSetRingBufferPageCount,
                   FN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT);
EXPECT_EXPORT_TYPE(VmbClientChannelInitSetTargetPnp, FN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP);
EXPECT_EXPORT_TYPE(VmbPacketAllocate, FN_VMB_PACKET_ALLOCATE);
EXPECT_EXPORT_TYPE(VmbPacketFree, FN_VMB_PACKET_FREE);
EXPECT_EXPORT_TYPE(VmbPacketGetChannel, FN_VMB_PACKET_GET_CHANNEL);
EXPECT_EXPORT_TYPE(VmbPacketGetPointer, FN_VMB_PACKET_GET_POINTER);
EXPECT_EXPORT_TYPE(VmbPacketInitialize, FN_VMB_PACKET_INITIALIZE);
EXPECT_EXPORT_TYPE(VmbPacketSend, FN_VMB_PACKET_SEND);
EXPECT_EXPORT_TYPE(VmbPacketSendWithExternalMdl, FN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL);
EXPECT_EXPORT_TYPE(VmbPacketSendWithExternalPfns, FN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS);
EXPECT_EXPORT_TYPE(VmbPacketSetCompletionRoutine, FN_VMB_PACKET_SET_COMPLETION_ROUTINE);
EXPECT_EXPORT_TYPE(VmbPacketSetPointer, FN_VMB_PACKET_SET_POINTER);
EXPECT_EXPORT_TYPE(VmbChannelMapGpadl, FN_VMB_CHANNEL_MAP_GPADL);
EXPECT_EXPORT_TYPE(VmbChannelRestoreFromBuffer, FN_VMB_CHANNEL_RESTORE_FROM_BUFFER);
EXPECT_EXPORT_TYPE(VmbChannelSaveBegin, FN_VMB_CHANNEL_SAVE_BEGIN);
EXPECT_EXPORT_TYPE(VmbChannelSaveContinue, FN_VMB_CHANNEL_SAVE_CONTINUE);
EXPECT_EXPORT_TYPE(VmbChannelSaveEnd, FN_VMB_CHANNEL_SAVE_END);
EXPECT_EXPORT_TYPE(VmbChannelUnmapGpadl, FN_VMB_CHANNEL_UNMAP_GPADL);
EXPECT_EXPORT_TYPE(VmbConvertVmbusHandleToKernelHandle,
                   FN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE);
EXPECT_EXPORT_TYPE(VmbPacketRestore, FN_VMB_PACKET_RESTORE);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetFlags, FN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetMmioMegabytes,
                   FN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetSaveRestorePacketCallbacks,
                   FN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetTargetInterfaceId,
                   FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetTargetVtl, FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL);
EXPECT_EXPORT_TYPE(VmbServerChannelInitSetVmbusHandle,
                   FN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE);

#undef EXPECT_EXPORT_TYPE

// A few function types spelled out against the spec's prototypes, so that a
// wrong FN_ typedef cannot hide behind a matching wrong declaration.
static_assert(std::is_same_v<FN_VMB_CHANNEL_ALLOCATE,
                             NTSTATUS(PDEVICE_OBJECT, BOOLEAN, VMBCHANNEL*)>);
static_assert(std::is_same_v<FN_VMB_PACKET_SEND,
                             NTSTATUS(VMBPACKET, PVOID, UINT32, PMDL, UINT32)>);
static_assert(std::is_same_v<FN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL,
                             NTSTATUS(VMBPACKET, PVOID, UINT32, PMDL, UINT32, UINT32, UINT32)>);
static_assert(std::is_same_v<FN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS,
                             NTSTATUS(VMBPACKET, PVOID, UINT32, PPFN_NUMBER, UINT32, UINT32)>);
static_assert(std::is_same_v<FN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST,
                             NTSTATUS(VMBCHANNEL, PVOID, UINT32, PMDL, UINT32, PVOID, PUINT32,
                                      PLARGE_INTEGER)>);
static_assert(std::is_same_v<FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID,
                             NTSTATUS(VMBCHANNEL, GUID, GUID)>,
              "GUIDs by value");
static_assert(std::is_same_v<FN_VMB_CHANNEL_SAVE_CONTINUE,
                             NTSTATUS(VMBCHANNEL, PVOID, ULONG, PULONG, PULONG)>);
static_assert(std::is_same_v<FN_VMB_CHANNEL_GET_MMIO_SPACE, VOID(VMBCHANNEL, UINT64*, UINT64*)>);
static_assert(std::is_same_v<FN_VMB_CHANNEL_SIZEOF_PACKET, UINT32(VMBCHANNEL)>);
static_assert(std::is_same_v<FN_VMB_PACKET_ALLOCATE, VMBPACKET(VMBCHANNEL)>);
static_assert(std::is_same_v<FN_VMB_PACKET_GET_CHANNEL, VMBCHANNEL(VMBPACKET)>);
static_assert(std::is_same_v<FN_VMB_CHANNEL_SET_INTERRUPT_LATENCY,
                             NTSTATUS(VMBCHANNEL, UINT16, PUINT16)>);

// ---- Callback types (spec §5): function types and their pointers. ----

static_assert(std::is_same_v<EVT_VMB_CHANNEL_OPENED, NTSTATUS(VMBCHANNEL)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_CLOSED, VOID(VMBCHANNEL)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_SUSPEND, VOID(VMBCHANNEL)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_STARTED, VOID(VMBCHANNEL)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_POST_STARTED, VOID(VMBCHANNEL)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_PROCESS_PACKET,
                             VOID(VMBCHANNEL, VMBPACKETCOMPLETION, PVOID, UINT32, UINT32)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_PROCESSING_COMPLETE, VOID(VMBCHANNEL, UINT32)>);
static_assert(std::is_same_v<EVT_VMB_PACKET_COMPLETION_ROUTINE,
                             VOID(VMBPACKET, NTSTATUS, PVOID, UINT32)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_SAVE_PACKET,
                             NTSTATUS(VMBCHANNEL, VMBPACKET, PVOID, UINT32, PUINT32)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_RESTORE_PACKET,
                             NTSTATUS(VMBCHANNEL, PVOID, UINT32, PVOID, UINT32)>);
static_assert(std::is_same_v<EVT_VMB_CHANNEL_PNP_FAILURE, VOID(VMBCHANNEL, NTSTATUS)>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_OPENED, EVT_VMB_CHANNEL_OPENED*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_CLOSED, EVT_VMB_CHANNEL_CLOSED*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_SUSPEND, EVT_VMB_CHANNEL_SUSPEND*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_STARTED, EVT_VMB_CHANNEL_STARTED*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_POST_STARTED, EVT_VMB_CHANNEL_POST_STARTED*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_PROCESS_PACKET, EVT_VMB_CHANNEL_PROCESS_PACKET*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_PROCESSING_COMPLETE,
                             EVT_VMB_CHANNEL_PROCESSING_COMPLETE*>);
static_assert(std::is_same_v<PFN_VMB_PACKET_COMPLETION_ROUTINE,
                             EVT_VMB_PACKET_COMPLETION_ROUTINE*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_SAVE_PACKET, EVT_VMB_CHANNEL_SAVE_PACKET*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_RESTORE_PACKET, EVT_VMB_CHANNEL_RESTORE_PACKET*>);
static_assert(std::is_same_v<PFN_VMB_CHANNEL_PNP_FAILURE, EVT_VMB_CHANNEL_PNP_FAILURE*>);

// ---- Handles: distinct, pointer-sized, not convertible into each other. ----

static_assert(std::is_pointer_v<VMBCHANNEL> && sizeof(VMBCHANNEL) == 8);
static_assert(!std::is_convertible_v<VMBCHANNEL, VMBPACKET>);
static_assert(!std::is_convertible_v<VMBPACKET, VMBPACKETCOMPLETION>);
static_assert(!std::is_convertible_v<VMBPACKETCOMPLETION, VMBCHANNEL>);

// ---- Table slots (spec §2.4, §2.5): x64 offset and PFN_ type of each. ----

struct Slot {
  const char* name;
  size_t offset;
  size_t expected_offset;
};

// Returns `offset` after checking, at compile time, that a member has the
// expected pointer type.
template <typename Expected, typename Actual>
constexpr size_t OffsetOfMemberTyped(size_t offset) {
  static_assert(std::is_same_v<Expected, Actual>, "table member has the wrong PFN_ type");
  return offset;
}

#define SLOT(table, member, pfn_type, expected)                                        \
  Slot {                                                                               \
    #member, OffsetOfMemberTyped<pfn_type, decltype(table::member)>(offsetof(table, member)), \
        expected                                                                       \
  }

TEST(KmclHeaderTest, ClientTableHasTheSpecsSizeAndSlotOffsets) {
  EXPECT_EQ(sizeof(KMCL_CLIENT_INTERFACE_V1), 360u);
  const Slot slots[] = {
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelAllocate, PFN_VMB_CHANNEL_ALLOCATE, 0x020),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelCleanup, PFN_VMB_CHANNEL_CLEANUP, 0x028),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelCreateGpadlFromBuffer,
           PFN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER, 0x030),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelCreateGpadlFromMdl,
           PFN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL, 0x038),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelDeleteGpadl, PFN_VMB_CHANNEL_DELETE_GPADL, 0x040),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelDisable, PFN_VMB_CHANNEL_DISABLE, 0x048),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelEnable, PFN_VMB_CHANNEL_ENABLE, 0x050),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelGetInterfaceInstance,
           PFN_VMB_CHANNEL_GET_INTERFACE_INSTANCE, 0x058),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelGetMmioSpace, PFN_VMB_CHANNEL_GET_MMIO_SPACE,
           0x060),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelGetPointer, PFN_VMB_CHANNEL_GET_POINTER, 0x068),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetClientContextSize,
           PFN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE, 0x070),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetFlags, PFN_VMB_CHANNEL_INIT_SET_FLAGS,
           0x078),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetFriendlyName,
           PFN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME, 0x080),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetMaximumExternalData,
           PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA, 0x088),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetMaximumPacketSize,
           PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE, 0x090),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetProcessPacketCallbacks,
           PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS, 0x098),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelInitSetStateChangeCallbacks,
           PFN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS, 0x0A0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelPacketComplete, PFN_VMB_CHANNEL_PACKET_COMPLETE,
           0x0A8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelPacketDeferToPassive,
           PFN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE, 0x0B0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelPacketFail, PFN_VMB_CHANNEL_PACKET_FAIL, 0x0B8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelPacketGetExternalData,
           PFN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA, 0x0C0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelPause, PFN_VMB_CHANNEL_PAUSE, 0x0C8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSendSynchronousRequest,
           PFN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST, 0x0D0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSetIncomingProcessingAtPassive,
           PFN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE, 0x0D8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSetInterruptLatency,
           PFN_VMB_CHANNEL_SET_INTERRUPT_LATENCY, 0x0E0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSetPointer, PFN_VMB_CHANNEL_SET_POINTER, 0x0E8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSetTransactionQuota,
           PFN_VMB_CHANNEL_SET_TRANSACTION_QUOTA, 0x0F0),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelSizeofPacket, PFN_VMB_CHANNEL_SIZEOF_PACKET,
           0x0F8),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbChannelStart, PFN_VMB_CHANNEL_START, 0x100),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbClientChannelInitSetRingBufferPageCount,
           PFN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT, 0x108),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbClientChannelInitSetTargetPnp,
           PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP, 0x110),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketAllocate, PFN_VMB_PACKET_ALLOCATE, 0x118),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketFree, PFN_VMB_PACKET_FREE, 0x120),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketGetChannel, PFN_VMB_PACKET_GET_CHANNEL, 0x128),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketGetPointer, PFN_VMB_PACKET_GET_POINTER, 0x130),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketInitialize, PFN_VMB_PACKET_INITIALIZE, 0x138),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketSend, PFN_VMB_PACKET_SEND, 0x140),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketSendWithExternalMdl,
           PFN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL, 0x148),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketSendWithExternalPfns,
           PFN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS, 0x150),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketSetCompletionRoutine,
           PFN_VMB_PACKET_SET_COMPLETION_ROUTINE, 0x158),
      SLOT(KMCL_CLIENT_INTERFACE_V1, VmbPacketSetPointer, PFN_VMB_PACKET_SET_POINTER, 0x160),
  };
  ASSERT_EQ(std::size(slots), 41u);
  for (const Slot& slot : slots) {
    EXPECT_EQ(slot.offset, slot.expected_offset) << slot.name;
  }
}

TEST(KmclHeaderTest, ServerTableIsClientTableThenServerOnlyMethods) {
  EXPECT_EQ(sizeof(KMCL_SERVER_ONLY_METHODS), 112u);
  EXPECT_EQ(sizeof(KMCL_SERVER_INTERFACE_V1), 472u);
  // The client part of the server table sits where it sits in the client
  // table, so a server table can be passed where a client table is expected.
  EXPECT_EQ(offsetof(KMCL_SERVER_INTERFACE_V1, VmbChannelAllocate), 0x020u);
  EXPECT_EQ(offsetof(KMCL_SERVER_INTERFACE_V1, VmbPacketSetPointer), 0x160u);
  const Slot slots[] = {
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelMapGpadl, PFN_VMB_CHANNEL_MAP_GPADL, 0x168),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelRestoreFromBuffer,
           PFN_VMB_CHANNEL_RESTORE_FROM_BUFFER, 0x170),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelSaveBegin, PFN_VMB_CHANNEL_SAVE_BEGIN, 0x178),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelSaveContinue, PFN_VMB_CHANNEL_SAVE_CONTINUE,
           0x180),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelSaveEnd, PFN_VMB_CHANNEL_SAVE_END, 0x188),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbChannelUnmapGpadl, PFN_VMB_CHANNEL_UNMAP_GPADL, 0x190),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbConvertVmbusHandleToKernelHandle,
           PFN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE, 0x198),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbPacketRestore, PFN_VMB_PACKET_RESTORE, 0x1A0),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetFlags,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS, 0x1A8),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetMmioMegabytes,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES, 0x1B0),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetSaveRestorePacketCallbacks,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS, 0x1B8),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetTargetInterfaceId,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID, 0x1C0),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetTargetVtl,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL, 0x1C8),
      SLOT(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetVmbusHandle,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE, 0x1D0),
  };
  ASSERT_EQ(std::size(slots), 14u);
  for (const Slot& slot : slots) {
    EXPECT_EQ(slot.offset, slot.expected_offset) << slot.name;
    // The stand-alone KMCL_SERVER_ONLY_METHODS has the same order from 0.
  }
  EXPECT_EQ(offsetof(KMCL_SERVER_ONLY_METHODS, VmbChannelMapGpadl), 0u);
  EXPECT_EQ(offsetof(KMCL_SERVER_ONLY_METHODS, VmbServerChannelInitSetVmbusHandle), 0x68u);
}

// V2-V5 have names only (spec §2.6); the offsets follow from packing the
// listed members after the previous version.
TEST(KmclHeaderTest, LaterTableVersionsExtendThePreviousOne) {
  EXPECT_EQ(sizeof(KMCL_CLIENT_INTERFACE_V2), 384u);
  EXPECT_EQ(sizeof(KMCL_CLIENT_INTERFACE_V3), 400u);
  EXPECT_EQ(sizeof(KMCL_CLIENT_INTERFACE_V4), 416u);
  EXPECT_EQ(sizeof(KMCL_CLIENT_INTERFACE_V5), 488u);
  EXPECT_EQ(sizeof(KMCL_SERVER_ONLY_METHODS_V5), 8u);
  EXPECT_EQ(sizeof(KMCL_SERVER_INTERFACE_V5), 600u);
  const Slot slots[] = {
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelPacketGetClientContext,
           PFN_VMB_CHANNEL_PACKET_GET_CLIENT_CONTEXT, 0x168),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelGetTargetDeviceObject,
           PFN_VMB_CHANNEL_GET_TARGET_DEVICE_OBJECT, 0x170),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelGetParentDeviceObject,
           PFN_VMB_CHANNEL_GET_PARENT_DEVICE_OBJECT, 0x178),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetBounceBufferSizes,
           PFN_VMB_CHANNEL_INIT_SET_BOUNCE_BUFFER_SIZES, 0x180),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelAllocateBounceBuffer,
           PFN_VMB_CHANNEL_ALLOCATE_BOUNCE_BUFFER, 0x188),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetMaximumPacketCount,
           PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_COUNT, 0x190),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelCreateGpadlFromPfnList,
           PFN_VMB_CHANNEL_CREATE_GPADL_FROM_PFN_LIST, 0x198),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetPrimaryChannel,
           PFN_VMB_CHANNEL_INIT_SET_PRIMARY_CHANNEL, 0x1A0),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitialize, PFN_VMB_CHANNEL_INITIALIZE, 0x1A8),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelSetAllowableDpcCpuUsage,
           PFN_VMB_CHANNEL_SET_ALLOWABLE_DPC_CPU_USAGE, 0x1B0),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbClientChannelInitSetTargetProcessorIndex,
           PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PROCESSOR_INDEX, 0x1B8),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbSizeofChannel, PFN_VMB_SIZEOF_CHANNEL, 0x1C0),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetInlinePacketContextSize,
           PFN_VMB_CHANNEL_INIT_SET_INLINE_PACKET_CONTEXT_SIZE, 0x1C8),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbPacketGetInlinePacketContextPointer,
           PFN_VMB_PACKET_GET_INLINE_PACKET_CONTEXT_POINTER, 0x1D0),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetProcessPacketCallbacksEx,
           PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS_EX, 0x1D8),
      SLOT(KMCL_CLIENT_INTERFACE_V5, VmbPacketSetCompletionRoutineEx,
           PFN_VMB_PACKET_SET_COMPLETION_ROUTINE_EX, 0x1E0),
      SLOT(KMCL_SERVER_INTERFACE_V5, VmbChannelMapGpadl, PFN_VMB_CHANNEL_MAP_GPADL, 0x1E8),
      SLOT(KMCL_SERVER_INTERFACE_V5, VmbServerChannelInitSetVmbusHandle,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE, 0x250),
      SLOT(KMCL_SERVER_ONLY_METHODS_V5, VmbServerChannelInitSetSaveRestorePacketCallbacksEx,
           PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS_EX, 0),
  };
  for (const Slot& slot : slots) {
    EXPECT_EQ(slot.offset, slot.expected_offset) << slot.name;
  }
  // Every version keeps the V1 slots where V1 has them.
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V2, VmbPacketSetPointer), 0x160u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V3, VmbChannelGetParentDeviceObject), 0x178u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V4, VmbChannelAllocateBounceBuffer), 0x188u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V5, VmbChannelCreateGpadlFromPfnList), 0x198u);
}

#undef SLOT

TEST(KmclHeaderTest, TablesStartWithAnInterfaceHeader) {
  EXPECT_EQ(sizeof(INTERFACE), 32u);
  EXPECT_EQ(offsetof(INTERFACE, Size), 0u);
  EXPECT_EQ(offsetof(INTERFACE, Version), 2u);
  EXPECT_EQ(offsetof(INTERFACE, Context), 8u);
  EXPECT_EQ(offsetof(INTERFACE, InterfaceReference), 16u);
  EXPECT_EQ(offsetof(INTERFACE, InterfaceDereference), 24u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V1, Size), 0u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V1, Version), 2u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V1, Context), 8u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V1, InterfaceReference), 16u);
  EXPECT_EQ(offsetof(KMCL_CLIENT_INTERFACE_V1, InterfaceDereference), 24u);
  EXPECT_EQ(offsetof(KMCL_SERVER_INTERFACE_V1, InterfaceDereference), 24u);
  static_assert(std::is_same_v<decltype(KMCL_CLIENT_INTERFACE_V1::Size), USHORT>);
  static_assert(std::is_same_v<decltype(KMCL_CLIENT_INTERFACE_V1::InterfaceDereference),
                               PINTERFACE_DEREFERENCE>);
  static_assert(std::is_same_v<PINTERFACE_REFERENCE, VOID (*)(PVOID)>);
  static_assert(std::is_standard_layout_v<KMCL_CLIENT_INTERFACE_V1> &&
                std::is_trivially_copyable_v<KMCL_CLIENT_INTERFACE_V1>);
}

TEST(KmclHeaderTest, StateChangeCallbacksLayoutAndInitializer) {
  EXPECT_EQ(sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS), 48u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, Version), 0u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, Size), 4u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelOpened), 8u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelClosed), 16u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelSuspend), 24u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelStarted), 32u);
  EXPECT_EQ(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelPostStarted), 40u);

  // The initializer overwrites whatever was there.
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  std::memset(&callbacks, 0xA5, sizeof(callbacks));
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  EXPECT_EQ(callbacks.Version, 1u);
  EXPECT_EQ(callbacks.Size, 48u);
  EXPECT_EQ(callbacks.EvtChannelOpened, nullptr);
  EXPECT_EQ(callbacks.EvtChannelClosed, nullptr);
  EXPECT_EQ(callbacks.EvtChannelSuspend, nullptr);
  EXPECT_EQ(callbacks.EvtChannelStarted, nullptr);
  EXPECT_EQ(callbacks.EvtChannelPostStarted, nullptr);
}

TEST(KmclHeaderTest, FlagValuesMatchTheSpec) {
  EXPECT_EQ(VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH, 0x2u);
  EXPECT_EQ(VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER, 0x4u);
  EXPECT_EQ(VMBUS_CHANNEL_FORMAT_FLAGS, 0x7u);
  EXPECT_EQ(VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_GPADL_FLAGS, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_GPADL_READ_ONLY, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_INIT_FLAG_IS_PIPE, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_INIT_FLAGS, 0x1u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER, 0x1u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE, 0x2u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE, 0x4u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL, 0x8u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER, 0x10u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAGS, 0x1Fu);
  EXPECT_EQ(VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_PROCESS_PACKET_FLAGS, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAG_READ_ONLY, 0x1u);
  EXPECT_EQ(VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAGS, 0x1u);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_MAXIMUM_OFFER_DATA, 120u);

  // Each mask is exactly the union of its flags.
  EXPECT_EQ(VMBUS_CHANNEL_FORMAT_FLAGS, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION |
                                            VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH |
                                            VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER);
  EXPECT_EQ(VMBUS_SERVER_CHANNEL_INIT_FLAGS,
            VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER |
                VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE |
                VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE |
                VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL |
                VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER);
}

TEST(KmclHeaderTest, VersionConstants) {
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_V1, 1);  // Observed in a real query.
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_V2, 2);
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_V3, 3);
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_V4, 4);
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_V5, 5);
  EXPECT_EQ(KMCL_CLIENT_INTERFACE_VERSION_LATEST, 1);  // Until vmbsim serves V2+.
  EXPECT_EQ(KMCL_SERVER_INTERFACE_VERSION_V1, 1);
  EXPECT_EQ(KMCL_SERVER_INTERFACE_VERSION_V5, 5);
}

// Scenario files and traces may name these GUIDs, so their values are pinned.
TEST(KmclHeaderTest, InterfaceTypeGuidsArePinnedAndDistinct) {
  constexpr GUID kClient = {
      0x00e7a94f, 0xbfa2, 0x4a3a, {0xa9, 0xf2, 0xee, 0xb0, 0x9d, 0xc6, 0xf0, 0x62}};
  constexpr GUID kServer = {
      0x443fd62b, 0x7099, 0x4a5d, {0xbb, 0x99, 0xb1, 0x24, 0x4b, 0x7f, 0x20, 0xae}};
  EXPECT_EQ(std::memcmp(&KMCL_CLIENT_INTERFACE_TYPE, &kClient, sizeof(GUID)), 0);
  EXPECT_EQ(std::memcmp(&KMCL_SERVER_INTERFACE_TYPE, &kServer, sizeof(GUID)), 0);
  EXPECT_NE(std::memcmp(&KMCL_CLIENT_INTERFACE_TYPE, &KMCL_SERVER_INTERFACE_TYPE, sizeof(GUID)),
            0);
  // Usable where WDF takes an LPCGUID.
  LPCGUID type = &KMCL_CLIENT_INTERFACE_TYPE;
  EXPECT_EQ(type->Data1, 0x00e7a94fu);
}

TEST(KmclHeaderTest, StatusValuesAreTheWindowsOnes) {
  EXPECT_EQ(STATUS_SUCCESS, static_cast<NTSTATUS>(0x00000000));
  EXPECT_EQ(STATUS_TIMEOUT, static_cast<NTSTATUS>(0x00000102));
  EXPECT_EQ(STATUS_PENDING, static_cast<NTSTATUS>(0x00000103));
  EXPECT_EQ(STATUS_BUFFER_OVERFLOW, static_cast<NTSTATUS>(0x80000005u));
  EXPECT_EQ(STATUS_UNSUCCESSFUL, static_cast<NTSTATUS>(0xC0000001u));
  EXPECT_EQ(STATUS_INVALID_HANDLE, static_cast<NTSTATUS>(0xC0000008u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER, static_cast<NTSTATUS>(0xC000000Du));
  EXPECT_EQ(STATUS_NO_SUCH_DEVICE, static_cast<NTSTATUS>(0xC000000Eu));
  EXPECT_EQ(STATUS_INVALID_DEVICE_REQUEST, static_cast<NTSTATUS>(0xC0000010u));
  EXPECT_EQ(STATUS_MORE_PROCESSING_REQUIRED, static_cast<NTSTATUS>(0xC0000016u));
  EXPECT_EQ(STATUS_ACCESS_DENIED, static_cast<NTSTATUS>(0xC0000022u));
  EXPECT_EQ(STATUS_BUFFER_TOO_SMALL, static_cast<NTSTATUS>(0xC0000023u));
  EXPECT_EQ(STATUS_REVISION_MISMATCH, static_cast<NTSTATUS>(0xC0000059u));
  EXPECT_EQ(STATUS_INSUFFICIENT_RESOURCES, static_cast<NTSTATUS>(0xC000009Au));
  EXPECT_EQ(STATUS_NOT_SUPPORTED, static_cast<NTSTATUS>(0xC00000BBu));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_1, static_cast<NTSTATUS>(0xC00000EFu));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_2, static_cast<NTSTATUS>(0xC00000F0u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_3, static_cast<NTSTATUS>(0xC00000F1u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_4, static_cast<NTSTATUS>(0xC00000F2u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_5, static_cast<NTSTATUS>(0xC00000F3u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_6, static_cast<NTSTATUS>(0xC00000F4u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_7, static_cast<NTSTATUS>(0xC00000F5u));
  EXPECT_EQ(STATUS_INVALID_PARAMETER_8, static_cast<NTSTATUS>(0xC00000F6u));
  EXPECT_EQ(STATUS_CANCELLED, static_cast<NTSTATUS>(0xC0000120u));
  EXPECT_EQ(STATUS_INVALID_DEVICE_STATE, static_cast<NTSTATUS>(0xC0000184u));
  EXPECT_EQ(STATUS_NOT_FOUND, static_cast<NTSTATUS>(0xC0000225u));
  EXPECT_EQ(STATUS_DEVICE_REMOVED, static_cast<NTSTATUS>(0xC00002B6u));

  // The constants have type NTSTATUS, a signed 32-bit integer.
  static_assert(std::is_same_v<decltype(STATUS_CANCELLED), NTSTATUS>);
  static_assert(std::is_same_v<NTSTATUS, int32_t>);

  // Success and informational codes succeed; warnings and errors do not.
  EXPECT_TRUE(NT_SUCCESS(STATUS_SUCCESS));
  EXPECT_TRUE(NT_SUCCESS(STATUS_PENDING));
  EXPECT_TRUE(NT_SUCCESS(STATUS_TIMEOUT));
  EXPECT_FALSE(NT_SUCCESS(STATUS_BUFFER_OVERFLOW));
  EXPECT_FALSE(NT_SUCCESS(STATUS_INVALID_PARAMETER_1));
  EXPECT_FALSE(NT_SUCCESS(STATUS_DEVICE_REMOVED));
}

TEST(KmclHeaderTest, WdkShimScalarTypesHaveWindowsWidths) {
  static_assert(std::is_same_v<UCHAR, uint8_t> && std::is_same_v<BOOLEAN, UCHAR>);
  static_assert(std::is_same_v<USHORT, uint16_t> && std::is_same_v<UINT16, uint16_t>);
  static_assert(std::is_same_v<CSHORT, int16_t>);
  static_assert(std::is_same_v<LONG, int32_t> && std::is_same_v<INT32, int32_t>);
  static_assert(std::is_same_v<ULONG, uint32_t> && std::is_same_v<UINT32, uint32_t>);
  static_assert(std::is_same_v<UINT8, uint8_t>);
  static_assert(std::is_same_v<ULONG64, uint64_t> && std::is_same_v<UINT64, uint64_t> &&
                std::is_same_v<ULONGLONG, uint64_t> && std::is_same_v<LONGLONG, int64_t>);
  static_assert(sizeof(ULONG_PTR) == 8 && sizeof(SIZE_T) == 8 && sizeof(PFN_NUMBER) == 8);
  static_assert(std::is_same_v<PSIZE_T, SIZE_T*> && std::is_same_v<PUCHAR, UCHAR*>);
  static_assert(std::is_same_v<PVOID, void*> && std::is_same_v<PCVOID, const void*>);
  static_assert(std::is_same_v<HANDLE, PVOID> && std::is_same_v<PHANDLE, HANDLE*>);
  static_assert(std::is_same_v<KIRQL, UCHAR>);
  static_assert(std::is_same_v<WCHAR, char16_t>, "UTF-16, not wchar_t");
  static_assert(std::is_same_v<PHYSICAL_ADDRESS, LARGE_INTEGER>);
  static_assert(std::is_same_v<REFGUID, const GUID&>);
  static_assert(std::is_same_v<LPCGUID, const GUID*> && std::is_same_v<LPGUID, GUID*>);
  static_assert(std::is_pointer_v<WDFDEVICE> && !std::is_convertible_v<WDFDEVICE, VMBCHANNEL>);
  EXPECT_EQ(TRUE, 1);
  EXPECT_EQ(FALSE, 0);
  EXPECT_EQ(PASSIVE_LEVEL, 0);
  EXPECT_EQ(APC_LEVEL, 1);
  EXPECT_EQ(DISPATCH_LEVEL, 2);
}

TEST(KmclHeaderTest, WdkShimStructLayouts) {
  EXPECT_EQ(sizeof(GUID), 16u);
  EXPECT_EQ(offsetof(GUID, Data2), 4u);
  EXPECT_EQ(offsetof(GUID, Data3), 6u);
  EXPECT_EQ(offsetof(GUID, Data4), 8u);

  EXPECT_EQ(sizeof(LARGE_INTEGER), 8u);
  EXPECT_EQ(offsetof(LARGE_INTEGER, QuadPart), 0u);
  EXPECT_EQ(offsetof(LARGE_INTEGER, u.HighPart), 4u);  // Little-endian halves.
  static_assert(std::is_same_v<decltype(LARGE_INTEGER::QuadPart), LONGLONG>);

  EXPECT_EQ(sizeof(UNICODE_STRING), 16u);
  EXPECT_EQ(offsetof(UNICODE_STRING, MaximumLength), 2u);
  EXPECT_EQ(offsetof(UNICODE_STRING, Buffer), 8u);
  char16_t name[] = u"Network";
  const UNICODE_STRING friendly_name = {sizeof(name) - sizeof(WCHAR), sizeof(name), name};
  EXPECT_EQ(friendly_name.Length, 14u);  // Bytes, without the terminator.

  EXPECT_EQ(sizeof(MDL), 48u);
  EXPECT_EQ(offsetof(MDL, Next), 0u);
  EXPECT_EQ(offsetof(MDL, Size), 8u);
  EXPECT_EQ(offsetof(MDL, MdlFlags), 10u);
  EXPECT_EQ(offsetof(MDL, Process), 16u);
  EXPECT_EQ(offsetof(MDL, MappedSystemVa), 24u);
  EXPECT_EQ(offsetof(MDL, StartVa), 32u);
  EXPECT_EQ(offsetof(MDL, ByteCount), 40u);
  EXPECT_EQ(offsetof(MDL, ByteOffset), 44u);
}

// The simulator builds MDLs as a header followed by the PFN array; the WDK
// accessors must find the pieces where it puts them.
TEST(KmclHeaderTest, MdlAccessorsReadTheSimulatorsLayout) {
  alignas(MDL) unsigned char storage[sizeof(MDL) + 2 * sizeof(PFN_NUMBER)] = {};
  PMDL mdl = reinterpret_cast<PMDL>(storage);
  mdl->Size = static_cast<CSHORT>(sizeof(storage));
  mdl->StartVa = reinterpret_cast<PVOID>(uintptr_t{0x7000});
  mdl->ByteOffset = 0x10;
  mdl->ByteCount = 0x1000;  // Spans two pages from offset 0x10.
  PPFN_NUMBER pfns = MmGetMdlPfnArray(mdl);
  pfns[0] = 0x1234;
  pfns[1] = 0x5678;
  EXPECT_EQ(reinterpret_cast<unsigned char*>(pfns), storage + sizeof(MDL));
  EXPECT_EQ(MmGetMdlByteCount(mdl), 0x1000u);
  EXPECT_EQ(MmGetMdlByteOffset(mdl), 0x10u);
  EXPECT_EQ(MmGetMdlVirtualAddress(mdl), reinterpret_cast<PVOID>(uintptr_t{0x7010}));
  EXPECT_EQ(MmGetMdlPfnArray(mdl)[1], 0x5678u);
}

// How a C++ driver uses the header: declare callbacks with the EVT_ types,
// fill the state-change set, and fill a table (as the runtime will) from
// noexcept functions of the FN_ types.
EVT_VMB_CHANNEL_OPENED DriverChannelOpened;
NTSTATUS DriverChannelOpened(VMBCHANNEL channel) {
  return channel == nullptr ? STATUS_INVALID_PARAMETER_1 : STATUS_SUCCESS;
}

VOID FakeChannelStart(VMBCHANNEL) noexcept {}

TEST(KmclHeaderTest, DriverStyleUseCompilesAndRuns) {
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  callbacks.EvtChannelOpened = DriverChannelOpened;
  EXPECT_EQ(callbacks.EvtChannelOpened(nullptr), STATUS_INVALID_PARAMETER_1);

  KMCL_CLIENT_INTERFACE_V1 table = {};
  table.VmbChannelStart = FakeChannelStart;
  table.VmbChannelStart(nullptr);
  PINTERFACE header = reinterpret_cast<PINTERFACE>(&table);
  header->Size = sizeof(KMCL_CLIENT_INTERFACE_V1);
  header->Version = KMCL_CLIENT_INTERFACE_VERSION_V1;
  EXPECT_EQ(table.Size, 0x168u);
  EXPECT_EQ(table.Version, 1u);
}

}  // namespace
