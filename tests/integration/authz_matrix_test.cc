// Every route with every kind of caller, against a table of expected status codes kept here; then
// what tenant B was sent must hold nothing of tenant A's, and no token secret may be found in the
// logs, the listings or the database files.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "support/child_process.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kBaseVm = "sha256:" + std::string(64, 'e');

json Cloudlet() {
  return {{"endpoint", "http://10.1.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
          {"capacity", {{"cpu_millis", 1'000'000}, {"mem_mb", 1'000'000}}}, {"isolation", {"vm"}},
          {"wan_mbps", 1000}, {"base_vms", {{{"digest", kBaseVm}, {"size_mb", 1000}}}}};
}

json PlacementRequest() {
  return {{"app", {{"name", "ar"}, {"base_vm", kBaseVm}, {"base_vm_mb", 1000}, {"overlay_mb", 100},
                   {"cpu_millis", 10}, {"mem_mb", 10}, {"service_ms", 5}, {"req_rate_hz", 5}, {"session_s", 600},
                   {"max_rtt_ms", 500}}},
          {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}};
}

// The callers, in the order of the table's columns.
enum Who { kNone, kBad, kExpired, kRevoked, kOperator, kTenantA, kTenantB, kAgentX, kAgentY, kAppA, kWhoCount };
const char* kWhoNames[] = {"none", "bad", "expired", "revoked", "operator", "tenant A", "tenant B",
                           "agent X", "agent Y", "app A"};

struct Cell {
  std::string method, path, body;
};

struct Row {
  std::string route;
  std::array<int, kWhoCount> expected;
  // Makes the request for one caller (fresh objects where a call would consume them).
  std::function<Cell()> request;
};

class AuthzMatrixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = std::make_unique<CloudletdProcess>(std::vector<std::string>{
        "--rate-limit", "0", "--bad-token-limit", "1000000", "--log-level", "debug"});
    d_->Start();
    for (const char* t : {"acme", "globex"}) {
      ASSERT_EQ(d_->Call("POST", "/v1/tenants", json{{"id", t}}.dump()).status, 201);
    }
    tokens_[kNone] = "";
    tokens_[kBad] = "clt_aaaaaaaaaaaaaaaa_not-a-real-secret-at-all-000000000000000";
    tokens_[kOperator] = kOperatorToken;
    tokens_[kTenantA] = Issue({{"role", "tenant"}, {"tenant", "acme"}});
    tokens_[kTenantB] = Issue({{"role", "tenant"}, {"tenant", "globex"}});
    tokens_[kAgentX] = Issue({{"role", "agent"}, {"cloudlet", "cl-x"}});
    tokens_[kAgentY] = Issue({{"role", "agent"}, {"cloudlet", "cl-y"}});
    tokens_[kAppA] = Issue({{"role", "app"}, {"tenant", "acme"}, {"ttl", "1h"}});
    tokens_[kExpired] = Issue({{"role", "tenant"}, {"tenant", "acme"}, {"ttl", "1s"}});
    const json revoked = Created("/v1/tokens", {{"role", "tenant"}, {"tenant", "acme"}});
    tokens_[kRevoked] = revoked["token"];
    ASSERT_EQ(d_->Call("DELETE", "/v1/tokens/" + revoked["id"].get<std::string>()).status, 204);
    for (const char* id : {"cl-x", "cl-y"}) ASSERT_EQ(d_->Call("PUT", std::string("/v1/cloudlets/") + id, Cloudlet().dump()).status, 201);
    std::this_thread::sleep_for(1100ms);  // the 1 s token has expired
  }

  json Created(const std::string& path, const json& body, const std::string& as = kOperatorToken) {
    auto r = d_->Call("POST", path, body.dump(), as.c_str());
    EXPECT_EQ(r.status, 201) << path << " " << r.body;
    json j = json::parse(r.body, nullptr, false);
    if (j.contains("token")) secrets_.push_back(j["token"]);
    return j;
  }
  std::string Issue(const json& body) { return Created("/v1/tokens", body)["token"]; }
  // A placement of tenant A's app, for routes that act on one.
  std::string PlacementOfA() {
    auto j = Created("/v1/placements", PlacementRequest(), tokens_[kAppA]);
    a_ids_.push_back(j.value("placement_id", ""));
    return a_ids_.back();
  }
  // One on cl-x (its client measured cl-x close), for the routes of cl-x's agent.
  std::string PlacementOfAOnX() {
    json request = PlacementRequest();
    request["client"]["rtt_ms"] = {{"cl-x", 1}, {"cl-y", 400}};
    auto j = Created("/v1/placements", request, tokens_[kAppA]);
    EXPECT_EQ(j["chosen"]["cloudlet"], "cl-x");
    a_ids_.push_back(j.value("placement_id", ""));
    return a_ids_.back();
  }
  std::string AppTokenOfA() {
    auto j = Created("/v1/tokens", {{"role", "app"}, {"ttl", "1h"}}, tokens_[kTenantA]);
    a_ids_.push_back(j["id"]);
    return j["id"];
  }

  std::unique_ptr<CloudletdProcess> d_;
  std::array<std::string, kWhoCount> tokens_;
  std::vector<std::string> secrets_;
  std::vector<std::string> a_ids_;  // tenant A's placement and token ids
};

TEST_F(AuthzMatrixTest, EveryRouteWithEveryCallerAnswersAsTheTableSays) {
  constexpr int U = 401, F = 403, N = 404;
  int tenant_seq = 0;
  const std::string loc = json{{"geo", {{"lat", 40.45}, {"lon", -79.95}}}}.dump();
  const std::vector<Row> table = {
      //                                     none bad exp rev  op  tA  tB  aX  aY app
      {"GET /healthz",                     {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, [] { return Cell{"GET", "/healthz", ""}; }},
      {"GET /metrics (loopback)",          {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, [] { return Cell{"GET", "/metrics", ""}; }},
      {"GET /ui/ (no data in it)",         {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}, [] { return Cell{"GET", "/ui/", ""}; }},
      {"GET /v1/cloudlets",                {U, U, U, U, 200, 200, 200, 200, 200, 200}, [] { return Cell{"GET", "/v1/cloudlets", ""}; }},
      {"GET /v1/cloudlets/{id}",           {U, U, U, U, 200, 200, 200, 200, 200, 200}, [] { return Cell{"GET", "/v1/cloudlets/cl-x", ""}; }},
      {"PUT /v1/cloudlets/{id}",           {U, U, U, U, 200, F, F, 200, F, F}, [] { return Cell{"PUT", "/v1/cloudlets/cl-x", Cloudlet().dump()}; }},
      {"POST /v1/cloudlets/{id}/heartbeat", {U, U, U, U, 200, F, F, 200, F, F}, [] { return Cell{"POST", "/v1/cloudlets/cl-x/heartbeat", R"({"load":0.2})"}; }},
      {"DELETE /v1/cloudlets/{id}",        {U, U, U, U, 204, F, F, 204, F, F}, [this] {
         d_->Call("PUT", "/v1/cloudlets/cl-x", Cloudlet().dump());  // back for the next caller
         return Cell{"DELETE", "/v1/cloudlets/cl-x", ""}; }},
      {"POST /v1/placements",              {U, U, U, U, 201, 201, 201, F, F, 201}, [] { return Cell{"POST", "/v1/placements", PlacementRequest().dump()}; }},
      {"GET /v1/placements",               {U, U, U, U, 200, 200, 200, F, F, 200}, [] { return Cell{"GET", "/v1/placements", ""}; }},
      {"GET /v1/placements/{id}",          {U, U, U, U, 200, 200, N, F, F, 200}, [this] { return Cell{"GET", "/v1/placements/" + PlacementOfA(), ""}; }},
      {"POST /v1/placements/{id}/confirm", {U, U, U, U, 200, 200, N, F, F, 200}, [this] { return Cell{"POST", "/v1/placements/" + PlacementOfA() + "/confirm", ""}; }},
      {"POST /v1/placements/{id}/location", {U, U, U, U, 200, 200, N, F, F, 200}, [this, loc] { return Cell{"POST", "/v1/placements/" + PlacementOfA() + "/location", loc}; }},
      {"DELETE /v1/placements/{id}",       {U, U, U, U, 204, 204, N, F, F, 204}, [this] { return Cell{"DELETE", "/v1/placements/" + PlacementOfA(), ""}; }},
      {"GET /v1/cloudlets/{id}/placements", {U, U, U, U, 200, F, F, 200, F, F}, [] { return Cell{"GET", "/v1/cloudlets/cl-x/placements", ""}; }},
      {"POST /v1/placements/{id}/status",  {U, U, U, U, 200, F, F, 200, N, F}, [this] {
         return Cell{"POST", "/v1/placements/" + PlacementOfAOnX() + "/status", R"({"state":"provisioning"})"}; }},
      {"PUT /v1/cloudlets/{id}/workloads", {U, U, U, U, 200, F, F, 200, F, F}, [] {
         return Cell{"PUT", "/v1/cloudlets/cl-x/workloads", R"({"at":"2026-12-01T10:00:00Z","workloads":[]})"}; }},
      {"POST /v1/rtt (from cl-x)",         {U, U, U, U, 200, 200, 200, 200, F, 200}, [] { return Cell{"POST", "/v1/rtt", R"({"from":"cl-x","samples":[{"to":"cl-y","rtt_ms":3}]})"}; }},
      {"POST /v1/tenants",                 {U, U, U, U, 201, F, F, F, F, F}, [&tenant_seq] { return Cell{"POST", "/v1/tenants", json{{"id", "t" + std::to_string(tenant_seq++)}}.dump()}; }},
      {"GET /v1/tenants",                  {U, U, U, U, 200, F, F, F, F, F}, [] { return Cell{"GET", "/v1/tenants", ""}; }},
      {"POST /v1/tenants/{id}/rotate-key", {U, U, U, U, 200, F, F, F, F, F}, [] { return Cell{"POST", "/v1/tenants/globex/rotate-key", ""}; }},
      {"POST /v1/tenants/{id}/disable",    {U, U, U, U, 200, F, F, F, F, F}, [this, &tenant_seq] {
         const std::string id = "d" + std::to_string(tenant_seq++);
         d_->Call("POST", "/v1/tenants", json{{"id", id}}.dump());
         return Cell{"POST", "/v1/tenants/" + id + "/disable", ""}; }},
      {"PUT /v1/tenants/{id}/quotas",      {U, U, U, U, 200, F, F, F, F, F}, [] { return Cell{"PUT", "/v1/tenants/globex/quotas", R"({"max_placements":1000})"}; }},
      {"POST /v1/tokens (app)",            {U, U, U, U, 201, 201, 201, F, F, F}, [] { return Cell{"POST", "/v1/tokens", R"({"role":"app","tenant":"acme","ttl":"1h"})"}; }},
      {"POST /v1/tokens (tenant)",         {U, U, U, U, 201, F, F, F, F, F}, [] { return Cell{"POST", "/v1/tokens", R"({"role":"tenant","tenant":"acme"})"}; }},
      {"GET /v1/tokens",                   {U, U, U, U, 200, 200, 200, F, F, F}, [] { return Cell{"GET", "/v1/tokens", ""}; }},
      {"DELETE /v1/tokens/{id}",           {U, U, U, U, 204, 204, N, F, F, F}, [this] { return Cell{"DELETE", "/v1/tokens/" + AppTokenOfA(), ""}; }},
      {"GET /v1/audit",                    {U, U, U, U, 200, F, F, F, F, F}, [] { return Cell{"GET", "/v1/audit", ""}; }},
      {"POST /v1/usage (cl-x, acme)",      {U, U, U, U, 200, F, F, 200, 200, F}, [&tenant_seq] {
         // Agent Y is answered 200 with the record rejected: it may not speak for cl-x.
         return Cell{"POST", "/v1/usage", json{{"records", {{{"event_id", "u" + std::to_string(tenant_seq++)},
             {"tenant", "acme"}, {"cloudlet", "cl-x"}, {"start", "2026-11-01T00:00:00Z"},
             {"end", "2026-11-01T01:00:00Z"}, {"quantities", {{"cpu_core_s", 1}}}}}}}.dump()}; }},
      {"GET /v1/reports/usage",            {U, U, U, U, 200, 200, 200, F, F, F}, [] { return Cell{"GET", "/v1/reports/usage?from=2026-01-01&to=2026-12-31&group_by=tenant", ""}; }},
      {"PUT /v1/prices",                   {U, U, U, U, 200, F, F, F, F, F}, [] { return Cell{"PUT", "/v1/prices", R"({"effective":"2026-01-01","prices":{"cpu_core_hour":0.1}})"}; }},
      {"GET /v1/prices",                   {U, U, U, U, 200, 200, 200, F, F, F}, [] { return Cell{"GET", "/v1/prices", ""}; }},
  };

  std::vector<std::pair<std::string, std::string>> sent_to_b;  // (what B asked for, what B got)
  for (const Row& row : table) {
    for (int who = 0; who < kWhoCount; ++who) {
      const Cell cell = row.request();
      auto r = d_->Call(cell.method, cell.path, cell.body, tokens_[who].c_str());
      EXPECT_EQ(r.status, row.expected[who]) << row.route << " as " << kWhoNames[who] << ": " << r.body;
      if (r.body.find("\"token\"") != std::string::npos) {
        auto j = json::parse(r.body, nullptr, false);
        if (j.is_object() && j["token"].is_string()) secrets_.push_back(j["token"]);
      }
      if (who == kTenantB) sent_to_b.push_back({cell.path, r.body});
    }
  }

  // Tenant B never saw anything of tenant A's, beyond the id it asked about being named unknown.
  for (const auto& [asked, body] : sent_to_b) {
    for (const auto& id : a_ids_) {
      if (id.empty() || asked.find(id) != std::string::npos) continue;
      EXPECT_EQ(body.find(id), std::string::npos) << "tenant B was sent " << id << ": " << body;
    }
    EXPECT_EQ(body.find("\"acme\""), std::string::npos) << body;
  }

  // No secret in the logs, the listings or the database files.
  const std::string listing = d_->Call("GET", "/v1/tokens").body;
  std::string files = d_->Log();
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(d_->db()).parent_path())) {
    files += ReadFileOrEmpty(entry.path().string());
  }
  ASSERT_GT(secrets_.size(), 10u);
  for (const auto& secret : secrets_) {
    // The secret part: after "clt_<16-char accessor>_", or a whole app token.
    const std::string part = secret.rfind("clt_", 0) == 0 ? secret.substr(21) : secret;
    EXPECT_EQ(listing.find(part), std::string::npos) << "a listing holds a secret";
    EXPECT_EQ(files.find(part), std::string::npos) << "the log or the database holds a secret";
  }
  EXPECT_EQ(files.find(kOperatorToken), std::string::npos) << "the database or log holds the bootstrap token";
}

}  // namespace
}  // namespace cloudlet::testing
