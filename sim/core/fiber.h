// fiber.h
//
// Fibers: code that can block in virtual time. DESIGN.md: driver code at
// PASSIVE level runs on a fiber, a separate stack the run loop switches to
// and from, so that a blocking call (a synchronous request, a pause, a
// disable) suspends the fiber until a simulated event resumes it, and virtual
// time passes meanwhile. Only one fiber runs at a time, and always because
// an event resumed it, so blocking stays deterministic.
//
// `Fiber` is the mechanism: a stack switch (on x86-64 a few instructions of
// its own that save and restore the callee-saved registers and the
// floating-point control words, without the signal-mask system calls of
// swapcontext, which made a switch cost about a microsecond; elsewhere
// ucontext; under AddressSanitizer the switches are announced to it so its
// stack bookkeeping follows). It
// knows nothing of simulators: whoever resumes a fiber decides when, and a
// fiber blocks by calling `Fiber::Suspend()`, which returns when someone
// resumes it again. A body that returns finishes the fiber.
//
// Rules (checked): Resume() only from outside any fiber (the run loop, an
// event) and only on a suspended, unfinished fiber; Suspend() only from
// inside a fiber. Fibers do not nest. Not thread-safe: a fiber belongs to one
// simulation's thread.

#ifndef VMBSIM_SIM_CORE_FIBER_H_
#define VMBSIM_SIM_CORE_FIBER_H_

#if defined(__x86_64__) && !defined(VMBSIM_FIBER_UCONTEXT)
#define VMBSIM_FIBER_ASM_X86_64 1
#else
#include <ucontext.h>
#endif

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace vmbsim::sim {

class Fiber {
 public:
  static constexpr size_t kDefaultStackBytes = 256 * 1024;

  // Creates a suspended fiber that will run `body` when first resumed.
  explicit Fiber(std::function<void()> body, size_t stack_bytes = kDefaultStackBytes);
  ~Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;

  // Switches to the fiber until it suspends or finishes.
  // REQUIRES: not inside a fiber; !finished(); the fiber is not running.
  void Resume();

  // From inside a running fiber: switches back to whoever resumed it.
  // Returns when the fiber is resumed again. REQUIRES: InFiber().
  static void Suspend();

  // The fiber running on this thread, or null outside fibers.
  static Fiber* Current();
  static bool InFiber() { return Current() != nullptr; }

  bool finished() const { return finished_; }
  bool running() const { return running_; }
  uint64_t resume_count() const { return resume_count_; }

 private:
  static void Trampoline(unsigned int high, unsigned int low);
  // Runs the body on the fiber's stack, then switches out for good.
  [[noreturn]] void Main();
  void SwitchIn();
  void SwitchOut();
  friend void FiberEntry(Fiber* fiber);

  std::function<void()> body_;
  std::unique_ptr<char[]> stack_;
  size_t stack_bytes_;
#ifdef VMBSIM_FIBER_ASM_X86_64
  void* context_sp_ = nullptr;  // The fiber's saved stack pointer while it is switched out.
  void* caller_sp_ = nullptr;   // The resumer's, while the fiber runs.
#else
  ucontext_t context_;
  ucontext_t caller_;
#endif
  bool started_ = false;
  bool running_ = false;
  bool finished_ = false;
  uint64_t resume_count_ = 0;
  // AddressSanitizer's fake-stack handles for the two directions.
  void* caller_fake_stack_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  size_t caller_stack_size_ = 0;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_FIBER_H_
