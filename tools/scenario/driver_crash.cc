#include "tools/scenario/driver_crash.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>

#include "kmcl/runtime.h"

namespace vmbsim::scenario {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
constexpr size_t kAltStackBytes = 64 * 1024;

struct sigaction previous_actions[sizeof(kSignals) / sizeof(kSignals[0])];
bool installed = false;
alignas(16) char alt_stack[kAltStackBytes];
// The plugin entry point running now, outside any KMCL callback.
const char* plugin_entry = nullptr;

// A line built without allocating (async-signal-safe).
class Line {
 public:
  void Add(const char* s) {
    while (*s != '\0' && length_ + 1 < sizeof(buffer_)) buffer_[length_++] = *s++;
  }
  void Add(int64_t v) {
    char digits[24];
    size_t n = 0;
    const bool negative = v < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (negative) Add("-");
    while (n > 0 && length_ + 1 < sizeof(buffer_)) buffer_[length_++] = digits[--n];
  }
  void Write() const {
    size_t done = 0;
    while (done < length_) {
      const ssize_t n = write(STDERR_FILENO, buffer_ + done, length_ - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

 private:
  char buffer_[512];
  size_t length_ = 0;
};

const char* SignalName(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV (a bad memory access, or a stack overflow)";
    case SIGBUS:
      return "SIGBUS (a bad memory access)";
    case SIGFPE:
      return "SIGFPE (an arithmetic fault, e.g. a division by zero)";
    case SIGILL:
      return "SIGILL (an illegal instruction)";
  }
  return "a fatal signal";
}

void OnFault(int sig, siginfo_t* info, void* ucontext) {
  // A plugin entry point is the more precise name: the runner calls it from
  // a PASSIVE job of its own.
  const kmcl::Runtime* runtime = kmcl::Runtime::Current();
  const kmcl::Runtime::DriverCode code =
      runtime != nullptr ? runtime->DriverCodeRunning() : kmcl::Runtime::DriverCode{};
  const char* where = plugin_entry != nullptr ? plugin_entry : code.callback;
  if (where == nullptr) {
    // Not driver code: whoever handled this before us, as if we were not here.
    for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); ++i) {
      if (kSignals[i] != sig) continue;
      const struct sigaction& before = previous_actions[i];
      if ((before.sa_flags & SA_SIGINFO) != 0 && before.sa_sigaction != nullptr) {
        before.sa_sigaction(sig, info, ucontext);
        return;
      }
      if (before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN && before.sa_handler != nullptr) {
        before.sa_handler(sig);
        return;
      }
    }
    signal(sig, SIG_DFL);  // The fault repeats on return and takes the default action.
    return;
  }
  Line line;
  line.Add("vmbsim: the driver crashed: ");
  line.Add(SignalName(sig));
  line.Add(" inside ");
  line.Add(where);
  if (where != plugin_entry) {
    if (code.relid != 0) {
      line.Add(" (partition ");
      line.Add(int64_t{code.partition});
      line.Add(", relid ");
      line.Add(int64_t{code.relid});
      line.Add(")");
    }
    line.Add(" at ");
    line.Add(code.time_ns);
    line.Add(" ns of simulated time");
  }
  line.Add("; the fault is in the driver library or in a KMCL call it made (exit 5)\n");
  line.Write();
  _exit(kExitDriverCrashed);
}

}  // namespace

void InstallDriverCrashReport() {
  if (installed) return;
  installed = true;
  stack_t stack = {};
  stack.ss_sp = alt_stack;
  stack.ss_size = sizeof(alt_stack);
  sigaltstack(&stack, nullptr);
  for (size_t i = 0; i < sizeof(kSignals) / sizeof(kSignals[0]); ++i) {
    struct sigaction action = {};
    action.sa_sigaction = OnFault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(kSignals[i], &action, &previous_actions[i]);
  }
}

PluginEntryScope::PluginEntryScope(const char* what) : saved_(plugin_entry) { plugin_entry = what; }
PluginEntryScope::~PluginEntryScope() { plugin_entry = saved_; }

}  // namespace vmbsim::scenario
