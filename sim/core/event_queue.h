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
//   * A radix heap over the 64-bit due time, in base 64. A discrete-event
//     queue is monotone (nothing is scheduled before the event being run),
//     which is what a radix heap needs: an entry due later than the reference
//     time lives in the bucket named by the highest 6-bit digit in which its
//     time differs from the reference, and by its own value of that digit
//     (11 levels of 64 buckets, one bitmap word per level). Push is O(1): an
//     exclusive-or, a count-leading-zeros and an append. An entry moves down
//     at most once per level, with sequential memory access; in practice it
//     is appended once and moved once or twice.
//   * Only the time is in the radix key. Entries due at the same time keep
//     their key order inside every bucket without comparing keys: the
//     buckets are FIFO lists, an entry always sits in the bucket its time
//     names relative to the current reference (so equal times share a
//     bucket), only the lowest non-empty bucket is ever redistributed (into
//     empty lower buckets, in order), and in FIFO mode keys grow with every
//     push. In tie-break mode the keys are random, so runs of equal time are
//     sorted by key when they reach the front.
//   * The front batch holds the smallest pending entries, sorted ascending
//     and popped from a head index; every entry due no later than the
//     reference time is there, and a new one joins it in order, searching
//     from the tail: an event scheduled for the latest instant in the front
//     (typically "now", with zero costs) is an append, however many events
//     of that instant are pending. When the
//     front runs dry the lowest non-empty bucket becomes the next front:
//       - a level-0 bucket holds one due time and is copied as it is;
//       - a level-1 bucket of up to kCountingBatchMax entries differs only in
//         the low 6 bits of time, so one stable counting-sort pass orders it;
//       - any other bucket of up to kSortBatchMax entries is sorted;
//       - a larger bucket is redistributed around its minimum time, whose
//         entries form the front.
//     In the hold model at 10^3 pending events this makes each event one
//     append, one counting-sort pass and one pop.
//   * Buckets are linked lists of 256-byte blocks of 16-byte entries drawn
//     from one free list, so memory follows the number of pending events
//     (about 17 bytes each) rather than the peak size of each bucket.
//   * The callable lives in a pooled slot: 24 bytes of inline storage and one
//     operations pointer, 32 bytes, plus a 4-byte generation kept beside it
//     for stale-id detection. Slots are recycled through a free list, so the
//     steady state allocates nothing per event. Slots sit in fixed chunks
//     that never move, so a callable runs in place while it schedules more
//     events; its slot is recycled when it returns. A callable larger than
//     the inline storage is a compile-time error: capture a pointer to
//     larger state instead.
//   * The per-event path is straight-line code: Push() inlines the slot
//     allocation, the key and the bucket append into the caller (only rare
//     cases - a new block, a new slot chunk, key exhaustion, tie-break keys,
//     an entry for the front - are calls), and RunNext() pops, sets the
//     clock and calls the event's operation with its slot, which runs the
//     callable in place and recycles the slot. Under callgrind the hold
//     model at 10^3 pending events costs about 250 instructions per event,
//     of which the refill of the front (counting sort, redistribution) is
//     about 50 (event_queue_benchmark.cc, event_queue_instructions.sh).
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

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
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
  ABSL_ATTRIBUTE_ALWAYS_INLINE EventId Push(SimTime when, F&& fn);

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

  // PopNext() and RunPopped() in one: if the earliest live event is due no
  // later than `limit`, sets `*now_ns` to its due time, then runs it, and
  // returns kPopped. Otherwise as PopNext(). This is the run loop's path:
  // one look-up of the event's slot, no popped-event state in between.
  // REQUIRES: its due time is >= `*now_ns` (the clock never goes back; this
  // is checked). REQUIRES: no event popped by PopNext() awaits RunPopped().
  ABSL_ATTRIBUTE_ALWAYS_INLINE PopResult RunNext(SimTime limit, int64_t* now_ns);

  // Due time of the earliest live event, if any (discards dead entries at the
  // top, so it is not const).
  std::optional<SimTime> PeekTime();

  size_t pending_count() const { return live_count_; }
  bool empty() const { return live_count_ == 0; }

  // Bytes held by the bucket blocks, the front batch and the slot pool (for
  // memory accounting).
  size_t allocated_bytes() const;

  // Moves the FIFO insertion sequence forward so that tests reach the key
  // renumbering without 2^32 schedules.
  void SetNextKeyForTest(uint64_t next_key) { next_key_ = next_key; }

 private:
  // The operations a slot needs from its callable: invoke-then-destroy, or
  // destroy only (cancel, queue destruction).
  // Runs (`invoke`) or only destroys the callable in `slot`, whose index is
  // `index`. Running calls it in place and recycles the slot when it returns.
  struct Slot;
  using SlotOp = void (*)(EventQueue* queue, Slot* slot, uint32_t index, bool invoke);

  struct Slot {
    SlotOp op;  // Null: not pending (free, cancelled, or running).
    // The callable; while the slot is free its first 4 bytes link the free list.
    alignas(8) unsigned char storage[kInlineBytes];
  };
  static_assert(sizeof(Slot) == 32, "slot layout: op + storage");

  struct Entry {
    // Left uninitialised, so that sizing the front for a batch does not
    // clear what the batch overwrites.
    Entry() {}  // NOLINT: not `= default`, which would zero-fill on resize.
    Entry(uint64_t time, uint64_t key_and_slot) : time_ns(time), key_slot(key_and_slot) {}
    uint64_t time_ns;
    uint64_t key_slot;  // Key in the high 32 bits, slot index in the low.
  };
  static_assert(sizeof(Entry) == 16);

  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  static constexpr uint64_t kKeyMax = 0xFFFFFFFFu;
  // Tie-break mode: keys of events due later than now are drawn below this
  // bound, which leaves the upper half of the key space for events scheduled
  // at the executing instant (they must sort after the running event).
  static constexpr uint64_t kTieBreakSpan = uint64_t{1} << 31;

  using Key128 = unsigned __int128;
  static Key128 KeyOf(const Entry& entry) { return (Key128{entry.time_ns} << 64) | entry.key_slot; }
  static Key128 KeyOf(uint64_t time_ns, uint64_t key_slot) {
    return (Key128{time_ns} << 64) | key_slot;
  }
  // Radix 64 over the due time: 11 digits of 6 bits (the last has 4). An
  // entry's bucket is (level, digit): the level is the highest digit position
  // in which its time differs from the reference time, the digit its own
  // value there (always above the reference's digit). Lower bucket indices
  // hold earlier times. One bitmap word per level.
  static constexpr int kDigitBits = 6;
  static constexpr int kDigitValues = 1 << kDigitBits;
  static_assert(kDigitValues == 64, "one bitmap word per level");
  static constexpr int kLevelCount = (64 + kDigitBits - 1) / kDigitBits;
  static constexpr int kBucketCount = kLevelCount * kDigitValues;
  static constexpr uint32_t kBlockEntries = 15;
  // Largest level-1 bucket that is counting-sorted into the front, and the
  // largest other bucket that is comparison-sorted into it; larger buckets
  // are redistributed. A bigger front costs more when new entries land in
  // its range (they are inserted in order), so the comparison sort, which
  // costs more per entry, gets the smaller bound.
  static constexpr uint32_t kCountingBatchMax = 256;
  static constexpr uint32_t kSortBatchMax = 32;
  // The front drops its popped prefix once it is at least this long and
  // at least half the vector.
  static constexpr size_t kFrontCompactMin = 64;

  // A block of a bucket's entries; the blocks of a bucket form a list in
  // insertion order whose last block is the one being filled.
  struct Block {
    Entry entries[kBlockEntries];
    Block* next;
    uint32_t count;
  };
  static_assert(sizeof(Block) == 256);  // Small: at a few thousand pending events the busy blocks stay in L1.

  // Empty when `last` is null. No entry count: Append() would pay for it on
  // every push, and only a refill needs it (BucketSizeUpTo()).
  struct Bucket {
    Block* first = nullptr;
    Block* last = nullptr;
  };

  template <typename F>
  static void SlotOpFor(EventQueue* queue, Slot* slot, uint32_t index, bool invoke) {
    F* stored = std::launder(reinterpret_cast<F*>(slot->storage));
    if (invoke) {
      // In place: chunks never move, and the slot is not on the free list
      // while the callable runs.
      (*stored)();
      stored->~F();
      queue->ReleaseSlot(*slot, index);
      return;
    }
    stored->~F();
  }

  // What Reserve() hands back to Push(): where to construct the callable,
  // and the new event's id.
  struct Reservation {
    void* storage;
    EventId id;
  };
  // Everything Push() does that does not depend on the callable's type,
  // inlined with its helpers (their rare paths are out of line): takes a
  // slot, marks it pending with `op`, draws the key and queues the entry.
  // The caller constructs the callable in `storage` before anything else
  // touches the queue.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Reservation Reserve(int64_t time_ns, SlotOp op);

  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t AllocateSlot();
  // A slot when the free list is empty: the next never-used one, in a new
  // chunk if need be.
  uint32_t AllocateNewSlot();
  void ReleaseSlot(uint32_t index) { ReleaseSlot(SlotAt(index), index); }
  void ReleaseSlot(Slot& slot, uint32_t index);
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t NextKey(uint64_t time_ns);
  uint32_t NextKeySlow(uint64_t time_ns);
  PopResult PopNextSlow(SimTime limit, SimTime* when);
  uint32_t NextTieBreakKey(uint64_t time_ns);
  // Adds a block to the end of bucket `bucket_index` and returns it; marks
  // the bucket non-empty if it was empty.
  Block* NewLastBlock(int bucket_index);
  // The number of entries in `bucket`, or `cap + 1` if it holds more than
  // `cap` (counting stops there).
  static uint32_t BucketSizeUpTo(const Bucket& bucket, uint32_t cap);
  ABSL_ATTRIBUTE_ALWAYS_INLINE int BucketIndexOf(uint64_t time_ns) const;
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Insert(Entry entry);
  void InsertIntoFront(Entry entry);
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Append(int bucket_index, Entry entry);
  int LowestNonEmptyBucket() const;
  // Makes the lowest non-empty bucket, `bucket_index`, the new front batch
  // (sorted, or redistributed around its minimum time). REQUIRES: the front
  // is empty.
  void RefillFront(int bucket_index);
  // Counting sort of a level-1 bucket into the front.
  // REQUIRES: `size` is the number of entries in `bucket`.
  void CountingSortIntoFront(const Bucket& bucket, uint32_t size);
  // Redistributes a large bucket around its minimum time: the entries due
  // then form the front, the others move to lower buckets.
  void RedistributeAroundMinimum(Bucket& bucket, int bucket_index);
  // Tie-break mode: sorts each run of equal due times in the front by key.
  void SortFrontTiesByKey();
  void ReleaseBlocks(Bucket& bucket);
  // Empties every bucket and the front, and returns their entries in
  // (time, key) order; the reference falls back to the last popped time.
  std::vector<Entry> TakeAllEntriesSorted();
  void DropDeadEntries();
  void RenumberKeys();

  // The front batch: the smallest pending entries, front_[front_head_..],
  // sorted ascending (the entries before the head have been popped). Every
  // entry due no later than the reference time is here and every bucket
  // entry is due after it.
  std::vector<Entry> front_;
  size_t front_head_ = 0;
  bool front_empty() const { return front_head_ == front_.size(); }
  Bucket buckets_[kBucketCount];
  uint64_t non_empty_[kLevelCount] = {};  // Bit d of word l: bucket (l, d) holds entries.
  uint32_t non_empty_levels_ = 0;         // Bit l: non_empty_[l] != 0.
  size_t entry_count_ = 0;                // Live and dead entries in buckets and front.
  // The radix reference time: bucket indices are relative to it. It is the
  // largest time in the front, or the last popped time when the front is
  // empty.
  uint64_t ref_time_ns_ = 0;
  std::vector<std::unique_ptr<Block>> blocks_;
  Block* free_blocks_ = nullptr;

  // Slots live in fixed chunks: growing never copies (a doubling vector would
  // briefly hold twice the slots, which is what peak memory would measure).
  static constexpr uint32_t kChunkShift = 10;  // 36 KiB chunks: small runs hold little.
  static constexpr uint32_t kChunkSlots = uint32_t{1} << kChunkShift;
  struct SlotChunk {
    Slot slots[kChunkSlots];
    uint32_t generations[kChunkSlots];  // Bumped each time a slot is recycled.
  };
  Slot& SlotAt(uint32_t index) { return chunks_[index >> kChunkShift]->slots[index & (kChunkSlots - 1)]; }
  const Slot& SlotAt(uint32_t index) const {
    return chunks_[index >> kChunkShift]->slots[index & (kChunkSlots - 1)];
  }
  uint32_t& GenerationAt(uint32_t index) {
    return chunks_[index >> kChunkShift]->generations[index & (kChunkSlots - 1)];
  }
  uint32_t GenerationAt(uint32_t index) const {
    return chunks_[index >> kChunkShift]->generations[index & (kChunkSlots - 1)];
  }
  std::vector<std::unique_ptr<SlotChunk>> chunks_;
  uint32_t slot_count_ = 0;
  uint32_t free_head_ = kNoSlot;

  size_t live_count_ = 0;
  size_t dead_count_ = 0;  // Cancelled entries still in the buckets.

  uint64_t next_key_ = 1;         // FIFO mode: the insertion sequence.
  // The largest key NextKey() may hand out without its slow path: kKeyMax
  // in FIFO mode, 0 in tie-break mode, so that one comparison sends both
  // tie-break keys and key exhaustion to NextKeySlow().
  uint64_t fast_key_max_ = kKeyMax;
  uint64_t last_time_ns_ = 0;     // The last popped entry (live or cancelled).
  uint64_t last_key_slot_ = 0;
  // The last popped live event: the reference to fall back to when the
  // queue empties after discarding cancelled entries.
  uint64_t live_time_ns_ = 0;
  uint64_t live_key_slot_ = 0;
  uint32_t popped_slot_ = kNoSlot;
  std::optional<Prng> tie_break_;
};

// ---------------------------------------------------------------------------
// Implementation: the per-event fast paths, inline so that Push() compiles
// into straight-line code.

inline uint32_t EventQueue::AllocateSlot() {
  if (ABSL_PREDICT_FALSE(free_head_ == kNoSlot)) return AllocateNewSlot();
  const uint32_t index = free_head_;
  std::memcpy(&free_head_, SlotAt(index).storage, sizeof(free_head_));
  return index;
}

inline EventQueue::Reservation EventQueue::Reserve(int64_t time_ns, SlotOp op) {
  VMBSIM_CHECK_GE(time_ns, 0);
  // Insert() checks that the entry sorts after the last popped one.
  const uint64_t time = static_cast<uint64_t>(time_ns);
  const uint32_t index = AllocateSlot();
  SlotChunk& chunk = *chunks_[index >> kChunkShift];
  const uint32_t offset = index & (kChunkSlots - 1);
  chunk.slots[offset].op = op;
  const uint32_t key = NextKey(time);
  Insert(Entry{time, (uint64_t{key} << 32) | index});
  ++live_count_;
  return Reservation{chunk.slots[offset].storage, EventId{index, chunk.generations[offset]}};
}

inline void EventQueue::ReleaseSlot(Slot& slot, uint32_t index) {
  slot.op = nullptr;
  // Generation 0 never names a live event, so skip it on wrap-around.
  uint32_t& generation = GenerationAt(index);
  generation = generation == 0xFFFFFFFFu ? 1 : generation + 1;
  std::memcpy(slot.storage, &free_head_, sizeof(free_head_));
  free_head_ = index;
}

inline uint32_t EventQueue::NextKey(uint64_t time_ns) {
  if (ABSL_PREDICT_FALSE(next_key_ > fast_key_max_)) return NextKeySlow(time_ns);
  return static_cast<uint32_t>(next_key_++);
}

inline int EventQueue::BucketIndexOf(uint64_t time_ns) const {
  // Highest differing bit of the times, then its digit's level and the
  // entry's value of that digit.
  const uint64_t diff = time_ns ^ ref_time_ns_;
  VMBSIM_CHECK_NE(diff, 0u);  // Times equal to the reference go to the front.
  const int level = (63 - __builtin_clzll(diff)) / kDigitBits;
  const int digit = static_cast<int>((time_ns >> (level * kDigitBits)) & (kDigitValues - 1));
  return level * kDigitValues + digit;
}

inline void EventQueue::Append(int bucket_index, Entry entry) {
  Bucket& bucket = buckets_[bucket_index];
  Block* last = bucket.last;
  if (ABSL_PREDICT_FALSE(last == nullptr || last->count == kBlockEntries)) last = NewLastBlock(bucket_index);
  last->entries[last->count++] = entry;
}

inline void EventQueue::Insert(Entry entry) {
  // Monotonicity: every entry sorts after the last popped one.
  VMBSIM_CHECK(KeyOf(entry) > KeyOf(last_time_ns_, last_key_slot_));
  ++entry_count_;
  if (entry.time_ns <= ref_time_ns_) {
    InsertIntoFront(entry);
    return;
  }
  Append(BucketIndexOf(entry.time_ns), entry);
}

inline EventQueue::PopResult EventQueue::PopNext(SimTime limit, SimTime* when) {
  // Fast path: the next entry is in the front batch, live and due.
  if (ABSL_PREDICT_TRUE(!front_empty() && popped_slot_ == kNoSlot && limit.nanoseconds() >= 0)) {
    const Entry top = front_[front_head_];
    const uint32_t index = static_cast<uint32_t>(top.key_slot);
    if (top.time_ns <= static_cast<uint64_t>(limit.nanoseconds()) && SlotAt(index).op != nullptr) {
      ++front_head_;
      --entry_count_;
      VMBSIM_CHECK_GE(top.time_ns, last_time_ns_);  // Paired with the check in Insert.
      last_time_ns_ = live_time_ns_ = top.time_ns;
      last_key_slot_ = live_key_slot_ = top.key_slot;
      popped_slot_ = index;
      --live_count_;
      if (!front_empty()) __builtin_prefetch(&SlotAt(static_cast<uint32_t>(front_[front_head_].key_slot)));
      *when = SimTime::FromNanoseconds(static_cast<int64_t>(top.time_ns));
      return PopResult::kPopped;
    }
  }
  return PopNextSlow(limit, when);
}

inline EventQueue::PopResult EventQueue::RunNext(SimTime limit, int64_t* now_ns) {
  if (ABSL_PREDICT_TRUE(!front_empty() && popped_slot_ == kNoSlot && limit.nanoseconds() >= 0)) {
    const Entry top = front_[front_head_];
    const uint32_t index = static_cast<uint32_t>(top.key_slot);
    Slot& slot = SlotAt(index);
    const SlotOp op = slot.op;
    if (top.time_ns <= static_cast<uint64_t>(limit.nanoseconds()) && op != nullptr) {
      ++front_head_;
      --entry_count_;
      --live_count_;
      VMBSIM_CHECK_GE(top.time_ns, last_time_ns_);  // Paired with the check in Insert.
      VMBSIM_CHECK_GE(static_cast<int64_t>(top.time_ns), *now_ns);
      last_time_ns_ = live_time_ns_ = top.time_ns;
      last_key_slot_ = live_key_slot_ = top.key_slot;
      if (!front_empty()) __builtin_prefetch(&SlotAt(static_cast<uint32_t>(front_[front_head_].key_slot)));
      *now_ns = static_cast<int64_t>(top.time_ns);
      // Not pending while it runs: the event's id is stale and it cannot
      // cancel itself. The operation recycles the slot when it returns.
      slot.op = nullptr;
      op(this, &slot, index, /*invoke=*/true);
      return PopResult::kPopped;
    }
  }
  SimTime when;
  const PopResult result = PopNextSlow(limit, &when);
  if (result == PopResult::kPopped) {
    VMBSIM_CHECK_GE(when.nanoseconds(), *now_ns);
    *now_ns = when.nanoseconds();
    RunPopped();
  }
  return result;
}

inline void EventQueue::RunPopped() {
  VMBSIM_CHECK_NE(popped_slot_, kNoSlot);
  const uint32_t index = popped_slot_;
  popped_slot_ = kNoSlot;
  // Not pending while it runs: the event's id is stale and it cannot cancel
  // itself. The operation recycles the slot when the callable returns.
  Slot& slot = SlotAt(index);
  const SlotOp op = slot.op;
  slot.op = nullptr;
  op(this, &slot, index, /*invoke=*/true);
}

template <typename F>
inline EventId EventQueue::Push(SimTime when, F&& fn) {
  using Fn = std::decay_t<F>;
  static_assert(sizeof(Fn) <= kInlineBytes,
                "event callable too large: capture at most 24 bytes (e.g. a "
                "pointer to the state the event needs)");
  static_assert(alignof(Fn) <= 8, "event callable over-aligned");
  static_assert(std::is_invocable_v<Fn&>, "event callable must take no arguments");
  const Reservation reservation = Reserve(when.nanoseconds(), &SlotOpFor<Fn>);
  ::new (reservation.storage) Fn(std::forward<F>(fn));
  return reservation.id;
}

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_EVENT_QUEUE_H_
