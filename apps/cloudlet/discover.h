// `cloudlet discover`: browse _cloudlet._tcp on the LAN and merge with the registry's list.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "cloudlet/common/clock.h"
#include "cloudlet/discovery/lan.h"

namespace cloudlet::cli {

struct DiscoverOptions {
  common::Millis timeout{3000};
  bool json = false;
  bool watch = false;
};

// The registry's cloudlets (a JSON array); throws to report an unreachable registry.
using RegistryLister = std::function<nlohmann::json()>;

// One row per LAN instance (marked "lan", or "lan+registry" when the registry knows its id) and
// one per registered cloudlet not seen on the LAN ("registry").
nlohmann::json MergeDiscovered(const std::vector<discovery::LanCloudlet>& lan, const nlohmann::json* registry);

// Returns the exit code. `registry` is empty when no registry was given.
int RunDiscover(const DiscoverOptions& options, const RegistryLister& registry);

}  // namespace cloudlet::cli
