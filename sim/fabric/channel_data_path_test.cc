// Goal: the data path moves every packet exactly once with the signalling
// protocol of spec §1.7/§1.8, under every interleaving of the two endpoints'
// steps, and a driver that skips a re-check loses a wake-up in some of them.
// Method: a guest endpoint streams K packets to a host endpoint through real
// rings in guest memory, with the zero cost profile so that every step
// happens at the same instant; the kernel's tie-break exploration then
// permutes the steps differently for each seed. An invariant check runs after
// every event.
#include "sim/fabric/channel_data_path.h"

#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "sim/fabric/guest_memory.h"

namespace vmbsim::fabric {
namespace {

struct Options {
  uint64_t tie_break_seed = 0;
  bool use_tie_break = true;
  bool recheck_after_unmask = true;
  bool recheck_after_pending_send = true;
  uint32_t packets = 200;
  uint32_t payload_bytes = 100;
  uint32_t host_batch_packets_max = 4096;
  CostModel costs = CostModel::Zero();
  bool sample_ring_occupancy = false;
  // Every n-th packet goes without a tag (0: all carry one).
  uint32_t untagged_every = 0;
  WriterPolicy guest_writer_policy = WriterPolicy::kOpenVmm;
  uint32_t guest_pending_send_fixed_bytes = 0;
  // The host answers every packet with a completion (the guest reads them).
  bool host_completes = false;
  // Work the host's packet handler does per packet, on the host VP.
  sim::SimDuration host_packet_cost = sim::SimDuration::Zero();
  ReaderDiscipline host_reader = ReaderDiscipline::kDpcDrain;
  sim::SimDuration host_dpc_budget = sim::SimDuration::Zero();
  sim::SimDuration host_poll_period = sim::SimDuration::Zero();
};

// A 100-byte payload's ring footprint: 16-byte header, payload padded to 104,
// 8-byte trailer.
constexpr uint32_t kFootprintBytes = 128;

// Two partitions' endpoints over one pair of rings (2 pages each: a 4 KiB
// data area holds 31 packets of 100 bytes).
class Pair {
 public:
  explicit Pair(const Options& options)
      : options_(options),
        sim_({.seed = 1, .tie_break_seed = options.use_tie_break ? std::optional<uint64_t>(options.tie_break_seed)
                                                                 : std::nullopt}),
        memory_(64),
        guest_vp_(&sim_, 1, 0),
        host_vp_(&sim_, 0, 0) {
    const std::vector<uint64_t> outgoing = {10, 11};  // Guest -> host ring.
    const std::vector<uint64_t> incoming = {12, 13};  // Host -> guest ring.
    RingMemory out_memory = *RingMemory::Create(&memory_, outgoing);
    RingMemory in_memory = *RingMemory::Create(&memory_, incoming);
    DataPathOptions guest_options;
    guest_options.name = "guest";
    guest_options.partition_id = 1;
    guest_options.recheck_after_pending_send = options.recheck_after_pending_send;
    guest_options.sample_ring_occupancy = options.sample_ring_occupancy;
    guest_options.writer_policy = options.guest_writer_policy;
    guest_options.pending_send_fixed_bytes = options.guest_pending_send_fixed_bytes;
    DataPathOptions host_options;
    host_options.reader_discipline = options.host_reader;
    host_options.dpc_budget = options.host_dpc_budget;
    host_options.poll_period = options.host_poll_period;
    host_options.name = "host";
    host_options.recheck_after_unmask = options.recheck_after_unmask;
    host_options.batch_packets_max = options.host_batch_packets_max;
    guest_ = std::make_unique<ChannelDataPath>(&sim_, &options_.costs, &guest_vp_, *RingWriter::Create(out_memory),
                                               *RingReader::Create(in_memory), guest_options);
    host_ = std::make_unique<ChannelDataPath>(&sim_, &options_.costs, &host_vp_, *RingWriter::Create(in_memory),
                                              *RingReader::Create(out_memory), host_options);
    guest_->SetSignalPeer([this] { Doorbell(&host_vp_, host_.get()); });
    host_->SetSignalPeer([this] { Doorbell(&guest_vp_, guest_.get()); });
    guest_->SetPeer(host_.get());
    host_->SetPeer(guest_.get());
    host_->SetPacketHandler([this](const ParsedPacket& packet) {
      EXPECT_EQ(packet.descriptor.trans_id, received_);  // In order, exactly once.
      EXPECT_EQ(packet.tag, TagOf(received_)) << "packet " << received_;  // Each its own tag, or none.
      if (options_.host_packet_cost.nanoseconds() > 0) host_vp_.Charge(options_.host_packet_cost);
      if (options_.host_completes) {
        ASSERT_TRUE(host_->SendCompletion(packet.descriptor.trans_id).ok());
      }
      ++received_;
    });
    guest_->SetWritableHandler([this] { QueueSend(); });
    payload_.assign(options.payload_bytes, 0xAB);
    sim_.SetAfterEventHook([this] { CheckInvariants(); });
  }

  // Runs to quiescence; returns the packets the host received.
  uint32_t Run() {
    QueueSend();
    sim_.Run({.events_max = 10'000'000});
    return received_;
  }

  const ChannelDataPath& guest() const { return *guest_; }
  // Every non-zero pending_send_sz the guest's writer published.
  const std::set<uint32_t>& pending_send_sizes() const { return pending_send_sizes_; }
  uint32_t sent() const { return sent_; }
  sim::Simulator& sim() { return sim_; }
  const ChannelDataPath& host() const { return *host_; }
  // The guest ring's unread bytes after each write, counted in whole packets
  // by the test itself (sent minus handed to the host's packet handler).
  const sim::Histogram& expected_occupancy() const { return expected_occupancy_; }

 private:
  void Doorbell(VirtualProcessor* vp, ChannelDataPath* target) {
    vp->Queue(Irql::kDispatch, options_.costs.isr_dispatch, [target] { target->OnDoorbell(); });
  }

  void QueueSend() {
    guest_vp_.Queue(Irql::kPassive, sim::SimDuration::Zero(), [this] { SendOne(); });
  }

  uint64_t TagOf(uint32_t n) const {
    return options_.untagged_every != 0 && n % options_.untagged_every == 0 ? 0 : 1000 + n;
  }

  void SendOne() {
    if (sent_ == options_.packets) return;
    OutgoingPacket packet;
    packet.trans_id = sent_;
    packet.tag = TagOf(sent_);
    packet.payload = absl::MakeConstSpan(payload_);
    absl::StatusOr<WriteOutcome> outcome = guest_->Send(packet);
    ASSERT_TRUE(outcome.ok()) << outcome.status();
    if (*outcome == WriteOutcome::kWritten) {
      ++sent_;
      if (options_.payload_bytes == 100) expected_occupancy_.Record(int64_t{sent_ - received_} * kFootprintBytes);
      QueueSend();
    }
    // kRingFull: the writable handler queues the next send.
  }

  void CheckInvariants() {
    for (const ChannelDataPath* endpoint : {guest_.get(), host_.get()}) {
      ASSERT_FALSE(endpoint->failed()) << endpoint->status();
    }
    ChannelDataPath* endpoints[] = {guest_.get(), host_.get()};
    for (ChannelDataPath* e : endpoints) {
      const uint32_t d = e->writer().data_size_bytes();
      ASSERT_EQ(e->writer().committed_write_index() % 8, 0u);
      ASSERT_LT(e->writer().committed_write_index(), d);
      ASSERT_EQ(e->reader().committed_read_index() % 8, 0u);
      ASSERT_LT(e->reader().committed_read_index(), d);
    }
    ASSERT_LE(received_, sent_);
    if (const uint32_t p = guest_->writer().pending_send_size(); p != 0) pending_send_sizes_.insert(p);
  }

  Options options_;
  sim::Simulator sim_;
  GuestMemory memory_;
  VirtualProcessor guest_vp_;
  VirtualProcessor host_vp_;
  std::unique_ptr<ChannelDataPath> guest_;
  std::unique_ptr<ChannelDataPath> host_;
  std::vector<uint8_t> payload_;
  uint32_t sent_ = 0;
  uint32_t received_ = 0;
  sim::Histogram expected_occupancy_;
  std::set<uint32_t> pending_send_sizes_;
};

void ExpectSameHistogram(const sim::Histogram& actual, const sim::Histogram& expected) {
  EXPECT_EQ(actual.count(), expected.count());
  EXPECT_EQ(actual.sum(), expected.sum());
  EXPECT_EQ(actual.min(), expected.min());
  EXPECT_EQ(actual.max(), expected.max());
  EXPECT_EQ(actual.ValueAtQuantile(0.5), expected.ValueAtQuantile(0.5));
  EXPECT_EQ(actual.ValueAtQuantile(0.99), expected.ValueAtQuantile(0.99));
}

// What a blocked writer publishes, by policy (D = 4096, T = 128): OpenVMM's
// quarter ring max(T, (D - 8) / 4) = 1022 -> 1024; the Windows lineage's
// unpublished bytes (none: every write is published at once here) + T;
// a fixed size, or T when the fixed size is smaller.
TEST(ChannelDataPathWriterPolicyTest, PublishedPendingSendSizeFollowsThePolicy) {
  struct Case {
    WriterPolicy policy;
    uint32_t fixed_bytes;
    std::set<uint32_t> published;
  };
  for (const Case& c : {Case{WriterPolicy::kOpenVmm, 0, {1024}}, Case{WriterPolicy::kWindows, 0, {128}},
                        Case{WriterPolicy::kFixed, 500, {504}}, Case{WriterPolicy::kFixed, 64, {128}}}) {
    SCOPED_TRACE(static_cast<int>(c.policy));
    Options options;
    options.use_tie_break = false;
    options.costs = CostModel::Default();  // The writer outruns the reader.
    options.guest_writer_policy = c.policy;
    options.guest_pending_send_fixed_bytes = c.fixed_bytes;
    Pair pair(options);
    EXPECT_EQ(pair.Run(), options.packets);
    EXPECT_EQ(pair.pending_send_sizes(), c.published);
    EXPECT_GT(pair.guest().counters().ring_full, 0u);
    EXPECT_EQ(pair.guest().writer().pending_send_size(), 0u);  // Cleared by the last writes.
  }
}

// A writer that publishes nothing is restarted by the packets it reads (the
// completions of what it sent); with none it stays blocked.
TEST(ChannelDataPathWriterPolicyTest, NoneRestartsOnCompletionsOnly) {
  Options options;
  options.use_tie_break = false;
  options.costs = CostModel::Default();
  options.guest_writer_policy = WriterPolicy::kNone;
  Pair silent(options);
  EXPECT_LT(silent.Run(), options.packets);  // Stranded at the first full ring.
  EXPECT_TRUE(silent.guest().writer_blocked());
  EXPECT_TRUE(silent.pending_send_sizes().empty());
  EXPECT_EQ(silent.host().counters().signals_sent, 0u);  // The reader never knew.

  options.host_completes = true;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    options.use_tie_break = true;
    options.tie_break_seed = seed;
    Pair answered(options);
    EXPECT_EQ(answered.Run(), options.packets) << "seed " << seed;
    EXPECT_TRUE(answered.pending_send_sizes().empty());
    EXPECT_GT(answered.guest().counters().writer_wakeups, 0u);
  }
}

// Reader disciplines: every packet arrives once, in order, under explored
// interleavings, and each discipline pauses where it says.
TEST(ChannelDataPathReaderTest, EveryDisciplineDeliversEveryPacketUnderExploredInterleavings) {
  for (const ReaderDiscipline discipline :
       {ReaderDiscipline::kNapi, ReaderDiscipline::kBatched, ReaderDiscipline::kPolled}) {
    for (uint64_t seed = 0; seed < 40; ++seed) {
      Options options;
      options.tie_break_seed = seed;
      options.host_reader = discipline;
      options.host_batch_packets_max = discipline == ReaderDiscipline::kNapi ? 8 : 4096;
      options.host_poll_period = sim::SimDuration::Microseconds(10);
      Pair pair(options);
      EXPECT_EQ(pair.Run(), options.packets) << "discipline " << static_cast<int>(discipline) << " seed " << seed;
      if (discipline == ReaderDiscipline::kNapi) {
        EXPECT_LE(pair.host().batch_sizes().max(), 8);
      }
    }
  }
}

// A DPC time budget ends a batch once the DPC has run that long (1 us per
// packet, 5 us budget: 5 packets) and the drain goes on in new DPCs; without
// one the batches are as large as the ring allows.
TEST(ChannelDataPathReaderTest, ADpcBudgetEndsBatchesByTime) {
  Options options;
  options.use_tie_break = false;
  options.host_packet_cost = sim::SimDuration::Microseconds(1);
  Pair unbounded(options);
  options.host_dpc_budget = sim::SimDuration::Microseconds(5);
  Pair budgeted(options);
  EXPECT_EQ(unbounded.Run(), options.packets);
  EXPECT_EQ(budgeted.Run(), options.packets);
  EXPECT_GT(unbounded.host().batch_sizes().max(), 5);
  EXPECT_EQ(budgeted.host().batch_sizes().max(), 5);
  EXPECT_GT(budgeted.host().counters().batches, unbounded.host().counters().batches);
}

// A polled reader never takes a doorbell for data (its interrupt stays
// masked, so the writer never signals one), and reads only at poll instants.
TEST(ChannelDataPathReaderTest, APolledReaderTakesNoDoorbellAndReadsOnItsGrid) {
  Options options;
  options.use_tie_break = false;
  options.host_reader = ReaderDiscipline::kPolled;
  options.host_poll_period = sim::SimDuration::Microseconds(10);
  Pair pair(options);
  EXPECT_EQ(pair.Run(), options.packets);
  EXPECT_EQ(pair.host().counters().doorbells, 0u);
  EXPECT_GT(pair.host().counters().batches, 0u);
  EXPECT_EQ(pair.sim().Now().nanoseconds() % 10000, 0);  // The last poll, on the grid.
}

TEST(ChannelDataPathTest, StreamsEveryPacketInOrderWithBackpressure) {
  Options options;
  options.use_tie_break = false;
  options.costs = CostModel::Default();
  Pair pair(options);
  EXPECT_EQ(pair.Run(), 200u);
  EXPECT_GT(pair.guest().counters().ring_full, 0u);  // 31 fit; the writer had to wait.
  EXPECT_EQ(pair.guest().counters().ring_full, pair.guest().counters().writer_wakeups);
  EXPECT_GT(pair.guest().counters().signals_suppressed, 0u);
  EXPECT_FALSE(pair.guest().writer_blocked());
}

// The writer samples its ring's unread bytes after each write: packets
// written and not yet parsed by the peer, whatever the read index committed.
TEST(ChannelDataPathTest, RingOccupancyIsTheUnreadBytesAfterEachWrite) {
  Options options;
  options.use_tie_break = false;
  options.costs = CostModel::Default();
  options.sample_ring_occupancy = true;
  Pair pair(options);
  ASSERT_EQ(pair.Run(), 200u);
  ASSERT_EQ(pair.guest().ring_occupancy().count(), 200u);
  EXPECT_EQ(pair.guest().ring_occupancy().max(), 31 * kFootprintBytes);  // A full 4 KiB ring holds 31.
  ExpectSameHistogram(pair.guest().ring_occupancy(), pair.expected_occupancy());
  EXPECT_EQ(pair.host().ring_occupancy().count(), 0u);  // The host wrote nothing.
}

TEST(ChannelDataPathTest, RingOccupancyHoldsUnderExploredInterleavings) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Options options;
    options.tie_break_seed = seed;
    options.sample_ring_occupancy = true;
    options.host_batch_packets_max = 3;  // Reads interleave with writes.
    Pair pair(options);
    ASSERT_EQ(pair.Run(), 200u) << "seed " << seed;
    ExpectSameHistogram(pair.guest().ring_occupancy(), pair.expected_occupancy());
  }
}

TEST(ChannelDataPathTest, RingOccupancyIsSampledOnlyWhenAsked) {
  Pair pair(Options{});
  ASSERT_EQ(pair.Run(), 200u);
  EXPECT_EQ(pair.guest().ring_occupancy().count(), 0u);
}

// Tags travel beside their packets (checked by the host's packet handler),
// also when some packets carry none, under every explored interleaving.
TEST(ChannelDataPathTest, EveryPacketGetsItsOwnTag) {
  for (uint32_t untagged_every : {0u, 1u, 3u, 7u}) {
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      Options options;
      options.tie_break_seed = seed;
      options.untagged_every = untagged_every;
      options.host_batch_packets_max = 5;
      Pair pair(options);
      ASSERT_EQ(pair.Run(), 200u) << "seed " << seed;
      EXPECT_EQ(pair.guest().pending_tag_count(), 0u);  // Nothing left behind.
    }
  }
}

TEST(ChannelDataPathTest, NoLostWakeUpUnderAnyExploredInterleaving) {
  uint64_t ring_full = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    for (uint32_t payload : {100u, 1000u}) {
      Options options;
      options.tie_break_seed = seed;
      options.payload_bytes = payload;
      options.host_batch_packets_max = payload == 100 ? 1 : 4096;
      Pair pair(options);
      ASSERT_EQ(pair.Run(), 200u) << "tie-break seed " << seed << ", payload " << payload;
      ring_full += pair.guest().counters().ring_full;
    }
  }
  EXPECT_GT(ring_full, 0u);  // The blocked-writer protocol was exercised.
}

TEST(ChannelDataPathTest, SkippingTheRecheckAfterUnmaskLosesAWakeUp) {
  int stalls = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Options options;
    options.tie_break_seed = seed;
    options.recheck_after_unmask = false;
    Pair pair(options);
    if (pair.Run() < 200u) ++stalls;
  }
  EXPECT_GT(stalls, 0) << "the buggy reader never stranded data";
}

TEST(ChannelDataPathTest, SkippingTheRecheckAfterPendingSendLosesAWakeUp) {
  int stalls = 0;
  for (uint64_t seed = 0; seed < 300; ++seed) {
    Options options;
    options.tie_break_seed = seed;
    options.recheck_after_pending_send = false;
    // 1000-byte packets: three fill the ring, so the writer blocks often and
    // its block-then-publish steps race with the reader's commits.
    options.payload_bytes = 1000;
    Pair pair(options);
    if (pair.Run() < 200u) ++stalls;
  }
  EXPECT_GT(stalls, 0) << "the buggy writer never stalled";
}

}  // namespace
}  // namespace vmbsim::fabric

namespace vmbsim::fabric {
namespace {

// Two endpoints over real rings, built by hand so a test can destroy them.
struct Endpoints {
  explicit Endpoints(sim::Simulator* sim) : memory(64), guest_vp(sim, 1, 0), host_vp(sim, 0, 0) {
    RingMemory out = *RingMemory::Create(&memory, std::vector<uint64_t>{10, 11});
    RingMemory in = *RingMemory::Create(&memory, std::vector<uint64_t>{12, 13});
    DataPathOptions guest_options;
    guest_options.partition_id = 1;
    guest = std::make_unique<ChannelDataPath>(sim, &costs, &guest_vp, *RingWriter::Create(out),
                                              *RingReader::Create(in), guest_options);
    host = std::make_unique<ChannelDataPath>(sim, &costs, &host_vp, *RingWriter::Create(in),
                                             *RingReader::Create(out), DataPathOptions{});
    guest->SetPeer(host.get());
    host->SetPeer(guest.get());
  }
  CostModel costs = CostModel::Zero();
  GuestMemory memory;
  VirtualProcessor guest_vp;
  VirtualProcessor host_vp;
  std::unique_ptr<ChannelDataPath> guest;
  std::unique_ptr<ChannelDataPath> host;
};

// Goal: the endpoint lifetime rule. A close or rescind destroys endpoints
// whose drain steps are still queued on their VP and whose publishes are
// still deferred on a sender's VP; none of that work may run afterwards
// (before the rule, a queued StepCommitRead read the freed endpoint: ASan
// reported it, and `rescind_during_io --tie-break-seed 3` crashed).
TEST(ChannelDataPathLifetimeTest, DestroyingAnEndpointCancelsItsQueuedStepsAndPublishes) {
  sim::Simulator sim({.seed = 1});
  Endpoints e(&sim);
  std::vector<uint8_t> payload(64, 1);
  e.guest->SetSignalPeer([&] { e.host->OnDoorbell(); });  // Queues the host's drain steps.
  int handled = 0;
  e.host->SetPacketHandler([&](const ParsedPacket&) { ++handled; });
  e.guest_vp.Queue(Irql::kDispatch, sim::SimDuration::Zero(), [&] {
    OutgoingPacket packet;
    packet.payload = absl::MakeConstSpan(payload);
    ASSERT_TRUE(e.guest->Send(packet).ok());  // Published at once: the doorbell queues a drain.
    e.guest_vp.Charge(sim::SimDuration::Nanoseconds(500));
    ASSERT_TRUE(e.guest->Send(packet).ok());  // Deferred to 500 ns.
  });
  // Destroy both endpoints while the host's mask step and the guest's second
  // publish are pending.
  sim.ScheduleAt(sim::SimTime::FromNanoseconds(0), [&] {
    EXPECT_GT(e.host_vp.queue_depth(), 0u);
    EXPECT_EQ(e.guest_vp.deferred_effect_count(), 1u);
    e.guest.reset();
    e.host.reset();
    EXPECT_EQ(e.host_vp.queue_depth(), 0u);
    EXPECT_EQ(e.guest_vp.deferred_effect_count(), 0u);
  });
  sim.Run({});
  EXPECT_EQ(handled, 0);
  EXPECT_EQ(e.guest_vp.queue_depth() + e.guest_vp.deferred_effect_count(), 0u);
  EXPECT_TRUE(e.host_vp.idle());
}

// Goal: causality at the ring. A packet sent after 500 ns of charged work
// is published (and its doorbell rung) 500 ns into the work item, not at
// its start; the reader cannot see it earlier.
TEST(ChannelDataPathLifetimeTest, APacketBecomesVisibleWhenItsSenderReachesTheSend) {
  sim::Simulator sim({.seed = 1});
  Endpoints e(&sim);
  std::vector<uint8_t> payload(64, 1);
  std::vector<int64_t> doorbells;
  e.guest->SetSignalPeer([&] { doorbells.push_back(sim.Now().nanoseconds()); });
  std::vector<int64_t> visible;  // When the host first finds data.
  e.guest_vp.Queue(Irql::kDispatch, sim::SimDuration::Zero(), [&] {
    e.guest_vp.Charge(sim::SimDuration::Nanoseconds(500));
    OutgoingPacket packet;
    packet.payload = absl::MakeConstSpan(payload);
    ASSERT_TRUE(e.guest->Send(packet).ok());
    EXPECT_EQ(e.guest->writer().committed_write_index(), 0u);  // Not yet visible.
  });
  for (int64_t t : {0, 499, 501}) {  // 500 itself: the probe was scheduled first.
    sim.ScheduleAt(sim::SimTime::FromNanoseconds(t), [&] {
      if (*e.host->reader().HasData()) visible.push_back(sim.Now().nanoseconds());
    });
  }
  sim.Run({});
  EXPECT_EQ(visible, (std::vector<int64_t>{501}));
  EXPECT_EQ(doorbells, (std::vector<int64_t>{500}));
}

// Goal: the sender pays, and senders serialise on the ring lock. Two guest
// VPs send at the same instant; each pays its own 300 ns copy, the second
// spins until the first copy ends (charged to it, counted), publishes
// after it and, finding the ring no longer empty, rings no doorbell. The
// same VP sending twice never waits for itself.
TEST(ChannelDataPathLifetimeTest, SendersOnSeveralVpsSerialiseOnTheRingLock) {
  sim::Simulator sim({.seed = 1});
  Endpoints e(&sim);
  e.costs.ring_copy_per_packet = sim::SimDuration::Nanoseconds(300);
  VirtualProcessor second_vp(&sim, 1, 1);
  std::vector<uint8_t> payload(64, 1);
  std::vector<int64_t> doorbells;
  e.guest->SetSignalPeer([&] { doorbells.push_back(sim.Now().nanoseconds()); });
  std::vector<int64_t> clocks;
  struct Sender {
    Endpoints* e;
    VirtualProcessor* vp;
    std::vector<uint8_t>* payload;
    std::vector<int64_t>* clocks;
    int sends;
    void Run() const {
      OutgoingPacket packet;
      packet.payload = absl::MakeConstSpan(*payload);
      for (int i = 0; i < sends; ++i) ASSERT_TRUE(e->guest->Send(packet).ok());
      clocks->push_back(vp->LocalNow().nanoseconds());
    }
  };
  const Sender first{&e, &e.guest_vp, &payload, &clocks, 2};
  const Sender second{&e, &second_vp, &payload, &clocks, 1};
  e.guest_vp.Queue(Irql::kDispatch, sim::SimDuration::Zero(), [s = &first] { s->Run(); });
  second_vp.Queue(Irql::kDispatch, sim::SimDuration::Zero(), [s = &second] { s->Run(); });
  sim.Run({});
  // guest_vp: two copies, 0..600, no wait. second_vp: waits 600, copies 600..900.
  EXPECT_EQ(clocks, (std::vector<int64_t>{600, 900}));
  EXPECT_EQ(e.guest_vp.busy_time().nanoseconds(), 600);
  EXPECT_EQ(second_vp.busy_time().nanoseconds(), 900);
  EXPECT_EQ(e.guest->counters().lock_waits, 1u);
  EXPECT_EQ(e.guest->counters().lock_wait_ns, 600u);
  EXPECT_EQ(doorbells, (std::vector<int64_t>{300}));  // Only the first write found the ring empty.
  EXPECT_EQ(e.guest->counters().signals_suppressed, 2u);
  EXPECT_EQ(e.guest->writer().committed_write_index(), e.guest->writer().next_write_index());
}

}  // namespace
}  // namespace vmbsim::fabric
