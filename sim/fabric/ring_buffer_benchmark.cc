// ring_buffer_benchmark.cc
//
// The cost of moving bytes through a ring, against the cost of moving the same
// bytes with one memcpy, in the same binary and run. Each ring iteration is a
// ping-pong of one in-band packet: RingWriter::Write, CommitWrite,
// RingReader::ReadPacket (validation on, kReject), CommitRead; the payload is
// copied into the ring and back out, so the ideal ratio is about 0.5. The
// baseline iteration is one memcpy of the payload between two buffers.
// Payloads: 64 B, 1 KiB, 8 KiB. Rings: 16 KiB (OpenVMM's test ring) and
// 128 KiB (Linux storvsc) data areas, on consecutive PFNs, which GuestMemory
// keeps contiguous in host memory, and on every other PFN, which costs one
// copy per page touched. Packets keep wrapping in all of them.
//
// Reported: median bytes/s of payload per configuration, and the ratio to
// memcpy. Targets (consecutive rings): ratio >= 0.10 at 64 B and >= 0.25 at
// 8 KiB.
//
// Run: bazel run --config=opt //sim/fabric:ring_buffer_benchmark

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_buffer.h"

namespace vmbsim::fabric {
namespace {

constexpr int64_t kSmallRingDataPageCount = 4;   // 16 KiB, OpenVMM's test ring.
constexpr int64_t kLargeRingDataPageCount = 32;  // 128 KiB, Linux storvsc.
constexpr int64_t kPayloadSizes[] = {64, 1024, 8192};
// Ring page layouts: consecutive PFNs (as a Linux guest allocates a ring), or
// every other PFN, which forces a separate copy at every page boundary.
constexpr int64_t kConsecutive = 0;
constexpr int64_t kScattered = 1;

void Die(const char* what) {
  std::fprintf(stderr, "ring_buffer_benchmark: %s\n", what);
  std::abort();
}

void BM_RingPingPong(benchmark::State& state) {
  const size_t payload_size_bytes = static_cast<size_t>(state.range(0));
  const uint64_t data_page_count = static_cast<uint64_t>(state.range(1));
  const bool scattered = state.range(2) == kScattered;
  GuestMemory memory(1024);
  std::vector<uint64_t> pfns;
  for (uint64_t i = 0; i <= data_page_count; ++i) pfns.push_back(100 + (scattered ? 2 : 1) * i);
  absl::StatusOr<RingMemory> view = RingMemory::Create(&memory, pfns);
  if (!view.ok()) Die("ring memory");
  absl::StatusOr<RingWriter> writer = RingWriter::Create(*view, "bench");
  absl::StatusOr<RingReader> reader = RingReader::Create(*view);
  if (!writer.ok() || !reader.ok()) Die("ring halves");
  std::vector<uint8_t> payload(payload_size_bytes);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> buffer(payload_size_bytes + 64);
  const OutgoingPacket packet = InBandPacket(payload, 1, /*completion_requested=*/false);

  for (auto _ : state) {
    absl::StatusOr<WriteOutcome> written = writer->Write(packet);
    if (!written.ok() || *written != WriteOutcome::kWritten) Die("write");
    writer->CommitWrite();
    absl::StatusOr<ReadResult> read = reader->ReadPacket(absl::MakeSpan(buffer));
    if (!read.ok() || read->outcome != ReadOutcome::kPacket) Die("read");
    benchmark::DoNotOptimize(read->packet.bytes);
    reader->CommitRead();
    benchmark::ClobberMemory();
  }
  // Spot-check the last round trip.
  if (std::memcmp(buffer.data() + 16, payload.data(), payload.size()) != 0) Die("payload");
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload_size_bytes));
}

void BM_Memcpy(benchmark::State& state) {
  const size_t payload_size_bytes = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> from(payload_size_bytes, 0x5A);
  std::vector<uint8_t> to(payload_size_bytes);
  for (auto _ : state) {
    benchmark::DoNotOptimize(from.data());
    std::memcpy(to.data(), from.data(), payload_size_bytes);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(payload_size_bytes));
}

// Each configuration runs kRepetitions times, interleaved in random order with
// the other configurations (unless --benchmark_enable_random_interleaving is
// given), and the table uses the medians: a noisy neighbour on a shared
// machine then slows ring and memcpy runs alike instead of deciding a ratio.
constexpr int kRepetitions = 9;
constexpr double kMinTimeSeconds = 0.2;
BENCHMARK(BM_RingPingPong)
    ->ArgsProduct({{64, 1024, 8192},
                   {kSmallRingDataPageCount, kLargeRingDataPageCount},
                   {kConsecutive, kScattered}})
    ->MinTime(kMinTimeSeconds)
    ->Repetitions(kRepetitions)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_Memcpy)
    ->Arg(64)
    ->Arg(1024)
    ->Arg(8192)
    ->MinTime(kMinTimeSeconds)
    ->Repetitions(kRepetitions)
    ->ReportAggregatesOnly(true);

// Prints the usual console output and keeps the median bytes/s per
// (function, arguments).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Aggregate ||
          run.aggregate_name != "median") {
        continue;
      }
      const auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      bytes_per_second[run.run_name.function_name][run.run_name.args] = it->second.value;
    }
  }
  // function name -> "64/4" style arguments -> bytes/s.
  std::map<std::string, std::map<std::string, double>> bytes_per_second;
};

}  // namespace
}  // namespace vmbsim::fabric

int main(int argc, char** argv) {
  using vmbsim::fabric::kLargeRingDataPageCount;
  using vmbsim::fabric::kSmallRingDataPageCount;
  // Interleave repetitions by default (see kRepetitions).
  std::vector<char*> args(argv, argv + argc);
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  bool interleave_given = false;
  for (int i = 1; i < argc; ++i) {
    interleave_given |=
        std::string(argv[i]).rfind("--benchmark_enable_random_interleaving", 0) == 0;
  }
  if (!interleave_given) args.insert(args.begin() + 1, interleave.data());
  int arg_count = static_cast<int>(args.size());
  benchmark::Initialize(&arg_count, args.data());
  argc = arg_count;
  argv = args.data();
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  vmbsim::fabric::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  auto& ring = reporter.bytes_per_second["BM_RingPingPong"];
  auto& copy = reporter.bytes_per_second["BM_Memcpy"];
  using vmbsim::fabric::kConsecutive;
  using vmbsim::fabric::kScattered;
  struct Column {
    const char* name;
    int64_t data_page_count;
    int64_t layout;
  };
  const Column columns[] = {
      {"16K", kSmallRingDataPageCount, kConsecutive},
      {"128K", kLargeRingDataPageCount, kConsecutive},
      {"16K-sc", kSmallRingDataPageCount, kScattered},
      {"128K-sc", kLargeRingDataPageCount, kScattered},
  };
  std::printf(
      "\nRing ping-pong (Write+CommitWrite+ReadPacket+CommitRead) vs one memcpy of the\n"
      "payload: medians of %d runs, payload GB/s, ratio = ring / memcpy.\n"
      "Rings: 16 KiB or 128 KiB data area on consecutive PFNs, or \"-sc\" on every\n"
      "other PFN (one copy per page). Targets apply to the 16 KiB consecutive ring\n"
      "(the spec's reference ring); the others are for information: a 128 KiB ring\n"
      "outgrows L1 at 8 KiB payloads, and the ring copies every byte twice.\n",
      vmbsim::fabric::kRepetitions);
  std::printf("%7s %9s", "payload", "memcpy");
  for (const Column& c : columns) std::printf(" %9s %7s", c.name, "ratio");
  std::printf(" %6s\n", "target");
  bool all_met = true;
  for (int64_t payload : vmbsim::fabric::kPayloadSizes) {
    const std::string plain = absl::StrCat(payload);
    if (copy.count(plain) == 0) continue;
    const double target = payload <= 64 ? 0.10 : payload >= 8192 ? 0.25 : 0.0;
    std::printf("%7lld %9.2f", static_cast<long long>(payload), copy[plain] / 1e9);
    for (const Column& c : columns) {
      const std::string key = absl::StrCat(payload, "/", c.data_page_count, "/", c.layout);
      if (ring.count(key) == 0) {
        std::printf(" %9s %7s", "-", "-");
        continue;
      }
      const double ratio = ring[key] / copy[plain];
      if (c.layout == kConsecutive && c.data_page_count == kSmallRingDataPageCount) {
        all_met = all_met && ratio >= target;
      }
      std::printf(" %9.2f %7.3f", ring[key] / 1e9, ratio);
    }
    std::printf(" %6.2f\n", target);
  }
  std::printf("targets %s\n", all_met ? "met" : "NOT met");
  return 0;
}
