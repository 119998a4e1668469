// The client library's engine on fakes at its seams: an HTTP transport answering by URL and a LAN
// browser fed by hand with adverts signed by real Ed25519 keys.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "cloudlet/auth/ed25519.h"
#include "cloudlet/discovery/txt_record.h"
#include "session.h"
#include "support/temp_dir.h"

namespace cloudlet::client {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Answers each request with what `route` returns; records every URL asked.
class FakeHttp final : public api::HttpClient {
 public:
  using Route = std::function<common::Result<api::ClientResponse>(const api::ClientRequest&)>;
  FakeHttp(Route route, std::vector<std::string>* log, std::mutex* mu) : route_(std::move(route)), log_(log), mu_(mu) {}
  common::Result<api::ClientResponse> Send(const api::ClientRequest& r) override {
    {
      std::lock_guard lock(*mu_);
      log_->push_back(r.method + " " + r.url);
    }
    return route_(r);
  }

 private:
  Route route_;
  std::vector<std::string>* log_;
  std::mutex* mu_;
};

class FakeBrowser final : public discovery::ServiceBrowser {
 public:
  bool connected() const override { return true; }
};

api::ClientResponse Answer(long status, const json& body) { return {status, body.dump(), {}}; }

class SessionTest : public ::testing::Test {
 protected:
  HttpFactory Http() {
    return [this] { return std::make_unique<FakeHttp>([this](const api::ClientRequest& r) { return route(r); }, &log, &mu); };
  }
  std::unique_ptr<Session> Make(SessionOptions o, BrowserFactory browser = {}) {
    o.use_lan = static_cast<bool>(browser);
    o.browse = 1ms;
    auto s = Session::Create(std::move(o), Http(), std::move(browser));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? std::move(*s) : nullptr;
  }
  size_t Count(const std::string& prefix) {
    std::lock_guard lock(mu);
    return static_cast<size_t>(std::count_if(log.begin(), log.end(), [&](const std::string& l) { return l.rfind(prefix, 0) == 0; }));
  }

  FakeHttp::Route route;
  std::vector<std::string> log;
  std::mutex mu;
};

json Record(const std::string& id, const std::string& endpoint, const std::string& key = "") {
  json r = {{"id", id}, {"name", id}, {"endpoint", endpoint}, {"state", "healthy"}, {"load", 0.1}};
  if (!key.empty()) r["public_key"] = key;
  return r;
}

TEST_F(SessionTest, FailsOverOnRefusalAndServerErrorsButNotOnTheCallersMistakes) {
  route = [](const api::ClientRequest& r) -> common::Result<api::ClientResponse> {
    if (r.url.rfind("http://127.0.0.1:1/", 0) == 0) return common::Status::Unavailable("connection refused");
    if (r.url.rfind("http://127.0.0.1:2/", 0) == 0) return Answer(503, {{"detail", "draining"}});
    if (r.url.find("/v1/cloudlets?") != std::string::npos) return Answer(200, {{"cloudlets", json::array({Record("cl-a", "http://127.0.0.1:9")})}});
    if (r.url.find("/v1/ping") != std::string::npos) return Answer(200, json::object());
    if (r.method == "DELETE") return Answer(404, {{"detail", "no placement 'pl-1'"}});
    return Answer(500, json::object());
  };
  auto s = Make({.registries = {"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}, .token = "t"});
  auto found = s->Find(5s);
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "cl-a");
  EXPECT_EQ((*found)[0].source, "registry");
  EXPECT_TRUE((*found)[0].rtt_ms.has_value());
  // The registry that answered is asked first from now on: no more trips to the dead ones.
  const size_t dead = Count("GET http://127.0.0.1:1/");
  ASSERT_TRUE(s->Find(5s).ok());
  EXPECT_EQ(Count("GET http://127.0.0.1:1/"), dead);
  // A 404 is the answer, not a reason to ask another registry.
  const size_t deletes = Count("DELETE");
  auto released = s->Release("pl-1", 5s);
  EXPECT_EQ(released.code(), common::StatusCode::kNotFound);
  EXPECT_NE(released.message().find("no placement 'pl-1'"), std::string::npos);
  EXPECT_EQ(Count("DELETE"), deletes + 1);
}

TEST_F(SessionTest, EveryRegistryDownIsUnavailableNamingEachOne) {
  route = [](const api::ClientRequest&) -> common::Result<api::ClientResponse> {
    return common::Status::Unavailable("connection refused");
  };
  auto s = Make({.registries = {"http://127.0.0.1:1", "http://127.0.0.1:2"}});
  auto found = s->Find(2s);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), common::StatusCode::kUnavailable);
  for (const char* url : {"http://127.0.0.1:1: connection refused", "http://127.0.0.1:2: connection refused"}) {
    EXPECT_NE(found.status().message().find(url), std::string::npos) << found.status().message();
  }
  EXPECT_EQ(Count("GET"), 4u);  // two rounds, then it stops
}

TEST_F(SessionTest, KeepsOnlyLanAdvertsSignedWithTheRegisteredKey) {
  testing::TempDir dir;
  auto real_key = auth::LoadOrCreateSigningKey(dir.File("real.key"));
  auto rogue_key = auth::LoadOrCreateSigningKey(dir.File("rogue.key"));
  ASSERT_TRUE(real_key.ok() && rogue_key.ok());
  route = [&](const api::ClientRequest& r) -> common::Result<api::ClientResponse> {
    if (r.url.find("/v1/cloudlets?") != std::string::npos) {
      return Answer(200, {{"cloudlets", json::array({Record("cl-real", "http://10.0.0.1:8471", (*real_key)->public_key()),
                                                     Record("cl-far", "http://10.9.0.1:8471")})}});
    }
    if (r.url.find("/v1/cloudlets/cl-unknown") != std::string::npos) return Answer(404, {{"detail", "no cloudlet"}});
    if (r.url.find("/v1/ping") != std::string::npos) return Answer(200, json::object());
    return Answer(500, json::object());
  };
  discovery::ServiceEventHandler feed;
  BrowserFactory browser = [&](discovery::ServiceEventHandler on_event) -> common::Result<std::unique_ptr<discovery::ServiceBrowser>> {
    feed = on_event;
    return std::unique_ptr<discovery::ServiceBrowser>(std::make_unique<FakeBrowser>());
  };
  auto s = Make({.registries = {"http://127.0.0.1:3"}}, browser);
  ASSERT_TRUE(feed);
  auto advert = [&](const std::string& name, const std::string& id, const auth::SigningKey& key, const std::string& address) {
    discovery::Advert a;
    a.id = id;
    a.cpu_free_millis = 1000, a.cpu_total_millis = 2000, a.mem_free_mb = 10, a.mem_total_mb = 20;
    a.load_percent = 40;
    a.isolation = {"container"};
    a.seq = 1;
    discovery::ServiceEvent e{.kind = discovery::ServiceEvent::Kind::kResolved,
                              .instance = {.interface = "eth0", .protocol = "IPv4", .name = name, .type = "_cloudlet._tcp",
                                           .domain = "local", .host = name + ".local", .address = address, .port = 8471},
                              .txt = discovery::EncodeSignedTxt(a, key.public_key(), [&](std::string_view m) { return key.Sign(m); })};
    feed(e);
  };
  advert("real", "cl-real", **real_key, "10.0.0.1");
  advert("rogue", "cl-real", **rogue_key, "10.0.0.66");     // claims the real id, another key
  advert("stranger", "cl-unknown", **rogue_key, "10.0.0.77");  // an id the registry does not know
  auto found = s->Find(5s);
  ASSERT_TRUE(found.ok()) << found.status().message();
  std::vector<std::string> rows;
  for (const auto& c : *found) rows.push_back(c.id + " " + c.agent + " " + c.source + " " + c.verification);
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"cl-far http://10.9.0.1:8471 registry registered",
                                            "cl-real http://10.0.0.1:8471 lan+registry verified"}));
}

TEST_F(SessionTest, RefusesBadOptionsNamingThem) {
  for (auto [options, field] : std::vector<std::pair<SessionOptions, std::string>>{
           {{.registries = {"ftp://x"}}, "registries"},
           {{.registries = {"http://192.0.2.1:8470"}}, "registries"},
           {{.ping = 0ms}, "ping_ms"},
           {{.client_id = std::string(200, 'x')}, "client_id"}}) {
    options.use_lan = false;
    auto s = Session::Create(options, Http());
    ASSERT_FALSE(s.ok()) << field;
    EXPECT_NE(s.status().message().find(field), std::string::npos) << s.status().message();
  }
  SessionOptions insecure{.registries = {"http://192.0.2.1:8470"}, .use_lan = false, .allow_http = true};
  EXPECT_TRUE(Session::Create(insecure, Http()).ok());
}

TEST_F(SessionTest, ManyThreadsFindAndPlaceAtOnce) {
  std::atomic<int> placed{0};
  route = [&](const api::ClientRequest& r) -> common::Result<api::ClientResponse> {
    if (r.url.find("/v1/cloudlets?") != std::string::npos) {
      return Answer(200, {{"cloudlets", json::array({Record("cl-a", "http://127.0.0.1:9"), Record("cl-b", "http://127.0.0.1:8")})}});
    }
    if (r.url.find("/v1/ping") != std::string::npos) return Answer(200, json::object());
    if (r.method == "POST" && r.url.ends_with("/v1/placements")) {
      const int n = ++placed;
      return Answer(201, {{"placement_id", "pl-" + std::to_string(n)}, {"state", "reserved"}, {"chosen", {{"cloudlet", "cl-a"}}}});
    }
    if (r.url.ends_with("/confirm")) {
      const std::string id = r.url.substr(r.url.find("pl-"), r.url.find("/confirm") - r.url.find("pl-"));
      return Answer(200, {{"placement_id", id}, {"state", "active"}, {"cloudlet", "cl-a"}, {"endpoint", "http://127.0.0.1:9"}});
    }
    return Answer(500, json::object());
  };
  auto s = Make({.registries = {"http://127.0.0.1:3"}, .token = "t"});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (s->Find(5s).ok() && s->Place(R"({"name":"x"})", 5s).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(placed, 40);
}

}  // namespace
}  // namespace cloudlet::client
