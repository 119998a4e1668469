// `cloudlet discover`: browse _cloudlet._tcp on the LAN and merge with the registry's list.
#pragma once

#include <functional>

#include <nlohmann/json.hpp>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/lan.h"

namespace cloudlet::cli {

struct DiscoverOptions {
  common::Millis timeout{3000};
  bool json = false;
  bool watch = false;
};

// The registry's cloudlets (a JSON array): the nearest or first --limit, plus those of `lan_ids` (the
// instances seen on the LAN) that it holds; or why they could not be had.
using RegistryLister = std::function<common::Result<nlohmann::json>(const std::vector<std::string>& lan_ids)>;

// One row per LAN instance (marked "lan", or "lan+registry" when the registry knows its id) and
// one per registered cloudlet not seen on the LAN ("registry").
nlohmann::json MergeDiscovered(const std::vector<discovery::LanCloudlet>& lan, const nlohmann::json* registry);

// Prints what it finds; an error when the LAN or the registry could not be searched (said on
// stderr as it happens). `registry` is empty when no registry was given.
common::Status RunDiscover(const DiscoverOptions& options, const RegistryLister& registry);

}  // namespace cloudlet::cli
