// guest_memory.h
//
// One partition's guest-physical memory, as 4096-byte pages addressed by page
// frame number (PFN = GPA >> 12). A page is allocated, zero-filled, the first
// time something writes to it; a page nobody has written reads as zeros and
// costs nothing, so a fabric with many partitions of many gigabytes stays
// cheap. Pages never move once allocated, so host pointers to them stay valid
// for the lifetime of the GuestMemory; ring code resolves its pages once and
// keeps the pointers.
//
// Host layout: pages live in extents of kGuestPagesPerExtent consecutive PFNs
// (2 MiB), each one anonymous mapping reserved on first touch. The host
// kernel backs only the 4 KiB pages actually written (transparent huge pages
// are declined), so memory cost stays proportional to touched pages, while
// GPA-consecutive pages inside an extent are also consecutive in host memory:
// a ring on consecutive PFNs copies across its page boundaries in one piece
// (`HostContiguousBytes`). AddressSanitizer builds allocate every page on its
// own instead, so that a copy running off the end of a page hits a redzone.
//
// GPAs and PFNs usually come from the guest (GPADLs, GPA-direct ranges), so a
// GPA beyond the partition's configured size is bad input and yields
// absl::OutOfRangeError, never a crash.
//
// Not modelled: memory holes, MMIO, overlay pages (SynIC, monitor pages are
// modelled by their own classes), access permissions and VTLs.

#ifndef VMBSIM_SIM_FABRIC_GUEST_MEMORY_H_
#define VMBSIM_SIM_FABRIC_GUEST_MEMORY_H_

#include <cstdint>
#include <memory>

#include "absl/base/config.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"

namespace vmbsim::fabric {

// The Hyper-V page (L-hdr `HV_HYP_PAGE_SIZE`, OpenVMM `HV_PAGE_SIZE`).
inline constexpr uint32_t kPageSizeBytes = 4096;
inline constexpr uint32_t kPageShift = 12;
static_assert(uint32_t{1} << kPageShift == kPageSizeBytes);

// The largest partition this class accepts: fewer than 2^52 pages keeps the
// partition's size in bytes representable in a uint64_t.
inline constexpr uint64_t kGuestPageCountMax = (uint64_t{1} << 52) - 1;

// Pages per host extent (see the file comment); 1 under AddressSanitizer.
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
inline constexpr uint32_t kGuestPagesPerExtent = 1;
#else
inline constexpr uint32_t kGuestPagesPerExtent = 512;
#endif

class GuestMemory {
 public:
  // A partition of `page_count_max` pages (GPAs [0, page_count_max * 4096)).
  // Nothing is allocated until a page is written.
  // REQUIRES: 0 < page_count_max <= kGuestPageCountMax.
  explicit GuestMemory(uint64_t page_count_max);
  ~GuestMemory();

  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint64_t page_count_max() const { return page_count_max_; }
  uint64_t size_bytes() const { return page_count_max_ * kPageSizeBytes; }

  // Number of pages allocated so far (written at least once, or handed out by
  // PageForWrite).
  uint64_t touched_page_count() const { return touched_page_count_; }

  // Returns OK if `pfn` names a page of this partition, else OutOfRange
  // naming the PFN and the limit.
  absl::Status CheckPfn(uint64_t pfn) const;

  // Returns OK if [gpa, gpa + size_bytes) lies inside this partition, else
  // OutOfRange naming the range and the limit. Overflow-safe.
  absl::Status CheckRange(uint64_t gpa, uint64_t size_bytes) const;

  // Returns the 4096 bytes of page `pfn`, allocating (zeroed) if needed. The
  // pointer stays valid for the lifetime of this object.
  // REQUIRES: CheckPfn(pfn).ok() — validate guest-supplied PFNs first.
  uint8_t* PageForWrite(uint64_t pfn);

  // Returns page `pfn`, or nullptr if it was never touched (it reads as
  // zeros). Never allocates.
  // REQUIRES: CheckPfn(pfn).ok().
  const uint8_t* PageIfPresent(uint64_t pfn) const;

  // Whether pages `pfn` and `pfn + 1` are both allocated and belong to one
  // host allocation in which the second follows the first, so that one
  // memcpy may run across both. Never allocates.
  // REQUIRES: CheckPfn(pfn).ok().
  bool NextPageIsHostAdjacent(uint64_t pfn) const;

  // Copies `out.size()` bytes starting at `gpa` into `out`; the range may
  // cross any number of pages. Untouched pages read as zeros and stay
  // unallocated. Returns OutOfRange (and writes nothing) if the range leaves
  // the partition.
  absl::Status Read(uint64_t gpa, absl::Span<uint8_t> out) const;

  // Copies `data` to guest memory starting at `gpa`, allocating pages as
  // needed. Returns OutOfRange (and changes nothing) if the range leaves the
  // partition.
  absl::Status Write(uint64_t gpa, absl::Span<const uint8_t> data);

 private:
  class Extent;  // Defined in guest_memory.cc.

  const uint64_t page_count_max_;
  uint64_t touched_page_count_ = 0;
  // Keyed by pfn / kGuestPagesPerExtent. Ordered, so that any future walk
  // over the pages (save/restore, dumps) is deterministic; a hash map would
  // leak its per-process iteration order. Extents never move.
  absl::btree_map<uint64_t, std::unique_ptr<Extent>> extents_;
};

}  // namespace vmbsim::fabric

#endif  // VMBSIM_SIM_FABRIC_GUEST_MEMORY_H_
