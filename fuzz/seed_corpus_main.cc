// seed_corpus_main.cc
//
// Writes the generated part of the seed corpora, made with the project's own
// encoders, so that the fuzzers start from valid inputs rather than noise:
//   ring_reader/      rings a RingWriter filled (in-band, completion,
//                     transfer-page and GPA-direct packets, wrapped)
//   channel_message/  every message form, encoded, at Copper and Win7
//   gpadl/            GPADLs split by SplitGpadl, as header and body payloads
//   kmcl_calls/       call sequences that open a channel and move packets
//
//   bazel run //fuzz:seed_corpus -- "$PWD/tests/fuzz"
//
// Deterministic: the same files every run, so regenerating changes nothing
// unless an encoder changed.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "sim/check.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/gpadl_messages.h"
#include "sim/fabric/guest_memory.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/ring_buffer.h"
#include "sim/fabric/ring_layout.h"

namespace vmbsim::fabric {
namespace {

std::filesystem::path g_root;

void WriteSeed(const std::string& target, const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::filesystem::path dir = g_root / target;
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  VMBSIM_CHECK(out.good());
}

void PutLe32(std::vector<uint8_t>& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

// ring_reader input: config, buffer class, control words, ops, data area.
void RingSeed(const std::string& name, uint8_t config, uint32_t start_index,
              const std::vector<OutgoingPacket>& packets) {
  const uint32_t data_page_count = 1 + (config & 3);
  GuestMemory memory(64);
  std::vector<uint64_t> pfns;
  for (uint32_t i = 0; i <= data_page_count; ++i) pfns.push_back(8 + i);
  RingMemory view = RingMemory::Create(&memory, pfns).value();
  StoreControlWord(view.control_page(), ControlWord::kWriteIndex, start_index);
  StoreControlWord(view.control_page(), ControlWord::kReadIndex, start_index);
  RingWriter writer = RingWriter::Create(view, "seed").value();
  for (const OutgoingPacket& packet : packets) {
    VMBSIM_CHECK(writer.Write(packet).value() == WriteOutcome::kWritten);
  }
  writer.CommitWrite();
  std::vector<uint8_t> seed = {config, 0x80};  // 0x80: a buffer as large as the data area.
  const uint8_t* control = view.control_page();
  for (ControlWord word : {ControlWord::kWriteIndex, ControlWord::kReadIndex, ControlWord::kInterruptMask,
                           ControlWord::kPendingSendSz, ControlWord::kFeatureBits}) {
    PutLe32(seed, LoadControlWord(control, word));
  }
  // Ops: read, read, commit, peek, read, commit, ...
  const uint8_t ops[16] = {0, 0, 4, 3, 0, 4, 6, 0, 0, 4, 5, 0, 7, 0, 4, 0};
  seed.insert(seed.end(), std::begin(ops), std::end(ops));
  std::vector<uint8_t> data(view.data_size_bytes());
  view.ReadData(0, absl::MakeSpan(data));
  // Trailing zero pages add nothing; the target zero-fills what is missing.
  while (!data.empty() && data.back() == 0) data.pop_back();
  seed.insert(seed.end(), data.begin(), data.end());
  WriteSeed("ring_reader", name, seed);
}

void RingSeeds() {
  const std::vector<uint8_t> payload(100, 0x42);
  const std::vector<uint8_t> small(8, 0x17);
  const TransferPageRange xfer[] = {{512, 0}, {1000, 4096}};
  const GpaRange gpa[] = {{5000, 100, {7, 8}}, {100, 4000, {9, 10}}};
  RingSeed("inband.bin", 0, 0,
           {InBandPacket(payload, 1, true), InBandPacket(small, 2, false), CompletionPacket(1, small)});
  RingSeed("xfer_pages.bin", 1, 0, {TransferPagesPacket(3, xfer, small, 7)});
  RingSeed("gpa_direct.bin", 1, 0, {GpaDirectPacket(gpa, payload, 9)});
  // Starts 64 bytes before the end of one data page, so packets wrap.
  RingSeed("wrapped.bin", 4, 4096 - 64, {InBandPacket(payload, 3, true), GpaDirectPacket(gpa, small, 4)});
  RingSeed("clamp_linux.bin", 8 | 16, 0, {InBandPacket(payload, 5, true), CompletionPacket(5, payload)});
}

template <size_t... kIndex>
std::vector<ChannelMessage> EveryForm(std::index_sequence<kIndex...>) {
  return {ChannelMessage(std::in_place_index<kIndex>)...};
}

void ChannelMessageSeeds() {
  std::vector<ChannelMessage> messages =
      EveryForm(std::make_index_sequence<std::variant_size_v<ChannelMessage>>());
  // Non-zero fields where a zero would hide a field from the mutator.
  for (ChannelMessage& message : messages) {
    if (auto* header = std::get_if<GpadlHeader>(&message)) {
      header->gpadl = 5;
      header->range_buflen = 16;
      header->rangecount = 1;
      header->range_data = {0x00, 0x10, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, 0, 0, 0, 0, 0};
    } else if (auto* body = std::get_if<GpadlBody>(&message)) {
      body->gpadl = 5;
      body->pfns = {7, 8};
    }
  }
  for (const ChannelMessage& message : messages) {
    const std::vector<uint8_t> encoded = Encode(message);
    const std::string type = ChannelMessageTypeName(MessageTypeOf(message));
    const std::string name = type + "_" + std::to_string(encoded.size());
    std::vector<uint8_t> seed = {0 /* Copper */, 0xFF /* every feature */};
    seed.insert(seed.end(), encoded.begin(), encoded.end());
    WriteSeed("channel_message", name + ".bin", seed);
  }
}

void GpadlSeed(const std::string& name, const std::vector<GpaRange>& ranges) {
  std::vector<ChannelMessage> messages = SplitGpadl(3, 11, ranges).value();
  std::vector<uint8_t> seed;
  for (const ChannelMessage& message : messages) {
    const std::vector<uint8_t> encoded = Encode(message);
    seed.push_back(0);  // Op: a raw control payload ...
    seed.push_back(static_cast<uint8_t>(encoded.size()));  // ... of this length.
    seed.insert(seed.end(), encoded.begin(), encoded.end());
  }
  WriteSeed("gpadl", name, seed);
}

void GpadlSeeds() {
  GpadlSeed("one_page.bin", {{4096, 0, {100}}});
  std::vector<uint64_t> pfns;
  for (uint64_t i = 0; i < 64; ++i) pfns.push_back(200 + i);
  GpadlSeed("ring_64_pages.bin", {{64 * 4096, 0, pfns}});
  GpadlSeed("two_ranges.bin", {{5000, 100, {7, 8}}, {100, 4000, {9, 10}}});
}

// kmcl_calls input: [zero costs][op where 8 operand bytes]...
void KmclSeed(const std::string& name, const std::vector<std::vector<uint8_t>>& ops) {
  std::vector<uint8_t> seed = {1};
  for (std::vector<uint8_t> op : ops) {
    op.resize(10, 0);
    seed.insert(seed.end(), op.begin(), op.end());
  }
  WriteSeed("kmcl_calls", name, seed);
}

void KmclSeeds() {
  // where: bit 0 side (0 host, 1 guest); bits 4-7 time to run after.
  const std::vector<uint8_t> host_open = {0, 0x40, 0, 1};             // Allocate, configure, enable.
  const std::vector<uint8_t> guest_open = {0, 0xF1, 0, 3, 3, 1};      // Same on the guest, 4+4 pages.
  const std::vector<uint8_t> guest_packet = {8, 0x11, 0};             // Allocate a packet.
  const std::vector<uint8_t> guest_send = {9, 0x81, 0, 64, 0, 1};     // Send 64 bytes, completion wanted.
  const std::vector<uint8_t> hold = {19, 0x10, 2};                    // Keep received packets.
  const std::vector<uint8_t> complete_held = {11, 0x20, 0, 0, 16, 0};
  const std::vector<uint8_t> guest_disable = {6, 0x81, 0};
  const std::vector<uint8_t> guest_cleanup = {7, 0x11, 0};
  const std::vector<uint8_t> sync = {17, 0xF1, 0, 32, 0, 64, 0, 1};
  KmclSeed("open_send_close.bin",
           {host_open, guest_open, guest_packet, guest_send, guest_send, guest_disable, guest_cleanup});
  KmclSeed("held_completions.bin",
           {hold, host_open, guest_open, guest_packet, guest_send, complete_held, complete_held});
  KmclSeed("sync_request.bin", {host_open, guest_open, sync, guest_disable});
}

}  // namespace
}  // namespace vmbsim::fabric

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: seed_corpus DIR (the tests/fuzz directory)\n");
    return 2;
  }
  vmbsim::fabric::g_root = argv[1];
  vmbsim::fabric::RingSeeds();
  vmbsim::fabric::ChannelMessageSeeds();
  vmbsim::fabric::GpadlSeeds();
  vmbsim::fabric::KmclSeeds();
  return 0;
}
