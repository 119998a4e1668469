#include "support/in_process_cloudletd.h"

#include <cstdio>
#include <future>
#include <memory>

#include <nlohmann/json.hpp>

#include "cloudlet/common/clock.h"
#include "cloudlet/server/server.h"
#include "cloudlet/store/sqlite_stores.h"
#include "support/scratch.h"

namespace cloudlet::fuzz {

namespace {

class NoListener final : public api::HttpServer {
 public:
  common::Status Start() override { return common::Status::Ok(); }
  void Stop(std::chrono::milliseconds) override {}
};

}  // namespace

struct InProcessCloudletd::Parts {
  common::ManualClock clock{common::FromUnixMillis(1'790'000'000'000)};
  store::SqliteStores stores;
  api::HttpHandler* handler = nullptr;
  std::unique_ptr<server::Server> server;
};

InProcessCloudletd& InProcessCloudletd::Get() {
  static InProcessCloudletd* instance = new InProcessCloudletd();
  return *instance;
}

InProcessCloudletd::InProcessCloudletd() : parts_(new Parts) {
  auto stores = store::OpenSqliteStores(ScratchDirectory() + "/cloudlet.db", parts_->clock);
  if (!stores.ok()) DieInSetup(stores.status().ToString());
  parts_->stores = std::move(*stores);
  server::ServerConfig config;
  config.rate_limit = 0;
  auto& s = parts_->stores;
  auto server = server::Server::Start(
      config, {.clock = parts_->clock,
               .stores = {*s.registry, *s.placements, *s.credentials, *s.ledger, *s.ledger},
               .operator_token = kOperatorToken,
               .make_http_server = [this](const api::HttpServerOptions&, api::HttpHandler& h) {
                 parts_->handler = &h;
                 return std::unique_ptr<api::HttpServer>(new NoListener());
               }});
  if (!server.ok()) DieInSetup(server.status().ToString());
  parts_->server = std::move(*server);

  auto call = [&](const char* method, const std::string& path, const nlohmann::json& body) {
    api::HttpResponse r = Call({.method = method, .path = path, .query = {}, .headers = {}, .body = body.dump(),
                                .remote_address = "127.0.0.1"});
    if (r.status >= 300) DieInSetup(std::string(method) + " " + path + ": " + std::to_string(r.status) + " " + r.body);
    return nlohmann::json::parse(r.body, nullptr, false);
  };
  call("PUT", "/v1/cloudlets/cl-a",
       {{"endpoint", "http://127.0.0.1:1"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
        {"capacity", {{"cpu_millis", 64000}, {"mem_mb", 262144}}}, {"isolation", {"container", "vm"}}, {"wan_mbps", 100}});
  call("POST", "/v1/tenants", {{"id", "acme"}});
  const auto placed = call("POST", "/v1/placements",
                           {{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'a')}, {"base_vm_mb", 10},
                                     {"overlay_mb", 1}, {"cpu_millis", 500}, {"mem_mb", 64}}},
                            {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}});
  placement_id_ = placed.value("placement_id", "");
  if (placement_id_.empty()) DieInSetup("no placement id in " + placed.dump());
}

api::HttpResponse InProcessCloudletd::Call(api::HttpRequest request) {
  request.headers["authorization"] = std::string("Bearer ") + kOperatorToken;
  auto answer = std::make_shared<std::promise<api::HttpResponse>>();
  parts_->handler->Handle(std::move(request), [answer](api::HttpResponse a) { answer->set_value(std::move(a)); });
  auto f = answer->get_future();
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return {.status = 599, .content_type = "", .headers = {}, .body = "no answer within 10 s"};
  }
  return f.get();
}

void ExpectNoServerError(const api::HttpRequest& request, const api::HttpResponse& answer) {
  if (answer.status < 500) return;
  std::fprintf(stderr, "%s %s answered %d: %s\nbody sent (%zu bytes): %.2000s\n", request.method.c_str(),
               request.path.c_str(), answer.status, answer.body.c_str(), request.body.size(), request.body.c_str());
  std::abort();
}

}  // namespace cloudlet::fuzz
