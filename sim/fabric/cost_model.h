// cost_model.h
//
// Every latency and CPU cost of the fabric as a named parameter. The
// defaults are the proposals of vmbus-fabric.md §6.2: no public source
// gives these numbers (spec §6.1, open question 6), so they are placeholders
// to calibrate against a real host, and each is a knob. `Zero()` gives a
// profile in which nothing takes time, for purely functional tests.
//
// Units are in the names. Ring copy cost is integer picoseconds per byte so
// that 10 GB/s (0.1 ns/byte) stays exact.

#ifndef VMBSIM_SIM_FABRIC_COST_MODEL_H_
#define VMBSIM_SIM_FABRIC_COST_MODEL_H_

#include <cstdint>

#include "sim/core/sim_time.h"

namespace vmbsim::fabric {

struct CostModel {
  using SimDuration = sim::SimDuration;

  // Guest CPU time of the HvSignalEvent hypercall, exit and entry included.
  SimDuration hypercall_signal_event = SimDuration::Nanoseconds(1500);
  // Event bit set to SINT injection into a running VP.
  SimDuration signal_delivery_to_running_vp = SimDuration::Nanoseconds(3000);
  // Extra delay when the target VP is halted (idle).
  SimDuration vp_wakeup_from_halt = SimDuration::Nanoseconds(20000);
  // Guest CPU time of the HvPostMessage hypercall.
  SimDuration hypercall_post_message = SimDuration::Nanoseconds(3000);
  // Host VMBus worker time per control message.
  SimDuration host_ctrl_msg_processing = SimDuration::Nanoseconds(30000);
  // Additional host time per page of a GPADL being created.
  SimDuration host_gpadl_per_page = SimDuration::Nanoseconds(50);
  // Message written into a free SIMP slot and the SINT raised.
  SimDuration simp_delivery = SimDuration::Nanoseconds(3000);
  // EOM write to the next queued message being injected.
  SimDuration eom_redelivery = SimDuration::Nanoseconds(2000);
  // Monitor latency of a channel whose offer does not set one (100 us).
  SimDuration monitor_latency_default = SimDuration::Nanoseconds(100000);
  // Guest time to set a monitor pending bit (a locked OR, no exit).
  SimDuration monitor_set_bit = SimDuration::Nanoseconds(50);
  // Ring copy: fixed cost per packet plus per byte.
  SimDuration ring_copy_per_packet = SimDuration::Nanoseconds(50);
  int64_t ring_copy_per_byte_ps = 100;
  // Guest ISR to channel callback (the DPC hop).
  SimDuration isr_dispatch = SimDuration::Nanoseconds(2000);

  // KMCL (kmcl/): the library's own CPU time around each driver callback it
  // invokes (ProcessPacket, completion routines, state changes) and in each
  // KMCL call a driver makes. Not from any public source; knobs.
  SimDuration kmcl_callback = SimDuration::Nanoseconds(300);
  SimDuration kmcl_call = SimDuration::Nanoseconds(100);

  // The documented defaults.
  static CostModel Default() { return CostModel(); }

  // Nothing takes time: events still happen in the same causal order.
  static CostModel Zero() {
    CostModel zero;
    zero.hypercall_signal_event = SimDuration::Zero();
    zero.signal_delivery_to_running_vp = SimDuration::Zero();
    zero.vp_wakeup_from_halt = SimDuration::Zero();
    zero.hypercall_post_message = SimDuration::Zero();
    zero.host_ctrl_msg_processing = SimDuration::Zero();
    zero.host_gpadl_per_page = SimDuration::Zero();
    zero.simp_delivery = SimDuration::Zero();
    zero.eom_redelivery = SimDuration::Zero();
    zero.monitor_latency_default = SimDuration::Zero();
    zero.monitor_set_bit = SimDuration::Zero();
    zero.ring_copy_per_packet = SimDuration::Zero();
    zero.ring_copy_per_byte_ps = 0;
    zero.isr_dispatch = SimDuration::Zero();
    zero.kmcl_callback = SimDuration::Zero();
    zero.kmcl_call = SimDuration::Zero();
    return zero;
  }

  // CPU time to copy one packet of `bytes` through a ring (rounded down to
  // whole nanoseconds).
  SimDuration RingCopy(uint64_t bytes) const {
    return ring_copy_per_packet +
           SimDuration::Nanoseconds(static_cast<int64_t>(bytes) * ring_copy_per_byte_ps / 1000);
  }
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_COST_MODEL_H_
