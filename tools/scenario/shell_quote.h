// shell_quote.h — one word for a POSIX shell, for the commands vmbsim prints
// to reproduce a run (sweep's failed runs, swarm's shrink and replay).

#ifndef VMBSIM_TOOLS_SCENARIO_SHELL_QUOTE_H_
#define VMBSIM_TOOLS_SCENARIO_SHELL_QUOTE_H_

#include <string>

namespace vmbsim::scenario {

// `word` as is when it holds only characters no shell treats specially,
// else in single quotes (a quote inside as '\'').
std::string ShellQuote(const std::string& word);

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_SHELL_QUOTE_H_
