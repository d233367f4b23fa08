// Goal: guest memory allocates pages lazily and zeroed, reads untouched pages
// as zeros without allocating, moves byte ranges across page boundaries
// exactly, and turns any GPA beyond the partition into OutOfRange. Method:
// small partitions, byte patterns, and counts of touched pages.
#include "sim/fabric/guest_memory.h"

#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::fabric {
namespace {

TEST(GuestMemoryTest, StartsEmptyAndAllocatesZeroedPagesOnWrite) {
  GuestMemory memory(/*page_count_max=*/16);
  EXPECT_EQ(memory.touched_page_count(), 0u);
  EXPECT_EQ(memory.size_bytes(), 16u * kPageSizeBytes);
  EXPECT_EQ(memory.PageIfPresent(3), nullptr);

  uint8_t* page = memory.PageForWrite(3);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(memory.touched_page_count(), 1u);
  for (uint32_t i = 0; i < kPageSizeBytes; ++i) ASSERT_EQ(page[i], 0) << i;
  page[7] = 0xAB;
  EXPECT_EQ(memory.PageIfPresent(3), page);
  EXPECT_EQ(memory.PageForWrite(3), page);  // Stable; no second allocation.
  EXPECT_EQ(memory.touched_page_count(), 1u);

  // Pointers stay valid while other pages come and go around them.
  for (uint64_t pfn = 0; pfn < 16; ++pfn) memory.PageForWrite(pfn);
  EXPECT_EQ(memory.PageIfPresent(3), page);
  EXPECT_EQ(page[7], 0xAB);
}

TEST(GuestMemoryTest, ReadOfUntouchedMemoryIsZeroAndDoesNotAllocate) {
  GuestMemory memory(4);
  std::vector<uint8_t> out(3 * kPageSizeBytes, 0xFF);
  ASSERT_TRUE(memory.Read(100, absl::MakeSpan(out)).ok());
  for (uint8_t b : out) ASSERT_EQ(b, 0);
  EXPECT_EQ(memory.touched_page_count(), 0u);
}

// A write that spans three pages lands byte for byte, allocates exactly the
// pages it touches, and reads back across the same boundaries.
TEST(GuestMemoryTest, ReadWriteAcrossPageBoundaries) {
  GuestMemory memory(8);
  std::vector<uint8_t> data(2 * kPageSizeBytes + 10);
  std::iota(data.begin(), data.end(), 1);
  const uint64_t gpa = 2 * kPageSizeBytes - 5;
  ASSERT_TRUE(memory.Write(gpa, data).ok());
  EXPECT_EQ(memory.touched_page_count(), 4u);  // Pages 1, 2, 3, 4.
  EXPECT_EQ(memory.PageIfPresent(1)[kPageSizeBytes - 5], data[0]);
  EXPECT_EQ(memory.PageIfPresent(2)[0], data[5]);
  EXPECT_EQ(memory.PageIfPresent(4)[0], data[5 + 2 * kPageSizeBytes]);

  std::vector<uint8_t> back(data.size() + 10, 0xEE);
  ASSERT_TRUE(memory.Read(gpa - 5, absl::MakeSpan(back)).ok());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back[i], 0);
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(back[i + 5], data[i]) << i;
  for (size_t i = data.size() + 5; i < back.size(); ++i) EXPECT_EQ(back[i], 0);
}

TEST(GuestMemoryTest, RangesBeyondThePartitionAreOutOfRange) {
  GuestMemory memory(2);
  uint8_t byte = 1;
  EXPECT_TRUE(memory.Write(2 * kPageSizeBytes - 1, absl::MakeConstSpan(&byte, 1)).ok());
  const absl::Status past_end = memory.Write(2 * kPageSizeBytes, absl::MakeConstSpan(&byte, 1));
  EXPECT_EQ(past_end.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(past_end.message().find("gpa=0x2000"), std::string::npos) << past_end.message();

  std::vector<uint8_t> two(2);
  EXPECT_EQ(memory.Read(2 * kPageSizeBytes - 1, absl::MakeSpan(two)).code(),
            absl::StatusCode::kOutOfRange);
  // Overflowing the address space is just another out-of-range GPA.
  EXPECT_EQ(memory.Read(std::numeric_limits<uint64_t>::max(), absl::MakeSpan(two)).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(memory.CheckRange(std::numeric_limits<uint64_t>::max() - 1, 4).code(),
            absl::StatusCode::kOutOfRange);
  // A failed write changes nothing.
  EXPECT_EQ(memory.touched_page_count(), 1u);

  EXPECT_TRUE(memory.CheckPfn(1).ok());
  const absl::Status bad_pfn = memory.CheckPfn(2);
  EXPECT_EQ(bad_pfn.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(bad_pfn.message().find("pfn=0x2"), std::string::npos) << bad_pfn.message();
  EXPECT_TRUE(memory.CheckRange(2 * kPageSizeBytes, 0).ok());  // Empty at the end.
}

TEST(GuestMemoryTest, HugePartitionsCostOnlyTheirTouchedPages) {
  GuestMemory memory(kGuestPageCountMax);
  const uint64_t last_gpa = memory.size_bytes() - 8;
  const uint8_t bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(memory.Write(last_gpa, bytes).ok());
  ASSERT_TRUE(memory.Write(0, bytes).ok());
  EXPECT_EQ(memory.touched_page_count(), 2u);
  uint8_t back[8] = {};
  ASSERT_TRUE(memory.Read(last_gpa, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back[7], 8);
}

// Pages of one extent are one host allocation; ring copies rely on that to
// cross page boundaries in one piece. Under ASan every page stands alone.
TEST(GuestMemoryTest, HostAdjacencyFollowsExtents) {
  GuestMemory memory(4 * kGuestPagesPerExtent);
  EXPECT_FALSE(memory.NextPageIsHostAdjacent(0));  // Nothing touched yet.
  uint8_t* first = memory.PageForWrite(0);
  EXPECT_FALSE(memory.NextPageIsHostAdjacent(0));  // Page 1 untouched.
  uint8_t* second = memory.PageForWrite(1);
  const bool extents = kGuestPagesPerExtent > 1;
  EXPECT_EQ(memory.NextPageIsHostAdjacent(0), extents);
  if (extents) {
    EXPECT_EQ(second, first + kPageSizeBytes);
  }
  // The last page of an extent is never adjacent to the next extent's first.
  const uint64_t last = 3 * kGuestPagesPerExtent - 1;  // Distinct from 0 and 1.
  memory.PageForWrite(last);
  memory.PageForWrite(last + 1);
  EXPECT_FALSE(memory.NextPageIsHostAdjacent(last));
  EXPECT_FALSE(memory.NextPageIsHostAdjacent(4 * kGuestPagesPerExtent - 1));
  // Touching pages one by one counts each once, whatever the extent size.
  EXPECT_EQ(memory.touched_page_count(), 4u);
  // Untouched pages inside an allocated extent still read as absent.
  if (extents) {
    EXPECT_EQ(memory.PageIfPresent(2), nullptr);
  }
}

TEST(GuestMemoryDeathTest, PageAccessBeyondTheLimitIsACallerBug) {
  GuestMemory memory(2);
  EXPECT_DEATH(memory.PageForWrite(2), "pfn < page_count_max_");
  EXPECT_DEATH(GuestMemory(0), "page_count_max > 0");
}

}  // namespace
}  // namespace vmbsim::fabric
