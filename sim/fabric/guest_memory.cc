#include "sim/fabric/guest_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <bitset>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "sim/check.h"

namespace vmbsim::fabric {

// kGuestPagesPerExtent consecutive pages, consecutive and page-aligned in host
// memory, zero until written.
class GuestMemory::Extent {
 public:
  static constexpr size_t kSizeBytes = size_t{kGuestPagesPerExtent} * kPageSizeBytes;

  Extent() {
    if constexpr (kGuestPagesPerExtent == 1) {
      // One page, from the heap, so that ASan surrounds it with redzones.
      bytes_ = new (std::align_val_t{kPageSizeBytes}) uint8_t[kPageSizeBytes]();
    } else {
      // An anonymous mapping reads as zeros and costs memory only where it is
      // written; huge pages would defeat that.
      void* mapped =
          mmap(nullptr, kSizeBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      VMBSIM_CHECK_MSG(mapped != MAP_FAILED, "cannot map a guest memory extent");
#ifdef MADV_NOHUGEPAGE
      madvise(mapped, kSizeBytes, MADV_NOHUGEPAGE);  // Best effort.
#endif
      bytes_ = static_cast<uint8_t*>(mapped);
    }
  }
  ~Extent() {
    if constexpr (kGuestPagesPerExtent == 1) {
      operator delete[](bytes_, std::align_val_t{kPageSizeBytes});
    } else {
      munmap(bytes_, kSizeBytes);
    }
  }
  Extent(const Extent&) = delete;
  Extent& operator=(const Extent&) = delete;

  uint8_t* page(uint32_t page_index) const {
    VMBSIM_CHECK_LT(page_index, kGuestPagesPerExtent);
    return bytes_ + size_t{page_index} * kPageSizeBytes;
  }
  bool touched(uint32_t page_index) const { return touched_[page_index]; }
  // Marks the page touched; returns whether it was not before.
  bool Touch(uint32_t page_index) {
    const bool first = !touched_[page_index];
    touched_[page_index] = true;
    return first;
  }

 private:
  uint8_t* bytes_ = nullptr;
  std::bitset<kGuestPagesPerExtent> touched_;
};

GuestMemory::GuestMemory(uint64_t page_count_max) : page_count_max_(page_count_max) {
  VMBSIM_CHECK_GT(page_count_max, 0u);
  VMBSIM_CHECK_LE(page_count_max, kGuestPageCountMax);
}

GuestMemory::~GuestMemory() = default;

absl::Status GuestMemory::CheckPfn(uint64_t pfn) const {
  if (pfn >= page_count_max_) {
    return absl::OutOfRangeError(absl::StrCat("guest memory: pfn=0x", absl::Hex(pfn),
                                              " not below page count 0x",
                                              absl::Hex(page_count_max_)));
  }
  return absl::OkStatus();
}

absl::Status GuestMemory::CheckRange(uint64_t gpa, uint64_t size_bytes) const {
  // size_bytes() <= 2^64 - 2^12 by the constructor's limit, so this cannot
  // overflow; comparing this way round avoids computing gpa + size_bytes.
  const uint64_t limit_bytes = page_count_max_ * kPageSizeBytes;
  if (gpa > limit_bytes || size_bytes > limit_bytes - gpa) {
    return absl::OutOfRangeError(
        absl::StrCat("guest memory: gpa=0x", absl::Hex(gpa), " size_bytes=", size_bytes,
                     " exceeds partition size 0x", absl::Hex(limit_bytes)));
  }
  return absl::OkStatus();
}

uint8_t* GuestMemory::PageForWrite(uint64_t pfn) {
  VMBSIM_CHECK_LT(pfn, page_count_max_);
  std::unique_ptr<Extent>& extent = extents_[pfn / kGuestPagesPerExtent];
  if (extent == nullptr) extent = std::make_unique<Extent>();
  const uint32_t page_index = static_cast<uint32_t>(pfn % kGuestPagesPerExtent);
  if (extent->Touch(page_index)) ++touched_page_count_;
  return extent->page(page_index);
}

const uint8_t* GuestMemory::PageIfPresent(uint64_t pfn) const {
  VMBSIM_CHECK_LT(pfn, page_count_max_);
  const auto it = extents_.find(pfn / kGuestPagesPerExtent);
  if (it == extents_.end()) return nullptr;
  const uint32_t page_index = static_cast<uint32_t>(pfn % kGuestPagesPerExtent);
  return it->second->touched(page_index) ? it->second->page(page_index) : nullptr;
}

bool GuestMemory::NextPageIsHostAdjacent(uint64_t pfn) const {
  VMBSIM_CHECK_LT(pfn, page_count_max_);
  // Only pages of one extent are one host object; pages of different
  // extents are never treated as adjacent, even if the addresses happen to
  // be, so that no copy ever spans two allocations.
  if (pfn + 1 >= page_count_max_ || (pfn + 1) % kGuestPagesPerExtent == 0) return false;
  const uint8_t* page = PageIfPresent(pfn);
  const uint8_t* next = PageIfPresent(pfn + 1);
  if (page == nullptr || next == nullptr) return false;
  VMBSIM_CHECK(next == page + kPageSizeBytes);  // One extent is one mapping.
  return true;
}

absl::Status GuestMemory::Read(uint64_t gpa, absl::Span<uint8_t> out) const {
  VMBSIM_RETURN_IF_ERROR(CheckRange(gpa, out.size()));
  size_t done_bytes = 0;
  // Bounded: one iteration per page touched by the range.
  while (done_bytes < out.size()) {
    const uint64_t at = gpa + done_bytes;
    const uint32_t in_page_offset = static_cast<uint32_t>(at % kPageSizeBytes);
    const size_t chunk_bytes =
        std::min<size_t>(out.size() - done_bytes, kPageSizeBytes - in_page_offset);
    const uint8_t* page = PageIfPresent(at >> kPageShift);
    if (page == nullptr) {
      std::memset(out.data() + done_bytes, 0, chunk_bytes);
    } else {
      std::memcpy(out.data() + done_bytes, page + in_page_offset, chunk_bytes);
    }
    done_bytes += chunk_bytes;
  }
  VMBSIM_CHECK_EQ(done_bytes, out.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Write(uint64_t gpa, absl::Span<const uint8_t> data) {
  VMBSIM_RETURN_IF_ERROR(CheckRange(gpa, data.size()));
  size_t done_bytes = 0;
  while (done_bytes < data.size()) {
    const uint64_t at = gpa + done_bytes;
    const uint32_t in_page_offset = static_cast<uint32_t>(at % kPageSizeBytes);
    const size_t chunk_bytes =
        std::min<size_t>(data.size() - done_bytes, kPageSizeBytes - in_page_offset);
    std::memcpy(PageForWrite(at >> kPageShift) + in_page_offset, data.data() + done_bytes,
                chunk_bytes);
    done_bytes += chunk_bytes;
  }
  VMBSIM_CHECK_EQ(done_bytes, data.size());
  return absl::OkStatus();
}

}  // namespace vmbsim::fabric
