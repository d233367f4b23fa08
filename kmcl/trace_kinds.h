// trace_kinds.h
//
// The KMCL runtime's trace record kinds (sim::TraceRecord::kind), in the
// KMCL range 0x0200..0x02FF; 0x0200 is the verifier's (verifier.h). Every
// record: partition = the channel's partition, channel = its relid (0 while
// it has none), id0 = the channel's handle. `guest` below is the guest
// partition the channel connects (relids repeat across guests, so consumers
// key channels by (guest, relid)).
//
// Numbers are part of the trace fingerprint: append new kinds, never
// renumber.

#ifndef VMBSIM_KMCL_TRACE_KINDS_H_
#define VMBSIM_KMCL_TRACE_KINDS_H_

#include <cstdint>

namespace vmbsim::kmcl {

inline constexpr uint16_t kKmclStateTraceKind = 0x0201;     // id1 ConnState, size0 running.
inline constexpr uint16_t kKmclDeliverTraceKind = 0x0202;   // id1 trans id, size0 bytes,
                                                            // size1 guest | passive << 16.
inline constexpr uint16_t kKmclFinishTraceKind = 0x0203;    // id1 trans id, size0 NTSTATUS, size1 guest.
inline constexpr uint16_t kKmclCallbackTraceKind = 0x0204;  // id1 CallbackId.
inline constexpr uint16_t kKmclSendTraceKind = 0x0205;      // VmbPacketSend*: id1 trans id, size0 bytes,
                                                            // size1 guest | queued << 16.
inline constexpr uint16_t kKmclBatchTraceKind = 0x0206;     // A drain batch ended: size0 packets read,
                                                            // size1 guest.

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_TRACE_KINDS_H_
