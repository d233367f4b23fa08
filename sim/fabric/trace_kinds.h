// trace_kinds.h
//
// The fabric's trace record kinds (sim::TraceRecord::kind), numbered from
// 0x0100. The kernel only carries the numbers; names are for reports. The
// meaning of the generic record fields per kind is given beside each kind
// (id0/id1/size0/size1); partition, vp and channel are always filled when
// they apply (channel = child relid, 0 when none).
//
// Numbers are part of the trace fingerprint: append new kinds, never
// renumber.

#ifndef VMBSIM_SIM_FABRIC_TRACE_KINDS_H_
#define VMBSIM_SIM_FABRIC_TRACE_KINDS_H_

#include <cstdint>

namespace vmbsim::fabric {

enum class FabricTraceKind : uint16_t {
  kVpWorkStart = 0x0100,     // id0 = irql, size0 = queue depth after dequeue.
  kVpStall = 0x0101,         // size0 = stall ns.
  kVpWorkEnd = 0x0102,       // Item finished; time = its end. id0 = irql, size0 = busy ns of the item.
  kSignalEvent = 0x0110,     // Guest HvSignalEvent. id0 = connection id, id1 = flag.
  kEventFlagSet = 0x0111,    // id0 = flag, id1 = 1 if it went 0->1.
  kInterrupt = 0x0112,       // SINT delivered to a VP. id0 = sint.
  kMonitorSet = 0x0118,      // Pending bit set. id0 = monitor id, id1 = 1 if it went 0->1.
  kMonitorCoalesced = 0x0119,  // A set inside an open window. id0 = monitor id.
  kMonitorFire = 0x011A,     // Window closed: one host signal. id0 = monitor id, size0 = sets in window.
  kMessagePost = 0x0120,     // HvPostMessage. id0 = connection id, id1 = msgtype, size0 = bytes.
  kMessageRejected = 0x0121,   // Port queue full. id0 = connection id, id1 = hv status.
  kMessageDeliver = 0x0122,  // Into a SIMP slot. id1 = msgtype, size0 = bytes.
  kMessageEom = 0x0123,      // Slot freed; id0 = 1 if a message was pending.
  kRingWrite = 0x0130,       // id0 = write index before, id1 = trans id, size0 = ring bytes, size1 = type.
  kRingCommitWrite = 0x0131,  // id0 = write index, id1 = 1 if the reader is signalled.
  kRingSignalSuppressed = 0x0132,  // Reader masked or ring not empty: no signal.
  kRingRead = 0x0133,        // id0 = read cursor before, id1 = trans id, size0 = ring bytes.
  kRingCommitRead = 0x0134,  // id0 = read index, id1 = 1 if the writer is signalled.
  kRingFull = 0x0135,        // size0 = bytes needed, size1 = free bytes.
  kRingCorrupt = 0x0136,     // Endpoint failed on peer data.
  kRingMask = 0x0137,        // id0 = new interrupt mask value.
  kControlMessage = 0x0140,  // Control message handled. id0 = msgtype, id1 = accepted(1)/rejected(0).
  kChannelState = 0x0141,    // id0 = new state.
  kGpadlState = 0x0142,      // id0 = gpadl id, id1 = new state.
  // SynIC (synic.h). Numbers fill the free slots of the signal and message groups.
  kSintRaise = 0x0113,       // id0 = sint, id1 = 1 if merged into a pending interrupt, size0 = delay ns.
  kSignalDropped = 0x0114,   // Signal to a masked SINT. id0 = flag.
  kSintMask = 0x0115,        // id0 = sint, id1 = 1 masked / 0 unmasked.
  kEventFlagsCleared = 0x0116,  // Guest cleared flags. id0 = lowest flag cleared, size0 = flags cleared.
  kSignalEventRejected = 0x0117,  // HvSignalEvent refused. id0 = connection id, id1 = hv status.
  kMessageSend = 0x0124,     // Host message queued for a slot. id0 = 1 if it waits, id1 = msgtype,
                             // size0 = bytes, size1 = queue depth after.
  kPortDispatch = 0x0125,    // Port handler starts. id0 = connection id, size0 = bytes,
                             // size1 = buffers in use.
  // Control protocol (vmbus_server.h, vmbus_client.h).
  kConnectionState = 0x0143,  // id0 = new connection state, id1 = protocol version.
};

inline constexpr uint16_t TraceKind(FabricTraceKind kind) { return static_cast<uint16_t>(kind); }

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_TRACE_KINDS_H_
