#include "cloudlet/agent/tenant_networks.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
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

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string Hex(uint64_t v, int digits) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v));
  return std::string(hex + 16 - digits);
}

// "a.b.c.d/n" as (address, prefix length), host byte order; nullopt when it is not IPv4 CIDR.
std::optional<std::pair<uint32_t, int>> ParseCidr(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr a{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1) return std::nullopt;
  const int prefix = std::atoi(cidr.c_str() + slash + 1);
  if (prefix < 0 || prefix > 32) return std::nullopt;
  return std::make_pair(ntohl(a.s_addr), prefix);
}

uint32_t Mask(int prefix) { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }

// The IPv4 networks of the host's interfaces (bridges of other agents' tenants among them).
std::vector<std::string> HostSubnets() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_netmask == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN];
    const auto* addr = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    const auto* mask = reinterpret_cast<const sockaddr_in*>(i->ifa_netmask);
    if (inet_ntop(AF_INET, &addr->sin_addr, text, sizeof text) == nullptr) continue;
    out.push_back(std::string(text) + "/" + std::to_string(std::popcount(ntohl(mask->sin_addr.s_addr))));
  }
  freeifaddrs(list);
  return out;
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
  return "cloudlet-x" + Hex(Fnv1a(tenant), 16);  // a stable name for any other tenant string
}

std::string TenantNetworks::BridgeFor(const std::string& config_dir, const std::string& network) {
  return "cl" + Hex(Fnv1a(config_dir + '\0' + network), 13);
}

std::string TenantNetworks::SubnetFor(const std::string& bridge, const std::vector<std::string>& used, int attempt) {
  std::vector<std::pair<uint32_t, int>> taken;
  for (const auto& cidr : used) {
    if (auto parsed = ParseCidr(cidr)) taken.push_back(*parsed);
  }
  constexpr uint32_t kBase = (10u << 24) | (128u << 16), kCount = 1u << 15;  // 10.128.0.0/9 in /24s
  const uint32_t start = static_cast<uint32_t>(Fnv1a(bridge) % kCount);
  for (uint32_t k = 0; k < kCount; ++k) {
    const uint32_t net = kBase + (((start + k) % kCount) << 8);
    const bool overlaps = std::any_of(taken.begin(), taken.end(), [&](const auto& t) {
      const uint32_t mask = Mask(std::min(24, t.second));
      return (net & mask) == (t.first & mask);
    });
    if (overlaps || attempt-- > 0) continue;
    return std::to_string(net >> 24) + "." + std::to_string((net >> 16) & 255) + "." + std::to_string((net >> 8) & 255) +
           ".0/24";
  }
  return "";
}

std::vector<std::string> TenantNetworks::UsedSubnets() {
  std::vector<std::string> used = HostSubnets();
  auto listed = o_.podman({"network", "ls", "--format", "{{range .Subnets}}{{.Subnet}} {{end}}"});
  if (listed.ok() && listed->exit_code == 0) {
    std::istringstream words(listed->out);
    for (std::string w; words >> w;) used.push_back(w);
  }
  return used;
}

Status TenantNetworks::Create(const std::string& tenant, const std::string& name) {
  const std::string bridge = BridgeFor(o_.config_dir, name);
  const std::vector<std::string> used = UsedSubnets();
  for (int attempt = 0;; ++attempt) {
    const std::string subnet = SubnetFor(bridge, used, attempt);
    if (subnet.empty()) return Status::Unavailable("create the network of tenant " + tenant + ": no free subnet in 10.128.0.0/9");
    // isolate: the CNI firewall plugin drops what enters this bridge from any other bridge.
    auto made = o_.podman({"network", "create", "--subnet", subnet, "--opt", "isolate=true", "--label",
                           "cloudlet.agent=" + o_.agent_id, name});
    if (!made.ok()) return made.status();
    if (made->exit_code == 0) break;
    // Another podman on this host may have taken the subnet since it was listed: the next one.
    if (made->err.find("subnet") == std::string::npos || attempt >= 4) {
      return Status::Unavailable("create the network of tenant " + tenant + ": " + made->err.substr(0, made->err.find('\n')));
    }
  }
  // podman 4.3 cannot name the bridge: it is set in the network's CNI config, which podman reads
  // on every call, before any container has brought the bridge up.
  const std::string path = o_.config_dir + "/" + name + ".conflist";
  std::ifstream in(path);
  auto conf = nlohmann::json::parse(in, nullptr, false);
  if (conf.is_discarded() || !conf.contains("plugins") || !conf["plugins"].is_array()) {
    spdlog::warn("runtime: {}: no CNI config to name its bridge {}: podman's own name stays", path, bridge);
    return Status::Ok();
  }
  for (auto& plugin : conf["plugins"]) {
    if (plugin.value("type", "") == "bridge") plugin["bridge"] = bridge;
  }
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::trunc);
  out << conf.dump(3) << "\n";
  out.close();
  std::error_code ec;
  if (!out || (std::filesystem::rename(tmp, path, ec), ec)) {
    return Status::Unavailable("write " + path + ": " + (ec ? ec.message() : std::string("write failed")));
  }
  return Status::Ok();
}

Result<std::string> TenantNetworks::Ensure(const std::string& tenant) {
  const std::string name = NameFor(tenant);
  std::lock_guard lock(mu_);
  if (bridges_.count(name)) return name;
  auto exists = o_.podman({"network", "exists", name});
  if (!exists.ok()) return exists.status();
  if (exists->exit_code != 0) {
    CLOUDLET_RETURN_IF_ERROR(Create(tenant, name));
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
