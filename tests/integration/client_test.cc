// The client library (libcloudlet_client, through its C ABI) and its example program against the real
// cloudletd and real agents running containers (podman), without mDNS (the mDNS lab's case is in
// mdns_test.cc). Each agent sits behind a relay that adds a chosen delay, so the RTTs the library
// measures differ as they would in a city; moving the device swaps the delays.
// Needs root, podman and docker-registry: skips without them (fails instead when
// CLOUDLET_REQUIRE_NETNS=1, as in CI).
#include <signal.h>

#include <atomic>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "cloudlet/client.h"
#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/delay_proxy.h"
#include "support/netns_lab.h"
#include "support/podman_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr double kPghLat = 40.44, kPghLon = -79.94, kBosLat = 42.36, kBosLon = -71.06;

struct Moved {
  std::atomic<int> calls{0};
  std::string name, from, to;
};

void OnMoved(void* user, const char* name, const char* from, const char* to) {
  auto* m = static_cast<Moved*>(user);
  m->name = name, m->from = from, m->to = to;
  ++m->calls;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_PODMAN(/*need_registry=*/true);
    lab_.StartRegistry();
    const std::string base = lab_.BuildBase({"sh", "httpd"});
    const std::string image = lab_.BuildApp("hello", {"COPY www /www", R"(CMD ["/bin/httpd","-f","-p","8080","-h","/www"])"},
                                            {{"www/index.html", "hello from a cloudlet\n"}});
    app_ = {{"name", "hello"}, {"base_vm", base.substr(base.find('@') + 1)}, {"base_vm_mb", 2}, {"overlay_mb", 1},
            {"cpu_millis", 200}, {"mem_mb", 64}, {"isolation", "container"}, {"image", image}, {"base_image", base},
            {"port", 8080}, {"health", {{"http", "/"}}}, {"ready_timeout_s", 30}, {"service_ms", 5},
            {"req_rate_hz", 20}, {"session_s", 3600}};
    std::ofstream(dir_.File("app.json")) << app_.dump();
    cloudletd_port_ = FreeLoopbackPort();
    StartCloudletd();
    ASSERT_EQ(cloudletd_->Call("POST", "/v1/tenants", R"({"id":"acme"})").status, 201);
    token_ = cloudletd_->Json("POST", "/v1/tokens", R"({"role":"tenant","tenant":"acme"})").value("token", "");
    // Pittsburgh is near (1 ms each way), Boston far (25 ms each way).
    for (auto [id, geo, delay] : {std::tuple{"cl-pgh", "40.44,-79.94", 1}, std::tuple{"cl-bos", "42.36,-71.06", 25}}) {
      const int port = FreeLoopbackPort();
      proxies_[id] = std::make_unique<DelayProxy>(port, std::chrono::milliseconds(delay));
      ASSERT_NE(proxies_[id]->port(), 0);
      const std::string agent_token =
          cloudletd_->Json("POST", "/v1/tokens", json{{"role", "agent"}, {"cloudlet", id}}.dump()).value("token", "");
      agents_.push_back(lab_.StartAgent({.id = id, .root = id, .registry_url = cloudletd_->url(), .token = agent_token,
                                         .geo = geo, .port = port,
                                         .endpoint = "http://127.0.0.1:" + std::to_string(proxies_[id]->port())}));
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const char* id : {"cl-pgh", "cl-bos"}) std::cerr << "--- " << id << ":\n" << lab_.AgentLog(id);
      if (cloudletd_) std::cerr << "--- cloudletd:\n" << cloudletd_->Log();
    }
    for (auto& a : agents_) {
      a->Signal(SIGKILL);
      a->Wait();
    }
    cloudletd_.reset();
    lab_.TearDown();
  }
  void StartCloudletd() {
    cloudletd_ = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, dir_.File("cloudlet.db"));
    cloudletd_->UsePort(cloudletd_port_);
    cloudletd_->Start();
  }
  cloudlet_client* NewClient(const std::string& registries, int timeout_ms = 10'000) {
    cloudlet_client_options o;
    cloudlet_client_options_init(&o);
    o.registries = registries.c_str();
    o.token = token_.c_str();
    o.use_lan = 0;
    o.timeout_ms = timeout_ms;
    o.wait_ms = 90'000;
    cloudlet_client* c = nullptr;
    EXPECT_EQ(cloudlet_client_new(&o, &c), CLOUDLET_OK) << cloudlet_last_error();
    return c;
  }
  static std::string Fetch(const std::string& endpoint) {
    auto r = api::MakeHttpClient()->Send({.method = "GET", .url = "http://" + endpoint + "/", .timeout = 3s});
    return r.ok() && r->status == 200 ? r->body : "";
  }

  TempDir dir_;
  PodmanLab lab_{dir_};
  json app_;
  int cloudletd_port_ = 0;
  std::unique_ptr<CloudletdProcess> cloudletd_;
  std::string token_;
  std::map<std::string, std::unique_ptr<DelayProxy>> proxies_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
};

TEST_F(ClientTest, TheExampleFindsMeasuresPlacesOnTheNearestAndGetsTheAppsAnswer) {
  auto r = RunCommand({NEAREST_CLOUDLET_BIN, "--no-lan", "--registry", cloudletd_->url(), "--token", token_, "--app",
                       dir_.File("app.json"), "--geo", "40.44,-79.94"},
                      120s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Both candidates measured, the near one first, from the registry.
  const size_t pgh = r.out.find("cl-pgh"), bos = r.out.find("cl-bos");
  ASSERT_NE(pgh, std::string::npos) << r.out;
  ASSERT_NE(bos, std::string::npos) << r.out;
  EXPECT_LT(pgh, bos) << r.out;
  EXPECT_NE(r.out.find("registry      registered"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" on cl-pgh: running at 127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("app answered: hello from a cloudlet"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("released pl-"), std::string::npos) << r.out;
  EXPECT_TRUE(WaitFor([&] { return lab_.Containers("cl-pgh", "cl-pgh").empty(); }, 30s));

  // Usage errors name the flag and exit 2; a bad token is "denied".
  EXPECT_EQ(RunCommand({NEAREST_CLOUDLET_BIN, "--geo", "1,2"}).exit_code, 2);
  auto denied = RunCommand({NEAREST_CLOUDLET_BIN, "--no-lan", "--registry", cloudletd_->url(), "--token", "nope",
                            "--app", dir_.File("app.json")});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("(denied)"), std::string::npos) << denied.err;
}

TEST_F(ClientTest, FollowsMigrationAdviceAndCallsBackWithTheNewEndpoint) {
  cloudlet_client* c = NewClient(cloudletd_->url());
  ASSERT_NE(c, nullptr);
  Moved moved;
  ASSERT_EQ(cloudlet_client_on_endpoint_changed(c, OnMoved, &moved), CLOUDLET_OK);
  ASSERT_EQ(cloudlet_client_set_location(c, kPghLat, kPghLon), CLOUDLET_OK);
  cloudlet_candidate found[8];
  size_t count = 0;
  ASSERT_EQ(cloudlet_find(c, found, 8, &count, 0), CLOUDLET_OK) << cloudlet_last_error();
  ASSERT_EQ(count, 2u);
  EXPECT_STREQ(found[0].id, "cl-pgh");
  EXPECT_GT(found[1].rtt_ms, 45);  // 25 ms each way
  EXPECT_LT(found[0].rtt_ms, found[1].rtt_ms);

  cloudlet_placement p;
  ASSERT_EQ(cloudlet_place(c, app_.dump().c_str(), 0, &p), CLOUDLET_OK) << cloudlet_last_error();
  EXPECT_STREQ(p.cloudlet, "cl-pgh");
  EXPECT_STREQ(p.state, "running");
  EXPECT_EQ(Fetch(p.endpoint), "hello from a cloudlet\n");
  const std::string first_id = p.id, first_endpoint = p.endpoint;
  EXPECT_EQ(std::string(p.name), first_id);

  // Still near: the advice is to stay.
  ASSERT_EQ(cloudlet_update_location(c, p.id, kPghLat, kPghLon, 0, &p), CLOUDLET_OK) << cloudlet_last_error();
  EXPECT_EQ(p.moved, 0);
  EXPECT_EQ(moved.calls, 0);

  // The device goes to Boston: there Boston is near and Pittsburgh far.
  proxies_["cl-pgh"]->SetDelay(25ms);
  proxies_["cl-bos"]->SetDelay(1ms);
  ASSERT_EQ(cloudlet_update_location(c, p.id, kBosLat, kBosLon, 0, &p), CLOUDLET_OK) << cloudlet_last_error();
  EXPECT_EQ(p.moved, 1);
  EXPECT_STREQ(p.cloudlet, "cl-bos");
  EXPECT_NE(std::string(p.id), first_id);
  EXPECT_EQ(std::string(p.name), first_id);  // the DNS name stays
  EXPECT_EQ(Fetch(p.endpoint), "hello from a cloudlet\n");
  EXPECT_EQ(moved.calls, 1);
  EXPECT_EQ(moved.name, first_id);
  EXPECT_EQ(moved.from, first_endpoint);
  EXPECT_EQ(moved.to, p.endpoint);
  // Make before break: the old placement was released once the new one ran; its container goes.
  EXPECT_EQ(cloudletd_->Json("GET", "/v1/placements/" + first_id)["state"], "released");
  EXPECT_TRUE(WaitFor([&] { return lab_.Containers("cl-pgh", "cl-pgh").empty(); }, 30s));

  ASSERT_EQ(cloudlet_release(c, p.id, 0), CLOUDLET_OK) << cloudlet_last_error();
  EXPECT_EQ(cloudlet_release(c, p.id, 0), CLOUDLET_ERR_NOT_FOUND);  // already released: the registry says so
  EXPECT_EQ(cloudlet_release(c, "../tenants", 0), CLOUDLET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(cloudlet_last_error()).find("placement_id"), std::string::npos);
  cloudlet_client_free(c);
}

TEST_F(ClientTest, FailsOverBetweenRegistriesAndKeepsTheAppWhileEveryRegistryIsDown) {
  // The first registry refuses connections: the second answers.
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  cloudlet_client* c = NewClient(dead + "," + cloudletd_->url(), 3'000);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(cloudlet_client_set_location(c, kPghLat, kPghLon), CLOUDLET_OK);
  cloudlet_placement p;
  ASSERT_EQ(cloudlet_place(c, app_.dump().c_str(), 90'000, &p), CLOUDLET_OK) << cloudlet_last_error();
  EXPECT_EQ(Fetch(p.endpoint), "hello from a cloudlet\n");

  // Every registry down: calls fail within their timeout, saying so; the app keeps serving.
  cloudletd_->Signal(SIGKILL);
  cloudletd_->Wait();
  const auto t0 = std::chrono::steady_clock::now();
  cloudlet_placement after;
  const cloudlet_status s = cloudlet_update_location(c, p.id, kPghLat, kPghLon, 3'000, &after);
  EXPECT_TRUE(s == CLOUDLET_ERR_UNAVAILABLE || s == CLOUDLET_ERR_TIMEOUT) << cloudlet_status_name(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_NE(std::string(cloudlet_last_error()).find("127.0.0.1:" + std::to_string(cloudletd_port_)), std::string::npos)
      << cloudlet_last_error();
  cloudlet_candidate found[4];
  size_t count = 9;
  EXPECT_EQ(cloudlet_find(c, found, 4, &count, 3'000), CLOUDLET_ERR_UNAVAILABLE);
  EXPECT_EQ(count, 0u);
  EXPECT_NE(std::string(cloudlet_last_error()).find("the LAN was not searched"), std::string::npos) << cloudlet_last_error();
  EXPECT_EQ(Fetch(p.endpoint), "hello from a cloudlet\n");

  // The registry comes back (same database): the placement is there and the client carries on.
  StartCloudletd();
  EXPECT_TRUE(WaitFor([&] {
    return cloudlet_update_location(c, p.id, kPghLat, kPghLon, 5'000, &after) == CLOUDLET_OK;
  }, 30s)) << cloudlet_last_error();
  EXPECT_EQ(after.moved, 0);
  EXPECT_EQ(cloudlet_release(c, p.id, 0), CLOUDLET_OK) << cloudlet_last_error();
  cloudlet_client_free(c);
}

TEST(ClientAbi, RefusesBadArgumentsWithoutCrashing) {
  EXPECT_EQ(cloudlet_client_new(nullptr, nullptr), CLOUDLET_ERR_INVALID_ARGUMENT);
  cloudlet_client_options o;
  cloudlet_client_options_init(&o);
  o.use_lan = 0;
  o.registries = "http://10.9.9.9:8470";  // a token would cross the network in the clear
  cloudlet_client* c = nullptr;
  EXPECT_EQ(cloudlet_client_new(&o, &c), CLOUDLET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(cloudlet_last_error()).find("registries"), std::string::npos) << cloudlet_last_error();
  EXPECT_EQ(c, nullptr);
  o.registries = "http://127.0.0.1:1";
  o.timeout_ms = -5;
  EXPECT_EQ(cloudlet_client_new(&o, &c), CLOUDLET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(cloudlet_last_error()).find("timeout_ms"), std::string::npos);
  o.timeout_ms = 500;
  ASSERT_EQ(cloudlet_client_new(&o, &c), CLOUDLET_OK);
  EXPECT_STREQ(cloudlet_last_error(), "");
  EXPECT_EQ(cloudlet_client_set_location(c, 91, 0), CLOUDLET_ERR_INVALID_ARGUMENT);
  cloudlet_placement p;
  EXPECT_EQ(cloudlet_place(c, "{not json", 0, &p), CLOUDLET_ERR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(cloudlet_last_error()).find("app"), std::string::npos);
  EXPECT_EQ(cloudlet_place(c, nullptr, 0, &p), CLOUDLET_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(cloudlet_find(c, nullptr, 3, nullptr, 0), CLOUDLET_ERR_INVALID_ARGUMENT);
  // Nothing listens on port 1: unavailable, within the timeout.
  size_t count = 0;
  EXPECT_EQ(cloudlet_find(c, nullptr, 0, &count, 0), CLOUDLET_ERR_UNAVAILABLE);
  EXPECT_STREQ(cloudlet_status_name(CLOUDLET_ERR_TIMEOUT), "timeout");
  cloudlet_client_free(c);
  cloudlet_client_free(nullptr);
}

}  // namespace
}  // namespace cloudlet::testing
