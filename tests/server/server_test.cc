// cloudletd built in-process through server::Server with its own adapters: a manual clock, real
// SQLite stores in a temporary directory, and an HTTP server stand-in that hands the router to the
// test, which calls it as the HTTP layer would.
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/server/server.h"
#include "cloudlet/store/sqlite_stores.h"
#include "support/temp_dir.h"

namespace cloudlet::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr char kToken[] = "server-test-operator-token-0123456789";

class CapturingServer final : public api::HttpServer {
 public:
  common::Status Start() override { return common::Status::Ok(); }
  void Stop(std::chrono::milliseconds) override {}
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto stores = store::OpenSqliteStores(dir_.File("cloudlet.db"), clock_);
    ASSERT_TRUE(stores.ok()) << stores.status().ToString();
    stores_ = std::move(*stores);
    auto server = Server::Start(config_, Deps());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_NE(handler_, nullptr);
  }

  ServerDeps Deps() {
    return {.clock = clock_,
            .stores = {*stores_.registry, *stores_.placements, *stores_.credentials, *stores_.ledger, *stores_.ledger},
            .operator_token = kToken,
            .make_http_server = [this](const api::HttpServerOptions&, api::HttpHandler& h) -> std::unique_ptr<api::HttpServer> {
              handler_ = &h;
              return std::make_unique<CapturingServer>();
            }};
  }

  // One request through the router; waits for the answer (writes answer from the writer thread).
  api::HttpResponse Call(const std::string& method, const std::string& path, const json& body = nullptr) {
    auto answer = std::make_shared<std::promise<api::HttpResponse>>();
    api::HttpRequest r{.method = method, .path = path, .query = {}, .headers = {}, .body = body.is_null() ? "" : body.dump(),
                       .remote_address = "127.0.0.1"};
    r.headers["authorization"] = std::string("Bearer ") + kToken;
    handler_->Handle(std::move(r), [answer](api::HttpResponse a) { answer->set_value(std::move(a)); });
    auto f = answer->get_future();
    EXPECT_EQ(f.wait_for(10s), std::future_status::ready) << method << " " << path;
    return f.get();
  }

  testing::TempDir dir_;
  common::ManualClock clock_{common::FromUnixMillis(1'790'000'000'000)};
  ServerConfig config_;
  store::SqliteStores stores_;
  api::HttpHandler* handler_ = nullptr;
  std::unique_ptr<Server> server_;
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
  EXPECT_EQ(server_->live_placements(), 1u);
  // Silence past the TTL on the server's clock: the cloudlet expires and takes no more placements.
  clock_.Advance(config_.registry.heartbeat_ttl + 1s);
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
    if (json::parse(Call("GET", "/v1/cloudlets/cl-lab").body).value("state", "") == "expired") break;
    std::this_thread::sleep_for(50ms);  // the health scan runs on its own cadence
  }
  EXPECT_EQ(json::parse(Call("GET", "/v1/cloudlets/cl-lab").body)["state"], "expired");
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
