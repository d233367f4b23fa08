// inline_function.h
//
// `InlineFunction`: a move-only `void()` callable stored inline in 24 bytes,
// for work queues on per-event paths (a VP's DPC and passive queues) where a
// heap allocation per item would dominate. A callable that does not fit is a
// compile-time error, as for events: capture a pointer to larger state.
// Moving an InlineFunction moves the callable (its move constructor runs).

#ifndef VMBSIM_SIM_CORE_INLINE_FUNCTION_H_
#define VMBSIM_SIM_CORE_INLINE_FUNCTION_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "sim/check.h"

namespace vmbsim::sim {

class InlineFunction {
 public:
  static constexpr size_t kInlineBytes = 24;

  InlineFunction() = default;

  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, InlineFunction>>>
  InlineFunction(F&& fn) {  // NOLINT: implicit, like std::function.
    using Fn = std::decay_t<F>;
    static_assert(sizeof(Fn) <= kInlineBytes,
                  "callable too large: capture at most 24 bytes (e.g. a pointer to the state it needs)");
    static_assert(alignof(Fn) <= 8, "callable over-aligned");
    static_assert(std::is_invocable_v<Fn&>, "callable must take no arguments");
    ::new (static_cast<void*>(storage_)) Fn(std::forward<F>(fn));
    ops_ = &OpsFor<Fn>;
  }

  InlineFunction(InlineFunction&& other) noexcept { MoveFrom(other); }
  InlineFunction& operator=(InlineFunction&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(other);
    }
    return *this;
  }
  InlineFunction(const InlineFunction&) = delete;
  InlineFunction& operator=(const InlineFunction&) = delete;
  ~InlineFunction() { Reset(); }

  explicit operator bool() const { return ops_ != nullptr; }

  // REQUIRES: holds a callable.
  void operator()() {
    VMBSIM_CHECK(ops_ != nullptr);
    ops_(Op::kInvoke, storage_, nullptr);
  }

  void Reset() {
    if (ops_ != nullptr) {
      ops_(Op::kDestroy, storage_, nullptr);
      ops_ = nullptr;
    }
  }

 private:
  enum class Op { kInvoke, kDestroy, kMoveTo };
  using Ops = void (*)(Op op, void* self, void* target);

  template <typename Fn>
  static void OpsFor(Op op, void* self, void* target) {
    Fn* fn = std::launder(static_cast<Fn*>(self));
    switch (op) {
      case Op::kInvoke:
        (*fn)();
        break;
      case Op::kDestroy:
        fn->~Fn();
        break;
      case Op::kMoveTo:
        ::new (target) Fn(std::move(*fn));
        fn->~Fn();
        break;
    }
  }

  void MoveFrom(InlineFunction& other) {
    if (other.ops_ == nullptr) return;
    other.ops_(Op::kMoveTo, other.storage_, storage_);
    ops_ = other.ops_;
    other.ops_ = nullptr;
  }

  Ops ops_ = nullptr;
  alignas(8) unsigned char storage_[kInlineBytes];
};

static_assert(sizeof(InlineFunction) == 32);

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_INLINE_FUNCTION_H_
