// Writes a simulation's outputs into a directory (created if missing):
//   summary.csv, summary.json, summary.md   one row per policy (docs/sim.md defines each column)
//   timeseries.csv                          per sampled step and policy
//   map.svg, cdf.svg, load.svg              the area with cloudlets and user tracks; the latency CDF
//                                           per policy; each cloudlet's load over time per policy
//   timing.csv                              wall-clock figures (decision time, run time)
// Everything but timing.csv depends only on the scenario and seed: two runs give identical bytes.
// Files are written to a temporary name and renamed, so a crash never leaves half a file.
#pragma once

#include <string>

#include "cloudlet/common/status.h"
#include "cloudlet/sim/scenario.h"
#include "cloudlet/sim/simulator.h"

namespace cloudlet::sim {

common::Status WriteOutputs(const std::string& dir, const Scenario& scenario, const SimResult& result);

// The summary as a Markdown table: summary.md without timing; what `cloudlet sim` prints with the mean
// decision time per policy and the wall time, which differ from run to run.
std::string SummaryMarkdown(const Scenario& scenario, const SimResult& result, bool with_timing);

}  // namespace cloudlet::sim
