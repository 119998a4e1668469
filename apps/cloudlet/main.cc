// cloudlet: the command-line client. Parses flags, calls the registry's REST API, prints tables or
// JSON. Exit codes: 0 ok, 1 runtime failure (unreachable registry, error answer), 2 bad usage.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "cloudlet/common/duration.h"
#include "discover.h"
#include "sim.h"
#include "table.h"

namespace {

using nlohmann::json;
using namespace cloudlet;

struct Options {
  std::string registry;
  std::string token;
  std::string token_file;
  std::string timeout = "10s";
  std::string ca_file;
  bool insecure = false;
  bool json_output = false;
};

constexpr int kOk = 0, kFailure = 1, kUsage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// The bearer token from --token, --token-file, CLOUDLET_TOKEN or CLOUDLET_TOKEN_FILE.
std::string TokenOf(const Options& o) {
  std::string token = o.token.empty() ? EnvOr("CLOUDLET_TOKEN", "") : o.token;
  std::string token_file = o.token_file.empty() ? EnvOr("CLOUDLET_TOKEN_FILE", "") : o.token_file;
  if (token.empty() && !token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) throw UsageError("cannot read token file " + token_file);
    std::getline(in, token);
  }
  if (token.empty()) {
    throw UsageError("no token: pass --token, --token-file, or set CLOUDLET_TOKEN (cloudletd prints how on start)");
  }
  return token;
}

class RegistryClient {
 public:
  explicit RegistryClient(const Options& o) : http_(api::MakeHttpClient({.ca_file = o.ca_file})) {
    base_ = !o.registry.empty() ? o.registry : EnvOr("CLOUDLET_REGISTRY", "http://127.0.0.1:8470");
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
    if (auto s = api::CheckServerUrl(base_, o.insecure, "--registry"); !s.ok()) throw UsageError(s.message());
    token_ = TokenOf(o);
    auto timeout = common::ParseDuration(o.timeout, "--timeout");
    if (!timeout.ok()) throw UsageError(timeout.status().message());
    timeout_ = *timeout;
  }

  // The body as text, for non-JSON answers (CSV).
  std::string Raw(const std::string& method, const std::string& path) {
    api::ClientRequest req{.method = method, .url = base_ + path, .body = {}, .headers = {}, .timeout = timeout_};
    req.headers["Authorization"] = "Bearer " + token_;
    auto r = http_->Send(req);
    if (!r.ok()) throw Failure("cannot reach the registry at " + base_ + ": " + r.status().message());
    if (r->status >= 400) throw Failure("the registry answered " + std::to_string(r->status) + ": " + r->body);
    return r->body;
  }

  json Call(const std::string& method, const std::string& path, int* status_out = nullptr,
            const std::string& request_body = {}) {
    api::ClientRequest req;
    req.method = method;
    req.url = base_ + path;
    req.body = request_body;
    req.headers["Authorization"] = "Bearer " + token_;
    req.timeout = timeout_;
    auto r = http_->Send(req);
    if (!r.ok()) throw Failure("cannot reach the registry at " + base_ + ": " + r.status().message());
    if (status_out) *status_out = static_cast<int>(r->status);
    json body = r->body.empty() ? json() : json::parse(r->body, nullptr, false);
    if (r->status >= 400) {
      std::string detail = body.is_object() && body.contains("detail") ? body["detail"].get<std::string>() : r->body;
      throw Failure("the registry answered " + std::to_string(r->status) + ": " + detail);
    }
    if (body.is_discarded()) throw Failure("the registry's answer is not JSON");
    return body;
  }

 private:
  std::unique_ptr<api::HttpClient> http_;
  std::string base_, token_;
  common::Millis timeout_{10'000};
};

// A member of an answer, or null when it is absent: operator[] on a const json must never be asked
// for a missing key, and a registry of another version may leave one out.
const json& Member(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

template <typename T>
T ValueOr(const json& j, const char* key, T fallback) {
  const json& v = Member(j, key);
  try {
    return v.is_null() ? fallback : v.get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

std::string Fraction(const json& free, const json& cap, const char* key) {
  return std::to_string(ValueOr<long long>(free, key, 0)) + "/" + std::to_string(ValueOr<long long>(cap, key, 0));
}

std::string Join(const json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (v.is_string()) out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

void PrintCloudlets(const json& list) {
  std::vector<std::vector<std::string>> rows;
  bool with_distance = false;
  for (const auto& c : list) with_distance |= c.contains("distance_km");
  for (const auto& c : list) {
    char load[16];
    std::snprintf(load, sizeof load, "%.0f%%", c.value("load", 0.0) * 100);
    std::vector<std::string> row = {c.value("id", ""),
                                    c.value("name", ""),
                                    c.value("state", ""),
                                    load,
                                    Fraction(Member(c, "free"), Member(c, "capacity"), "cpu_millis"),
                                    Fraction(Member(c, "free"), Member(c, "capacity"), "mem_mb"),
                                    Join(Member(c, "isolation")),
                                    std::to_string(Member(c, "base_vms").is_array() ? Member(c, "base_vms").size() : 0),
                                    c.value("last_heartbeat", ""),
                                    c.value("endpoint", "")};
    if (with_distance) {
      char km[32];
      std::snprintf(km, sizeof km, "%.1f", c.value("distance_km", -1.0));
      row.push_back(c.contains("distance_km") ? km : "-");
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header = {"ID", "NAME", "STATE", "LOAD", "CPU FREE/TOTAL (m)", "MEM FREE/TOTAL (MiB)",
                                     "ISOLATION", "BASE VMS", "LAST HEARTBEAT", "ENDPOINT"};
  if (with_distance) header.push_back("KM");
  cli::PrintTable(std::cout, header, rows);
}

std::string Fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Reads --app FILE (the placement request's `app` object, or a whole request) and adds the client.
json BuildPlacementRequest(const std::string& app_file, const std::string& rtt, const std::string& geo,
                           const std::string& client_id, int k) {
  std::ifstream in(app_file);
  if (!in) throw UsageError("cannot read " + app_file);
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw UsageError(app_file + ": not a JSON object");
  json request = doc.contains("app") ? doc : json{{"app", doc}};
  json& client = request["client"];
  if (!client.is_object()) client = json::object();
  if (!client_id.empty()) client["id"] = client_id;
  if (!geo.empty()) {
    const size_t comma = geo.find(',');
    try {
      if (comma == std::string::npos) throw std::invalid_argument(geo);
      client["geo"] = {{"lat", std::stod(geo.substr(0, comma))}, {"lon", std::stod(geo.substr(comma + 1))}};
    } catch (const std::exception&) {
      throw UsageError("--geo: expected LAT,LON");
    }
  }
  // --rtt cl-a=4.2,cl-b=7
  std::stringstream pairs(rtt);
  std::string pair;
  while (std::getline(pairs, pair, ',')) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    try {
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument(pair);
      client["rtt_ms"][pair.substr(0, eq)] = std::stod(pair.substr(eq + 1));
    } catch (const std::exception&) {
      throw UsageError("--rtt: expected ID=MS[,ID=MS...], got '" + pair + "'");
    }
  }
  if (k > 0) request["k"] = k;
  return request;
}

void PrintPlacement(const json& r) {
  std::vector<std::vector<std::string>> rows;
  int rank = 0;
  const json& candidates = Member(r, "candidates");
  for (const auto& c : candidates.is_array() ? candidates : json::array()) {
    const json& provision = Member(c, "provision");
    rows.push_back({std::to_string(++rank), ValueOr<std::string>(c, "cloudlet", ""), Fixed(ValueOr(c, "rtt_ms", 0.0)),
                    ValueOr<std::string>(c, "rtt_source", ""), Fixed(ValueOr(c, "queue_ms", 0.0)),
                    ValueOr<std::string>(provision, "mode", ""), Fixed(ValueOr(provision, "seconds", 0.0)),
                    Fixed(ValueOr(c, "cost_ms", 0.0), 2), ValueOr(c, "sla_met", false) ? "yes" : "no",
                    ValueOr<std::string>(c, "endpoint", "")});
  }
  if (Member(r, "placement_id").is_string()) {
    std::cout << "placement " << Member(r, "placement_id").get<std::string>() << " reserved on "
              << ValueOr<std::string>(Member(r, "chosen"), "cloudlet", "?") << " until "
              << ValueOr<std::string>(r, "expires_at", "") << " (confirm with POST /v1/placements/{id}/confirm)\n\n";
  } else {
    std::cout << "no cloudlet can take this app\n\n";
  }
  cli::PrintTable(std::cout, {"RANK", "CLOUDLET", "RTT ms", "FROM", "QUEUE ms", "PROVISION", "SECONDS", "COST ms", "SLA",
                              "ENDPOINT"},
                  rows);
  const json& rejected = Member(r, "rejected");
  if (rejected.is_object() && !rejected.empty()) {
    std::cout << "\nrejected:";
    for (const auto& [reason, n] : rejected.items()) std::cout << " " << reason << "=" << (n.is_number() ? n.get<int>() : 0);
    std::cout << "\n";
  }
  const json& fallback = Member(r, "fallback");
  if (fallback.is_object()) {
    std::cout << "\nno cloudlet meets the SLA; the cloud is the fallback: " << ValueOr<std::string>(fallback, "endpoint", "")
              << " (~" << Fixed(ValueOr(fallback, "rtt_ms", 0.0)) << " ms)\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"cloudlet: find and manage cloudlets through the registry (cloudletd).\n"
               "The registry URL comes from --registry or CLOUDLET_REGISTRY (default http://127.0.0.1:8470),\n"
               "the token from --token, --token-file, CLOUDLET_TOKEN or CLOUDLET_TOKEN_FILE."};
  app.set_version_flag("--version", std::string("cloudlet ") + CLOUDLET_VERSION);
  app.add_option("--registry", o.registry, "Registry base URL");
  app.add_option("--token", o.token, "Bearer token");
  app.add_option("--token-file", o.token_file, "File holding the bearer token");
  app.add_option("--timeout", o.timeout, "Give up on the registry after this long")->capture_default_str();
  app.add_flag("--json", o.json_output, "Print the registry's JSON instead of a table");
  app.add_option("--ca-file", o.ca_file, "PEM bundle to verify an https:// registry with")->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure, "Allow a plain http:// registry that is not on loopback");
  app.require_subcommand(1);
  app.fallthrough();  // --registry, --token, --json may also come after the subcommand

  auto* cloudlets = app.add_subcommand("cloudlets", "Registered cloudlets");
  cloudlets->require_subcommand(1);
  std::string state, base_vm, near, id;
  size_t limit = 0;
  auto* list = cloudlets->add_subcommand("list", "List cloudlets (sorted by id, or by distance with --near)");
  list->add_option("--state", state, "Only this state")->check(CLI::IsMember({"healthy", "suspect", "expired"}));
  list->add_option("--base-vm", base_vm, "Only cloudlets caching this base VM (digest or 12+ hex prefix)");
  list->add_option("--near", near, "Sort by distance from LAT,LON");
  list->add_option("--limit", limit, "At most this many")->check(CLI::Range(size_t{1}, size_t{100000}));
  auto* get = cloudlets->add_subcommand("get", "Show one cloudlet");
  get->add_option("id", id, "Cloudlet id")->required();
  auto* rm = cloudlets->add_subcommand("rm", "Deregister a cloudlet");
  rm->add_option("id", id, "Cloudlet id")->required();

  auto* place = app.add_subcommand("place", "Rank cloudlets for an app and reserve the best");
  std::string app_file, rtt, geo, client_id;
  int k = 0;
  place->add_option("--app", app_file, "JSON file: the request's `app` object (or a whole request)")->required();
  place->add_option("--rtt", rtt, "Measured RTTs: ID=MS[,ID=MS...]");
  place->add_option("--geo", geo, "The device's position: LAT,LON");
  place->add_option("--client-id", client_id, "The device's id (for network coordinates)");
  place->add_option("--k", k, "Candidates to return")->check(CLI::Range(1, 100));

  auto* tenants = app.add_subcommand("tenants", "Tenants (operator)");
  tenants->require_subcommand(1);
  std::string tenant_name;
  auto* tenants_add = tenants->add_subcommand("add", "Create a tenant");
  tenants_add->add_option("id", id, "Tenant id, 1-64 of [a-z0-9-]")->required();
  tenants_add->add_option("--name", tenant_name, "Display name");
  auto* tenants_list = tenants->add_subcommand("list", "List tenants");
  auto* tenants_disable = tenants->add_subcommand("disable", "Disable a tenant: all its tokens stop working");
  tenants_disable->add_option("id", id, "Tenant id")->required();
  auto* tenants_rotate = tenants->add_subcommand("rotate-key", "New app-token signing key: its app tokens stop working");
  tenants_rotate->add_option("id", id, "Tenant id")->required();

  auto* tokens = app.add_subcommand("tokens", "Tokens (operators: all; tenants: their own app tokens)");
  tokens->require_subcommand(1);
  std::string role = "app", tenant, cloudlet, scopes, ttl, description;
  auto* tokens_create = tokens->add_subcommand("create", "Create a token; its secret is printed once");
  tokens_create->add_option("--role", role, "operator, tenant, agent or app")->capture_default_str()
      ->check(CLI::IsMember({"operator", "tenant", "agent", "app"}));
  tokens_create->add_option("--tenant", tenant, "The tenant of a tenant or app token");
  tokens_create->add_option("--cloudlet", cloudlet, "The one cloudlet an agent token may write");
  tokens_create->add_option("--scopes", scopes, "Limit to these permissions, comma-separated (e.g. placement.read)");
  tokens_create->add_option("--ttl", ttl, "Lifetime, e.g. 1h or 30d (app tokens: at most 24h, default 1h)");
  tokens_create->add_option("--description", description, "What the token is for");
  auto* tokens_list = tokens->add_subcommand("list", "List tokens (never their secrets)");
  auto* tokens_revoke = tokens->add_subcommand("revoke", "Revoke a token at once");
  tokens_revoke->add_option("id", id, "Token id (accessor or app token id)")->required();

  auto* audit = app.add_subcommand("audit", "Recent administrative actions (operator)");
  size_t audit_limit = 50;
  audit->add_option("--limit", audit_limit, "How many, newest first")->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{10000}));

  auto* report = app.add_subcommand("report", "Usage and cost (operators: every tenant; tenants: their own)");
  std::string report_from, report_to, group_by = "tenant", report_tenant;
  bool csv = false;
  report->add_option("--from", report_from, "Start: YYYY-MM-DD or an RFC 3339 time (default: 30 days ago)");
  report->add_option("--to", report_to, "End, exclusive (default: tomorrow)");
  report->add_option("--group-by", group_by, "Any of tenant, cloudlet, day, hour, comma-separated")->capture_default_str();
  report->add_option("--tenant", report_tenant, "Only this tenant (operators)");
  report->add_flag("--csv", csv, "Print CSV (RFC 4180) instead of a table");

  auto* prices = app.add_subcommand("prices", "Price versions (operators set them; tenants read them)");
  prices->require_subcommand(1);
  std::string price_file;
  auto* prices_set = prices->add_subcommand("set", "Add a price version from a JSON file");
  prices_set->add_option("file", price_file, "JSON: {effective, currency, prices, tiers}")->required()->check(CLI::ExistingFile);
  auto* prices_list = prices->add_subcommand("list", "List the price versions");

  auto* discover = app.add_subcommand("discover", "Find cloudlets on the LAN over mDNS (and in the registry, if given)");
  std::string discover_timeout = "3s";
  bool watch = false;
  discover->add_option("--timeout", discover_timeout, "How long to browse before printing")->capture_default_str();
  discover->add_flag("--watch", watch, "Keep browsing; print the table again whenever it changes (Ctrl-C stops)");

  auto* sim = app.add_subcommand("sim", "Simulate users moving through an area and compare placement policies (docs/sim.md)");
  cli::SimCliOptions sim_options;
  uint64_t sim_seed = 0;
  sim->add_option("--scenario", sim_options.scenario, "Scenario JSON file (bundled: sim/scenarios/)")->required();
  sim->add_option("--out", sim_options.out, "Directory for summary.{csv,json,md}, timeseries.csv, plots")->required();
  sim->add_option("--policies", sim_options.policies,
                  "Comma-separated subset of cost,cost-predict,nearest,sinfonia,k8s,random,optimal (default: all)");
  auto* seed_option = sim->add_option("--seed", sim_seed, "Override the scenario's seed");
  sim->add_option("--live", sim_options.live_url,
                  "Run against this cloudletd: the scenario's cloudlets register and heartbeat as virtual agents, its "
                  "users place, confirm, move and release over HTTP (needs an operator --token)");
  sim->add_flag("--quiet", sim_options.quiet, "No progress bar");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }

  try {
    if (*sim) {
      if (*seed_option) sim_options.seed = sim_seed;
      if (!sim_options.live_url.empty()) {
        if (auto s = api::CheckServerUrl(sim_options.live_url, o.insecure, "--live"); !s.ok()) throw UsageError(s.message());
        sim_options.token = TokenOf(o);
      }
      sim_options.ca_file = o.ca_file;
      return cli::RunSim(sim_options);
    }
    if (*discover) {
      auto timeout = common::ParseDuration(discover_timeout, "--timeout");
      if (!timeout.ok() || timeout->count() <= 0) throw UsageError("--timeout: must be a duration > 0, e.g. 3s");
      spdlog::set_level(spdlog::level::err);  // the browser's log lines would mix with the table
      std::unique_ptr<RegistryClient> client;
      if (!o.registry.empty() || std::getenv("CLOUDLET_REGISTRY")) client = std::make_unique<RegistryClient>(o);
      cli::RegistryLister lister;
      if (client) lister = [&] { return client->Call("GET", "/v1/cloudlets")["cloudlets"]; };
      return cli::RunDiscover({.timeout = *timeout, .json = o.json_output, .watch = watch}, lister);
    }
    RegistryClient client(o);
    if (*list) {
      std::string query;
      auto add = [&](const char* key, const std::string& v) {
        if (!v.empty()) query += (query.empty() ? "?" : "&") + std::string(key) + "=" + UrlEncode(v);
      };
      add("state", state);
      add("base_vm", base_vm);
      add("near", near);
      add("limit", limit ? std::to_string(limit) : "");
      json body = client.Call("GET", "/v1/cloudlets" + query);
      if (o.json_output) std::cout << body.dump(2) << '\n';
      else PrintCloudlets(body["cloudlets"]);
    } else if (*get) {
      json body = client.Call("GET", "/v1/cloudlets/" + UrlEncode(id));
      if (o.json_output) std::cout << body.dump(2) << '\n';
      else PrintCloudlets(json::array({body}));
    } else if (*place) {
      const json request = BuildPlacementRequest(app_file, rtt, geo, client_id, k);
      json body = client.Call("POST", "/v1/placements", nullptr, request.dump());
      if (o.json_output) std::cout << body.dump(2) << '\n';
      else PrintPlacement(body);
    } else if (*tenants_add || *tenants_list || *tenants_disable || *tenants_rotate) {
      json body;
      if (*tenants_add) {
        body = client.Call("POST", "/v1/tenants", nullptr, json{{"id", id}, {"name", tenant_name}}.dump());
      } else if (*tenants_list) {
        body = client.Call("GET", "/v1/tenants");
      } else {
        body = client.Call("POST", "/v1/tenants/" + UrlEncode(id) + (*tenants_disable ? "/disable" : "/rotate-key"));
      }
      if (o.json_output) {
        std::cout << body.dump(2) << '\n';
      } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& t : body.contains("tenants") ? body["tenants"] : json::array({body})) {
          rows.push_back({t.value("id", ""), t.value("name", ""), t.value("created_at", ""),
                          (t.contains("disabled_at") && t["disabled_at"].is_string()) ? "disabled " + t["disabled_at"].get<std::string>() : "active",
                          t.value("key_id", "")});
        }
        cli::PrintTable(std::cout, {"ID", "NAME", "CREATED", "STATE", "SIGNING KEY ID"}, rows);
      }
    } else if (*tokens_create) {
      json request = {{"role", role}};
      if (!tenant.empty()) request["tenant"] = tenant;
      if (!cloudlet.empty()) request["cloudlet"] = cloudlet;
      if (!ttl.empty()) request["ttl"] = ttl;
      if (!description.empty()) request["description"] = description;
      if (!scopes.empty()) {
        json list = json::array();
        std::stringstream in(scopes);
        for (std::string s; std::getline(in, s, ',');) list.push_back(s);
        request["scopes"] = list;
      }
      json body = client.Call("POST", "/v1/tokens", nullptr, request.dump());
      if (o.json_output) {
        std::cout << body.dump(2) << '\n';
      } else {
        std::cout << body.value("token", "") << '\n';
        std::cerr << "created " << body.value("role", "") << " token " << body.value("id", "")
                  << ((body.contains("expires_at") && body["expires_at"].is_string()) ? ", expires " + body["expires_at"].get<std::string>() : "")
                  << "; the secret above is shown only now\n";
      }
    } else if (*tokens_list) {
      json body = client.Call("GET", "/v1/tokens");
      if (o.json_output) {
        std::cout << body.dump(2) << '\n';
      } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& t : body["tokens"]) {
          std::string scope_text;
          for (const auto& s : t.value("scopes", json::array())) scope_text += (scope_text.empty() ? "" : ",") + s.get<std::string>();
          rows.push_back({t.value("id", ""), t.value("role", ""), t.value("tenant", ""), t.value("cloudlet", ""),
                          scope_text.empty() ? "(role)" : scope_text,
                          (t.contains("expires_at") && t["expires_at"].is_string()) ? t["expires_at"].get<std::string>() : "never",
                          (t.contains("revoked_at") && t["revoked_at"].is_string()) ? "revoked" : "active", t.value("description", "")});
        }
        cli::PrintTable(std::cout, {"ID", "ROLE", "TENANT", "CLOUDLET", "SCOPES", "EXPIRES", "STATE", "DESCRIPTION"}, rows);
      }
    } else if (*tokens_revoke) {
      client.Call("DELETE", "/v1/tokens/" + UrlEncode(id));
      if (o.json_output) std::cout << json{{"id", id}, {"revoked", true}}.dump(2) << '\n';
      else std::cout << "revoked " << id << '\n';
    } else if (*audit) {
      json body = client.Call("GET", "/v1/audit?limit=" + std::to_string(audit_limit));
      if (o.json_output) {
        std::cout << body.dump(2) << '\n';
      } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& e : body["audit"]) {
          rows.push_back({e.value("at", ""), e.value("actor", ""), e.value("remote", ""), e.value("action", ""),
                          e.value("target", ""), e.value("detail", "")});
        }
        cli::PrintTable(std::cout, {"AT", "ACTOR", "FROM", "ACTION", "TARGET", "DETAIL"}, rows);
      }
    } else if (*report) {
      auto day = [](std::chrono::system_clock::time_point t) {
        const std::time_t tt = std::chrono::system_clock::to_time_t(t);
        char buf[16];
        std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&tt));
        return std::string(buf);
      };
      const auto now = std::chrono::system_clock::now();
      std::string query = "?from=" + UrlEncode(report_from.empty() ? day(now - std::chrono::hours(24 * 30)) : report_from) +
                          "&to=" + UrlEncode(report_to.empty() ? day(now + std::chrono::hours(24)) : report_to) +
                          "&group_by=" + UrlEncode(group_by) + (csv ? "&format=csv" : "");
      if (!report_tenant.empty()) query += "&tenant=" + UrlEncode(report_tenant);
      if (csv) {
        std::cout << client.Raw("GET", "/v1/reports/usage" + query);
      } else {
        json body = client.Call("GET", "/v1/reports/usage" + query);
        if (o.json_output) {
          std::cout << body.dump(2) << '\n';
        } else {
          std::vector<std::vector<std::string>> rows;
          auto add = [&](const json& line, const std::string& label) {
            const json q = line.value("quantities", json::object());
            rows.push_back({label.empty() ? line.value("tenant", "") : label, line.value("cloudlet", ""),
                            line.value("period", ""), Fixed(q.value("cpu_core_s", 0.0) / 3600, 3),
                            Fixed(q.value("mem_mib_s", 0.0) / 1024 / 3600, 3),
                            Fixed(q.value("net_in_bytes", 0.0) / (1 << 30), 3),
                            Fixed(q.value("net_out_bytes", 0.0) / (1 << 30), 3), Fixed(q.value("gpu_s", 0.0) / 3600, 3),
                            Fixed(q.value("instance_s", 0.0) / 3600, 3), Fixed(line.value("cost", 0.0), 2)});
          };
          for (const auto& line : body.value("lines", json::array())) add(line, "");
          add(body.value("total", json::object()), "TOTAL");
          cli::PrintTable(std::cout, {"TENANT", "CLOUDLET", "PERIOD", "CPU core-h", "MEM GiB-h", "NET IN GiB",
                                      "NET OUT GiB", "GPU h", "INSTANCE h", "COST " + body.value("currency", "")},
                          rows);
        }
      }
    } else if (*prices_set) {
      std::ifstream in(price_file);
      std::stringstream text;
      text << in.rdbuf();
      json body = client.Call("PUT", "/v1/prices", nullptr, text.str());
      std::cout << (o.json_output ? body.dump(2) : "price version from " + body.value("effective", "") + " saved") << '\n';
    } else if (*prices_list) {
      json body = client.Call("GET", "/v1/prices");
      std::cout << body.dump(2) << '\n';
    } else if (*rm) {
      client.Call("DELETE", "/v1/cloudlets/" + UrlEncode(id));
      if (o.json_output) std::cout << json{{"id", id}, {"deleted", true}}.dump(2) << '\n';
      else std::cout << "deregistered " << id << '\n';
    }
  } catch (const UsageError& e) {
    std::cerr << "cloudlet: " << e.what() << '\n';
    return kUsage;
  } catch (const Failure& e) {
    std::cerr << "cloudlet: " << e.what() << '\n';
    return kFailure;
  } catch (const std::exception& e) {
    std::cerr << "cloudlet: unexpected answer: " << e.what() << '\n';
    return kFailure;
  }
  return kOk;
}
