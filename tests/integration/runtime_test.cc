// The podman driver of WorkloadRuntime against real podman (runc), with images built offline from
// Debian's busybox-static in a storage root of the test's own. Needs root and podman; skips without
// them, fails instead when CLOUDLET_REQUIRE_NETNS=1 (CI).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/agent/podman_runtime.h"
#include "cloudlet/agent/subprocess.h"
#include "cloudlet/agent/tenant_networks.h"
#include "cloudlet/api/http_client.h"
#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/netns_lab.h"
#include "support/podman_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Builds localhost/base:1 (busybox and its applets) and localhost/app:1 (busybox httpd serving
// "hello from <tenant>") in the given storage root.
class PodmanRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_PODMAN(/*need_registry=*/false);
    // Where `cloudlet-agent --runtime podman --runtime-root <dir>/containers` keeps its storage.
    root_ = dir_.File("containers/storage");
    runroot_ = dir_.File("containers/run");
    const std::string rootfs = dir_.File("rootfs");
    fs::create_directories(rootfs + "/bin");
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    for (const char* applet : {"sh", "httpd", "touch", "cat", "echo", "sleep", "id", "ls", "wget", "dd", "head", "grep"}) {
      fs::create_symlink("busybox", rootfs + "/bin/" + applet);
    }
    ASSERT_EQ(Run({"tar", "-C", rootfs, "-cf", dir_.File("base.tar"), "."}), 0);
    auto runtime = MakePodmanRuntime(Options());  // writes the storage root's configuration
    ASSERT_TRUE(runtime.ok()) << runtime.status().ToString();
    runtime_ = std::move(*runtime);
    ASSERT_EQ(Podman({"import", "--quiet", dir_.File("base.tar"), "localhost/base:1"}), 0);
    fs::create_directories(dir_.File("app/www"));
    std::ofstream(dir_.File("app/www/index.html")) << "hello from the app\n";
    std::ofstream(dir_.File("app/Containerfile"))
        << "FROM localhost/base:1\nCOPY www /www\nCMD [\"/bin/httpd\",\"-f\",\"-p\",\"8080\",\"-h\",\"/www\"]\n";
    ASSERT_EQ(Podman({"build", "--quiet", "--tag", "localhost/app:1", dir_.File("app")}), 0);
  }

  void TearDown() override {
    runtime_.reset();
    // Everything this test made lives in its own storage root: reset removes it all, then the
    // host guards of its tenants' networks go.
    if (root_.empty()) return;
    if (std::string why = testing::ResetPodmanRoot(Options()); !why.empty()) ADD_FAILURE() << "podman system reset: " << why;
    if (auto s = RemoveHostGuards("cl-test"); !s.ok()) ADD_FAILURE() << s.ToString();
  }

  PodmanOptions Options() const {
    return {.root = root_, .runroot = runroot_, .advertise_address = "127.0.0.1", .agent_id = "cl-test",
            .timeout = std::chrono::milliseconds(120'000), .stop_grace = std::chrono::seconds(2)};
  }

  int Run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
    auto r = RunProgram(argv, 120s, 4 << 20, env);
    if (!r.ok()) return -2;
    if (r->exit_code != 0) ADD_FAILURE() << argv[0] << " " << argv[1] << ": " << r->err;
    return r->exit_code;
  }
  int Podman(std::vector<std::string> args) {
    const PodmanInvocation podman = PodmanFor(Options());
    std::vector<std::string> argv = podman.argv;
    argv.insert(argv.end(), args.begin(), args.end());
    return Run(argv, podman.env);
  }

  // The workload's state once it is no longer starting, within a deadline.
  WorkloadStatus WaitUntilExited(const std::string& placement) {
    WorkloadStatus s;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
      auto r = runtime_->Inspect(placement);
      if (r.ok()) s = *r;
      if (s.state == WorkloadState::kExited) return s;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << placement << " did not exit";
    return s;
  }

  // GET http://<endpoint>/ until it answers, within a deadline.
  std::string Fetch(const std::string& endpoint) {
    auto http = api::MakeHttpClient();
    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
      auto r = http->Send({.method = "GET", .url = "http://" + endpoint + "/", .timeout = 2s});
      if (r.ok() && r->status == 200) return r->body;
      std::this_thread::sleep_for(100ms);
    }
    return "";
  }

  testing::TempDir dir_;
  std::string root_, runroot_;
  std::unique_ptr<WorkloadRuntime> runtime_;
};

WorkloadSpec App(const std::string& placement, const std::string& tenant) {
  return {.placement_id = placement, .tenant = tenant, .image = "localhost/app:1", .port = 8080, .env = {},
          .command = {}, .cpu_millis = 500, .mem_mb = 64};
}

TEST_F(PodmanRuntimeTest, AWorkloadServesOnItsEndpointAndStoppingLeavesNothing) {
  auto held = runtime_->Image("localhost/app:1");
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_FALSE(held->id.empty());
  EXPECT_GT(held->size_bytes, 0);
  EXPECT_EQ(runtime_->Image("localhost/absent:1").status().code(), common::StatusCode::kNotFound);

  auto started = runtime_->Start(App("pl-00000000000000a1", "acme"));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->state, WorkloadState::kRunning);
  ASSERT_TRUE(started->endpoint.starts_with("127.0.0.1:")) << started->endpoint;
  EXPECT_EQ(Fetch(started->endpoint), "hello from the app\n");
  EXPECT_EQ(runtime_->Start(App("pl-00000000000000a1", "acme")).status().code(), common::StatusCode::kAlreadyExists);

  auto stats = runtime_->Stats("pl-00000000000000a1");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->mem_bytes, 0);
  EXPECT_GT(stats->net_out_bytes, 0) << "the answer above left through the workload's network";

  auto listed = runtime_->List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].placement_id, "pl-00000000000000a1");
  EXPECT_EQ((*listed)[0].tenant, "acme");

  ASSERT_TRUE(runtime_->Stop("pl-00000000000000a1").ok());
  EXPECT_TRUE(runtime_->List()->empty());
  EXPECT_EQ(runtime_->Inspect("pl-00000000000000a1").status().code(), common::StatusCode::kNotFound);
  EXPECT_TRUE(runtime_->Stop("pl-00000000000000a1").ok()) << "stopping what is gone is no error";
}

TEST_F(PodmanRuntimeTest, AnAgentThatRestartsFindsItsWorkloadsByTheirLabels) {
  ASSERT_TRUE(runtime_->Start(App("pl-00000000000000b2", "beta")).ok());
  auto again = MakePodmanRuntime(Options());  // what a restarted agent makes
  ASSERT_TRUE(again.ok());
  auto listed = (*again)->List();
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].placement_id, "pl-00000000000000b2");
  EXPECT_EQ((*listed)[0].tenant, "beta");
  EXPECT_EQ((*listed)[0].state, WorkloadState::kRunning);
  PodmanOptions other = Options();
  other.agent_id = "cl-other";
  EXPECT_TRUE((*MakePodmanRuntime(other))->List()->empty()) << "another agent's workloads are not ours";
}

TEST_F(PodmanRuntimeTest, TheRootFilesystemIsReadOnlyAndNoCapabilitiesAreHeld) {
  WorkloadSpec probe = App("pl-00000000000000c3", "acme");
  // Exit 0 only if writing to / fails, /tmp is writable, and the bounding set holds no capability.
  probe.command = {"sh", "-c",
                   "touch /x 2>/dev/null && exit 3; touch /tmp/x || exit 4; "
                   "grep -q '^CapBnd:.0000000000000000' /proc/self/status || exit 5; exit 0"};
  ASSERT_TRUE(runtime_->Start(probe).ok());
  const WorkloadStatus done = WaitUntilExited("pl-00000000000000c3");
  EXPECT_EQ(done.exit_code, 0) << "3: / was writable, 4: /tmp was not, 5: capabilities were held";
  EXPECT_FALSE(done.oom_killed);
}

TEST_F(PodmanRuntimeTest, AnImageThatCannotBeFetchedIsAnErrorNamingIt) {
  auto pulled = runtime_->Pull("127.0.0.1:1/nothing/here:1");
  ASSERT_FALSE(pulled.ok());
  EXPECT_EQ(pulled.status().code(), common::StatusCode::kUnavailable);
  EXPECT_NE(pulled.status().message().find("127.0.0.1:1/nothing/here:1"), std::string::npos) << pulled.status().message();
  WorkloadSpec bad = App("pl-00000000000000d4", "acme");
  bad.image = "localhost/missing:1";
  EXPECT_FALSE(runtime_->Start(bad).ok());
  EXPECT_TRUE(runtime_->List()->empty()) << "nothing half-made is left behind";
}

// The agent binary with --runtime podman adopts the workloads its earlier run left (same id and
// storage) and shows them in its local API.
TEST_F(PodmanRuntimeTest, TheAgentWithThePodmanRuntimeShowsTheWorkloadsItFinds) {
  ASSERT_TRUE(runtime_->Start(App("pl-00000000000000e5", "acme")).ok());
  const int port = testing::FreeLoopbackPort();
  testing::ChildProcess agent({CLOUDLET_AGENT_BIN, "--id", "cl-test", "--name", "rt", "--no-mdns", "--listen",
                               "127.0.0.1:" + std::to_string(port), "--endpoint", "http://127.0.0.1:" + std::to_string(port),
                               "--state-dir", dir_.File("state"), "--runtime", "podman", "--runtime-root",
                               dir_.File("containers")},
                              dir_.File("agent.log"), dir_.File("agent.log"));
  ASSERT_TRUE(agent.Start());
  auto http = api::MakeHttpClient();
  nlohmann::json resource;
  ASSERT_TRUE(testing::WaitFor([&] {
    auto r = http->Send({.method = "GET", .url = "http://127.0.0.1:" + std::to_string(port) + "/v1/resource", .timeout = 2s});
    if (!r.ok() || r->status != 200) return false;
    resource = nlohmann::json::parse(r->body, nullptr, false);
    return true;
  })) << testing::ReadFileOrEmpty(dir_.File("agent.log"));
  ASSERT_EQ(resource["workloads"].size(), 1u) << resource.dump() << testing::ReadFileOrEmpty(dir_.File("agent.log"));
  EXPECT_EQ(resource["workloads"][0]["placement"], "pl-00000000000000e5");
  EXPECT_EQ(resource["workloads"][0]["state"], "running");
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(), 0);
  auto bad = testing::RunCommand({CLOUDLET_AGENT_BIN, "--runtime", "docker", "--no-mdns"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--runtime"), std::string::npos) << bad.err;
}

TEST(RunProgram, CapturesOutputAndExitCodeAddsEnvironmentAndKillsAtTheDeadline) {
  auto echo = RunProgram({"/bin/sh", "-c", "echo out; echo err >&2; echo $EXTRA; exit 3"}, 10s, 1 << 20, {"EXTRA=given"});
  ASSERT_TRUE(echo.ok()) << echo.status().ToString();
  EXPECT_EQ(echo->exit_code, 3);
  EXPECT_EQ(echo->out, "out\ngiven\n");
  EXPECT_EQ(echo->err, "err\n");
  auto missing = RunProgram({"/nonexistent/program"}, 10s);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 127);
  const auto started = std::chrono::steady_clock::now();
  auto slow = RunProgram({"/bin/sh", "-c", "sleep 30 & sleep 30"}, 300ms);
  EXPECT_EQ(slow.status().code(), common::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "killed with its process group, not waited for";
  auto capped = RunProgram({"/bin/sh", "-c", "head -c 100000 /dev/zero"}, 10s, 1000);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->out.size(), 1000u);
}

}  // namespace
}  // namespace cloudlet::agent
