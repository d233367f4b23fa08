#include "sim/check.h"

#include <cstdio>
#include <cstdlib>

namespace vmbsim {
namespace {

thread_local const CheckContext* current_context = nullptr;

}  // namespace

ScopedCheckContext::ScopedCheckContext(const CheckContext* context)
    : previous_(current_context) {
  current_context = context;
}

ScopedCheckContext::~ScopedCheckContext() { current_context = previous_; }

namespace check_internal {

void Fail(const char* file, int line, const std::string& message) {
  std::string where = "seed=? t=?";
  if (current_context != nullptr) {
    where = absl::StrCat("seed=", current_context->seed, " t=",
                         current_context->now_ns != nullptr
                             ? absl::StrCat(*current_context->now_ns, "ns")
                             : std::string("?"));
  }
  std::fprintf(stderr, "vmbsim CHECK failed at %s:%d: %s (%s)\n", file, line,
               message.c_str(), where.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace check_internal
}  // namespace vmbsim
