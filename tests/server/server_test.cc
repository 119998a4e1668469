// cloudletd built in-process (support/in_process_server.h): the wiring, on the injected clock.
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/server/server.h"
#include "support/in_process_server.h"

namespace cloudlet::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { lab_.Start(); }
  api::HttpResponse Call(const std::string& method, const std::string& path, const json& body = nullptr) {
    return lab_.Call(method, path, body);
  }
  server::ServerDeps Deps() { return lab_.Deps(); }

  testing::InProcessServer lab_;
  common::ManualClock& clock_ = lab_.clock();
  ServerConfig& config_ = lab_.config();
};

json Cloudlet() {
  return {{"name", "Lab"}, {"endpoint", "http://127.0.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
          {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 16384}}}, {"isolation", {"container"}}, {"wan_mbps", 100}};
}

TEST_F(ServerTest, RegistersPlacesAndExpiresOnTheInjectedClock) {
  EXPECT_EQ(Call("PUT", "/v1/cloudlets/cl-lab", Cloudlet()).status, 201);
  auto placed = Call("POST", "/v1/placements",
                     {{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'a')}, {"base_vm_mb", 10},
                               {"overlay_mb", 1}, {"cpu_millis", 1000}, {"mem_mb", 128}, {"isolation", "container"}}}});
  ASSERT_EQ(placed.status, 201) << placed.body;
  EXPECT_EQ(json::parse(placed.body)["chosen"]["cloudlet"], "cl-lab");
  EXPECT_EQ(lab_.server().live_placements(), 1u);
  // Silence past the TTL on the server's clock: the cloudlet expires and takes no more placements.
  clock_.Advance(config_.registry.heartbeat_ttl + 1s);
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    if (json::parse(Call("GET", "/v1/cloudlets/cl-lab").body).value("state", "") == "expired") break;
    std::this_thread::sleep_for(50ms);  // the health scan runs on its own cadence
  }
  EXPECT_EQ(json::parse(Call("GET", "/v1/cloudlets/cl-lab").body)["state"], "expired");
}

json ContainerApp(const std::string& name = "ar") {
  return {{"name", name}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 100}, {"overlay_mb", 20},
          {"cpu_millis", 500}, {"mem_mb", 64}, {"isolation", "container"},
          {"image", "127.0.0.1:5000/ar@sha256:" + std::string(64, 'c')}, {"port", 8080}};
}

// A token of `role` (agent: for `cloudlet`; tenant: of tenant "acme"), made by the operator.
std::string TokenFor(testing::InProcessServer& lab, const std::string& role, const std::string& cloudlet = "") {
  if (role == "tenant") lab.Call("POST", "/v1/tenants", {{"id", "acme"}});
  json body = {{"role", role}};
  if (role == "agent") body["cloudlet"] = cloudlet;
  if (role == "tenant") body["tenant"] = "acme";
  auto r = lab.Call("POST", "/v1/tokens", body);
  EXPECT_EQ(r.status, 201) << r.body;
  return json::parse(r.body).value("token", "");
}

TEST_F(ServerTest, AnAgentReportsItsOwnPlacementsThroughTheLifecycleAndTheOwnerSeesEachStep) {
  ASSERT_EQ(Call("PUT", "/v1/cloudlets/cl-lab", Cloudlet()).status, 201);
  json other = Cloudlet();
  other["geo"] = {{"lat", 10}, {"lon", 10}};
  ASSERT_EQ(Call("PUT", "/v1/cloudlets/cl-far", other).status, 201);
  const std::string agent = TokenFor(lab_, "agent", "cl-lab");
  const std::string stranger = TokenFor(lab_, "agent", "cl-far");
  const std::string tenant = TokenFor(lab_, "tenant");
  auto placed = lab_.Call("POST", "/v1/placements",
                          {{"app", ContainerApp()}, {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}}, tenant);
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string id = json::parse(placed.body)["placement_id"];
  ASSERT_EQ(json::parse(placed.body)["chosen"]["cloudlet"], "cl-lab");

  // The agent of cl-lab sees it (with its app, not the device's position); the other agent may not look.
  auto mine = lab_.Call("GET", "/v1/cloudlets/cl-lab/placements", nullptr, agent);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const json listed = json::parse(mine.body);
  ASSERT_EQ(listed["placements"].size(), 1u);
  EXPECT_EQ(listed["placements"][0]["placement_id"], id);
  EXPECT_EQ(listed["placements"][0]["tenant"], "acme");
  EXPECT_EQ(listed["placements"][0]["app"]["port"], 8080);
  EXPECT_FALSE(listed["placements"][0].contains("request"));
  EXPECT_EQ(lab_.Call("GET", "/v1/cloudlets/cl-lab/placements", nullptr, stranger).status, 403);
  EXPECT_EQ(lab_.Call("GET", "/v1/cloudlets/cl-lab/placements", nullptr, tenant).status, 403);

  // A blocking query on the placement waits for the next change: the owner confirms meanwhile.
  const uint64_t index = json::parse(placed.body).value("modify_index", uint64_t{0});
  auto owner_view = json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body);
  const uint64_t seen = owner_view["modify_index"];
  EXPECT_GE(seen, index);
  auto waiting = std::async(std::launch::async, [&] {
    return lab_.Call("GET", "/v1/placements/" + id + "?index=" + std::to_string(seen) + "&wait=10s", nullptr, tenant);
  });
  EXPECT_EQ(waiting.wait_for(200ms), std::future_status::timeout) << "answered before anything changed";
  ASSERT_EQ(lab_.Call("POST", "/v1/placements/" + id + "/confirm", nullptr, tenant).status, 200);
  auto changed = waiting.get();
  ASSERT_EQ(changed.status, 200) << changed.body;
  EXPECT_EQ(json::parse(changed.body)["state"], "active");

  // Only cl-lab's agent reports on it; bad reports name the field and change nothing.
  auto report = [&](const json& body, const std::string& token) {
    return lab_.Call("POST", "/v1/placements/" + id + "/status", body, token);
  };
  EXPECT_EQ(report({{"state", "provisioning"}}, stranger).status, 404);
  EXPECT_EQ(report({{"state", "provisioning"}}, tenant).status, 403);
  auto bad = report({{"state", "running"}}, agent);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("endpoint"), std::string::npos) << bad.body;
  EXPECT_EQ(report({{"state", "sleeping"}}, agent).status, 400);
  EXPECT_EQ(report({{"state", "running"}, {"endpoint", "10.0.0.7:41000"}, {"colour", "red"}}, agent).status, 400);
  EXPECT_EQ(json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body)["state"], "active");

  ASSERT_EQ(report({{"state", "provisioning"}}, agent).status, 200);
  EXPECT_EQ(json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body)["state"], "provisioning");
  auto running = report({{"state", "running"}, {"endpoint", "10.0.0.7:41000"},
                         {"provision", {{"mode", "full"}, {"seconds", 3.5}, {"bytes", 20 << 20}, {"pull_seconds", 3},
                                        {"start_seconds", 0.5}}}},
                        agent);
  ASSERT_EQ(running.status, 200) << running.body;
  const json now = json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body);
  EXPECT_EQ(now["state"], "running");
  EXPECT_EQ(now["endpoint"], "10.0.0.7:41000");
  EXPECT_EQ(now["provision"]["mode"], "full");

  // The meter's live figures: shown on the running placement, without moving its index; another
  // cloudlet's agent moves nothing; bad figures name the field.
  auto live = [&](const json& workloads, const std::string& token, const std::string& cloudlet = "cl-lab") {
    return lab_.Call("PUT", "/v1/cloudlets/" + cloudlet + "/workloads",
                     {{"at", "2026-12-01T10:00:00Z"}, {"workloads", workloads}}, token);
  };
  auto took = live({{{"placement_id", id}, {"cpu_millis", 812}, {"mem_mib", 41.5}, {"net_in_bytes", 10}}}, agent);
  ASSERT_EQ(took.status, 200) << took.body;
  EXPECT_EQ(json::parse(took.body)["taken"], 1);
  const json shown = json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body);
  EXPECT_EQ(shown["live"]["cpu_millis"], 812);
  EXPECT_EQ(shown["live"]["mem_mib"], 41.5);
  EXPECT_EQ(shown["modify_index"], now["modify_index"]) << "live figures wake no blocking query";
  EXPECT_EQ(live({{{"placement_id", id}, {"cpu_millis", 1}, {"mem_mib", 1}}}, stranger).status, 403);
  EXPECT_EQ(json::parse(live({{{"placement_id", id}, {"cpu_millis", 1}, {"mem_mib", 1}}}, stranger, "cl-far").body)["taken"], 0);
  auto negative = live({{{"placement_id", id}, {"cpu_millis", -5}, {"mem_mib", 1}}}, agent);
  EXPECT_EQ(negative.status, 400);
  EXPECT_NE(negative.body.find("workloads[0].cpu_millis"), std::string::npos) << negative.body;
  EXPECT_EQ(json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body)["live"]["cpu_millis"], 812);

  // The app exits: failed with the reason, which ends the placement and frees its capacity.
  ASSERT_EQ(report({{"state", "failed"}, {"reason", "out of memory"}}, agent).status, 200);
  const json failed = json::parse(lab_.Call("GET", "/v1/placements/" + id, nullptr, tenant).body);
  EXPECT_EQ(failed["state"], "failed");
  EXPECT_EQ(failed["reason"], "out of memory");
  EXPECT_EQ(lab_.server().live_placements(), 0u);
  EXPECT_EQ(report({{"state", "provisioning"}}, agent).status, 409);
  EXPECT_TRUE(json::parse(lab_.Call("GET", "/v1/cloudlets/cl-lab/placements", nullptr, agent).body)["placements"].empty());
}

TEST_F(ServerTest, OnceACloudletIsObservedSlowTheEngineUsesWhatItMeasuredAndTheOtherWins) {
  // Two cloudlets alike in all but name, both at the device's position.
  ASSERT_EQ(Call("PUT", "/v1/cloudlets/cl-a", Cloudlet()).status, 201);
  ASSERT_EQ(Call("PUT", "/v1/cloudlets/cl-b", Cloudlet()).status, 201);
  json request = {{"app", ContainerApp()}, {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}, {"k", 2}};
  auto first = json::parse(Call("POST", "/v1/placements", request).body);
  ASSERT_EQ(first["candidates"].size(), 2u);
  for (const auto& c : first["candidates"]) EXPECT_EQ(c["provision"]["model"], "modelled");
  const double modelled_s = first["candidates"][0]["provision"]["seconds"];
  // Whichever won, its agent measures a slow provisioning: 20 MiB in 40 s, and 5 s to start.
  const std::string slow = first["chosen"]["cloudlet"];
  const std::string fast = slow == "cl-a" ? "cl-b" : "cl-a";
  const std::string id = first["placement_id"];
  ASSERT_EQ(Call("POST", "/v1/placements/" + id + "/status",
                 {{"state", "running"}, {"endpoint", "10.0.0.7:41000"},
                  {"provision", {{"mode", "full"}, {"seconds", 45}, {"bytes", 20 << 20}, {"pull_seconds", 40},
                                 {"start_seconds", 5}}}})
                .status,
            200);
  // Released, so that only what was learned tells the two apart.
  ASSERT_EQ(Call("DELETE", "/v1/placements/" + id).status, 204);
  request["app"]["name"] = "another";
  auto second = json::parse(Call("POST", "/v1/placements", request).body);
  EXPECT_EQ(second["chosen"]["cloudlet"], fast) << second.dump();
  for (const auto& c : second["candidates"]) {
    EXPECT_EQ(c["provision"]["model"], c["cloudlet"] == slow ? "observed" : "modelled") << c.dump();
    if (c["cloudlet"] == slow) {
      EXPECT_GT(c["provision"]["seconds"].get<double>(), modelled_s);
    }
  }
}

TEST_F(ServerTest, AConfigurationThatCannotWorkIsRefusedNamingTheField) {
  ServerConfig c;
  c.registry.heartbeat_ttl = c.registry.heartbeat_interval;
  EXPECT_EQ(c.Validate().field().value_or(""), "registry.heartbeat_ttl");
  c = {};
  c.model.synthesis.early_start_fraction = 2;
  EXPECT_EQ(c.Validate().field().value_or(""), "model.synthesis.early_start_fraction");
  c = {};
  c.http.tls_cert_file = "cert.pem";
  EXPECT_EQ(c.Validate().field().value_or(""), "http.tls_cert_file");
  c = {};
  c.lease = 0ms;
  auto refused = Server::Start(c, Deps());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().field().value_or(""), "lease");
}

}  // namespace
}  // namespace cloudlet::server
