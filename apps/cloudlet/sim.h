// `cloudlet sim`: run a scenario in virtual time under several placement policies and write the
// comparison (docs/sim.md).
#pragma once

#include <optional>
#include <string>

#include "cloudlet/common/status.h"

namespace cloudlet::cli {

struct SimCliOptions {
  std::string scenario;
  std::string out;
  std::string policies;           // comma-separated; empty: all
  std::optional<uint64_t> seed;   // overrides the scenario's
  std::string live_url;           // run against a cloudletd instead of in virtual time
  std::string live_wait = "30s";  // how long to wait for it to answer /healthz
  std::string token;
  std::string ca_file;
  bool quiet = false;
};

// InvalidArgument for a bad scenario or flag (exit 2), another error when the run failed (exit 1).
common::Status RunSim(const SimCliOptions& options);

}  // namespace cloudlet::cli
