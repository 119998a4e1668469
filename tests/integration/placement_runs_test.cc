// End to end, with every part real: cloudletd, a loopback OCI registry (Debian's docker-registry),
// cloudlet-agent --runtime podman, and the cloudlet CLI. A tenant places apps and waits for them
// to run; the endpoint answers; full, warm and overlay provisioning are each seen; a release, and a
// move to another cloudlet, leave no container behind; an agent killed with -9 adopts its workloads
// when it comes back; apps keep serving while cloudletd is down. Images are built offline from
// busybox-static in storage roots of the test's own; everything started is stopped by its own id.
// Needs root, podman and docker-registry: skips without them (fails instead when
// CLOUDLET_REQUIRE_NETNS=1, as in CI).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/agent/podman_runtime.h"
#include "cloudlet/agent/subprocess.h"
#include "cloudlet/api/http_client.h"
#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/netns_lab.h"
#include "support/podman_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

class PlacementRunsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_PODMAN(/*need_registry=*/true);
    lab_.StartRegistry();
    // localhost/base:1 (busybox) and two apps on it, served by busybox httpd; pushed, pinned by digest.
    base_ = lab_.BuildBase({"sh", "httpd", "cat", "echo", "sleep"});
    for (const std::string app : {"ar", "vr"}) {
      apps_[app] = lab_.BuildApp(app, {"COPY www /www", R"(CMD ["/bin/httpd","-f","-p","8080","-h","/www"])"},
                                 {{"www/index.html", "hello from " + app + "\n"}});
    }
    cloudletd_ = std::make_unique<testing::CloudletdProcess>(std::vector<std::string>{}, dir_.File("cloudlet.db"));
    cloudletd_->Start();
    ASSERT_EQ(cloudletd_->Call("POST", "/v1/tenants", R"({"id":"acme"})").status, 201);
    tenant_token_ = cloudletd_->Json("POST", "/v1/tokens", R"({"role":"tenant","tenant":"acme"})").value("token", "");
    agent_token_ = cloudletd_->Json("POST", "/v1/tokens", R"({"role":"agent","cloudlet":"cl-rt"})").value("token", "");
    ASSERT_FALSE(tenant_token_.empty());
    ASSERT_FALSE(agent_token_.empty());
    agent_port_ = testing::FreeLoopbackPort();
    StartAgent();
  }

  void TearDown() override {
    for (auto* agent : {&agent_, &far_agent_}) {
      if (!*agent) continue;
      (*agent)->Signal(SIGKILL);
      (*agent)->Wait();
    }
    cloudletd_.reset();
    lab_.TearDown();
  }

  std::string Registry() const { return lab_.Registry(); }
  // cloudlet-agent --runtime podman for cloudlet `id` at `geo`, storage root and state under dir/<root>.
  std::unique_ptr<testing::ChildProcess> Agent(const std::string& id, const std::string& geo, const std::string& root,
                                               int port, const std::string& token) {
    return lab_.StartAgent({.id = id, .root = root, .registry_url = cloudletd_->url(), .token = token, .geo = geo,
                            .port = port});
  }
  void StartAgent() { agent_ = Agent("cl-rt", "40.44,-79.94", "agent", agent_port_, agent_token_); }

  // `cloudlet place --wait` as the tenant: the endpoint it prints, or "" (with the failure recorded).
  // `cloudlet place --wait` as the tenant, for app `name` running `image`.
  testing::RunResult Place(const std::string& name, const std::string& image, const std::string& geo,
                           const std::string& rtt) {
    json spec = {{"name", name}, {"base_vm", base_.substr(base_.find('@') + 1)}, {"base_vm_mb", 2}, {"overlay_mb", 1},
                 {"cpu_millis", 200}, {"mem_mb", 64}, {"isolation", "container"}, {"image", image},
                 {"base_image", base_}, {"port", 8080}, {"health", {{"http", "/"}}}, {"ready_timeout_s", 30}};
    std::ofstream(dir_.File(name + ".json")) << spec.dump();
    return testing::RunCommand({CLOUDLET_CLI_BIN, "--registry", cloudletd_->url(), "--token", tenant_token_, "place",
                                "--app", dir_.File(name + ".json"), "--geo", geo, "--rtt", rtt, "--wait"},
                               90s);
  }
  // The endpoint it prints, or "" (with the failure recorded).
  std::string PlaceAndWait(const std::string& name, const std::string& app, const std::string& geo = "40.44,-79.94",
                           const std::string& rtt = "") {
    auto r = Place(name, apps_[app], geo, rtt);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out << r.err << testing::ReadFileOrEmpty(dir_.File("agent.log"))
                              << testing::ReadFileOrEmpty(dir_.File("far.log"));
    return r.out.substr(0, r.out.find('\n'));
  }
  // The live placement the tenant holds for app `name`.
  json PlacementOf(const std::string& name) {
    auto list = json::parse(cloudletd_->Call("GET", "/v1/placements").body, nullptr, false);
    for (const auto& p : list.value("placements", json::array())) {
      if (p["request"]["app"]["name"] == name) return p;
    }
    return json::object();  // absent: every field reads as null
  }
  std::string Fetch(const std::string& endpoint) {
    auto http = api::MakeHttpClient();
    auto r = http->Send({.method = "GET", .url = "http://" + endpoint + "/", .timeout = 3s});
    return r.ok() && r->status == 200 ? r->body : "";
  }
  std::vector<std::string> Containers(const std::string& root = "agent", const std::string& id = "cl-rt") {
    return lab_.Containers(root, id);
  }

  testing::TempDir dir_;
  testing::PodmanLab lab_{dir_};
  int agent_port_ = 0;
  std::unique_ptr<testing::ChildProcess> agent_, far_agent_;
  std::unique_ptr<testing::CloudletdProcess> cloudletd_;
  std::string base_, tenant_token_, agent_token_;
  std::map<std::string, std::string> apps_;
};

TEST_F(PlacementRunsTest, ATenantPlacesWaitsAndReachesItsAppThroughEveryModeAndEveryFault) {
  // Nothing cached: the whole image moves (full).
  const std::string ar = PlaceAndWait("ar", "ar");
  ASSERT_TRUE(ar.starts_with("127.0.0.1:")) << ar;
  EXPECT_EQ(Fetch(ar), "hello from ar\n");
  EXPECT_EQ(PlacementOf("ar")["provision"]["mode"], "full");
  // The same image again: warm. Another app on the cached base: only its own layers move (overlay).
  const std::string ar2 = PlaceAndWait("ar-2", "ar");
  EXPECT_EQ(Fetch(ar2), "hello from ar\n");
  EXPECT_EQ(PlacementOf("ar-2")["provision"]["mode"], "warm");
  const std::string vr = PlaceAndWait("vr", "vr");
  EXPECT_EQ(Fetch(vr), "hello from vr\n");
  const json overlay = PlacementOf("vr");
  EXPECT_EQ(overlay["provision"]["mode"], "overlay");
  EXPECT_GT(overlay["provision"]["bytes"].get<int64_t>(), 0);
  EXPECT_LT(overlay["provision"]["bytes"].get<int64_t>(), PlacementOf("ar")["provision"]["bytes"].get<int64_t>());
  ASSERT_EQ(Containers().size(), 3u);
  // The registry knows what the agent holds: the base it fetched is one of cl-rt's base VMs now.
  EXPECT_NE(cloudletd_->Call("GET", "/v1/cloudlets/cl-rt").body.find(base_.substr(base_.find('@') + 1)), std::string::npos);

  // An image the registry does not have: --wait exits 1 with the reason, and nothing is left running.
  auto ghost = Place("ghost", Registry() + "/ar@sha256:" + std::string(64, '0'), "40.44,-79.94", "");
  EXPECT_EQ(ghost.exit_code, 1) << ghost.out << ghost.err;
  EXPECT_NE(ghost.err.find("failed: pull failed"), std::string::npos) << ghost.err;
  EXPECT_EQ(Containers().size(), 3u);

  // Released: its container goes.
  const std::string released = PlacementOf("ar-2")["placement_id"];
  ASSERT_EQ(cloudletd_->Call("DELETE", "/v1/placements/" + released).status, 204);
  EXPECT_TRUE(testing::WaitFor([&] { return Containers().size() == 2; }))
      << testing::ReadFileOrEmpty(dir_.File("agent.log"));

  // The device moves 300 km, next to another cloudlet, and measures both: the tenant places "ar"
  // again from there and releases the first. The app then runs on the far cloudlet only.
  const std::string far_token =
      cloudletd_->Json("POST", "/v1/tokens", R"({"role":"agent","cloudlet":"cl-far"})").value("token", "");
  far_agent_ = Agent("cl-far", "42.36,-71.06", "far", testing::FreeLoopbackPort(), far_token);
  const std::string moved = PlaceAndWait("ar-moved", "ar", "42.36,-71.06", "cl-rt=200,cl-far=3");
  EXPECT_EQ(Fetch(moved), "hello from ar\n");
  EXPECT_EQ(PlacementOf("ar-moved")["cloudlet"], "cl-far");
  EXPECT_EQ(PlacementOf("ar-moved")["provision"]["mode"], "full") << "nothing was cached there";
  ASSERT_EQ(cloudletd_->Call("DELETE", "/v1/placements/" + PlacementOf("ar")["placement_id"].get<std::string>()).status, 204);
  EXPECT_TRUE(testing::WaitFor([&] { return Containers().size() == 1; }))
      << testing::ReadFileOrEmpty(dir_.File("agent.log"));
  EXPECT_EQ(Containers("far", "cl-far").size(), 1u);

  // The agent dies hard and comes back: it adopts what runs, starting nothing twice.
  agent_->Signal(SIGKILL);
  agent_->Wait();
  EXPECT_EQ(Fetch(vr), "hello from vr\n") << "workloads outlive their agent";
  StartAgent();
  std::this_thread::sleep_for(2s);  // a few reconcile rounds
  EXPECT_EQ(Containers().size(), 1u) << testing::ReadFileOrEmpty(dir_.File("agent.log"));
  EXPECT_EQ(PlacementOf("vr")["state"], "running");

  // The registry goes away: apps keep serving, and the agents keep them.
  cloudletd_->Signal(SIGTERM);
  EXPECT_EQ(cloudletd_->Wait(), 0);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(Fetch(vr), "hello from vr\n");
  EXPECT_EQ(Fetch(moved), "hello from ar\n");
  EXPECT_EQ(Containers().size(), 1u);
  EXPECT_EQ(Containers("far", "cl-far").size(), 1u);
}

}  // namespace
}  // namespace cloudlet::agent
