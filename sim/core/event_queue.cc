#include "sim/core/event_queue.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace vmbsim::sim {
namespace {

using Key128 = unsigned __int128;

constexpr uint64_t kKeyMax = 0xFFFFFFFFu;
// Tie-break mode: keys of events due later than now are drawn below this
// bound, which leaves the upper half of the key space for events scheduled at
// the executing instant (they must sort after the running event).
constexpr uint64_t kTieBreakSpan = uint64_t{1} << 31;
// Rebuild the buckets without cancelled entries once they are this many and
// outnumber the live ones.
constexpr size_t kDeadEntriesRebuildMin = 4096;

}  // namespace

EventQueue::EventQueue() = default;

EventQueue::~EventQueue() {
  for (const Entry& entry : TakeAllEntries()) {
    Slot& slot = SlotAt(static_cast<uint32_t>(entry.key_slot));
    if (slot.op != nullptr) slot.op(slot.storage, /*invoke=*/false);
  }
}

void EventQueue::EnableTieBreak(Prng prng) {
  VMBSIM_CHECK_EQ(entry_count_, 0u);
  tie_break_.emplace(std::move(prng));
}

uint32_t EventQueue::AllocateSlot() {
  if (free_head_ != kNoSlot) {
    const uint32_t index = free_head_;
    free_head_ = SlotAt(index).next_free;
    return index;
  }
  VMBSIM_CHECK_LT(slot_count_, kNoSlot);  // 2^32 - 1 events pending at once.
  if ((slot_count_ & (kChunkSlots - 1)) == 0) {
    chunks_.push_back(std::make_unique<Slot[]>(kChunkSlots));
  }
  const uint32_t index = slot_count_++;
  Slot& slot = SlotAt(index);
  slot.op = nullptr;
  slot.generation = 1;
  slot.next_free = kNoSlot;
  return index;
}

void EventQueue::ReleaseSlot(uint32_t index) {
  Slot& slot = SlotAt(index);
  VMBSIM_CHECK(slot.op == nullptr);
  // Generation 0 never names a live event, so skip it on wrap-around.
  slot.generation = slot.generation == 0xFFFFFFFFu ? 1 : slot.generation + 1;
  slot.next_free = free_head_;
  free_head_ = index;
}

uint32_t EventQueue::NextKey(uint64_t time_ns) {
  if (!tie_break_.has_value()) {
    if (next_key_ > kKeyMax) RenumberKeys();
    return static_cast<uint32_t>(next_key_++);
  }
  if (time_ns > last_time_ns_) {
    return static_cast<uint32_t>(tie_break_->Below(kTieBreakSpan));
  }
  // Scheduled for the executing instant: sort after the running event.
  if (kKeyMax - last_key_ < 2) RenumberKeys();
  const uint64_t room = kKeyMax - last_key_;
  return static_cast<uint32_t>(last_key_ + 1 + tie_break_->Below(std::min(room, kTieBreakSpan)));
}

namespace {

inline Key128 KeyOf(uint64_t time_ns, uint64_t key_slot) {
  return (Key128{time_ns} << 64) | key_slot;
}

}  // namespace

int EventQueue::BucketIndexOf(const Entry& entry) const {
  // The highest bit in which the key differs from the reference key, plus
  // one; 0 when equal.
  const uint64_t time_diff = entry.time_ns ^ ref_time_ns_;
  if (time_diff != 0) return 128 - __builtin_clzll(time_diff);
  const uint64_t key_diff = entry.key_slot ^ ref_key_slot_;
  return key_diff == 0 ? 0 : 64 - __builtin_clzll(key_diff);
}

void EventQueue::Append(int bucket_index, Entry entry) {
  Bucket& bucket = buckets_[bucket_index];
  Block* head = bucket.head;
  if (head == nullptr || head->count == kBlockEntries) {
    Block* block = free_blocks_;
    if (block != nullptr) {
      free_blocks_ = block->next;
    } else {
      blocks_.push_back(std::make_unique<Block>());
      block = blocks_.back().get();
    }
    block->count = 0;
    block->next = head;
    bucket.head = head = block;
  }
  head->entries[head->count++] = entry;
  if (bucket.size++ == 0) non_empty_[bucket_index >> 6] |= uint64_t{1} << (bucket_index & 63);
}

void EventQueue::Insert(Entry entry) {
  // Monotonicity: every entry sorts after the reference key.
  VMBSIM_CHECK(KeyOf(entry.time_ns, entry.key_slot) > KeyOf(ref_time_ns_, ref_key_slot_));
  Append(BucketIndexOf(entry), entry);
  ++entry_count_;
}

int EventQueue::LowestNonEmptyBucket() const {
  for (int word = 0; word < 3; ++word) {
    if (non_empty_[word] != 0) return word * 64 + __builtin_ctzll(non_empty_[word]);
  }
  return -1;
}

const EventQueue::Entry* EventQueue::MinimumOf(const Bucket& bucket) const {
  const Entry* best = &bucket.head->entries[0];
  if (bucket.size == 1) return best;
  Key128 best_key = KeyOf(best->time_ns, best->key_slot);
  for (const Block* block = bucket.head; block != nullptr; block = block->next) {
    for (uint32_t i = 0; i < block->count; ++i) {
      const Key128 key = KeyOf(block->entries[i].time_ns, block->entries[i].key_slot);
      const bool better = key < best_key;
      best_key = better ? key : best_key;
      best = better ? &block->entries[i] : best;
    }
  }
  return best;
}

void EventQueue::ReleaseBlocks(Bucket& bucket) {
  Block* block = bucket.head;
  while (block != nullptr) {
    Block* next = block->next;
    block->next = free_blocks_;
    free_blocks_ = block;
    block = next;
  }
  bucket.head = nullptr;
  bucket.size = 0;
}

EventQueue::Entry EventQueue::TakeMinimum(int bucket_index, const Entry* minimum) {
  const Entry taken = *minimum;
  VMBSIM_CHECK(KeyOf(taken.time_ns, taken.key_slot) > KeyOf(ref_time_ns_, ref_key_slot_));
  ref_time_ns_ = taken.time_ns;
  ref_key_slot_ = taken.key_slot;
  Bucket& bucket = buckets_[bucket_index];
  non_empty_[bucket_index >> 6] &= ~(uint64_t{1} << (bucket_index & 63));
  if (bucket.size > 1) {
    // Relative to the new reference every other entry of this bucket differs
    // in a lower bit: move them down. Entries of higher buckets keep their
    // bucket, because the new reference shares their higher bits.
    // Each source block goes back to the free list as soon as it has been
    // read, so a large redistribution needs no more than one extra block.
    Block* block = bucket.head;
    bucket.head = nullptr;
    bucket.size = 0;
    while (block != nullptr) {
      for (uint32_t i = 0; i < block->count; ++i) {
        const Entry& entry = block->entries[i];
        if (&entry == minimum) continue;
        const int target = BucketIndexOf(entry);
        VMBSIM_CHECK_LT(target, bucket_index);
        Append(target, entry);
      }
      Block* next = block->next;
      block->next = free_blocks_;
      free_blocks_ = block;
      block = next;
    }
  } else {
    ReleaseBlocks(bucket);
  }
  --entry_count_;
  return taken;
}

std::vector<EventQueue::Entry> EventQueue::TakeAllEntries() {
  std::vector<Entry> all;
  all.reserve(entry_count_);
  for (Bucket& bucket : buckets_) {
    for (const Block* block = bucket.head; block != nullptr; block = block->next) {
      all.insert(all.end(), block->entries, block->entries + block->count);
    }
    ReleaseBlocks(bucket);
  }
  non_empty_[0] = non_empty_[1] = non_empty_[2] = 0;
  entry_count_ = 0;
  return all;
}

bool EventQueue::Cancel(EventId id) {
  if (!IsPending(id)) return false;
  Slot& slot = SlotAt(id.slot);
  const SlotOp op = slot.op;
  slot.op = nullptr;  // Before destroying: a destructor must not see it pending.
  op(slot.storage, /*invoke=*/false);
  --live_count_;
  ++dead_count_;
  if (dead_count_ >= kDeadEntriesRebuildMin && dead_count_ > live_count_) DropDeadEntries();
  return true;
}

bool EventQueue::IsPending(EventId id) const {
  if (id.generation == 0 || id.slot >= slot_count_) return false;
  const Slot& slot = SlotAt(id.slot);
  return slot.generation == id.generation && slot.op != nullptr;
}

EventQueue::PopResult EventQueue::PopNext(SimTime limit, SimTime* when) {
  VMBSIM_CHECK_EQ(popped_slot_, kNoSlot);  // RunPopped() was not called.
  for (;;) {
    const int bucket_index = LowestNonEmptyBucket();
    if (bucket_index < 0) {
      // Empty: any reference below future keys will do; fall back to the
      // last live event so that discarded cancelled entries due later than
      // the clock do not constrain what may be scheduled next.
      ref_time_ns_ = last_time_ns_ = live_time_ns_;
      ref_key_slot_ = live_key_slot_;
      last_key_ = static_cast<uint32_t>(live_key_slot_ >> 32);
      return PopResult::kEmpty;
    }
    const Entry* minimum = MinimumOf(buckets_[bucket_index]);
    if (limit.nanoseconds() < 0 || minimum->time_ns > static_cast<uint64_t>(limit.nanoseconds())) {
      return PopResult::kBeyondLimit;
    }
    const Entry top = TakeMinimum(bucket_index, minimum);
    const uint32_t index = static_cast<uint32_t>(top.key_slot);
    VMBSIM_CHECK_GE(top.time_ns, last_time_ns_);  // Paired with the check in Push.
    last_time_ns_ = top.time_ns;
    last_key_ = static_cast<uint32_t>(top.key_slot >> 32);
    if (SlotAt(index).op == nullptr) {  // Cancelled.
      --dead_count_;
      ReleaseSlot(index);
      continue;
    }
    live_time_ns_ = top.time_ns;
    live_key_slot_ = top.key_slot;
    popped_slot_ = index;
    --live_count_;
    *when = SimTime::FromNanoseconds(static_cast<int64_t>(top.time_ns));
    return PopResult::kPopped;
  }
}

void EventQueue::RunPopped() {
  VMBSIM_CHECK_NE(popped_slot_, kNoSlot);
  const uint32_t index = popped_slot_;
  popped_slot_ = kNoSlot;
  // Chunks never move, so the storage stays valid while the callable runs
  // and schedules more events. The slot is marked not-pending first so that
  // the event cannot cancel itself, and recycled only after it returns.
  Slot& slot = SlotAt(index);
  const SlotOp op = slot.op;
  slot.op = nullptr;
  op(slot.storage, /*invoke=*/true);
  ReleaseSlot(index);
}

std::optional<SimTime> EventQueue::PeekTime() {
  // Rarely used (reports, progress): a scan that changes nothing, so that
  // peeking never moves the reference key.
  std::optional<Key128> best;
  for (const Bucket& bucket : buckets_) {
    for (const Block* block = bucket.head; block != nullptr; block = block->next) {
      for (uint32_t i = 0; i < block->count; ++i) {
        const Entry& entry = block->entries[i];
        if (SlotAt(static_cast<uint32_t>(entry.key_slot)).op == nullptr) continue;
        const Key128 key = KeyOf(entry.time_ns, entry.key_slot);
        if (!best.has_value() || key < *best) best = key;
      }
    }
    if (best.has_value()) break;  // Lower buckets hold smaller keys.
  }
  if (!best.has_value()) return std::nullopt;
  return SimTime::FromNanoseconds(static_cast<int64_t>(*best >> 64));
}

void EventQueue::DropDeadEntries() {
  std::vector<Entry> all = TakeAllEntries();
  for (const Entry& entry : all) {
    const uint32_t index = static_cast<uint32_t>(entry.key_slot);
    if (SlotAt(index).op == nullptr) {
      ReleaseSlot(index);
    } else {
      Insert(entry);
    }
  }
  dead_count_ = 0;
  VMBSIM_CHECK_EQ(entry_count_, live_count_);
}

void EventQueue::RenumberKeys() {
  // Sort pending entries by (time, key) and give them keys 1..n in that
  // order: the relative order is unchanged, and key 0 (the reference, the
  // event executing now) stays below every pending key of its instant.
  std::vector<Entry> all = TakeAllEntries();
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    return KeyOf(a.time_ns, a.key_slot) < KeyOf(b.time_ns, b.key_slot);
  });
  VMBSIM_CHECK_LT(all.size(), kKeyMax);
  ref_key_slot_ = live_key_slot_ = 0;
  last_key_ = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    all[i].key_slot = (uint64_t{i + 1} << 32) | (all[i].key_slot & kKeyMax);
    Insert(all[i]);
  }
  next_key_ = all.size() + 1;
}

size_t EventQueue::allocated_bytes() const {
  return blocks_.size() * sizeof(Block) + chunks_.size() * kChunkSlots * sizeof(Slot);
}

}  // namespace vmbsim::sim
