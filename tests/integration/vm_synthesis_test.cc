// VM synthesis end to end, every part real: images built offline by tests/support/make-vm-fixture
// (Debian's kernel, busybox-static, mke2fs and debugfs), overlays made by `cloudlet vm overlay`,
// served over HTTP on loopback by busybox httpd; cloudletd; cloudlet-agent --runtime vm booting QEMU
// guests under TCG. A tenant places with isolation vm: full (the base fetched), overlay and warm
// provisioning are each seen, the app answers on its endpoint, a corrupted overlay fails with a
// digest mismatch and boots nothing, usage is metered, and a release leaves no QEMU behind. Needs
// root (cgroups), QEMU and a kernel in /boot: skips without them (fails instead when
// CLOUDLET_REQUIRE_NETNS=1, as in CI).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/agent/base_vm_cache.h"
#include "cloudlet/api/http_client.h"
#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/netns_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
using testing::ReadFileOrEmpty;
using testing::RunCommand;
using testing::WaitFor;

const char* WhyVmsCannotRun() {
  if (::geteuid() != 0) return "not root (the vm runtime limits guests with cgroups)";
  for (const char* tool : {"/usr/bin/qemu-system-x86_64", "/usr/bin/qemu-img", "/usr/sbin/debugfs"}) {
    if (::access(tool, X_OK) != 0) return "QEMU or e2fsprogs is not installed (scripts/install-deps)";
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/boot", ec)) {
    if (e.path().filename().string().starts_with("vmlinuz-")) return nullptr;
  }
  return "no kernel in /boot (apt-get install linux-image-amd64)";
}

// The pids of QEMU processes whose command line mentions `path`.
std::vector<int> QemuUnder(const std::string& path) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadFileOrEmpty(e.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const std::string stat = ReadFileOrEmpty(e.path().string() + "/stat");
    const bool zombie = stat.find(") Z") != std::string::npos;
    if (!zombie && cmdline.starts_with("/usr/bin/qemu-system") && cmdline.find(path) != std::string::npos) {
      out.push_back(std::stoi(name));
    }
  }
  return out;
}

class VmSynthesisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* why = WhyVmsCannotRun()) {
      if (testing::NetnsLab::Required()) FAIL() << "CLOUDLET_REQUIRE_NETNS=1, but " << why;
      GTEST_SKIP() << why;
    }
    // A base, and two apps on it; each app's overlay made by the CLI, as a developer would.
    auto made = RunCommand({CLOUDLET_SOURCE_DIR "/tests/support/make-vm-fixture", dir_.File("fixture"), "--app",
                            "ar=hello from ar", "--app", "vr=hello from vr"},
                           120s);
    ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
    fs::create_directories(dir_.File("www"));
    fs::copy_file(dir_.File("fixture/base.tar"), dir_.File("www/base.tar"));
    auto base = Sha256File(dir_.File("www/base.tar"));
    ASSERT_TRUE(base.ok());
    base_ = *base;
    for (const std::string app : {"ar", "vr"}) {
      auto r = RunCommand({CLOUDLET_CLI_BIN, "--json", "vm", "overlay", "--base", dir_.File("fixture/base/disk.qcow2"),
                           "--modified", dir_.File("fixture/" + app + ".qcow2"), "--out",
                           dir_.File("www/" + app + ".qcow2.gz")},
                          120s);
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
      overlays_[app] = json::parse(r.out)["overlay"];
    }
    // One byte changed in the middle of vr's overlay, served as if it were vr's.
    fs::copy_file(dir_.File("www/vr.qcow2.gz"), dir_.File("www/corrupt.qcow2.gz"));
    {
      std::fstream f(dir_.File("www/corrupt.qcow2.gz"), std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(overlays_["vr"]["bytes"].get<int64_t>() / 2);
      char c = 0;
      f.get(c);
      f.seekp(overlays_["vr"]["bytes"].get<int64_t>() / 2);
      f.put(static_cast<char>(c ^ 0x01));
    }
    http_port_ = testing::FreeLoopbackPort();
    httpd_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(http_port_), "-h",
                                 dir_.File("www")},
        dir_.File("httpd.log"), dir_.File("httpd.log"));
    ASSERT_TRUE(httpd_->Start());

    cloudletd_ = std::make_unique<testing::CloudletdProcess>(std::vector<std::string>{}, dir_.File("cloudlet.db"));
    cloudletd_->Start();
    ASSERT_EQ(cloudletd_->Call("POST", "/v1/tenants", R"({"id":"acme"})").status, 201);
    tenant_token_ = cloudletd_->Json("POST", "/v1/tokens", R"({"role":"tenant","tenant":"acme"})").value("token", "");
    const std::string agent_token =
        cloudletd_->Json("POST", "/v1/tokens", R"({"role":"agent","cloudlet":"cl-vm"})").value("token", "");
    ASSERT_FALSE(tenant_token_.empty());
    // A host that seems steady (8% busy), whatever else the machine runs meanwhile: the engine's
    // admission is not what this test is about.
    fs::create_directories(dir_.File("proc"));
    std::ofstream(dir_.File("proc/stat")) << "cpu  100 0 100 2300 0 0 0 0 0 0\ncpu0 100 0 100 2300 0 0 0 0 0 0\n";
    std::ofstream(dir_.File("proc/meminfo")) << "MemTotal:        8388608 kB\nMemAvailable:    6291456 kB\n";
    const int port = testing::FreeLoopbackPort();
    agent_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{CLOUDLET_AGENT_BIN, "--id", "cl-vm", "--name", "cl-vm", "--no-mdns", "--listen",
                                 "127.0.0.1:" + std::to_string(port), "--endpoint",
                                 "http://127.0.0.1:" + std::to_string(port), "--isolation", "vm", "--geo",
                                 "40.44,-79.94", "--cpu-millis", "16000", "--proc-dir", dir_.File("proc"), "--state-dir",
                                 dir_.File("agent-state"), "--registry", cloudletd_->url(), "--token", agent_token,
                                 "--runtime", "vm", "--runtime-root", dir_.File("vm"), "--vm-accel", "tcg",
                                 "--meter-interval", "2s"},
        dir_.File("agent.log"), dir_.File("agent.log"));
    ASSERT_TRUE(agent_->Start());
    ASSERT_TRUE(WaitFor([&] { return cloudletd_->Call("GET", "/v1/cloudlets/cl-vm").status == 200; }))
        << ReadFileOrEmpty(dir_.File("agent.log"));
  }

  void TearDown() override {
    if (agent_) {
      agent_->Signal(SIGKILL);
      agent_->Wait();
    }
    // Anything still booted under this test's root is stopped by its own pid.
    for (int pid : QemuUnder(dir_.File("vm"))) ::kill(pid, SIGKILL);
    for (const char* controller : {"cpu", "memory"}) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(std::string("/sys/fs/cgroup/") + controller + "/cloudlet-vm", ec)) {
        if (e.path().filename().string().starts_with("cl-vm-")) ::rmdir(e.path().c_str());
      }
    }
    cloudletd_.reset();
    httpd_.reset();
  }

  std::string Url(const std::string& file) const { return "http://127.0.0.1:" + std::to_string(http_port_) + "/" + file; }

  // `cloudlet place --wait` as the tenant, for a VM from `overlay` (served as `file`).
  testing::RunResult Place(const std::string& name, const std::string& file, const std::string& digest) {
    json spec = {{"name", name},        {"base_vm", base_},
                 {"base_vm_mb", 36},    {"overlay_mb", 1},
                 {"cpu_millis", 1000},  {"mem_mb", 128},
                 {"isolation", "vm"},   {"overlay_url", Url(file)},
                 {"overlay_digest", digest}, {"base_vm_url", Url("base.tar")},
                 {"port", 8080},        {"health", {{"http", "/"}}},
                 {"ready_timeout_s", 90}};
    std::ofstream(dir_.File(name + ".json")) << spec.dump();
    return RunCommand({CLOUDLET_CLI_BIN, "--registry", cloudletd_->url(), "--token", tenant_token_, "place", "--app",
                       dir_.File(name + ".json"), "--geo", "40.44,-79.94", "--wait", "--wait-timeout", "150s"},
                      180s);
  }
  std::string PlaceAndWait(const std::string& name, const std::string& app) {
    auto r = Place(name, app + ".qcow2.gz", overlays_[app]["digest"]);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out << r.err << ReadFileOrEmpty(dir_.File("agent.log"));
    return r.out.substr(0, r.out.find('\n'));
  }
  json PlacementOf(const std::string& name) {
    auto list = json::parse(cloudletd_->Call("GET", "/v1/placements").body, nullptr, false);
    for (const auto& p : list.value("placements", json::array())) {
      if (p["request"]["app"]["name"] == name) return p;
    }
    return json::object();
  }
  std::string Fetch(const std::string& endpoint) {
    auto r = api::MakeHttpClient()->Send({.method = "GET", .url = "http://" + endpoint + "/", .timeout = 3s});
    return r.ok() && r->status == 200 ? r->body : "";
  }
  size_t Running() { return QemuUnder(dir_.File("vm")).size(); }

  testing::TempDir dir_;
  std::unique_ptr<testing::ChildProcess> httpd_, agent_;
  std::unique_ptr<testing::CloudletdProcess> cloudletd_;
  std::string base_, tenant_token_;
  std::map<std::string, json> overlays_;
  int http_port_ = 0;
};

TEST_F(VmSynthesisTest, ATenantPlacesAVmThatIsSynthesisedFromBaseAndOverlay) {
  const int64_t base_bytes = static_cast<int64_t>(fs::file_size(dir_.File("fixture/base/disk.qcow2")));
  for (const auto& [app, overlay] : overlays_) {
    EXPECT_LT(overlay["bytes"].get<int64_t>() * 10, base_bytes) << app << ": the overlay is much smaller than the base";
    std::printf("measured: %s's overlay is %lld bytes (%lld uncompressed) against a %lld-byte base\n", app.c_str(),
                static_cast<long long>(overlay["bytes"].get<int64_t>()),
                static_cast<long long>(overlay["uncompressed_bytes"].get<int64_t>()), static_cast<long long>(base_bytes));
  }

  // Nothing cached: the base moves, then the overlay (full).
  const std::string ar = PlaceAndWait("ar", "ar");
  ASSERT_TRUE(ar.starts_with("127.0.0.1:")) << ar;
  EXPECT_EQ(Fetch(ar), "hello from ar\n");
  const json full = PlacementOf("ar");
  EXPECT_EQ(full["state"], "running");
  EXPECT_EQ(full["provision"]["mode"], "full");
  EXPECT_EQ(full["provision"]["bytes"].get<int64_t>(),
            static_cast<int64_t>(fs::file_size(dir_.File("www/base.tar"))) + overlays_["ar"]["bytes"].get<int64_t>());
  EXPECT_EQ(Running(), 1u);
  // The agent now advertises the base it fetched (from its next heartbeat).
  EXPECT_TRUE(WaitFor([&] { return cloudletd_->Call("GET", "/v1/cloudlets/cl-vm").body.find(base_) != std::string::npos; },
                      15s));

  // A corrupted overlay: the digest does not match, the placement fails saying so, nothing boots and
  // nothing of it is kept.
  auto bad = Place("bad", "corrupt.qcow2.gz", overlays_["vr"]["digest"]);
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("failed: digest mismatch"), std::string::npos) << bad.err;
  const size_t at = bad.err.find("pl-");
  ASSERT_NE(at, std::string::npos) << bad.err;
  const json failed = cloudletd_->Json("GET", "/v1/placements/" + bad.err.substr(at, 19));
  EXPECT_EQ(failed["state"], "failed") << failed.dump();
  EXPECT_TRUE(failed.value("reason", "").starts_with("digest mismatch: " + Url("corrupt.qcow2.gz") + " has sha256:"))
      << failed.dump();
  EXPECT_EQ(Running(), 1u);
  const std::string vr_hex = overlays_["vr"]["digest"].get<std::string>().substr(7);
  EXPECT_FALSE(fs::exists(dir_.File("vm/images/" + vr_hex)));

  // Another app on the cached base: only its overlay moves. The first app again: nothing moves.
  const std::string vr = PlaceAndWait("vr", "vr");
  EXPECT_EQ(Fetch(vr), "hello from vr\n");
  EXPECT_EQ(PlacementOf("vr")["provision"]["mode"], "overlay");
  EXPECT_EQ(PlacementOf("vr")["provision"]["bytes"].get<int64_t>(), overlays_["vr"]["bytes"].get<int64_t>());
  const std::string ar2 = PlaceAndWait("ar-2", "ar");
  EXPECT_EQ(Fetch(ar2), "hello from ar\n");
  EXPECT_EQ(PlacementOf("ar-2")["provision"]["mode"], "warm");
  EXPECT_EQ(Running(), 3u);
  for (const auto& name : {"ar", "vr", "ar-2"}) {
    std::printf("measured: %s provisioned %s in %.2f s (fetch %.2f s, boot to first answer %.2f s)\n", name,
                PlacementOf(name)["provision"]["mode"].get<std::string>().c_str(),
                PlacementOf(name)["provision"]["seconds"].get<double>(),
                PlacementOf(name)["provision"]["pull_seconds"].get<double>(),
                PlacementOf(name)["provision"]["start_seconds"].get<double>());
  }
  // The cache was never written: a guest writes only to its own top layer.
  const std::string base_hex = base_.substr(7);
  auto digest = Sha256File(dir_.File("vm/images/" + base_hex + "/disk.qcow2"));
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(RunCommand({"/bin/tar", "-xOf", dir_.File("www/base.tar"), "disk.qcow2"}).out,
            ReadFileOrEmpty(dir_.File("vm/images/" + base_hex + "/disk.qcow2")));

  // Usage is metered from the guests' QEMU processes, window by window, as for containers.
  const std::string ar_id = PlacementOf("ar")["placement_id"];
  auto report = [&] {
    return json::parse(RunCommand({CLOUDLET_CLI_BIN, "--registry", cloudletd_->url(), "--token", tenant_token_,
                                   "--json", "report", "--group-by", "placement"})
                           .out,
                       nullptr, false);
  };
  json line;
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const auto& l : report().value("lines", json::array())) {
          if (l.value("placement", "") == ar_id) line = l;
        }
        return line.is_object() && line["quantities"].value("cpu_core_s", 0.0) > 0;
      },
      30s))
      << report().dump();
  EXPECT_GT(line["quantities"].value("mem_mib_s", 0.0), 0) << line.dump();
  std::printf("measured: ar billed %.2f core-s and %.0f MiB-s so far\n", line["quantities"].value("cpu_core_s", 0.0),
              line["quantities"].value("mem_mib_s", 0.0));

  // Released: their QEMU processes go, with their run directories.
  for (const auto& name : {"ar", "vr", "ar-2"}) {
    const std::string id = PlacementOf(name)["placement_id"];
    ASSERT_EQ(cloudletd_->Call("DELETE", "/v1/placements/" + id).status, 204);
  }
  EXPECT_TRUE(WaitFor([&] { return Running() == 0; }, 30s)) << ReadFileOrEmpty(dir_.File("agent.log"));
  EXPECT_TRUE(WaitFor([&] { return fs::is_empty(dir_.File("vm/run")); }, 10s));
}

}  // namespace
}  // namespace cloudlet::agent
