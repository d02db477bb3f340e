#pragma once
// strata bench --plot: tokens/s (top panel, with ± one standard deviation) and stall fraction
// (bottom panel) against the number of offloaded layers, one line per offload tier, prefetch
// depth and thread count. Hand-written SVG 1.1: no dependency, opens in any browser.

#include <string>
#include <vector>

#include "tools/bench_report.h"

namespace strata::cli {

// Configurations with nothing offloaded (cpu_layers 0) are every line's first point.
std::string render_plot_svg(const std::vector<BenchResult>& rows, const std::string& title);

}  // namespace strata::cli
