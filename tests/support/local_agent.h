// A real cloudlet-agent on loopback without mDNS, for integration tests that feed it usage as the
// host's hypervisor would, and the usage they feed it.
//
//   auto agent = StartLocalAgent({.bin = CLOUDLET_AGENT_BIN, .port = port, .state_dir = dir.File("agent"),
//                                 .id = "cl-a", .registry = url, .token = token, .log = dir.File("agent.log")});
//   Post(agent_url + "/v1/usage", HoursOfUsage({"u-1", "u-2"}, "acme"));
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.h"

namespace cloudlet::testing {

struct LocalAgent {
  std::string bin;
  int port = 0;
  std::string state_dir, id, registry, token, log;
  std::vector<std::string> extra_args = {};
};

// Started and answering GET /v1/ping (within 20 s; the test fails otherwise).
std::unique_ptr<ChildProcess> StartLocalAgent(const LocalAgent& a);

// {"records": [...]}: one record per id for `tenant`, each one core-hour on 2026-11-10 10:00-11:00.
nlohmann::json HoursOfUsage(const std::vector<std::string>& ids, const std::string& tenant);

}  // namespace cloudlet::testing
