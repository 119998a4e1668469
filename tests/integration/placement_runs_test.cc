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
    if (const char* why = testing::WhyPodmanCannotRun(/*need_registry=*/true)) {
      if (testing::NetnsLab::Required()) FAIL() << "CLOUDLET_REQUIRE_NETNS=1, but " << why;
      GTEST_SKIP() << why;
    }
    StartRegistry();
    BuildAndPush();
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
    // Containers and images live in the test's storage roots only: reset removes them all.
    for (const auto& root : {std::string("agent"), std::string("far"), std::string("builder")}) {
      if (!fs::exists(dir_.File(root))) continue;
      std::string last;
      bool done = false;
      for (int attempt = 0; attempt < 10 && !done; ++attempt) {
        // A reset that failed half-way may have removed the run directory's configuration.
        (void)MakePodmanRuntime(Storage(root));
        auto r = Podman(root, {"system", "reset", "--force"});
        done = r.ok() && r->exit_code == 0;
        if (!done) last = r.ok() ? r->err : r.status().ToString();
        if (!done) std::this_thread::sleep_for(500ms);
      }
      if (!done) ADD_FAILURE() << "podman system reset (" << root << "): " << last;
    }
    if (registry_) {
      registry_->Signal(SIGTERM);
      registry_->Wait();
    }
  }

  PodmanOptions Storage(const std::string& root) const {
    return {.root = dir_.File(root + "/storage"), .runroot = dir_.File(root + "/run"), .advertise_address = "127.0.0.1",
            .agent_id = "cl-rt"};
  }
  common::Result<ProgramResult> Podman(const std::string& root, const std::vector<std::string>& args) {
    const PodmanInvocation p = PodmanFor(Storage(root));
    std::vector<std::string> argv = p.argv;
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, 120s, 4 << 20, p.env);
  }
  void MustPodman(const std::string& root, const std::vector<std::string>& args) {
    auto r = Podman(root, args);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->exit_code, 0) << "podman " << args[0] << ": " << r->err;
  }

  void StartRegistry() {
    registry_port_ = testing::FreeLoopbackPort();
    fs::create_directories(dir_.File("registry"));
    std::ofstream(dir_.File("registry.yml")) << "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                                                "    rootdirectory: " << dir_.File("registry") << "\nhttp:\n  addr: 127.0.0.1:"
                                             << registry_port_ << "\n";
    registry_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/usr/bin/docker-registry", "serve", dir_.File("registry.yml")}, dir_.File("registry.log"),
        dir_.File("registry.log"));
    ASSERT_TRUE(registry_->Start());
    auto http = api::MakeHttpClient();
    ASSERT_TRUE(testing::WaitFor([&] {
      auto r = http->Send({.method = "GET", .url = "http://" + Registry() + "/v2/", .timeout = 1s});
      return r.ok() && r->status == 200;
    })) << testing::ReadFileOrEmpty(dir_.File("registry.log"));
  }
  std::string Registry() const { return "127.0.0.1:" + std::to_string(registry_port_); }

  // localhost/base:1 (busybox) and two apps on it, served by busybox httpd; pushed, pinned by digest.
  void BuildAndPush() {
    const std::string rootfs = dir_.File("rootfs");
    fs::create_directories(rootfs + "/bin");
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (const char* applet : {"sh", "httpd", "cat", "echo", "sleep"}) fs::create_symlink("busybox", rootfs + "/bin/" + applet);
    ASSERT_EQ(testing::RunCommand({"tar", "-C", rootfs, "-cf", dir_.File("base.tar"), "."}).exit_code, 0);
    ASSERT_TRUE(MakePodmanRuntime(Storage("builder")).ok());  // writes the storage root's configuration
    MustPodman("builder", {"import", "--quiet", dir_.File("base.tar"), Registry() + "/base:1"});
    base_ = Push(Registry() + "/base:1", "base");
    for (const std::string app : {"ar", "vr"}) {
      fs::create_directories(dir_.File(app + "/www"));
      std::ofstream(dir_.File(app + "/www/index.html")) << "hello from " << app << "\n";
      std::ofstream(dir_.File(app + "/Containerfile"))
          << "FROM " << base_ << "\nCOPY www /www\nCMD [\"/bin/httpd\",\"-f\",\"-p\",\"8080\",\"-h\",\"/www\"]\n";
      MustPodman("builder", {"build", "--quiet", "--tls-verify=false", "--tag", Registry() + "/" + app + ":1", dir_.File(app)});
      apps_[app] = Push(Registry() + "/" + app + ":1", app);
    }
  }
  // Pushes `tag`; the reference pinned by the digest the registry stored.
  std::string Push(const std::string& tag, const std::string& name) {
    const std::string digest_file = dir_.File(name + ".digest");
    auto r = Podman("builder", {"push", "--quiet", "--tls-verify=false", "--digestfile", digest_file, tag});
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << (r.ok() ? r->err : r.status().ToString());
    const std::string digest = testing::ReadFileOrEmpty(digest_file);
    EXPECT_TRUE(digest.starts_with("sha256:")) << digest;
    return tag.substr(0, tag.rfind(':')) + "@" + digest;
  }

  // cloudlet-agent --runtime podman for cloudlet `id` at `geo`, storage root and state under dir/<root>.
  std::unique_ptr<testing::ChildProcess> Agent(const std::string& id, const std::string& geo, const std::string& root,
                                               int port, const std::string& token) {
    auto agent = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{CLOUDLET_AGENT_BIN, "--id", id, "--name", id, "--no-mdns", "--listen",
                                 "127.0.0.1:" + std::to_string(port), "--endpoint",
                                 "http://127.0.0.1:" + std::to_string(port), "--isolation", "container", "--geo", geo,
                                 // a steady host of its own: placements must not hinge on what else loads
                                 // this machine (tests run in parallel)
                                 "--proc-dir", SteadyProc(), "--cpu-millis", "16000",
                                 "--state-dir", dir_.File(root + "-state"), "--registry", cloudletd_->url(), "--token",
                                 token, "--runtime", "podman", "--runtime-root", dir_.File(root), "--insecure-registry",
                                 Registry()},
        dir_.File(root + ".log"), dir_.File(root + ".log"));
    EXPECT_TRUE(agent->Start());
    EXPECT_TRUE(testing::WaitFor([&] { return cloudletd_->Call("GET", "/v1/cloudlets/" + id).status == 200; }))
        << testing::ReadFileOrEmpty(dir_.File(root + ".log"));
    return agent;
  }
  // A /proc with fixed counters: the host seems 8% busy with 6 of 8 GiB free, whatever really runs.
  std::string SteadyProc() {
    const std::string proc = dir_.File("proc");
    if (!fs::exists(proc + "/stat")) {
      fs::create_directories(proc);
      std::ofstream(proc + "/stat") << "cpu  100 0 100 2300 0 0 0 0 0 0\ncpu0 50 0 50 1150 0 0 0 0 0 0\n"
                                       "cpu1 50 0 50 1150 0 0 0 0 0 0\n";
      std::ofstream(proc + "/meminfo") << "MemTotal:        8388608 kB\nMemAvailable:    6291456 kB\n";
    }
    return proc;
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
  // The containers of agent `id` (storage root `root`), by placement.
  std::vector<std::string> Containers(const std::string& root = "agent", const std::string& id = "cl-rt") {
    auto r = Podman(root, {"ps", "--all", "--format", "{{.Labels}}", "--filter", "label=cloudlet.agent=" + id});
    std::vector<std::string> out;
    if (!r.ok()) return out;
    std::istringstream lines(r->out);
    for (std::string line; std::getline(lines, line);) {
      const size_t at = line.find("cloudlet.placement:");
      if (at != std::string::npos) out.push_back(line.substr(at + 19, 19));
    }
    return out;
  }

  testing::TempDir dir_;
  int registry_port_ = 0, agent_port_ = 0;
  std::unique_ptr<testing::ChildProcess> registry_, agent_, far_agent_;
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
