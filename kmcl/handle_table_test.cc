// Goal: handles are opaque, never 0, deterministic, and every value a driver
// can bring back that is not live (stale, double-freed, foreign, NULL,
// never issued, garbage) becomes STATUS_INVALID_HANDLE without a crash.
// Method: drive real tables through insert/remove sequences and check the
// classification, the status and the documented bit layout.
#include "kmcl/handle_table.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "kmcl/ntstatus.h"

namespace vmbsim::kmcl {
namespace {

struct Channel {
  explicit Channel(int id) : id(id) {}
  int id;
};

struct Packet {
  int id = 0;
};

// Inserts Channel(id), which must succeed.
uint64_t Add(HandleTable<Channel>& table, int id) {
  absl::StatusOr<uint64_t> handle = table.Insert(std::make_unique<Channel>(id));
  EXPECT_TRUE(handle.ok()) << handle.status();
  return handle.ok() ? *handle : 0;
}

void ExpectInvalidHandle(const absl::Status& status) {
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ToNtStatus(status), STATUS_INVALID_HANDLE);
  EXPECT_TRUE(IsInvalidHandle(status));
}

TEST(HandleLayoutTest, EncodesTheDocumentedBits) {
  const uint64_t handle = EncodeHandle(/*tag=*/0x1234, /*generation=*/0xABCDEF, /*slot=*/0x123456);
  EXPECT_EQ(handle, 0x9234ABCDEF123456ull);  // 0b10 marker + 0x1234 = 0x9234.
  EXPECT_EQ(HandleMarkerBits(handle), kHandleMarker);
  EXPECT_EQ(HandleTagBits(handle), 0x1234);
  EXPECT_EQ(HandleGenerationBits(handle), 0xABCDEFu);
  EXPECT_EQ(HandleSlotBits(handle), 0x123456u);
  // The smallest possible handle is still far from 0 and non-canonical on
  // x86-64 (bits 63..47 not all equal).
  const uint64_t smallest = EncodeHandle(1, 0, 0);
  EXPECT_EQ(smallest, 0x8001000000000000ull);
  EXPECT_NE(smallest >> 47, 0u);
  EXPECT_NE(smallest >> 47, (uint64_t{1} << 17) - 1);
}

TEST(HandleLayoutTest, DriverHandleConversionsAreLossless) {
  struct FAKECHANNEL__;
  using FAKECHANNEL = FAKECHANNEL__*;
  const uint64_t value = EncodeHandle(kChannelHandleTag, 5, 9);
  const FAKECHANNEL driver_handle = DriverHandleOf<FAKECHANNEL>(value);
  static_assert(sizeof(driver_handle) == sizeof(value));
  EXPECT_EQ(HandleValueOf(driver_handle), value);
  EXPECT_EQ(HandleValueOf(static_cast<FAKECHANNEL>(nullptr)), 0u);
}

TEST(HandleTableTest, InsertLookupRemove) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 1);
  const uint64_t b = Add(table, 2);
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  EXPECT_EQ(table.size(), 2u);
  ASSERT_TRUE(table.Lookup(a).ok());
  EXPECT_EQ((*table.Lookup(a))->id, 1);
  EXPECT_EQ((*table.Lookup(b))->id, 2);
  EXPECT_EQ(table.Classify(a), HandleState::kLive);

  absl::StatusOr<std::unique_ptr<Channel>> removed = table.Remove(a);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ((*removed)->id, 1);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ((*table.Lookup(b))->id, 2);  // The other object is untouched.
}

TEST(HandleTableTest, HandleIsStaleAfterRemove) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 1);
  ASSERT_TRUE(table.Remove(a).ok());
  EXPECT_EQ(table.Classify(a), HandleState::kStale);
  const absl::Status status = table.Lookup(a).status();
  ExpectInvalidHandle(status);
  EXPECT_NE(status.message().find("stale"), std::string::npos) << status;
  EXPECT_NE(status.message().find("channel handle 0x8001000000000000"), std::string::npos)
      << status;
}

TEST(HandleTableTest, DoubleRemoveIsDetectedAsStale) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 1);
  ASSERT_TRUE(table.Remove(a).ok());
  absl::StatusOr<std::unique_ptr<Channel>> again = table.Remove(a);
  ExpectInvalidHandle(again.status());
  EXPECT_EQ(table.Classify(a), HandleState::kStale);
  EXPECT_EQ(table.size(), 0u);
}

TEST(HandleTableTest, ReuseGivesADifferentHandleAndTheOldOneStaysStale) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 1);
  ASSERT_TRUE(table.Remove(a).ok());
  const uint64_t c = Add(table, 3);
  EXPECT_NE(c, a);
  EXPECT_EQ(HandleSlotBits(c), HandleSlotBits(a));  // Same slot, reused...
  EXPECT_EQ(HandleGenerationBits(c), HandleGenerationBits(a) + 1);  // ...next generation.
  EXPECT_EQ((*table.Lookup(c))->id, 3);
  ExpectInvalidHandle(table.Lookup(a).status());  // The old handle never aliases.
  ExpectInvalidHandle(table.Remove(a).status());
  EXPECT_EQ((*table.Lookup(c))->id, 3);            // A stale Remove took nothing.
}

TEST(HandleTableTest, FreedSlotsAreReusedOldestFirst) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t h0 = Add(table, 0);
  const uint64_t h1 = Add(table, 1);
  const uint64_t h2 = Add(table, 2);
  ASSERT_TRUE(table.Remove(h2).ok());
  ASSERT_TRUE(table.Remove(h0).ok());
  EXPECT_EQ(HandleSlotBits(Add(table, 3)), HandleSlotBits(h2));
  EXPECT_EQ(HandleSlotBits(Add(table, 4)), HandleSlotBits(h0));
  EXPECT_EQ(HandleSlotBits(Add(table, 5)), 3u);  // Then a fresh slot.
  EXPECT_EQ(table.Classify(h1), HandleState::kLive);
}

TEST(HandleTableTest, ForeignHandlesFromAnotherTable) {
  HandleTable<Channel> channels(kChannelHandleTag, "channel");
  HandleTable<Packet> packets(kPacketHandleTag, "packet");
  const uint64_t channel = Add(channels, 1);
  absl::StatusOr<uint64_t> packet = packets.Insert(std::make_unique<Packet>());
  ASSERT_TRUE(packet.ok());
  // Same slot and generation; only the tag differs.
  EXPECT_EQ(HandleSlotBits(channel), HandleSlotBits(*packet));
  EXPECT_EQ(HandleGenerationBits(channel), HandleGenerationBits(*packet));

  EXPECT_EQ(channels.Classify(*packet), HandleState::kForeign);
  EXPECT_EQ(packets.Classify(channel), HandleState::kForeign);
  const absl::Status status = channels.Lookup(*packet).status();
  ExpectInvalidHandle(status);
  EXPECT_NE(status.message().find("foreign"), std::string::npos) << status;
  ExpectInvalidHandle(channels.Remove(*packet).status());
  EXPECT_EQ(packets.size(), 1u);  // Nothing was removed from either table.
  EXPECT_EQ(channels.size(), 1u);
}

TEST(HandleTableTest, NullIsNeverIssuedAndRejected) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  for (int i = 0; i < 100; ++i) EXPECT_NE(Add(table, i), 0u);
  EXPECT_EQ(table.Classify(0), HandleState::kNull);
  const absl::Status status = table.Lookup(0).status();
  ExpectInvalidHandle(status);
  EXPECT_EQ(status.message(), "channel handle is NULL");
  ExpectInvalidHandle(table.Remove(0).status());
}

TEST(HandleTableTest, NeverIssuedHandlesAreRejected) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 1);
  // A slot the table never created.
  EXPECT_EQ(table.Classify(EncodeHandle(kChannelHandleTag, 0, 7)), HandleState::kNeverIssued);
  // A future generation of an existing slot.
  EXPECT_EQ(table.Classify(EncodeHandle(kChannelHandleTag, 1, HandleSlotBits(a))),
            HandleState::kNeverIssued);
  ASSERT_TRUE(table.Remove(a).ok());
  // The generation the free slot will issue next has not been issued yet.
  EXPECT_EQ(table.Classify(EncodeHandle(kChannelHandleTag, 1, HandleSlotBits(a))),
            HandleState::kNeverIssued);
  ExpectInvalidHandle(table.Lookup(EncodeHandle(kChannelHandleTag, 1, 0)).status());
}

TEST(HandleTableTest, PointersAndGarbageNeverCrash) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  std::vector<uint64_t> live;
  for (int i = 0; i < 64; ++i) live.push_back(Add(table, i));
  for (int i = 0; i < 64; i += 3) ASSERT_TRUE(table.Remove(live[i]).ok());
  const size_t size_before = table.size();

  // A real pointer (canonical address) is not a handle.
  int local = 0;
  const uint64_t pointer = reinterpret_cast<uintptr_t>(&local);
  EXPECT_EQ(table.Classify(pointer), HandleState::kNotAHandle);
  ExpectInvalidHandle(table.Lookup(pointer).status());

  // A fixed pseudo-random sweep (splitmix64, deterministic) over the whole
  // 64-bit space and over near-misses of real handles.
  uint64_t state = 0x5EED;
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const std::vector<uint64_t> live_now = table.HandlesInIssueOrder();
  const std::set<uint64_t> live_set(live_now.begin(), live_now.end());
  for (int i = 0; i < 200000; ++i) {
    uint64_t value = next();
    if (i % 2 == 1) value = live[value % live.size()] ^ (uint64_t{1} << (value % 64));
    const HandleState state_of_value = table.Classify(value);
    const absl::StatusOr<Channel*> found = table.Lookup(value);
    EXPECT_EQ(found.ok(), state_of_value == HandleState::kLive);
    // Accepted exactly when the value is a live handle of this table.
    EXPECT_EQ(found.ok(), live_set.count(value) == 1) << std::hex << value;
    // The inline fast path agrees with Lookup on every value.
    EXPECT_EQ(table.Find(value), found.ok() ? *found : nullptr) << std::hex << value;
    if (!found.ok()) {
      EXPECT_EQ(ToNtStatus(found.status()), STATUS_INVALID_HANDLE);
    }
  }
  EXPECT_EQ(table.size(), size_before);
}

TEST(HandleTableTest, IterationIsInIssueOrderAcrossSlotReuse) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t h0 = Add(table, 0);
  const uint64_t h1 = Add(table, 1);
  const uint64_t h2 = Add(table, 2);
  ASSERT_TRUE(table.Remove(h0).ok());
  const uint64_t h3 = Add(table, 3);  // Reuses slot 0, but was issued last.
  EXPECT_EQ(HandleSlotBits(h3), 0u);
  const std::vector<uint64_t> expected = {h1, h2, h3};
  EXPECT_EQ(table.HandlesInIssueOrder(), expected);

  std::vector<int> ids;
  std::vector<uint64_t> handles;
  table.ForEach([&](uint64_t handle, Channel& channel) {
    handles.push_back(handle);
    ids.push_back(channel.id);
  });
  EXPECT_EQ(handles, expected);
  EXPECT_EQ(ids, (std::vector<int>{1, 2, 3}));

  // Removing everything while walking a snapshot is fine.
  for (uint64_t handle : table.HandlesInIssueOrder()) ASSERT_TRUE(table.Remove(handle).ok());
  EXPECT_TRUE(table.empty());
}

TEST(HandleTableTest, SameOperationsGiveSameHandles) {
  auto run = [] {
    HandleTable<Channel> table(kChannelHandleTag, "channel");
    std::vector<uint64_t> issued;
    for (int i = 0; i < 50; ++i) {
      issued.push_back(Add(table, i));
      if (i % 4 == 3) {
        EXPECT_TRUE(table.Remove(issued[i - 2]).ok());
      }
    }
    return issued;
  };
  EXPECT_EQ(run(), run());
}

TEST(HandleTableTest, GenerationWrapRetiresTheSlot) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t first = Add(table, 0);
  ASSERT_TRUE(table.Remove(first).ok());
  table.SetSlotGenerationForTest(0, kHandleGenerationMax);
  const uint64_t last = Add(table, 1);
  EXPECT_EQ(HandleSlotBits(last), 0u);
  EXPECT_EQ(HandleGenerationBits(last), kHandleGenerationMax);
  ASSERT_TRUE(table.Remove(last).ok());
  // The slot is retired, not wrapped back to generation 0.
  EXPECT_EQ(table.allocator().retired_slot_count(), 1u);
  EXPECT_EQ(table.Classify(last), HandleState::kStale);
  EXPECT_EQ(table.Classify(first), HandleState::kStale);
  EXPECT_EQ(table.Find(last), nullptr);  // Retired at the generation it was live with.
  const uint64_t next = Add(table, 2);
  EXPECT_EQ(HandleSlotBits(next), 1u);  // A fresh slot instead.
  EXPECT_NE(next, first);
  ExpectInvalidHandle(table.Remove(last).status());
}

TEST(HandleTableTest, FullTableIsResourceExhausted) {
  HandleTable<Channel> table(kChannelHandleTag, "channel", /*slot_count_max=*/3);
  const uint64_t a = Add(table, 0);
  Add(table, 1);
  Add(table, 2);
  absl::StatusOr<uint64_t> overflow = table.Insert(std::make_unique<Channel>(3));
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ToNtStatus(overflow.status()), STATUS_INSUFFICIENT_RESOURCES);
  EXPECT_EQ(table.size(), 3u);
  ASSERT_TRUE(table.Remove(a).ok());
  EXPECT_TRUE(table.Insert(std::make_unique<Channel>(4)).ok());  // Room again.
}

TEST(HandleTableTest, RetiredSlotsCountAgainstTheLimit) {
  HandleTable<Channel> table(kChannelHandleTag, "channel", /*slot_count_max=*/1);
  const uint64_t a = Add(table, 0);
  ASSERT_TRUE(table.Remove(a).ok());
  table.SetSlotGenerationForTest(0, kHandleGenerationMax);
  ASSERT_TRUE(table.Remove(Add(table, 1)).ok());
  EXPECT_EQ(table.Insert(std::make_unique<Channel>(2)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(HandleTableDeathTest, MutatingDuringForEachIsABug) {
  HandleTable<Channel> table(kChannelHandleTag, "channel");
  const uint64_t a = Add(table, 0);
  EXPECT_DEATH(table.ForEach([&](uint64_t, Channel&) { (void)table.Remove(a); }),
               "iteration_depth_");
}

TEST(HandleTableDeathTest, TagMustFitTheLayout) {
  EXPECT_DEATH(HandleTable<Channel>(0, "channel"), "tag >= 1");
  EXPECT_DEATH(HandleTable<Channel>(kHandleTagMax + 1, "channel"), "tag <= kHandleTagMax");
}

}  // namespace
}  // namespace vmbsim::kmcl
