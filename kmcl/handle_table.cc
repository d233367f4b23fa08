// handle_table.cc

#include "kmcl/handle_table.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmcl/ntstatus.h"
#include "sim/check.h"

namespace vmbsim::kmcl {

const char* HandleStateName(HandleState state) {
  switch (state) {
    case HandleState::kLive:
      return "live";
    case HandleState::kNull:
      return "null";
    case HandleState::kNotAHandle:
      return "not_a_handle";
    case HandleState::kForeign:
      return "foreign";
    case HandleState::kNeverIssued:
      return "never_issued";
    case HandleState::kStale:
      return "stale";
  }
  return "unknown";
}

uint64_t EncodeHandle(uint16_t tag, uint32_t generation, uint32_t slot) {
  VMBSIM_CHECK_GE(tag, 1);
  VMBSIM_CHECK_LE(tag, kHandleTagMax);
  VMBSIM_CHECK_LE(generation, kHandleGenerationMax);
  VMBSIM_CHECK_LT(slot, kHandleSlotCountMax);
  const uint64_t handle = EncodeHandleInRange(tag, generation, slot);
  // Decoding gives the fields back (paired with the accessors in the header).
  VMBSIM_CHECK_EQ(HandleTagBits(handle), tag);
  VMBSIM_CHECK_EQ(HandleGenerationBits(handle), generation);
  VMBSIM_CHECK_EQ(HandleSlotBits(handle), slot);
  return handle;
}

void LiveSlotWithoutObject(const std::string& kind_name, uint64_t handle) {
  VMBSIM_CHECK_MSG(false, absl::StrFormat("%s handle 0x%016X is live but its slot holds no object",
                                          kind_name, handle));
}

HandleAllocator::HandleAllocator(uint16_t tag, absl::string_view kind_name,
                                 uint32_t slot_count_max)
    : tag_(tag), kind_name_(kind_name), slot_count_max_(slot_count_max) {
  VMBSIM_CHECK_GE(tag, 1);
  VMBSIM_CHECK_LE(tag, kHandleTagMax);
  VMBSIM_CHECK_GE(slot_count_max, 1u);
  VMBSIM_CHECK_LE(slot_count_max, kHandleSlotCountMax);
}

absl::Status HandleAllocator::FullError() const {
  return absl::ResourceExhaustedError(absl::StrCat(kind_name_, " handle table full: ", size(), " live and ",
                                                   retired_slot_count_, " retired of ", slot_count_max_, " slots"));
}

HandleState HandleAllocator::Classify(uint64_t handle) const {
  if (handle == 0) return HandleState::kNull;
  if (HandleMarkerBits(handle) != kHandleMarker) return HandleState::kNotAHandle;
  if (HandleTagBits(handle) != tag_) return HandleState::kForeign;
  const uint32_t slot_index = HandleSlotBits(handle);
  if (slot_index >= slots_.size()) return HandleState::kNeverIssued;
  const Slot& slot = slots_[slot_index];
  const uint32_t generation = HandleGenerationBits(handle);
  // A live slot's generation is the live handle's; a free slot's is the next
  // one to issue, and a retired slot's (kHandleGenerationMax) was issued.
  //   generation <  slot.generation: issued earlier, since removed.
  //   generation == slot.generation: live, or not issued yet, or retired.
  //   generation >  slot.generation: not issued yet.
  if (generation < slot.generation) return HandleState::kStale;
  if (generation > slot.generation) return HandleState::kNeverIssued;
  if (slot.live) return HandleState::kLive;
  return slot.retired ? HandleState::kStale : HandleState::kNeverIssued;
}

std::string HandleAllocator::DescribeInvalid(uint64_t handle, HandleState state) const {
  const std::string value = absl::StrFormat("0x%016X", handle);
  switch (state) {
    case HandleState::kNull:
      return absl::StrCat(kind_name_, " handle is NULL");
    case HandleState::kNotAHandle:
      return absl::StrCat(kind_name_, " handle ", value,
                          " is not a vmbsim handle (a pointer or garbage)");
    case HandleState::kForeign:
      return absl::StrCat(kind_name_, " handle ", value, " is foreign: it has tag ",
                          HandleTagBits(handle), ", the ", kind_name_, " table's tag is ", tag_);
    case HandleState::kNeverIssued:
      return absl::StrCat(kind_name_, " handle ", value, " was never issued (slot ",
                          HandleSlotBits(handle), " generation ",
                          HandleGenerationBits(handle), ")");
    case HandleState::kStale:
      return absl::StrCat(kind_name_, " handle ", value, " is stale: slot ",
                          HandleSlotBits(handle), " generation ", HandleGenerationBits(handle),
                          " was already freed");
    case HandleState::kLive:
      break;
  }
  VMBSIM_CHECK_MSG(false, "DescribeInvalid called for a live handle");
  return "";
}

absl::StatusOr<uint32_t> HandleAllocator::Resolve(uint64_t handle) const {
  uint32_t slot_index = 0;
  if (LiveSlot(handle, &slot_index)) return slot_index;
  // The miss: classify it for the message.
  const HandleState state = Classify(handle);
  VMBSIM_CHECK(state != HandleState::kLive);
  return InvalidHandleError(DescribeInvalid(handle, state));
}

void HandleAllocator::RetireSlot(Slot& slot) {
  slot.retired = true;
  ++retired_slot_count_;
}

void HandleAllocator::ForEachLive(
    absl::FunctionRef<void(uint64_t handle, uint32_t slot)> fn) const {
  ++iteration_depth_;
  for (uint32_t slot_index = first_live_; slot_index != kNoSlot; slot_index = slots_[slot_index].next) {
    const Slot& slot = slots_[slot_index];
    VMBSIM_CHECK(slot.live);
    fn(EncodeHandle(tag_, slot.generation, slot_index), slot_index);
  }
  --iteration_depth_;
}

std::vector<uint64_t> HandleAllocator::HandlesInIssueOrder() const {
  std::vector<uint64_t> handles;
  handles.reserve(live_count_);
  ForEachLive([&](uint64_t handle, uint32_t) { handles.push_back(handle); });
  return handles;
}

void HandleAllocator::SetSlotGenerationForTest(uint32_t slot, uint32_t generation) {
  VMBSIM_CHECK_LT(slot, slots_.size());
  VMBSIM_CHECK(!slots_[slot].live);
  VMBSIM_CHECK(!slots_[slot].retired);
  VMBSIM_CHECK_LE(generation, kHandleGenerationMax);
  slots_[slot].generation = generation;
}

}  // namespace vmbsim::kmcl
