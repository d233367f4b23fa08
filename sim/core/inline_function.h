// inline_function.h
//
// `InlineFunction`: a move-only `void()` callable stored inline in 24 bytes,
// for work queues on per-event paths (a VP's DPC and passive queues) where a
// heap allocation per item would dominate. A callable that does not fit is a
// compile-time error, as for events: capture a pointer to larger state.
// Moving an InlineFunction moves the callable: its move constructor runs, or,
// for a trivially copyable callable, its bytes are copied.

#ifndef VMBSIM_SIM_CORE_INLINE_FUNCTION_H_
#define VMBSIM_SIM_CORE_INLINE_FUNCTION_H_

#include <cstddef>
#include <cstring>
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
    ops_ = &kOpsFor<Fn>;
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
    ops_->invoke(storage_);
  }

  void Reset() {
    if (ops_ != nullptr) {
      if (ops_->destroy != nullptr) ops_->destroy(storage_);
      ops_ = nullptr;
    }
  }

 private:
  // What a stored callable needs done. A callable that is trivially copyable
  // and destructible (most: lambdas capturing pointers and numbers) has no
  // `relocate` nor `destroy`: a move copies its bytes and nothing destroys
  // it, so moving items through a queue costs no indirect call.
  struct Ops {
    void (*invoke)(void* self);
    void (*relocate)(void* self, void* target);  // Move-constructs at `target`, destroys `self`.
    void (*destroy)(void* self);
  };

  template <typename Fn>
  static Fn* As(void* self) {
    return std::launder(static_cast<Fn*>(self));
  }

  // Trivially copyable implies a trivial destructor.
  template <typename Fn>
  static constexpr bool kTrivial = std::is_trivially_copyable_v<Fn>;

  template <typename Fn>
  static constexpr Ops kOpsFor = {
      .invoke = [](void* self) { (*As<Fn>(self))(); },
      .relocate = kTrivial<Fn> ? nullptr
                               : +[](void* self, void* target) {
                                   ::new (target) Fn(std::move(*As<Fn>(self)));
                                   As<Fn>(self)->~Fn();
                                 },
      .destroy = kTrivial<Fn> ? nullptr : +[](void* self) { As<Fn>(self)->~Fn(); },
  };

  void MoveFrom(InlineFunction& other) {
    ops_ = other.ops_;
    if (ops_ == nullptr) return;
    if (ops_->relocate == nullptr) {
      std::memcpy(storage_, other.storage_, kInlineBytes);
    } else {
      ops_->relocate(other.storage_, storage_);
    }
    other.ops_ = nullptr;
  }

  const Ops* ops_ = nullptr;
  alignas(8) unsigned char storage_[kInlineBytes];
};

static_assert(sizeof(InlineFunction) == 32);

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_INLINE_FUNCTION_H_
