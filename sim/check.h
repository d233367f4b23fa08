// check.h
//
// Always-on assertions for simulator invariants, and the status-propagation
// macros. A failed VMBSIM_CHECK means a bug in vmbsim itself (never bad input:
// input goes through validation to an absl::Status), so it aborts the process
// after printing the failed condition together with the seed and the virtual
// time of the simulation that was running, so that the failure replays.
//
// The seed and time come from a per-thread CheckContext that the run loop
// installs (sim::Simulator does it); code outside a run prints "seed=? t=?".
//
// VMBSIM_RETURN_IF_ERROR / VMBSIM_ASSIGN_OR_RETURN live here because the
// pinned Abseil (20220623) has no status_macros.h.

#ifndef VMBSIM_SIM_CHECK_H_
#define VMBSIM_SIM_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace vmbsim {

// What a failed check reports about the run in progress. The run loop points
// the per-thread context at its own seed and clock for the duration of a run.
struct CheckContext {
  uint64_t seed = 0;
  const int64_t* now_ns = nullptr;  // Null when no simulation is running.
};

// Installs `context` as this thread's check context until destroyed, then
// restores the previous one. Scopes nest.
class ScopedCheckContext {
 public:
  explicit ScopedCheckContext(const CheckContext* context);
  ~ScopedCheckContext();
  ScopedCheckContext(const ScopedCheckContext&) = delete;
  ScopedCheckContext& operator=(const ScopedCheckContext&) = delete;

 private:
  const CheckContext* previous_;
};

namespace check_internal {

// Prints "vmbsim CHECK failed at file:line: message (seed=.. t=..ns)" to
// stderr and aborts.
[[noreturn]] void Fail(const char* file, int line, const std::string& message);

template <typename A, typename B>
std::string FormatOp(const char* expr_a, const char* op, const char* expr_b,
                     const A& a, const B& b) {
  return absl::StrCat(expr_a, " ", op, " ", expr_b, " (", a, " vs ", b, ")");
}

// The failure paths of the macros below, out of line: building the message
// inline would give every function with a check a frame for string
// temporaries and a stack-protector canary, and keep it from being inlined
// (in the event kernel that was most of the cost of an event). The operands
// are taken by value (copied only on failure), so that the caller need not
// keep them in memory.
template <typename A, typename B>
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void FailOp(
    const char* file, int line, const char* expr_a, const char* op,
    const char* expr_b, A a, B b) {
  Fail(file, line, FormatOp(expr_a, op, expr_b, a, b));
}

// `message` returns the message's text; it runs only on failure.
template <typename MessageFn>
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void FailWith(
    const char* file, int line, const char* cond, const MessageFn& message) {
  Fail(file, line, absl::StrCat(cond, ": ", message()));
}

}  // namespace check_internal
}  // namespace vmbsim

#define VMBSIM_CHECK(cond)                                                    \
  do {                                                                        \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                        \
      ::vmbsim::check_internal::Fail(__FILE__, __LINE__, #cond);              \
    }                                                                         \
  } while (0)

#define VMBSIM_CHECK_MSG(cond, message)                                       \
  do {                                                                        \
    if (ABSL_PREDICT_FALSE(!(cond))) {                                        \
      ::vmbsim::check_internal::FailWith(                                     \
          __FILE__, __LINE__, #cond,                                          \
          [&] { return ::absl::StrCat(message); });                           \
    }                                                                         \
  } while (0)

#define VMBSIM_CHECK_OP_(a, op, b)                                            \
  do {                                                                        \
    const auto& vmbsim_check_a_ = (a);                                        \
    const auto& vmbsim_check_b_ = (b);                                        \
    if (ABSL_PREDICT_FALSE(!(vmbsim_check_a_ op vmbsim_check_b_))) {          \
      ::vmbsim::check_internal::FailOp(__FILE__, __LINE__, #a, #op, #b,       \
                                       vmbsim_check_a_, vmbsim_check_b_);     \
    }                                                                         \
  } while (0)

#define VMBSIM_CHECK_EQ(a, b) VMBSIM_CHECK_OP_(a, ==, b)
#define VMBSIM_CHECK_NE(a, b) VMBSIM_CHECK_OP_(a, !=, b)
#define VMBSIM_CHECK_LT(a, b) VMBSIM_CHECK_OP_(a, <, b)
#define VMBSIM_CHECK_LE(a, b) VMBSIM_CHECK_OP_(a, <=, b)
#define VMBSIM_CHECK_GT(a, b) VMBSIM_CHECK_OP_(a, >, b)
#define VMBSIM_CHECK_GE(a, b) VMBSIM_CHECK_OP_(a, >=, b)

// O(n) whole-state validation. On in every build of vmbsim today (this is a
// test tool); kept as a separate name so that it can be gated later.
#define VMBSIM_DCHECK(cond) VMBSIM_CHECK(cond)

#define VMBSIM_STATUS_CONCAT_INNER_(a, b) a##b
#define VMBSIM_STATUS_CONCAT_(a, b) VMBSIM_STATUS_CONCAT_INNER_(a, b)

#define VMBSIM_RETURN_IF_ERROR(expr)                                          \
  do {                                                                        \
    const ::absl::Status vmbsim_status_ = (expr);                             \
    if (ABSL_PREDICT_FALSE(!vmbsim_status_.ok())) return vmbsim_status_;      \
  } while (0)

#define VMBSIM_ASSIGN_OR_RETURN(lhs, expr)                                    \
  VMBSIM_ASSIGN_OR_RETURN_IMPL_(                                              \
      VMBSIM_STATUS_CONCAT_(vmbsim_statusor_, __LINE__), lhs, expr)

#define VMBSIM_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)                    \
  auto statusor = (expr);                                                     \
  if (ABSL_PREDICT_FALSE(!statusor.ok())) return statusor.status();           \
  lhs = std::move(statusor).value()

#endif  // VMBSIM_SIM_CHECK_H_
