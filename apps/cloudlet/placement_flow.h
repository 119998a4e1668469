// What `cloudlet place` and `cloudlet placements` share: the device's flags as a request's
// `client`, and following a placement until its app runs.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "client.h"
#include "cloudlet/common/status.h"

namespace cloudlet::cli {

struct ClientFlags {
  std::string geo;        // --geo LAT,LON
  std::string rtt;        // --rtt ID=MS[,ID=MS...]
  std::string client_id;  // --client-id
};

// Adds what the flags give to a request's `client` object; InvalidArgument naming the flag.
common::Status AddClientFlags(const ClientFlags& f, nlohmann::json& client);

// Confirms the placement, then follows it (blocking queries) until its app runs (the placement),
// fails (FailedPrecondition with the reason) or `timeout` passes (Unavailable). Progress goes to
// stderr unless `quiet`.
common::Result<nlohmann::json> WaitUntilRunning(RegistryClient& client, const std::string& id, common::Millis timeout,
                                                bool quiet);

}  // namespace cloudlet::cli
