// import_command.h
//
// `vmbsim import`: a capture from a real system to a scenario that replays
// it (capture_scenario.h).
//
//   vmbsim import CAPTURE -o SCENARIO.json [--format csv|trace-cmd] [--name NAME]
//                 [--max-packet-bytes N] [--start-ns N]
//
// The format is guessed when not given: "csv" for a file named *.csv or
// whose first line that is neither blank nor a '#' comment starts with
// "time_ns,", else "trace-cmd".
// The scenario's name is --name, or the capture's file name without its
// directory and extension, in lower case, characters outside [a-z0-9_-] as
// '_'.
// `-o -` writes the scenario to stdout and the summary to stderr. The
// scenario written is loaded back with the built-in drivers before the
// command succeeds, so what it writes always runs.
//
// Exit codes: 0 written; 2 invalid input (command line, a capture that
// cannot be read or is malformed: the message names file:line, what was
// expected and what was found; an output that cannot be written);
// 70 internal error (the scenario written does not load).

#ifndef VMBSIM_TOOLS_RECORDING_IMPORT_COMMAND_H_
#define VMBSIM_TOOLS_RECORDING_IMPORT_COMMAND_H_

#include <string>
#include <vector>

namespace vmbsim::recording {

// Runs `vmbsim import` with `args` (the words after "import"); returns the
// exit code. Prints the summary on stdout and errors on stderr.
int ImportCommand(const std::vector<std::string>& args);

// The command's help text (part of `vmbsim help`).
extern const char* const kImportUsage;

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_IMPORT_COMMAND_H_
