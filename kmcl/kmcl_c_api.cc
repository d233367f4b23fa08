// kmcl_c_api.cc
//
// The C boundary of the KMCL runtime: the 55 exported functions of
// vmbuskernelmodeclientlibapi.h, the two V1 interface tables that point at
// exactly those functions (FillKmclInterface, interface_tables.h), the
// VmbsimQueryInterface entry point, and the kernel routines wdk_shim.h
// declares (KeQueryInterruptTime, KeGetCurrentProcessorNumberEx,
// KeStallExecutionProcessor, MmGetSystemAddressForMdlSafe).
//
// Every function is a thunk (STYLE.md, "The KMCL C API boundary"): find the
// runtime (the device object's for VmbChannelAllocate and
// VmbsimQueryInterface, Runtime::Current() for the rest), check that output
// pointers are not NULL, call the one Runtime method, and map its result
// through ToNtStatus (ntstatus.h). Handle checks, contract checks and the
// findings they produce all live in the runtime.
//
// With no current runtime (driver code called outside any run), functions
// returning NTSTATUS return STATUS_INVALID_HANDLE (the Init setters
// STATUS_INVALID_PARAMETER_1, their code for a bad channel, G3), those returning a pointer
// return NULL (VmbChannelSizeofPacket 0), and VOID functions do nothing.
// Output parameters are written only on success, except where the contract
// says otherwise (VmbChannelSaveContinue, VmbChannelSendSynchronousRequest's
// size: the runtime writes those itself). A NULL output pointer gets
// STATUS_INVALID_PARAMETER_n for its position before the runtime is called.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kmcl/interface_tables.h"
#include "kmcl/ntstatus.h"
#include "kmcl/runtime.h"
#include "kmcl/vmbuskernelmodeclientlibapi.h"

using vmbsim::kmcl::Runtime;
using vmbsim::kmcl::ToNtStatus;

namespace {

// The runtime a vmbsim device object belongs to, or null for anything else.
Runtime* RuntimeOfDevice(PDEVICE_OBJECT device) {
  if (device == nullptr || device->magic != vmbsim::kmcl::kDeviceObjectMagic) return nullptr;
  return device->runtime;
}

}  // namespace

// ---- KMCL_CLIENT_INTERFACE_V1 --------------------------------------------

extern "C" NTSTATUS VmbChannelAllocate(PDEVICE_OBJECT ParentDeviceObject, BOOLEAN IsServer,
                                       VMBCHANNEL* Channel) noexcept {
  Runtime* runtime = RuntimeOfDevice(ParentDeviceObject);
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;
  if (Channel == nullptr) return STATUS_INVALID_PARAMETER_3;
  absl::StatusOr<VMBCHANNEL> channel = runtime->ChannelAllocate(ParentDeviceObject, IsServer);
  if (channel.ok()) *Channel = *channel;
  return ToNtStatus(channel.status());
}

extern "C" VOID VmbChannelCleanup(VMBCHANNEL Channel) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->ChannelCleanup(Channel);
}

extern "C" NTSTATUS VmbChannelCreateGpadlFromBuffer(VMBCHANNEL Channel, UINT32 Flags, PVOID Buffer,
                                                    UINT32 ByteCount,
                                                    PUINT32 GpadlHandle) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (GpadlHandle == nullptr) return STATUS_INVALID_PARAMETER_5;
  absl::StatusOr<uint32_t> gpadl = runtime->CreateGpadlFromBuffer(Channel, Flags, Buffer, ByteCount);
  if (gpadl.ok()) *GpadlHandle = *gpadl;
  return ToNtStatus(gpadl.status());
}

extern "C" NTSTATUS VmbChannelCreateGpadlFromMdl(VMBCHANNEL Channel, UINT32 Flags, PMDL Mdl,
                                                 UINT32 StartOffsetWithinMdl,
                                                 UINT32 DataLengthWithinMdl,
                                                 PUINT32 GpadlHandle) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (GpadlHandle == nullptr) return STATUS_INVALID_PARAMETER_6;
  absl::StatusOr<uint32_t> gpadl = runtime->CreateGpadlFromMdl(
      Channel, Flags, Mdl, StartOffsetWithinMdl, DataLengthWithinMdl);
  if (gpadl.ok()) *GpadlHandle = *gpadl;
  return ToNtStatus(gpadl.status());
}

extern "C" VOID VmbChannelDeleteGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->DeleteGpadl(Channel, GpadlHandle);
}

extern "C" VOID VmbChannelDisable(VMBCHANNEL Channel) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->ChannelDisable(Channel);
}

extern "C" NTSTATUS VmbChannelEnable(VMBCHANNEL Channel) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->ChannelEnable(Channel));
}

extern "C" VOID VmbChannelGetInterfaceInstance(VMBCHANNEL Channel,
                                               LPGUID InterfaceInstance) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr || InterfaceInstance == nullptr) return;
  absl::StatusOr<GUID> instance = runtime->GetInterfaceInstance(Channel);
  if (instance.ok()) *InterfaceInstance = *instance;
}

extern "C" VOID VmbChannelGetMmioSpace(VMBCHANNEL Channel, UINT64* MmioAddress,
                                       UINT64* MmioSize) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr || MmioAddress == nullptr || MmioSize == nullptr) return;
  uint64_t address = 0;
  uint64_t size = 0;
  if (!runtime->GetMmioSpace(Channel, &address, &size).ok()) return;
  *MmioAddress = address;
  *MmioSize = size;
}

extern "C" PVOID FASTCALL VmbChannelGetPointer(VMBCHANNEL Channel) noexcept {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? nullptr : runtime->ChannelGetPointer(Channel);
}

extern "C" NTSTATUS VmbChannelInitSetClientContextSize(VMBCHANNEL Channel,
                                                       UINT32 ContextSize) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetClientContextSize(Channel, ContextSize));
}

extern "C" NTSTATUS VmbChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetFlags(Channel, Flags));
}

extern "C" NTSTATUS VmbChannelInitSetFriendlyName(VMBCHANNEL Channel,
                                                  PCUNICODE_STRING Name) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetFriendlyName(Channel, Name));
}

extern "C" NTSTATUS VmbChannelInitSetMaximumExternalData(VMBCHANNEL Channel, UINT32 DataSize,
                                                         UINT32 ChainLength) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetMaximumExternalData(Channel, DataSize, ChainLength));
}

extern "C" NTSTATUS VmbChannelInitSetMaximumPacketSize(VMBCHANNEL Channel,
                                                       UINT32 PacketSize) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetMaximumPacketSize(Channel, PacketSize));
}

extern "C" NTSTATUS VmbChannelInitSetProcessPacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_PROCESS_PACKET ProcessPacketCallback,
    PFN_VMB_CHANNEL_PROCESSING_COMPLETE ProcessingCompleteCallback) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetProcessPacketCallbacks(Channel, ProcessPacketCallback,
                                                           ProcessingCompleteCallback));
}

extern "C" NTSTATUS VmbChannelInitSetStateChangeCallbacks(
    VMBCHANNEL Channel, PVMB_CHANNEL_STATE_CHANGE_CALLBACKS StateChangeCallbacks) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetStateChangeCallbacks(Channel, StateChangeCallbacks));
}

extern "C" VOID VmbChannelPacketComplete(VMBPACKETCOMPLETION PacketCompletionContext,
                                         PVOID PacketCompletionBuffer, UINT32 BufSize) noexcept {
  if (Runtime* runtime = Runtime::Current()) {
    runtime->PacketComplete(PacketCompletionContext, PacketCompletionBuffer, BufSize);
  }
}

extern "C" VOID FASTCALL
VmbChannelPacketDeferToPassive(VMBPACKETCOMPLETION PacketCompletionContext) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->PacketDeferToPassive(PacketCompletionContext);
}

extern "C" VOID FASTCALL VmbChannelPacketFail(VMBPACKETCOMPLETION PacketCompletionContext) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->PacketFail(PacketCompletionContext);
}

extern "C" NTSTATUS VmbChannelPacketGetExternalData(VMBPACKETCOMPLETION PacketCompletionContext,
                                                    UINT32 Flags, PMDL* Mdl) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (Mdl == nullptr) return STATUS_INVALID_PARAMETER_3;
  absl::StatusOr<PMDL> mdl = runtime->PacketGetExternalData(PacketCompletionContext, Flags);
  if (mdl.ok()) *Mdl = *mdl;
  return ToNtStatus(mdl.status());
}

extern "C" VOID VmbChannelPause(VMBCHANNEL Channel) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->ChannelPause(Channel);
}

extern "C" NTSTATUS VmbChannelSendSynchronousRequest(VMBCHANNEL Channel, PVOID Buffer,
                                                     UINT32 BufferSize, PMDL ExternalDataMdl,
                                                     UINT32 Flags, PVOID CompletionBuffer,
                                                     PUINT32 CompletionBufferSize,
                                                     PLARGE_INTEGER Timeout) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->SendSynchronousRequest(Channel, Buffer, BufferSize, ExternalDataMdl,
                                                    Flags, CompletionBuffer, CompletionBufferSize,
                                                    Timeout));
}

extern "C" VOID VmbChannelSetIncomingProcessingAtPassive(VMBCHANNEL Channel,
                                                         BOOLEAN RequirePassive) noexcept {
  if (Runtime* runtime = Runtime::Current()) {
    runtime->SetIncomingProcessingAtPassive(Channel, RequirePassive != FALSE);
  }
}

extern "C" NTSTATUS VmbChannelSetInterruptLatency(VMBCHANNEL Channel, UINT16 Latency,
                                                  PUINT16 OriginalLatency) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (OriginalLatency == nullptr) return STATUS_INVALID_PARAMETER_3;
  absl::StatusOr<uint16_t> original = runtime->SetInterruptLatency(Channel, Latency);
  if (original.ok()) *OriginalLatency = *original;
  return ToNtStatus(original.status());
}

extern "C" VOID FASTCALL VmbChannelSetPointer(VMBCHANNEL Channel, PVOID Pointer) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->ChannelSetPointer(Channel, Pointer);
}

extern "C" VOID VmbChannelSetTransactionQuota(VMBCHANNEL Channel, UINT32 Quota) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->SetTransactionQuota(Channel, Quota);
}

extern "C" UINT32 VmbChannelSizeofPacket(VMBCHANNEL Channel) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return 0;
  absl::StatusOr<uint32_t> size = runtime->SizeofPacket(Channel);
  return size.ok() ? *size : 0;
}

extern "C" VOID VmbChannelStart(VMBCHANNEL Channel) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->ChannelStart(Channel);
}

extern "C" NTSTATUS VmbClientChannelInitSetRingBufferPageCount(VMBCHANNEL Channel,
                                                               UINT32 IncomingPageCount,
                                                               UINT32 OutgoingPageCount) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(
      runtime->ClientInitSetRingBufferPageCount(Channel, IncomingPageCount, OutgoingPageCount));
}

extern "C" NTSTATUS VmbClientChannelInitSetTargetPnp(
    VMBCHANNEL Channel, LPCGUID InterfaceType, LPCGUID InterfaceInstance,
    PFN_VMB_CHANNEL_PNP_FAILURE PnpFailureCallback) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ClientInitSetTargetPnp(Channel, InterfaceType, InterfaceInstance,
                                                    PnpFailureCallback));
}

extern "C" VMBPACKET VmbPacketAllocate(VMBCHANNEL Channel) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return nullptr;
  absl::StatusOr<VMBPACKET> packet = runtime->PacketAllocate(Channel);
  return packet.ok() ? *packet : nullptr;
}

extern "C" VOID VmbPacketFree(VMBPACKET VmbPacket) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->PacketFree(VmbPacket);
}

extern "C" VMBCHANNEL FASTCALL VmbPacketGetChannel(VMBPACKET PacketObject) noexcept {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? nullptr : runtime->PacketGetChannel(PacketObject);
}

extern "C" PVOID FASTCALL VmbPacketGetPointer(VMBPACKET PacketObject) noexcept {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? nullptr : runtime->PacketGetPointer(PacketObject);
}

extern "C" NTSTATUS VmbPacketInitialize(VMBCHANNEL Channel, VMBPACKET VmbPacket,
                                        UINT32 ByteCount) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->PacketInitialize(Channel, VmbPacket, ByteCount));
}

extern "C" NTSTATUS VmbPacketSend(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                                  PMDL ExternalDataMdl, UINT32 Flags) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->PacketSend(PacketObject, Buffer, BufferLength, ExternalDataMdl, Flags));
}

extern "C" NTSTATUS VmbPacketSendWithExternalMdl(VMBPACKET PacketObject, PVOID Buffer,
                                                 UINT32 BufferLength, PMDL ExternalDataMdl,
                                                 UINT32 MdlOffset, UINT32 MdlLength,
                                                 UINT32 Flags) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->PacketSendWithExternalMdl(PacketObject, Buffer, BufferLength,
                                                       ExternalDataMdl, MdlOffset, MdlLength,
                                                       Flags));
}

extern "C" NTSTATUS VmbPacketSendWithExternalPfns(VMBPACKET PacketObject, PVOID Buffer,
                                                  UINT32 BufferLength,
                                                  PPFN_NUMBER ExternalDataPfns, UINT32 PfnLength,
                                                  UINT32 Flags) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->PacketSendWithExternalPfns(PacketObject, Buffer, BufferLength,
                                                        ExternalDataPfns, PfnLength, Flags));
}

extern "C" VOID VmbPacketSetCompletionRoutine(
    VMBPACKET PacketObject, PFN_VMB_PACKET_COMPLETION_ROUTINE CompletionRoutine) noexcept {
  if (Runtime* runtime = Runtime::Current()) {
    runtime->PacketSetCompletionRoutine(PacketObject, CompletionRoutine);
  }
}

extern "C" VOID FASTCALL VmbPacketSetPointer(VMBPACKET PacketObject, PVOID Pointer) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->PacketSetPointer(PacketObject, Pointer);
}

// ---- KMCL_SERVER_ONLY_METHODS --------------------------------------------

extern "C" NTSTATUS VmbChannelMapGpadl(VMBCHANNEL Channel, UINT32 Flags, UINT32 GpadlHandle,
                                       PMDL* Mdl) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (Mdl == nullptr) return STATUS_INVALID_PARAMETER_4;
  absl::StatusOr<PMDL> mdl = runtime->MapGpadl(Channel, Flags, GpadlHandle);
  if (mdl.ok()) *Mdl = *mdl;
  return ToNtStatus(mdl.status());
}

extern "C" NTSTATUS VmbChannelRestoreFromBuffer(VMBCHANNEL Channel, PVOID Buffer,
                                                ULONG BufferSize) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->RestoreFromBuffer(Channel, Buffer, BufferSize));
}

extern "C" NTSTATUS VmbChannelSaveBegin(VMBCHANNEL Channel) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->SaveBegin(Channel));
}

// The runtime writes *BytesFilled / *BytesRequired itself: the contract sets
// them on STATUS_BUFFER_OVERFLOW and STATUS_BUFFER_TOO_SMALL too.
extern "C" NTSTATUS VmbChannelSaveContinue(VMBCHANNEL Channel, PVOID SaveBuffer,
                                           ULONG SaveBufferSize, PULONG BytesFilled,
                                           PULONG BytesRequired) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (BytesFilled == nullptr) return STATUS_INVALID_PARAMETER_4;
  if (BytesRequired == nullptr) return STATUS_INVALID_PARAMETER_5;
  return ToNtStatus(
      runtime->SaveContinue(Channel, SaveBuffer, SaveBufferSize, BytesFilled, BytesRequired));
}

extern "C" VOID VmbChannelSaveEnd(VMBCHANNEL Channel) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->SaveEnd(Channel);
}

extern "C" VOID VmbChannelUnmapGpadl(VMBCHANNEL Channel, UINT32 GpadlHandle) noexcept {
  if (Runtime* runtime = Runtime::Current()) runtime->UnmapGpadl(Channel, GpadlHandle);
}

extern "C" NTSTATUS VmbConvertVmbusHandleToKernelHandle(HANDLE VmbusHandle,
                                                        PHANDLE KernelHandle) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  if (KernelHandle == nullptr) return STATUS_INVALID_PARAMETER_2;
  absl::StatusOr<HANDLE> handle = runtime->ConvertVmbusHandleToKernelHandle(VmbusHandle);
  if (handle.ok()) *KernelHandle = *handle;
  return ToNtStatus(handle.status());
}

extern "C" NTSTATUS VmbPacketRestore(VMBPACKET PacketObject, PVOID Buffer,
                                     ULONG BufferSize) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_HANDLE;
  return ToNtStatus(runtime->PacketRestore(PacketObject, Buffer, BufferSize));
}

extern "C" NTSTATUS VmbServerChannelInitSetFlags(VMBCHANNEL Channel, UINT32 Flags) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ServerInitSetFlags(Channel, Flags));
}

extern "C" NTSTATUS VmbServerChannelInitSetMmioMegabytes(VMBCHANNEL Channel, UINT16 MmioMegabytes,
                                                         UINT16 MmioMegabytesOptional) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(
      runtime->ServerInitSetMmioMegabytes(Channel, MmioMegabytes, MmioMegabytesOptional));
}

extern "C" NTSTATUS VmbServerChannelInitSetSaveRestorePacketCallbacks(
    VMBCHANNEL Channel, PFN_VMB_CHANNEL_SAVE_PACKET SavePacketCallback,
    PFN_VMB_CHANNEL_RESTORE_PACKET RestorePacketCallback) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ServerInitSetSaveRestorePacketCallbacks(Channel, SavePacketCallback,
                                                                     RestorePacketCallback));
}

extern "C" NTSTATUS VmbServerChannelInitSetTargetInterfaceId(VMBCHANNEL Channel,
                                                             GUID InterfaceType,
                                                             GUID InterfaceInstance) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(
      runtime->ServerInitSetTargetInterfaceId(Channel, InterfaceType, InterfaceInstance));
}

extern "C" NTSTATUS VmbServerChannelInitSetTargetVtl(VMBCHANNEL Channel, UINT8 TargetVtl) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ServerInitSetTargetVtl(Channel, TargetVtl));
}

extern "C" NTSTATUS VmbServerChannelInitSetVmbusHandle(VMBCHANNEL Channel,
                                                       HANDLE VmbusHandle) noexcept {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ServerInitSetVmbusHandle(Channel, VmbusHandle));
}

// ---- vmbsim additions ------------------------------------------------------

extern "C" NTSTATUS VmbsimQueryInterface(PDEVICE_OBJECT Device, LPCGUID InterfaceType,
                                         PINTERFACE Interface, USHORT Size, USHORT Version,
                                         PVOID InterfaceSpecificData) noexcept {
  if (InterfaceType == nullptr || Interface == nullptr) return STATUS_INVALID_PARAMETER;
  Runtime* runtime = RuntimeOfDevice(Device);
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER;
  return ToNtStatus(runtime->QueryInterface(InterfaceType, Interface, Size, Version));
}

// Declared in wdk_shim.h without noexcept (it is a WDK declaration, not a
// KMCL one), so it is defined without it too.
extern "C" ULONGLONG KeQueryInterruptTime(VOID) {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? 0 : runtime->Now100ns();
}

extern "C" ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber) {
  Runtime* runtime = Runtime::Current();
  const uint32_t vp = runtime == nullptr ? 0 : runtime->CurrentVpIndex();
  if (ProcNumber != nullptr) {
    ProcNumber->Group = 0;
    ProcNumber->Number = static_cast<UCHAR>(vp);
    ProcNumber->Reserved = 0;
  }
  return vp;
}

extern "C" VOID KeStallExecutionProcessor(ULONG MicroSeconds) {
  Runtime* runtime = Runtime::Current();
  if (runtime != nullptr) runtime->StallExecution(vmbsim::sim::SimDuration::Microseconds(MicroSeconds));
}

// Declared in wdk_shim.h (a WDK function), so without noexcept too. Outside
// a run there is no mapping to check: the MDL's own address answers.
extern "C" PVOID MmGetSystemAddressForMdlSafe(PMDL Mdl, ULONG Priority) {
  (void)Priority;  // vmbsim never runs out of system PTEs.
  if (Mdl == nullptr) return nullptr;
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return Runtime::MdlAddress(Mdl);
  return runtime->SystemAddressForMdl(Mdl);
}

// ---- The V1 interface tables ---------------------------------------------

namespace {

void KmclInterfaceReference(PVOID context) noexcept {
  if (context != nullptr) static_cast<Runtime*>(context)->InterfaceReference();
}

void KmclInterfaceDereference(PVOID context) noexcept {
  if (context != nullptr) static_cast<Runtime*>(context)->InterfaceDereference();
}

// The INTERFACE header (Context is set per query) and the 41 client methods,
// every member in declaration order. -Wmissing-field-initializers is an
// error around the tables, so a slot left out does not compile.
#define VMBSIM_KMCL_TABLE_HEADER_(table, version)              \
  .Size = sizeof(table), .Version = (version), .Context = nullptr, \
  .InterfaceReference = &KmclInterfaceReference,               \
  .InterfaceDereference = &KmclInterfaceDereference

#define VMBSIM_KMCL_CLIENT_V1_ENTRIES_                                                  \
  .VmbChannelAllocate = &::VmbChannelAllocate, .VmbChannelCleanup = &::VmbChannelCleanup, \
  .VmbChannelCreateGpadlFromBuffer = &::VmbChannelCreateGpadlFromBuffer,                \
  .VmbChannelCreateGpadlFromMdl = &::VmbChannelCreateGpadlFromMdl,                      \
  .VmbChannelDeleteGpadl = &::VmbChannelDeleteGpadl,                                    \
  .VmbChannelDisable = &::VmbChannelDisable, .VmbChannelEnable = &::VmbChannelEnable,   \
  .VmbChannelGetInterfaceInstance = &::VmbChannelGetInterfaceInstance,                  \
  .VmbChannelGetMmioSpace = &::VmbChannelGetMmioSpace,                                  \
  .VmbChannelGetPointer = &::VmbChannelGetPointer,                                      \
  .VmbChannelInitSetClientContextSize = &::VmbChannelInitSetClientContextSize,          \
  .VmbChannelInitSetFlags = &::VmbChannelInitSetFlags,                                  \
  .VmbChannelInitSetFriendlyName = &::VmbChannelInitSetFriendlyName,                    \
  .VmbChannelInitSetMaximumExternalData = &::VmbChannelInitSetMaximumExternalData,      \
  .VmbChannelInitSetMaximumPacketSize = &::VmbChannelInitSetMaximumPacketSize,          \
  .VmbChannelInitSetProcessPacketCallbacks = &::VmbChannelInitSetProcessPacketCallbacks, \
  .VmbChannelInitSetStateChangeCallbacks = &::VmbChannelInitSetStateChangeCallbacks,    \
  .VmbChannelPacketComplete = &::VmbChannelPacketComplete,                              \
  .VmbChannelPacketDeferToPassive = &::VmbChannelPacketDeferToPassive,                  \
  .VmbChannelPacketFail = &::VmbChannelPacketFail,                                      \
  .VmbChannelPacketGetExternalData = &::VmbChannelPacketGetExternalData,                \
  .VmbChannelPause = &::VmbChannelPause,                                                \
  .VmbChannelSendSynchronousRequest = &::VmbChannelSendSynchronousRequest,              \
  .VmbChannelSetIncomingProcessingAtPassive = &::VmbChannelSetIncomingProcessingAtPassive, \
  .VmbChannelSetInterruptLatency = &::VmbChannelSetInterruptLatency,                    \
  .VmbChannelSetPointer = &::VmbChannelSetPointer,                                      \
  .VmbChannelSetTransactionQuota = &::VmbChannelSetTransactionQuota,                    \
  .VmbChannelSizeofPacket = &::VmbChannelSizeofPacket,                                  \
  .VmbChannelStart = &::VmbChannelStart,                                                \
  .VmbClientChannelInitSetRingBufferPageCount = &::VmbClientChannelInitSetRingBufferPageCount, \
  .VmbClientChannelInitSetTargetPnp = &::VmbClientChannelInitSetTargetPnp,              \
  .VmbPacketAllocate = &::VmbPacketAllocate, .VmbPacketFree = &::VmbPacketFree,         \
  .VmbPacketGetChannel = &::VmbPacketGetChannel,                                        \
  .VmbPacketGetPointer = &::VmbPacketGetPointer,                                        \
  .VmbPacketInitialize = &::VmbPacketInitialize, .VmbPacketSend = &::VmbPacketSend,     \
  .VmbPacketSendWithExternalMdl = &::VmbPacketSendWithExternalMdl,                      \
  .VmbPacketSendWithExternalPfns = &::VmbPacketSendWithExternalPfns,                    \
  .VmbPacketSetCompletionRoutine = &::VmbPacketSetCompletionRoutine,                    \
  .VmbPacketSetPointer = &::VmbPacketSetPointer

#pragma GCC diagnostic push
#pragma GCC diagnostic error "-Wmissing-field-initializers"

constexpr KMCL_CLIENT_INTERFACE_V1 kClientInterfaceV1 = {
    VMBSIM_KMCL_TABLE_HEADER_(KMCL_CLIENT_INTERFACE_V1, KMCL_CLIENT_INTERFACE_VERSION_V1),
    VMBSIM_KMCL_CLIENT_V1_ENTRIES_,
};

constexpr KMCL_SERVER_INTERFACE_V1 kServerInterfaceV1 = {
    VMBSIM_KMCL_TABLE_HEADER_(KMCL_SERVER_INTERFACE_V1, KMCL_SERVER_INTERFACE_VERSION_V1),
    VMBSIM_KMCL_CLIENT_V1_ENTRIES_,
    .VmbChannelMapGpadl = &::VmbChannelMapGpadl,
    .VmbChannelRestoreFromBuffer = &::VmbChannelRestoreFromBuffer,
    .VmbChannelSaveBegin = &::VmbChannelSaveBegin,
    .VmbChannelSaveContinue = &::VmbChannelSaveContinue,
    .VmbChannelSaveEnd = &::VmbChannelSaveEnd,
    .VmbChannelUnmapGpadl = &::VmbChannelUnmapGpadl,
    .VmbConvertVmbusHandleToKernelHandle = &::VmbConvertVmbusHandleToKernelHandle,
    .VmbPacketRestore = &::VmbPacketRestore,
    .VmbServerChannelInitSetFlags = &::VmbServerChannelInitSetFlags,
    .VmbServerChannelInitSetMmioMegabytes = &::VmbServerChannelInitSetMmioMegabytes,
    .VmbServerChannelInitSetSaveRestorePacketCallbacks =
        &::VmbServerChannelInitSetSaveRestorePacketCallbacks,
    .VmbServerChannelInitSetTargetInterfaceId = &::VmbServerChannelInitSetTargetInterfaceId,
    .VmbServerChannelInitSetTargetVtl = &::VmbServerChannelInitSetTargetVtl,
    .VmbServerChannelInitSetVmbusHandle = &::VmbServerChannelInitSetVmbusHandle,
};

#pragma GCC diagnostic pop

// V2-V5 members vmbsim implements (G2: the contracts are vmbsim's reading of
// spec §6.11). They are reachable only through the V5 tables, as on Windows;
// every other V2-V5 member is NULL in the tables.
PVOID V2PacketGetClientContext(VMBPACKETCOMPLETION Packet) {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? nullptr : runtime->PacketGetClientContext(Packet);
}

PDEVICE_OBJECT V2GetParentDeviceObject(VMBCHANNEL Channel) {
  Runtime* runtime = Runtime::Current();
  return runtime == nullptr ? nullptr : runtime->ParentDeviceOf(Channel);
}

NTSTATUS V5InitSetPrimaryChannel(VMBCHANNEL SubChannel, VMBCHANNEL PrimaryChannel) {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->InitSetPrimaryChannel(SubChannel, PrimaryChannel));
}

NTSTATUS V5ClientInitSetTargetProcessorIndex(VMBCHANNEL Channel, ULONG ProcessorIndex) {
  Runtime* runtime = Runtime::Current();
  if (runtime == nullptr) return STATUS_INVALID_PARAMETER_1;  // G3: no runtime, no live channel.
  return ToNtStatus(runtime->ClientInitSetTargetProcessorIndex(Channel, ProcessorIndex));
}

template <typename Table>
constexpr Table WithV5Members(Table table) {
  table.VmbChannelPacketGetClientContext = &V2PacketGetClientContext;
  table.VmbChannelGetParentDeviceObject = &V2GetParentDeviceObject;
  table.VmbChannelInitSetPrimaryChannel = &V5InitSetPrimaryChannel;
  table.VmbClientChannelInitSetTargetProcessorIndex = &V5ClientInitSetTargetProcessorIndex;
  return table;
}

KMCL_CLIENT_INTERFACE_V5 MakeClientInterfaceV5() {
  KMCL_CLIENT_INTERFACE_V5 table = {};
  std::memcpy(&table, &kClientInterfaceV1, sizeof(kClientInterfaceV1));
  table.Size = sizeof(KMCL_CLIENT_INTERFACE_V5);
  table.Version = KMCL_CLIENT_INTERFACE_VERSION_V5;
  return WithV5Members(table);
}

KMCL_SERVER_INTERFACE_V5 MakeServerInterfaceV5() {
  KMCL_SERVER_INTERFACE_V5 table = {};
  std::memcpy(&table, &kClientInterfaceV1, sizeof(kClientInterfaceV1));
  table.Size = sizeof(KMCL_SERVER_INTERFACE_V5);
  table.Version = KMCL_SERVER_INTERFACE_VERSION_V5;
  table.VmbChannelMapGpadl = kServerInterfaceV1.VmbChannelMapGpadl;
  table.VmbChannelRestoreFromBuffer = kServerInterfaceV1.VmbChannelRestoreFromBuffer;
  table.VmbChannelSaveBegin = kServerInterfaceV1.VmbChannelSaveBegin;
  table.VmbChannelSaveContinue = kServerInterfaceV1.VmbChannelSaveContinue;
  table.VmbChannelSaveEnd = kServerInterfaceV1.VmbChannelSaveEnd;
  table.VmbChannelUnmapGpadl = kServerInterfaceV1.VmbChannelUnmapGpadl;
  table.VmbConvertVmbusHandleToKernelHandle = kServerInterfaceV1.VmbConvertVmbusHandleToKernelHandle;
  table.VmbPacketRestore = kServerInterfaceV1.VmbPacketRestore;
  table.VmbServerChannelInitSetFlags = kServerInterfaceV1.VmbServerChannelInitSetFlags;
  table.VmbServerChannelInitSetMmioMegabytes = kServerInterfaceV1.VmbServerChannelInitSetMmioMegabytes;
  table.VmbServerChannelInitSetSaveRestorePacketCallbacks =
      kServerInterfaceV1.VmbServerChannelInitSetSaveRestorePacketCallbacks;
  table.VmbServerChannelInitSetTargetInterfaceId = kServerInterfaceV1.VmbServerChannelInitSetTargetInterfaceId;
  table.VmbServerChannelInitSetTargetVtl = kServerInterfaceV1.VmbServerChannelInitSetTargetVtl;
  table.VmbServerChannelInitSetVmbusHandle = kServerInterfaceV1.VmbServerChannelInitSetVmbusHandle;
  return WithV5Members(table);
}

#undef VMBSIM_KMCL_TABLE_HEADER_
#undef VMBSIM_KMCL_CLIENT_V1_ENTRIES_

// Copies `table` into caller storage with Context = `runtime`.
template <typename Table>
size_t CopyTable(const Table& table, Runtime* runtime, void* out, size_t size) {
  if (out == nullptr || size < sizeof(Table)) return 0;
  Table filled = table;
  filled.Context = runtime;
  std::memcpy(out, &filled, sizeof(Table));
  return sizeof(Table);
}

}  // namespace

namespace vmbsim::kmcl {

size_t FillKmclInterface(bool server, Runtime* runtime, void* out, size_t size) {
  return server ? CopyTable(kServerInterfaceV1, runtime, out, size)
                : CopyTable(kClientInterfaceV1, runtime, out, size);
}

size_t FillKmclInterfaceV5(bool server, Runtime* runtime, void* out, size_t size) {
  static const KMCL_CLIENT_INTERFACE_V5 client = MakeClientInterfaceV5();
  static const KMCL_SERVER_INTERFACE_V5 server_table = MakeServerInterfaceV5();
  return server ? CopyTable(server_table, runtime, out, size) : CopyTable(client, runtime, out, size);
}

}  // namespace vmbsim::kmcl
