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
  // Where this podman keeps its network configs (its network_config_dir). Bridge names and subnets
  // are chosen per directory, so that agents (and tests) with storage of their own on one host do
  // not all take podman's first pick (cni-podman1, 10.89.0.0/24) and tear down each other's.
  std::string config_dir = "/etc/cni/net.d";
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
  // The bridge of `network` in `config_dir`: "cl" and 13 hex digits (15 characters, the kernel's
  // limit), the same on every start.
  static std::string BridgeFor(const std::string& config_dir, const std::string& network);
  // The `attempt`th /24 in 10.128.0.0/9 for this bridge that overlaps none of `used` (CIDR strings),
  // starting from a point the bridge's name picks; empty when none is left.
  static std::string SubnetFor(const std::string& bridge, const std::vector<std::string>& used, int attempt = 0);

 private:
  common::Result<std::string> BridgeOf(const std::string& network);
  common::Status Create(const std::string& tenant, const std::string& name);
  std::vector<std::string> UsedSubnets();
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
