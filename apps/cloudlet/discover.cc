#include "discover.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "client.h"
#include "cloudlet/discovery/advert_check.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/discovery/avahi.h"
#include "cloudlet/discovery/cloudlet.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using nlohmann::json;

// Names and values come from the network: invalid UTF-8 is replaced, never thrown on.
std::atomic<bool> g_interrupted{false};
void OnInterrupt(int) { g_interrupted = true; }

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// "http://10.0.0.2:8471/x" -> {"10.0.0.2", 8471}
std::pair<std::string, int> HostAndPort(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.back() == ']') return {rest, url.rfind("https", 0) == 0 ? 443 : 80};
  try {
    return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
  } catch (const std::exception&) {
    return {rest, 0};
  }
}

json LanRow(const discovery::LanCloudlet& c) {
  const auto& a = c.advert;
  json row = {{"name", c.instance.name},
              {"address", c.instance.address},
              {"port", c.instance.port},
              {"host", c.instance.host},
              {"interface", c.instance.interface},
              {"id", a.id},
              {"cpu", {{"free_millis", a.cpu_free_millis}, {"total_millis", a.cpu_total_millis}}},
              {"mem", {{"free_mb", a.mem_free_mb}, {"total_mb", a.mem_total_mb}}},
              {"load_percent", a.load_percent},
              {"isolation", a.isolation},
              {"base_vms", a.base_vms},
              {"base_vms_truncated", a.base_vms_truncated},
              {"seq", a.seq},
              {"source", "lan"}};
  if (a.geo) row["geo"] = {{"lat", a.geo->lat}, {"lon", a.geo->lon}};
  if (!a.registry.empty()) row["advertised_registry"] = a.registry;
  return row;
}

json RegistryRow(const json& r) {
  const auto [address, port] = HostAndPort(r.value("endpoint", ""));
  const json free = r.value("free", json::object()), capacity = r.value("capacity", json::object());
  std::vector<std::string> prefixes;
  for (const auto& vm : r.value("base_vms", json::array())) {
    if (vm.is_object()) prefixes.push_back(discovery::BaseVmPrefix(vm.value("digest", "")));
  }
  json row = {{"name", r.value("name", "")},
              {"address", address},
              {"port", port},
              {"id", r.value("id", "")},
              {"cpu", {{"free_millis", free.value("cpu_millis", 0)}, {"total_millis", capacity.value("cpu_millis", 0)}}},
              {"mem", {{"free_mb", free.value("mem_mb", 0)}, {"total_mb", capacity.value("mem_mb", 0)}}},
              {"load_percent", static_cast<int>(r.value("load", 0.0) * 100 + 0.5)},
              {"isolation", r.value("isolation", json::array())},
              {"base_vms", prefixes},
              {"base_vms_truncated", false},
              {"source", "registry"},
              {"verification", "registered"},
              {"registry_state", r.value("state", "")}};
  if (r.contains("geo")) row["geo"] = r["geo"];
  return row;
}

void PrintRows(const json& rows) {
  std::vector<std::vector<std::string>> table;
  for (const auto& r : rows) {
    std::vector<std::string> vms = r["base_vms"].get<std::vector<std::string>>();
    std::string vm_text = vms.empty() ? "-" : Join(vms) + (r.value("base_vms_truncated", false) ? ",..." : "");
    table.push_back({r.value("name", ""), r.value("address", ""), std::to_string(r.value("port", 0)), r.value("id", ""),
                     std::to_string(r["cpu"].value("free_millis", 0LL)) + "/" + std::to_string(r["cpu"].value("total_millis", 0LL)),
                     std::to_string(r["mem"].value("free_mb", 0LL)) + "/" + std::to_string(r["mem"].value("total_mb", 0LL)),
                     std::to_string(r.value("load_percent", 0)) + "%", Join(r["isolation"].get<std::vector<std::string>>()),
                     vm_text, r.value("source", "") + (r.contains("registry_state") ? " (" + r["registry_state"].get<std::string>() + ")" : ""),
                     r.value("verification", "")});
  }
  PrintTable(std::cout, {"NAME", "ADDRESS", "PORT", "ID", "CPU FREE/TOTAL (m)", "MEM FREE/TOTAL (MiB)", "LOAD",
                         "ISOLATION", "BASE VMS", "SOURCE", "SIGNATURE"},
             table);
  std::cout << rows.size() << " cloudlet(s)" << std::endl;
}

}  // namespace

std::pair<std::string, std::string> Verify(const discovery::LanCloudlet& c, const json* registered) {
  const std::string key = registered ? registered->value("public_key", "") : "";
  const auto check = discovery::CheckAdvert(c, registered ? &key : nullptr);
  return {discovery::AdvertTrustName(check.trust), check.why};
}

json MergeDiscovered(const std::vector<discovery::LanCloudlet>& lan, const json* registry) {
  std::map<std::string, const json*> registered;
  if (registry) {
    for (const auto& r : *registry) {
      if (r.is_object() && r.contains("id") && r["id"].is_string()) registered[r["id"].get<std::string>()] = &r;
    }
  }
  json rows = json::array();
  std::map<std::string, bool> seen_on_lan;
  for (const auto& c : lan) {
    json row = LanRow(c);
    auto it = registered.find(c.advert.id);
    const json* record = it == registered.end() ? nullptr : it->second;
    auto [verification, why] = Verify(c, registry ? record : nullptr);
    if (!registry) why = "no registry to ask";
    else if (!record) why = "not registered";
    row["verification"] = verification;
    if (!why.empty()) row["verification_detail"] = why;
    // A rejected advert is not the registered cloudlet: that one is listed from the registry.
    if (record && verification != "rejected") {
      row["source"] = "lan+registry";
      row["registry_state"] = record->value("state", "");
      seen_on_lan[c.advert.id] = true;
    }
    rows.push_back(std::move(row));
  }
  // The rest in the registry's order (nearest first with --near).
  if (registry) {
    for (const auto& r : *registry) {
      if (!r.is_object() || !r.contains("id") || !r["id"].is_string()) continue;
      const std::string id = r["id"].get<std::string>();
      if (registered[id] == &r && !seen_on_lan.count(id)) rows.push_back(RegistryRow(r));
    }
  }
  return rows;
}

common::Status RunDiscover(const DiscoverOptions& options, const RegistryLister& registry) {
  common::SystemClock clock;
  discovery::LanTable table(clock);
  auto browser = discovery::MakeAvahiBrowser(discovery::kCloudletServiceType,
                                             [&](const discovery::ServiceEvent& e) { table.Apply(e); });
  if (!browser.ok()) return common::Status::Unavailable("cannot browse the LAN: " + browser.status().message());
  int rc = 0;
  auto registry_rows = [&]() -> std::optional<json> {
    if (!registry) return std::nullopt;
    std::vector<std::string> lan_ids;
    for (const auto& c : table.Snapshot()) lan_ids.push_back(c.advert.id);
    auto rows = registry(lan_ids);
    if (rows.ok()) return *rows;
    std::cerr << "cloudlet: " << rows.status().message() << " (showing the LAN only)\n";
    rc = 1;
    return std::nullopt;
  };
  const auto outcome = [&rc] {
    return rc == 0 ? common::Status::Ok()
                   : common::Status::Unavailable("not everything could be searched (see above)");
  };

  auto warn_if_no_daemon = [&](bool fail) {
    if ((*browser)->connected()) return;
    std::cerr << "cloudlet: no Avahi daemon answered on the system D-Bus, so the LAN was not searched"
                 " (is avahi-daemon running?)\n";
    if (fail) rc = 1;
  };
  if (!options.watch) {
    std::this_thread::sleep_for(options.timeout);
    warn_if_no_daemon(true);
    auto reg = registry_rows();
    const json rows = MergeDiscovered(table.Snapshot(), reg ? &*reg : nullptr);
    if (options.json) std::cout << rows.dump(2, ' ', false, json::error_handler_t::replace) << std::endl;
    else PrintRows(rows);
    return outcome();
  }

  // --watch: print the table (or one JSON line) whenever it changes, until interrupted.
  ::signal(SIGINT, OnInterrupt);
  ::signal(SIGTERM, OnInterrupt);
  uint64_t shown = ~uint64_t{0};
  auto reg = registry_rows();
  auto next_registry = std::chrono::steady_clock::now() + options.timeout;
  std::this_thread::sleep_for(std::min<common::Millis>(options.timeout, common::Millis(1000)));
  warn_if_no_daemon(false);  // --watch keeps waiting for the daemon
  while (!g_interrupted) {
    const uint64_t version = table.WaitForChange(shown, std::chrono::milliseconds(200));
    if (registry && std::chrono::steady_clock::now() >= next_registry) {
      reg = registry_rows();
      next_registry = std::chrono::steady_clock::now() + options.timeout;
    }
    if (version == shown) continue;
    shown = version;
    const json rows = MergeDiscovered(table.Snapshot(), reg ? &*reg : nullptr);
    if (options.json) {
      std::cout << json{{"time", common::FormatRfc3339(clock.Now())}, {"cloudlets", rows}}.dump(-1, ' ', false, json::error_handler_t::replace)
                << std::endl;
    } else {
      std::cout << "\n" << common::FormatRfc3339(clock.Now()) << "\n";
      PrintRows(rows);
    }
  }
  return outcome();
}

void AddDiscoverCommand(CLI::App& app, Context& ctx) {
  struct Flags {
    std::string timeout = "3s";
    bool watch = false;
    std::string near;
    size_t limit = 50;
  };
  auto f = std::make_shared<Flags>();
  auto* discover = app.add_subcommand("discover", "Find cloudlets on the LAN over mDNS (and in the registry, if given)");
  discover->add_option("--browse-for", f->timeout, "How long to browse the LAN before printing (the global --timeout is "
                       "how long to wait for the registry)")->capture_default_str();
  discover->add_flag("--watch", f->watch, "Keep browsing; print the table again whenever it changes (Ctrl-C stops)");
  discover->add_option("--near", f->near, "With a registry: list its cloudlets nearest to LAT,LON (else the first by id)");
  discover->add_option("--limit", f->limit, "With a registry: at most this many of its cloudlets besides those on the LAN")
      ->check(CLI::Range(size_t{1}, size_t{1000}))->capture_default_str();
  discover->callback([&ctx, f] {
    ctx.run = [&ctx, f]() -> common::Status {
      auto timeout = common::ParseDuration(f->timeout, "--browse-for");
      if (!timeout.ok() || timeout->count() <= 0) {
        return common::Status::InvalidArgument("--browse-for: must be a duration > 0, e.g. 3s");
      }
      spdlog::set_level(spdlog::level::err);  // the browser's log lines would mix with the table
      std::string query = "?limit=" + std::to_string(f->limit);
      if (!f->near.empty()) {
        auto at = common::ParseGeoPoint(f->near, "--near");
        if (!at.ok()) return at.status();
        query += "&near=" + f->near;
      }
      RegistryLister lister;
      if (!ctx.options.registry.empty() || std::getenv("CLOUDLET_REGISTRY")) {
        auto client = RegistryClient::Connect(ctx.options);
        if (!client.ok()) return client.status();
        // A page of the registry (the whole fleet may be 100,000), and each LAN instance it holds.
        lister = [client = std::make_shared<RegistryClient>(std::move(*client)),
                  query](const std::vector<std::string>& lan_ids) -> common::Result<json> {
          auto body = client->Call("GET", "/v1/cloudlets" + query);
          if (!body.ok()) return body.status();
          json rows = Member(*body, "cloudlets");
          if (!rows.is_array()) return common::Status::Unavailable("the registry's answer holds no list of cloudlets");
          std::set<std::string> listed;
          for (const auto& r : rows) listed.insert(ValueOr<std::string>(r, "id", ""));
          for (const auto& id : lan_ids) {
            if (listed.count(id) || !discovery::ValidateCloudletId(id).ok()) continue;
            auto one = client->Call("GET", "/v1/cloudlets/" + id);
            if (one.ok()) rows.push_back(*one);
            else if (one.status().code() != common::StatusCode::kNotFound) return one.status();
            listed.insert(id);
          }
          return rows;
        };
      }
      return RunDiscover({.timeout = *timeout, .json = ctx.options.json_output, .watch = f->watch}, lister);
    };
  });
}

}  // namespace cloudlet::cli
