// capture_trace_cmd.h
//
// Imports the text that `trace-cmd report` and `perf script` print for
// Linux's Hyper-V tracepoints: the "hyperv" events of drivers/hv/hv_trace.h
// and the "netvsc" events of drivers/net/hyperv/netvsc_trace.h, in their
// public TP_printk formats. An event line is
//
//   <comm>-<pid> [<cpu>] <seconds>.<fraction>: <event>: <fields>        (trace-cmd report)
//   <comm> <pid> [<cpu>] <seconds>.<fraction>: <system>:<event>: <fields>  (perf script)
//
// with anything (latency flags, ...) between the CPU and the timestamp; the
// fraction has 1 to 9 digits (microseconds by default, nanoseconds with
// `trace-cmd report -t`). Every other line (headers such as "cpus=2",
// "CPU 0 is empty", lost-event markers) is counted as unrecognised; events
// of other kinds (sched_switch, ...) are counted by name. Neither is an
// error. A line of a known event whose timestamp or fields do not match the
// event's format is an error naming the line and the expected format.
//
// What becomes of the events (see also README "Captures from real systems"):
// - nvsp_send_pkt ("dev=%s qid=%u type=%s section=%u size=%d") is netvsc
//   writing one RNDIS packet to the ring of queue `qid` (the channel's
//   sub_channel_index): a request on the channel "<dev>-q<qid>" (the device
//   name in lower case, characters outside [a-z0-9_-] as '_'), replayed
//   at its time. Its size is `size`, the bytes copied into a send-buffer
//   section; when that is 0 the data went by page buffers and the event
//   carries no size: a CONTROL packet then takes the msg_len of the
//   rndis_send that preceded it on the device, a DATA packet the channel's
//   max_packet_bytes (counted in the summary as "of unknown size").
// - rndis_send (control messages the guest sends; its msg_len is kept for
//   the nvsp_send_pkt that carries it), nvsp_send (NVSP setup messages,
//   which carry no size) are counted, not replayed.
// - nvsp_recv ("dev=%s qid=%u type=%s") is a host-to-guest packet on
//   "<dev>-q<qid>"; rndis_recv adds its msg_len to that channel's host bytes.
//   Both are counted, not replayed.
// - The hyperv events name channels by relid. vmbus_onoffer (if_type,
//   sub_channel_index), vmbus_open (target_vp), vmbus_close_internal,
//   vmbus_setevent (the guest signalling the host) and vmbus_chan_sched
//   (the guest scheduling a channel's callback after the host signalled it)
//   are gathered per relid and printed in the summary. When the netvsc
//   events name one device and the capture has exactly one offer of the
//   network interface type (f8615163-df3e-46c5-913f-f2d2f965ed0e) for a
//   queue's sub_channel_index, that channel gets the offer's relid, its
//   vmbus_open target_vp as the scenario's guest_target_vp, and its
//   vmbus_setevent count as its signals. The other hyperv events
//   (vmbus_on_msg_dpc, vmbus_on_message, GPADL, version and rescind
//   messages, ...) are checked and counted.
//
// Limits: netvsc puts a small NVSP message on the ring and the data in a
// send-buffer section or in pages; rr_vsc sends the bytes in-band, so the
// simulated ring carries more than the real one did. Queues become
// independent channels, not sub-channels of one offer. Host-to-guest
// traffic (receives) is not replayed.

#ifndef VMBSIM_TOOLS_RECORDING_CAPTURE_TRACE_CMD_H_
#define VMBSIM_TOOLS_RECORDING_CAPTURE_TRACE_CMD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/recording/capture_scenario.h"

namespace vmbsim::recording {

// Parses `trace-cmd report` / `perf script` text. `source` starts every
// message; requests larger than `max_packet_bytes` are refused. Returns
// InvalidArgumentError naming the line:
//   cap.txt:12: vmbus_setevent: expected "relid 0x<hex>", found "relid zz"
// and when the text has no nvsp_send_pkt or nvsp_recv event (nothing
// that names a channel's traffic).
absl::StatusOr<Capture> ParseTraceCmdCapture(absl::string_view text, absl::string_view source,
                                             uint32_t max_packet_bytes);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_CAPTURE_TRACE_CMD_H_
