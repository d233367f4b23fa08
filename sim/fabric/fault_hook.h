// fault_hook.h
//
// The seam fault injection plugs into: the fabric, its data paths, the
// SynIC, the host VMBus server and the KMCL runtime ask a FaultHook at a few
// well-defined points ("opportunities") whether a fault applies there, and
// carry out the answer. The layers below never decide anything about
// faults: which fault fires, when, on what, and how it is traced and
// counted belongs to the injector above (tools/faults), which implements
// this interface. With no hook installed (the default) each point costs one
// predictable branch on a null pointer.
//
// An opportunity names its site and, where it has them, the channel (guest,
// child relid), the side that acts, and the packet (transaction id, type).
// The answer is an action the site knows how to carry out; a site ignores
// actions it cannot perform (documented per site below), so a hook that
// answers kNone everywhere changes nothing.
//
// Sites and the actions they honour:
//   kSignalToHost / kSignalToGuest  a data-path doorbell leaving its sender
//       (Fabric::SignalHost / SignalGuest): kDrop, kDelay, kDuplicate.
//   kInterruptAtHost / kInterruptAtGuest  a doorbell taken from the SynIC
//       event flags and about to reach its endpoint: kDrop, kDelay,
//       kDuplicate.
//   kRingWrite  an endpoint about to write a packet (before the copy):
//       kDrop (the packet is never written: a peer that loses it), kDelay
//       (written later, from a copy), kDuplicate (written twice), kRewrite
//       (the transaction id is replaced by `value`), kHold (kept back until
//       the endpoint's next packet is written, then written after it: out of
//       order; or after `delay` at the latest). The hook may also write into
//       the ring's shared memory itself (a corrupt peer).
//   kRingRead  an endpoint about to read a batch: the hook may write into
//       the ring's shared memory (a corrupt peer); the action is ignored.
//   kMessagePost  a guest's HvPostMessage to the host: kFail
//       (HV_STATUS_INSUFFICIENT_BUFFERS, queue exhaustion).
//   kMessageDeliver  a host message for a guest's SIMP slot: kDelay.
//   kOpenChannel  an accepted OPENCHANNEL before its data plane attaches:
//       kFail (the open fails with status `value`, or STATUS_UNSUCCESSFUL).
//   kGpadlCreate  a GPADL_HEADER the server is about to accept: kFail.
//   kGpadlTeardown  a GPADL_TEARDOWN the server accepted: notification only.
//   kPacketAllocate  KMCL's VmbPacketAllocate: kFail
//       (STATUS_INSUFFICIENT_RESOURCES).
//   kSignalThrottle  reserved for the host's signal throttling, carried out
//       as kDelay at kSignalToHost.

#ifndef VMBSIM_SIM_FABRIC_FAULT_HOOK_H_
#define VMBSIM_SIM_FABRIC_FAULT_HOOK_H_

#include <cstdint>

#include "sim/core/sim_time.h"

namespace vmbsim::fabric {

enum class FaultSite : uint8_t {
  kSignalToHost = 0,
  kSignalToGuest = 1,
  kInterruptAtHost = 2,
  kInterruptAtGuest = 3,
  kRingWrite = 4,
  kRingRead = 5,
  kMessagePost = 6,
  kMessageDeliver = 7,
  kOpenChannel = 8,
  kGpadlCreate = 9,
  kGpadlTeardown = 10,
  kPacketAllocate = 11,
};
inline constexpr int kFaultSiteCount = 12;

class ChannelDataPath;

// Where an opportunity arises.
struct FaultPoint {
  FaultSite site = FaultSite::kSignalToHost;
  uint16_t guest = 0;      // Guest partition of the channel (0: unknown or none).
  uint32_t relid = 0;      // Child relid (0: none).
  bool host_side = false;  // The acting side is the host's.
  uint64_t trans_id = 0;   // kRingWrite: the packet's transaction id.
  uint16_t packet_type = 0;  // kRingWrite: the packet's type (spec §2.3).
  // kRingWrite / kRingRead: the endpoint acting (its rings' shared memory).
  ChannelDataPath* endpoint = nullptr;
};

struct FaultAction {
  enum class Kind : uint8_t { kNone, kDrop, kDelay, kDuplicate, kFail, kRewrite, kHold };
  Kind kind = Kind::kNone;
  sim::SimDuration delay;  // kDelay, kHold (the latest release).
  uint64_t value = 0;      // kRewrite: the new transaction id; kFail: a status, 0 for the site's default.
};

class FaultHook {
 public:
  virtual ~FaultHook() = default;
  // Asked at every opportunity while installed. Runs inside the event that
  // reached the point; must not destroy the asking object.
  virtual FaultAction At(const FaultPoint& point) = 0;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_FAULT_HOOK_H_
