#include "tools/fabric_demo.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "sim/core/simulator.h"
#include "sim/check.h"
#include "sim/fabric/fabric.h"

namespace vmbsim::tools {
namespace {

using fabric::ChannelDataPath;
using fabric::Fabric;

class Demo {
 public:
  explicit Demo(const FabricDemoOptions& options)
      : options_(options), sim_({.seed = options.seed}), payload_(64, 0x6D) {
    fabric::FabricConfig config;
    config.costs = options.zero_costs ? fabric::CostModel::Zero() : fabric::CostModel::Default();
    config.root.vp_count = options.host_vp_count;
    config.guests.push_back({.vp_count = options.guest_vp_count});
    fabric_ = std::make_unique<Fabric>(&sim_, config);
    sim_.tracer().EnableFingerprint();
    fabric_->SetChannelAttachedHook([this](uint16_t guest, uint32_t relid) { OnAttached(guest, relid); });
  }

  absl::StatusOr<FabricDemoReport> Run() {
    std::vector<uint32_t> relids;
    for (uint32_t i = 0; i < options_.channel_count; ++i) {
      fabric::OfferParams offer;
      offer.interface_id = fabric::Guid::FromFields(0x766d6273, 0x696d, 0x0001, {0, 0, 0, 0, 0, 0, 0, 1});
      offer.instance_id = fabric::Guid::FromFields(0x766d6273, 0x696d, 0x0002, {0, 0, 0, 0, 0, 0, 0, uint8_t(i)});
      offer.monitored = options_.monitor_latency_100ns != 0;
      offer.interrupt_latency_100ns = options_.monitor_latency_100ns;
      VMBSIM_ASSIGN_OR_RETURN(const uint32_t relid, fabric_->server(1).OfferChannel(offer));
      relids.push_back(relid);
    }
    bool connected = false;
    VMBSIM_RETURN_IF_ERROR(fabric_->client(1).Connect(
        fabric::kVersionCopper, [&connected](absl::StatusOr<uint32_t> v) { connected = v.ok(); }));
    sim_.Run({});
    if (!connected) return absl::InternalError("fabric demo: the guest did not connect");

    uint64_t next_pfn = 0x1000;
    for (const uint32_t relid : relids) {
      fabric::GpaRange ring;
      ring.byte_count = 8 * fabric::kPageSizeBytes;  // 4 pages each way: 12 KiB data areas.
      for (int p = 0; p < 8; ++p) ring.pfns.push_back(next_pfn++);
      uint32_t gpadl_status = 1;
      VMBSIM_ASSIGN_OR_RETURN(const uint32_t gpadl,
                              fabric_->client(1).CreateGpadl(relid, absl::MakeConstSpan(&ring, 1),
                                                             [&gpadl_status](uint32_t s, uint32_t) { gpadl_status = s; }));
      sim_.Run({});
      if (gpadl_status != 0) return absl::InternalError(absl::StrCat("fabric demo: GPADL for channel ", relid));
      uint32_t open_status = 1;
      VMBSIM_RETURN_IF_ERROR(fabric_->client(1).OpenChannel(relid, gpadl, 4, relid % options_.guest_vp_count, {},
                                                            [&open_status](uint32_t s) { open_status = s; }));
      sim_.Run({});
      if (open_status != 0) return absl::InternalError(absl::StrCat("fabric demo: open of channel ", relid));
    }

    // Streams start together, staggered by a nanosecond per channel.
    const sim::SimTime start = sim_.Now();
    for (size_t i = 0; i < relids.size(); ++i) {
      sim_.ScheduleAt(start + sim::SimDuration::Nanoseconds(static_cast<int64_t>(i)), Tick{this, relids[i]});
    }
    sim_.Run({});
    return Report(start);
  }

 private:
  struct Stream {
    uint64_t sent = 0;
    uint64_t completions = 0;
    std::map<uint64_t, sim::SimTime> in_flight;  // trans id -> send time.
    sim::Histogram round_trip_ns;
  };

  struct Tick {
    Demo* demo;
    uint32_t relid;
    void operator()() const { demo->SendOne(relid); }
  };

  void OnAttached(uint16_t guest, uint32_t relid) {
    ChannelDataPath* host = fabric_->host_endpoint(guest, relid);
    host->SetPacketHandler([host](const fabric::ParsedPacket& packet) {
      host->SendCompletion(packet.descriptor.trans_id).IgnoreError();
    });
    fabric_->guest_endpoint(guest, relid)->SetPacketHandler([this, relid](const fabric::ParsedPacket& packet) {
      Stream& stream = streams_[relid];
      const auto it = stream.in_flight.find(packet.descriptor.trans_id);
      if (it == stream.in_flight.end()) return;
      stream.round_trip_ns.Record((fabric_->guest(1).vp(relid % options_.guest_vp_count).LocalNow() - it->second)
                                      .nanoseconds());
      stream.in_flight.erase(it);
      ++stream.completions;
    });
  }

  void SendOne(uint32_t relid) {
    Stream& stream = streams_[relid];
    if (stream.sent >= options_.packets_per_channel) return;
    const uint64_t trans_id = ++stream.sent;
    fabric::VirtualProcessor& vp = fabric_->guest(1).vp(relid % options_.guest_vp_count);
    struct Send {
      Demo* demo;
      uint32_t relid;
      uint64_t trans_id;
      void operator()() const {
        ChannelDataPath* guest = demo->fabric_->guest_endpoint(1, relid);
        if (guest == nullptr || guest->writer_blocked()) return;  // Dropped: counted as not completed.
        fabric::OutgoingPacket packet;
        packet.trans_id = trans_id;
        packet.flags = fabric::kCompletionRequestedFlag;
        packet.payload = absl::MakeConstSpan(demo->payload_);
        demo->streams_[relid].in_flight[trans_id] = demo->fabric_->guest(1).vp(relid % demo->options_.guest_vp_count).LocalNow();
        guest->Send(packet).IgnoreError();
      }
    };
    vp.Queue(fabric::Irql::kPassive, sim::SimDuration::Nanoseconds(200), Send{this, relid, trans_id});
    if (stream.sent < options_.packets_per_channel) sim_.ScheduleAfter(options_.send_interval, Tick{this, relid});
  }

  FabricDemoReport Report(sim::SimTime start) {
    FabricDemoReport report;
    for (auto& [relid, stream] : streams_) {
      ChannelReport c;
      c.relid = relid;
      c.packets_sent = stream.sent;
      c.completions = stream.completions;
      c.round_trip_ns = stream.round_trip_ns;
      if (ChannelDataPath* guest = fabric_->guest_endpoint(1, relid)) {
        c.guest_doorbells_sent = guest->counters().signals_sent;
        c.guest_signals_suppressed = guest->counters().signals_suppressed;
      }
      if (ChannelDataPath* host = fabric_->host_endpoint(1, relid)) {
        c.host_doorbells_received = host->counters().doorbells;
        c.host_batches = host->counters().batches;
        c.host_batch_p50 = host->batch_sizes().ValueAtQuantile(0.5);
        c.host_batch_max = host->batch_sizes().max();
      }
      report.channels.push_back(std::move(c));
    }
    report.events = sim_.events_executed();
    report.end_time = sim_.Now();
    const fabric::MonitorPage& monitor = fabric_->monitor_page(1);
    report.monitor_sets = monitor.sets();
    report.monitor_coalesced = monitor.coalesced();
    report.monitor_fires = monitor.fires();
    report.host_interrupts = fabric_->root().synic().counters().interrupts;
    report.guest_interrupts = fabric_->guest(1).synic().counters().interrupts;
    report.control_violations = fabric_->server(1).violations().size() + fabric_->client(1).violations().size();
    const double span = static_cast<double>(std::max<int64_t>(1, (sim_.Now() - start).nanoseconds()));
    for (uint32_t v = 0; v < fabric_->root().vp_count(); ++v) {
      report.host_vp_busy_percent.push_back(100.0 * static_cast<double>(fabric_->root().vp(v).busy_time().nanoseconds()) / span);
    }
    for (uint32_t v = 0; v < fabric_->guest(1).vp_count(); ++v) {
      report.guest_vp_busy_percent.push_back(100.0 * static_cast<double>(fabric_->guest(1).vp(v).busy_time().nanoseconds()) / span);
    }
    report.fingerprint = sim_.tracer().fingerprint();
    return report;
  }

  const FabricDemoOptions options_;
  sim::Simulator sim_;
  std::unique_ptr<Fabric> fabric_;
  std::vector<uint8_t> payload_;
  std::map<uint32_t, Stream> streams_;
};

}  // namespace

absl::StatusOr<FabricDemoReport> RunFabricDemo(const FabricDemoOptions& options) {
  return Demo(options).Run();
}

}  // namespace vmbsim::tools
