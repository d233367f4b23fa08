// soak_command.h
//
// `vmbsim soak`: a long run with faults on, checked while it runs. The
// scenario (a file, a library NAME or a soak NAME in scenarios/soak/;
// default soak_100_channels: 100 channels under eight fault kinds) runs for
// an event budget; every `--check-every` events the run stops for a
// checkpoint that
//   * checks the exactly-once ledger so far: no send finished twice, and no
//     send open for longer than `--stale` that no fault accounts for;
//   * checks causality: no completion seen before its request was processed;
//   * samples the resident memory (/proc/self/statm) and the event rate.
// At the end it prints one row per checkpoint and a verdict: the
// invariants held at every checkpoint, and memory stayed flat after the
// warm-up (the first 10 % of the events): the last sample is within 5 % or
// 4 MiB of the largest sample at the end of the warm-up (not judged in an
// AddressSanitizer build, whose quarantine holds freed memory). `--csv FILE`
// writes the rows.
//
// Exit codes: 0 the soak passed, 1 an invariant broke or memory grew
// (the message says which, at which checkpoint), 2 invalid input, 70
// internal error. A soak is a benchmark, not a test: run it by hand
// (README, "What is validated"); //tools/soak:soak_cli_test runs a small one.

#ifndef VMBSIM_TOOLS_SOAK_SOAK_COMMAND_H_
#define VMBSIM_TOOLS_SOAK_SOAK_COMMAND_H_

#include <string>
#include <vector>

namespace vmbsim::soak {

int SoakCommand(const std::vector<std::string>& args);

extern const char* const kSoakUsage;

}  // namespace vmbsim::soak

#endif  // VMBSIM_TOOLS_SOAK_SOAK_COMMAND_H_
