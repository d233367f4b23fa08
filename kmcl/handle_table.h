// handle_table.h
//
// Opaque handles for the objects KMCL hands to drivers (spec §3.1: VMBCHANNEL,
// VMBPACKET from VmbPacketAllocate, VMBPACKETCOMPLETION). A driver receives a
// pointer-sized value that is never a pointer; every call brings it back, and
// the table turns it into the object or into STATUS_INVALID_HANDLE. Handles are
// driver input, so a stale, foreign, NULL or made-up value is an error status
// (InvalidHandleError, ntstatus.h), never a crash and never a CHECK
// (STYLE.md, "The KMCL C API boundary").
//
// Handle bit layout (64 bits, most significant first):
//
//   63 62 61          48 47                24 23                 0
//  +-----+--------------+--------------------+--------------------+
//  | 1 0 |     tag      |     generation     |     slot index     |
//  +-----+--------------+--------------------+--------------------+
//    2 bits   14 bits          24 bits              24 bits
//
//   - Marker 0b10 in bits 63..62: every issued value is non-zero (so NULL is
//     never issued), and is a non-canonical x86-64 address under both 4- and
//     5-level paging, so a driver that dereferences a handle faults at once
//     instead of reading memory. It also tells table handles apart from the
//     caller-buffer addresses VmbPacketInitialize turns into VMBPACKETs
//     (spec §3.1): those are canonical, so Classify() says kNotAHandle.
//   - Tag: one per table (1..kHandleTagMax), so that a handle of one table
//     given to another (a packet handle passed as a channel) is kForeign. The
//     KMCL tables use the k*HandleTag constants below. A runtime that wants
//     handles of different worlds to be foreign too can fold a world number
//     into the tag; the values stay deterministic either way.
//   - Generation of the slot when the handle was issued. Removing an object
//     bumps its slot's generation, so every earlier handle of the slot is
//     kStale, and a double Remove is detected as stale.
//   - Slot index: the object's position in the table (at most 2^24 slots).
//
// Determinism: values depend only on the sequence of Insert/Remove calls (no
// pointers, no hashing), so the same run issues the same handles. Freed slots
// are reused oldest-freed first. Iteration is in issue order.
//
// Generation wrap: a slot whose generation reaches kHandleGenerationMax is
// retired when its object is removed and never reused, so no handle value is
// ever issued twice by one table. The cost is one slot per 2^24 reuses.
//
// Left out on purpose: GPADL handles. The API's GpadlHandle is a UINT32 that
// the client sends to the server through its own protocol; vmbsim uses the
// fabric's GPADL id for it (G24), which this 64-bit layout cannot express.
// Not thread-safe: one simulation is single-threaded.

#ifndef VMBSIM_KMCL_HANDLE_TABLE_H_
#define VMBSIM_KMCL_HANDLE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sim/check.h"
#include "sim/core/ring_deque.h"

namespace vmbsim::kmcl {

inline constexpr int kHandleSlotBits = 24;
inline constexpr int kHandleGenerationBits = 24;
inline constexpr int kHandleTagBits = 14;
inline constexpr int kHandleMarkerBits = 2;
inline constexpr int kHandleGenerationShift = kHandleSlotBits;
inline constexpr int kHandleTagShift = kHandleGenerationShift + kHandleGenerationBits;
inline constexpr int kHandleMarkerShift = kHandleTagShift + kHandleTagBits;
inline constexpr uint64_t kHandleMarker = 0b10;

inline constexpr uint32_t kHandleSlotCountMax = uint32_t{1} << kHandleSlotBits;
inline constexpr uint32_t kHandleGenerationMax = (uint32_t{1} << kHandleGenerationBits) - 1;
inline constexpr uint16_t kHandleTagMax = (uint16_t{1} << kHandleTagBits) - 1;

static_assert(kHandleSlotBits + kHandleGenerationBits + kHandleTagBits + kHandleMarkerBits == 64,
              "the layout fills exactly one 64-bit handle");
static_assert(kHandleMarkerShift == 62, "marker in the top two bits");
static_assert((kHandleMarker >> 1) == 1, "bit 63 set: never 0 and never canonical");

// Tags of the KMCL runtime's tables.
inline constexpr uint16_t kChannelHandleTag = 1;
inline constexpr uint16_t kPacketHandleTag = 2;
inline constexpr uint16_t kPacketCompletionHandleTag = 3;

// What a value is, to one table.
enum class HandleState {
  kLive,         // Issued by this table; the object is present.
  kNull,         // 0.
  kNotAHandle,   // Marker bits wrong: a pointer, garbage, or a caller buffer.
  kForeign,      // A well-formed handle of another table (tag differs).
  kNeverIssued,  // Right tag, but this slot/generation was never handed out.
  kStale,        // Issued by this table, and its object has been removed.
};

const char* HandleStateName(HandleState state);

// The layout above, as functions.
// REQUIRES: tag in [1, kHandleTagMax], generation <= kHandleGenerationMax,
// slot < kHandleSlotCountMax.
uint64_t EncodeHandle(uint16_t tag, uint32_t generation, uint32_t slot);
inline uint64_t HandleMarkerBits(uint64_t handle) { return handle >> kHandleMarkerShift; }
inline uint16_t HandleTagBits(uint64_t handle) {
  return static_cast<uint16_t>((handle >> kHandleTagShift) & kHandleTagMax);
}
inline uint32_t HandleGenerationBits(uint64_t handle) {
  return static_cast<uint32_t>((handle >> kHandleGenerationShift) & kHandleGenerationMax);
}
inline uint32_t HandleSlotBits(uint64_t handle) {
  return static_cast<uint32_t>(handle & (kHandleSlotCountMax - 1));
}
// EncodeHandle without the range checks, for HandleAllocator, whose tag was
// checked at construction, whose generations stop at kHandleGenerationMax
// (a slot is retired there) and whose slots stay below its maximum.
inline uint64_t EncodeHandleInRange(uint16_t tag, uint32_t generation, uint32_t slot) {
  return (kHandleMarker << kHandleMarkerShift) | (uint64_t{tag} << kHandleTagShift) |
         (uint64_t{generation} << kHandleGenerationShift) | uint64_t{slot};
}

// Conversions for the C thunks between a driver handle type (VMBCHANNEL,
// VMBPACKET, ...: pointers to distinct incomplete structs) and a table value.
// Nothing is ever dereferenced.
template <typename DriverHandle>
uint64_t HandleValueOf(DriverHandle handle) {
  static_assert(std::is_pointer_v<DriverHandle> && sizeof(DriverHandle) == sizeof(uint64_t));
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(handle));
}
template <typename DriverHandle>
DriverHandle DriverHandleOf(uint64_t value) {
  static_assert(std::is_pointer_v<DriverHandle> && sizeof(DriverHandle) == sizeof(uint64_t));
  return reinterpret_cast<DriverHandle>(static_cast<uintptr_t>(value));
}

// Aborts through VMBSIM_CHECK: a table's live slot held no object (a bug
// in this file). Cold and out of line, for HandleTable::Find.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void LiveSlotWithoutObject(const std::string& kind_name,
                                                                                   uint64_t handle);

// The slot bookkeeping behind HandleTable<T>, without the objects: which slot
// a handle names, generations, the free list, issue order. Usable on its own
// by code that keeps its objects elsewhere.
class HandleAllocator {
  static constexpr uint32_t kNoSlot = 0xFFFFFFFF;

 public:
  struct Issued {
    uint64_t handle = 0;
    uint32_t slot = 0;
  };

  // `kind_name` names the objects in error messages ("channel").
  // REQUIRES: tag in [1, kHandleTagMax]; slot_count_max in [1, kHandleSlotCountMax].
  HandleAllocator(uint16_t tag, absl::string_view kind_name,
                  uint32_t slot_count_max = kHandleSlotCountMax);
  HandleAllocator(const HandleAllocator&) = delete;
  HandleAllocator& operator=(const HandleAllocator&) = delete;

  // Issues a new handle on a free slot (the oldest freed one) or a new slot
  // into `*issued`. False when `slot_count_max` objects are live or retired;
  // FullError() is then the caller's error. Inline and without a Status:
  // HandleTable::Insert issues one per packet. REQUIRES: not inside
  // ForEachLive.
  bool TryAcquire(Issued* issued) {
    VMBSIM_CHECK_EQ(iteration_depth_, 0);
    uint32_t slot_index = 0;
    if (!free_slots_.empty()) {
      slot_index = free_slots_.front();
      free_slots_.pop_front();
    } else if (slots_.size() < slot_count_max_) {
      slot_index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      return false;
    }
    Slot& slot = slots_[slot_index];
    VMBSIM_CHECK(!slot.live);     // Free-list entries are free...
    VMBSIM_CHECK(!slot.retired);  // ...and never retired.
    slot.live = true;
    slot.prev = last_live_;
    slot.next = kNoSlot;
    if (last_live_ != kNoSlot) {
      slots_[last_live_].next = slot_index;
    } else {
      first_live_ = slot_index;
    }
    last_live_ = slot_index;
    ++live_count_;
    issued->handle = EncodeHandleInRange(tag_, slot.generation, slot_index);
    issued->slot = slot_index;
    return true;
  }
  // kResourceExhausted (STATUS_INSUFFICIENT_RESOURCES), naming the table's
  // counts: the error of a TryAcquire that found the table full.
  absl::Status FullError() const;

  // The slot of a live handle; otherwise InvalidHandleError (canonical code
  // kNotFound, NTSTATUS STATUS_INVALID_HANDLE) whose message names the kind,
  // the value and why (null, not a handle, foreign, never issued, stale).
  // Callers add the KMCL function and the sim time.
  absl::StatusOr<uint32_t> Resolve(uint64_t handle) const;

  // Ends a live handle: returns its slot and bumps the slot's generation (or
  // retires the slot at kHandleGenerationMax). Errors as Resolve, so a second
  // Release of the same handle is kStale. REQUIRES: not inside ForEachLive.
  absl::StatusOr<uint32_t> Release(uint64_t handle) {
    uint32_t slot_index = 0;
    if (ABSL_PREDICT_FALSE(!LiveSlot(handle, &slot_index))) return Resolve(handle).status();
    VMBSIM_CHECK_EQ(iteration_depth_, 0);
    Slot& slot = slots_[slot_index];
    if (slot.prev != kNoSlot) {
      slots_[slot.prev].next = slot.next;
    } else {
      first_live_ = slot.next;
    }
    if (slot.next != kNoSlot) {
      slots_[slot.next].prev = slot.prev;
    } else {
      last_live_ = slot.prev;
    }
    slot.prev = kNoSlot;
    slot.next = kNoSlot;
    --live_count_;
    slot.live = false;
    if (ABSL_PREDICT_FALSE(slot.generation == kHandleGenerationMax)) {
      RetireSlot(slot);  // Wrapping would re-issue old values.
    } else {
      ++slot.generation;
      free_slots_.push_back(slot_index);
    }
    return slot_index;
  }

  HandleState Classify(uint64_t handle) const;

  // Sets *slot and returns true when `handle` is live (Classify() would say
  // kLive); otherwise returns false and leaves *slot alone. Inline and
  // without a Status, for the lookups drivers make per packet
  // (VmbChannelGetPointer, VmbPacketGetPointer); callers that need the
  // reason for a miss ask Resolve().
  bool LiveSlot(uint64_t handle, uint32_t* slot) const {
    // The marker test also rejects 0 (kNull).
    if (HandleMarkerBits(handle) != kHandleMarker || HandleTagBits(handle) != tag_) return false;
    const uint32_t slot_index = HandleSlotBits(handle);
    if (slot_index >= slots_.size()) return false;
    const Slot& s = slots_[slot_index];
    if (!s.live || s.generation != HandleGenerationBits(handle)) return false;
    *slot = slot_index;
    return true;
  }

  // Calls fn(handle, slot) for every live handle, in issue order.
  // REQUIRES: fn does not TryAcquire or Release (checked); to remove while
  // walking, iterate over HandlesInIssueOrder() instead.
  void ForEachLive(absl::FunctionRef<void(uint64_t handle, uint32_t slot)> fn) const;
  std::vector<uint64_t> HandlesInIssueOrder() const;

  size_t size() const { return live_count_; }
  uint32_t slot_count() const { return static_cast<uint32_t>(slots_.size()); }
  uint32_t retired_slot_count() const { return retired_slot_count_; }
  uint16_t tag() const { return tag_; }
  const std::string& kind_name() const { return kind_name_; }

  // Sets the generation the next handle on free slot `slot` gets, to test
  // wrap-around without 2^24 reuses. REQUIRES: `slot` exists and is free.
  void SetSlotGenerationForTest(uint32_t slot, uint32_t generation);

 private:
  struct Slot {
    uint32_t generation = 0;   // Of the live handle, or the next one to issue.
    bool live = false;
    bool retired = false;      // Generation exhausted; never reused.
    // While live: neighbours in the issue-order list (kNoSlot at the ends).
    uint32_t prev = kNoSlot;
    uint32_t next = kNoSlot;
  };

  void RetireSlot(Slot& slot);

  std::string DescribeInvalid(uint64_t handle, HandleState state) const;

  const uint16_t tag_;
  const std::string kind_name_;
  const uint32_t slot_count_max_;
  std::vector<Slot> slots_;
  sim::RingDeque<uint32_t> free_slots_;         // Oldest freed first.
  // Live slots in issue order: an intrusive list (no allocation per handle).
  uint32_t first_live_ = kNoSlot;
  uint32_t last_live_ = kNoSlot;
  size_t live_count_ = 0;
  uint32_t retired_slot_count_ = 0;
  mutable int iteration_depth_ = 0;
};

// Owns objects of type T and names each with a handle.
template <typename T>
class HandleTable {
 public:
  // See HandleAllocator's constructor.
  HandleTable(uint16_t tag, absl::string_view kind_name,
              uint32_t slot_count_max = kHandleSlotCountMax)
      : allocator_(tag, kind_name, slot_count_max) {}
  HandleTable(const HandleTable&) = delete;
  HandleTable& operator=(const HandleTable&) = delete;

  // Takes ownership of `object` and returns its new handle (never 0).
  // kResourceExhausted when the table is full (see HandleAllocator::TryAcquire);
  // `object` is then destroyed. REQUIRES: object != nullptr; not inside ForEach.
  absl::StatusOr<uint64_t> Insert(std::unique_ptr<T> object) {
    VMBSIM_CHECK(object != nullptr);
    HandleAllocator::Issued issued;
    if (ABSL_PREDICT_FALSE(!allocator_.TryAcquire(&issued))) return allocator_.FullError();
    if (issued.slot == objects_.size()) objects_.emplace_back();
    VMBSIM_CHECK_LT(issued.slot, objects_.size());
    VMBSIM_CHECK(objects_[issued.slot] == nullptr);  // A free slot holds nothing.
    objects_[issued.slot] = std::move(object);
    return issued.handle;
  }

  // The live object `handle` names, or InvalidHandleError (see
  // HandleAllocator::Resolve). The pointer stays valid until Remove.
  absl::StatusOr<T*> Lookup(uint64_t handle) const {
    if (T* live = Find(handle)) return live;
    // Not live: Resolve() says why.
    absl::StatusOr<uint32_t> slot = allocator_.Resolve(handle);
    VMBSIM_CHECK(!slot.ok());
    return slot.status();
  }

  // Removes the object `handle` names and gives it back; the handle (and
  // every copy the driver kept) is stale from now on. A second Remove is
  // InvalidHandleError. REQUIRES: not inside ForEach.
  absl::StatusOr<std::unique_ptr<T>> Remove(uint64_t handle) {
    absl::StatusOr<uint32_t> slot = allocator_.Release(handle);
    if (!slot.ok()) return slot.status();
    std::unique_ptr<T> object = std::move(objects_[*slot]);
    VMBSIM_CHECK(object != nullptr);
    return object;
  }

  HandleState Classify(uint64_t handle) const { return allocator_.Classify(handle); }

  // The live object `handle` names, or null (no reason given; see Lookup).
  // Inline: see HandleAllocator::LiveSlot.
  T* Find(uint64_t handle) const {
    uint32_t slot = 0;
    if (!allocator_.LiveSlot(handle, &slot)) return nullptr;
    T* object = objects_[slot].get();
    // Live slots hold their object (as in Lookup); the failure path is out
    // of line so that this one builds no message.
    if (ABSL_PREDICT_FALSE(object == nullptr)) LiveSlotWithoutObject(allocator_.kind_name(), handle);
    return object;
  }

  // Calls fn(handle, T&) for every live object in issue order.
  // REQUIRES: fn does not Insert or Remove (checked).
  template <typename F>
  void ForEach(F&& fn) const {
    allocator_.ForEachLive([&](uint64_t handle, uint32_t slot) { fn(handle, *objects_[slot]); });
  }
  std::vector<uint64_t> HandlesInIssueOrder() const { return allocator_.HandlesInIssueOrder(); }

  size_t size() const { return allocator_.size(); }
  bool empty() const { return allocator_.size() == 0; }
  const HandleAllocator& allocator() const { return allocator_; }
  void SetSlotGenerationForTest(uint32_t slot, uint32_t generation) {
    allocator_.SetSlotGenerationForTest(slot, generation);
  }

 private:
  HandleAllocator allocator_;
  std::vector<std::unique_ptr<T>> objects_;  // By slot; null when free.
};

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_HANDLE_TABLE_H_
