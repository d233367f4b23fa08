// svg.h
//
// What the HTML reports share (report_html.h for sweeps, run_html.h for one
// run): HTML escaping, number formats for labels and coordinates, axis
// ticks and the series colours. All deterministic: the same values give the
// same bytes.

#ifndef VMBSIM_TOOLS_STUDIES_SVG_H_
#define VMBSIM_TOOLS_STUDIES_SVG_H_

#include <string>
#include <vector>

namespace vmbsim::studies::svg {

inline constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

// `text` with &, <, > and " escaped, for element text and attribute values.
std::string Escape(const std::string& text);
// Six significant digits, without an exponent below 10^9: tick labels and
// tables stay readable (46000, not 4.6e+04).
std::string Num(double v);
// A coordinate: two decimals.
std::string Coord(double v);
// Tick positions over [low, high]: about five at 1, 2 or 5 times a power of ten.
std::vector<double> Ticks(double low, double high);

}  // namespace vmbsim::studies::svg

#endif  // VMBSIM_TOOLS_STUDIES_SVG_H_
