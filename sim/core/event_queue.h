// event_queue.h
//
// The pending-event set of one simulation: callables ordered by
// (due time, key), popped earliest first.
//
// Order. In the default FIFO mode the key is the insertion sequence, so
// events due at the same time run in the order they were scheduled (ns-3's
// EventKey, FoundationDB's FIFO counter). In tie-break exploration mode the
// key of an event is drawn from a PRNG stream forked from the exploration
// seed, so the order of same-time events is a pure function of that seed and
// of the schedule calls, and every permutation of a set of same-time events
// is reachable. One constraint keeps time causal in both modes: an event
// scheduled for the instant that is executing now always sorts after the
// event that is executing (its key is drawn above the current key), because
// the current event has already run.
//
// Representation, chosen for the hold model that dominates simulations
// (pop the earliest, schedule one or two later):
//   * A radix heap over 128-bit keys {time_ns:64, key:32, slot:32}. A
//     discrete-event queue is monotone (nothing is scheduled before the event
//     being run), which is exactly what a radix heap needs: an entry lives in
//     the bucket named by the highest bit in which its key differs from the
//     last popped key. Push is O(1) (one count-leading-zeros and an append);
//     pop takes the lowest non-empty bucket and, when it holds more than one
//     entry, scans it for the minimum and redistributes the rest into lower
//     buckets. Every entry moves down at most 128 times in its life and in
//     practice a handful, with sequential memory access and no data-dependent
//     branches in the common path: amortised O(log C) per event, C the key
//     range, and markedly faster than a comparison heap at every size.
//   * Buckets are linked lists of 4 KiB blocks of 16-byte entries drawn from
//     one free list, so memory follows the number of pending events (about 16
//     bytes each) rather than the peak size of each bucket.
//   * The callable lives in a pooled slot: 24 bytes of inline storage plus a
//     single operations pointer and a generation, 40 bytes in all. Slots sit
//     in fixed-size chunks that never move (an executing callable may
//     schedule more events) and are recycled through a free list, so the
//     steady state allocates nothing per event. A callable larger than the
//     inline storage is a compile-time error: capture a pointer to larger
//     state instead.
//   * Cancel is O(1) and lazy: it destroys the callable at once and marks the
//     slot; the entry is discarded when it reaches the front. When dead
//     entries outnumber live ones (and there are more than a few thousand)
//     the buckets are rebuilt without them, so long-lived cancelled timers
//     cannot grow memory without bound.
//   * Keys are 32 bits. When the key space is used up the pending keys are
//     renumbered in order (O(n log n), once every 2^32 schedules at most),
//     which preserves the order exactly.
//
// Monotonicity contract: a pushed event must sort after the last popped one
// (the Simulator guarantees it: time >= Now(), and keys of same-time events
// grow). PopNext() may discard cancelled entries due no later than `limit`
// before it returns kBeyondLimit, so the caller must not schedule before
// `limit` afterwards (the Simulator moves its clock to `limit`).
//
// Not thread-safe; one simulation runs on one thread.

#ifndef VMBSIM_SIM_CORE_EVENT_QUEUE_H_
#define VMBSIM_SIM_CORE_EVENT_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "sim/check.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"

namespace vmbsim::sim {

// Names one scheduled event. Default-constructed ids name nothing. An id goes
// stale when its event runs or is cancelled; using a stale id is harmless.
struct EventId {
  uint32_t slot = 0;
  uint32_t generation = 0;  // 0 never names a live event.

  bool valid() const { return generation != 0; }
  friend bool operator==(const EventId&, const EventId&) = default;
};

class EventQueue {
 public:
  static constexpr size_t kInlineBytes = 24;
  static constexpr size_t kMaxSlots = size_t{1} << 32;

  EventQueue();
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Switches to seeded tie-break exploration: from now on keys are drawn
  // from `prng`. REQUIRES: the queue is empty.
  void EnableTieBreak(Prng prng);
  bool tie_break_enabled() const { return tie_break_.has_value(); }

  // Adds `fn` (a callable taking no arguments) to run at `when`.
  // REQUIRES: `when` >= the time of the last popped event (no scheduling into
  // the past; the Simulator checks this with a better message).
  template <typename F>
  EventId Push(SimTime when, F&& fn);

  // Cancels a pending event: destroys its callable now. Returns false if `id`
  // is stale (already ran, already cancelled, or never valid).
  bool Cancel(EventId id);

  // Whether `id` names an event that is still pending.
  bool IsPending(EventId id) const;

  enum class PopResult { kPopped, kEmpty, kBeyondLimit };

  // Pops the earliest live event if it is due no later than `limit`,
  // discarding cancelled entries on the way. On kPopped `*when` is its due
  // time and the event is ready for RunPopped(), which must be called before
  // the next Pop. kEmpty: nothing is pending. kBeyondLimit: the earliest
  // event is due after `limit` and stays queued.
  PopResult PopNext(SimTime limit, SimTime* when);
  // Runs and destroys the callable of the event returned by PopNext().
  void RunPopped();

  // Due time of the earliest live event, if any (discards dead entries at the
  // top, so it is not const).
  std::optional<SimTime> PeekTime();

  size_t pending_count() const { return live_count_; }
  bool empty() const { return live_count_ == 0; }

  // Bytes held by the bucket blocks and the slot pool (for memory accounting).
  size_t allocated_bytes() const;

  // Moves the FIFO insertion sequence forward so that tests reach the key
  // renumbering without 2^32 schedules.
  void SetNextKeyForTest(uint64_t next_key) { next_key_ = next_key; }

 private:
  // The operations a slot needs from its callable: invoke-then-destroy, or
  // destroy only (cancel, queue destruction).
  using SlotOp = void (*)(void* storage, bool invoke);

  struct Slot {
    SlotOp op;                // Null: not pending (free, cancelled, or running).
    uint32_t generation;      // Bumped each time the slot is recycled.
    uint32_t next_free;       // Free-list link while free.
    alignas(8) unsigned char storage[kInlineBytes];
  };
  static_assert(sizeof(Slot) == 40, "slot layout: op + generation + link + storage");

  struct Entry {
    uint64_t time_ns;
    uint64_t key_slot;  // Key in the high 32 bits, slot index in the low.
  };
  static_assert(sizeof(Entry) == 16);

  static constexpr uint32_t kChunkShift = 12;
  static constexpr uint32_t kChunkSlots = uint32_t{1} << kChunkShift;
  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  static constexpr int kBucketCount = 129;  // 0: equal to the last key; b: bit b-1 differs.
  static constexpr uint32_t kBlockEntries = 255;

  // A block of a bucket's entries; blocks of one bucket form a list whose
  // head is the one being filled.
  struct Block {
    Entry entries[kBlockEntries];
    Block* next;
    uint32_t count;
  };
  static_assert(sizeof(Block) == 4096);

  struct Bucket {
    Block* head = nullptr;
    size_t size = 0;
  };

  template <typename F>
  static void SlotOpFor(void* storage, bool invoke) {
    F* fn = std::launder(static_cast<F*>(storage));
    if (invoke) (*fn)();
    fn->~F();
  }

  Slot& SlotAt(uint32_t index) {
    return chunks_[index >> kChunkShift][index & (kChunkSlots - 1)];
  }
  const Slot& SlotAt(uint32_t index) const {
    return chunks_[index >> kChunkShift][index & (kChunkSlots - 1)];
  }

  uint32_t AllocateSlot();
  void ReleaseSlot(uint32_t index);
  uint32_t NextKey(uint64_t time_ns);
  int BucketIndexOf(const Entry& entry) const;
  void Insert(Entry entry);
  void Append(int bucket_index, Entry entry);
  int LowestNonEmptyBucket() const;
  // Index within the bucket's iteration order of its minimum entry.
  const Entry* MinimumOf(const Bucket& bucket) const;
  // Removes `*minimum` from bucket `bucket_index`, makes it the reference
  // key, and moves the bucket's other entries to lower buckets.
  Entry TakeMinimum(int bucket_index, const Entry* minimum);
  void ReleaseBlocks(Bucket& bucket);
  std::vector<Entry> TakeAllEntries();
  void DropDeadEntries();
  void RenumberKeys();

  Bucket buckets_[kBucketCount];
  uint64_t non_empty_[3] = {0, 0, 0};  // Bit b: buckets_[b] holds entries.
  size_t entry_count_ = 0;             // Live and dead entries in buckets.
  // The key of the last popped entry (live or cancelled): every bucket index
  // is relative to it, and every entry sorts after it.
  uint64_t ref_time_ns_ = 0;
  uint64_t ref_key_slot_ = 0;
  std::vector<std::unique_ptr<Block>> blocks_;
  Block* free_blocks_ = nullptr;

  std::vector<std::unique_ptr<Slot[]>> chunks_;
  uint32_t slot_count_ = 0;
  uint32_t free_head_ = kNoSlot;

  size_t live_count_ = 0;
  size_t dead_count_ = 0;  // Cancelled entries still in the buckets.

  uint64_t next_key_ = 1;         // FIFO mode: the insertion sequence.
  uint64_t last_time_ns_ = 0;     // Due time of the last popped entry.
  uint32_t last_key_ = 0;         // Key of the last popped entry.
  // The last popped live event: the reference to fall back to when the
  // queue empties after discarding cancelled entries.
  uint64_t live_time_ns_ = 0;
  uint64_t live_key_slot_ = 0;
  uint32_t popped_slot_ = kNoSlot;
  std::optional<Prng> tie_break_;
};

// ---------------------------------------------------------------------------
// Implementation of the template.

template <typename F>
EventId EventQueue::Push(SimTime when, F&& fn) {
  using Fn = std::decay_t<F>;
  static_assert(sizeof(Fn) <= kInlineBytes,
                "event callable too large: capture at most 24 bytes (e.g. a "
                "pointer to the state the event needs)");
  static_assert(alignof(Fn) <= 8, "event callable over-aligned");
  static_assert(std::is_invocable_v<Fn&>, "event callable must take no arguments");
  const uint64_t time_ns = static_cast<uint64_t>(when.nanoseconds());
  VMBSIM_CHECK_GE(when.nanoseconds(), 0);
  VMBSIM_CHECK_GE(time_ns, last_time_ns_);  // Never into the past.

  const uint32_t index = AllocateSlot();
  Slot& slot = SlotAt(index);
  ::new (static_cast<void*>(slot.storage)) Fn(std::forward<F>(fn));
  slot.op = &SlotOpFor<Fn>;
  const uint32_t key = NextKey(time_ns);
  Insert(Entry{time_ns, (uint64_t{key} << 32) | index});
  ++live_count_;
  return EventId{index, slot.generation};
}

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_EVENT_QUEUE_H_
