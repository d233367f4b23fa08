// Goal: a packet of the channel's MaximumPacketSize always fits its rings,
// whatever ring page counts the client asked for, because KMCL sizes rings
// with the function its own ring writers' limit comes from
// (fabric::WriterSizeRule, RuntimeOptions::writer_size_rule); and a packet
// that can never fit the channel's ring is refused at the send with
// STATUS_INVALID_BUFFER_SIZE and an oversize_packet finding, and counted as
// a failed send, never as sent or lost (issue 12, section 3).
// Method: an echo server and a client through the public header, with the
// transaction metrics on. The boundaries are the issue's: 4057..4064-byte
// packets in 2-page rings, 8160 bytes with 2 pages asked for; under the
// OpenVMM rule the same packets need one more page, which proves that the
// sizing follows the writer's rule rather than a second formula.

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/fabric/ring_buffer.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using fabric::WriterSizeRule;
using testing::KmclWorld;
using testing::WorldOptions;

constexpr GUID kType = {0x9e7f0001, 0x11, 0x22, {3, 1, 4, 1, 5, 9, 2, 6}};
constexpr UINT32 kWait = VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION;

// One endpoint: what it received and what its sends finished with.
struct End {
  VMBCHANNEL channel = nullptr;
  std::vector<std::vector<uint8_t>> received;
  std::vector<NTSTATUS> finished;
  std::vector<std::vector<uint8_t>> completions;
};

End* EndOf(VMBCHANNEL channel) { return static_cast<End*>(VmbChannelGetPointer(channel)); }

// Echoes every packet in its completion.
VOID OnPacket(VMBCHANNEL c, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32) {
  const uint8_t* bytes = static_cast<const uint8_t*>(buffer);
  EndOf(c)->received.emplace_back(bytes, bytes + length);
  VmbChannelPacketComplete(packet, buffer, length);
}

VOID OnSendDone(VMBPACKET packet, NTSTATUS status, PVOID buffer, UINT32 length) {
  End* end = static_cast<End*>(VmbPacketGetPointer(packet));
  end->finished.push_back(status);
  const uint8_t* bytes = static_cast<const uint8_t*>(buffer);
  end->completions.emplace_back(bytes, bytes + length);
  VmbPacketFree(packet);
}

// A send of `size` pattern bytes with a completion routine; on failure the
// packet is freed again (a refused send leaves it to the caller).
NTSTATUS Send(End& end, uint32_t size, uint8_t seed) {
  std::vector<uint8_t> payload(size);
  for (uint32_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(seed + i * 7);
  VMBPACKET packet = VmbPacketAllocate(end.channel);
  if (packet == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  VmbPacketSetPointer(packet, &end);
  VmbPacketSetCompletionRoutine(packet, OnSendDone);
  const NTSTATUS status = VmbPacketSend(packet, payload.data(), size, nullptr, kWait);
  if (status != STATUS_SUCCESS) VmbPacketFree(packet);
  return status;
}

std::vector<uint8_t> Pattern(uint32_t size, uint8_t seed) {
  std::vector<uint8_t> payload(size);
  for (uint32_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(seed + i * 7);
  return payload;
}

class PacketSizeTest : public ::testing::Test {
 protected:
  explicit PacketSizeTest(WriterSizeRule rule = WriterSizeRule::kLinuxEmcl)
      : world_(WorldOptions{.runtime = {.transaction_metrics = true, .writer_size_rule = rule}}) {}

  // An echo server of maximum packet `max_packet`; `after_enable`, if any,
  // runs right after its Enable, before Start.
  void MakeServer(UINT32 max_packet, std::function<void()> after_enable = nullptr) {
    world_.OnHost([this, max_packet, after_enable] {
      ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &server_.channel), STATUS_SUCCESS);
      VmbChannelSetPointer(server_.channel, &server_);
      ASSERT_EQ(VmbServerChannelInitSetVmbusHandle(server_.channel, world_.vmbus_handle()), STATUS_SUCCESS);
      ASSERT_EQ(VmbServerChannelInitSetTargetInterfaceId(server_.channel, kType, kType), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(server_.channel, max_packet), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(server_.channel, OnPacket, nullptr), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelEnable(server_.channel), STATUS_SUCCESS);
      if (after_enable) after_enable();
      VmbChannelStart(server_.channel);
    });
  }

  void MakeClient(UINT32 max_packet, UINT32 ring_pages) {
    world_.OnGuest([this, max_packet, ring_pages] {
      ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
      VmbChannelSetPointer(client_.channel, &client_);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(client_.channel, max_packet), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, ring_pages, ring_pages), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client_.channel, OnPacket, nullptr), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelEnable(client_.channel), STATUS_SUCCESS);
    });
  }

  ChannelTransactions Metrics() {
    return world_.runtime().TransactionsFor(1, world_.runtime().RelidOf(client_.channel));
  }
  size_t Oversize() { return world_.runtime().verifier().count(Rule::kOversizePacket); }

  KmclWorld world_;
  End server_;
  End client_;
};

// ---------------------------------------------------------------------------
// A maximum-size packet always fits.

// (writer rule, MaximumPacketSize, data pages asked for (G10: the counts
// are data pages), data pages each ring must end up with).
using FitCase = std::tuple<WriterSizeRule, UINT32, UINT32, uint32_t>;

class MaximumPacketFitsTest : public PacketSizeTest, public ::testing::WithParamInterface<FitCase> {
 protected:
  MaximumPacketFitsTest() : PacketSizeTest(std::get<0>(GetParam())) {}
};

// Both ways: the client's maximum-size request and its echo, and the
// server's maximum-size packet and its echo, each the exact bytes.
TEST_P(MaximumPacketFitsTest, BothWaysAndEchoed) {
  const auto [rule, max_packet, pages, data_pages] = GetParam();
  MakeServer(max_packet);
  MakeClient(max_packet, pages);
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(client_.channel), "open");
  for (VMBCHANNEL c : {client_.channel, server_.channel}) {
    fabric::RingWriter& writer = world_.runtime().EndpointOf(c)->writer();
    EXPECT_EQ(writer.size_rule(), rule);
    EXPECT_EQ(writer.data_size_bytes(), data_pages * fabric::kPageSizeBytes);
    EXPECT_GE(writer.packet_footprint_bytes_max(), fabric::InBandRingFootprintBytes(max_packet));
  }

  NTSTATUS from_guest = STATUS_UNSUCCESSFUL;
  NTSTATUS from_host = STATUS_UNSUCCESSFUL;
  world_.OnGuest([&] { from_guest = Send(client_, max_packet, 0x11); });
  world_.OnHost([&] { from_host = Send(server_, max_packet, 0x77); });
  world_.Run();
  EXPECT_EQ(from_guest, STATUS_SUCCESS);
  EXPECT_EQ(from_host, STATUS_SUCCESS);
  // The ring carries the length rounded up to 8 (zero padding).
  std::vector<uint8_t> request = Pattern(max_packet, 0x11);
  request.resize(fabric::RoundUpTo8(max_packet), 0);
  std::vector<uint8_t> notice = Pattern(max_packet, 0x77);
  notice.resize(fabric::RoundUpTo8(max_packet), 0);
  EXPECT_EQ(server_.received, (std::vector<std::vector<uint8_t>>{request}));
  EXPECT_EQ(client_.received, (std::vector<std::vector<uint8_t>>{notice}));
  EXPECT_EQ(client_.finished, (std::vector<NTSTATUS>{STATUS_SUCCESS}));
  EXPECT_EQ(server_.finished, (std::vector<NTSTATUS>{STATUS_SUCCESS}));
  EXPECT_EQ(client_.completions, (std::vector<std::vector<uint8_t>>{request}));
  EXPECT_EQ(server_.completions, (std::vector<std::vector<uint8_t>>{notice}));

  const ChannelTransactions m = Metrics();
  for (const DirectionTransactions* d : {&m.guest_to_host, &m.host_to_guest}) {
    EXPECT_EQ(d->packets_sent, 1u);
    EXPECT_EQ(d->packets_processed, 1u);
    EXPECT_EQ(d->transactions_finished, 1u);
    EXPECT_EQ(d->transactions_failed, 0u);
    EXPECT_EQ(d->sends_failed, 0u);
  }
  EXPECT_EQ(world_.runtime().unfinished_sends(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
  EXPECT_TRUE(world_.runtime().peer_violations().empty());
}

// Under the Linux / EMCL rule (KMCL's) a 4057..4064-byte packet (footprint
// 4088 = D - 8) fits one data page, and 8160 bytes (8184) two; under
// OpenVMM's T < D - 8 each needs one page more.
INSTANTIATE_TEST_SUITE_P(
    IssueBoundaries, MaximumPacketFitsTest,
    ::testing::Values(FitCase{WriterSizeRule::kLinuxEmcl, 4057, 1, 1}, FitCase{WriterSizeRule::kLinuxEmcl, 4060, 1, 1},
                      FitCase{WriterSizeRule::kLinuxEmcl, 4064, 1, 1}, FitCase{WriterSizeRule::kLinuxEmcl, 4065, 1, 2},
                      FitCase{WriterSizeRule::kLinuxEmcl, 8160, 1, 2}, FitCase{WriterSizeRule::kOpenVmm, 4057, 1, 2},
                      FitCase{WriterSizeRule::kOpenVmm, 4064, 1, 2}, FitCase{WriterSizeRule::kOpenVmm, 8160, 1, 3},
                      FitCase{WriterSizeRule::kLinuxEmcl, 4096, 16, 16}, FitCase{WriterSizeRule::kLinuxEmcl, 4096, 3, 3}));

// G10: the page counts are data pages, as EMCL takes them; the ring GPADL
// holds In + Out + 2 pages (a control page per ring) and the host->guest ring
// starts at page Out + 1. (When the counts included the control page, 3 and
// 5 gave 2 and 4 data pages in 8 pages.)
TEST_F(PacketSizeTest, PageCountsAreDataPagesPlusAControlPageEach) {
  MakeServer(1024);
  world_.OnGuest([this] {
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
    VmbChannelSetPointer(client_.channel, &client_);
    ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(client_.channel, 1024), STATUS_SUCCESS);
    ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 3, 5), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client_.channel, OnPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelEnable(client_.channel), STATUS_SUCCESS);
  });
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(client_.channel), "open");
  const fabric::ChannelAttachment* a = world_.fabric().attachment(1, world_.runtime().RelidOf(client_.channel));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ring_pfns.size(), 3u + 5u + 2u);
  EXPECT_EQ(a->downstream_offset, 5u + 1u);
  EXPECT_EQ(world_.runtime().EndpointOf(client_.channel)->writer().data_size_bytes(), 5u * fabric::kPageSizeBytes);
  EXPECT_EQ(world_.runtime().EndpointOf(client_.channel)->reader().data_size_bytes(), 3u * fabric::kPageSizeBytes);
  EXPECT_EQ(world_.runtime().EndpointOf(server_.channel)->writer().data_size_bytes(), 3u * fabric::kPageSizeBytes);
}

// The smallest count is one data page; 0 and more than 65535 are refused
// with the parameter that is wrong.
TEST_F(PacketSizeTest, PageCountsOutsideOneTo65535AreRefused) {
  world_.OnGuest([this] {
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 0, 4), STATUS_INVALID_PARAMETER_2);
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 4, 0), STATUS_INVALID_PARAMETER_3);
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 65536, 4), STATUS_INVALID_PARAMETER_2);
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 1, 65535), STATUS_SUCCESS);
  });
  world_.Run();
}

// ---------------------------------------------------------------------------
// A packet that can never fit.

// The client declares 4064-byte packets and 1-data-page rings: the host->guest
// ring keeps one data page, whose writer takes at most 4088 ring bytes, an
// in-band packet of 4064. The server declares 8192. Its larger sends are
// refused at the call, with a finding, as failed sends; the largest that
// fits goes through.
TEST_F(PacketSizeTest, ServerPacketAboveThePeersRingIsRefusedAtTheSend) {
  MakeServer(8192);
  MakeClient(4064, 1);
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(server_.channel), "open");
  ASSERT_EQ(world_.runtime().EndpointOf(server_.channel)->writer().packet_footprint_bytes_max(), 4088u);

  std::vector<NTSTATUS> statuses;
  world_.OnHost([&] {
    std::vector<uint8_t> request(4065, 0x5A);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    auto non_blocking = [&](UINT32 size) {
      return VmbChannelSendSynchronousRequest(server_.channel, request.data(), size, nullptr, 0, nullptr, nullptr,
                                              &zero);
    };
    statuses.push_back(Send(server_, 8192, 0x33));
    statuses.push_back(Send(server_, 4065, 0x33));
    statuses.push_back(non_blocking(4065));  // Never fits: not "does not fit now".
    statuses.push_back(non_blocking(4064));  // Fits the empty ring and fills it.
    statuses.push_back(non_blocking(4064));  // Does not fit now (STATUS_BUFFER_OVERFLOW); not a send.
    statuses.push_back(Send(server_, 4064, 0x33));  // Waits for room, then goes.
  });
  world_.Run();
  EXPECT_EQ(statuses, (std::vector<NTSTATUS>{STATUS_INVALID_BUFFER_SIZE, STATUS_INVALID_BUFFER_SIZE,
                                             STATUS_INVALID_BUFFER_SIZE, STATUS_SUCCESS, STATUS_BUFFER_OVERFLOW,
                                             STATUS_SUCCESS}));
  ASSERT_EQ(client_.received.size(), 2u);
  EXPECT_EQ(client_.received[0], std::vector<uint8_t>(4064, 0x5A));
  EXPECT_EQ(client_.received[1], Pattern(4064, 0x33));
  EXPECT_EQ(server_.finished, (std::vector<NTSTATUS>{STATUS_SUCCESS}));

  ASSERT_EQ(Oversize(), 3u);
  for (const Finding& f : world_.runtime().verifier().findings()) {
    EXPECT_EQ(f.rule, Rule::kOversizePacket);
    EXPECT_EQ(f.status, STATUS_INVALID_BUFFER_SIZE);
    EXPECT_EQ(f.partition, 0u);  // The server's.
    EXPECT_NE(f.detail.find("at most 4088"), std::string::npos) << f.detail;
  }
  const DirectionTransactions h2g = Metrics().host_to_guest;
  EXPECT_EQ(h2g.sends_failed, 3u);
  EXPECT_EQ(h2g.packets_sent, 2u);  // The two that fit; the refused ones are neither sent nor lost.
  EXPECT_EQ(h2g.queued_sends, 1u);
  EXPECT_EQ(h2g.bytes_sent, 2u * 4064);
  EXPECT_EQ(h2g.transactions_finished, 2u);
  EXPECT_EQ(h2g.transactions_failed, 0u);
  EXPECT_EQ(h2g.packets_processed, 2u);
  EXPECT_EQ(world_.runtime().unfinished_sends(), 0u);
}

// Sent right after Enable, before any client opens: the ring is not known
// yet, so the send is accepted and waits. At the open the packet turns out
// never to fit: its transaction fails with STATUS_INVALID_BUFFER_SIZE and
// the finding says so; it counts as a send that finished failed.
TEST_F(PacketSizeTest, QueuedServerPacketThatNeverFitsFailsItsTransactionAtTheOpen) {
  NTSTATUS queued = STATUS_UNSUCCESSFUL;
  MakeServer(8192, [&] { queued = Send(server_, 8192, 0x44); });
  world_.Run();
  EXPECT_EQ(queued, STATUS_SUCCESS);
  EXPECT_TRUE(server_.finished.empty());
  MakeClient(4064, 2);
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(server_.channel), "open");
  EXPECT_EQ(server_.finished, (std::vector<NTSTATUS>{STATUS_INVALID_BUFFER_SIZE}));
  EXPECT_TRUE(client_.received.empty());
  ASSERT_EQ(Oversize(), 1u);
  EXPECT_EQ(world_.runtime().verifier().findings()[0].status, STATUS_SUCCESS);  // What the send returned.
  const DirectionTransactions h2g = Metrics().host_to_guest;
  EXPECT_EQ(h2g.packets_sent, 1u);
  EXPECT_EQ(h2g.queued_sends, 1u);
  EXPECT_EQ(h2g.transactions_finished, 1u);
  EXPECT_EQ(h2g.transactions_failed, 1u);
  EXPECT_EQ(h2g.sends_failed, 0u);
  EXPECT_EQ(world_.runtime().unfinished_sends(), 0u);
}

// In-band bytes above MaximumPacketSize are refused too (STATUS_INVALID_PARAMETER_3),
// and count as failed sends, before the channel has a relid as well as after.
TEST_F(PacketSizeTest, SendsAboveTheMaximumCountAsFailedSends) {
  MakeServer(4096);
  NTSTATUS before_open = STATUS_SUCCESS;
  world_.OnGuest([&] {
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
    VmbChannelSetPointer(client_.channel, &client_);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client_.channel, OnPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelEnable(client_.channel), STATUS_SUCCESS);
    before_open = Send(client_, 4097, 1);
  });
  world_.Run();
  NTSTATUS after_open = STATUS_SUCCESS;
  world_.OnGuest([&] { after_open = Send(client_, 5000, 2); });
  world_.Run();
  EXPECT_EQ(before_open, STATUS_INVALID_PARAMETER_3);
  EXPECT_EQ(after_open, STATUS_INVALID_PARAMETER_3);
  EXPECT_EQ(Oversize(), 2u);
  const DirectionTransactions g2h = Metrics().guest_to_host;
  EXPECT_EQ(g2h.sends_failed, 2u);
  EXPECT_EQ(g2h.packets_sent, 0u);
  EXPECT_EQ(world_.runtime().unfinished_sends(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
