// cloudletd built in-process through server::Server with its own adapters: a manual clock, real
// SQLite stores in a temporary directory, and an HTTP server stand-in that hands the router to the
// test. Call() goes through the router as the HTTP layer would; Client() is an api::HttpClient
// that does the same, for code under test that speaks HTTP (the agent's reconciler).
#pragma once

#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "cloudlet/server/server.h"
#include "cloudlet/store/sqlite_stores.h"
#include "support/idle_http_server.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {

inline constexpr char kInProcessOperatorToken[] = "server-test-operator-token-0123456789";

class InProcessServer {
 public:
  explicit InProcessServer(server::ServerConfig config = {}) : config_(std::move(config)) {}

  // Opens the stores and starts the server; a failure is the test's.
  void Start() {
    auto stores = store::OpenSqliteStores(dir_.File("cloudlet.db"), clock_);
    ASSERT_TRUE(stores.ok()) << stores.status().ToString();
    stores_ = std::move(*stores);
    auto server = server::Server::Start(config_, Deps());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    ASSERT_NE(handler_, nullptr);
  }

  server::ServerDeps Deps() {
    return {.clock = clock_,
            .stores = {*stores_.registry, *stores_.placements, *stores_.credentials, *stores_.ledger, *stores_.ledger},
            .operator_token = kInProcessOperatorToken,
            .make_http_server = [this](const api::HttpServerOptions&, api::HttpHandler& h) -> std::unique_ptr<api::HttpServer> {
              handler_ = &h;
              return std::make_unique<IdleHttpServer>();
            }};
  }

  // One request through the router, as `token`'s bearer; waits for the answer (some come from
  // the server's worker threads).
  api::HttpResponse Call(const std::string& method, const std::string& path, const nlohmann::json& body = nullptr,
                         const std::string& token = kInProcessOperatorToken) {
    return CallText(method, path, body.is_null() ? "" : body.dump(), token);
  }

  // As Call, with the body as it is given (malformed JSON too).
  api::HttpResponse CallText(const std::string& method, const std::string& path, std::string body,
                             const std::string& token = kInProcessOperatorToken) {
    api::HttpRequest r{.method = method, .path = path, .query = {}, .headers = {},
                       .body = std::move(body), .remote_address = "127.0.0.1"};
    if (const size_t q = path.find('?'); q != std::string::npos) {
      r.path = path.substr(0, q);
      std::string rest = path.substr(q + 1);
      while (!rest.empty()) {
        const std::string pair = rest.substr(0, rest.find('&'));
        rest = pair.size() < rest.size() ? rest.substr(pair.size() + 1) : "";
        const size_t eq = pair.find('=');
        r.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
      }
    }
    r.headers["authorization"] = "Bearer " + token;
    auto answer = std::make_shared<std::promise<api::HttpResponse>>();
    handler_->Handle(std::move(r), [answer](api::HttpResponse a) { answer->set_value(std::move(a)); });
    auto f = answer->get_future();
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      ADD_FAILURE() << method << " " << path << " was not answered";
      return {.status = 599, .content_type = "", .headers = {}, .body = ""};
    }
    return f.get();
  }

  // An HTTP client whose requests to http://in-process/... reach this server's router; others go
  // out for real (libcurl), as a workload's health check does.
  std::unique_ptr<api::HttpClient> Client(std::string token = kInProcessOperatorToken) {
    return std::make_unique<RouterClient>(*this, std::move(token));
  }

  common::ManualClock& clock() { return clock_; }
  server::Server& server() { return *server_; }
  server::ServerConfig& config() { return config_; }
  TempDir& dir() { return dir_; }

 private:
  class RouterClient final : public api::HttpClient {
   public:
    RouterClient(InProcessServer& s, std::string token) : s_(s), token_(std::move(token)), real_(api::MakeHttpClient()) {}
    common::Result<api::ClientResponse> Send(const api::ClientRequest& req) override {
      constexpr std::string_view kBase = "http://in-process";
      if (!std::string_view(req.url).starts_with(kBase)) return real_->Send(req);
      std::string bearer = token_;
      if (auto a = req.headers.find("Authorization"); a != req.headers.end()) bearer = a->second.substr(7);
      const nlohmann::json body = req.body.empty() ? nlohmann::json() : nlohmann::json::parse(req.body, nullptr, false);
      api::HttpResponse r = s_.Call(req.method, req.url.substr(kBase.size()), body, bearer);
      return api::ClientResponse{.status = r.status, .body = r.body, .headers = {}};
    }

   private:
    InProcessServer& s_;
    std::string token_;
    std::unique_ptr<api::HttpClient> real_;
  };

  TempDir dir_;
  common::ManualClock clock_{common::FromUnixMillis(1'790'000'000'000)};
  server::ServerConfig config_;
  store::SqliteStores stores_;
  api::HttpHandler* handler_ = nullptr;
  std::unique_ptr<server::Server> server_;
};

}  // namespace cloudlet::testing
