/* kmcl/vmbuskernelmodeclientlibapi.h
 *
 * The VMBus Kernel Mode Client Library (KMCL) API as vmbsim serves it to
 * simulated drivers: the opaque channel and packet handles, the callback types
 * a driver registers, the flag constants, the 55 public functions both as
 * plain C functions (the WDK 1709 "export" form, linked against vmbsim's
 * KMCL runtime) and as the function-pointer tables a driver obtains by PnP
 * query-interface (KMCL_CLIENT_INTERFACE_V1, KMCL_SERVER_INTERFACE_V1, and the
 * later V2-V5 layouts). Written for vmbsim from the public documentation as
 * summarised in shared/spec/kmcl-api.md ("the spec"); names, types,
 * signatures, constant values and table layouts are Microsoft's, so driver
 * source written against the WDK header compiles unchanged. The header is
 * C11 and C++20; it needs only wdk_shim.h (or real WDK headers, see there).
 *
 * Conventions, which every function below follows unless its comment says
 * otherwise:
 *   - Every handle (VMBCHANNEL, VMBPACKET, VMBPACKETCOMPLETION) is opaque. A
 *     stale, foreign or already-freed handle gets STATUS_INVALID_HANDLE (or is
 *     ignored by functions that return nothing) and a trace line, never
 *     undefined behaviour. The Init setters (Vmb*InitSet*) are the
 *     exception: their documented error for a bad channel handle is
 *     STATUS_INVALID_PARAMETER_1 (spec gap G3), and that is what they return.
 *   - Every function that can fail returns an NTSTATUS; NT_SUCCESS() tells
 *     success from failure.
 *   - Output parameters are written only when the function returns
 *     STATUS_SUCCESS.
 *   - Callbacks (state changes, packet processing, completion routines) are
 *     delivered later, as events of the simulator's event loop, never from
 *     inside the KMCL call that caused them. Calls that block on Windows
 *     (Disable, Pause, GPADL create/delete, waiting synchronous requests) run
 *     the event loop until their condition holds.
 *   - Each comment names the highest simulated IRQL a call is legal at:
 *     PASSIVE_LEVEL (a worker context that may block) or DISPATCH_LEVEL
 *     (either context; must not block).
 *   - "vmbsim (Gn)" marks a choice vmbsim makes where the public material is
 *     silent; Gn is the gap's id in the spec's §11.
 *
 * Left out on purpose: x86 (vmbsim is x64 only, so FASTCALL is empty), the
 * private host interface KMCL_PRIVATE_SERVER_INTERFACE_TYPE (a query for it
 * fails with STATUS_NOT_SUPPORTED), and VmbChannelPacketDeferUntilPolled,
 * which no public source documents. The V2-V5 tables are declared so that
 * drivers compile, but their members' contracts are not public; vmbsim serves
 * V1 only unless a scenario enables more.
 */
#ifndef VMBSIM_KMCL_VMBUSKERNELMODECLIENTLIBAPI_H_
#define VMBSIM_KMCL_VMBUSKERNELMODECLIENTLIBAPI_H_

#include <stddef.h>

#include "wdk_shim.h"

/* The exported functions are declared noexcept in C++ so that vmbsim's
   `extern "C" ... noexcept` definitions match them; a noexcept function still
   converts to the plain PFN_ pointer types. */
#ifdef __cplusplus
#define VMBSIM_KMCL_NOEXCEPT noexcept
#else
#define VMBSIM_KMCL_NOEXCEPT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Handles (spec §3.1) ================================================= */

/* A channel object, from VmbChannelAllocate until VmbChannelCleanup. */
DECLARE_HANDLE(VMBCHANNEL);

/* An outgoing packet object. From VmbPacketAllocate it is KMCL's storage;
   from VmbPacketInitialize it is the caller's buffer itself, which vmbsim
   never frees. */
DECLARE_HANDLE(VMBPACKET);

/* One received packet, from its delivery to EvtVmbChannelProcessPacket until
   VmbChannelPacketComplete (or VmbChannelPacketFail). Re-deliveries of the
   same packet carry the same handle. */
DECLARE_HANDLE(VMBPACKETCOMPLETION);

/* ==== Flags and constants (spec §4) ======================================= */

/* Flags of VmbPacketSend, VmbPacketSendWithExternalMdl,
   VmbPacketSendWithExternalPfns and VmbChannelSendSynchronousRequest. */
/* The transaction completes only when the peer sends its completion packet,
   whose payload reaches the completion routine. */
#define VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION 0x00000001u
/* Take the external-data length from MdlLength even beyond the MDL's
   ByteCount (up to the end of its last page); only the first MDL counts. */
#define VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH 0x00000002u
/* The in-band buffer is pageable: the call must be made at PASSIVE_LEVEL and
   KMCL copies the buffer before anything runs at DISPATCH_LEVEL. */
#define VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER 0x00000004u
#define VMBUS_CHANNEL_FORMAT_FLAGS 0x00000007u /* Mask of the three above. */

/* Flags of VmbChannelCreateGpadlFrom* and VmbChannelMapGpadl. */
#define VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY 0x00000001u
#define VMBUS_CHANNEL_GPADL_FLAGS 0x00000001u
/* The spelling the GPADL-creation documentation uses; not defined by the WDK
   header, kept as an alias so that code following the documentation builds. */
#define VMBUS_CHANNEL_GPADL_READ_ONLY VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY

/* Flags of VmbChannelInitSetFlags (either endpoint). */
/* vmbsim (G13): pipe mode is not modelled; Enable fails with
   STATUS_NOT_SUPPORTED. */
#define VMBUS_CHANNEL_INIT_FLAG_IS_PIPE 0x00000001u
#define VMBUS_CHANNEL_INIT_FLAGS 0x00000001u

/* Flags of VmbServerChannelInitSetFlags. KMCL's own bit numbers: they are
   translated, not copied, into the offer's channel flags (spec §4.4). */
/* Offer to the host's own partition; vmbsim (G27): needs no VMBus handle. */
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_LOOPBACK_OFFER 0x00000001u
/* Guest PnP also exposes a device interface of the channel's type GUID. */
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE 0x00000002u
/* Offer in pipe mode; vmbsim (G13): Enable fails with STATUS_NOT_SUPPORTED. */
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE 0x00000004u
/* After a VM restore, re-offer a fresh channel instead of the saved one. */
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL 0x00000008u
/* The channel provides a socket (hvsock) interface; vmbsim (G27): not
   modelled, Enable fails with STATUS_NOT_SUPPORTED. */
#define VMBUS_SERVER_CHANNEL_INIT_FLAG_TLNPI_PROVIDER_OFFER 0x00000010u
#define VMBUS_SERVER_CHANNEL_INIT_FLAGS 0x0000001Fu

/* Flags passed to EvtVmbChannelProcessPacket. */
/* The packet carries external data; fetch it with
   VmbChannelPacketGetExternalData. */
#define VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA 0x00000001u
#define VMBUS_CHANNEL_PROCESS_PACKET_FLAGS 0x00000001u

/* Flags of VmbChannelPacketGetExternalData. */
#define VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAG_READ_ONLY 0x00000001u
#define VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAGS 0x00000001u

/* Most bytes of offer "extra data" a server may supply; no V1 function takes
   such data. */
#define VMBUS_SERVER_CHANNEL_INIT_MAXIMUM_OFFER_DATA 120u

/* ==== Callback types (spec §5) ============================================ */
/* Each callback is a function type EVT_... (drivers declare their functions
   with it) and a pointer type PFN_... . */

/* The channel has been opened: on a server, the guest opened the offer; on a
   client, its own open succeeded. Packets sent before this were queued, not
   transmitted. The driver may create long-lived GPADLs from here on. A
   failure status rolls the open back; vmbsim (G8): a client closes the wire
   channel and stays Enabled, reporting through its PnP-failure callback; a
   server rejects the open and keeps its offer. */
typedef _Function_class_(EVT_VMB_CHANNEL_OPENED) _IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EVT_VMB_CHANNEL_OPENED(_In_ VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_OPENED* PFN_VMB_CHANNEL_OPENED;

/* An open channel has closed: local VmbChannelDisable, guest close (server),
   or host rescind (client). The driver must delete every GPADL it created
   before returning. Afterwards a client channel is Disabled and needs
   VmbChannelEnable again; vmbsim (G26) never reattaches it on its own. */
typedef _Function_class_(EVT_VMB_CHANNEL_CLOSED) _IRQL_requires_(PASSIVE_LEVEL)
VOID EVT_VMB_CHANNEL_CLOSED(_In_ VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_CLOSED* PFN_VMB_CHANNEL_CLOSED;

/* A running channel stops (Pause, Disable, or the peer's close). No
   ProcessPacket call runs or is queued from here until the next
   EvtChannelStarted. The driver must stop sending and must eventually
   complete every packet it was handed; the Pause or Disable that caused this
   waits for those completions. A server must retire its own outstanding
   transactions: the guest may never complete them. */
typedef _Function_class_(EVT_VMB_CHANNEL_SUSPEND) _IRQL_requires_(PASSIVE_LEVEL)
VOID EVT_VMB_CHANNEL_SUSPEND(_In_ VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_SUSPEND* PFN_VMB_CHANNEL_SUSPEND;

/* The channel is open and about to run, before any packet is delivered;
   always after EvtChannelOpened in the same transition. The driver may send
   here but must not wait for the peer (the incoming queue is not running, so
   a waiting VmbChannelSendSynchronousRequest would never return). */
typedef _Function_class_(EVT_VMB_CHANNEL_STARTED) _IRQL_requires_(PASSIVE_LEVEL)
VOID EVT_VMB_CHANNEL_STARTED(_In_ VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_STARTED* PFN_VMB_CHANNEL_STARTED;

/* The incoming queue has been enabled; blocking on the peer is allowed here
   (the intended place for version negotiation). vmbsim (G5): this runs as a
   separate PASSIVE event after the queue is enabled, so ProcessPacket may run
   before it. */
typedef _Function_class_(EVT_VMB_CHANNEL_POST_STARTED) _IRQL_requires_(PASSIVE_LEVEL)
VOID EVT_VMB_CHANNEL_POST_STARTED(_In_ VMBCHANNEL Channel);
typedef EVT_VMB_CHANNEL_POST_STARTED* PFN_VMB_CHANNEL_POST_STARTED;

/* One received packet: Buffer[0..BufferLength) is its payload only (packet
   descriptor and KMCL header stripped); Flags is a set of
   VMBUS_CHANNEL_PROCESS_PACKET_FLAG_*. For every call the driver must
   eventually call VmbChannelPacketComplete (now or later), or
   VmbChannelPacketFail, or VmbChannelPacketDeferToPassive inline. Runs at
   DISPATCH_LEVEL or PASSIVE_LEVEL, or always PASSIVE_LEVEL after
   VmbChannelSetIncomingProcessingAtPassive(Channel, TRUE). vmbsim (G22): at
   most one call per channel at a time, in ring order. */
typedef _Function_class_(EVT_VMB_CHANNEL_PROCESS_PACKET) _IRQL_requires_max_(DISPATCH_LEVEL)
VOID EVT_VMB_CHANNEL_PROCESS_PACKET(_In_ VMBCHANNEL Channel,
                                    _In_ VMBPACKETCOMPLETION Packet,
                                    _In_reads_bytes_(BufferLength) PVOID Buffer,
                                    _In_ UINT32 BufferLength,
                                    _In_ UINT32 Flags);
typedef EVT_VMB_CHANNEL_PROCESS_PACKET* PFN_VMB_CHANNEL_PROCESS_PACKET;

/* A batch of ProcessPacket calls has ended; PacketsProcessed is the batch's
   size. Same context as ProcessPacket, right after its last call. vmbsim
   (G22): a batch ends when the ring is empty, when the transaction quota is
   reached, or at the configured batch cap, and this fires in all three
   cases. */
typedef _Function_class_(EVT_VMB_CHANNEL_PROCESSING_COMPLETE)
    _IRQL_requires_max_(DISPATCH_LEVEL)
VOID EVT_VMB_CHANNEL_PROCESSING_COMPLETE(_In_ VMBCHANNEL Channel,
                                         _In_ UINT32 PacketsProcessed);
typedef EVT_VMB_CHANNEL_PROCESSING_COMPLETE* PFN_VMB_CHANNEL_PROCESSING_COMPLETE;

/* The transaction of a sent packet is over. With
   VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION: the peer's completion
   arrived and Buffer[0..BufferLength) is its payload (possibly empty).
   Without it: the packet is in the outgoing ring and Buffer is NULL. The
   packet may be freed or reused from here on. vmbsim (G9): Status is
   STATUS_SUCCESS normally, STATUS_CANCELLED for a timeout or local Disable,
   STATUS_DEVICE_REMOVED for a rescind. Runs at DISPATCH_LEVEL. */
typedef _Function_class_(EVT_VMB_PACKET_COMPLETION_ROUTINE)
    _IRQL_requires_max_(DISPATCH_LEVEL)
VOID EVT_VMB_PACKET_COMPLETION_ROUTINE(_In_ VMBPACKET Packet,
                                       _In_ NTSTATUS Status,
                                       _In_reads_bytes_opt_(BufferLength) PVOID Buffer,
                                       _In_ UINT32 BufferLength);
typedef EVT_VMB_PACKET_COMPLETION_ROUTINE* PFN_VMB_PACKET_COMPLETION_ROUTINE;

/* Server save: called once per packet object in use, to save the driver's
   own per-transaction state. First call has SaveBufSize 0; a driver with
   state fails it and reports the size it needs in *BytesNeeded, and is
   called again with a buffer that large. vmbsim (G12): success on the first
   call means "nothing to save". */
typedef _Function_class_(EVT_VMB_CHANNEL_SAVE_PACKET) _IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EVT_VMB_CHANNEL_SAVE_PACKET(_In_ VMBCHANNEL Channel,
                                     _In_ VMBPACKET Packet,
                                     _Out_writes_bytes_(SaveBufSize) PVOID SaveBuf,
                                     _In_ UINT32 SaveBufSize,
                                     _Out_ PUINT32 BytesNeeded);
typedef EVT_VMB_CHANNEL_SAVE_PACKET* PFN_VMB_CHANNEL_SAVE_PACKET;

/* Server restore: called once per saved packet during
   VmbChannelRestoreFromBuffer. The driver allocates a packet, hands
   LibBuf[0..LibBufSize) to VmbPacketRestore, and restores its own state from
   SaveBuf[0..SaveBufSize) (what its save callback wrote). */
typedef _Function_class_(EVT_VMB_CHANNEL_RESTORE_PACKET) _IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS EVT_VMB_CHANNEL_RESTORE_PACKET(_In_ VMBCHANNEL Channel,
                                        _In_reads_bytes_(LibBufSize) PVOID LibBuf,
                                        _In_ UINT32 LibBufSize,
                                        _In_reads_bytes_(SaveBufSize) PVOID SaveBuf,
                                        _In_ UINT32 SaveBufSize);
typedef EVT_VMB_CHANNEL_RESTORE_PACKET* PFN_VMB_CHANNEL_RESTORE_PACKET;

/* Client: the connection failed asynchronously although the matching VMBus
   device was found (registered by VmbClientChannelInitSetTargetPnp). */
typedef _Function_class_(EVT_VMB_CHANNEL_PNP_FAILURE) _IRQL_requires_(PASSIVE_LEVEL)
VOID EVT_VMB_CHANNEL_PNP_FAILURE(_In_ VMBCHANNEL Channel, _In_ NTSTATUS FailureStatus);
typedef EVT_VMB_CHANNEL_PNP_FAILURE* PFN_VMB_CHANNEL_PNP_FAILURE;

/* ==== State-change callback set (spec §3.4) =============================== */

/* Every member is optional; a NULL one behaves as a no-op (a NULL
   EvtChannelOpened as "return STATUS_SUCCESS"). VmbChannelInitSetStateChange-
   Callbacks copies the structure, so it may live on the caller's stack. */
typedef struct _VMB_CHANNEL_STATE_CHANGE_CALLBACKS {
  ULONG Version; /* 1, the only version. */
  ULONG Size;    /* sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS): 48 on x64. */
  PFN_VMB_CHANNEL_OPENED EvtChannelOpened;
  PFN_VMB_CHANNEL_CLOSED EvtChannelClosed;
  PFN_VMB_CHANNEL_SUSPEND EvtChannelSuspend;
  PFN_VMB_CHANNEL_STARTED EvtChannelStarted;
  PFN_VMB_CHANNEL_POST_STARTED EvtChannelPostStarted;
} VMB_CHANNEL_STATE_CHANGE_CALLBACKS, *PVMB_CHANNEL_STATE_CHANGE_CALLBACKS;

/* Sets *Callbacks to version 1, its own size, and no callbacks. */
FORCEINLINE VOID VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(
    _Out_ PVMB_CHANNEL_STATE_CHANGE_CALLBACKS Callbacks) {
  /* Spelled per language so that neither warns under its strictest flags
     (old-style casts, 0 as a null pointer). */
#ifdef __cplusplus
  *Callbacks = VMB_CHANNEL_STATE_CHANGE_CALLBACKS{};
  Callbacks->Size = static_cast<ULONG>(sizeof(*Callbacks));
#else
  static const VMB_CHANNEL_STATE_CHANGE_CALLBACKS kNoCallbacks;
  *Callbacks = kNoCallbacks;
  Callbacks->Size = (ULONG)sizeof(*Callbacks);
#endif
  Callbacks->Version = 1;
}

/* ==== Function types (spec §6) ============================================ */
/* FN_X is the function type and PFN_X the pointer type that the interface
   tables hold. The same functions are also declared by name at the end of
   this file.

   Channel states, per endpoint (spec §7): Disabled -> Enable -> Enabled ->
   (peer opens) -> Open, which is Paused or Active; Disable returns to
   Disabled. vmbsim (G3): every Init* setter is legal only while the channel
   is Disabled (before the first Enable and again after Disable has
   returned); otherwise, or for a bad handle, it returns
   STATUS_INVALID_PARAMETER_1. Setters of one endpoint called on a channel of
   the other endpoint also return STATUS_INVALID_PARAMETER_1. */

/* ---- Channel object lifetime (spec §6.1) ---- */

/* Creates a channel object for the client (IsServer FALSE, guest) or server
   (IsServer TRUE, host) end, Disabled and with default settings. On success
   writes *Channel; release it with VmbChannelCleanup. Fails with e.g.
   STATUS_INSUFFICIENT_RESOURCES. PASSIVE_LEVEL. vmbsim (G4): a client
   channel that never calls VmbClientChannelInitSetTargetPnp binds to the
   VMBus device under ParentDeviceObject. */
typedef _IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS FN_VMB_CHANNEL_ALLOCATE(_In_ PDEVICE_OBJECT ParentDeviceObject,
                                 _In_ BOOLEAN IsServer,
                                 _Out_ _At_(*Channel, __drv_allocatesMem(Mem))
                                     VMBCHANNEL* Channel);
typedef FN_VMB_CHANNEL_ALLOCATE* PFN_VMB_CHANNEL_ALLOCATE;

/* Disposes of a channel object; the channel must be Disabled (calling it on
   an enabled channel is a driver bug, recorded as a contract violation).
   PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_CLEANUP(_In_ __drv_freesMem(Mem) VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_CLEANUP* PFN_VMB_CHANNEL_CLEANUP;

/* Connects the Disabled channel to VMBus: a server posts its offer; a client
   opens a matching offer or waits for one. Returns as soon as the offer is
   posted or the wait armed; the open is reported later by EvtChannelOpened.
   On a client it also sets the channel to run (unless VmbChannelPause was
   called while Disabled). A failure leaves the channel Disabled. vmbsim: a
   channel without a ProcessPacket callback fails with
   STATUS_INVALID_DEVICE_STATE. PASSIVE_LEVEL. */
typedef _Must_inspect_result_
NTSTATUS FN_VMB_CHANNEL_ENABLE(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_ENABLE* PFN_VMB_CHANNEL_ENABLE;

/* Client: closes the channel. Server: rescinds the offer. Blocks until the
   channel is Disabled: EvtChannelSuspend (if running), wait for every
   delivered packet to be completed, EvtChannelClosed (if open), wire
   teardown. A no-op on a Disabled channel. Not from a state-change callback.
   vmbsim (G6): packets queued but never transmitted complete with
   STATUS_CANCELLED. PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_DISABLE(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_DISABLE* PFN_VMB_CHANNEL_DISABLE;

/* Lets the channel run: if it is open, EvtChannelStarted, then the incoming
   queue is enabled, then EvtChannelPostStarted; if not yet open, it starts
   when it opens. Servers must call it; on clients Enable implies it and a
   redundant call is a no-op. Legal between Enable and Disable, not from a
   state-change callback. vmbsim (G5): returns after EvtChannelStarted has
   returned and the queue is enabled; PostStarted follows as its own event.
   PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_START(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_START* PFN_VMB_CHANNEL_START;

/* Stops the channel running: EvtChannelSuspend, then waits until every
   delivered packet is completed. Called while Disabled, it makes the next
   Enable leave the channel paused. Not from a state-change callback. vmbsim
   (G6): waits for incoming completions only, not for sent transactions.
   PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_PAUSE(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_PAUSE* PFN_VMB_CHANNEL_PAUSE;

/* ---- Configuration, either endpoint (spec §6.2) ---- */

/* Declares the largest in-band payload VmbPacketSend will ever be given;
   rings and packet objects are sized from it. STATUS_INVALID_PARAMETER_2 if
   PacketSize is 0. vmbsim (G10): 4096 when never called. PASSIVE_LEVEL,
   Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE(
    _In_ VMBCHANNEL Channel, _In_range_(>, 0) UINT32 PacketSize);
typedef FN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE* PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE;

/* Declares the largest external-data buffer (DataSize bytes) and the
   longest MDL chain (ChainLength) one packet may reference, so that the
   rings fit the descriptors. STATUS_INVALID_PARAMETER_2 / _3 for a zero
   DataSize / ChainLength. vmbsim: sends beyond these limits fail with
   STATUS_INVALID_PARAMETER. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA(
    _In_ VMBCHANNEL Channel, _In_range_(>, 0) UINT32 DataSize,
    _In_range_(>, 0) UINT32 ChainLength);
typedef FN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA*
    PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA;

/* Reserves ContextSize bytes of driver context with each received packet
   (read through the V2 VmbChannelPacketGetClientContext). vmbsim (G11):
   zero-filled at each delivery, valid until the packet is completed.
   PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE(_In_ VMBCHANNEL Channel,
                                                             _In_ UINT32 ContextSize);
typedef FN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE* PFN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE;

/* Installs the per-packet callback (required) and the end-of-batch callback
   (optional, may be NULL). PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS(
    _In_ VMBCHANNEL Channel, _In_ PFN_VMB_CHANNEL_PROCESS_PACKET ProcessPacketCallback,
    _In_opt_ PFN_VMB_CHANNEL_PROCESSING_COMPLETE ProcessingCompleteCallback);
typedef FN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS*
    PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS;

/* Copies the state-change callbacks. STATUS_INVALID_PARAMETER_2 unless
   Version is 1 and Size is sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS).
   PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS(
    _In_ VMBCHANNEL Channel, _In_ PVMB_CHANNEL_STATE_CHANGE_CALLBACKS StateChangeCallbacks);
typedef FN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS*
    PFN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS;

/* Names the channel for traces ("Network", "SCSI"). The string is copied.
   Real callers ignore the result, so a well-formed string never fails.
   PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME(_In_ VMBCHANNEL Channel,
                                                       _In_ PCUNICODE_STRING Name);
typedef FN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME* PFN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME;

/* Sets the VMBUS_CHANNEL_INIT_FLAG_* mode flags; STATUS_INVALID_PARAMETER_2
   for bits outside VMBUS_CHANNEL_INIT_FLAGS. vmbsim: the call replaces the
   previous flags. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_FLAGS(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags);
typedef FN_VMB_CHANNEL_INIT_SET_FLAGS* PFN_VMB_CHANNEL_INIT_SET_FLAGS;

/* TRUE: ProcessPacket and ProcessingComplete always run at PASSIVE_LEVEL.
   FALSE (the default): at DISPATCH_LEVEL or PASSIVE_LEVEL. vmbsim (G7):
   legal in any state and applied from the next batch. PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE(_In_ VMBCHANNEL Channel,
                                                               _In_ BOOLEAN RequirePassive);
typedef FN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE*
    PFN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE;

/* Sets the most received packets that may be delivered and not yet
   completed (Quota > 0). Lowering it below the current count stops delivery
   until completions catch up; changing it never restarts a stalled queue,
   only a completion does. vmbsim (G7): default unlimited on clients and 256
   on servers (configurable); a zero quota is a contract violation and is
   ignored. DISPATCH_LEVEL, any state. */
typedef VOID FN_VMB_CHANNEL_SET_TRANSACTION_QUOTA(_In_ VMBCHANNEL Channel, _In_ UINT32 Quota);
typedef FN_VMB_CHANNEL_SET_TRANSACTION_QUOTA* PFN_VMB_CHANNEL_SET_TRANSACTION_QUOTA;

/* Stores one driver pointer in the channel (initially NULL). DISPATCH_LEVEL,
   any state. FASTCALL as in the WDK (spec G14; empty on x64). */
typedef VOID FASTCALL FN_VMB_CHANNEL_SET_POINTER(_In_ VMBCHANNEL Channel,
                                                 _In_opt_ __drv_aliasesMem PVOID Pointer);
typedef FN_VMB_CHANNEL_SET_POINTER* PFN_VMB_CHANNEL_SET_POINTER;

/* Returns the pointer VmbChannelSetPointer stored. DISPATCH_LEVEL. */
typedef PVOID FASTCALL FN_VMB_CHANNEL_GET_POINTER(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_GET_POINTER* PFN_VMB_CHANNEL_GET_POINTER;

/* Client: sets how long (in 100 ns units) the monitored-notification
   facility may batch this channel's guest-to-host signals, i.e. the channel's
   latency slot in the monitor page; on success writes the previous value to
   *OriginalLatency. Legal from EvtChannelOpened through EvtChannelClosed;
   vmbsim (G25): STATUS_INVALID_DEVICE_STATE outside that window,
   STATUS_INVALID_DEVICE_REQUEST on a channel without a monitor id, any
   UINT16 accepted. PASSIVE_LEVEL. */
typedef _Must_inspect_result_
NTSTATUS FN_VMB_CHANNEL_SET_INTERRUPT_LATENCY(_In_ VMBCHANNEL Channel, _In_ UINT16 Latency,
                                              _Out_ PUINT16 OriginalLatency);
typedef FN_VMB_CHANNEL_SET_INTERRUPT_LATENCY* PFN_VMB_CHANNEL_SET_INTERRUPT_LATENCY;

/* ---- Client-only configuration (spec §6.3) ---- */

/* Sets the sizes, in 4 KiB pages, of the rings the guest donates:
   host-to-guest (Incoming) and guest-to-host (Outgoing). vmbsim (G10): each
   count is the ring's data pages, 1..65535; each ring takes its control
   page besides (In + Out + 2 pages, as the EMCL library allocates them);
   16/16 when never called, enlarged so that one largest packet fits.
   PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT(
    _In_ VMBCHANNEL Channel, _In_ UINT32 IncomingPageCount, _In_ UINT32 OutgoingPageCount);
typedef FN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT*
    PFN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT;

/* Selects the offer to open by interface type and, optionally, instance
   (NULL: any instance of that type), and registers an optional callback for
   asynchronous connection failures. vmbsim (G4): among several matching
   offers the lowest relid wins. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP(
    _In_ VMBCHANNEL Channel, _In_ LPCGUID InterfaceType, _In_opt_ LPCGUID InterfaceInstance,
    _In_opt_ PFN_VMB_CHANNEL_PNP_FAILURE PnpFailureCallback);
typedef FN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP* PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP;

/* ---- Server-only configuration (spec §6.4, KMCL_SERVER_ONLY_METHODS) ---- */

/* Sets the offer's interface type (the protocol) and instance GUIDs. The
   GUIDs are passed by value, which matters for the ABI. PASSIVE_LEVEL,
   Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID(_In_ VMBCHANNEL Channel,
                                                                    _In_ GUID InterfaceType,
                                                                    _In_ GUID InterfaceInstance);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID*
    PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID;

/* Sets the VMBUS_SERVER_CHANNEL_INIT_FLAG_* offer flags;
   STATUS_INVALID_PARAMETER_2 for bits outside VMBUS_SERVER_CHANNEL_INIT_FLAGS.
   PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS* PFN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS;

/* Asks the guest's VMBus driver to reserve MMIO space (in MiB) for the
   device, plus an optional extra amount. STATUS_INVALID_PARAMETER when both
   are 0. vmbsim (G15): accepted if either is non-zero (the prose rule, not
   the annotation's), both carried in the simulated offer. PASSIVE_LEVEL,
   Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES(
    _In_ VMBCHANNEL Channel, _In_range_(>, 0) UINT16 MmioMegabytes,
    _In_ UINT16 MmioMegabytesOptional);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES*
    PFN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES;

/* Offers the channel only to clients in Virtual Trust Level TargetVtl.
   vmbsim (G16): 0-2 accepted, default 0; otherwise
   STATUS_INVALID_PARAMETER_2. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL(_In_ VMBCHANNEL Channel,
                                                           _In_ UINT8 TargetVtl);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL* PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL;

/* Selects the guest partition the offer goes to, by a kernel handle from
   VmbConvertVmbusHandleToKernelHandle. vmbsim: one handle per simulated
   guest partition. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE(_In_ VMBCHANNEL Channel,
                                                             _In_ HANDLE VmbusHandle);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE* PFN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE;

/* Turns the VM worker process's user-mode VMBus handle into a kernel handle
   to the same partition; on success writes *KernelHandle, which the caller
   closes. Channel-independent. PASSIVE_LEVEL. */
typedef NTSTATUS FN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE(_In_ HANDLE VmbusHandle,
                                                              _Out_ PHANDLE KernelHandle);
typedef FN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE*
    PFN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE;

/* Installs the per-packet save and restore callbacks used by
   VmbChannelSave* and VmbChannelRestoreFromBuffer. PASSIVE_LEVEL, Disabled. */
typedef NTSTATUS FN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS(
    _In_ VMBCHANNEL Channel, _In_ PFN_VMB_CHANNEL_SAVE_PACKET SavePacketCallback,
    _In_ PFN_VMB_CHANNEL_RESTORE_PACKET RestorePacketCallback);
typedef FN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS*
    PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS;

/* ---- Channel queries (spec §6.5) ---- */

/* Writes the instance GUID of the channel (for a client opened by type
   only, the instance of the offer it opened). vmbsim: before an offer is
   bound, the configured instance, else all zeros. DISPATCH_LEVEL. */
typedef VOID FN_VMB_CHANNEL_GET_INTERFACE_INSTANCE(_In_ VMBCHANNEL Channel,
                                                   _Out_ LPGUID InterfaceInstance);
typedef FN_VMB_CHANNEL_GET_INTERFACE_INSTANCE* PFN_VMB_CHANNEL_GET_INTERFACE_INSTANCE;

/* Client: writes the MMIO range the guest reserved for this device at the
   server's request. Valid after EvtChannelOpened. vmbsim (G17): guest
   physical base address and size in bytes; (0, 0) when nothing is reserved.
   DISPATCH_LEVEL. */
typedef VOID FN_VMB_CHANNEL_GET_MMIO_SPACE(_In_ VMBCHANNEL Channel,
                                           _Out_ UINT64* MmioAddress,
                                           _Out_ UINT64* MmioSize);
typedef FN_VMB_CHANNEL_GET_MMIO_SPACE* PFN_VMB_CHANNEL_GET_MMIO_SPACE;

/* Returns the bytes a caller buffer needs to hold a packet object for
   VmbPacketInitialize; meaningful after the maximum packet size is set.
   vmbsim: always more than maximum packet size + sizeof(PVOID), rounded up
   to 8. DISPATCH_LEVEL. */
typedef UINT32 FN_VMB_CHANNEL_SIZEOF_PACKET(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_SIZEOF_PACKET* PFN_VMB_CHANNEL_SIZEOF_PACKET;

/* ---- Receive path (spec §6.6) ---- */

/* Ends the driver's processing of a received packet: releases its external
   data, and if the sender asked for a completion, sends
   PacketCompletionBuffer[0..BufSize) back (otherwise the buffer is
   ignored). May restart a queue stalled on the transaction quota. Exactly
   once per delivered packet, inline or later. DISPATCH_LEVEL. */
typedef VOID FN_VMB_CHANNEL_PACKET_COMPLETE(
    _In_ VMBPACKETCOMPLETION PacketCompletionContext,
    _In_reads_bytes_opt_(BufSize) PVOID PacketCompletionBuffer, _In_ UINT32 BufSize);
typedef FN_VMB_CHANNEL_PACKET_COMPLETE* PFN_VMB_CHANNEL_PACKET_COMPLETE;

/* Only inline from ProcessPacket for that packet: hands it back, to be
   delivered again at PASSIVE_LEVEL; the driver must not complete it in this
   call. vmbsim (G18): delivery stays FIFO, so the packets behind it also
   move to PASSIVE_LEVEL until the ring is empty. FASTCALL as in the WDK. */
typedef VOID FASTCALL FN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE(
    _In_ VMBPACKETCOMPLETION PacketCompletionContext);
typedef FN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE* PFN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE;

/* From ProcessPacket, for a malformed packet (meant for servers): fails it
   and stops the incoming queue. vmbsim (G19): the packet is retired without
   a completion message and needs no VmbChannelPacketComplete; the queue
   stays stopped until Disable; sends still work; a diagnostic is traced.
   FASTCALL as in the WDK. */
typedef VOID FASTCALL FN_VMB_CHANNEL_PACKET_FAIL(_In_ VMBPACKETCOMPLETION PacketCompletionContext);
typedef FN_VMB_CHANNEL_PACKET_FAIL* PFN_VMB_CHANNEL_PACKET_FAIL;

/* From ProcessPacket, for a packet flagged
   VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA: STATUS_SUCCESS writes
   *Mdl, a locked MDL chain of the external buffer without a virtual mapping,
   valid until the packet is completed (do not free it). STATUS_PENDING (a
   success code, but *Mdl is not written): return without completing; the
   same packet is delivered again once the data is ready. Any other failure:
   the driver completes the packet itself. vmbsim: a packet without external
   data gets STATUS_INVALID_PARAMETER; a scenario knob makes the first call
   pend. */
typedef _Success_(return == STATUS_SUCCESS)
NTSTATUS FN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA(
    _In_ VMBPACKETCOMPLETION PacketCompletionContext, _In_ UINT32 Flags, _Out_ PMDL* Mdl);
typedef FN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA* PFN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA;

/* ---- Send path (spec §6.7) ---- */

/* Returns a packet object of the channel, or NULL. Its default completion
   routine frees it; a driver that never sends it, or replaces that routine,
   frees it with VmbPacketFree. DISPATCH_LEVEL, after configuration. */
typedef __drv_allocatesMem(Mem)
VMBPACKET FN_VMB_PACKET_ALLOCATE(_In_ VMBCHANNEL Channel);
typedef FN_VMB_PACKET_ALLOCATE* PFN_VMB_PACKET_ALLOCATE;

/* Formats the caller's ByteCount bytes at VmbPacket as a packet object (at
   least VmbChannelSizeofPacket bytes); STATUS_INVALID_PARAMETER_3 if
   ByteCount is not more than maximum packet size + sizeof(PVOID). Its
   completion routine must be set before it is sent. Never pass it to
   VmbPacketFree. DISPATCH_LEVEL. */
typedef NTSTATUS FN_VMB_PACKET_INITIALIZE(_In_ VMBCHANNEL Channel,
                                          _Out_writes_bytes_(ByteCount) VMBPACKET VmbPacket,
                                          _In_ UINT32 ByteCount);
typedef FN_VMB_PACKET_INITIALIZE* PFN_VMB_PACKET_INITIALIZE;

/* Frees a packet from VmbPacketAllocate. Freeing one in flight, or one from
   VmbPacketInitialize, is a contract violation. DISPATCH_LEVEL. */
typedef VOID FN_VMB_PACKET_FREE(_In_ __drv_freesMem(Mem) VMBPACKET VmbPacket);
typedef FN_VMB_PACKET_FREE* PFN_VMB_PACKET_FREE;

/* Sets the routine called when the packet's transaction ends; replacing an
   allocated packet's default routine makes the driver responsible for
   freeing it. DISPATCH_LEVEL. */
typedef VOID FN_VMB_PACKET_SET_COMPLETION_ROUTINE(
    _In_ VMBPACKET PacketObject, _In_ PFN_VMB_PACKET_COMPLETION_ROUTINE CompletionRoutine);
typedef FN_VMB_PACKET_SET_COMPLETION_ROUTINE* PFN_VMB_PACKET_SET_COMPLETION_ROUTINE;

/* Stores one driver pointer in the packet object (initially NULL; kept
   across reuse until overwritten). DISPATCH_LEVEL. FASTCALL as in the WDK. */
typedef VOID FASTCALL FN_VMB_PACKET_SET_POINTER(_In_ VMBPACKET PacketObject,
                                                _In_opt_ PVOID Pointer);
typedef FN_VMB_PACKET_SET_POINTER* PFN_VMB_PACKET_SET_POINTER;

/* Returns the pointer VmbPacketSetPointer stored. DISPATCH_LEVEL. */
typedef PVOID FASTCALL FN_VMB_PACKET_GET_POINTER(_In_ VMBPACKET PacketObject);
typedef FN_VMB_PACKET_GET_POINTER* PFN_VMB_PACKET_GET_POINTER;

/* Returns the channel the packet object belongs to. DISPATCH_LEVEL. */
typedef VMBCHANNEL FASTCALL FN_VMB_PACKET_GET_CHANNEL(_In_ VMBPACKET PacketObject);
typedef FN_VMB_PACKET_GET_CHANNEL* PFN_VMB_PACKET_GET_CHANNEL;

/* Sends Buffer[0..BufferLength) in-band, plus the buffer ExternalDataMdl
   describes if non-NULL, as the packet's transaction. A full ring queues the
   packet rather than failing. Before EvtChannelOpened and after
   EvtChannelClosed the packet is queued, and transmitted once the channel
   opens (vmbsim, G6). On failure the packet was not accepted, no completion
   routine will run and the caller still owns it. vmbsim (G23):
   STATUS_INVALID_PARAMETER_3 if BufferLength exceeds the maximum packet
   size, STATUS_INVALID_PARAMETER_5 for unknown flag bits, and external data
   requires VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION
   (STATUS_INVALID_PARAMETER_5 without it). The in-band bytes are copied at
   the call. DISPATCH_LEVEL; PASSIVE_LEVEL with
   VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER. */
typedef NTSTATUS FN_VMB_PACKET_SEND(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                                    _In_reads_bytes_(BufferLength) PVOID Buffer,
                                    _In_ UINT32 BufferLength, _In_opt_ PMDL ExternalDataMdl,
                                    _In_ UINT32 Flags);
typedef FN_VMB_PACKET_SEND* PFN_VMB_PACKET_SEND;

/* As VmbPacketSend, with external data taken from MdlLength bytes (0: to
   the end) starting MdlOffset bytes into the buffer the MDL chain describes.
   VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION is required; vmbsim (G23):
   STATUS_INVALID_PARAMETER_7 without it. */
typedef NTSTATUS FN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL(
    _In_ __drv_aliasesMem VMBPACKET PacketObject, _In_reads_bytes_(BufferLength) PVOID Buffer,
    _In_ UINT32 BufferLength, _In_ PMDL ExternalDataMdl, _In_ UINT32 MdlOffset,
    _In_ UINT32 MdlLength, _In_ UINT32 Flags);
typedef FN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL* PFN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL;

/* As VmbPacketSend, with external data given as PfnLength whole 4 KiB pages.
   VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION is required. vmbsim (G20):
   the six-parameter form (no PfnOffset); one GPA range at offset 0 of
   PfnLength * 4096 bytes on the wire; STATUS_INVALID_PARAMETER_6 without the
   flag. */
typedef NTSTATUS FN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS(
    _In_ __drv_aliasesMem VMBPACKET PacketObject, _In_reads_bytes_(BufferLength) PVOID Buffer,
    _In_ UINT32 BufferLength, _In_reads_(PfnLength) PPFN_NUMBER ExternalDataPfns,
    _In_ UINT32 PfnLength, _In_ UINT32 Flags);
typedef FN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS* PFN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS;

/* Sends one packet through an internal packet object and, with
   VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION, waits for the peer's
   completion and copies it into CompletionBuffer; *CompletionBufferSize is
   the buffer's capacity (a multiple of 8) on entry and the bytes written on
   success. Timeout is in KeWaitForSingleObject form (NULL: forever; negative:
   relative, 100 ns units). A zero timeout without the wait flag is a
   non-blocking try: the only form a server may use. Returns STATUS_SUCCESS;
   STATUS_BUFFER_OVERFLOW (did not fit in the ring, zero timeout, not
   queued); STATUS_CANCELLED (timed out); STATUS_DEVICE_REMOVED (channel
   shutting down). vmbsim (G21): STATUS_INVALID_PARAMETER for a capacity that
   is not a multiple of 8; STATUS_BUFFER_TOO_SMALL (nothing truncated) when
   the completion is larger than the buffer; without the wait flag, returns
   once the packet is in the ring; external data from a server is rejected.
   PASSIVE_LEVEL when it may wait, else DISPATCH_LEVEL. Never from
   EvtChannelStarted. */
typedef _When_(Timeout == NULL || Timeout->QuadPart != 0 ||
                   (Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0,
               _IRQL_requires_(PASSIVE_LEVEL))
    _When_(Timeout != NULL && Timeout->QuadPart == 0 &&
               (Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) == 0,
           _IRQL_requires_max_(DISPATCH_LEVEL))
NTSTATUS FN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST(
    _In_ VMBCHANNEL Channel, _In_reads_bytes_(BufferSize) PVOID Buffer, _In_ UINT32 BufferSize,
    _In_opt_ PMDL ExternalDataMdl, _In_ UINT32 Flags,
    _Out_writes_bytes_to_opt_(*CompletionBufferSize, *CompletionBufferSize)
        PVOID CompletionBuffer,
    _Inout_opt_ _Pre_satisfies_(*_Curr_ % 8 == 0) PUINT32 CompletionBufferSize,
    _In_opt_ PLARGE_INTEGER Timeout);
typedef FN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST* PFN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST;

/* ---- GPADLs (spec §6.8) ---- */
/* vmbsim (G24): GPADL handles are non-zero and unique per partition; the
   client calls are legal from EvtChannelOpened through EvtChannelClosed and
   otherwise fail with STATUS_INVALID_DEVICE_STATE. */

/* Client: describes Buffer[0..ByteCount) (probed and locked until the GPADL
   is deleted) to the host and, on success, writes the handle to send to the
   server. Returns only once the host has the description.
   VMBUS_CHANNEL_GPADL_READ_ONLY in Flags lets the host only read (a hint,
   not a protection). PASSIVE_LEVEL. */
typedef NTSTATUS FN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER(_In_ VMBCHANNEL Channel,
                                                         _In_ UINT32 Flags,
                                                         _In_reads_bytes_(ByteCount) PVOID Buffer,
                                                         _In_ UINT32 ByteCount,
                                                         _Out_ PUINT32 GpadlHandle);
typedef FN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER* PFN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER;

/* As VmbChannelCreateGpadlFromBuffer, for DataLengthWithinMdl bytes (0: to
   the end) starting StartOffsetWithinMdl bytes into an MDL chain. */
typedef NTSTATUS FN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags,
                                                      _In_ PMDL Mdl,
                                                      _In_ UINT32 StartOffsetWithinMdl,
                                                      _In_ UINT32 DataLengthWithinMdl,
                                                      _Out_ PUINT32 GpadlHandle);
typedef FN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL* PFN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL;

/* Client: deletes a GPADL; blocks while the server has it mapped. vmbsim
   (G24): completes at once when the host endpoint no longer exists.
   PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_DELETE_GPADL(_In_ VMBCHANNEL Channel, _In_ UINT32 GpadlHandle);
typedef FN_VMB_CHANNEL_DELETE_GPADL* PFN_VMB_CHANNEL_DELETE_GPADL;

/* Server: maps the client's GPADL GpadlHandle and on success writes *Mdl,
   which describes the client buffer physically (map it for CPU access).
   Without VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY the map asks for write access
   and fails on a read-only GPADL. One mapping per GPADL at a time. vmbsim:
   STATUS_INVALID_PARAMETER_3 for an unknown handle,
   STATUS_INVALID_DEVICE_STATE for a second mapping, STATUS_ACCESS_DENIED for
   write access to a read-only GPADL. PASSIVE_LEVEL. */
typedef NTSTATUS FN_VMB_CHANNEL_MAP_GPADL(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags,
                                          _In_ UINT32 GpadlHandle, _Out_ PMDL* Mdl);
typedef FN_VMB_CHANNEL_MAP_GPADL* PFN_VMB_CHANNEL_MAP_GPADL;

/* Server: undoes VmbChannelMapGpadl, unblocking a client waiting to delete
   the GPADL. PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_UNMAP_GPADL(_In_ VMBCHANNEL Channel, _In_ UINT32 GpadlHandle);
typedef FN_VMB_CHANNEL_UNMAP_GPADL* PFN_VMB_CHANNEL_UNMAP_GPADL;

/* ---- Save and restore, server only (spec §6.9) ---- */
/* vmbsim (G12): saving is legal while the channel is paused or its guest
   has closed it; restoring only on a configured, Disabled channel before
   Enable. The saved format is vmbsim's own; it round-trips, and chunk
   boundaries are stable. */

/* Starts a save; always pair with VmbChannelSaveEnd. PASSIVE_LEVEL. */
typedef _Must_inspect_result_
NTSTATUS FN_VMB_CHANNEL_SAVE_BEGIN(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_SAVE_BEGIN* PFN_VMB_CHANNEL_SAVE_BEGIN;

/* Writes the next whole chunks of saved state, calling the driver's save
   callback for each packet object in use. Returns STATUS_SUCCESS (all saved;
   *BytesFilled written), STATUS_BUFFER_OVERFLOW (*BytesFilled bytes written,
   more remain), or STATUS_BUFFER_TOO_SMALL (nothing written; *BytesRequired
   is the size that makes progress) -- the exceptions to "outputs only on
   success". PASSIVE_LEVEL. */
typedef _Must_inspect_result_
NTSTATUS FN_VMB_CHANNEL_SAVE_CONTINUE(
    _In_ VMBCHANNEL Channel, _Out_writes_bytes_to_(SaveBufferSize, *BytesFilled) PVOID SaveBuffer,
    _In_ ULONG SaveBufferSize, _Out_ PULONG BytesFilled, _Out_ PULONG BytesRequired);
typedef FN_VMB_CHANNEL_SAVE_CONTINUE* PFN_VMB_CHANNEL_SAVE_CONTINUE;

/* Releases the save context. PASSIVE_LEVEL. */
typedef VOID FN_VMB_CHANNEL_SAVE_END(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_SAVE_END* PFN_VMB_CHANNEL_SAVE_END;

/* Restores channel state from whole saved chunks, calling the driver's
   restore callback per saved packet. STATUS_SUCCESS: done;
   STATUS_MORE_PROCESSING_REQUIRED: more chunks follow; anything else:
   failure. PASSIVE_LEVEL. */
typedef _Must_inspect_result_
NTSTATUS FN_VMB_CHANNEL_RESTORE_FROM_BUFFER(_In_ VMBCHANNEL Channel,
                                            _In_reads_bytes_(BufferSize) PVOID Buffer,
                                            _In_ ULONG BufferSize);
typedef FN_VMB_CHANNEL_RESTORE_FROM_BUFFER* PFN_VMB_CHANNEL_RESTORE_FROM_BUFFER;

/* From the restore callback: restores a freshly allocated packet object from
   KMCL's saved blob Buffer[0..BufferSize). PASSIVE_LEVEL. */
typedef NTSTATUS FN_VMB_PACKET_RESTORE(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                                       _In_reads_bytes_(BufferSize) PVOID Buffer,
                                       _In_ ULONG BufferSize);
typedef FN_VMB_PACKET_RESTORE* PFN_VMB_PACKET_RESTORE;

/* ---- V2-V5 members (spec §2.6, §6.11): names public, contracts not ---- */
/* Only the member names are public. The prototypes below are the spec's best
   inference (from observed callers where it says so) and are NOT a
   documented contract (spec G2). vmbsim serves these only behind a scenario
   feature flag; drivers should not rely on them. Members whose prototype is
   entirely unknown have the placeholder type below: a slot, not a callable
   function (vmbsim leaves it NULL). */
typedef VOID (*VMBSIM_KMCL_PFN_UNDOCUMENTED)(VOID);

/* V2. Returns the received packet's client context area
   (VmbChannelInitSetClientContextSize). Observed in use. */
typedef PVOID FN_VMB_CHANNEL_PACKET_GET_CLIENT_CONTEXT(_In_ VMBPACKETCOMPLETION Packet);
typedef FN_VMB_CHANNEL_PACKET_GET_CLIENT_CONTEXT* PFN_VMB_CHANNEL_PACKET_GET_CLIENT_CONTEXT;
/* V2. Presumably the VMBus device the channel is bound to. Name only. */
typedef PDEVICE_OBJECT FN_VMB_CHANNEL_GET_TARGET_DEVICE_OBJECT(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_GET_TARGET_DEVICE_OBJECT* PFN_VMB_CHANNEL_GET_TARGET_DEVICE_OBJECT;
/* V2. Presumably ParentDeviceObject from VmbChannelAllocate. Name only. */
typedef PDEVICE_OBJECT FN_VMB_CHANNEL_GET_PARENT_DEVICE_OBJECT(_In_ VMBCHANNEL Channel);
typedef FN_VMB_CHANNEL_GET_PARENT_DEVICE_OBJECT* PFN_VMB_CHANNEL_GET_PARENT_DEVICE_OBJECT;

/* V3. Presumably overrides the two bounce-buffer sizes of isolated guests.
   Argument types are a guess. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_BOUNCE_BUFFER_SIZES(_In_ VMBCHANNEL Channel,
                                                             _In_ UINT32 FirstSize,
                                                             _In_ UINT32 SecondSize);
typedef FN_VMB_CHANNEL_INIT_SET_BOUNCE_BUFFER_SIZES* PFN_VMB_CHANNEL_INIT_SET_BOUNCE_BUFFER_SIZES;
/* V3. Prototype unknown. */
typedef VMBSIM_KMCL_PFN_UNDOCUMENTED PFN_VMB_CHANNEL_ALLOCATE_BOUNCE_BUFFER;

/* V4. Presumably bounds queued or outstanding packets. Name only. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_COUNT(_In_ VMBCHANNEL Channel,
                                                              _In_ UINT32 Count);
typedef FN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_COUNT* PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_COUNT;
/* V4. Client GPADL from a PFN list. Observed: five arguments,
   STATUS_INVALID_PARAMETER_1 on a server channel, STATUS_INVALID_PARAMETER_3
   for a NULL list or zero count; Flags is a guess for the second. */
typedef NTSTATUS FN_VMB_CHANNEL_CREATE_GPADL_FROM_PFN_LIST(_In_ VMBCHANNEL Channel,
                                                           _In_ UINT32 Flags,
                                                           _In_reads_(PfnCount) PPFN_NUMBER PfnList,
                                                           _In_ UINT32 PfnCount,
                                                           _Out_ PUINT32 GpadlHandle);
typedef FN_VMB_CHANNEL_CREATE_GPADL_FROM_PFN_LIST* PFN_VMB_CHANNEL_CREATE_GPADL_FROM_PFN_LIST;

/* V5. Presumably ties a sub-channel to its primary channel. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_PRIMARY_CHANNEL(_In_ VMBCHANNEL SubChannel,
                                                         _In_ VMBCHANNEL PrimaryChannel);
typedef FN_VMB_CHANNEL_INIT_SET_PRIMARY_CHANNEL* PFN_VMB_CHANNEL_INIT_SET_PRIMARY_CHANNEL;
/* V5. VmbChannelAllocate over caller storage of VmbSizeofChannel() bytes;
   the argument order is the observed internal initializer's. */
typedef NTSTATUS FN_VMB_CHANNEL_INITIALIZE(_In_ VMBCHANNEL ChannelStorage,
                                           _In_ PDEVICE_OBJECT ParentDeviceObject,
                                           _In_ BOOLEAN IsServer);
typedef FN_VMB_CHANNEL_INITIALIZE* PFN_VMB_CHANNEL_INITIALIZE;
/* V5. Presumably a per-channel DPC time budget (percent; the library passes
   30). Observed with a byte argument; VOID is vmbsim's choice, as for the
   other non-Init setters. */
typedef VOID FN_VMB_CHANNEL_SET_ALLOWABLE_DPC_CPU_USAGE(_In_ VMBCHANNEL Channel,
                                                        _In_ UCHAR Percent);
typedef FN_VMB_CHANNEL_SET_ALLOWABLE_DPC_CPU_USAGE* PFN_VMB_CHANNEL_SET_ALLOWABLE_DPC_CPU_USAGE;
/* V5. Presumably the virtual processor that receives host-to-guest
   interrupts (OPENCHANNEL target_vp). */
typedef NTSTATUS FN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PROCESSOR_INDEX(_In_ VMBCHANNEL Channel,
                                                                       _In_ ULONG ProcessorIndex);
typedef FN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PROCESSOR_INDEX*
    PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PROCESSOR_INDEX;
/* V5. Storage size for VmbChannelInitialize. */
typedef UINT32 FN_VMB_SIZEOF_CHANNEL(VOID);
typedef FN_VMB_SIZEOF_CHANNEL* PFN_VMB_SIZEOF_CHANNEL;
/* V5. Presumably per-outgoing-packet inline context. */
typedef NTSTATUS FN_VMB_CHANNEL_INIT_SET_INLINE_PACKET_CONTEXT_SIZE(_In_ VMBCHANNEL Channel,
                                                                    _In_ UINT32 ContextSize);
typedef FN_VMB_CHANNEL_INIT_SET_INLINE_PACKET_CONTEXT_SIZE*
    PFN_VMB_CHANNEL_INIT_SET_INLINE_PACKET_CONTEXT_SIZE;
/* V5. Accessor of the inline packet context. */
typedef PVOID FN_VMB_PACKET_GET_INLINE_PACKET_CONTEXT_POINTER(_In_ VMBPACKET PacketObject);
typedef FN_VMB_PACKET_GET_INLINE_PACKET_CONTEXT_POINTER*
    PFN_VMB_PACKET_GET_INLINE_PACKET_CONTEXT_POINTER;
/* V5. Prototype unknown ("Ex" callback family). */
typedef VMBSIM_KMCL_PFN_UNDOCUMENTED PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS_EX;
/* V5. Observed as (packet, pointer-sized value, routine): the routine takes
   the V1 routine's slot and later V1 VmbPacketSetCompletionRoutine calls
   leave it alone. The value's meaning and the routine's type are unknown. */
typedef VOID FN_VMB_PACKET_SET_COMPLETION_ROUTINE_EX(
    _In_ VMBPACKET PacketObject, _In_ ULONG_PTR Value,
    _In_ VMBSIM_KMCL_PFN_UNDOCUMENTED CompletionRoutine);
typedef FN_VMB_PACKET_SET_COMPLETION_ROUTINE_EX* PFN_VMB_PACKET_SET_COMPLETION_ROUTINE_EX;
/* Server-only V5. Prototype unknown. */
typedef VMBSIM_KMCL_PFN_UNDOCUMENTED
    PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS_EX;

/* ==== Interface tables (spec §2) ========================================== */
/* A driver obtains a table by PnP query-interface (WdfFdoQueryForInterface,
   WdfIoTargetQueryForInterface, or IRP_MN_QUERY_INTERFACE) with the type
   GUID, Size = sizeof(table) and Version below, then calls through its
   pointers, and finally InterfaceDereference(Context).

   In Microsoft's header each table starts with an anonymous INTERFACE member
   and nests the previous version anonymously; that is a compiler extension
   that neither ISO C nor ISO C++ has. Here the members are spelled out flat
   (the member-list macros below), which gives the same layout and the same
   member names: `table.Context`, `table.VmbChannelAllocate`,
   `server.VmbChannelMapGpadl` and a cast to PINTERFACE all work as on
   Windows. The assertions at the end of this file pin the layouts.

   vmbsim (G28): InterfaceReference/InterfaceDereference keep a real
   reference count. A query with another GUID, an unknown version, or a Size
   smaller than the V1 table fails with STATUS_NOT_SUPPORTED; a successful
   query writes Size with the bytes actually filled, never more than the
   caller's Size. */

/* Query versions. vmbsim (G1): only CLIENT V1 = 1 is observed; the others
   are the spec's recommendation, and LATEST stays 1 until vmbsim serves V2+. */
#define KMCL_CLIENT_INTERFACE_VERSION_V1 1
#define KMCL_CLIENT_INTERFACE_VERSION_V2 2
#define KMCL_CLIENT_INTERFACE_VERSION_V3 3
#define KMCL_CLIENT_INTERFACE_VERSION_V4 4
#define KMCL_CLIENT_INTERFACE_VERSION_V5 5
#define KMCL_CLIENT_INTERFACE_VERSION_LATEST KMCL_CLIENT_INTERFACE_VERSION_V1
#define KMCL_SERVER_INTERFACE_VERSION_V1 1
#define KMCL_SERVER_INTERFACE_VERSION_V5 5

/* The INTERFACE header, spelled out (offsets 0, 2, 8, 16, 24 on x64). */
#define VMBSIM_KMCL_INTERFACE_MEMBERS_ \
  USHORT Size;                         \
  USHORT Version;                      \
  PVOID Context;                       \
  PINTERFACE_REFERENCE InterfaceReference; \
  PINTERFACE_DEREFERENCE InterfaceDereference;

/* The 41 KMCL_CLIENT_INTERFACE_V1 methods, in declaration order (which is
   alphabetical), at x64 offsets 32 + 8 * index. */
#define VMBSIM_KMCL_CLIENT_V1_METHODS_                                               \
  PFN_VMB_CHANNEL_ALLOCATE VmbChannelAllocate;                                        \
  PFN_VMB_CHANNEL_CLEANUP VmbChannelCleanup;                                          \
  PFN_VMB_CHANNEL_CREATE_GPADL_FROM_BUFFER VmbChannelCreateGpadlFromBuffer;           \
  PFN_VMB_CHANNEL_CREATE_GPADL_FROM_MDL VmbChannelCreateGpadlFromMdl;                 \
  PFN_VMB_CHANNEL_DELETE_GPADL VmbChannelDeleteGpadl;                                 \
  PFN_VMB_CHANNEL_DISABLE VmbChannelDisable;                                          \
  PFN_VMB_CHANNEL_ENABLE VmbChannelEnable;                                            \
  PFN_VMB_CHANNEL_GET_INTERFACE_INSTANCE VmbChannelGetInterfaceInstance;              \
  PFN_VMB_CHANNEL_GET_MMIO_SPACE VmbChannelGetMmioSpace;                              \
  PFN_VMB_CHANNEL_GET_POINTER VmbChannelGetPointer;                                   \
  PFN_VMB_CHANNEL_INIT_SET_CLIENT_CONTEXT_SIZE VmbChannelInitSetClientContextSize;    \
  PFN_VMB_CHANNEL_INIT_SET_FLAGS VmbChannelInitSetFlags;                              \
  PFN_VMB_CHANNEL_INIT_SET_FRIENDLY_NAME VmbChannelInitSetFriendlyName;               \
  PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_EXTERNAL_DATA VmbChannelInitSetMaximumExternalData; \
  PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_SIZE VmbChannelInitSetMaximumPacketSize;    \
  PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS                                   \
      VmbChannelInitSetProcessPacketCallbacks;                                        \
  PFN_VMB_CHANNEL_INIT_SET_STATE_CHANGE_CALLBACKS VmbChannelInitSetStateChangeCallbacks; \
  PFN_VMB_CHANNEL_PACKET_COMPLETE VmbChannelPacketComplete;                           \
  PFN_VMB_CHANNEL_PACKET_DEFER_TO_PASSIVE VmbChannelPacketDeferToPassive;             \
  PFN_VMB_CHANNEL_PACKET_FAIL VmbChannelPacketFail;                                   \
  PFN_VMB_CHANNEL_PACKET_GET_EXTERNAL_DATA VmbChannelPacketGetExternalData;           \
  PFN_VMB_CHANNEL_PAUSE VmbChannelPause;                                              \
  PFN_VMB_CHANNEL_SEND_SYNCHRONOUS_REQUEST VmbChannelSendSynchronousRequest;          \
  PFN_VMB_CHANNEL_SET_INCOMING_PROCESSING_AT_PASSIVE                                  \
      VmbChannelSetIncomingProcessingAtPassive;                                       \
  PFN_VMB_CHANNEL_SET_INTERRUPT_LATENCY VmbChannelSetInterruptLatency;                \
  PFN_VMB_CHANNEL_SET_POINTER VmbChannelSetPointer;                                   \
  PFN_VMB_CHANNEL_SET_TRANSACTION_QUOTA VmbChannelSetTransactionQuota;                \
  PFN_VMB_CHANNEL_SIZEOF_PACKET VmbChannelSizeofPacket;                               \
  PFN_VMB_CHANNEL_START VmbChannelStart;                                              \
  PFN_VMB_CLIENT_CHANNEL_INIT_SET_RING_BUFFER_PAGE_COUNT                              \
      VmbClientChannelInitSetRingBufferPageCount;                                     \
  PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PNP VmbClientChannelInitSetTargetPnp;        \
  PFN_VMB_PACKET_ALLOCATE VmbPacketAllocate;                                          \
  PFN_VMB_PACKET_FREE VmbPacketFree;                                                  \
  PFN_VMB_PACKET_GET_CHANNEL VmbPacketGetChannel;                                     \
  PFN_VMB_PACKET_GET_POINTER VmbPacketGetPointer;                                     \
  PFN_VMB_PACKET_INITIALIZE VmbPacketInitialize;                                      \
  PFN_VMB_PACKET_SEND VmbPacketSend;                                                  \
  PFN_VMB_PACKET_SEND_WITH_EXTERNAL_MDL VmbPacketSendWithExternalMdl;                 \
  PFN_VMB_PACKET_SEND_WITH_EXTERNAL_PFNS VmbPacketSendWithExternalPfns;               \
  PFN_VMB_PACKET_SET_COMPLETION_ROUTINE VmbPacketSetCompletionRoutine;                \
  PFN_VMB_PACKET_SET_POINTER VmbPacketSetPointer;

/* The 14 KMCL_SERVER_ONLY_METHODS, in declaration order. */
#define VMBSIM_KMCL_SERVER_ONLY_METHODS_                                              \
  PFN_VMB_CHANNEL_MAP_GPADL VmbChannelMapGpadl;                                       \
  PFN_VMB_CHANNEL_RESTORE_FROM_BUFFER VmbChannelRestoreFromBuffer;                    \
  PFN_VMB_CHANNEL_SAVE_BEGIN VmbChannelSaveBegin;                                     \
  PFN_VMB_CHANNEL_SAVE_CONTINUE VmbChannelSaveContinue;                               \
  PFN_VMB_CHANNEL_SAVE_END VmbChannelSaveEnd;                                         \
  PFN_VMB_CHANNEL_UNMAP_GPADL VmbChannelUnmapGpadl;                                   \
  PFN_VMB_CONVERT_VMBUS_HANDLE_TO_KERNEL_HANDLE VmbConvertVmbusHandleToKernelHandle;  \
  PFN_VMB_PACKET_RESTORE VmbPacketRestore;                                            \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_FLAGS VmbServerChannelInitSetFlags;                 \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_MMIO_MEGABYTES VmbServerChannelInitSetMmioMegabytes; \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS                       \
      VmbServerChannelInitSetSaveRestorePacketCallbacks;                              \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_INTERFACE_ID                                 \
      VmbServerChannelInitSetTargetInterfaceId;                                       \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_TARGET_VTL VmbServerChannelInitSetTargetVtl;        \
  PFN_VMB_SERVER_CHANNEL_INIT_SET_VMBUS_HANDLE VmbServerChannelInitSetVmbusHandle;

/* Members each later client version adds, in the order of the published
   field list (not alphabetical from V2 on). */
#define VMBSIM_KMCL_CLIENT_V2_METHODS_                                       \
  PFN_VMB_CHANNEL_PACKET_GET_CLIENT_CONTEXT VmbChannelPacketGetClientContext; \
  PFN_VMB_CHANNEL_GET_TARGET_DEVICE_OBJECT VmbChannelGetTargetDeviceObject;   \
  PFN_VMB_CHANNEL_GET_PARENT_DEVICE_OBJECT VmbChannelGetParentDeviceObject;

#define VMBSIM_KMCL_CLIENT_V3_METHODS_                                          \
  PFN_VMB_CHANNEL_INIT_SET_BOUNCE_BUFFER_SIZES VmbChannelInitSetBounceBufferSizes; \
  PFN_VMB_CHANNEL_ALLOCATE_BOUNCE_BUFFER VmbChannelAllocateBounceBuffer;

#define VMBSIM_KMCL_CLIENT_V4_METHODS_                                            \
  PFN_VMB_CHANNEL_INIT_SET_MAXIMUM_PACKET_COUNT VmbChannelInitSetMaximumPacketCount; \
  PFN_VMB_CHANNEL_CREATE_GPADL_FROM_PFN_LIST VmbChannelCreateGpadlFromPfnList;

#define VMBSIM_KMCL_CLIENT_V5_METHODS_                                             \
  PFN_VMB_CHANNEL_INIT_SET_PRIMARY_CHANNEL VmbChannelInitSetPrimaryChannel;          \
  PFN_VMB_CHANNEL_INITIALIZE VmbChannelInitialize;                                   \
  PFN_VMB_CHANNEL_SET_ALLOWABLE_DPC_CPU_USAGE VmbChannelSetAllowableDpcCpuUsage;     \
  PFN_VMB_CLIENT_CHANNEL_INIT_SET_TARGET_PROCESSOR_INDEX                             \
      VmbClientChannelInitSetTargetProcessorIndex;                                   \
  PFN_VMB_SIZEOF_CHANNEL VmbSizeofChannel;                                           \
  PFN_VMB_CHANNEL_INIT_SET_INLINE_PACKET_CONTEXT_SIZE                                \
      VmbChannelInitSetInlinePacketContextSize;                                      \
  PFN_VMB_PACKET_GET_INLINE_PACKET_CONTEXT_POINTER VmbPacketGetInlinePacketContextPointer; \
  PFN_VMB_CHANNEL_INIT_SET_PROCESS_PACKET_CALLBACKS_EX                               \
      VmbChannelInitSetProcessPacketCallbacksEx;                                     \
  PFN_VMB_PACKET_SET_COMPLETION_ROUTINE_EX VmbPacketSetCompletionRoutineEx;

/* The client table: INTERFACE header, then the 41 methods. 360 bytes on x64
   (a real guest caller passes Size 0x168). Query with
   KMCL_CLIENT_INTERFACE_TYPE and KMCL_CLIENT_INTERFACE_VERSION_V1. */
typedef struct _KMCL_CLIENT_INTERFACE_V1 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
} KMCL_CLIENT_INTERFACE_V1, *PKMCL_CLIENT_INTERFACE_V1;

/* The server-only methods on their own, as Microsoft's header names them. */
typedef struct _KMCL_SERVER_ONLY_METHODS {
  VMBSIM_KMCL_SERVER_ONLY_METHODS_
} KMCL_SERVER_ONLY_METHODS, *PKMCL_SERVER_ONLY_METHODS;

/* The server table: the client table followed by the server-only methods,
   472 bytes on x64. Query with KMCL_SERVER_INTERFACE_TYPE and
   KMCL_SERVER_INTERFACE_VERSION_V1. */
typedef struct _KMCL_SERVER_INTERFACE_V1 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_SERVER_ONLY_METHODS_
} KMCL_SERVER_INTERFACE_V1, *PKMCL_SERVER_INTERFACE_V1;

/* Later versions: each extends the previous one (spec G2: contracts
   unpublished). x64 sizes 384, 400, 416, 488. */
typedef struct _KMCL_CLIENT_INTERFACE_V2 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_CLIENT_V2_METHODS_
} KMCL_CLIENT_INTERFACE_V2, *PKMCL_CLIENT_INTERFACE_V2;

typedef struct _KMCL_CLIENT_INTERFACE_V3 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_CLIENT_V2_METHODS_
  VMBSIM_KMCL_CLIENT_V3_METHODS_
} KMCL_CLIENT_INTERFACE_V3, *PKMCL_CLIENT_INTERFACE_V3;

typedef struct _KMCL_CLIENT_INTERFACE_V4 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_CLIENT_V2_METHODS_
  VMBSIM_KMCL_CLIENT_V3_METHODS_
  VMBSIM_KMCL_CLIENT_V4_METHODS_
} KMCL_CLIENT_INTERFACE_V4, *PKMCL_CLIENT_INTERFACE_V4;

typedef struct _KMCL_CLIENT_INTERFACE_V5 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_CLIENT_V2_METHODS_
  VMBSIM_KMCL_CLIENT_V3_METHODS_
  VMBSIM_KMCL_CLIENT_V4_METHODS_
  VMBSIM_KMCL_CLIENT_V5_METHODS_
} KMCL_CLIENT_INTERFACE_V5, *PKMCL_CLIENT_INTERFACE_V5;

/* The one member the published field list shows for the V5 server-only
   block. */
typedef struct _KMCL_SERVER_ONLY_METHODS_V5 {
  PFN_VMB_SERVER_CHANNEL_INIT_SET_SAVE_RESTORE_PACKET_CALLBACKS_EX
      VmbServerChannelInitSetSaveRestorePacketCallbacksEx;
} KMCL_SERVER_ONLY_METHODS_V5, *PKMCL_SERVER_ONLY_METHODS_V5;

/* Server V5: the V5 client table followed by the V1 server-only methods, as
   the published field list shows it; vmbsim (G2) does not append
   KMCL_SERVER_ONLY_METHODS_V5 (600 bytes on x64, not 608). */
typedef struct _KMCL_SERVER_INTERFACE_V5 {
  VMBSIM_KMCL_INTERFACE_MEMBERS_
  VMBSIM_KMCL_CLIENT_V1_METHODS_
  VMBSIM_KMCL_CLIENT_V2_METHODS_
  VMBSIM_KMCL_CLIENT_V3_METHODS_
  VMBSIM_KMCL_CLIENT_V4_METHODS_
  VMBSIM_KMCL_CLIENT_V5_METHODS_
  VMBSIM_KMCL_SERVER_ONLY_METHODS_
} KMCL_SERVER_INTERFACE_V5, *PKMCL_SERVER_INTERFACE_V5;

#undef VMBSIM_KMCL_INTERFACE_MEMBERS_
#undef VMBSIM_KMCL_CLIENT_V1_METHODS_
#undef VMBSIM_KMCL_SERVER_ONLY_METHODS_
#undef VMBSIM_KMCL_CLIENT_V2_METHODS_
#undef VMBSIM_KMCL_CLIENT_V3_METHODS_
#undef VMBSIM_KMCL_CLIENT_V4_METHODS_
#undef VMBSIM_KMCL_CLIENT_V5_METHODS_

/* ==== Exported functions (the WDK 1709 form) ============================== */
/* The 55 public functions by name, in table order; each has the signature
   and contract of its FN_ type above, and the tables vmbsim hands out point
   at exactly these functions. Code written against the query-interface form
   that defines its own wrappers with these names can define
   VMBSIM_KMCL_INTERFACE_ONLY to leave them out. */
#ifndef VMBSIM_KMCL_INTERFACE_ONLY

/* KMCL_CLIENT_INTERFACE_V1. */
_IRQL_requires_(PASSIVE_LEVEL)
NTSTATUS VmbChannelAllocate(_In_ PDEVICE_OBJECT ParentDeviceObject, _In_ BOOLEAN IsServer,
                            _Out_ _At_(*Channel, __drv_allocatesMem(Mem)) VMBCHANNEL* Channel)
    VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelCleanup(_In_ __drv_freesMem(Mem) VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelCreateGpadlFromBuffer(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags,
                                         _In_reads_bytes_(ByteCount) PVOID Buffer,
                                         _In_ UINT32 ByteCount,
                                         _Out_ PUINT32 GpadlHandle) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelCreateGpadlFromMdl(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags, _In_ PMDL Mdl,
                                      _In_ UINT32 StartOffsetWithinMdl,
                                      _In_ UINT32 DataLengthWithinMdl,
                                      _Out_ PUINT32 GpadlHandle) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelDeleteGpadl(_In_ VMBCHANNEL Channel, _In_ UINT32 GpadlHandle) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelDisable(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
_Must_inspect_result_ NTSTATUS VmbChannelEnable(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelGetInterfaceInstance(_In_ VMBCHANNEL Channel,
                                    _Out_ LPGUID InterfaceInstance) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelGetMmioSpace(_In_ VMBCHANNEL Channel, _Out_ UINT64* MmioAddress,
                            _Out_ UINT64* MmioSize) VMBSIM_KMCL_NOEXCEPT;
PVOID FASTCALL VmbChannelGetPointer(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetClientContextSize(_In_ VMBCHANNEL Channel,
                                            _In_ UINT32 ContextSize) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetFlags(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetFriendlyName(_In_ VMBCHANNEL Channel,
                                       _In_ PCUNICODE_STRING Name) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetMaximumExternalData(_In_ VMBCHANNEL Channel,
                                              _In_range_(>, 0) UINT32 DataSize,
                                              _In_range_(>, 0) UINT32 ChainLength)
    VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetMaximumPacketSize(_In_ VMBCHANNEL Channel,
                                            _In_range_(>, 0) UINT32 PacketSize)
    VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetProcessPacketCallbacks(
    _In_ VMBCHANNEL Channel, _In_ PFN_VMB_CHANNEL_PROCESS_PACKET ProcessPacketCallback,
    _In_opt_ PFN_VMB_CHANNEL_PROCESSING_COMPLETE ProcessingCompleteCallback) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbChannelInitSetStateChangeCallbacks(
    _In_ VMBCHANNEL Channel,
    _In_ PVMB_CHANNEL_STATE_CHANGE_CALLBACKS StateChangeCallbacks) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelPacketComplete(_In_ VMBPACKETCOMPLETION PacketCompletionContext,
                              _In_reads_bytes_opt_(BufSize) PVOID PacketCompletionBuffer,
                              _In_ UINT32 BufSize) VMBSIM_KMCL_NOEXCEPT;
VOID FASTCALL VmbChannelPacketDeferToPassive(_In_ VMBPACKETCOMPLETION PacketCompletionContext)
    VMBSIM_KMCL_NOEXCEPT;
VOID FASTCALL VmbChannelPacketFail(_In_ VMBPACKETCOMPLETION PacketCompletionContext)
    VMBSIM_KMCL_NOEXCEPT;
_Success_(return == STATUS_SUCCESS)
NTSTATUS VmbChannelPacketGetExternalData(_In_ VMBPACKETCOMPLETION PacketCompletionContext,
                                         _In_ UINT32 Flags, _Out_ PMDL* Mdl) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelPause(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
_When_(Timeout == NULL || Timeout->QuadPart != 0 ||
           (Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0,
       _IRQL_requires_(PASSIVE_LEVEL))
_When_(Timeout != NULL && Timeout->QuadPart == 0 &&
           (Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) == 0,
       _IRQL_requires_max_(DISPATCH_LEVEL))
NTSTATUS VmbChannelSendSynchronousRequest(
    _In_ VMBCHANNEL Channel, _In_reads_bytes_(BufferSize) PVOID Buffer, _In_ UINT32 BufferSize,
    _In_opt_ PMDL ExternalDataMdl, _In_ UINT32 Flags,
    _Out_writes_bytes_to_opt_(*CompletionBufferSize, *CompletionBufferSize)
        PVOID CompletionBuffer,
    _Inout_opt_ _Pre_satisfies_(*_Curr_ % 8 == 0) PUINT32 CompletionBufferSize,
    _In_opt_ PLARGE_INTEGER Timeout) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelSetIncomingProcessingAtPassive(_In_ VMBCHANNEL Channel,
                                              _In_ BOOLEAN RequirePassive) VMBSIM_KMCL_NOEXCEPT;
_Must_inspect_result_ NTSTATUS VmbChannelSetInterruptLatency(_In_ VMBCHANNEL Channel,
                                                             _In_ UINT16 Latency,
                                                             _Out_ PUINT16 OriginalLatency)
    VMBSIM_KMCL_NOEXCEPT;
VOID FASTCALL VmbChannelSetPointer(_In_ VMBCHANNEL Channel,
                                   _In_opt_ __drv_aliasesMem PVOID Pointer) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelSetTransactionQuota(_In_ VMBCHANNEL Channel, _In_ UINT32 Quota) VMBSIM_KMCL_NOEXCEPT;
UINT32 VmbChannelSizeofPacket(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelStart(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbClientChannelInitSetRingBufferPageCount(_In_ VMBCHANNEL Channel,
                                                    _In_ UINT32 IncomingPageCount,
                                                    _In_ UINT32 OutgoingPageCount)
    VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbClientChannelInitSetTargetPnp(_In_ VMBCHANNEL Channel, _In_ LPCGUID InterfaceType,
                                          _In_opt_ LPCGUID InterfaceInstance,
                                          _In_opt_ PFN_VMB_CHANNEL_PNP_FAILURE PnpFailureCallback)
    VMBSIM_KMCL_NOEXCEPT;
__drv_allocatesMem(Mem) VMBPACKET VmbPacketAllocate(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
VOID VmbPacketFree(_In_ __drv_freesMem(Mem) VMBPACKET VmbPacket) VMBSIM_KMCL_NOEXCEPT;
VMBCHANNEL FASTCALL VmbPacketGetChannel(_In_ VMBPACKET PacketObject) VMBSIM_KMCL_NOEXCEPT;
PVOID FASTCALL VmbPacketGetPointer(_In_ VMBPACKET PacketObject) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbPacketInitialize(_In_ VMBCHANNEL Channel,
                             _Out_writes_bytes_(ByteCount) VMBPACKET VmbPacket,
                             _In_ UINT32 ByteCount) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbPacketSend(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                       _In_reads_bytes_(BufferLength) PVOID Buffer, _In_ UINT32 BufferLength,
                       _In_opt_ PMDL ExternalDataMdl, _In_ UINT32 Flags) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbPacketSendWithExternalMdl(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                                      _In_reads_bytes_(BufferLength) PVOID Buffer,
                                      _In_ UINT32 BufferLength, _In_ PMDL ExternalDataMdl,
                                      _In_ UINT32 MdlOffset, _In_ UINT32 MdlLength,
                                      _In_ UINT32 Flags) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbPacketSendWithExternalPfns(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                                       _In_reads_bytes_(BufferLength) PVOID Buffer,
                                       _In_ UINT32 BufferLength,
                                       _In_reads_(PfnLength) PPFN_NUMBER ExternalDataPfns,
                                       _In_ UINT32 PfnLength,
                                       _In_ UINT32 Flags) VMBSIM_KMCL_NOEXCEPT;
VOID VmbPacketSetCompletionRoutine(_In_ VMBPACKET PacketObject,
                                   _In_ PFN_VMB_PACKET_COMPLETION_ROUTINE CompletionRoutine)
    VMBSIM_KMCL_NOEXCEPT;
VOID FASTCALL VmbPacketSetPointer(_In_ VMBPACKET PacketObject, _In_opt_ PVOID Pointer)
    VMBSIM_KMCL_NOEXCEPT;

/* KMCL_SERVER_ONLY_METHODS. */
NTSTATUS VmbChannelMapGpadl(_In_ VMBCHANNEL Channel, _In_ UINT32 Flags, _In_ UINT32 GpadlHandle,
                            _Out_ PMDL* Mdl) VMBSIM_KMCL_NOEXCEPT;
_Must_inspect_result_ NTSTATUS VmbChannelRestoreFromBuffer(
    _In_ VMBCHANNEL Channel, _In_reads_bytes_(BufferSize) PVOID Buffer,
    _In_ ULONG BufferSize) VMBSIM_KMCL_NOEXCEPT;
_Must_inspect_result_ NTSTATUS VmbChannelSaveBegin(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
_Must_inspect_result_ NTSTATUS VmbChannelSaveContinue(
    _In_ VMBCHANNEL Channel, _Out_writes_bytes_to_(SaveBufferSize, *BytesFilled) PVOID SaveBuffer,
    _In_ ULONG SaveBufferSize, _Out_ PULONG BytesFilled,
    _Out_ PULONG BytesRequired) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelSaveEnd(_In_ VMBCHANNEL Channel) VMBSIM_KMCL_NOEXCEPT;
VOID VmbChannelUnmapGpadl(_In_ VMBCHANNEL Channel, _In_ UINT32 GpadlHandle) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbConvertVmbusHandleToKernelHandle(_In_ HANDLE VmbusHandle,
                                             _Out_ PHANDLE KernelHandle) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbPacketRestore(_In_ __drv_aliasesMem VMBPACKET PacketObject,
                          _In_reads_bytes_(BufferSize) PVOID Buffer,
                          _In_ ULONG BufferSize) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetFlags(_In_ VMBCHANNEL Channel,
                                      _In_ UINT32 Flags) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetMmioMegabytes(_In_ VMBCHANNEL Channel,
                                              _In_range_(>, 0) UINT16 MmioMegabytes,
                                              _In_ UINT16 MmioMegabytesOptional)
    VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetSaveRestorePacketCallbacks(
    _In_ VMBCHANNEL Channel, _In_ PFN_VMB_CHANNEL_SAVE_PACKET SavePacketCallback,
    _In_ PFN_VMB_CHANNEL_RESTORE_PACKET RestorePacketCallback) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetTargetInterfaceId(_In_ VMBCHANNEL Channel,
                                                  _In_ GUID InterfaceType,
                                                  _In_ GUID InterfaceInstance)
    VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetTargetVtl(_In_ VMBCHANNEL Channel,
                                          _In_ UINT8 TargetVtl) VMBSIM_KMCL_NOEXCEPT;
NTSTATUS VmbServerChannelInitSetVmbusHandle(_In_ VMBCHANNEL Channel,
                                            _In_ HANDLE VmbusHandle) VMBSIM_KMCL_NOEXCEPT;

#endif /* VMBSIM_KMCL_INTERFACE_ONLY */

/* vmbsim: stands in for WdfFdoQueryForInterface / IRP_MN_QUERY_INTERFACE.
   Device is a device object vmbsim handed out; InterfaceType is
   KMCL_CLIENT_INTERFACE_TYPE or KMCL_SERVER_INTERFACE_TYPE; Size is sizeof
   the table the caller passes; Version is KMCL_CLIENT_INTERFACE_VERSION_V1 or
   KMCL_SERVER_INTERFACE_VERSION_V1. A wrong type, a Size smaller than the
   table of that version, or another version gets STATUS_NOT_SUPPORTED
   (STATUS_INVALID_PARAMETER for NULL pointers); on success the table is
   filled, Context is the runtime, and one reference is taken
   (InterfaceDereference(Context) releases it). */
NTSTATUS VmbsimQueryInterface(_In_ PDEVICE_OBJECT Device, _In_ LPCGUID InterfaceType,
                              _Inout_ PINTERFACE Interface, _In_ USHORT Size,
                              _In_ USHORT Version,
                              _In_opt_ PVOID InterfaceSpecificData) VMBSIM_KMCL_NOEXCEPT;


/* ==== Layout assertions (spec §2.4, §2.5, §2.6, §3.4) ====================== */
/* The x64 numbers are facts a real caller depends on (e.g. Size 0x168 in a
   query); the V2-V5 sizes follow from packing the listed members. */

#if VMBSIM_WDK_SHIM_X64_LAYOUT
VMBSIM_STATIC_ASSERT(sizeof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS) == 48,
                     "VMB_CHANNEL_STATE_CHANGE_CALLBACKS is 48 bytes on x64");
VMBSIM_STATIC_ASSERT(offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelOpened) == 8 &&
                         offsetof(VMB_CHANNEL_STATE_CHANGE_CALLBACKS, EvtChannelPostStarted) == 40,
                     "VMB_CHANNEL_STATE_CHANGE_CALLBACKS layout");

VMBSIM_STATIC_ASSERT(sizeof(KMCL_CLIENT_INTERFACE_V1) == 360,
                     "KMCL_CLIENT_INTERFACE_V1 is 360 (0x168) bytes on x64");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelAllocate) == 0x20,
                     "first client method follows the 32-byte INTERFACE");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelPacketComplete) == 0xA8,
                     "client slot 17");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelSendSynchronousRequest) == 0xD0,
                     "client slot 22");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelStart) == 0x100,
                     "client slot 28");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbPacketSetPointer) == 0x160,
                     "client slot 40, the last");

VMBSIM_STATIC_ASSERT(sizeof(KMCL_SERVER_ONLY_METHODS) == 112, "14 server-only methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_SERVER_INTERFACE_V1) == 472,
                     "KMCL_SERVER_INTERFACE_V1 is 472 bytes on x64");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_SERVER_INTERFACE_V1, VmbChannelMapGpadl) == 0x168,
                     "server-only methods follow the client table");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_SERVER_INTERFACE_V1, VmbServerChannelInitSetVmbusHandle) ==
                         0x1D0,
                     "server slot 54, the last");

VMBSIM_STATIC_ASSERT(sizeof(KMCL_CLIENT_INTERFACE_V2) == 384, "V1 + 3 methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_CLIENT_INTERFACE_V3) == 400, "V2 + 2 methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_CLIENT_INTERFACE_V4) == 416, "V3 + 2 methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_CLIENT_INTERFACE_V5) == 488, "V4 + 9 methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_SERVER_INTERFACE_V5) == 600, "client V5 + 14 methods");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_SERVER_INTERFACE_V5, VmbChannelMapGpadl) == 488,
                     "server-only methods follow the V5 client table");
#endif /* VMBSIM_WDK_SHIM_X64_LAYOUT */

/* On every data model: the flattened tables share the INTERFACE header's
   layout, and each version starts with the previous one. */
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, Version) == offsetof(INTERFACE, Version) &&
                         offsetof(KMCL_CLIENT_INTERFACE_V1, Context) ==
                             offsetof(INTERFACE, Context) &&
                         offsetof(KMCL_CLIENT_INTERFACE_V1, InterfaceReference) ==
                             offsetof(INTERFACE, InterfaceReference) &&
                         offsetof(KMCL_CLIENT_INTERFACE_V1, InterfaceDereference) ==
                             offsetof(INTERFACE, InterfaceDereference),
                     "tables start with an INTERFACE");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V1, VmbChannelAllocate) == sizeof(INTERFACE),
                     "no padding after the INTERFACE header");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_SERVER_INTERFACE_V1, VmbChannelMapGpadl) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V1),
                     "server V1 = client V1 + server-only methods");
VMBSIM_STATIC_ASSERT(sizeof(KMCL_SERVER_INTERFACE_V1) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V1) + sizeof(KMCL_SERVER_ONLY_METHODS),
                     "server V1 = client V1 + server-only methods");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V2, VmbChannelPacketGetClientContext) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V1),
                     "V2 extends V1");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V3, VmbChannelInitSetBounceBufferSizes) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V2),
                     "V3 extends V2");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V4, VmbChannelInitSetMaximumPacketCount) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V3),
                     "V4 extends V3");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_CLIENT_INTERFACE_V5, VmbChannelInitSetPrimaryChannel) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V4),
                     "V5 extends V4");
VMBSIM_STATIC_ASSERT(offsetof(KMCL_SERVER_INTERFACE_V5, VmbChannelMapGpadl) ==
                         sizeof(KMCL_CLIENT_INTERFACE_V5),
                     "server V5 = client V5 + server-only methods");

#ifdef __cplusplus
}  /* extern "C" */
#endif

/* ==== Interface type GUIDs (spec §2.1) ===================================== */
/* vmbsim (G1): Microsoft's values are not public, so these are vmbsim's own
   GUIDs under Microsoft's names. Compare GUIDs by value, never by address:
   C gives each translation unit its own copy. */
#ifdef __cplusplus
inline constexpr GUID KMCL_CLIENT_INTERFACE_TYPE = {
    0x00e7a94f, 0xbfa2, 0x4a3a, {0xa9, 0xf2, 0xee, 0xb0, 0x9d, 0xc6, 0xf0, 0x62}};
inline constexpr GUID KMCL_SERVER_INTERFACE_TYPE = {
    0x443fd62b, 0x7099, 0x4a5d, {0xbb, 0x99, 0xb1, 0x24, 0x4b, 0x7f, 0x20, 0xae}};
#else
static const GUID KMCL_CLIENT_INTERFACE_TYPE = {
    0x00e7a94f, 0xbfa2, 0x4a3a, {0xa9, 0xf2, 0xee, 0xb0, 0x9d, 0xc6, 0xf0, 0x62}};
static const GUID KMCL_SERVER_INTERFACE_TYPE = {
    0x443fd62b, 0x7099, 0x4a5d, {0xbb, 0x99, 0xb1, 0x24, 0x4b, 0x7f, 0x20, 0xae}};
#endif

#endif /* VMBSIM_KMCL_VMBUSKERNELMODECLIENTLIBAPI_H_ */
