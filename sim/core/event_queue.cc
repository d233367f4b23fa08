#include "sim/core/event_queue.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace vmbsim::sim {
namespace {

// Rebuild the buckets without cancelled entries once they are this many and
// outnumber the live ones.
constexpr size_t kDeadEntriesRebuildMin = 4096;

// Guards the operation table's registrations (simulations on other threads
// may register their callable types at the same time).
std::mutex& OpTableMutex() {
  static std::mutex mutex;
  return mutex;
}
uint32_t g_op_count = 1;  // Index 0 means "not pending".

}  // namespace

EventQueue::SlotOp EventQueue::op_table_[EventQueue::kMaxOps] = {};

uint32_t EventQueue::RegisterOp(SlotOp op) {
  std::lock_guard<std::mutex> lock(OpTableMutex());
  VMBSIM_CHECK_MSG(g_op_count < kMaxOps, "more event callable types than the operation table holds (kMaxOps)");
  op_table_[g_op_count] = op;
  return g_op_count++;
}

EventQueue::EventQueue() = default;

EventQueue::~EventQueue() {
  // Destroys the pending callables in place (no allocation: a copy of every
  // entry would be the process's peak memory at the end of a large run).
  const auto destroy = [this](const Entry& entry) {
    const uint32_t index = entry.slot;
    Slot& slot = SlotAt(index);
    const uint32_t op = slot.op;
    if (op != 0) op_table_[op](this, &slot, index, /*invoke=*/false);
  };
  for (size_t i = front_head_; i < front_.size(); ++i) destroy(front_[i]);
  for (const Bucket& bucket : buckets_) {
    for (const Block* block = bucket.first; block != nullptr; block = block->next) {
      for (uint32_t i = 0; i < block->count; ++i) destroy(block->entries[i]);
    }
  }
}

void EventQueue::EnableTieBreak(Prng prng) {
  VMBSIM_CHECK_EQ(live_count_ + dead_count_, 0u);
  tie_break_.emplace(std::move(prng));
  fifo_ = false;
  fast_run_ = false;
  while (key_chunks_.size() < chunks_.size()) key_chunks_.push_back(std::make_unique<uint32_t[]>(kChunkSlots));
}

void EventQueue::AssignTieBreakKey(uint32_t index, uint64_t time_ns) {
  if (time_ns > last_time_ns_) {
    KeyAt(index) = static_cast<uint32_t>(tie_break_->Below(kTieBreakSpan));
    return;
  }
  // Scheduled for the executing instant (Reserve() checked it is not
  // earlier): sort after the running event.
  if (kKeyMax - last_key_ < 2) RenumberKeys();
  const uint64_t room = kKeyMax - last_key_;
  KeyAt(index) = static_cast<uint32_t>(last_key_ + 1 + tie_break_->Below(std::min(room, kTieBreakSpan)));
}

uint32_t EventQueue::AllocateNewSlot() {
  VMBSIM_CHECK_LT(slot_count_, kNoSlot);  // 2^32 - 1 slots at once.
  if ((slot_count_ & (kChunkSlots - 1)) == 0) {
    chunks_.push_back(std::make_unique<SlotChunk>());
    if (!fifo_) key_chunks_.push_back(std::make_unique<uint32_t[]>(kChunkSlots));
  }
  const uint32_t index = slot_count_++;
  SlotAt(index).op = 0;
  SlotAt(index).generation = 1;
  return index;
}

EventQueue::Cell* EventQueue::AllocateNewCell() {
  if ((cell_count_ & (kChunkSlots - 1)) == 0) cell_chunks_.push_back(std::make_unique<CellChunk>());
  const uint32_t index = cell_count_++;
  return &cell_chunks_[index >> kChunkShift]->cells[index & (kChunkSlots - 1)];
}

EventQueue::Block* EventQueue::NewLastBlock(uint32_t bucket_index) {
  Bucket& bucket = buckets_[bucket_index];
  Block* block = free_blocks_;
  if (block != nullptr) {
    free_blocks_ = block->next;
  } else {
    blocks_.push_back(std::make_unique<Block>());
    block = blocks_.back().get();
  }
  block->count = 0;
  block->next = nullptr;
  if (bucket.last != nullptr) {
    bucket.last->next = block;
  } else {
    bucket.first = block;
    const int level = bucket_index / kDigitValues;
    non_empty_[level] |= uint64_t{1} << (bucket_index % kDigitValues);
    non_empty_levels_ |= uint32_t{1} << level;
  }
  bucket.last = block;
  return block;
}

uint32_t EventQueue::BucketSizeUpTo(const Bucket& bucket, uint32_t cap) {
  uint32_t size = 0;
  for (const Block* block = bucket.first; block != nullptr && size <= cap; block = block->next) size += block->count;
  return std::min(size, cap + 1);
}

int EventQueue::LowestNonEmptyBucket() const {
  if (non_empty_levels_ == 0) return -1;
  const int level = __builtin_ctz(non_empty_levels_);
  return level * kDigitValues + __builtin_ctzll(non_empty_[level]);
}

void EventQueue::ReleaseBlocks(Bucket& bucket) {
  Block* block = bucket.first;
  while (block != nullptr) {
    Block* next = block->next;
    block->next = free_blocks_;
    free_blocks_ = block;
    block = next;
  }
  bucket.first = nullptr;
  bucket.last = nullptr;
}

void EventQueue::FailPushBeforeLastPop(int64_t time_ns) const {
  check_internal::FailWith(__FILE__, __LINE__, "time_ns >= last_time_ns_", [&] {
    return absl::StrCat("event scheduled before the last popped one (due at ", time_ns, " ns, last popped at ",
                        last_time_ns_, " ns)");
  });
}

void EventQueue::InsertIntoFront(uint64_t time_ns, uint32_t slot) {
  const Entry entry(time_ns, slot);
  // After every entry that does not sort after it (FIFO mode: after every
  // entry of its time). The tail first, where new entries usually land (an
  // entry for the front's latest instant is appended); else a binary search.
  const auto sorts_before = [this](const Entry& a, const Entry& b) {
    return fifo_ ? a.time_ns() < b.time_ns() : KeyLess(a, b);
  };
  size_t position = front_.size();
  if (position > front_head_ && sorts_before(entry, front_[position - 1])) {
    if (front_head_ > 0 && sorts_before(entry, front_[front_head_])) {
      // The new minimum (a zero-delay chain's next step): into the popped
      // prefix's last cell, instead of moving the whole batch up by one.
      front_[--front_head_] = entry;
      return;
    }
    position = static_cast<size_t>(
        std::upper_bound(front_.begin() + static_cast<ptrdiff_t>(front_head_), front_.end() - 1, entry, sorts_before) -
        front_.begin());
  }
  front_.insert(front_.begin() + static_cast<ptrdiff_t>(position), entry);
  // A front that never runs dry (zero-delay chains) would otherwise keep its
  // popped prefix forever; dropping it when it is most of the vector is
  // amortised O(1) per entry.
  if (front_head_ >= kFrontCompactMin && 2 * front_head_ >= front_.size()) {
    front_.erase(front_.begin(), front_.begin() + static_cast<ptrdiff_t>(front_head_));
    front_head_ = 0;
  }
  front_end_ = front_.size();
}

void EventQueue::RefillFront(int bucket_index) {
  VMBSIM_CHECK(front_empty());
  front_.clear();
  front_head_ = 0;
  Bucket& bucket = buckets_[bucket_index];
  const int level = bucket_index / kDigitValues;
  non_empty_[level] &= ~(uint64_t{1} << (bucket_index % kDigitValues));
  if (non_empty_[level] == 0) non_empty_levels_ &= ~(uint32_t{1} << level);
  // The other buckets keep their indices when the reference moves into this
  // bucket's range: the new reference shares every digit above this
  // bucket's level with the old one, and this bucket's digit, which is
  // below theirs at this level. Lower buckets are empty.
  uint32_t size = BucketSizeUpTo(bucket, kCountingBatchMax);
  if (level == 0) {
    // One due time, already in key order in FIFO mode.
    if (size > kCountingBatchMax) size = BucketSizeUpTo(bucket, kNoSlot - 1);
    CopyBucketIntoFront(bucket, size);
    if (tie_break_.has_value()) SortFrontTiesByKey();
  } else if (size <= kInsertionSortMax || (level > 1 && size <= kSortBatchMax)) {
    // Small: an insertion sort costs less than a counting sort's 64 digit
    // counters (a sparse queue refills from buckets of one or two entries).
    SortBucketIntoFront(bucket, size);
  } else if (level == 1 && size <= kCountingBatchMax) {
    CountingSortIntoFront(bucket, size);
    if (tie_break_.has_value()) SortFrontTiesByKey();
  } else {
    RedistributeAroundMinimum(bucket, bucket_index);
    return;
  }
  ReleaseBlocks(bucket);
  VMBSIM_CHECK_GT(front_.front().time_ns(), ref_time_ns_);
  ref_time_ns_ = front_.back().time_ns();
  front_end_ = front_.size();
}

void EventQueue::CopyBucketIntoFront(const Bucket& bucket, uint32_t size) {
  front_.resize(size);
  Entry* out = front_.data();
  for (const Block* block = bucket.first; block != nullptr; block = block->next) {
    std::memcpy(static_cast<void*>(out), block->entries, block->count * sizeof(Entry));
    out += block->count;
  }
  VMBSIM_CHECK_EQ(static_cast<size_t>(out - front_.data()), size_t{size});
}

void EventQueue::SortBucketIntoFront(const Bucket& bucket, uint32_t size) {
  // Insertion sort as the entries are read: stable, allocates nothing, and
  // the buckets are short (kSortBatchMax entries).
  front_.resize(size);
  Entry* const front = front_.data();
  uint32_t sorted = 0;
  const auto sort_by = [&](auto sorts_before) {
    for (const Block* block = bucket.first; block != nullptr; block = block->next) {
      for (uint32_t i = 0; i < block->count; ++i) {
        // Behind every entry that does not sort after it.
        const Entry entry = block->entries[i];
        uint32_t j = sorted++;
        for (; j > 0 && sorts_before(entry, front[j - 1]); --j) front[j] = front[j - 1];
        front[j] = entry;
      }
    }
  };
  if (fifo_) {
    sort_by([](const Entry& a, const Entry& b) { return a.time_ns() < b.time_ns(); });
  } else {
    sort_by([this](const Entry& a, const Entry& b) { return KeyLess(a, b); });
  }
  VMBSIM_CHECK_EQ(sorted, size);
}

void EventQueue::CountingSortIntoFront(const Bucket& bucket, uint32_t size) {
  // The entries share every bit of time above the low digit: one stable pass
  // on that digit orders them by time, and stability keeps equal times in
  // bucket (key) order.
  uint32_t counts[kDigitValues] = {};
  for (const Block* block = bucket.first; block != nullptr; block = block->next) {
#pragma GCC unroll 4
    for (uint32_t i = 0; i < block->count; ++i) ++counts[block->entries[i].time_ns() & (kDigitValues - 1)];
  }
  uint32_t next_slot[kDigitValues];  // Where the next entry of each digit goes.
  uint32_t below = 0;
  // The loops are unrolled: less loop overhead, about 4 instructions per
  // event in the hold model at 10^3.
#pragma GCC unroll 8
  for (int digit = 0; digit < kDigitValues; ++digit) {
    next_slot[digit] = below;
    below += counts[digit];
  }
  front_.resize(size);
  Entry* front = front_.data();
  for (const Block* block = bucket.first; block != nullptr; block = block->next) {
#pragma GCC unroll 4
    for (uint32_t i = 0; i < block->count; ++i) {
      const Entry& entry = block->entries[i];
      front[next_slot[entry.time_ns() & (kDigitValues - 1)]++] = entry;
    }
  }
}

void EventQueue::RedistributeAroundMinimum(Bucket& bucket, int bucket_index) {
  uint64_t minimum = UINT64_MAX;
  for (const Block* block = bucket.first; block != nullptr; block = block->next) {
    for (uint32_t i = 0; i < block->count; ++i) minimum = std::min(minimum, block->entries[i].time_ns());
  }
  VMBSIM_CHECK_GT(minimum, ref_time_ns_);
  ref_time_ns_ = minimum;
  // Relative to the new reference every other entry of this bucket differs
  // in a lower digit: move them down, in order. Each source block goes back
  // to the free list as soon as it has been read, so a large redistribution
  // needs no more than one extra block.
  Block* block = bucket.first;
  bucket.first = nullptr;
  bucket.last = nullptr;
  while (block != nullptr) {
    for (uint32_t i = 0; i < block->count; ++i) {
      const Entry& entry = block->entries[i];
      if (entry.time_ns() == minimum) {
        front_.push_back(entry);
        continue;
      }
      const uint32_t target = BucketIndexOf(entry.time_ns());
      VMBSIM_CHECK_LT(static_cast<int>(target), bucket_index);
      Append(target, entry.time_ns(), entry.slot);
    }
    Block* next = block->next;
    block->next = free_blocks_;
    free_blocks_ = block;
    block = next;
  }
  if (tie_break_.has_value()) SortFrontTiesByKey();
  front_end_ = front_.size();
}

void EventQueue::SortFrontTiesByKey() {
  // Tie-break keys are random, so bucket order says nothing about them.
  size_t run_begin = 0;
  while (run_begin < front_.size()) {
    size_t run_end = run_begin + 1;
    while (run_end < front_.size() && front_[run_end].time_ns() == front_[run_begin].time_ns()) ++run_end;
    if (run_end - run_begin > 1) {
      std::sort(front_.begin() + static_cast<ptrdiff_t>(run_begin), front_.begin() + static_cast<ptrdiff_t>(run_end),
                [this](const Entry& a, const Entry& b) { return KeyAt(a.slot) < KeyAt(b.slot); });
    }
    run_begin = run_end;
  }
}

std::vector<EventQueue::Entry> EventQueue::TakeAllEntriesSorted() {
  std::vector<Entry> all;
  all.reserve(live_count_ + dead_count_);
  all.insert(all.end(), front_.begin() + static_cast<ptrdiff_t>(front_head_), front_.end());
  front_.clear();
  front_head_ = 0;
  front_end_ = 0;
  ref_time_ns_ = last_time_ns_;
  for (Bucket& bucket : buckets_) {
    for (const Block* block = bucket.first; block != nullptr; block = block->next) {
      all.insert(all.end(), block->entries, block->entries + block->count);
    }
    ReleaseBlocks(bucket);
  }
  for (uint64_t& word : non_empty_) word = 0;
  non_empty_levels_ = 0;
  // Equal times share a bucket (or the front), and each holds them in key
  // order, so in FIFO mode a stable sort on time keeps the order exactly.
  if (fifo_) {
    std::stable_sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.time_ns() < b.time_ns(); });
  } else {
    std::sort(all.begin(), all.end(), [this](const Entry& a, const Entry& b) { return KeyLess(a, b); });
  }
  return all;
}

bool EventQueue::Cancel(EventId id) {
  if (!IsPending(id)) return false;
  Slot& slot = SlotAt(id.slot);
  const uint32_t op = slot.op;
  slot.op = 0;  // Before destroying: a destructor must not see it pending.
  op_table_[op](this, &slot, id.slot, /*invoke=*/false);
  --live_count_;
  ++dead_count_;
  if (dead_count_ >= kDeadEntriesRebuildMin && dead_count_ > live_count_) DropDeadEntries();
  return true;
}

EventQueue::PopResult EventQueue::PopNextSlow(SimTime limit, SimTime* when) {
  VMBSIM_CHECK_EQ(popped_slot_, kNoSlot);  // RunPopped() was not called.
  const uint64_t limit_ns = static_cast<uint64_t>(std::max<int64_t>(limit.nanoseconds(), -1));
  const bool limit_negative = limit.nanoseconds() < 0;
  for (;;) {
    if (front_empty()) {
      const int bucket_index = LowestNonEmptyBucket();
      if (bucket_index < 0) {
        // Empty: any reference below future keys will do; fall back to the
        // last live event so that discarded cancelled entries due later
        // than the clock do not constrain what may be scheduled next.
        ref_time_ns_ = last_time_ns_ = live_time_ns_;
        last_key_ = live_key_;
        return PopResult::kEmpty;
      }
      RefillFront(bucket_index);
    }
    const Entry top = front_[front_head_];
    if (limit_negative || top.time_ns() > limit_ns) return PopResult::kBeyondLimit;
    ++front_head_;
    if (PrefetchSlots() && !front_empty()) __builtin_prefetch(&SlotAt(front_[front_head_].slot));
    const uint32_t index = top.slot;
    VMBSIM_CHECK_GE(top.time_ns(), last_time_ns_);  // Paired with the check in Reserve.
    last_time_ns_ = top.time_ns();
    if (!fifo_) last_key_ = KeyAt(index);
    if (SlotAt(index).op == 0) {  // Cancelled.
      --dead_count_;
      ReleaseSlot(index);
      continue;
    }
    live_time_ns_ = top.time_ns();
    live_key_ = last_key_;
    SetPoppedSlot(index);
    --live_count_;
    *when = SimTime::FromNanoseconds(static_cast<int64_t>(top.time_ns()));
    return PopResult::kPopped;
  }
}

std::optional<SimTime> EventQueue::PeekTime() {
  // Rarely used (reports, progress): a scan that changes nothing, so that
  // peeking never moves the reference.
  for (size_t i = front_head_; i < front_.size(); ++i) {
    if (SlotAt(front_[i].slot).op != 0) {
      return SimTime::FromNanoseconds(static_cast<int64_t>(front_[i].time_ns()));
    }
  }
  for (const Bucket& bucket : buckets_) {  // Lower buckets hold earlier times.
    std::optional<uint64_t> best;
    for (const Block* block = bucket.first; block != nullptr; block = block->next) {
      for (uint32_t i = 0; i < block->count; ++i) {
        const Entry& entry = block->entries[i];
        if (SlotAt(entry.slot).op == 0) continue;
        if (!best.has_value() || entry.time_ns() < *best) best = entry.time_ns();
      }
    }
    if (best.has_value()) return SimTime::FromNanoseconds(static_cast<int64_t>(*best));
  }
  return std::nullopt;
}

void EventQueue::DropDeadEntries() {
  // Re-inserted in (time, key) order, which is the order the buckets rely on.
  size_t kept = 0;
  for (const Entry& entry : TakeAllEntriesSorted()) {
    const uint32_t index = entry.slot;
    if (SlotAt(index).op == 0) {
      ReleaseSlot(index);
    } else {
      Insert(entry.time_ns(), entry.slot);
      ++kept;
    }
  }
  dead_count_ = 0;
  VMBSIM_CHECK_EQ(kept, live_count_);
}

void EventQueue::RenumberKeys() {
  // Tie-break mode: give the pending entries keys 1..n in (time, key)
  // order: the relative order is unchanged, and key 0 (the reference, the
  // event executing now) stays below every pending key of its instant.
  VMBSIM_CHECK(!fifo_);
  std::vector<Entry> all = TakeAllEntriesSorted();
  VMBSIM_CHECK_LT(all.size(), kKeyMax);
  last_key_ = live_key_ = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    KeyAt(all[i].slot) = static_cast<uint32_t>(i + 1);
    Insert(all[i].time_ns(), all[i].slot);
  }
}

size_t EventQueue::allocated_bytes() const {
  return blocks_.size() * sizeof(Block) + chunks_.size() * sizeof(SlotChunk) +
         cell_chunks_.size() * sizeof(CellChunk) + key_chunks_.size() * kChunkSlots * sizeof(uint32_t) +
         front_.capacity() * sizeof(Entry);
}

}  // namespace vmbsim::sim
