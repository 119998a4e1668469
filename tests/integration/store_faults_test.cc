// cloudletd's store failing under it, for real: its database on a small tmpfs that the test fills
// (a full disk), on a block device whose writes fail (a loop device over a full backing file: the
// kernel logs "Buffer I/O error"), on a FUSE filesystem whose writes fail with EIO (an I/O error), or
// locked by another process past its busy timeout. Every write
// that cannot commit (registration, usage batch, token issue, placement commit) is 503 with
// Retry-After and changes nothing; reads go on; once the fault clears the same writes succeed with
// no restart; after a restart each acknowledged write is there once. Needs root (mounts); skips
// without it unless CLOUDLET_REQUIRE_NETNS=1.
//
// The agent's usage spool on a full disk: usage is kept in memory (up to --spool-memory-records),
// said in its log and GET /metrics, delivered from memory while the registry answers, and written to
// disk once space returns, so that a kill -9 after that loses nothing.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/local_agent.h"
#include "support/netns_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A directory on storage the test can make fail, three ways:
// - kFullFilesystem: a tmpfs of 8 MiB; Fill leaves no space (SQLite: "database or disk is full").
// - kDeviceOutOfSpace: an ext2 filesystem on a loop device whose backing file lives on a full tmpfs:
//   the filesystem thinks it has room, the block device's writes fail beneath it (the kernel logs
//   "Buffer I/O error"; the error reaches SQLite as ENOSPC).
// - kIoError: a FUSE passthrough (support/failing_fs.cc) whose writes and syncs fail with EIO while
//   Fill's flag is set (SQLite: "disk I/O error").
// Clear ends the fault. Everything is unmounted, detached and stopped at the end.
class FaultyDisk {
 public:
  enum class Kind { kFullFilesystem, kDeviceOutOfSpace, kIoError };

  explicit FaultyDisk(Kind kind) : kind_(kind) {
    outer_ = dir_.File("outer");
    inner_ = dir_.File("inner");
    std::filesystem::create_directories(outer_);
    std::filesystem::create_directories(inner_);
    if (kind == Kind::kIoError) {
      fuse_ = std::make_unique<ChildProcess>(std::vector<std::string>{FAILING_FS_BIN, outer_, inner_},
                                             dir_.File("fuse.log"), dir_.File("fuse.log"));
      const bool up = fuse_->Start() &&
                      WaitFor([&] { return RunCommand({"mountpoint", "-q", inner_}).exit_code == 0; }, 10s);
      if (!up) {
        error_ = "failing_fs did not mount: " + ReadFileOrEmpty(dir_.File("fuse.log"));
        return;
      }
      mounted_inner_ = ok_ = true;
      return;
    }
    if (!Run({"mount", "-t", "tmpfs", "-o", kind == Kind::kFullFilesystem ? "size=8m" : "size=12m", "tmpfs", outer_})) return;
    mounted_outer_ = true;
    if (kind == Kind::kFullFilesystem) {
      ok_ = true;
      return;
    }
    const std::string image = outer_ + "/disk.img";
    if (!Run({"truncate", "-s", "64m", image})) return;
    RunResult loop = RunCommand({"losetup", "-f", "--show", image});
    if (loop.exit_code != 0) {
      error_ = "losetup: " + loop.err;
      return;
    }
    loop_ = loop.out.substr(0, loop.out.find('\n'));
    // No journal (a journal error would turn the filesystem read-only for good); sync writes, so
    // that a failing device fails the write that caused it.
    if (!Run({"mkfs.ext2", "-q", loop_}) || !Run({"mount", "-o", "errors=continue,sync", loop_, inner_})) return;
    mounted_inner_ = true;
    ok_ = true;
  }
  ~FaultyDisk() {
    if (mounted_inner_) RunCommand({"umount", "-l", inner_});
    if (fuse_) fuse_->Wait(5s);
    if (!loop_.empty()) RunCommand({"losetup", "-d", loop_});
    if (mounted_outer_) RunCommand({"umount", "-l", outer_});
  }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // Where the database goes.
  std::string Dir() const { return kind_ == Kind::kFullFilesystem ? outer_ : inner_; }

  void Fill() {
    if (kind_ == Kind::kIoError) {
      std::ofstream(outer_ + "/.fail") << "fail\n";
      return;
    }
    // dd stops with "No space left on device"; its exit code says so, which is the point.
    RunCommand({"dd", "if=/dev/zero", "of=" + outer_ + "/filler", "bs=64k"}, 60s);
  }
  void Clear() { std::filesystem::remove(outer_ + (kind_ == Kind::kIoError ? "/.fail" : "/filler")); }

 private:
  bool Run(const std::vector<std::string>& argv) {
    RunResult r = RunCommand(argv);
    if (r.exit_code != 0) error_ = argv[0] + ": " + r.err;
    return r.exit_code == 0;
  }

  Kind kind_;
  TempDir dir_;
  std::string outer_, inner_, loop_, error_;
  std::unique_ptr<ChildProcess> fuse_;
  bool ok_ = false, mounted_outer_ = false, mounted_inner_ = false;
};

std::string Unavailable() {
  if (::geteuid() != 0) return "needs root (it mounts small filesystems)";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) return "needs /dev/fuse";
  for (const char* p : {"mount", "mountpoint", "losetup", "mkfs.ext2", "sqlite3", "dd"}) {
    if (RunCommand({"sh", "-c", std::string("command -v ") + p}).exit_code != 0) return std::string("needs ") + p;
  }
  return "";
}

const std::string kDigest = "sha256:" + std::string(64, 'a');

std::string CloudletBody() {
  return json{{"endpoint", "http://127.0.0.1:1"}, {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 8192}}},
              {"isolation", {"container"}}, {"wan_mbps", 100}}
      .dump();
}

std::string UsageBody(const std::string& event_id) {
  return json{{"records",
               {{{"event_id", event_id}, {"tenant", "acme"}, {"cloudlet", "cl-a"}, {"start", "2026-11-30T10:00:00Z"},
                 {"end", "2026-11-30T10:01:00Z"}, {"quantities", {{"cpu_core_s", 1.5}}}}}}}
      .dump();
}

class StoreFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = Unavailable(); !why.empty()) {
      if (NetnsLab::Required()) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }

  // Registers cl-a, creates tenant acme and reserves a placement on cl-a; returns its id.
  static std::string Prepare(const CloudletdProcess& d) {
    EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", CloudletBody()).status, 201);
    EXPECT_EQ(d.Call("POST", "/v1/tenants", R"({"id":"acme"})").status, 201);
    const json app = {{"name", "ar"}, {"base_vm", kDigest}, {"base_vm_mb", 10}, {"overlay_mb", 1},
                      {"cpu_millis", 500}, {"mem_mb", 64}, {"isolation", "container"}};
    auto placed = d.Call("POST", "/v1/placements", json{{"app", app}}.dump());
    EXPECT_EQ(placed.status, 201) << placed.body;
    return json::parse(placed.body, nullptr, false).value("placement_id", "");
  }

  // The four writes, each refused with 503 and Retry-After while the fault lasts.
  struct Writes {
    long cloudlet = 0, usage = 0, token = 0, confirm = 0;
  };
  static Writes Attempt(const CloudletdProcess& d, const std::string& placement, std::chrono::milliseconds timeout = 10s) {
    Writes w;
    auto call = [&](const std::string& method, const std::string& path, const std::string& body) {
      const auto r = d.Call(method, path, body, kOperatorToken, timeout);
      if (r.status == 503) {
        EXPECT_FALSE(r.Header("retry-after").empty()) << method << " " << path;
      }
      if (r.status == 200 && path == "/v1/usage") {  // a batch's answer counts what was recorded
        return json::parse(r.body).value("accepted", 0) == 1 ? 200L : 0L;
      }
      return r.status;
    };
    w.cloudlet = call("PUT", "/v1/cloudlets/cl-b", CloudletBody());
    w.usage = call("POST", "/v1/usage", UsageBody("fault-1"));
    w.token = call("POST", "/v1/tokens", R"({"role":"tenant","tenant":"acme","description":"during the fault"})");
    w.confirm = call("POST", "/v1/placements/" + placement + "/confirm", "");
    return w;
  }

  // What survives a restart: each acknowledged write once.
  static void ExpectEachWriteOnceAfterRestart(CloudletdProcess& d, const std::string& placement) {
    d.Signal(SIGTERM);
    ASSERT_EQ(d.Wait(), 0) << d.Log();
    d.Start();
    EXPECT_EQ(d.Call("GET", "/v1/cloudlets/cl-b").status, 200);
    const json report = d.Json("GET", "/v1/reports/usage?from=2026-11-30&to=2026-12-01");
    EXPECT_DOUBLE_EQ(report["total"]["quantities"]["cpu_core_s"].get<double>(), 1.5) << report.dump();
    int issued = 0;
    const json tokens = d.Json("GET", "/v1/tokens");
    for (const auto& t : tokens["tokens"]) issued += t.value("description", "") == "during the fault";
    EXPECT_EQ(issued, 1);
    const json p = d.Json("GET", "/v1/placements/" + placement);
    EXPECT_EQ(p.value("confirmed", false), true) << p.dump();
  }

  static void ExpectAllRefused(const Writes& w) {
    EXPECT_EQ(w.cloudlet, 503);
    EXPECT_EQ(w.usage, 503);
    EXPECT_EQ(w.token, 503);
    EXPECT_EQ(w.confirm, 503);
  }

  // Once the fault has cleared: the same writes succeed with no restart, and a restart shows each once.
  static void ExpectRecovery(CloudletdProcess& d, const std::string& placement) {
    const Writes retried = Attempt(d, placement);
    EXPECT_EQ(retried.cloudlet, 201);
    EXPECT_EQ(retried.usage, 200);
    EXPECT_EQ(retried.token, 201);
    EXPECT_EQ(retried.confirm, 200);
    ExpectEachWriteOnceAfterRestart(d, placement);
    d.Signal(SIGTERM);
    d.Wait();
  }

  // `says`: what SQLite's error, passed on in the 503's detail, calls the fault.
  void RunFaultScenario(FaultyDisk::Kind kind, const std::string& says) {
    FaultyDisk disk(kind);
    ASSERT_TRUE(disk.ok()) << disk.error();
    CloudletdProcess d({}, disk.Dir() + "/cloudlet.db");
    d.Start();
    const std::string placement = Prepare(d);
    ASSERT_FALSE(placement.empty());

    disk.Fill();
    const auto first = d.Call("POST", "/v1/tenants", R"({"id":"fault"})");
    EXPECT_EQ(first.status, 503);
    EXPECT_NE(first.body.find(says), std::string::npos) << first.body;
    ExpectAllRefused(Attempt(d, placement));
    // Reads go on, and nothing refused shows.
    EXPECT_EQ(d.Call("GET", "/v1/cloudlets/cl-b").status, 404);
    EXPECT_EQ(d.Json("GET", "/v1/placements/" + placement).value("state", ""), "reserved");
    EXPECT_EQ(d.Call("GET", "/healthz").status, 200);

    disk.Clear();  // the service recovers by itself
    ExpectRecovery(d, placement);
  }
};

TEST_F(StoreFaultsTest, AFullDiskIsAnsweredWith503AndTheServiceRecoversWhenSpaceReturns) {
  RunFaultScenario(FaultyDisk::Kind::kFullFilesystem, "disk is full");
}

TEST_F(StoreFaultsTest, ABlockDeviceOutOfSpaceUnderItsFilesystemIsAnsweredWith503AndTheServiceRecovers) {
  RunFaultScenario(FaultyDisk::Kind::kDeviceOutOfSpace, "disk is full");
}

TEST_F(StoreFaultsTest, AnIoErrorIsAnsweredWith503AndTheServiceRecovers) {
  RunFaultScenario(FaultyDisk::Kind::kIoError, "disk I/O error");
}

TEST_F(StoreFaultsTest, ADatabaseLockedPastTheBusyTimeoutIsAnsweredWith503AndTheServiceRecovers) {
  TempDir dir;
  // A write waits 1 s for the lock (5 s by default); the placement's lease outlasts the test.
  CloudletdProcess d({"--db-busy-timeout", "1s", "--lease", "5m"}, dir.File("cloudlet.db"));
  d.Start();
  const std::string placement = Prepare(d);
  ASSERT_FALSE(placement.empty());
  // Another process holds the write lock for 20 s: longer than the writes below take to be refused
  // (each waits its second, some behind the registry's own periodic write).
  ChildProcess holder({"sqlite3", d.db(), "BEGIN IMMEDIATE;", ".shell sleep 20", "COMMIT;"}, "", "");
  ASSERT_TRUE(holder.Start());
  std::this_thread::sleep_for(500ms);
  const auto started = std::chrono::steady_clock::now();
  auto tenant = d.Call("POST", "/v1/tenants", R"({"id":"busy"})");
  EXPECT_EQ(tenant.status, 503) << tenant.body;
  EXPECT_FALSE(tenant.Header("retry-after").empty());
  EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);  // it waited for the lock first
  ExpectAllRefused(Attempt(d, placement));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 19s) << "the lock was released before the writes were tried";
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets/cl-b").status, 404);  // reads are not blocked by a writer
  EXPECT_EQ(holder.Wait(30s), 0) << holder.Stderr();

  EXPECT_EQ(d.Call("POST", "/v1/tenants", R"({"id":"busy"})").status, 201);
  ExpectRecovery(d, placement);
}

TEST_F(StoreFaultsTest, OnAFullDiskTheAgentKeepsUsageInMemorySaysSoAndMakesItDurableOnceSpaceReturns) {
  TempDir dir;
  const std::string db = dir.File("c.db");
  auto registry = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  registry->Start();
  const std::string url = registry->url();
  ASSERT_EQ(registry->Call("POST", "/v1/tenants", R"({"id":"acme"})").status, 201);
  const std::string agent_token =
      json::parse(registry->Call("POST", "/v1/tokens", json{{"role", "agent"}, {"cloudlet", "cl-a"}}.dump()).body)["token"];
  FaultyDisk disk(FaultyDisk::Kind::kFullFilesystem);
  ASSERT_TRUE(disk.ok()) << disk.error();
  const int port = FreeLoopbackPort();
  const std::string agent_url = "http://127.0.0.1:" + std::to_string(port);
  const std::string log = dir.File("agent.log");
  auto local = [&](const std::string& method, const std::string& path, const std::string& body = {}) {
    auto r = api::MakeHttpClient()->Send(
        {.method = method, .url = agent_url + path, .body = body, .headers = {}, .timeout = 5s});
    return r.ok() ? *r : api::ClientResponse{};
  };
  auto start_agent = [&] {
    return StartLocalAgent({.bin = CLOUDLET_AGENT_BIN, .port = port, .state_dir = disk.Dir() + "/agent", .id = "cl-a",
                            .registry = url, .token = agent_token, .log = log,
                            .extra_args = {"--sample-interval", "200ms"}});
  };
  auto report = [&](std::vector<std::string> ids) {
    return local("POST", "/v1/usage", HoursOfUsage(ids, "acme").dump());
  };
  auto core_hours = [&]() -> double {
    auto r = registry->Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01", {}, kOperatorToken, 2s);
    return r.status == 200 ? json::parse(r.body)["total"]["quantities"]["cpu_core_s"].get<double>() / 3600 : -1;
  };
  auto metric = [&](const std::string& line) { return local("GET", "/metrics").body.find(line) != std::string::npos; };

  auto agent = start_agent();
  disk.Fill();
  // The registry answers: usage goes from memory to the ledger, and leaves memory.
  auto kept = report({"u-1"});
  ASSERT_EQ(kept.status, 202) << kept.body;
  EXPECT_EQ(json::parse(kept.body)["durable"], false) << kept.body;
  EXPECT_TRUE(WaitFor([&] { return core_hours() == 1; }, 20s)) << ReadFileOrEmpty(log);
  EXPECT_TRUE(WaitFor([&] { return metric("cloudlet_agent_spool_memory_records 0"); }));
  EXPECT_TRUE(metric("cloudlet_agent_spool_degraded 1"));

  // The registry goes away: memory holds the usage, and says so.
  registry->Signal(SIGTERM);
  ASSERT_EQ(registry->Wait(), 0);
  EXPECT_EQ(report({"u-2", "u-3"}).status, 202);
  EXPECT_TRUE(metric("cloudlet_agent_spool_memory_records 2"));
  EXPECT_NE(ReadFileOrEmpty(log).find("keeping usage in memory"), std::string::npos) << ReadFileOrEmpty(log);

  // Space returns: memory goes to disk by itself, so that kill -9 loses nothing.
  disk.Clear();
  EXPECT_TRUE(WaitFor([&] { return metric("cloudlet_agent_spool_memory_records 0"); }, 10s)) << ReadFileOrEmpty(log);
  EXPECT_TRUE(metric("cloudlet_agent_spool_degraded 0"));
  EXPECT_NE(ReadFileOrEmpty(log).find("2 record(s) held in memory are durable now"), std::string::npos);
  agent->Signal(SIGKILL);
  agent->Wait();
  agent = start_agent();
  const int registry_port = std::stoi(url.substr(url.rfind(':') + 1));
  registry = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  registry->UsePort(registry_port);
  registry->Start();
  EXPECT_TRUE(WaitFor([&] { return core_hours() == 3; }, 60s)) << ReadFileOrEmpty(log);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(core_hours(), 3) << "each record once";
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(20s), 0);
}

}  // namespace
}  // namespace cloudlet::testing
