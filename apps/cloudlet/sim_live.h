// `cloudlet sim --live URL`: the scenario's cloudlets become virtual agents of a running cloudletd
// (registered, heartbeating what the simulated world holds) and its users place, confirm, report moves
// and release through the REST API, so that the registry's own placement decides. Doubles as a load
// generator. One connection, calls in virtual-time order.
#pragma once

#include <memory>
#include <string>

#include "cloudlet/sim/simulator.h"

namespace cloudlet::cli {

struct LiveOptions {
  std::string url;      // the registry, e.g. http://127.0.0.1:8470
  std::string token;    // an operator token: it registers cloudlets and places for the users
  std::string ca_file;  // for https://
  std::string prefix = "sim-";  // virtual cloudlet ids: <prefix><scenario id>
};

std::unique_ptr<sim::Remote> MakeLiveRemote(LiveOptions options);

}  // namespace cloudlet::cli
