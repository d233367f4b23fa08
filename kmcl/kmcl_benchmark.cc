// kmcl_benchmark.cc
//
// KMCL round trips per wall-clock second: a guest request/response driver
// keeps 32 transactions in flight per channel (64-byte in-band requests,
// VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION), the host's ProcessPacket
// completes each inline with an 8-byte status, and the guest's completion
// routine sends the same packet object again. One round trip is
// VmbPacketSend -> host ProcessPacket -> VmbChannelPacketComplete -> guest
// completion routine. The `zero` cost profile, so the figure is the
// simulator's own cost per round trip. Configurations, all in one run:
//   1 channel and 64 channels, each with the trace fingerprint off and on;
//   and, as the baseline, the same closed loop written directly against the
//   fabric's data path (no KMCL), 1 channel.
// Reports round trips/s and the ratios: KMCL over the raw data path, and
// fingerprint on over off.
//
// Run: bazel run --config=opt //kmcl:kmcl_benchmark

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "benchmark/benchmark.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/fabric/fabric.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

constexpr int64_t kTotalRoundTrips = 2'000'000;
constexpr int kOutstanding = 32;
constexpr UINT32 kRequestBytes = 64;
constexpr GUID kType = {0x5ca1ab1e, 0x1, 0x2, {3, 4, 5, 6, 7, 8, 9, 10}};

struct Loop {
  int64_t sent = 0;
  int64_t done = 0;
  int64_t budget = 0;
  uint8_t request[kRequestBytes] = {};
};

Loop* g_loop = nullptr;

VOID HostPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  static const UINT64 kStatus = 0;
  VmbChannelPacketComplete(packet, const_cast<UINT64*>(&kStatus), sizeof(kStatus));
}

VOID GuestPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  VmbChannelPacketComplete(packet, nullptr, 0);
}

VOID RoundTripDone(VMBPACKET packet, NTSTATUS, PVOID, UINT32) {
  Loop& loop = *g_loop;
  ++loop.done;
  if (loop.sent < loop.budget) {
    ++loop.sent;
    VmbPacketSend(packet, loop.request, kRequestBytes, nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
  }
}

GUID InstanceFor(int index) {
  GUID g = {0xfeed0000u + static_cast<uint32_t>(index), 0, 0, {0, 0, 0, 0, 0, 0, 0, 1}};
  return g;
}

// Builds `channels` open channel pairs and returns the client channels.
std::vector<VMBCHANNEL> OpenChannels(testing::KmclWorld& world, int channels) {
  std::vector<VMBCHANNEL> clients(channels, nullptr);
  world.OnHost([&world, channels] {
    for (int i = 0; i < channels; ++i) {
      VMBCHANNEL server = nullptr;
      VmbChannelAllocate(world.host_device(), TRUE, &server);
      VmbServerChannelInitSetVmbusHandle(server, world.vmbus_handle());
      VmbServerChannelInitSetTargetInterfaceId(server, kType, InstanceFor(i));
      VmbChannelInitSetProcessPacketCallbacks(server, HostPacket, nullptr);
      VmbChannelSetTransactionQuota(server, 0xFFFFFFFF);
      if (VmbChannelEnable(server) != STATUS_SUCCESS) std::abort();
      VmbChannelStart(server);
    }
  });
  world.OnGuest([&world, &clients, channels] {
    for (int i = 0; i < channels; ++i) {
      VmbChannelAllocate(world.guest_device(), FALSE, &clients[i]);
      const GUID instance = InstanceFor(i);
      VmbClientChannelInitSetTargetPnp(clients[i], &kType, &instance, nullptr);
      VmbChannelInitSetProcessPacketCallbacks(clients[i], GuestPacket, nullptr);
      if (VmbChannelEnable(clients[i]) != STATUS_SUCCESS) std::abort();
    }
  });
  world.Run();
  return clients;
}

std::map<std::tuple<std::string, int64_t, int64_t>, double> g_rates;

void BM_KmclRoundTrips(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  const bool fingerprint = state.range(1) != 0;
  int64_t round_trips = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto world = std::make_unique<testing::KmclWorld>(
        testing::WorldOptions{.guests = 1, .root_vps = 4, .guest_vps = 4, .zero_costs = true});
    std::vector<VMBCHANNEL> clients = OpenChannels(*world, channels);
    for (VMBCHANNEL c : clients) {
      if (world->runtime().StateOf(c) != "open") state.SkipWithError("channel did not open");
    }
    if (fingerprint) world->sim().tracer().EnableFingerprint();
    Loop loop;
    loop.budget = kTotalRoundTrips;
    g_loop = &loop;
    world->runtime().RunDispatch(1, 0, [&loop, &clients] {
      for (VMBCHANNEL c : clients) {
        for (int i = 0; i < kOutstanding && loop.sent < loop.budget; ++i) {
          VMBPACKET packet = VmbPacketAllocate(c);
          VmbPacketSetCompletionRoutine(packet, RoundTripDone);
          ++loop.sent;
          VmbPacketSend(packet, loop.request, kRequestBytes, nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
        }
      }
    });
    state.ResumeTiming();
    world->sim().Run({});
    state.PauseTiming();
    if (loop.done != kTotalRoundTrips) state.SkipWithError("round trips lost");
    round_trips += loop.done;
    g_loop = nullptr;
    world.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(round_trips);
}

BENCHMARK(BM_KmclRoundTrips)
    ->ArgsProduct({{1, 64}, {0, 1}})
    ->Iterations(1)
    ->Repetitions(3)
    ->Unit(benchmark::kMillisecond);

// The baseline: the same closed loop straight on the fabric's data path.
struct RawLoop {
  fabric::ChannelDataPath* guest = nullptr;
  int64_t sent = 0;
  int64_t done = 0;
  uint8_t request[kRequestBytes] = {};
  uint64_t status = 0;
};

void BM_RawDataPathRoundTrips(benchmark::State& state) {
  int64_t round_trips = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto sim = std::make_unique<sim::Simulator>(sim::SimulatorOptions{.seed = 1});
    fabric::FabricConfig config;
    config.costs = fabric::CostModel::Zero();
    config.root.vp_count = 4;
    config.guests.push_back({.vp_count = 4});
    auto fab = std::make_unique<fabric::Fabric>(sim.get(), config);
    fabric::ChannelAttachment a;
    a.guest = 1;
    a.relid = 1;
    a.connection_id = 0x2001;
    for (uint64_t i = 0; i < 32; ++i) a.ring_pfns.push_back(0x10000 + i);
    a.downstream_offset = 16;
    if (!fab->AttachChannel(a).ok()) state.SkipWithError("attach failed");
    RawLoop loop;
    loop.guest = fab->guest_endpoint(1, 1);
    fabric::ChannelDataPath* host = fab->host_endpoint(1, 1);
    host->SetPacketHandler([host, &loop](const fabric::ParsedPacket& packet) {
      host->SendCompletion(packet.descriptor.trans_id,
                           absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&loop.status), 8))
          .IgnoreError();
    });
    auto send = [&loop] {
      fabric::OutgoingPacket p = fabric::InBandPacket(absl::MakeConstSpan(loop.request), loop.sent, true);
      ++loop.sent;
      loop.guest->Send(p).IgnoreError();
    };
    loop.guest->SetPacketHandler([&loop, &send](const fabric::ParsedPacket&) {
      ++loop.done;
      if (loop.sent < kTotalRoundTrips) send();
    });
    sim->ScheduleAt(sim::SimTime::FromNanoseconds(0), [&send] {
      for (int i = 0; i < kOutstanding; ++i) send();
    });
    state.ResumeTiming();
    sim->Run({});
    state.PauseTiming();
    if (loop.done != kTotalRoundTrips) state.SkipWithError("round trips lost");
    round_trips += loop.done;
    fab.reset();
    sim.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(round_trips);
}

BENCHMARK(BM_RawDataPathRoundTrips)->Iterations(1)->Repetitions(3)->Unit(benchmark::kMillisecond);

class RateReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration) continue;
      const std::string name = run.benchmark_name();
      int64_t channels = 1;
      int64_t fingerprint = 0;
      std::sscanf(name.c_str(), "BM_KmclRoundTrips/%ld/%ld", &channels, &fingerprint);
      const std::string family = name.substr(0, name.find('/'));
      const auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      double& best = g_rates[{family, channels, fingerprint}];
      best = std::max(best, it->second.value);
    }
  }
};

}  // namespace
}  // namespace vmbsim::kmcl

int main(int argc, char** argv) {
  using namespace vmbsim::kmcl;
  benchmark::Initialize(&argc, argv);
  RateReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double raw = g_rates[{"BM_RawDataPathRoundTrips", 1, 0}];
  std::printf("\nround trips/s (best of 3; 64-byte requests, 32 outstanding per channel, zero costs):\n");
  std::printf("  raw data path, 1 channel (baseline): %.0f\n", raw);
  for (int64_t channels : {1, 64}) {
    const double off = g_rates[{"BM_KmclRoundTrips", channels, 0}];
    const double on = g_rates[{"BM_KmclRoundTrips", channels, 1}];
    std::printf("  KMCL, %2ld channel(s): %.0f (fingerprint off), %.0f (on); on/off = %.2f; "
                "KMCL/raw = %.2f\n",
                channels, off, on, off > 0 ? on / off : 0.0, raw > 0 ? off / raw : 0.0);
  }
  benchmark::Shutdown();
  return 0;
}
