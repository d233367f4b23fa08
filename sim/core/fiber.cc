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

#ifdef VMBSIM_FIBER_ASM_X86_64
// vmbsim_fiber_switch(save_sp, load_sp): pushes the callee-saved registers
// (System V: rbp, rbx, r12-r15) and the MXCSR and x87 control words on the
// current stack, stores the stack pointer in *save_sp, switches to load_sp
// and pops the same from there, returning into the other context. A new
// fiber's stack is laid out as if it had switched out at the start of
// vmbsim_fiber_entry, which passes r12 (the Fiber) to FiberEntry.
asm(R"(
  .text
  .p2align 4
  .globl vmbsim_fiber_switch
  .type vmbsim_fiber_switch, @function
vmbsim_fiber_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size vmbsim_fiber_switch, .-vmbsim_fiber_switch

  .p2align 4
  .globl vmbsim_fiber_entry
  .type vmbsim_fiber_entry, @function
vmbsim_fiber_entry:
  movq %r12, %rdi
  call vmbsim_fiber_main
  ud2
  .size vmbsim_fiber_entry, .-vmbsim_fiber_entry
  .section .note.GNU-stack,"",@progbits
  .text
)");

extern "C" void vmbsim_fiber_switch(void** save_sp, void* load_sp);
extern "C" void vmbsim_fiber_entry();
extern "C" [[noreturn]] void vmbsim_fiber_main(void* fiber);
#endif

namespace vmbsim::sim {

void FiberEntry(Fiber* fiber) { fiber->Main(); }

namespace {

thread_local Fiber* current_fiber = nullptr;

// Stacks of finished fibers, of kDefaultStackBytes, for the next fibers of
// this thread: a run that starts thousands of short-lived fibers (a worker
// per channel and side, each finishing when it runs out of jobs) then maps
// and first-touches a few stacks instead of one per fiber. Not under
// AddressSanitizer, whose shadow of a reused stack could still describe the
// previous fiber's frames. Bounded, so a burst of fibers does not keep its
// stacks for ever.
#ifndef VMBSIM_ASAN_FIBERS
constexpr size_t kStackPoolMax = 64;
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
  reinterpret_cast<Fiber*>((uintptr_t{high} << 32) | uintptr_t{low})->Main();
}

void Fiber::Main() {
#ifdef VMBSIM_ASAN_FIBERS
  // First entry on the fiber's stack: finish the switch that started it.
  __sanitizer_finish_switch_fiber(nullptr, &caller_stack_bottom_, &caller_stack_size_);
#endif
  body_();
  finished_ = true;
  SwitchOut();  // Never returns: a finished fiber is not resumed.
  VMBSIM_CHECK(false);
  __builtin_unreachable();
}

void Fiber::Resume() {
  VMBSIM_CHECK_MSG(current_fiber == nullptr, "fibers do not nest");
  VMBSIM_CHECK_MSG(!finished_, "resuming a finished fiber");
  VMBSIM_CHECK(!running_);
  ++resume_count_;
  if (!started_) {
    started_ = true;
#ifdef VMBSIM_FIBER_ASM_X86_64
    // The frame vmbsim_fiber_switch pops, from the 16-byte aligned top down:
    // two words of padding, the return address (vmbsim_fiber_entry, entered
    // with the stack aligned for its call), rbp, rbx, r12 = this, r13-r15,
    // and the control words of the thread now.
    uintptr_t top = reinterpret_cast<uintptr_t>(stack_.get()) + stack_bytes_;
    top &= ~uintptr_t{15};
    uint64_t* sp = reinterpret_cast<uint64_t*>(top);
    *--sp = 0;
    *--sp = 0;
    *--sp = reinterpret_cast<uint64_t>(&vmbsim_fiber_entry);
    *--sp = 0;                                  // rbp
    *--sp = 0;                                  // rbx
    *--sp = reinterpret_cast<uint64_t>(this);  // r12
    *--sp = 0;                                  // r13
    *--sp = 0;                                  // r14
    *--sp = 0;                                  // r15
    uint32_t mxcsr = 0;
    uint16_t fpucw = 0;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    *--sp = uint64_t{mxcsr} | (uint64_t{fpucw} << 32);
    context_sp_ = sp;
#else
    VMBSIM_CHECK_EQ(getcontext(&context_), 0);
    context_.uc_stack.ss_sp = stack_.get();
    context_.uc_stack.ss_size = stack_bytes_;
    context_.uc_link = nullptr;
    const uintptr_t self = reinterpret_cast<uintptr_t>(this);
    makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::Trampoline), 2,
                static_cast<unsigned int>(self >> 32), static_cast<unsigned int>(self & 0xFFFFFFFFu));
#endif
  }
  SwitchIn();
}

void Fiber::SwitchIn() {
  running_ = true;
  current_fiber = this;
#ifdef VMBSIM_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&caller_fake_stack_, stack_.get(), stack_bytes_);
#endif
#ifdef VMBSIM_FIBER_ASM_X86_64
  vmbsim_fiber_switch(&caller_sp_, context_sp_);
#else
  VMBSIM_CHECK_EQ(swapcontext(&caller_, &context_), 0);
#endif
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
#ifdef VMBSIM_FIBER_ASM_X86_64
  vmbsim_fiber_switch(&context_sp_, caller_sp_);
#else
  VMBSIM_CHECK_EQ(swapcontext(&context_, &caller_), 0);
#endif
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

#ifdef VMBSIM_FIBER_ASM_X86_64
extern "C" void vmbsim_fiber_main(void* fiber) {
  vmbsim::sim::FiberEntry(static_cast<vmbsim::sim::Fiber*>(fiber));
  __builtin_unreachable();
}
#endif
