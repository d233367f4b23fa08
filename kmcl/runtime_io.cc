// runtime_io.cc: the KMCL data path over the fabric: the incoming queue
// (accept gate, ProcessPacket, ProcessingComplete, quota, PASSIVE
// processing, deferral, completion), packet objects and the three sends,
// synchronous requests, GPADLs, and server save/restore.

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "kmcl/ntstatus.h"
#include "kmcl/runtime.h"
#include "kmcl/runtime_internal.h"
#include "sim/check.h"

namespace vmbsim::kmcl {
namespace {

constexpr uint64_t kPageBytes = 4096;
constexpr uint32_t kMdlChainMax = 4096;        // Longer chains are taken as cycles.
constexpr uint64_t kExternalBytesMax = 1u << 30;  // Per packet.

uint64_t PagesSpanned(uint64_t byte_offset, uint64_t byte_count) {
  return (byte_offset % kPageBytes + byte_count + kPageBytes - 1) / kPageBytes;
}

}  // namespace

// ---------------------------------------------------------------------------
// Transaction metrics (RuntimeOptions::transaction_metrics). They follow the
// Send, Deliver and Finish trace records one for one, so they count what a
// reader of the trace would. Inline: they run per packet, in this file only.

ABSL_ATTRIBUTE_ALWAYS_INLINE inline ChannelTransactions* Runtime::TransactionsOf(Channel& ch) {
  // The common case, per packet: still bound where it was.
  if (ABSL_PREDICT_TRUE(ch.metrics != nullptr && ch.metrics_relid == ch.relid && ch.metrics_guest == ch.guest)) {
    return ch.metrics;
  }
  BindTransactions(ch);
  return ch.metrics;
}

void Runtime::BindTransactions(Channel& ch) {
  if (ch.relid == 0 || ch.guest == 0) return;  // Not bound yet: keep the last binding, if any.
  const bool first = ch.metrics == nullptr;
  ch.metrics = &transactions_[{ch.guest, ch.relid}];
  ch.metrics_guest = ch.guest;
  ch.metrics_relid = ch.relid;
  if (first) {  // Sends made before the channel knew its relid.
    DirectionTransactions& d = ch.partition == 0 ? ch.metrics->host_to_guest : ch.metrics->guest_to_host;
    d.packets_sent += ch.unbound_sends.packets;
    d.bytes_sent += ch.unbound_sends.bytes;
    d.queued_sends += ch.unbound_sends.queued;
    d.sends_failed += ch.unbound_sends.failed;
    ch.unbound_sends = {};
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Runtime::MeterSend(Channel& ch, Packet& p, uint32_t bytes, bool queued,
                                                          sim::SimTime now) {
  ++unfinished_sends_;
  p.metered = true;
  p.sent_at_ns = now.nanoseconds();
  if (ABSL_PREDICT_FALSE(now < options_.measure_from)) return;  // Warm-up.
  if (ChannelTransactions* t = TransactionsOf(ch)) {
    DirectionTransactions& d = ch.partition == 0 ? t->host_to_guest : t->guest_to_host;
    ++d.packets_sent;
    d.bytes_sent += bytes;
    if (queued) ++d.queued_sends;
  } else {
    ++ch.unbound_sends.packets;
    ch.unbound_sends.bytes += bytes;
    if (queued) ++ch.unbound_sends.queued;
  }
}

void Runtime::MeterSendFailed(Channel& ch) {
  const sim::SimTime now = CallerNow();
  if (ABSL_PREDICT_FALSE(now < options_.measure_from)) return;  // Warm-up.
  if (ChannelTransactions* t = TransactionsOf(ch)) {
    DirectionTransactions& d = ch.partition == 0 ? t->host_to_guest : t->guest_to_host;
    ++d.sends_failed;
  } else {
    ++ch.unbound_sends.failed;
  }
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Runtime::MeterDeliver(Channel& ch, Incoming& inc, sim::SimTime now) {
  inc.delivery_metered = true;  // Re-deliveries are not counted again.
  // Sent during the warm-up: not measured (the causality check below still
  // runs, so the window never hides a violation).
  const bool warm_up = static_cast<int64_t>(inc.sent_tag - 1) < options_.measure_from.nanoseconds();
  ChannelTransactions* t = TransactionsOf(ch);
  if (t == nullptr) return;
  DirectionTransactions& d = ch.partition == 0 ? t->guest_to_host : t->host_to_guest;  // The sender's direction.
  if (ABSL_PREDICT_TRUE(!warm_up)) {
    ++d.packets_processed;
    d.bytes_processed += inc.payload.size();
  }
  const int64_t waited_ns = now.nanoseconds() - static_cast<int64_t>(inc.sent_tag - 1);
  if (ABSL_PREDICT_FALSE(waited_ns < 0)) {
    CausalityViolationFor(ch, inc.trans_id, now, static_cast<int64_t>(inc.sent_tag - 1),
                          "request processed before it was sent");
    return;
  }
  if (ABSL_PREDICT_TRUE(!warm_up)) d.send_to_process_ns.Record(waited_ns);
}

// The peer completes a packet it processed: the service time, from its first
// ProcessPacket to now, in the sender's direction (when the send is measured).
void Runtime::MeterComplete(Channel& ch, const Incoming& inc) {
  if (inc.processed_tag == 0 || inc.sent_tag == 0) return;  // Not a timed, delivered send.
  if (static_cast<int64_t>(inc.sent_tag - 1) < options_.measure_from.nanoseconds()) return;  // Warm-up.
  ChannelTransactions* t = TransactionsOf(ch);
  if (t == nullptr) return;
  DirectionTransactions& d = ch.partition == 0 ? t->guest_to_host : t->host_to_guest;  // The sender's direction.
  const sim::SimTime now = CallerNow();
  const int64_t served_ns = now.nanoseconds() - static_cast<int64_t>(inc.processed_tag - 1);
  if (ABSL_PREDICT_FALSE(served_ns < 0)) {
    CausalityViolationFor(ch, inc.trans_id, now, static_cast<int64_t>(inc.processed_tag - 1),
                          "packet completed before it was processed");
    return;
  }
  d.process_to_complete_ns.Record(served_ns);
}

void Runtime::CausalityViolationFor(const Channel& ch, uint64_t trans_id, sim::SimTime seen, int64_t cause_ns,
                                    const char* what) {
  causality_violations_.push_back(CausalityViolation{.time = seen,
                                                     .cause_time = sim::SimTime::FromNanoseconds(cause_ns),
                                                     .guest = ch.guest,
                                                     .relid = ch.relid,
                                                     .trans_id = trans_id,
                                                     .what = what});
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Runtime::MeterFinish(Channel& ch, Packet& p, NTSTATUS status,
                                                            sim::SimTime now) {
  p.metered = false;
  --unfinished_sends_;
  ChannelTransactions* t = TransactionsOf(ch);
  if (t == nullptr) return;
  DirectionTransactions& d = ch.partition == 0 ? t->host_to_guest : t->guest_to_host;
  const bool warm_up = p.sent_at_ns < options_.measure_from.nanoseconds();  // Sent then: not measured.
  if (ABSL_PREDICT_TRUE(!warm_up)) {
    ++d.transactions_finished;
    if (status != STATUS_SUCCESS) ++d.transactions_failed;
  }
  const int64_t waited_ns = now.nanoseconds() - p.sent_at_ns;
  if (ABSL_PREDICT_FALSE(waited_ns < 0)) {
    CausalityViolationFor(ch, p.trans_id, now, p.sent_at_ns, "transaction finished before it was sent");
    return;
  }
  if (ABSL_PREDICT_TRUE(!warm_up)) d.send_to_completion_ns.Record(waited_ns);
}

// A transaction of `ch` starts: its trace record and, when measured, its
// figures. `queued`: it waits in the send queue (the channel is not open,
// earlier sends wait, the writer is blocked, or the ring lacks room), so the
// record says what the send did, not what it tried.
void Runtime::RecordSend(Channel& ch, Packet& p, bool queued) {
  const sim::SimTime now = CallerNow();
  const uint32_t bytes = static_cast<uint32_t>(p.inband.size());
  // A server channel learns its guest when it is offered; a send before
  // that (a packet restored before Enable, §6.9) names the guest its VMBus
  // handle targets.
  const uint32_t guest = ch.guest != 0 || !ch.is_server ? ch.guest : ch.target_guest;
  sim().tracer().Emit({.time = now, .kind = kKmclSendTraceKind, .partition = ch.partition, .vp = ch.vp->vp_index(),
                       .channel = ch.relid, .id0 = ch.handle, .id1 = p.trans_id, .size0 = bytes,
                       .size1 = guest | (queued ? 1u << 16 : 0u)});
  if (options_.transaction_metrics) MeterSend(ch, p, bytes, queued, now);
}

// A transaction of `ch` ended: its trace record and, when measured, its figures.
void Runtime::RecordFinish(Channel& ch, Packet& p, NTSTATUS status) {
  const sim::SimTime now = ch.vp->LocalNow();
  sim().tracer().Emit({.time = now, .kind = kKmclFinishTraceKind, .partition = ch.partition, .vp = ch.vp->vp_index(),
                       .channel = ch.relid, .id0 = ch.handle, .id1 = p.trans_id,
                       .size0 = static_cast<uint32_t>(status), .size1 = ch.guest});
  if (p.metered) MeterFinish(ch, p, status, now);
}

// ---------------------------------------------------------------------------
// Incoming queue.

bool Runtime::AcceptGate(Channel& ch) {
  if (!ch.running || ch.queue_failed) return false;
  if (ch.outstanding >= ch.quota) {
    if (!ch.quota_stalled) ++counters_.quota_stalls;
    ch.quota_stalled = true;
    return false;
  }
  return true;
}

void Runtime::MaybeKick(Channel& ch) {
  if (ch.endpoint != nullptr && ch.endpoint->stalled() && ch.running && !ch.queue_failed &&
      ch.outstanding < ch.quota) {
    ch.quota_stalled = false;
    ch.endpoint->Kick();
  }
}

void Runtime::FollowDrain(Channel& ch) {
  fabric::Partition& partition = ch.partition == 0 ? fabric_->root() : fabric_->guest(ch.guest);
  ch.vp = &partition.vp(ch.endpoint->vp().vp_index());
  ch.state_worker->set_vp(ch.vp);
  ch.packet_worker->set_vp(ch.vp);
  ++counters_.channels_moved;
}

void Runtime::PeerViolationFor(Channel& ch, std::string reason) {
  ++counters_.peer_violations;
  peer_violations_.push_back(PeerViolation{.time = sim().Now(), .channel = ch.handle, .reason = std::move(reason)});
}

void Runtime::OnPacket(Channel& ch, const fabric::ParsedPacket& packet) {
  if (ABSL_PREDICT_FALSE(ch.frozen)) return;
  // The drain is where the interrupt lands; a MODIFYCHANNEL may have moved
  // both to another VP, and the channel's callbacks, DPCs and completion
  // routines follow from the first packet read there.
  if (ABSL_PREDICT_FALSE(&ch.endpoint->vp() != ch.vp)) FollowDrain(ch);
  const fabric::PacketType type = packet.type();
  if (type == fabric::PacketType::kComp) {
    OnCompletionPacket(ch, packet);
    return;
  }
  if (type != fabric::PacketType::kDataInband && type != fabric::PacketType::kDataUsingGpaDirect) {
    PeerViolationFor(ch, absl::StrCat("packet type ", static_cast<int>(type), " is not one KMCL receives; dropped"));
    return;
  }
  std::unique_ptr<Incoming> object;
  if (!incoming_pool_.empty()) {
    object = std::move(incoming_pool_.back());
    incoming_pool_.pop_back();
  } else {
    object = std::make_unique<Incoming>();
  }
  Incoming* inc = object.get();
  inc->channel = ch.handle;
  inc->trans_id = packet.descriptor.trans_id;
  inc->completion_requested = (packet.descriptor.flags & fabric::kCompletionRequestedFlag) != 0;
  inc->external = type == fabric::PacketType::kDataUsingGpaDirect;
  const absl::Span<const uint8_t> payload = packet.payload();
  inc->payload.assign(payload.begin(), payload.end());
  inc->ranges.clear();
  if (inc->external) inc->ranges = packet.GpaRanges();
  inc->client_context.assign(ch.client_context_size, 0);  // G11: zero-filled.
  inc->mdl_storage.clear();
  inc->pended_once = false;
  inc->defer_requested = false;
  inc->redeliver = false;
  inc->sent_tag = packet.tag;
  inc->delivery_metered = false;
  inc->processed_tag = 0;
  absl::StatusOr<uint64_t> handle = completions_.Insert(std::move(object));
  if (!handle.ok()) {
    PeerViolationFor(ch, "no room for another received packet; dropped");
    return;
  }
  inc->handle = *handle;
  ++ch.outstanding;
  if (ch.passive || ch.deferring) {
    ch.passive_queue.push_back(*handle);
    ++ch.batch_delivered;
    PostPassiveJob(ch);
  } else {
    Deliver(ch, *inc);
  }
}

void Runtime::Deliver(Channel& ch, Incoming& inc) {
  const uint64_t handle = inc.handle;
  const bool passive = context_.worker != nullptr;
  {
    ContextScope scope(this, Context{.irql = passive ? PASSIVE_LEVEL : DISPATCH_LEVEL,
                                     .channel = &ch,
                                     .kind = CallKind::kProcessPacket,
                                     .incoming = &inc,
                                     .worker = context_.worker,
                                     .vp = ch.vp});
    if (ch.vp->running()) ch.vp->Charge(fabric_->costs().kmcl_callback);
    const sim::SimTime now = ch.vp->LocalNow();
    sim().tracer().Emit({.time = now, .kind = kKmclDeliverTraceKind, .partition = ch.partition,
                         .vp = ch.vp->vp_index(), .channel = ch.relid, .id0 = ch.handle, .id1 = inc.trans_id,
                         .size0 = inc.payload.size(), .size1 = ch.guest | (passive ? 1u << 16 : 0u)});
    if (inc.sent_tag != 0 && !inc.delivery_metered) {
      inc.processed_tag = static_cast<uint64_t>(now.nanoseconds()) + 1;
      MeterDeliver(ch, inc, now);
    }
    inc.defer_requested = false;
    inc.redeliver = false;
    if (!passive) ++ch.batch_delivered;
    ++counters_.packets_delivered;
    ch.process_packet(DriverHandleOf<VMBCHANNEL>(ch.handle), DriverHandleOf<VMBPACKETCOMPLETION>(handle),
                      inc.payload.data(), static_cast<UINT32>(inc.payload.size()),
                      inc.external ? VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA : 0);
  }
  if (completions_.Classify(handle) != HandleState::kLive) return;  // Completed or failed inline.
  Incoming& live = inc;
  if (live.defer_requested) {
    // G18: the rest of the queue follows it to PASSIVE, in order.
    ch.deferring = true;
    ch.passive_queue.push_front(handle);
    PostPassiveJob(ch);
  } else if (live.redeliver) {
    if (passive) {
      ch.passive_queue.push_front(handle);
      PostPassiveJob(ch);
    } else {
      const uint64_t channel = ch.handle;
      ch.vp->Queue(fabric::Irql::kDispatch, sim::SimDuration::Zero(), [this, channel, handle] {
        absl::StatusOr<Channel*> c = channels_.Lookup(channel);
        absl::StatusOr<Incoming*> i = completions_.Lookup(handle);
        // Gone, or its guest reset (ResetGuest) since: nothing of it runs.
        if (!c.ok() || !i.ok() || (*c)->frozen) return;
        // A batch of its own: ProcessingComplete follows it, and its count
        // does not leak into the next ring batch (§5.7).
        Deliver(**c, **i);
        if (channels_.Lookup(channel).ok()) OnBatchEnd(**c, 0);
      });
    }
  }
}

void Runtime::PostPassiveJob(Channel& ch) {
  if (ch.passive_job_posted) return;
  ch.passive_job_posted = true;
  const uint64_t handle = ch.handle;
  ch.packet_worker->Post([this, handle] {
    absl::StatusOr<Channel*> found = channels_.Lookup(handle);
    if (found.ok()) RunPassiveBatch(**found);
  });
}

void Runtime::RunPassiveBatch(Channel& ch) {
  uint32_t delivered = 0;
  while (!ch.passive_queue.empty()) {
    const uint64_t handle = ch.passive_queue.front();
    ch.passive_queue.pop_front();
    if (handle == 0) {  // End of a DPC batch.
      if (delivered > 0 && ch.processing_complete != nullptr) {
        ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = &ch, .kind = CallKind::kOther,
                                         .worker = ch.packet_worker.get(), .vp = ch.vp,
                                         .callback = "EvtVmbChannelProcessingComplete"});
        ++counters_.processing_complete_calls;
        ch.processing_complete(DriverHandleOf<VMBCHANNEL>(ch.handle), delivered);
      }
      delivered = 0;
      continue;
    }
    absl::StatusOr<Incoming*> inc = completions_.Lookup(handle);
    if (!inc.ok()) continue;  // Retired meanwhile (close timeout).
    ++delivered;
    Deliver(ch, **inc);
  }
  ch.passive_job_posted = false;
  ch.deferring = false;
  Notify(&ch);
}

void Runtime::OnBatchEnd(Channel& ch, uint32_t count) {
  if (ABSL_PREDICT_FALSE(ch.frozen)) return;
  // `count` includes completion packets; ProcessingComplete counts deliveries.
  sim().tracer().Emit({.time = ch.vp->LocalNow(), .kind = kKmclBatchTraceKind, .partition = ch.partition,
                       .vp = ch.vp->vp_index(), .channel = ch.relid, .id0 = ch.handle, .size0 = count,
                       .size1 = ch.guest});
  if (ch.deferring || ch.passive) {
    ch.passive_queue.push_back(0);  // ProcessingComplete at PASSIVE after the batch.
    ch.batch_delivered = 0;
    PostPassiveJob(ch);
    return;
  }
  const uint32_t delivered = ch.batch_delivered;
  ch.batch_delivered = 0;
  if (delivered == 0 || ch.processing_complete == nullptr) return;
  ContextScope scope(this, Context{.irql = DISPATCH_LEVEL, .channel = &ch, .kind = CallKind::kOther, .vp = ch.vp,
                                   .callback = "EvtVmbChannelProcessingComplete"});
  if (ch.vp->running()) ch.vp->Charge(fabric_->costs().kmcl_callback);
  ++counters_.processing_complete_calls;
  ch.processing_complete(DriverHandleOf<VMBCHANNEL>(ch.handle), delivered);
}

void Runtime::RetireIncoming(Incoming& inc) {
  const uint64_t handle = inc.handle;
  Channel* const found = channels_.Find(inc.channel);
  absl::StatusOr<std::unique_ptr<Incoming>> removed = completions_.Remove(handle);
  if (removed.ok()) incoming_pool_.push_back(std::move(*removed));
  if (found == nullptr) return;
  Channel& ch = *found;
  VMBSIM_CHECK_GT(ch.outstanding, 0u);
  --ch.outstanding;
  MaybeKick(ch);
  if (ch.outstanding == 0) Notify(&ch);
}

absl::StatusOr<Runtime::Incoming*> Runtime::FindIncoming(VMBPACKETCOMPLETION handle, const char* function) {
  const uint64_t value = HandleValueOf(handle);
  if (Incoming* const found = completions_.Find(value)) {
    ChargeCall();
    return found;
  }
  if (retired_by_close_.count(value) != 0) {
    return Report(context_.channel, function, Rule::kCompletionAfterClose, STATUS_INVALID_HANDLE,
                  "the packet's channel was closed and the close retired the packet uncompleted; this "
                  "completion is for a transaction the peer no longer has");
  }
  if (completions_.Classify(value) == HandleState::kStale) {
    return Report(context_.channel, function, Rule::kDoubleCompletion, STATUS_INVALID_HANDLE,
                  "the packet was already completed or failed");
  }
  return Report(context_.channel, function, Rule::kStaleOrForeignHandle, STATUS_INVALID_HANDLE,
                std::string(completions_.Lookup(value).status().message()));
}

void Runtime::PacketComplete(VMBPACKETCOMPLETION handle, const void* buffer, uint32_t size) {
  constexpr const char* kFn = "VmbChannelPacketComplete";
  absl::StatusOr<Incoming*> found = FindIncoming(handle, kFn);
  if (!found.ok()) return;
  Incoming& inc = **found;
  Channel* const channel = channels_.Find(inc.channel);
  if (context_.incoming == &inc && inc.defer_requested) {
    Report(channel, kFn, Rule::kDoubleCompletion, STATUS_SUCCESS,
           "completed in the same invocation that deferred it to PASSIVE")
        .IgnoreError();
    return;
  }
  if (buffer == nullptr) size = 0;
  if (channel != nullptr) {
    Channel& ch = *channel;
    if (options_.transaction_metrics) MeterComplete(ch, inc);
    if (inc.completion_requested && ch.endpoint != nullptr) {
      const absl::Span<const uint8_t> payload(static_cast<const uint8_t*>(buffer), size);
      bool queued = !ch.send_queue.empty();
      if (!queued) {
        absl::StatusOr<fabric::WriteOutcome> sent =
            ch.endpoint->SendCompletion(inc.trans_id, payload, inc.processed_tag);
        if (!sent.ok() && absl::IsInvalidArgument(sent.status())) {
          Report(&ch, kFn, Rule::kOversizePacket, STATUS_SUCCESS,
                 absl::StrCat("a ", size, "-byte completion can never fit the ring (", sent.status().message(),
                              "); not sent"))
              .IgnoreError();
        } else if (!sent.ok() || *sent == fabric::WriteOutcome::kRingFull) {
          queued = ch.endpoint->failed() ? false : true;
        }
      }
      if (queued) {
        QueuedSend q;
        q.trans_id = inc.trans_id;
        q.completion.assign(payload.begin(), payload.end());
        q.tag = inc.processed_tag;
        EnqueueSend(ch, std::move(q));
      }
    }
  }
  ++counters_.packets_completed;
  RetireIncoming(inc);
}

Runtime::Incoming* Runtime::FindInlineIncoming(VMBPACKETCOMPLETION handle, const char* function) {
  absl::StatusOr<Incoming*> found = FindIncoming(handle, function);
  if (!found.ok()) return nullptr;
  if (context_.incoming != *found) {
    Report(context_.channel, function, Rule::kPacketCallOutsideProcessPacket, STATUS_SUCCESS,
           "legal only inline in EvtVmbChannelProcessPacket for that packet")
        .IgnoreError();
    return nullptr;
  }
  return *found;
}

void Runtime::PacketDeferToPassive(VMBPACKETCOMPLETION handle) {
  Incoming* inc = FindInlineIncoming(handle, "VmbChannelPacketDeferToPassive");
  if (inc != nullptr) inc->defer_requested = true;
}

void Runtime::PacketFail(VMBPACKETCOMPLETION handle) {
  Incoming* inc = FindInlineIncoming(handle, "VmbChannelPacketFail");
  if (inc == nullptr) return;
  // G19: retired without a completion message; the queue stops until Disable.
  absl::StatusOr<Channel*> channel = channels_.Lookup(inc->channel);
  if (channel.ok()) {
    (*channel)->queue_failed = true;
    PeerViolationFor(**channel, "the driver failed a packet (VmbChannelPacketFail); incoming queue stopped");
  }
  RetireIncoming(*inc);
}

absl::StatusOr<PMDL> Runtime::PacketGetExternalData(VMBPACKETCOMPLETION handle, uint32_t flags) {
  constexpr const char* kFn = "VmbChannelPacketGetExternalData";
  VMBSIM_ASSIGN_OR_RETURN(Incoming * inc, FindIncoming(handle, kFn));
  if (context_.incoming != inc) {
    return Report(context_.channel, kFn, Rule::kPacketCallOutsideProcessPacket, STATUS_INVALID_DEVICE_STATE,
                  "legal only during EvtVmbChannelProcessPacket for that packet");
  }
  if ((flags & ~uint32_t{VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": unknown flag bits"));
  }
  if (!inc->external) return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(kFn, ": the packet has no external data"));
  if (options_.external_data_pends_first && !inc->pended_once) {
    inc->pended_once = true;
    inc->redeliver = true;
    return KmclError(STATUS_PENDING, absl::StrCat(kFn, ": pages being pinned; the packet is delivered again"));
  }
  if (inc->mdl_storage.empty()) {
    // One MDL per GPA range, each followed by its PFN array, chained.
    size_t words = 0;
    for (const fabric::GpaRange& r : inc->ranges) words += sizeof(MDL) / 8 + r.pfns.size();
    inc->mdl_storage.assign(words, 0);
    uint64_t* cursor = inc->mdl_storage.data();
    MDL* previous = nullptr;
    for (const fabric::GpaRange& r : inc->ranges) {
      MDL* mdl = reinterpret_cast<MDL*>(cursor);
      mdl->Size = static_cast<CSHORT>(sizeof(MDL) + r.pfns.size() * sizeof(PFN_NUMBER));
      mdl->ByteCount = r.byte_count;
      mdl->ByteOffset = r.byte_offset;
      PPFN_NUMBER pfns = MmGetMdlPfnArray(mdl);
      for (size_t i = 0; i < r.pfns.size(); ++i) pfns[i] = static_cast<PFN_NUMBER>(r.pfns[i]);
      if (previous != nullptr) previous->Next = mdl;
      previous = mdl;
      cursor += sizeof(MDL) / 8 + r.pfns.size();
    }
  }
  if (inc->mdl_storage.empty()) return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(kFn, ": no ranges"));
  return reinterpret_cast<PMDL>(inc->mdl_storage.data());
}

void* Runtime::PacketGetClientContext(VMBPACKETCOMPLETION handle) {
  absl::StatusOr<Incoming*> found = FindIncoming(handle, "VmbChannelPacketGetClientContext");
  if (!found.ok() || (*found)->client_context.empty()) return nullptr;
  return (*found)->client_context.data();
}

// ---------------------------------------------------------------------------
// Transactions.

void Runtime::OnCompletionPacket(Channel& ch, const fabric::ParsedPacket& packet) {
  const uint64_t trans_id = packet.descriptor.trans_id;
  auto it = ch.in_flight.find(trans_id);
  if (it == ch.in_flight.end()) {
    if (ch.abandoned_trans.erase(trans_id) == 0) {
      PeerViolationFor(ch, absl::StrCat("completion for unknown transaction ", trans_id, "; dropped"));
    }
    return;
  }
  Packet* p = it->second;
  ch.in_flight.erase(it);
  ++counters_.completions_received;
  if (packet.tag != 0 && ABSL_PREDICT_FALSE(ch.vp->LocalNow().nanoseconds() < static_cast<int64_t>(packet.tag - 1))) {
    CausalityViolationFor(ch, trans_id, ch.vp->LocalNow(), static_cast<int64_t>(packet.tag - 1),
                          "completion seen before its request was processed");
  }
  const absl::Span<const uint8_t> payload = packet.payload();
  FinishTransaction(*p, STATUS_SUCCESS, payload.data(), static_cast<uint32_t>(payload.size()));
}

void Runtime::FinishTransaction(Packet& p, NTSTATUS status, const uint8_t* data, uint32_t size) {
  Channel* const ch = channels_.Find(p.channel);
  if (ABSL_PREDICT_FALSE(ch != nullptr && ch->frozen)) return;  // No routine of a reset guest runs.
  if (ch != nullptr) RecordFinish(*ch, p, status);
  p.state = Packet::State::kIdle;
  if (p.sync != nullptr) {
    Sync* sync = p.sync;
    sync->done = true;
    sync->status = status;
    sync->completion.assign(data, data + size);
    Notify(sync);
    return;
  }
  const uint64_t handle = p.handle;
  if (!p.routine_set) {
    FreePacketObject(&p);  // The default routine of an allocated packet frees it (§6.7).
    return;
  }
  PFN_VMB_PACKET_COMPLETION_ROUTINE routine = p.routine;
  ContextScope scope(this, Context{.irql = std::max<int>(context_.irql, PASSIVE_LEVEL),
                                   .channel = ch,
                                   .kind = CallKind::kCompletionRoutine,
                                   .worker = context_.worker,
                                   .vp = ch != nullptr ? ch->vp : context_.vp});
  if (context_.vp != nullptr && context_.vp->running()) context_.vp->Charge(fabric_->costs().kmcl_callback);
  if (routine != nullptr) routine(DriverHandleOf<VMBPACKET>(handle), status, size == 0 ? nullptr : const_cast<uint8_t*>(data), size);
}

// ---------------------------------------------------------------------------
// Packet objects.

Runtime::Packet* Runtime::PacketByValue(uint64_t value) {
  if (HandleMarkerBits(value) == kHandleMarker) return packets_.Find(value);
  auto it = caller_packets_.find(static_cast<uintptr_t>(value));
  return it == caller_packets_.end() ? nullptr : it->second.get();
}

inline Runtime::Packet* Runtime::LivePacket(VMBPACKET handle) {
  Packet* p = PacketByValue(HandleValueOf(handle));
  if (p != nullptr) ChargeCall();
  return p;
}

absl::StatusOr<Runtime::Packet*> Runtime::FindPacket(VMBPACKET handle, const char* function) {
  if (Packet* live = LivePacket(handle)) return live;
  return PacketHandleError(handle, function);
}

absl::Status Runtime::PacketHandleError(VMBPACKET handle, const char* function) {
  const uint64_t value = HandleValueOf(handle);
  std::string why = HandleMarkerBits(value) == kHandleMarker
                        ? std::string(packets_.Lookup(value).status().message())
                        : absl::StrCat("0x", absl::Hex(value), " is neither an allocated packet nor "
                                       "storage given to VmbPacketInitialize");
  return Report(context_.channel, function, Rule::kStaleOrForeignHandle, STATUS_INVALID_HANDLE, std::move(why));
}

void Runtime::FreePacketObject(Packet* p) {
  if (p->caller_owned) {
    caller_packets_.erase(static_cast<uintptr_t>(p->handle));
    return;
  }
  absl::StatusOr<std::unique_ptr<Packet>> removed = packets_.Remove(p->handle);
  if (removed.ok()) packet_pool_.push_back(std::move(*removed));
}

absl::StatusOr<VMBPACKET> Runtime::PacketAllocate(VMBCHANNEL handle) {
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, "VmbPacketAllocate"));
  if (fabric::FaultHook* hook = fabric_->fault_hook(); ABSL_PREDICT_FALSE(hook != nullptr)) {
    const fabric::FaultAction action = hook->At({.site = fabric::FaultSite::kPacketAllocate,
                                                 .guest = ch->partition != 0 ? ch->partition : ch->guest,
                                                 .relid = ch->relid,
                                                 .host_side = ch->partition == 0});
    if (action.kind == fabric::FaultAction::Kind::kFail) {
      return KmclError(STATUS_INSUFFICIENT_RESOURCES, "VmbPacketAllocate: allocation failed (fault)");
    }
  }
  std::unique_ptr<Packet> object;
  if (!packet_pool_.empty()) {
    object = std::move(packet_pool_.back());
    packet_pool_.pop_back();
  } else {
    object = std::make_unique<Packet>();
  }
  Packet* p = object.get();
  // A pooled object keeps the buffers of its last send, emptied, so that a
  // driver sending one packet object after another reuses one buffer
  // instead of allocating and freeing one per send. A fresh object has no
  // buffer until the send copies its payload (G6), sized to it: a
  // reservation of the channel's maximum packet size per packet object
  // made a driver holding many packets cost that size for each (10^5
  // greetings of 8 bytes took 400 MB and most of the run in page faults).
  std::vector<uint8_t> inband = std::move(p->inband);
  std::vector<fabric::GpaRange> ranges = std::move(p->ranges);
  *p = Packet{};
  inband.clear();
  ranges.clear();
  p->inband = std::move(inband);
  p->ranges = std::move(ranges);
  p->channel = ch->handle;
  VMBSIM_ASSIGN_OR_RETURN(const uint64_t value, packets_.Insert(std::move(object)));
  p->handle = value;
  return DriverHandleOf<VMBPACKET>(value);
}

absl::Status Runtime::PacketInitialize(VMBCHANNEL handle, VMBPACKET storage, uint32_t size) {
  constexpr const char* kFn = "VmbPacketInitialize";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  const uintptr_t address = reinterpret_cast<uintptr_t>(storage);
  if (address == 0 || HandleMarkerBits(address) == kHandleMarker) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": VmbPacket is not caller storage"));
  }
  VMBSIM_ASSIGN_OR_RETURN(const uint32_t needed, SizeofPacket(handle));
  if (size < needed) {
    return KmclError(STATUS_INVALID_PARAMETER_3,
                     absl::StrCat(kFn, ": ByteCount ", size, " below VmbChannelSizeofPacket() = ", needed));
  }
  auto it = caller_packets_.find(address);
  if (it != caller_packets_.end() && it->second->state != Packet::State::kIdle) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  "re-initialising a packet that is still in flight");
  }
  auto p = std::make_unique<Packet>();
  p->handle = address;
  p->caller_owned = true;
  p->channel = ch->handle;
  p->routine_set = false;  // Invalid until VmbPacketSetCompletionRoutine (§6.7).
  caller_packets_[address] = std::move(p);
  return absl::OkStatus();
}

void Runtime::PacketFree(VMBPACKET handle) {
  constexpr const char* kFn = "VmbPacketFree";
  absl::StatusOr<Packet*> found = FindPacket(handle, kFn);
  if (!found.ok()) return;
  Packet* p = *found;
  Channel* const ch = channels_.Find(p->channel);
  if (p->caller_owned) {
    Report(ch, kFn, Rule::kPacketFreeInvalid, STATUS_SUCCESS,
           "the packet came from VmbPacketInitialize (caller storage)")
        .IgnoreError();
    return;
  }
  if (p->state != Packet::State::kIdle) {
    Report(ch, kFn, Rule::kPacketFreeInvalid, STATUS_SUCCESS,
           "the packet is in flight (queued or awaiting its completion)")
        .IgnoreError();
    return;
  }
  FreePacketObject(p);
}

void Runtime::PacketSetCompletionRoutine(VMBPACKET handle, PFN_VMB_PACKET_COMPLETION_ROUTINE routine) {
  absl::StatusOr<Packet*> found = FindPacket(handle, "VmbPacketSetCompletionRoutine");
  if (!found.ok()) return;
  (*found)->routine = routine;
  (*found)->routine_set = true;  // Freeing is now the driver's duty.
}

void Runtime::PacketSetPointer(VMBPACKET handle, void* pointer) {
  absl::StatusOr<Packet*> found = FindPacket(handle, "VmbPacketSetPointer");
  if (found.ok()) (*found)->pointer = pointer;
}

void* Runtime::PacketGetPointer(VMBPACKET handle) {
  // Drivers call this per completion: no status on the live path.
  if (Packet* live = LivePacket(handle)) return live->pointer;
  PacketHandleError(handle, "VmbPacketGetPointer").IgnoreError();  // Reported; the driver gets NULL.
  return nullptr;
}

VMBCHANNEL Runtime::PacketGetChannel(VMBPACKET handle) {
  absl::StatusOr<Packet*> found = FindPacket(handle, "VmbPacketGetChannel");
  return found.ok() ? DriverHandleOf<VMBCHANNEL>((*found)->channel) : nullptr;
}

// ---------------------------------------------------------------------------
// Sends.

absl::StatusOr<std::vector<fabric::GpaRange>> Runtime::RangesFromMdl(Channel& ch, PMDL mdl, uint32_t offset,
                                                                     uint32_t length, bool force_length,
                                                                     const char* function) {
  std::vector<fabric::GpaRange> ranges;
  uint64_t total = 0;
  uint32_t skip = offset;
  uint64_t remaining = length;  // 0: to the end.
  uint32_t pieces = 0;
  for (MDL* m = mdl; m != nullptr; m = force_length ? nullptr : m->Next) {
    if (++pieces > kMdlChainMax) {
      return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": MDL chain longer than ", kMdlChainMax));
    }
    uint64_t count = m->ByteCount;
    if (force_length && length != 0) {
      // FORCE_MDL_LENGTH: MdlLength may exceed ByteCount up to the last page's end.
      const uint64_t page_end = PagesSpanned(m->ByteOffset, m->ByteCount) * kPageBytes - m->ByteOffset % kPageBytes;
      if (uint64_t{offset} + length > page_end) {
        return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": MdlLength beyond the MDL's last page"));
      }
      count = std::max<uint64_t>(count, uint64_t{offset} + length);
    }
    if (count > kExternalBytesMax) {
      return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": MDL ByteCount ", count, " too large"));
    }
    if (skip >= count) {
      skip -= static_cast<uint32_t>(count);
      continue;
    }
    const uint64_t start = uint64_t{m->ByteOffset % kPageBytes} + skip;
    uint64_t take = count - skip;
    if (length != 0) take = std::min(take, remaining);
    skip = 0;
    fabric::GpaRange range;
    range.byte_offset = static_cast<uint32_t>(start % kPageBytes);
    range.byte_count = static_cast<uint32_t>(take);
    const PPFN_NUMBER pfns = MmGetMdlPfnArray(m);
    const uint64_t first_page = start / kPageBytes;
    const uint64_t pages = PagesSpanned(range.byte_offset, take);
    for (uint64_t i = 0; i < pages; ++i) range.pfns.push_back(pfns[first_page + i]);
    ranges.push_back(std::move(range));
    total += take;
    if (length != 0) {
      remaining -= take;
      if (remaining == 0) break;
    }
  }
  if (ranges.empty() || (length != 0 && remaining != 0)) {
    return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": offset/length outside the MDL chain"));
  }
  if (ch.max_chain_length != 0 && ranges.size() > ch.max_chain_length) {
    return RefuseOversize(ch, function, STATUS_INVALID_PARAMETER,
                          absl::StrCat(ranges.size(), " MDLs above the declared chain length ", ch.max_chain_length));
  }
  if (ch.max_external_data != 0 && total > ch.max_external_data) {
    return RefuseOversize(ch, function, STATUS_INVALID_PARAMETER,
                          absl::StrCat(total, " external bytes above the declared ", ch.max_external_data));
  }
  return ranges;
}

absl::Status Runtime::RefuseOversize(Channel& ch, const char* function, NTSTATUS status, std::string detail) {
  VMBSIM_CHECK_NE(status, STATUS_SUCCESS);  // A refused send fails its call.
  if (options_.transaction_metrics) MeterSendFailed(ch);
  return Report(&ch, function, Rule::kOversizePacket, status, std::move(detail));
}

fabric::OutgoingPacket Runtime::WireFormOf(const Packet& p) {
  fabric::OutgoingPacket out;
  out.type = p.ranges.empty() ? fabric::PacketType::kDataInband : fabric::PacketType::kDataUsingGpaDirect;
  out.flags = (p.flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0 ? fabric::kCompletionRequestedFlag : 0;
  out.trans_id = p.trans_id;
  out.payload = absl::MakeConstSpan(p.inband);
  out.gpa_ranges = absl::MakeConstSpan(p.ranges);
  if (p.metered) out.tag = static_cast<uint64_t>(p.sent_at_ns) + 1;  // For the peer's MeterDeliver.
  return out;
}

uint32_t Runtime::OutgoingFootprintMax(const Channel& ch) const {
  // Attached: the writer's own limit (its size rule, set at attach).
  if (ch.endpoint != nullptr) return ch.endpoint->writer().packet_footprint_bytes_max();
  // A server's rings are the client's choice: unknown until the open.
  if (ch.is_server) return 0;
  // A client's are its own, fixed by its configuration (Init setters end at
  // Enable): the ring it will open, under the rule its writer will get.
  const uint64_t data_bytes = (ClientRingPages(ch).outgoing - 1) * kPageBytes;
  VMBSIM_CHECK_LE(data_bytes, uint64_t{fabric::kRingDataPageCountMax} * kPageBytes);
  return fabric::PacketFootprintBytesMax(options_.writer_size_rule, static_cast<uint32_t>(data_bytes));
}

std::string Runtime::NeverFitsReason(const Channel& ch, const Packet& p,
                                     const absl::StatusOr<fabric::PacketGeometry>& geometry) const {
  if (!geometry.ok()) return absl::StrCat("the packet cannot be encoded: ", geometry.status().message());
  const uint32_t max_bytes = OutgoingFootprintMax(ch);
  if (max_bytes == 0) return "";  // Decided when the packet leaves the send queue.
  if (geometry->ring_footprint_bytes <= max_bytes) return "";
  return absl::StrCat("a packet of ", p.inband.size(), " in-band bytes", p.ranges.empty() ? "" : " and external data",
                      " takes ", geometry->ring_footprint_bytes, " ring bytes; the channel's outgoing ring takes at most ",
                      max_bytes, " (writer size rule, G10)");
}

absl::StatusOr<Runtime::Admission> Runtime::AdmitSend(Channel& ch, const Packet& p, const char* function) {
  const absl::StatusOr<fabric::PacketGeometry> geometry = fabric::MeasurePacket(WireFormOf(p));
  if (std::string why = NeverFitsReason(ch, p, geometry); !why.empty()) {
    return RefuseOversize(ch, function, STATUS_INVALID_BUFFER_SIZE, std::move(why));
  }
  if (ch.conn != ConnState::kOpen || ch.endpoint == nullptr || !ch.send_queue.empty()) return Admission::kQueue;
  fabric::ChannelDataPath& ep = *ch.endpoint;
  if (ep.failed()) {
    return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": the channel's ring failed: ",
                                                            ep.status().message()));
  }
  if (ep.writer_blocked()) return Admission::kQueue;  // Earlier packets wait for space; this one joins them.
  // The writer's own test, so that what the trace records is what the write does.
  VMBSIM_CHECK(geometry.ok());  // Else NeverFitsReason refused it.
  absl::StatusOr<bool> fits = ep.writer().CanWrite(geometry->ring_footprint_bytes);
  if (!fits.ok()) {
    return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat(function, ": the channel's ring failed: ",
                                                            fits.status().message()));
  }
  return *fits ? Admission::kWriteNow : Admission::kRingFull;
}

absl::Status Runtime::SubmitSend(Packet& p, Channel& ch, const void* buffer, uint32_t length,
                                 std::vector<fabric::GpaRange> ranges, uint32_t flags, const char* function) {
  // A thread sends when it gets there, and sees the channel as it is then.
  CatchUpWithLocalClock();
  if (length > 0 && buffer == nullptr) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(function, ": Buffer is NULL"));
  }
  if (length > ch.max_packet_size) {
    return RefuseOversize(ch, function, STATUS_INVALID_PARAMETER_3,
                          absl::StrCat("BufferLength ", length, " above the maximum packet size ", ch.max_packet_size));
  }
  if (p.state != Packet::State::kIdle) {
    return Report(&ch, function, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  "the packet object is already in flight");
  }
  if (p.caller_owned && !p.routine_set && p.sync == nullptr) {
    return Report(&ch, function, Rule::kSendWithoutCompletionRoutine, STATUS_INVALID_DEVICE_STATE,
                  "a VmbPacketInitialize'd packet needs VmbPacketSetCompletionRoutine before its send");
  }
  if (ch.conn == ConnState::kDisabled) {
    return Report(&ch, function, Rule::kSendOnDisabledChannel, STATUS_INVALID_DEVICE_STATE,
                  "the channel is disabled (never enabled, disabled, or rescinded)");
  }
  if (ABSL_PREDICT_FALSE(ch.frozen)) {
    return KmclError(STATUS_DEVICE_REMOVED, absl::StrCat(function, ": the channel's guest reset"));
  }
  if ((flags & VMBUS_CHANNEL_FORMAT_FLAG_PAGED_BUFFER) != 0 && AtDispatch()) {
    Report(&ch, function, Rule::kIrqlViolation, STATUS_SUCCESS,
           "PAGED_BUFFER announces a pageable buffer; the call must be at PASSIVE_LEVEL")
        .IgnoreError();
  }
  if (ch.suspended && ch.conn == ConnState::kOpen && !ch.running) {
    Report(&ch, function, Rule::kSendAfterSuspend, STATUS_SUCCESS,
           "a send after EvtChannelSuspend and before the next EvtChannelStarted")
        .IgnoreError();
  }
  p.inband.assign(static_cast<const uint8_t*>(buffer), static_cast<const uint8_t*>(buffer) + length);  // G6.
  p.ranges = std::move(ranges);
  p.flags = flags;
  p.send_function = function;
  VMBSIM_ASSIGN_OR_RETURN(const Admission admission, AdmitSend(ch, p, function));
  p.trans_id = ++ch.next_trans_id;
  RecordSend(ch, p, /*queued=*/admission != Admission::kWriteNow);
  if (admission != Admission::kQueue) {
    // Written now, or refused for space: the refusal starts the data path's
    // blocked-writer protocol, whose wake-up flushes the send queue.
    // The write is the test: a refusal queues the packet, whatever moved the
    // ring's indexes since AdmitSend asked (a peer may move them at the write
    // itself). The trace and the meter keep the admission's answer.
    VMBSIM_ASSIGN_OR_RETURN(const bool written, TryWrite(ch, p));
    if (written) return absl::OkStatus();
  }
  p.state = Packet::State::kQueued;
  EnqueueSend(ch, QueuedSend{.packet = &p});
  ++counters_.packets_queued;
  return absl::OkStatus();
}

bool Runtime::CatchUpWithLocalClock() {
  if (context_.worker == nullptr || !sim::Fiber::InFiber() || context_.irql != PASSIVE_LEVEL ||
      context_.vp == nullptr || !context_.vp->running()) {
    return false;
  }
  const sim::SimTime target = context_.vp->LocalNow();
  if (target <= sim().Now()) return false;
  // A wait of this thread alone, woken by its own timer: no wait key, so
  // nothing else can wake it early (a packet's send is one such wait).
  Worker* const worker = context_.worker;
  sim().ScheduleAt(target, [worker] { worker->Wake(); });
  while (sim().Now() < target) {
    if (ending_) return false;  // ReleaseWorkers: nothing waits any more.
    BlockWorker(worker);
  }
  return true;
}

absl::StatusOr<bool> Runtime::TryWrite(Channel& ch, Packet& p) {
  absl::StatusOr<fabric::WriteOutcome> outcome = ch.endpoint->Send(WireFormOf(p));
  if (!outcome.ok()) {
    if (absl::IsFailedPrecondition(outcome.status()) && !ch.endpoint->failed()) return false;  // Writer blocked.
    return KmclError(STATUS_INVALID_PARAMETER, absl::StrCat("send of transaction ", p.trans_id, ": ",
                                                            outcome.status().message()));
  }
  if (*outcome == fabric::WriteOutcome::kRingFull) return false;
  AfterWritten(ch, p);
  return true;
}

void Runtime::AfterWritten(Channel& ch, Packet& p) {
  ++counters_.packets_sent;
  if ((p.flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0) {
    p.state = Packet::State::kInFlight;
    ch.in_flight[p.trans_id] = &p;
    // A completion to wait for: the re-check timer runs while there is one.
    if (ABSL_PREDICT_FALSE(ch.policy.unstick_period.has_value()) && !ch.unstick_armed) ArmUnstick(ch);
    return;
  }
  if (p.sync != nullptr) {
    FinishTransaction(p, STATUS_SUCCESS, nullptr, 0);
    return;
  }
  // Without WAIT the transaction is over once the packet is in the ring; its
  // routine runs later as a DPC, never inside the send (§10.4).
  p.state = Packet::State::kFinishing;
  const uint64_t value = p.handle;
  fabric::VirtualProcessor* vp = ch.vp;
  vp->Queue(fabric::Irql::kDispatch, sim::SimDuration::Zero(), [this, value, vp] {
    Packet* packet = PacketByValue(value);
    if (packet == nullptr || packet->state != Packet::State::kFinishing) return;
    ContextScope scope(this, Context{.irql = DISPATCH_LEVEL, .kind = CallKind::kCompletionRoutine, .vp = vp});
    FinishTransaction(*packet, STATUS_SUCCESS, nullptr, 0);
  });
}

void Runtime::EnqueueSend(Channel& ch, QueuedSend send) {
  send.serial = ++ch.next_send_serial;
  fabric::VirtualProcessor* vp = context_.vp;
  if (vp != nullptr && vp->LocalNow() > sim().Now()) {
    send.held = true;
    vp->AtLocalNow([this, handle = ch.handle, serial = send.serial] { ReleaseHeldSend(handle, serial); });
  }
  ch.send_queue.push_back(std::move(send));
}

void Runtime::ReleaseHeldSend(uint64_t handle, uint64_t serial) {
  Channel* ch = channels_.Find(handle);
  if (ch == nullptr) return;
  // Serials rise along the queue (entries leave from anywhere, never reorder).
  const auto it = std::lower_bound(ch->send_queue.begin(), ch->send_queue.end(), serial,
                                   [](const QueuedSend& q, uint64_t s) { return q.serial < s; });
  if (it == ch->send_queue.end() || it->serial != serial) return;  // Cancelled meanwhile.
  it->held = false;
  FlushSendQueue(*ch);
}

void Runtime::FlushSendQueue(Channel& ch) {
  // A frozen channel (ResetGuest) has no endpoint: nothing is written.
  while (!ch.send_queue.empty() && ch.conn == ConnState::kOpen && ch.endpoint != nullptr) {
    QueuedSend& q = ch.send_queue.front();
    if (q.held) return;  // Its sender's VP has not reached it: its release flushes.
    if (q.packet == nullptr) {
      absl::StatusOr<fabric::WriteOutcome> sent =
          ch.endpoint->SendCompletion(q.trans_id, absl::MakeConstSpan(q.completion), q.tag);
      if (sent.ok() && *sent == fabric::WriteOutcome::kRingFull) return;
      if (!sent.ok() && absl::IsFailedPrecondition(sent.status()) && !ch.endpoint->failed()) return;
      if (!sent.ok() && absl::IsInvalidArgument(sent.status())) {
        Report(&ch, "VmbChannelPacketComplete", Rule::kOversizePacket, STATUS_SUCCESS,
               absl::StrCat("a ", q.completion.size(), "-byte completion can never fit the ring (",
                            sent.status().message(), "); not sent"))
            .IgnoreError();
      }
      ch.send_queue.pop_front();
      continue;
    }
    Packet* p = q.packet;
    if (std::string why = NeverFitsReason(ch, *p, fabric::MeasurePacket(WireFormOf(*p))); !why.empty()) {
      // Sent while the ring was unknown (a server before the open): the send
      // returned success, so its transaction fails, with the status a send
      // after the open would have got (G10).
      Report(&ch, p->send_function, Rule::kOversizePacket, STATUS_SUCCESS,
             absl::StrCat(why, "; it waited in the send queue, and its transaction fails with "
                               "STATUS_INVALID_BUFFER_SIZE"))
          .IgnoreError();
      ch.send_queue.pop_front();
      p->state = Packet::State::kIdle;
      FinishTransaction(*p, STATUS_INVALID_BUFFER_SIZE, nullptr, 0);
      continue;
    }
    p->state = Packet::State::kIdle;
    absl::StatusOr<bool> written = TryWrite(ch, *p);
    if (written.ok() && !*written) {
      p->state = Packet::State::kQueued;
      return;
    }
    ch.send_queue.pop_front();
    if (!written.ok()) FinishTransaction(*p, ToNtStatus(written.status()), nullptr, 0);
  }
}

absl::Status Runtime::PacketSend(VMBPACKET handle, const void* buffer, uint32_t length, PMDL mdl, uint32_t flags) {
  constexpr const char* kFn = "VmbPacketSend";
  VMBSIM_ASSIGN_OR_RETURN(Packet * p, FindPacket(handle, kFn));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_FORMAT_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_5, absl::StrCat(kFn, ": unknown flag bits"));
  }
  Channel* const ch = channels_.Find(p->channel);
  if (ch == nullptr) return KmclError(STATUS_INVALID_HANDLE, absl::StrCat(kFn, ": the packet's channel is gone"));
  std::vector<fabric::GpaRange> ranges;
  if (mdl != nullptr) {
    if (options_.require_wait_with_external_data && (flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) == 0) {
      return KmclError(STATUS_INVALID_PARAMETER_5, absl::StrCat(kFn, ": external data needs WAIT_FOR_COMPLETION (G23)"));
    }
    VMBSIM_ASSIGN_OR_RETURN(ranges, RangesFromMdl(*ch, mdl, 0, 0, false, kFn));
  }
  return SubmitSend(*p, *ch, buffer, length, std::move(ranges), flags, kFn);
}

absl::Status Runtime::PacketSendWithExternalMdl(VMBPACKET handle, const void* buffer, uint32_t length, PMDL mdl,
                                                uint32_t mdl_offset, uint32_t mdl_length, uint32_t flags) {
  constexpr const char* kFn = "VmbPacketSendWithExternalMdl";
  VMBSIM_ASSIGN_OR_RETURN(Packet * p, FindPacket(handle, kFn));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_FORMAT_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_7, absl::StrCat(kFn, ": unknown flag bits"));
  }
  if ((flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) == 0) {
    return KmclError(STATUS_INVALID_PARAMETER_7, absl::StrCat(kFn, ": WAIT_FOR_COMPLETION must be set"));
  }
  if (mdl == nullptr) return KmclError(STATUS_INVALID_PARAMETER_4, absl::StrCat(kFn, ": ExternalDataMdl is NULL"));
  absl::StatusOr<Channel*> ch = channels_.Lookup(p->channel);
  if (!ch.ok()) return KmclError(STATUS_INVALID_HANDLE, absl::StrCat(kFn, ": the packet's channel is gone"));
  VMBSIM_ASSIGN_OR_RETURN(
      std::vector<fabric::GpaRange> ranges,
      RangesFromMdl(**ch, mdl, mdl_offset, mdl_length, (flags & VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH) != 0, kFn));
  return SubmitSend(*p, **ch, buffer, length, std::move(ranges), flags, kFn);
}

absl::Status Runtime::PacketSendWithExternalPfns(VMBPACKET handle, const void* buffer, uint32_t length,
                                                 const PFN_NUMBER* pfns, uint32_t pfn_count, uint32_t flags) {
  constexpr const char* kFn = "VmbPacketSendWithExternalPfns";
  VMBSIM_ASSIGN_OR_RETURN(Packet * p, FindPacket(handle, kFn));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_FORMAT_FLAGS}) != 0 ||
      (flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) == 0) {
    return KmclError(STATUS_INVALID_PARAMETER_6, absl::StrCat(kFn, ": WAIT_FOR_COMPLETION must be set, no unknown bits"));
  }
  if (pfns == nullptr || pfn_count == 0 || uint64_t{pfn_count} * kPageBytes > kExternalBytesMax) {
    return KmclError(STATUS_INVALID_PARAMETER_4, absl::StrCat(kFn, ": PFN list empty or too long"));
  }
  absl::StatusOr<Channel*> ch = channels_.Lookup(p->channel);
  if (!ch.ok()) return KmclError(STATUS_INVALID_HANDLE, absl::StrCat(kFn, ": the packet's channel is gone"));
  fabric::GpaRange range;  // G20: one range, offset 0, whole pages.
  range.byte_offset = 0;
  range.byte_count = pfn_count * static_cast<uint32_t>(kPageBytes);
  range.pfns.assign(pfns, pfns + pfn_count);
  if ((*ch)->max_external_data != 0 && range.byte_count > (*ch)->max_external_data) {
    return RefuseOversize(**ch, kFn, STATUS_INVALID_PARAMETER,
                          absl::StrCat(range.byte_count, " external bytes above the declared ", (*ch)->max_external_data));
  }
  std::vector<fabric::GpaRange> ranges;
  ranges.push_back(std::move(range));
  return SubmitSend(*p, **ch, buffer, length, std::move(ranges), flags, kFn);
}

absl::Status Runtime::SendSynchronousRequest(VMBCHANNEL handle, const void* buffer, uint32_t length, PMDL mdl,
                                             uint32_t flags, void* completion_buffer, uint32_t* completion_size,
                                             const LARGE_INTEGER* timeout) {
  constexpr const char* kFn = "VmbChannelSendSynchronousRequest";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_FORMAT_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_5, absl::StrCat(kFn, ": unknown flag bits"));
  }
  const bool wait_flag = (flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0;
  const bool zero_timeout = timeout != nullptr && timeout->QuadPart == 0;
  const bool waits = !zero_timeout || wait_flag;
  if (ch->is_server && waits) {
    return Report(ch, kFn, Rule::kSyncRequestWaitOnServer, STATUS_INVALID_PARAMETER,
                  "the root may only use a zero timeout without WAIT_FOR_COMPLETION");
  }
  if (waits && ch->in_state_callback && ch->current_callback == CallbackId::kStarted && context_.channel == ch) {
    return Report(ch, kFn, Rule::kSyncRequestInStarted, STATUS_INVALID_DEVICE_STATE,
                  "a waiting request from EvtChannelStarted would never return (the queue is not running)");
  }
  if (waits && AtDispatch()) {
    return Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_INVALID_DEVICE_STATE,
                  "a waiting synchronous request at DISPATCH_LEVEL");
  }
  if (completion_size != nullptr && *completion_size % 8 != 0) {
    return KmclError(STATUS_INVALID_PARAMETER,
                     absl::StrCat(kFn, ": *CompletionBufferSize ", *completion_size, " is not a multiple of 8 (G21)"));
  }
  if (completion_size != nullptr && *completion_size != 0 && completion_buffer == nullptr) {
    return KmclError(STATUS_INVALID_PARAMETER_6, absl::StrCat(kFn, ": CompletionBuffer is NULL"));
  }
  if (ch->conn == ConnState::kDisabled) {
    return Report(ch, kFn, Rule::kSendOnDisabledChannel, STATUS_DEVICE_REMOVED, "the channel is not enabled");
  }
  if (ch->frozen) {
    // The abandoned driver of a reset guest, torn down after the run: its
    // wire is gone, and nothing would ever answer.
    return KmclError(STATUS_DEVICE_REMOVED, absl::StrCat(kFn, ": the channel's guest reset"));
  }
  std::vector<fabric::GpaRange> ranges;
  if (mdl != nullptr) {
    if (ch->is_server) return KmclError(STATUS_INVALID_PARAMETER_4, absl::StrCat(kFn, ": no external data from the root (G21)"));
    VMBSIM_ASSIGN_OR_RETURN(ranges, RangesFromMdl(*ch, mdl, 0, 0, false, kFn));
  }
  Sync sync;
  Packet p;
  p.channel = ch->handle;
  p.sync = &sync;
  if (zero_timeout) {
    // Not queued at all if it does not fit right now. A send like any other
    // once in the ring: its Send and Finish records, its metering.
    //
    // With WAIT_FOR_COMPLETION too, the zero timeout still means this: the
    // header makes that form a waiting one (its SAL asks for PASSIVE_LEVEL
    // whenever WAIT_FOR_COMPLETION is set), and its documentation says a
    // zero timeout leaves the packet unqueued when it does not fit. So the
    // zero bounds the wait for ring space, not the wait for the completion:
    // a packet that fits is written and the call waits for its completion,
    // as with no timeout; one that does not fit is STATUS_BUFFER_OVERFLOW
    // and nothing is queued. (Before, it was queued behind a full ring and
    // cancelled at +0.)
    if (length > ch->max_packet_size) {
      return RefuseOversize(*ch, kFn, STATUS_INVALID_PARAMETER_3,
                            absl::StrCat("BufferSize ", length, " above the maximum packet size ", ch->max_packet_size));
    }
    if (length > 0 && buffer == nullptr) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": Buffer is NULL"));
    p.inband.assign(static_cast<const uint8_t*>(buffer), static_cast<const uint8_t*>(buffer) + length);
    p.ranges = std::move(ranges);
    p.flags = flags;
    p.send_function = kFn;
    VMBSIM_ASSIGN_OR_RETURN(const Admission admission, AdmitSend(*ch, p, kFn));  // Refuses one that never fits.
    if (admission != Admission::kWriteNow) {
      return KmclError(STATUS_BUFFER_OVERFLOW, absl::StrCat(kFn, ": the packet does not fit the ring now "
                                                                 "(or the channel is not open, or sends wait)"));
    }
    p.trans_id = ++ch->next_trans_id;
    RecordSend(*ch, p, /*queued=*/false);
    // Without WAIT this finishes the transaction; with WAIT it is in flight.
    VMBSIM_ASSIGN_OR_RETURN(const bool written, TryWrite(*ch, p));
    VMBSIM_CHECK(written);  // AdmitSend asked the writer itself, in this same event.
    if (!wait_flag) {
      if (completion_size != nullptr) *completion_size = 0;
      return absl::OkStatus();
    }
  } else {
    VMBSIM_RETURN_IF_ERROR(SubmitSend(p, *ch, buffer, length, std::move(ranges), flags, kFn));
  }
  sim::EventId timer;
  bool has_timer = false;
  // A timeout beyond any run (2^52 units of 100 ns, some 14 years) is driver
  // input the checked time arithmetic must not see: it waits forever, as
  // NULL does.
  constexpr int64_t kTimeout100nsMax = int64_t{1} << 52;
  if (timeout != nullptr && !zero_timeout && timeout->QuadPart >= -kTimeout100nsMax &&
      timeout->QuadPart <= kTimeout100nsMax) {
    // KeWaitForSingleObject form: negative = relative, positive = absolute,
    // in 100 ns. Both count on the caller's clock, the one its
    // KeQueryInterruptTime reads: its VP's local time, ahead of the global
    // clock by the costs its work item has charged so far. The timer fires
    // at that deadline on the global clock, and the caller resumes in a later
    // work item, which starts no earlier, so the wait never ends before the
    // caller's own clock says the timeout elapsed.
    const sim::SimTime caller_now = CallerNow();
    VMBSIM_CHECK_GE(caller_now.nanoseconds(), sim().Now().nanoseconds());  // Local clocks never run behind.
    const sim::SimTime deadline =
        timeout->QuadPart < 0 ? caller_now + sim::SimDuration::Units100ns(-timeout->QuadPart)
                              : sim::SimTime::Zero() + sim::SimDuration::Units100ns(timeout->QuadPart);
    Sync* s = &sync;
    timer = sim().ScheduleAt(std::max(deadline, sim().Now()), [this, s] {
      s->timed_out = true;
      Notify(s);
    });
    has_timer = true;
  }
  Sync* s = &sync;
  const bool waited = WaitUntil(kFn, ch->handle, [s] { return s->done || s->timed_out; }, s);
  if (has_timer) sim().Cancel(timer);
  absl::StatusOr<Channel*> still = channels_.Lookup(p.channel);
  if (!sync.done) {
    // Timed out (or could not wait): cancel the packet wherever it is.
    if (still.ok()) {
      Channel& c = **still;
      for (auto it = c.send_queue.begin(); it != c.send_queue.end(); ++it) {
        if (it->packet == &p) {
          c.send_queue.erase(it);
          break;
        }
      }
      if (c.in_flight.erase(p.trans_id) != 0) c.abandoned_trans.insert(p.trans_id);
      RecordFinish(c, p, STATUS_CANCELLED);
    }
    if (!waited && !sync.timed_out) return KmclError(STATUS_CANCELLED, absl::StrCat(kFn, ": could not wait"));
    return KmclError(STATUS_CANCELLED, absl::StrCat(kFn, ": timed out; the request was cancelled"));
  }
  if (sync.status != STATUS_SUCCESS) {
    return KmclError(sync.status == STATUS_CANCELLED ? STATUS_DEVICE_REMOVED : sync.status,
                     absl::StrCat(kFn, ": the channel is shutting down"));
  }
  if (completion_size != nullptr) {
    if (sync.completion.size() > *completion_size) {
      return KmclError(STATUS_BUFFER_TOO_SMALL,
                       absl::StrCat(kFn, ": the completion has ", sync.completion.size(), " bytes, the buffer ",
                                    *completion_size, " (G21: never truncated)"));
    }
    if (!sync.completion.empty()) std::memcpy(completion_buffer, sync.completion.data(), sync.completion.size());
    *completion_size = static_cast<uint32_t>(sync.completion.size());
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// GPADLs. The client's buffer gets guest pages for the wire protocol; the
// host's mapping (MappedSystemVa) points at that same buffer, since both
// partitions live in one process.

absl::StatusOr<uint32_t> Runtime::CreateGpadlFromBuffer(VMBCHANNEL handle, uint32_t flags, void* buffer,
                                                        uint32_t size) {
  constexpr const char* kFn = "VmbChannelCreateGpadlFromBuffer";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (ch->is_server) return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(kFn, ": client channels only"));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_GPADL_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": unknown flag bits"));
  }
  if (buffer == nullptr) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": Buffer is NULL"));
  if (size == 0 || size > kExternalBytesMax) {
    return KmclError(STATUS_INVALID_PARAMETER_4, absl::StrCat(kFn, ": ByteCount ", size, " not in 1..1 GiB"));
  }
  const uintptr_t va = reinterpret_cast<uintptr_t>(buffer);
  const uint64_t pages = PagesSpanned(va % kPageBytes, size);
  std::vector<uint64_t> pfns;
  const uint64_t first = 0;
  (void)first;
  if (!ch->open_window || ch->relid == 0) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  "GPADLs may be created from EvtChannelOpened to EvtChannelClosed (G24)");
  }
  if (AtDispatch()) {
    return Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_INVALID_DEVICE_STATE, "it blocks; called at DISPATCH");
  }
  const uint64_t base = AllocateGuestPages(ch->guest, pages);
  for (uint64_t i = 0; i < pages; ++i) pfns.push_back(base + i);
  auto record = std::make_unique<GpadlRecord>();
  record->va = va;
  record->size = size;
  record->byte_offset = static_cast<uint32_t>(va % kPageBytes);
  record->pfns = pfns;
  record->pages_owned = true;
  record->read_only = (flags & VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY) != 0;
  record->channel = ch->handle;
  record->guest = ch->guest;
  record->relid = ch->relid;
  fabric::GpaRange range;
  range.byte_offset = record->byte_offset;
  range.byte_count = size;
  range.pfns = std::move(pfns);
  bool done = false;
  uint32_t status = 0;
  absl::StatusOr<uint32_t> id = fabric_->client(ch->guest).CreateGpadl(
      ch->relid, absl::MakeConstSpan(&range, 1), [this, ch, &done, &status](uint32_t s, uint32_t) {
        status = s;
        done = true;
        Notify(ch);
      });
  if (!id.ok()) {
    FreeGuestPages(ch->guest, base, pages);
    return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": ", id.status().message()));
  }
  if (!WaitUntil(kFn, ch->handle, [&done] { return done; }, ch) || status != 0) {
    FreeGuestPages(ch->guest, base, pages);
    return KmclError(STATUS_UNSUCCESSFUL, absl::StrCat(kFn, ": the host refused the GPADL (status 0x",
                                                       absl::Hex(status), ")"));
  }
  ch->gpadls.insert(*id);
  gpadls_[{ch->guest, *id}] = std::move(record);
  return *id;
}

absl::StatusOr<uint32_t> Runtime::CreateGpadlFromMdl(VMBCHANNEL handle, uint32_t flags, PMDL mdl, uint32_t offset,
                                                     uint32_t length) {
  constexpr const char* kFn = "VmbChannelCreateGpadlFromMdl";
  if (mdl == nullptr) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": Mdl is NULL"));
  // The bytes the MDL names, at its virtual address (first piece's view).
  const uint64_t available = mdl->ByteCount;
  if (offset >= available) return KmclError(STATUS_INVALID_PARAMETER_4, absl::StrCat(kFn, ": offset past the MDL"));
  const uint32_t bytes = length == 0 ? static_cast<uint32_t>(available - offset) : length;
  if (uint64_t{offset} + bytes > available) {
    return KmclError(STATUS_INVALID_PARAMETER_5, absl::StrCat(kFn, ": length past the MDL"));
  }
  void* va = static_cast<uint8_t*>(MmGetMdlVirtualAddress(mdl)) + offset;
  return CreateGpadlFromBuffer(handle, flags, va, bytes);
}

void Runtime::DeleteGpadl(VMBCHANNEL handle, uint32_t gpadl) {
  constexpr const char* kFn = "VmbChannelDeleteGpadl";
  absl::StatusOr<Channel*> found = FindChannel(handle, kFn);
  if (!found.ok()) return;
  Channel* ch = *found;
  if (ch->gpadls.count(gpadl) == 0) {
    Report(ch, kFn, Rule::kCallInWrongState, STATUS_SUCCESS, absl::StrCat("no GPADL ", gpadl, " of this channel"))
        .IgnoreError();
    return;
  }
  if (AtDispatch()) {
    Report(ch, kFn, Rule::kBlockingCallAtDispatch, STATUS_SUCCESS, "it blocks; called at DISPATCH").IgnoreError();
    return;
  }
  auto it = gpadls_.find({ch->guest, gpadl});
  GpadlRecord* record = it == gpadls_.end() ? nullptr : it->second.get();
  fabric::VmbusClient& client = fabric_->client(ch->guest);
  const bool host_gone = ch->frozen || ch->relid == 0 || client.rescinded(ch->relid) || ch->endpoint == nullptr;
  if (record != nullptr && record->mapped && !host_gone) {
    WaitUntil(kFn, ch->handle, [record, ch] { return !record->mapped || ch->endpoint == nullptr; }, ch);
  }
  if (!host_gone && client.gpadl_state(gpadl) == fabric::ClientGpadlState::kCreated) {
    bool done = false;
    if (client.TeardownGpadl(ch->relid, gpadl, [this, ch, &done](uint32_t) {
          done = true;
          Notify(ch);
        }).ok()) {
      WaitUntil(kFn, ch->handle, [&done] { return done; }, ch);
    }
  }
  // G24: with the host side gone the delete completes at once, and a
  // mapping the gone server never undid goes with the GPADL.
  if (record != nullptr && record->mapped) RetireGpadlMapping(*record, gpadl, kFn);
  if (record != nullptr && record->pages_owned) {
    FreeGuestPages(ch->guest, record->pfns.front(), record->pfns.size());
  }
  if (it != gpadls_.end()) gpadls_.erase(it);
  ch->gpadls.erase(gpadl);
}

absl::StatusOr<PMDL> Runtime::MapGpadl(VMBCHANNEL handle, uint32_t flags, uint32_t gpadl) {
  constexpr const char* kFn = "VmbChannelMapGpadl";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (!ch->is_server) return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(kFn, ": server channels only"));
  if ((flags & ~uint32_t{VMBUS_CHANNEL_GPADL_FLAGS}) != 0) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": unknown flag bits"));
  }
  if (ch->conn != ConnState::kOpen) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE, "the channel is not open");
  }
  auto it = gpadls_.find({ch->guest, gpadl});
  if (it == gpadls_.end() || it->second->relid != ch->relid) {
    return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": no GPADL ", gpadl, " on this channel"));
  }
  GpadlRecord& record = *it->second;
  if (record.mapped) return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": already mapped"));
  if (record.read_only && (flags & VMBUS_CHANNEL_GPADL_FLAG_READ_ONLY) == 0) {
    return KmclError(STATUS_ACCESS_DENIED, absl::StrCat(kFn, ": write access to a read-only GPADL"));
  }
  record.mdl_storage.assign(sizeof(MDL) / 8 + record.pfns.size(), 0);
  MDL* mdl = reinterpret_cast<MDL*>(record.mdl_storage.data());
  mdl->Size = static_cast<CSHORT>(sizeof(MDL) + record.pfns.size() * sizeof(PFN_NUMBER));
  mdl->StartVa = reinterpret_cast<PVOID>(record.va - record.byte_offset);
  mdl->MappedSystemVa = reinterpret_cast<PVOID>(record.va);
  mdl->ByteOffset = record.byte_offset;
  mdl->ByteCount = record.size;
  for (size_t i = 0; i < record.pfns.size(); ++i) MmGetMdlPfnArray(mdl)[i] = record.pfns[i];
  record.mapped = true;
  record.mapped_by = ch->handle;
  return mdl;
}

void Runtime::UnmapGpadl(VMBCHANNEL handle, uint32_t gpadl) {
  constexpr const char* kFn = "VmbChannelUnmapGpadl";
  absl::StatusOr<Channel*> found = FindChannel(handle, kFn);
  if (!found.ok()) return;
  auto it = gpadls_.find({(*found)->guest, gpadl});
  if (it == gpadls_.end() || !it->second->mapped) {
    Report(*found, kFn, Rule::kCallInWrongState, STATUS_SUCCESS, absl::StrCat("GPADL ", gpadl, " is not mapped"))
        .IgnoreError();
    return;
  }
  RetireGpadlMapping(*it->second, gpadl, kFn);
  absl::StatusOr<Channel*> owner = channels_.Lookup(it->second->channel);
  if (owner.ok()) Notify(*owner);
}

void Runtime::RetireGpadlMapping(GpadlRecord& record, uint32_t gpadl, const char* function) {
  VMBSIM_CHECK(record.mapped);
  VMBSIM_CHECK(!record.mdl_storage.empty());  // MapGpadl filled it.
  auto retired = std::make_unique<UnmappedGpadlMdl>();
  retired->storage = std::move(record.mdl_storage);
  retired->gpadl = gpadl;
  retired->guest = record.guest;
  retired->relid = record.relid;
  retired->server_channel = record.mapped_by;
  retired->client_channel = record.channel;
  retired->unmapped_at = CallerNow();
  retired->unmapped_by = function;
  // The mapping is gone: a server that reads MappedSystemVa itself, instead
  // of asking MmGetSystemAddressForMdlSafe, gets null, not the buffer.
  reinterpret_cast<MDL*>(retired->storage.data())->MappedSystemVa = nullptr;
  const uintptr_t key = reinterpret_cast<uintptr_t>(retired->storage.data());
  // The storage stays allocated for the runtime's life, so no later MDL can
  // take its address.
  VMBSIM_CHECK_EQ(unmapped_gpadl_mdls_.count(key), 0u);
  unmapped_gpadl_mdls_[key] = std::move(retired);
  record.mdl_storage.clear();
  record.mapped = false;
  record.mapped_by = 0;
}

void* Runtime::SystemAddressForMdl(PMDL mdl) {
  constexpr const char* kFn = "MmGetSystemAddressForMdlSafe";
  VMBSIM_CHECK(mdl != nullptr);
  auto it = unmapped_gpadl_mdls_.find(reinterpret_cast<uintptr_t>(mdl));
  if (it == unmapped_gpadl_mdls_.end()) {
    return MdlAddress(mdl);
  }
  const UnmappedGpadlMdl& retired = *it->second;
  // Reported against the server channel that had the mapping, live or not:
  // the access is that driver's. The call returns NULL, not an NTSTATUS.
  ReportAt(FindingPlace{.channel = retired.server_channel, .relid = retired.relid}, kFn, Rule::kGpadlUseAfterUnmap,
           STATUS_SUCCESS,
           absl::StrCat("GPADL ", retired.gpadl, " of guest ", retired.guest, " (client channel 0x",
                        absl::Hex(retired.client_channel, absl::kZeroPad16), ", relid ", retired.relid,
                        ") used through its MDL after ", retired.unmapped_by, " at t=", retired.unmapped_at.ToString(),
                        "; returned NULL"))
      .IgnoreError();
  return nullptr;
}

// ---------------------------------------------------------------------------
// Save / restore (server). Private chunked format (G12): chunk = u32 length
// (of the whole chunk), u32 kind, body. Header body: u32 max packet size,
// u32 quota, u32 packet count. Packet body: u64 trans id, u32 flags, u32
// in-band length, in-band bytes, u32 VSP blob length, VSP blob. End: empty.

namespace {

void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}
std::vector<uint8_t> Chunk(uint32_t kind, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out;
  PutU32(out, static_cast<uint32_t>(8 + body.size()));
  PutU32(out, kind);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace

absl::Status Runtime::SaveBegin(VMBCHANNEL handle) {
  constexpr const char* kFn = "VmbChannelSaveBegin";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (!ch->is_server) return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(kFn, ": server channels only"));
  if (ch->running || ch->saving) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  "save only while paused, peer-closed or disabled, once at a time (G12)");
  }
  // In-use packet objects: queued sends, then transactions in flight, each in order.
  std::vector<Packet*> in_use;
  for (const QueuedSend& q : ch->send_queue) {
    if (q.packet != nullptr && q.packet->sync == nullptr) in_use.push_back(q.packet);
  }
  for (uint64_t id : SortedTransactionIds(*ch)) {
    Packet* p = ch->in_flight[id];
    if (p->sync == nullptr) in_use.push_back(p);
  }
  std::sort(in_use.begin(), in_use.end(), [](const Packet* a, const Packet* b) { return a->trans_id < b->trans_id; });
  ch->save_chunks.clear();
  std::vector<uint8_t> header;
  PutU32(header, ch->max_packet_size);
  PutU32(header, ch->quota);
  PutU32(header, static_cast<uint32_t>(in_use.size()));
  ch->save_chunks.push_back(Chunk(kSaveChunkHeader, header));
  for (Packet* p : in_use) {
    std::vector<uint8_t> vsp;
    if (ch->save_packet != nullptr) {
      // Two-call protocol (§5.9): size 0 first; a failure with BytesNeeded asks for a buffer.
      ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = ch, .kind = CallKind::kOther,
                                       .worker = context_.worker, .vp = context_.vp,
                                       .callback = "EvtVmbChannelSavePacket"});
      UINT32 needed = 0;
      NTSTATUS status = ch->save_packet(handle, DriverHandleOf<VMBPACKET>(p->handle), nullptr, 0, &needed);
      if (status != STATUS_SUCCESS && needed > 0 && needed <= (1u << 20)) {
        vsp.assign(needed, 0);
        status = ch->save_packet(handle, DriverHandleOf<VMBPACKET>(p->handle), vsp.data(), needed, &needed);
        if (needed < vsp.size()) vsp.resize(needed);
      }
      if (status != STATUS_SUCCESS) {
        ch->save_chunks.clear();
        return FromNtStatus(status, absl::StrCat(kFn, ": EvtVmbChannelSavePacket failed"));
      }
    }
    std::vector<uint8_t> body;
    PutU64(body, p->trans_id);
    PutU32(body, p->flags);
    PutU32(body, static_cast<uint32_t>(p->inband.size()));
    body.insert(body.end(), p->inband.begin(), p->inband.end());
    PutU32(body, static_cast<uint32_t>(vsp.size()));
    body.insert(body.end(), vsp.begin(), vsp.end());
    ch->save_chunks.push_back(Chunk(kSaveChunkPacket, body));
  }
  ch->save_chunks.push_back(Chunk(kSaveChunkEnd, {}));
  ch->save_next = 0;
  ch->saving = true;
  return absl::OkStatus();
}

absl::Status Runtime::SaveContinue(VMBCHANNEL handle, void* buffer, uint32_t size, uint32_t* filled,
                                   uint32_t* required) {
  constexpr const char* kFn = "VmbChannelSaveContinue";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (!ch->saving) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE, "no VmbChannelSaveBegin");
  }
  *filled = 0;
  *required = 0;
  uint8_t* out = static_cast<uint8_t*>(buffer);
  while (ch->save_next < ch->save_chunks.size()) {
    const std::vector<uint8_t>& chunk = ch->save_chunks[ch->save_next];
    if (*filled + chunk.size() > size || (buffer == nullptr && !chunk.empty())) {
      if (*filled == 0) {
        *required = static_cast<uint32_t>(chunk.size());
        return KmclError(STATUS_BUFFER_TOO_SMALL, absl::StrCat(kFn, ": the next chunk needs ", chunk.size(), " bytes"));
      }
      *required = static_cast<uint32_t>(chunk.size());
      return KmclError(STATUS_BUFFER_OVERFLOW, absl::StrCat(kFn, ": more chunks follow"));
    }
    std::memcpy(out + *filled, chunk.data(), chunk.size());
    *filled += static_cast<uint32_t>(chunk.size());
    ++ch->save_next;
  }
  return absl::OkStatus();
}

void Runtime::SaveEnd(VMBCHANNEL handle) {
  absl::StatusOr<Channel*> found = FindChannel(handle, "VmbChannelSaveEnd");
  if (!found.ok()) return;
  (*found)->saving = false;
  (*found)->save_chunks.clear();
  (*found)->save_next = 0;
}

absl::Status Runtime::RestoreFromBuffer(VMBCHANNEL handle, const void* buffer, uint32_t size) {
  constexpr const char* kFn = "VmbChannelRestoreFromBuffer";
  VMBSIM_ASSIGN_OR_RETURN(Channel * ch, FindChannel(handle, kFn));
  if (!ch->is_server) return KmclError(STATUS_INVALID_PARAMETER_1, absl::StrCat(kFn, ": server channels only"));
  if (ch->conn != ConnState::kDisabled || ch->restore_done) {
    return Report(ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE,
                  "restore only on a configured, disabled channel before Enable (G12)");
  }
  if (buffer == nullptr && size != 0) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": Buffer is NULL"));
  const uint8_t* p = static_cast<const uint8_t*>(buffer);
  uint32_t at = 0;
  while (at < size) {
    if (size - at < 8) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": partial chunk at ", at));
    const uint32_t length = GetU32(p + at);
    const uint32_t kind = GetU32(p + at + 4);
    if (length < 8 || length > size - at) {
      return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": chunk at ", at, " has length ", length));
    }
    const uint8_t* body = p + at + 8;
    const uint32_t body_size = length - 8;
    if (kind == kSaveChunkEnd) {
      ch->restore_done = true;
      return absl::OkStatus();
    }
    if (kind == kSaveChunkHeader) {
      if (body_size != 12) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": bad header chunk"));
    } else if (kind == kSaveChunkPacket) {
      if (body_size < 20) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": short packet chunk"));
      const uint32_t inband = GetU32(body + 12);
      if (inband > body_size - 20) return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": bad packet chunk"));
      const uint32_t vsp = GetU32(body + 16 + inband);
      if (vsp != body_size - 20 - inband) {
        return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": bad packet chunk"));
      }
      if (ch->restore_packet == nullptr) {
        return KmclError(STATUS_INVALID_DEVICE_STATE, absl::StrCat(kFn, ": saved packets but no restore callback"));
      }
      ContextScope scope(this, Context{.irql = PASSIVE_LEVEL, .channel = ch, .kind = CallKind::kOther,
                                       .worker = context_.worker, .vp = context_.vp,
                                       .callback = "EvtVmbChannelRestorePacket"});
      const NTSTATUS status = ch->restore_packet(handle, const_cast<uint8_t*>(body), body_size,
                                                 const_cast<uint8_t*>(body + 20 + inband), vsp);
      if (status != STATUS_SUCCESS) return FromNtStatus(status, absl::StrCat(kFn, ": EvtVmbChannelRestorePacket failed"));
    } else {
      return KmclError(STATUS_INVALID_PARAMETER_3, absl::StrCat(kFn, ": unknown chunk kind ", kind));
    }
    at += length;
  }
  return KmclError(STATUS_MORE_PROCESSING_REQUIRED, absl::StrCat(kFn, ": more chunks follow"));
}

absl::Status Runtime::PacketRestore(VMBPACKET handle, const void* buffer, uint32_t size) {
  constexpr const char* kFn = "VmbPacketRestore";
  VMBSIM_ASSIGN_OR_RETURN(Packet * p, FindPacket(handle, kFn));
  const uint8_t* body = static_cast<const uint8_t*>(buffer);
  if (body == nullptr || size < 20) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": not a saved packet"));
  const uint32_t inband = GetU32(body + 12);
  if (inband > size - 20) return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": not a saved packet"));
  absl::StatusOr<Channel*> ch = channels_.Lookup(p->channel);
  if (!ch.ok()) return KmclError(STATUS_INVALID_HANDLE, absl::StrCat(kFn, ": the packet's channel is gone"));
  if (p->state != Packet::State::kIdle) {
    return Report(*ch, kFn, Rule::kCallInWrongState, STATUS_INVALID_DEVICE_STATE, "the packet is in flight");
  }
  if (inband > (*ch)->max_packet_size) {
    return KmclError(STATUS_INVALID_PARAMETER_2, absl::StrCat(kFn, ": saved payload above the maximum packet size"));
  }
  p->flags = GetU32(body + 8);
  p->inband.assign(body + 16, body + 16 + inband);
  p->ranges.clear();
  p->trans_id = ++(*ch)->next_trans_id;
  p->restored = true;
  p->send_function = kFn;
  // A transaction that starts again on the restored channel: a send like
  // any other, waiting in the queue until the channel opens.
  RecordSend(**ch, *p, /*queued=*/true);
  p->state = Packet::State::kQueued;  // Transmitted once the channel opens.
  EnqueueSend(**ch, QueuedSend{.packet = p});
  return absl::OkStatus();
}

}  // namespace vmbsim::kmcl
