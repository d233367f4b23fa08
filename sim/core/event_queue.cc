#include "sim/core/event_queue.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace vmbsim::sim {
namespace {

// Rebuild the buckets without cancelled entries once they are this many and
// outnumber the live ones.
constexpr size_t kDeadEntriesRebuildMin = 4096;

}  // namespace

EventQueue::EventQueue() = default;

EventQueue::~EventQueue() {
  // Destroys the pending callables in place (no allocation: a copy of every
  // entry would be the process's peak memory at the end of a large run).
  const auto destroy = [this](const Entry& entry) {
    const uint32_t index = static_cast<uint32_t>(entry.key_slot);
    const SlotOp op = SlotAt(index).op;
    if (op != nullptr) op(this, index, /*invoke=*/false);
  };
  for (const Entry& entry : front_) destroy(entry);
  for (const Bucket& bucket : buckets_) {
    for (const Block* block = bucket.head; block != nullptr; block = block->next) {
      for (uint32_t i = 0; i < block->count; ++i) destroy(block->entries[i]);
    }
  }
}

void EventQueue::EnableTieBreak(Prng prng) {
  VMBSIM_CHECK_EQ(entry_count_, 0u);
  tie_break_.emplace(std::move(prng));
}

uint32_t EventQueue::NextTieBreakKey(uint64_t time_ns) {
  if (time_ns > last_time_ns_) {
    return static_cast<uint32_t>(tie_break_->Below(kTieBreakSpan));
  }
  // Scheduled for the executing instant: sort after the running event.
  if (kKeyMax - (last_key_slot_ >> 32) < 2) RenumberKeys();
  const uint64_t last_key = last_key_slot_ >> 32;
  const uint64_t room = kKeyMax - last_key;
  return static_cast<uint32_t>(last_key + 1 + tie_break_->Below(std::min(room, kTieBreakSpan)));
}

EventQueue::Block* EventQueue::NewHeadBlock(Bucket& bucket) {
  Block* block = free_blocks_;
  if (block != nullptr) {
    free_blocks_ = block->next;
  } else {
    blocks_.push_back(std::make_unique<Block>());
    block = blocks_.back().get();
  }
  block->count = 0;
  block->next = bucket.head;
  bucket.head = block;
  return block;
}

void EventQueue::ClearNonEmpty(int bucket_index) {
  uint64_t& word = non_empty_[bucket_index >> 6];
  word &= ~(uint64_t{1} << (bucket_index & 63));
  if (word == 0) non_empty_words_ &= ~(uint64_t{1} << (bucket_index >> 6));
}

int EventQueue::LowestNonEmptyBucket() const {
  if (non_empty_words_ == 0) return -1;
  const int word = __builtin_ctzll(non_empty_words_);
  return word * 64 + __builtin_ctzll(non_empty_[word]);
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
  ClearNonEmpty(bucket_index);
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

void EventQueue::MoveBucketToFront(int bucket_index) {
  VMBSIM_CHECK(front_.empty());
  Bucket& bucket = buckets_[bucket_index];
  for (const Block* block = bucket.head; block != nullptr; block = block->next) {
    front_.insert(front_.end(), block->entries, block->entries + block->count);
  }
  ReleaseBlocks(bucket);
  ClearNonEmpty(bucket_index);
  std::sort(front_.begin(), front_.end(), [](const Entry& a, const Entry& b) {
    return KeyOf(a.time_ns, a.key_slot) > KeyOf(b.time_ns, b.key_slot);
  });
  // The other buckets keep their indices relative to the new reference: it
  // shares every digit above this bucket's level with the old one, and this
  // bucket's digit, which is below theirs at this level.
  VMBSIM_CHECK(KeyOf(front_[0].time_ns, front_[0].key_slot) > KeyOf(ref_time_ns_, ref_key_slot_));
  ref_time_ns_ = front_[0].time_ns;
  ref_key_slot_ = front_[0].key_slot;
}

std::vector<EventQueue::Entry> EventQueue::TakeAllEntries() {
  std::vector<Entry> all;
  all.reserve(entry_count_);
  all.insert(all.end(), front_.begin(), front_.end());
  front_.clear();
  ref_time_ns_ = last_time_ns_;
  ref_key_slot_ = last_key_slot_;
  for (Bucket& bucket : buckets_) {
    for (const Block* block = bucket.head; block != nullptr; block = block->next) {
      all.insert(all.end(), block->entries, block->entries + block->count);
    }
    ReleaseBlocks(bucket);
  }
  for (uint64_t& word : non_empty_) word = 0;
  non_empty_words_ = 0;
  entry_count_ = 0;
  return all;
}

bool EventQueue::Cancel(EventId id) {
  if (!IsPending(id)) return false;
  Slot& slot = SlotAt(id.slot);
  const SlotOp op = slot.op;
  slot.op = nullptr;  // Before destroying: a destructor must not see it pending.
  op(this, id.slot, /*invoke=*/false);
  --live_count_;
  ++dead_count_;
  if (dead_count_ >= kDeadEntriesRebuildMin && dead_count_ > live_count_) DropDeadEntries();
  return true;
}

bool EventQueue::IsPending(EventId id) const {
  if (id.generation == 0 || id.slot >= slot_count_) return false;
  return GenerationAt(id.slot) == id.generation && SlotAt(id.slot).op != nullptr;
}

EventQueue::PopResult EventQueue::PopNextSlow(SimTime limit, SimTime* when) {
  VMBSIM_CHECK_EQ(popped_slot_, kNoSlot);  // RunPopped() was not called.
  const uint64_t limit_ns = static_cast<uint64_t>(std::max<int64_t>(limit.nanoseconds(), -1));
  const bool limit_negative = limit.nanoseconds() < 0;
  for (;;) {
    Entry top;
    if (front_.empty()) {
      const int bucket_index = LowestNonEmptyBucket();
      if (bucket_index < 0) {
        // Empty: any reference below future keys will do; fall back to the
        // last live event so that discarded cancelled entries due later
        // than the clock do not constrain what may be scheduled next.
        ref_time_ns_ = last_time_ns_ = live_time_ns_;
        ref_key_slot_ = last_key_slot_ = live_key_slot_;
        return PopResult::kEmpty;
      }
      if (buckets_[bucket_index].size <= kFrontBatchMax) {
        MoveBucketToFront(bucket_index);
        continue;
      }
      const Entry* minimum = MinimumOf(buckets_[bucket_index]);
      if (limit_negative || minimum->time_ns > limit_ns) return PopResult::kBeyondLimit;
      __builtin_prefetch(&SlotAt(static_cast<uint32_t>(minimum->key_slot)));
      top = TakeMinimum(bucket_index, minimum);
    } else {
      top = front_.back();
      if (limit_negative || top.time_ns > limit_ns) return PopResult::kBeyondLimit;
      front_.pop_back();
      --entry_count_;
      if (!front_.empty()) __builtin_prefetch(&SlotAt(static_cast<uint32_t>(front_.back().key_slot)));
    }
    const uint32_t index = static_cast<uint32_t>(top.key_slot);
    VMBSIM_CHECK_GE(top.time_ns, last_time_ns_);  // Paired with the check in Push.
    last_time_ns_ = top.time_ns;
    last_key_slot_ = top.key_slot;
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

std::optional<SimTime> EventQueue::PeekTime() {
  // Rarely used (reports, progress): a scan that changes nothing, so that
  // peeking never moves the reference key.
  std::optional<Key128> best;
  for (auto it = front_.rbegin(); it != front_.rend(); ++it) {
    if (SlotAt(static_cast<uint32_t>(it->key_slot)).op != nullptr) {
      return SimTime::FromNanoseconds(static_cast<int64_t>(it->time_ns));
    }
  }
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
  ref_key_slot_ = last_key_slot_ = live_key_slot_ = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    all[i].key_slot = (uint64_t{i + 1} << 32) | (all[i].key_slot & kKeyMax);
    Insert(all[i]);
  }
  next_key_ = all.size() + 1;
}

size_t EventQueue::allocated_bytes() const {
  return blocks_.size() * sizeof(Block) + chunks_.size() * sizeof(SlotChunk);
}

}  // namespace vmbsim::sim
