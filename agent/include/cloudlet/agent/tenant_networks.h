// A network of its own for each tenant on a cloudlet: a podman bridge network with `isolate`
// (the CNI firewall plugin's same-bridge ingress policy), so that a tenant's placements reach each
// other while another tenant's cannot open a connection to them, and a host guard, so that no
// workload opens a connection to the host's own services (the agent's API, cloudletd, sshd) through
// its bridge. Replies to connections the host opened (health checks, published ports) still pass.
//
//   TenantNetworks networks({.podman = run_podman, .agent_id = "cl-a"});
//   auto name = networks.Ensure("acme");   // "cloudlet-acme": made on first use, guarded
//   ... podman run --network <name> ...
//   networks.ReleaseUnused({"other"});     // after acme's last workload stopped
//
// The host guard is an iptables rule in INPUT per bridge, marked with the agent's id, so that
// RemoveHostGuards(agent_id) can take away what an agent left (tests, uninstall). Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cloudlet/agent/subprocess.h"
#include "cloudlet/common/status.h"

namespace cloudlet::agent {

struct TenantNetworkOptions {
  // Runs podman (with the runtime's storage flags) with these arguments.
  std::function<common::Result<ProgramResult>(const std::vector<std::string>& args)> podman;
  std::string agent_id;        // marks the host guards
  bool guard_host = true;      // false: workloads may open connections to the host (not advised)
  std::string iptables = "iptables";
};

class TenantNetworks {
 public:
  explicit TenantNetworks(TenantNetworkOptions options);

  // The tenant's network, made (and guarded) when it does not exist yet.
  common::Result<std::string> Ensure(const std::string& tenant);
  // Removes this agent's networks of tenants other than `tenants_running` (their last workload
  // stopped), with their guards.
  void ReleaseUnused(const std::vector<std::string>& tenants_running);

  // "cloudlet-<tenant>": tenant ids are a-z, 0-9 and '-' (others are hashed).
  static std::string NameFor(const std::string& tenant);

 private:
  common::Result<std::string> BridgeOf(const std::string& network);
  common::Status Guard(const std::string& bridge);
  void Unguard(const std::string& bridge);
  std::vector<std::string> GuardRule(const std::string& bridge) const;

  const TenantNetworkOptions o_;
  std::mutex mu_;
  std::map<std::string, std::string> bridges_;  // network -> bridge, for networks known to exist
};

// Deletes the host guards `agent_id` added (whatever their bridges), and the CNI isolation rules
// left for bridges that no longer exist. For tests' teardown and for operators removing an agent.
common::Status RemoveHostGuards(const std::string& agent_id, const std::string& iptables = "iptables");

}  // namespace cloudlet::agent
