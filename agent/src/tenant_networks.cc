#include "cloudlet/agent/tenant_networks.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

namespace cloudlet::agent {

using common::Result;
using common::Status;

namespace {

constexpr auto kIptablesTimeout = std::chrono::seconds(30);
// The CNI firewall plugin's chains for networks made with `isolate`.
constexpr const char* kIsolationChains[] = {"CNI-ISOLATION-STAGE-1", "CNI-ISOLATION-STAGE-2"};

std::string GuardComment(const std::string& agent_id) {
  return "cloudlet-agent " + agent_id + ": tenant workloads open no connections to the host";
}

Result<ProgramResult> Iptables(const std::string& iptables, std::vector<std::string> args) {
  args.insert(args.begin(), {iptables, "-w", "10"});  // -w: wait for the xtables lock (CNI takes it too)
  return RunProgram(args, kIptablesTimeout);
}

bool InterfaceExists(const std::string& name) {
  std::error_code ec;
  return !name.empty() && name.find('/') == std::string::npos && std::filesystem::exists("/sys/class/net/" + name, ec);
}

// Rule numbers of `chain` (highest first, so that deleting one keeps the others' numbers) whose
// listing line satisfies `match`. The listing's columns: num pkts bytes target prot opt in out ...
std::vector<std::string> RulesWhere(const std::string& iptables, const std::string& chain,
                                    const std::function<bool(const std::vector<std::string>& cols, const std::string& line)>& match) {
  auto listed = Iptables(iptables, {"-L", chain, "-n", "-v", "--line-numbers"});
  std::vector<std::string> out;
  if (!listed.ok() || listed->exit_code != 0) return out;
  std::istringstream lines(listed->out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> cols;
    for (std::string w; words >> w;) cols.push_back(w);
    if (cols.size() < 8 || cols[0].find_first_not_of("0123456789") != std::string::npos) continue;
    if (match(cols, line)) out.push_back(cols[0]);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// The bridge a CNI isolation rule names: its in interface, else its out interface (negated or not).
std::string RuleBridge(const std::vector<std::string>& cols) {
  if (cols[6] != "*") return cols[6];
  return cols[7][0] == '!' ? cols[7].substr(1) : cols[7];
}

void DeleteRules(const std::string& iptables, const std::string& chain, const std::vector<std::string>& numbers) {
  for (const auto& n : numbers) (void)Iptables(iptables, {"-D", chain, n});
}

}  // namespace

TenantNetworks::TenantNetworks(TenantNetworkOptions options) : o_(std::move(options)) {}

std::string TenantNetworks::NameFor(const std::string& tenant) {
  const bool plain = !tenant.empty() && tenant.size() <= 64 &&
                     std::all_of(tenant.begin(), tenant.end(), [](char c) {
                       return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                     });
  if (plain) return "cloudlet-" + tenant;
  uint64_t h = 1469598103934665603ull;  // FNV-1a: a stable name for any other tenant string
  for (unsigned char c : tenant) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string("cloudlet-x") + hex;
}

Result<std::string> TenantNetworks::Ensure(const std::string& tenant) {
  const std::string name = NameFor(tenant);
  std::lock_guard lock(mu_);
  if (bridges_.count(name)) return name;
  auto exists = o_.podman({"network", "exists", name});
  if (!exists.ok()) return exists.status();
  if (exists->exit_code != 0) {
    // isolate: the CNI firewall plugin drops what enters this bridge from any other bridge.
    auto made = o_.podman({"network", "create", "--opt", "isolate=true", "--label", "cloudlet.agent=" + o_.agent_id, name});
    if (!made.ok()) return made.status();
    if (made->exit_code != 0) {
      return Status::Unavailable("create the network of tenant " + tenant + ": " + made->err.substr(0, made->err.find('\n')));
    }
    spdlog::info("runtime: tenant {} has a network of its own: {}", tenant, name);
  }
  auto bridge = BridgeOf(name);
  if (!bridge.ok()) return bridge.status();
  if (o_.guard_host) CLOUDLET_RETURN_IF_ERROR(Guard(*bridge));
  bridges_[name] = *bridge;
  return name;
}

void TenantNetworks::ReleaseUnused(const std::vector<std::string>& tenants_running) {
  std::set<std::string> in_use;
  for (const auto& t : tenants_running) in_use.insert(NameFor(t));
  std::lock_guard lock(mu_);
  auto listed = o_.podman({"network", "ls", "--filter", "label=cloudlet.agent=" + o_.agent_id, "--format", "{{.Name}}"});
  if (!listed.ok() || listed->exit_code != 0) return;
  std::istringstream names(listed->out);
  for (std::string name; std::getline(names, name);) {
    if (name.empty() || in_use.count(name)) continue;
    auto bridge = bridges_.count(name) ? Result<std::string>(bridges_[name]) : BridgeOf(name);
    auto removed = o_.podman({"network", "rm", name});
    if (!removed.ok() || removed->exit_code != 0) continue;  // in use after all
    bridges_.erase(name);
    spdlog::info("runtime: no workload uses network {} any more: removed", name);
    if (!bridge.ok()) continue;
    Unguard(*bridge);
    // The CNI plugin leaves its isolation rules behind when a network goes: they name this bridge.
    for (const char* chain : kIsolationChains) {
      DeleteRules(o_.iptables, chain, RulesWhere(o_.iptables, chain, [&](const std::vector<std::string>& cols, const std::string&) {
                    return RuleBridge(cols) == *bridge;
                  }));
    }
  }
}

Result<std::string> TenantNetworks::BridgeOf(const std::string& network) {
  auto r = o_.podman({"network", "inspect", "--format", "{{.NetworkInterface}}", network});
  if (!r.ok()) return r.status();
  std::string bridge = r->out.substr(0, r->out.find('\n'));
  if (r->exit_code != 0 || bridge.empty()) return Status::Unavailable("network " + network + ": no bridge interface: " + r->err);
  return bridge;
}

std::vector<std::string> TenantNetworks::GuardRule(const std::string& bridge) const {
  // Connections the host opened (health checks, published ports) answer; nothing new comes in.
  return {"INPUT", "-i", bridge, "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED",
          "-m", "comment", "--comment", GuardComment(o_.agent_id), "-j", "DROP"};
}

Status TenantNetworks::Guard(const std::string& bridge) {
  std::vector<std::string> check = GuardRule(bridge);
  check.insert(check.begin(), "-C");
  auto present = Iptables(o_.iptables, check);
  if (!present.ok()) return present.status().WithContext("iptables");
  if (present->exit_code == 0) return Status::Ok();
  std::vector<std::string> insert = GuardRule(bridge);
  insert.insert(insert.begin(), "-I");
  auto added = Iptables(o_.iptables, insert);
  if (!added.ok()) return added.status().WithContext("iptables");
  if (added->exit_code != 0) return Status::Unavailable("guard the host from bridge " + bridge + ": iptables: " + added->err);
  return Status::Ok();
}

void TenantNetworks::Unguard(const std::string& bridge) {
  std::vector<std::string> del = GuardRule(bridge);
  del.insert(del.begin(), "-D");
  (void)Iptables(o_.iptables, del);
}

Status RemoveHostGuards(const std::string& agent_id, const std::string& iptables) {
  const std::string comment = "/* " + GuardComment(agent_id) + " */";
  auto version = Iptables(iptables, {"--version"});
  if (!version.ok() || version->exit_code != 0) return Status::FailedPrecondition("cannot run " + iptables);
  DeleteRules(iptables, "INPUT", RulesWhere(iptables, "INPUT", [&](const std::vector<std::string>&, const std::string& line) {
                return line.find(comment) != std::string::npos;
              }));
  for (const char* chain : kIsolationChains) {
    DeleteRules(iptables, chain, RulesWhere(iptables, chain, [](const std::vector<std::string>& cols, const std::string&) {
                  const std::string bridge = RuleBridge(cols);
                  return bridge != "*" && !InterfaceExists(bridge);
                }));
  }
  return Status::Ok();
}

}  // namespace cloudlet::agent
