#include "sim/core/fiber.h"

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "sim/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define VMBSIM_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMBSIM_ASAN_FIBERS 1
#endif
#endif

#ifdef VMBSIM_ASAN_FIBERS
#include <sanitizer/common_interface_defs.h>
#endif

namespace vmbsim::sim {
namespace {

thread_local Fiber* current_fiber = nullptr;

// Stacks of finished fibers, of kDefaultStackBytes, for the next fibers of
// this thread: a run that starts thousands of short-lived fibers (a worker
// per channel and side, each finishing when it runs out of jobs) then maps
// and first-touches a few stacks instead of one per fiber. Not under
// AddressSanitizer, whose shadow of a reused stack could still describe the
// previous fiber's frames. Bounded, so a burst of fibers does not keep its
// stacks for ever.
constexpr size_t kStackPoolMax = 64;
#ifndef VMBSIM_ASAN_FIBERS
thread_local std::vector<std::unique_ptr<char[]>> stack_pool;
#endif

std::unique_ptr<char[]> TakeStack(size_t stack_bytes) {
#ifndef VMBSIM_ASAN_FIBERS
  if (stack_bytes == Fiber::kDefaultStackBytes && !stack_pool.empty()) {
    std::unique_ptr<char[]> stack = std::move(stack_pool.back());
    stack_pool.pop_back();
    return stack;
  }
#endif
  return std::unique_ptr<char[]>(new char[stack_bytes]);
}

void GiveBackStack(std::unique_ptr<char[]> stack, size_t stack_bytes) {
#ifndef VMBSIM_ASAN_FIBERS
  if (stack_bytes == Fiber::kDefaultStackBytes && stack_pool.size() < kStackPoolMax) {
    stack_pool.push_back(std::move(stack));
  }
#endif
}

}  // namespace

Fiber::Fiber(std::function<void()> body, size_t stack_bytes)
    : body_(std::move(body)), stack_(TakeStack(stack_bytes)), stack_bytes_(stack_bytes) {
  VMBSIM_CHECK(body_ != nullptr);
  VMBSIM_CHECK_GE(stack_bytes, size_t{16 * 1024});
}

Fiber::~Fiber() {
  // A fiber destroyed while suspended mid-body never resumes: its stack is
  // freed without unwinding (objects on it are not destroyed). Callers
  // finish or abandon fibers only at the end of a simulation. A finished
  // fiber's stack (or one never started) is reused.
  VMBSIM_CHECK(!running_);
  if (finished_ || !started_) GiveBackStack(std::move(stack_), stack_bytes_);
}

Fiber* Fiber::Current() { return current_fiber; }

void Fiber::Trampoline(unsigned int high, unsigned int low) {
  Fiber* self = reinterpret_cast<Fiber*>((uintptr_t{high} << 32) | uintptr_t{low});
#ifdef VMBSIM_ASAN_FIBERS
  // First entry on the fiber's stack: finish the switch that started it.
  __sanitizer_finish_switch_fiber(nullptr, &self->caller_stack_bottom_, &self->caller_stack_size_);
#endif
  self->body_();
  self->finished_ = true;
  self->SwitchOut();  // Never returns: a finished fiber is not resumed.
  VMBSIM_CHECK(false);
}

void Fiber::Resume() {
  VMBSIM_CHECK_MSG(current_fiber == nullptr, "fibers do not nest");
  VMBSIM_CHECK_MSG(!finished_, "resuming a finished fiber");
  VMBSIM_CHECK(!running_);
  ++resume_count_;
  if (!started_) {
    started_ = true;
    VMBSIM_CHECK_EQ(getcontext(&context_), 0);
    context_.uc_stack.ss_sp = stack_.get();
    context_.uc_stack.ss_size = stack_bytes_;
    context_.uc_link = nullptr;
    const uintptr_t self = reinterpret_cast<uintptr_t>(this);
    makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::Trampoline), 2,
                static_cast<unsigned int>(self >> 32), static_cast<unsigned int>(self & 0xFFFFFFFFu));
  }
  SwitchIn();
}

void Fiber::SwitchIn() {
  running_ = true;
  current_fiber = this;
#ifdef VMBSIM_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&caller_fake_stack_, stack_.get(), stack_bytes_);
#endif
  VMBSIM_CHECK_EQ(swapcontext(&caller_, &context_), 0);
#ifdef VMBSIM_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(caller_fake_stack_, nullptr, nullptr);
#endif
  // Back on the caller's stack: the fiber suspended or finished.
  current_fiber = nullptr;
  running_ = false;
}

void Fiber::SwitchOut() {
#ifdef VMBSIM_ASAN_FIBERS
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(finished_ ? nullptr : &fake_stack, caller_stack_bottom_, caller_stack_size_);
#endif
  VMBSIM_CHECK_EQ(swapcontext(&context_, &caller_), 0);
#ifdef VMBSIM_ASAN_FIBERS
  // Resumed: back on this fiber's stack.
  __sanitizer_finish_switch_fiber(fake_stack, &caller_stack_bottom_, &caller_stack_size_);
#endif
}

void Fiber::Suspend() {
  Fiber* self = current_fiber;
  VMBSIM_CHECK_MSG(self != nullptr, "only a fiber can suspend");
  self->SwitchOut();
}

}  // namespace vmbsim::sim
