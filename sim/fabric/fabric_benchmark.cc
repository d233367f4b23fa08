// fabric_benchmark.cc
//
// Fabric events per wall-clock second for a steady packet stream, over one
// channel and over 1,000 channels, in the same run. Each channel's guest
// endpoint sends a 64-byte in-band packet at a fixed interval from a guest VP;
// the host echoes a completion. The aggregate packet rate and the total
// packet count are the same in both configurations (one packet every 10 us
// of simulated time, 400,000 packets), so the ratio of the two rates is the
// growth of per-event cost with the number of channels, which must stay
// within the event queue's logarithm.
//
// Run: bazel run --config=opt //sim/fabric:fabric_benchmark

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "sim/fabric/fabric.h"

namespace vmbsim::fabric {
namespace {

constexpr int64_t kTotalPackets = 400000;
constexpr int64_t kAggregateIntervalNs = 10000;

struct Stream {
  Fabric* fabric;
  std::vector<uint8_t> payload = std::vector<uint8_t>(64, 0x42);
  int64_t interval_ns = 0;
  int64_t per_channel_packets = 0;
  std::vector<int64_t> sent;
};

struct SendTick {
  Stream* stream;
  uint32_t relid;
  void operator()() const {
    Stream& s = *stream;
    ChannelDataPath* endpoint = s.fabric->guest_endpoint(1, relid);
    OutgoingPacket packet;
    packet.trans_id = static_cast<uint64_t>(s.sent[relid]);
    packet.payload = absl::MakeConstSpan(s.payload);
    if (!endpoint->writer_blocked()) endpoint->Send(packet).IgnoreError();
    if (++s.sent[relid] < s.per_channel_packets) {
      s.fabric->sim().ScheduleAfter(sim::SimDuration::Nanoseconds(s.interval_ns), SendTick{stream, relid});
    }
  }
};

std::map<int64_t, double> g_rates;

void BM_FabricStream(benchmark::State& state) {
  const int64_t channels = state.range(0);
  uint64_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto sim = std::make_unique<sim::Simulator>(sim::SimulatorOptions{.seed = 1});
    FabricConfig config;
    config.root.vp_count = 4;
    config.guests.push_back({.vp_count = 4});
    auto fabric = std::make_unique<Fabric>(sim.get(), config);
    Stream stream{fabric.get()};
    stream.interval_ns = kAggregateIntervalNs * channels;
    stream.per_channel_packets = kTotalPackets / channels;
    stream.sent.assign(channels + 1, 0);
    for (int64_t c = 1; c <= channels; ++c) {
      ChannelAttachment a;
      a.guest = 1;
      a.relid = static_cast<uint32_t>(c);
      a.connection_id = 0x2000 + static_cast<uint32_t>(c);
      a.guest_target_vp = static_cast<uint32_t>(c % 4);
      a.host_vp = static_cast<uint32_t>(c % 4);
      for (uint64_t i = 0; i < 4; ++i) a.ring_pfns.push_back(1000 + 4 * static_cast<uint64_t>(c) + i);
      a.downstream_offset = 2;
      if (!fabric->AttachChannel(a).ok()) state.SkipWithError("attach failed");
      ChannelDataPath* host = fabric->host_endpoint(1, a.relid);
      host->SetPacketHandler(
          [host](const ParsedPacket& packet) { host->SendCompletion(packet.descriptor.trans_id).IgnoreError(); });
      // Spread the channels' first sends over one interval.
      sim->ScheduleAt(sim::SimTime::FromNanoseconds((c - 1) * kAggregateIntervalNs),
                      SendTick{&stream, static_cast<uint32_t>(c)});
    }
    const uint64_t before = sim->events_executed();
    state.ResumeTiming();
    sim->Run({});
    state.PauseTiming();
    events += sim->events_executed() - before;
    uint64_t received = 0;
    for (int64_t c = 1; c <= channels; ++c) {
      received += fabric->host_endpoint(1, static_cast<uint32_t>(c))->counters().packets_received;
    }
    if (received != static_cast<uint64_t>(kTotalPackets)) state.SkipWithError("packets lost");
    fabric.reset();
    sim.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(events));
  state.counters["events_per_packet"] = static_cast<double>(events) / static_cast<double>(kTotalPackets) /
                                        static_cast<double>(state.iterations());
}

BENCHMARK(BM_FabricStream)->Arg(1)->Arg(1000)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond);

class RateReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration) continue;
      const std::string name = run.benchmark_name();
      const int64_t channels = std::stoll(name.substr(name.find('/') + 1));
      const auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) g_rates[channels] = std::max(g_rates[channels], it->second.value);
    }
  }
};

}  // namespace
}  // namespace vmbsim::fabric

int main(int argc, char** argv) {
  using namespace vmbsim::fabric;
  benchmark::Initialize(&argc, argv);
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double one = g_rates[1];
  const double thousand = g_rates[1000];
  std::printf("\nfabric events/s (best of 3): 1 channel %.0f, 1000 channels %.0f; "
              "per-event cost ratio 1000/1 = %.2f\n",
              one, thousand, thousand > 0 ? one / thousand : 0.0);
  benchmark::Shutdown();
  return 0;
}
