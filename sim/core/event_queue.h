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
//   * Only the time is in the radix key, and in FIFO mode only the time is
//     in an entry: entries due at the same time keep their insertion order
//     inside every bucket without comparing anything: the buckets are FIFO
//     lists, an entry always sits in the bucket its time names relative to
//     the current reference (so equal times share a bucket), only the lowest
//     non-empty bucket is ever redistributed (into empty lower buckets, in
//     order), and every sort of entries is stable on time. In tie-break mode
//     each event draws a 32-bit key, kept beside its slot (not in the
//     entry), and runs of equal time are sorted by key when they reach the
//     front.
//   * The front batch holds the smallest pending entries, sorted ascending
//     and popped from a head index; every entry due no later than the
//     reference time is there, and a new one joins it in order, searching
//     from the tail: an event scheduled for the latest instant in the front
//     (typically "now", with zero costs) is an append, however many events
//     of that instant are pending. When the
//     front runs dry the lowest non-empty bucket becomes the next front:
//       - a level-0 bucket holds one due time and is copied as it is;
//       - a bucket of up to kInsertionSortMax entries (a sparse queue's
//         usual refill) is insertion-sorted (stable);
//       - a larger level-1 bucket of up to kCountingBatchMax entries differs
//         only in the low 6 bits of time, so one stable counting-sort pass
//         orders it;
//       - any other bucket of up to kSortBatchMax entries is
//         insertion-sorted;
//       - a larger bucket is redistributed around its minimum time, whose
//         entries form the front.
//     In the hold model at 10^3 pending events this makes each event one
//     append, one counting-sort pass and one pop.
//   * An entry is 12 bytes (due time, slot index). Buckets are linked lists
//     of 256-byte blocks of 20 entries drawn from one free list, so memory
//     follows the number of pending events (12.8 bytes each) rather than
//     the peak size of each bucket.
//   * The callable lives in a pooled 24-byte slot: a 32-bit operation index,
//     the 32-bit generation that detects stale ids, and 16 bytes of inline
//     storage - a callable capturing two pointers or a pointer and a value.
//     A callable of 17 to 24 bytes lives in a 24-byte cell from a second
//     pool and its slot holds the cell's address. Slots and cells are
//     recycled through free lists, so the steady state allocates nothing per
//     event. A trivially copyable callable (pointers and integers: nearly
//     all) is copied out and its slot recycled before it runs, so its own
//     pushes reuse that slot; any other callable runs in place (chunks never
//     move) while it schedules more events, and its slot is recycled when it
//     returns. A callable larger than 24 bytes is a compile-time error:
//     capture a pointer to larger state instead.
//   * The operation index names the callable type's run-or-destroy function
//     in one process-wide table, filled the first time each type is
//     scheduled (under a lock; a type's index is fixed from then on). The
//     index values depend on which type was scheduled first in the process,
//     and nothing observable depends on them: they only select code.
//   * The per-event path is straight-line code: Push() inlines the slot
//     allocation and the bucket append into the caller (only rare cases - a
//     new block, a new slot chunk, tie-break keys, an entry for the front -
//     are calls), and RunNext() pops, sets the clock and calls the event's
//     operation with its slot, which runs the callable and recycles the
//     slot. Under callgrind the hold model at 10^3 pending events costs
//     about 196 instructions per event, of which the refill of the front
//     (counting sort, redistribution) is about 40 (event_queue_benchmark.cc,
//     event_queue_instructions.sh).
//   * Cancel is O(1) and lazy: it destroys the callable at once and marks the
//     slot; the entry is discarded when it reaches the front. When dead
//     entries outnumber live ones (and there are more than a few thousand)
//     the buckets are rebuilt without them, so long-lived cancelled timers
//     cannot grow memory without bound.
//   * Tie-break keys are 32 bits. When the room above the executing event's
//     key is used up the pending keys are renumbered in order (O(n log n)),
//     which preserves the order exactly. FIFO mode has no keys to run out.
//
// Monotonicity contract: a pushed event must sort after the last popped one
// (the Simulator guarantees it: time >= Now(); an event for the executing
// instant sorts after the executing one). PopNext() may discard cancelled entries due no later than `limit`
// before it returns kBeyondLimit, so the caller must not schedule before
// `limit` afterwards (the Simulator moves its clock to `limit`).
//
// Not thread-safe; one simulation runs on one thread.

#ifndef VMBSIM_SIM_CORE_EVENT_QUEUE_H_
#define VMBSIM_SIM_CORE_EVENT_QUEUE_H_

#include <algorithm>
#include <array>
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
#include "absl/strings/str_cat.h"
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
  // The largest callable an event may capture.
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
  // REQUIRES: its due time is >= `*now_ns` (the clock never goes back).
  // Checked on the slow path; on the fast path it follows from the check
  // that pops never go back, as long as the caller moves the clock past the
  // last popped time only when every pending event is due later (the
  // Simulator's end-time stop).
  // REQUIRES: no event popped by PopNext() awaits RunPopped().
  ABSL_ATTRIBUTE_ALWAYS_INLINE PopResult RunNext(SimTime limit, int64_t* now_ns);

  // Due time of the earliest live event, if any (discards dead entries at the
  // top, so it is not const).
  std::optional<SimTime> PeekTime();

  size_t pending_count() const { return live_count_; }
  bool empty() const { return live_count_ == 0; }

  // Bytes held by the bucket blocks, the front batch, the slot and cell
  // pools and the tie-break keys (for memory accounting).
  size_t allocated_bytes() const;

 private:
  struct Slot;
  // Runs (`invoke`) or only destroys the callable in `slot`, whose index is
  // `index`. Running calls it in place and recycles the slot when it returns.
  using SlotOp = void (*)(EventQueue* queue, Slot* slot, uint32_t index, bool invoke);

  // Callables up to this size live in their slot; larger ones in a cell.
  static constexpr size_t kSlotBytes = 16;
  struct Slot {
    uint32_t op;          // Index in the operation table; 0: not pending (free, cancelled, or running).
    uint32_t generation;  // Bumped each time the slot is recycled; never 0.
    // The callable, or the address of its cell; while the slot is free its
    // first 4 bytes link the free list.
    alignas(8) unsigned char storage[kSlotBytes];
  };
  static_assert(sizeof(Slot) == 24, "slot layout: op index + generation + storage");
  struct Cell {
    // The callable; while the cell is free its first 8 bytes link the free list.
    alignas(8) unsigned char storage[kInlineBytes];
  };

  // The process-wide operation table (see the header comment).
  static constexpr uint32_t kMaxOps = uint32_t{1} << 14;
  static SlotOp op_table_[kMaxOps];
  static uint32_t RegisterOp(SlotOp op);
  template <typename F>
  static uint32_t OpIndexFor() {
    static const uint32_t index = RegisterOp(&SlotOpFor<F>);
    return index;
  }

  struct Entry {
    // Left uninitialised, so that sizing the front for a batch does not
    // clear what the batch overwrites.
    Entry() {}  // NOLINT: not `= default`, which would zero-fill on resize.
    Entry(uint64_t time, uint32_t slot_index) : slot(slot_index) { std::memcpy(time_words, &time, sizeof(time)); }
    // The due time. Kept as two 4-byte words, so the entry is 12 bytes with
    // 4-byte alignment and no 8-byte member sits misaligned (the copy is one
    // unaligned load on x86-64). Words, not bytes: a char array of 8 bytes
    // in a local entry would make the stack protector (on in Bazel's
    // default toolchain) guard every function holding one, the event path
    // among them, at 6 instructions a call.
    uint64_t time_ns() const {
      uint64_t time;
      std::memcpy(&time, time_words, sizeof(time));
      return time;
    }
    uint32_t time_words[2];
    uint32_t slot;
  };
  static_assert(sizeof(Entry) == 12);

  static constexpr uint32_t kNoSlot = 0xFFFFFFFFu;
  static constexpr uint64_t kKeyMax = 0xFFFFFFFFu;
  // Tie-break mode: keys of events due later than now are drawn below this
  // bound, which leaves the upper half of the key space for events scheduled
  // at the executing instant (they must sort after the running event).
  static constexpr uint64_t kTieBreakSpan = uint64_t{1} << 31;

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
  static constexpr uint32_t kBlockEntries = 20;
  // By the highest bit in which a time differs from the reference: the
  // shift of its level's digit, and the level's first bucket (tables: a
  // division by kDigitBits costs more on the push path).
  static constexpr std::array<uint8_t, 64> kDigitShiftOfBit = [] {
    std::array<uint8_t, 64> shifts{};
    for (int bit = 0; bit < 64; ++bit) shifts[bit] = static_cast<uint8_t>(bit / kDigitBits * kDigitBits);
    return shifts;
  }();
  static constexpr std::array<uint16_t, 64> kFirstBucketOfBit = [] {
    std::array<uint16_t, 64> firsts{};
    for (int bit = 0; bit < 64; ++bit) firsts[bit] = static_cast<uint16_t>(bit / kDigitBits * kDigitValues);
    return firsts;
  }();
  // Largest level-1 bucket that is counting-sorted into the front, and the
  // largest other bucket that is insertion-sorted into it; larger buckets
  // are redistributed. A bigger front costs more when new entries land in
  // its range (they are inserted in order), so the comparison sort, which
  // costs more per entry, gets the smaller bound.
  static constexpr uint32_t kCountingBatchMax = 256;
  static constexpr uint32_t kSortBatchMax = 32;
  // Buckets up to this size are insertion-sorted at every level.
  static constexpr uint32_t kInsertionSortMax = 16;
  // The front drops its popped prefix once it is at least this long and
  // at least half the vector.
  static constexpr size_t kFrontCompactMin = 64;

  // A block of a bucket's entries; the blocks of a bucket form a list in
  // insertion order whose last block is the one being filled.
  struct Block {
    Entry entries[kBlockEntries];
    uint32_t count;
    Block* next;
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
    constexpr bool kInSlot = sizeof(F) <= kSlotBytes;
    void* storage = slot->storage;
    [[maybe_unused]] Cell* cell = nullptr;
    if constexpr (!kInSlot) {
      std::memcpy(&cell, slot->storage, sizeof(cell));
      storage = cell->storage;
    }
    F* stored = std::launder(reinterpret_cast<F*>(storage));
    if constexpr (std::is_trivially_copyable_v<F>) {
      // The usual callable (pointers and integers): copied out, and its
      // slot (and cell) recycled before it runs. Nothing of the slot is used
      // after the call, so fewer values are kept across it, and a push from
      // the callable reuses the slot while it is in cache. Trivially
      // destructible: nothing to destroy.
      if (!invoke) {
        if constexpr (!kInSlot) queue->ReleaseCell(cell);
        return;
      }
      F copy(std::move(*stored));  // Trivial: its fields, likely in registers.
      // Recycling links the free lists through the storage: after the copy.
      if constexpr (!kInSlot) queue->ReleaseCell(cell);
      queue->ReleaseSlot(*slot, index);
      copy();
    } else {
      // In place: chunks never move, and the slot is not on the free list
      // while the callable runs.
      if (invoke) (*stored)();
      stored->~F();
      if constexpr (!kInSlot) queue->ReleaseCell(cell);
      if (invoke) queue->ReleaseSlot(*slot, index);
    }
  }

  // What Reserve() hands back to Push(): the new event's slot, and its id.
  struct Reservation {
    Slot* slot;
    EventId id;
  };
  // Everything Push() does that does not depend on the callable's type,
  // inlined with its helpers (their rare paths are out of line): takes a
  // slot, marks it pending with `op`, draws the key (tie-break mode) and
  // queues the entry. The caller constructs the callable in the slot before
  // anything else touches the queue.
  ABSL_ATTRIBUTE_ALWAYS_INLINE Reservation Reserve(int64_t time_ns, uint32_t op);
  // Reserve()'s failed check, out of line with its operands by value (a
  // check macro's message would keep them in memory on the push path).
  [[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void FailPushBeforeLastPop(int64_t time_ns) const;

  // A slot when the free list is empty: the next never-used one, in a new
  // chunk if need be.
  uint32_t AllocateNewSlot();
  void ReleaseSlot(uint32_t index) { ReleaseSlot(SlotAt(index), index); }
  // REQUIRES: the slot's op is 0 (not pending).
  void ReleaseSlot(Slot& slot, uint32_t index);
  ABSL_ATTRIBUTE_ALWAYS_INLINE Cell* AllocateCell();
  Cell* AllocateNewCell();
  void ReleaseCell(Cell* cell) {
    std::memcpy(cell->storage, &free_cells_, sizeof(free_cells_));
    free_cells_ = cell;
  }
  // Tie-break mode: draws the key of the event in slot `index`, due at
  // `time_ns`, and checks that it sorts after the last popped event.
  void AssignTieBreakKey(uint32_t index, uint64_t time_ns);
  uint32_t& KeyAt(uint32_t index) { return key_chunks_[index >> kChunkShift][index & (kChunkSlots - 1)]; }
  // Whether entry `a` sorts before entry `b` (tie-break mode: by time, then
  // key).
  bool KeyLess(const Entry& a, const Entry& b) {
    return a.time_ns() < b.time_ns() || (a.time_ns() == b.time_ns() && KeyAt(a.slot) < KeyAt(b.slot));
  }
  // The pop bookkeeping shared by every path: the last popped entry (and its
  // key in tie-break mode).
  void NotePopped(const Entry& entry);
  PopResult PopNextSlow(SimTime limit, SimTime* when);
  // Adds a block to the end of bucket `bucket_index` and returns it; marks
  // the bucket non-empty if it was empty.
  Block* NewLastBlock(uint32_t bucket_index);
  // The number of entries in `bucket`, or `cap + 1` if it holds more than
  // `cap` (counting stops there).
  static uint32_t BucketSizeUpTo(const Bucket& bucket, uint32_t cap);
  // Unsigned: no sign extension on the push path.
  ABSL_ATTRIBUTE_ALWAYS_INLINE uint32_t BucketIndexOf(uint64_t time_ns) const;
  // The entry (time_ns, slot), as separate values: an Entry built for a
  // call would be built in memory.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Insert(uint64_t time_ns, uint32_t slot);
  void InsertIntoFront(uint64_t time_ns, uint32_t slot);
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Append(uint32_t bucket_index, uint64_t time_ns, uint32_t slot);
  int LowestNonEmptyBucket() const;
  // Makes the lowest non-empty bucket, `bucket_index`, the new front batch
  // (sorted, or redistributed around its minimum time). REQUIRES: the front
  // is empty.
  void RefillFront(int bucket_index);
  // Copies `bucket`'s entries into the front, in bucket order.
  // REQUIRES: `size` is the number of entries in `bucket`.
  void CopyBucketIntoFront(const Bucket& bucket, uint32_t size);
  // Copies `bucket`'s entries into the front sorted, stably, by time (FIFO
  // mode) or by (time, key) (tie-break mode): by insertion as they are read.
  // REQUIRES: `size` is the number of entries in `bucket`.
  void SortBucketIntoFront(const Bucket& bucket, uint32_t size);
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
  // sorted ascending (the cells before the head hold popped entries; a new
  // minimum may take the last of them, see InsertIntoFront). Every
  // entry due no later than the reference time is here and every bucket
  // entry is due after it.
  std::vector<Entry> front_;
  size_t front_head_ = 0;
  size_t front_end_ = 0;  // front_.size(), kept beside it: the pop path reads it without a division.
  bool front_empty() const { return front_head_ == front_end_; }
  Bucket buckets_[kBucketCount];
  uint64_t non_empty_[kLevelCount] = {};  // Bit d of word l: bucket (l, d) holds entries.
  uint32_t non_empty_levels_ = 0;         // Bit l: non_empty_[l] != 0.
  // The radix reference time: bucket indices are relative to it. It is the
  // largest time in the front, or the last popped time when the front is
  // empty.
  uint64_t ref_time_ns_ = 0;
  std::vector<std::unique_ptr<Block>> blocks_;
  Block* free_blocks_ = nullptr;

  // Slots and cells live in fixed chunks: growing never copies (a doubling
  // vector would briefly hold twice the slots, which is what peak memory
  // would measure).
  static constexpr uint32_t kChunkShift = 10;  // 24 KiB chunks: small runs hold little.
  static constexpr uint32_t kChunkSlots = uint32_t{1} << kChunkShift;
  struct SlotChunk {
    Slot slots[kChunkSlots];
  };
  struct CellChunk {
    Cell cells[kChunkSlots];
  };
  Slot& SlotAt(uint32_t index) { return chunks_[index >> kChunkShift]->slots[index & (kChunkSlots - 1)]; }
  const Slot& SlotAt(uint32_t index) const {
    return chunks_[index >> kChunkShift]->slots[index & (kChunkSlots - 1)];
  }
  std::vector<std::unique_ptr<SlotChunk>> chunks_;
  uint32_t slot_count_ = 0;
  // Whether pops prefetch the next event's slot: once there are more slots
  // than kPrefetchSlotsMin (384 KiB of them, beyond the per-core caches).
  static constexpr uint32_t kPrefetchSlotsMin = 16 * 1024;
  bool PrefetchSlots() const { return slot_count_ > kPrefetchSlotsMin; }
  uint32_t free_head_ = kNoSlot;
  std::vector<std::unique_ptr<CellChunk>> cell_chunks_;
  uint32_t cell_count_ = 0;
  Cell* free_cells_ = nullptr;
  // Tie-break mode only: the key of each slot's event, one array per slot
  // chunk.
  std::vector<std::unique_ptr<uint32_t[]>> key_chunks_;

  // The entries in the buckets and the front are the live events and the
  // cancelled ones not yet discarded.
  size_t live_count_ = 0;
  size_t dead_count_ = 0;

  uint64_t last_time_ns_ = 0;  // The last popped entry (live or cancelled).
  uint32_t last_key_ = 0;      // Its key (tie-break mode).
  // The last popped live event: the reference to fall back to when the
  // queue empties after discarding cancelled entries.
  uint64_t live_time_ns_ = 0;
  uint32_t live_key_ = 0;
  uint32_t popped_slot_ = kNoSlot;
  // FIFO mode: pops take the inline path. Tie-break mode pops need the key.
  bool fifo_ = true;
  // fifo_ and no popped event awaits RunPopped(): RunNext's fast path tests
  // this one flag. Kept by SetPoppedSlot() and EnableTieBreak().
  bool fast_run_ = true;
  void SetPoppedSlot(uint32_t index) {
    popped_slot_ = index;
    fast_run_ = fifo_ && index == kNoSlot;
  }
  std::optional<Prng> tie_break_;
};

// ---------------------------------------------------------------------------
// Implementation: the per-event fast paths, inline so that Push() compiles
// into straight-line code.

inline EventQueue::Cell* EventQueue::AllocateCell() {
  if (ABSL_PREDICT_FALSE(free_cells_ == nullptr)) return AllocateNewCell();
  Cell* cell = free_cells_;
  std::memcpy(&free_cells_, cell->storage, sizeof(free_cells_));
  return cell;
}

inline EventQueue::Reservation EventQueue::Reserve(int64_t time_ns, uint32_t op) {
  // Monotonicity: every entry sorts after the last popped one (in FIFO
  // mode a later push sorts after every pending entry of its time). The
  // comparison is signed, so it also rejects a negative time.
  if (ABSL_PREDICT_FALSE(time_ns < static_cast<int64_t>(last_time_ns_))) FailPushBeforeLastPop(time_ns);
  const uint64_t time = static_cast<uint64_t>(time_ns);
  uint32_t index = free_head_;
  Slot* slot;
  if (ABSL_PREDICT_FALSE(index == kNoSlot)) {
    index = AllocateNewSlot();
    slot = &SlotAt(index);
  } else {
    slot = &SlotAt(index);
    uint32_t next;  // Through a local: a store to free_head_ must not make the slot's address reload.
    std::memcpy(&next, slot->storage, sizeof(next));
    free_head_ = next;
  }
  slot->op = op;
  if (ABSL_PREDICT_FALSE(!fifo_)) AssignTieBreakKey(index, time);
  Insert(time, index);
  ++live_count_;
  return Reservation{slot, EventId{index, slot->generation}};
}

inline bool EventQueue::IsPending(EventId id) const {
  if (id.generation == 0 || id.slot >= slot_count_) return false;
  const Slot& slot = SlotAt(id.slot);
  return slot.generation == id.generation && slot.op != 0;
}

inline void EventQueue::ReleaseSlot(Slot& slot, uint32_t index) {
  // Its op is 0 already: every caller cleared it (the run and cancel paths
  // before the callable ran or was destroyed, or found it so).
  // Generation 0 never names a live event, so skip it on wrap-around.
  slot.generation = slot.generation + 1 + (slot.generation == 0xFFFFFFFFu);
  std::memcpy(slot.storage, &free_head_, sizeof(free_head_));
  free_head_ = index;
}

inline uint32_t EventQueue::BucketIndexOf(uint64_t time_ns) const {
  // Highest differing bit of the times, then its digit's level and the
  // entry's value of that digit.
  const uint64_t diff = time_ns ^ ref_time_ns_;
  VMBSIM_CHECK_NE(diff, 0u);  // Times equal to the reference go to the front.
  const uint32_t bit = 63u ^ static_cast<uint32_t>(__builtin_clzll(diff));
  const uint32_t digit = static_cast<uint32_t>(time_ns >> kDigitShiftOfBit[bit]) & (kDigitValues - 1);
  return kFirstBucketOfBit[bit] + digit;
}

inline void EventQueue::Append(uint32_t bucket_index, uint64_t time_ns, uint32_t slot) {
  Bucket& bucket = buckets_[bucket_index];
  Block* last = bucket.last;
  if (ABSL_PREDICT_FALSE(last == nullptr || last->count == kBlockEntries)) last = NewLastBlock(bucket_index);
  ::new (&last->entries[last->count++]) Entry(time_ns, slot);
}

inline void EventQueue::Insert(uint64_t time_ns, uint32_t slot) {
  if (time_ns <= ref_time_ns_) {
    InsertIntoFront(time_ns, slot);
    return;
  }
  Append(BucketIndexOf(time_ns), time_ns, slot);
}

inline EventQueue::PopResult EventQueue::PopNext(SimTime limit, SimTime* when) {
  // Fast path: the next entry is in the front batch, live and due.
  if (ABSL_PREDICT_TRUE(fifo_ && !front_empty() && popped_slot_ == kNoSlot && limit.nanoseconds() >= 0)) {
    const Entry top = front_[front_head_];
    const uint32_t index = top.slot;
    if (top.time_ns() <= static_cast<uint64_t>(limit.nanoseconds()) && SlotAt(index).op != 0) {
      ++front_head_;
      VMBSIM_CHECK_GE(top.time_ns(), last_time_ns_);  // Paired with the check in Reserve.
      last_time_ns_ = live_time_ns_ = top.time_ns();
      SetPoppedSlot(index);
      --live_count_;
      if (PrefetchSlots() && !front_empty()) __builtin_prefetch(&SlotAt(front_[front_head_].slot));
      *when = SimTime::FromNanoseconds(static_cast<int64_t>(top.time_ns()));
      return PopResult::kPopped;
    }
  }
  return PopNextSlow(limit, when);
}

inline EventQueue::PopResult EventQueue::RunNext(SimTime limit, int64_t* now_ns) {
  if (ABSL_PREDICT_TRUE(fast_run_ && !front_empty() && limit.nanoseconds() >= 0)) {
    // Read as values, not copied as an entry (which would go through memory).
    const Entry& top = front_[front_head_];
    const uint64_t time_ns = top.time_ns();
    const uint32_t index = top.slot;
    Slot& slot = SlotAt(index);
    const uint32_t op = slot.op;
    if (time_ns <= static_cast<uint64_t>(limit.nanoseconds()) && op != 0) {
      ++front_head_;
      --live_count_;
      // Paired with the check in Reserve. It implies the clock's check on the
      // slow path below: the clock passes the last popped time only when a
      // run stops at its end time, with every pending event due later.
      VMBSIM_CHECK_GE(time_ns, last_time_ns_);
      last_time_ns_ = live_time_ns_ = time_ns;
      // The next event's slot, fetched while this one runs once the slots
      // outgrow the cache: at 10^5 and more pending events 20-25 % more
      // events per second, for 11 instructions per event that a small
      // queue, whose slots stay cached, does not pay.
      if (PrefetchSlots() && !front_empty()) __builtin_prefetch(&SlotAt(front_[front_head_].slot));
      *now_ns = static_cast<int64_t>(time_ns);
      // Not pending while it runs: the event's id is stale and it cannot
      // cancel itself. The operation recycles the slot when it returns.
      slot.op = 0;
      op_table_[op](this, &slot, index, /*invoke=*/true);
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
  SetPoppedSlot(kNoSlot);
  // Not pending while it runs: the event's id is stale and it cannot cancel
  // itself. The operation recycles the slot when the callable returns.
  Slot& slot = SlotAt(index);
  const uint32_t op = slot.op;
  slot.op = 0;
  op_table_[op](this, &slot, index, /*invoke=*/true);
}

template <typename F>
inline EventId EventQueue::Push(SimTime when, F&& fn) {
  using Fn = std::decay_t<F>;
  static_assert(sizeof(Fn) <= kInlineBytes,
                "event callable too large: capture at most 24 bytes (e.g. a "
                "pointer to the state the event needs)");
  static_assert(alignof(Fn) <= 8, "event callable over-aligned");
  static_assert(std::is_invocable_v<Fn&>, "event callable must take no arguments");
  const Reservation reservation = Reserve(when.nanoseconds(), OpIndexFor<Fn>());
  if constexpr (sizeof(Fn) <= kSlotBytes) {
    ::new (static_cast<void*>(reservation.slot->storage)) Fn(std::forward<F>(fn));
  } else {
    Cell* cell = AllocateCell();
    std::memcpy(reservation.slot->storage, &cell, sizeof(cell));
    ::new (static_cast<void*>(cell->storage)) Fn(std::forward<F>(fn));
  }
  return reservation.id;
}

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_EVENT_QUEUE_H_
