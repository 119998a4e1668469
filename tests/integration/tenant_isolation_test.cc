// Untrusted tenants on one cloudlet, with every part real: cloudletd, a loopback OCI registry,
// cloudlet-agent --runtime podman, and workloads that behave as an attacker's would. Tenants cannot
// reach each other's containers or the host; memory, fork and CPU hogs hit their own limits only;
// and the bill comes from what the runtime measured, each window once, across a kill -9 of the
// agent. Needs root, podman and docker-registry: skips without them (fails instead when
// CLOUDLET_REQUIRE_NETNS=1, as in CI).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/netns_lab.h"
#include "support/podman_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kHttpd[] = "httpd -p 8080 -h /www; ";  // busybox httpd in the background: the app

class TenantIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_PODMAN(/*need_registry=*/true);
    lab_.StartRegistry();
    lab_.BuildBase({"sh", "httpd", "cat", "sleep", "wget", "ls", "touch", "awk", "grep", "nc", "echo", "tr"});
    web_ = lab_.BuildApp("web", {"COPY www /www", R"(CMD ["/bin/httpd","-f","-p","8080","-h","/www"])"},
                         {{"www/index.html", "hello\n"}});
    cloudletd_ = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, dir_.File("cloudlet.db"));
    cloudletd_->Start();
    for (const char* t : {"acme", "globex"}) {
      ASSERT_EQ(cloudletd_->Call("POST", "/v1/tenants", json{{"id", t}}.dump()).status, 201);
      tokens_[t] = cloudletd_->Json("POST", "/v1/tokens", json{{"role", "tenant"}, {"tenant", t}}.dump()).value("token", "");
      ASSERT_FALSE(tokens_[t].empty());
    }
    agent_token_ = cloudletd_->Json("POST", "/v1/tokens", R"({"role":"agent","cloudlet":"cl-iso"})").value("token", "");
    agent_port_ = FreeLoopbackPort();
    StartAgent();
  }

  void TearDown() override {
    if (agent_) {
      agent_->Signal(SIGKILL);
      agent_->Wait();
    }
    cloudletd_.reset();
    lab_.TearDown();
  }

  void StartAgent() {
    agent_ = lab_.StartAgent({.id = "cl-iso", .root = "agent", .registry_url = cloudletd_->url(), .token = agent_token_,
                              .port = agent_port_, .extra_args = {"--meter-interval", "2s"}});
  }

  // `cloudlet place --wait` as `tenant`: the placement's id once it runs ("" and a failure if not).
  std::string Place(const std::string& tenant, const std::string& name, int cpu_millis, int mem_mb,
                    const std::string& script = "") {
    json spec = {{"name", name}, {"base_vm", lab_.base().substr(lab_.base().find('@') + 1)}, {"base_vm_mb", 2},
                 {"overlay_mb", 1}, {"cpu_millis", cpu_millis}, {"mem_mb", mem_mb}, {"isolation", "container"},
                 {"image", web_}, {"base_image", lab_.base()}, {"port", 8080}, {"health", {{"http", "/"}}},
                 {"ready_timeout_s", 30}};
    if (!script.empty()) spec["command"] = {"sh", "-c", script};
    std::ofstream(dir_.File(name + ".json")) << spec.dump();
    auto r = RunCommand({CLOUDLET_CLI_BIN, "--registry", cloudletd_->url(), "--token", tokens_[tenant], "place", "--app",
                         dir_.File(name + ".json"), "--geo", "40.44,-79.94", "--wait"},
                        90s);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.out << r.err << lab_.AgentLog("agent");
    for (const auto& p : cloudletd_->Json("GET", "/v1/placements").value("placements", json::array())) {
      if (p["request"]["app"]["name"] == name) return p["placement_id"];
    }
    return "";
  }
  json Placement(const std::string& id) { return cloudletd_->Json("GET", "/v1/placements/" + id); }
  // GET http://<endpoint>/ from the host, as a device would.
  std::string Fetch(const std::string& endpoint) {
    auto r = api::MakeHttpClient()->Send({.method = "GET", .url = "http://" + endpoint + "/", .timeout = 5s});
    return r.ok() && r->status == 200 ? r->body : "";
  }

  std::string Container(const std::string& placement) { return lab_.ContainerOf("agent", placement); }
  // A command in the placement's container, as its tenant's code would run it.
  RunResult Exec(const std::string& placement, const std::string& script) {
    auto r = lab_.Podman("agent", {"exec", Container(placement), "sh", "-c", script});
    if (!r.ok()) return {-2, "", r.status().ToString()};
    return {r->exit_code, r->out, r->err};
  }
  std::string Inspect(const std::string& placement, const std::string& format) {
    std::string out = lab_.MustPodman("agent", {"inspect", "--format", format, Container(placement)});
    return out.substr(0, out.find('\n'));
  }
  // A cgroup v1 file of the placement's container (this kind of host mounts cgroup v1).
  std::string CgroupFile(const std::string& placement, const std::string& controller, const std::string& file) {
    const std::string path = "/sys/fs/cgroup/" + controller + Inspect(placement, "{{.State.CgroupPath}}") + "/" + file;
    std::string text = ReadFileOrEmpty(path);
    EXPECT_FALSE(text.empty()) << "cannot read " << path;
    return text;
  }
  double CpuSeconds(const std::string& placement) {
    return std::atof(CgroupFile(placement, "cpuacct", "cpuacct.usage").c_str()) / 1e9;
  }

  TempDir dir_;
  PodmanLab lab_{dir_};
  std::unique_ptr<CloudletdProcess> cloudletd_;
  std::unique_ptr<ChildProcess> agent_;
  std::map<std::string, std::string> tokens_;
  std::string web_, agent_token_;
  int agent_port_ = 0;
};

// A TCP listener on every address of the host (as sshd or a careless service would be).
class HostService {
 public:
  HostService() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    EXPECT_EQ(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~HostService() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(TenantIsolationTest, TenantsReachOnlyTheirOwnAndEveryHogHitsItsOwnLimit) {
  const std::string a1 = Place("acme", "a1", 200, 64), a2 = Place("acme", "a2", 200, 64);
  const std::string b1 = Place("globex", "b1", 200, 64);
  ASSERT_FALSE(a1.empty() || a2.empty() || b1.empty());
  const std::string ip_format = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}";
  const std::string a1_ip = Inspect(a1, ip_format), b1_ip = Inspect(b1, ip_format);
  ASSERT_FALSE(a1_ip.empty() || b1_ip.empty());

  // One tenant's placements reach each other; another tenant's cannot connect. (busybox wget
  // crashes in a static build without NSS: nc speaks the HTTP.)
  auto get = [&](const std::string& from, const std::string& ip) {
    return Exec(from, "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 " + ip + " 8080");
  };
  auto same = get(a2, a1_ip);
  EXPECT_NE(same.out.find("hello"), std::string::npos) << same.out << same.err;
  auto cross = get(a2, b1_ip);
  EXPECT_EQ(cross.out.find("hello"), std::string::npos) << "acme reached globex: " << cross.out;
  auto back = get(b1, a1_ip);
  EXPECT_EQ(back.out.find("hello"), std::string::npos) << "globex reached acme: " << back.out;

  // The host's own services are out of reach through the tenant's bridge.
  HostService service;
  std::string gateway = lab_.MustPodman("agent", {"network", "inspect", "--format", "{{range .Subnets}}{{.Gateway}}{{end}}",
                                                  "cloudlet-acme"});
  gateway = gateway.substr(0, gateway.find('\n'));
  ASSERT_FALSE(gateway.empty());
  auto host = Exec(a1, "nc -w 2 " + gateway + " " + std::to_string(service.port()) + " </dev/null && echo connected");
  EXPECT_EQ(host.out.find("connected"), std::string::npos) << "a workload opened a connection to the host";

  // What a container sees: a read-only root, its own processes only, no agent state, no
  // capabilities, no new privileges, the default seccomp filter; one published port.
  auto write = Exec(a1, "touch /evil");
  EXPECT_NE(write.exit_code, 0);
  EXPECT_NE(write.err.find("Read-only file system"), std::string::npos) << write.err;
  EXPECT_EQ(Exec(a1, "touch /tmp/scratch").exit_code, 0) << "the small tmpfs is writable";
  auto procs = Exec(a1, "ls /proc | grep -c '^[0-9]'; cat /proc/[0-9]*/cmdline | tr '\\0' ' '");
  EXPECT_LE(std::atoi(procs.out.c_str()), 10) << procs.out;
  EXPECT_EQ(procs.out.find("cloudlet-agent"), std::string::npos) << procs.out;
  EXPECT_EQ(procs.out.find("cloudletd"), std::string::npos) << procs.out;
  EXPECT_NE(Exec(a1, "ls " + dir_.File("agent-state")).exit_code, 0) << "the agent's state directory is visible";
  auto status = Exec(a1, "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status");
  EXPECT_NE(status.out.find("CapEff:\t0000000000000000"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("NoNewPrivs:\t1"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("Seccomp:\t2"), std::string::npos) << status.out;
  const std::string ports = lab_.MustPodman("agent", {"port", Container(a1)});
  EXPECT_EQ(std::count(ports.begin(), ports.end(), '\n'), 1) << ports;
  EXPECT_EQ(ports.rfind("8080/tcp -> 127.0.0.1:", 0), 0u) << ports;

  // A memory hog is killed at its limit, and its placement fails saying so.
  const std::string hog = Place("acme", "hog", 200, 32, std::string(kHttpd) +
                                "sleep 2; exec awk 'BEGIN { s = \"x\"; while (1) s = s s }'");
  ASSERT_FALSE(hog.empty());
  EXPECT_TRUE(WaitFor([&] { return Placement(hog).value("state", "") == "failed"; }, 30s)) << Placement(hog).dump();
  EXPECT_NE(Placement(hog).value("reason", "").find("out of memory"), std::string::npos) << Placement(hog).dump();

  // A fork bomb meets its pids limit, and the agent carries on; a CPU hog gets its share and no more.
  // The hog runs first, so that its share is measured with the bomb going off beside it.
  const std::string spin = Place("acme", "spin", 500, 64, std::string(kHttpd) + "while :; do :; done");
  ASSERT_FALSE(spin.empty());
  const double spin_before = CpuSeconds(spin);
  const auto spin_from = std::chrono::steady_clock::now();
  const std::string bomb = Place("globex", "bomb", 200, 64, std::string(kHttpd) + "sleep 1; b() { b | b & }; b; sleep 100000");
  ASSERT_FALSE(bomb.empty());
  EXPECT_TRUE(WaitFor([&] { return std::atoi(CgroupFile(bomb, "pids", "pids.current").c_str()) >= 200; }, 20s))
      << "the bomb never went off";
  EXPECT_EQ(CgroupFile(bomb, "pids", "pids.max"), "256\n");
  EXPECT_LE(std::atoi(CgroupFile(bomb, "pids", "pids.current").c_str()), 256);
  // Its neighbours still fork: another tenant's app answers (busybox httpd forks per request), and
  // the agent places a new app, in the bomb's own tenant too.
  EXPECT_NE(Fetch(Placement(a1).value("endpoint", "")).find("hello"), std::string::npos) << "acme's app stopped answering";
  const std::string after = Place("globex", "after-bomb", 200, 64);
  EXPECT_FALSE(after.empty()) << "the agent stopped placing";
  EXPECT_EQ(cloudletd_->Call("GET", "/v1/cloudlets/cl-iso").status, 200);
  std::this_thread::sleep_until(spin_from + 10s);
  const double spun = CpuSeconds(spin) - spin_before;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - spin_from).count();
  EXPECT_LE(spun, 1.1 * 0.5 * wall) << "a 500-millicore hog took " << spun << " CPU-s in " << wall << " s";
  EXPECT_GE(spun, 1.0) << "the hog hardly ran";
  std::printf("measured: a 500-millicore CPU hog used %.2f CPU-s in %.1f s (%.2f x its share)\n", spun, wall,
              spun / (0.5 * wall));
}

// The UTC day `days` from today, as YYYY-MM-DD.
std::string Day(int days) {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + std::chrono::hours(24 * days));
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

// The usage table of cloudletd's ledger for one placement: (start ms, end ms, cpu core-s), by start.
std::vector<std::tuple<int64_t, int64_t, double>> LedgerRows(const std::string& db_path, const std::string& placement) {
  std::vector<std::tuple<int64_t, int64_t, double>> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "open " << db_path;
    sqlite3_close(db);
    return rows;
  }
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT start_ms, end_ms, cpu_core_s FROM usage WHERE placement = ?1 ORDER BY start_ms", -1, &q,
                     nullptr);
  sqlite3_bind_text(q, 1, placement.c_str(), -1, SQLITE_TRANSIENT);
  while (sqlite3_step(q) == SQLITE_ROW) {
    rows.emplace_back(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_double(q, 2));
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return rows;
}

TEST_F(TenantIsolationTest, TheBillComesFromTheRuntimeEachWindowOnceAcrossAKill9) {
  // Burns one core until its cgroup has used 10 CPU-seconds, then idles; another tenant idles.
  const std::string burn = Place("acme", "burn", 1000, 64, std::string(kHttpd) +
                                 "while [ $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) -lt 10000000000 ]; do :; done; "
                                 "sleep 100000");
  const std::string idle = Place("globex", "idle", 200, 64);
  ASSERT_FALSE(burn.empty() || idle.empty());

  // Mid-burn and mid-window (readings fall on even seconds), the agent dies hard; it comes back.
  std::this_thread::sleep_for(3s);
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(3000 - now_ms % 2000));
  agent_->Signal(SIGKILL);
  agent_->Wait();
  std::this_thread::sleep_for(1500ms);
  StartAgent();

  // The ledger, read as the tenant's report: once the burn is over and its usage has settled.
  auto report = [&](const std::string& tenant) {
    return cloudletd_->Json("GET", "/v1/reports/usage?from=" + Day(-1) + "&to=" + Day(1) + "&group_by=placement&tenant=" + tenant);
  };
  auto cpu_of = [&](const json& r, const std::string& placement) {
    for (const auto& line : r.value("lines", json::array())) {
      if (line.value("placement", "") == placement) return line["quantities"].value("cpu_core_s", 0.0);
    }
    return -1.0;
  };
  double settled = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        const double seen = cpu_of(report("acme"), burn);
        const bool same = seen >= 9 && std::abs(seen - settled) < 0.05;
        settled = seen;
        if (!same) std::this_thread::sleep_for(2500ms);
        return same;
      },
      60s))
      << report("acme").dump() << lab_.AgentLog("agent");
  EXPECT_NEAR(settled, 10.0, 2.0) << "one core for 10 s";
  std::printf("measured: the burn was billed %.2f core-s\n", settled);
  const double idle_cpu = cpu_of(report("globex"), idle);
  EXPECT_GE(idle_cpu, 0.0) << "the idle placement was never metered";
  EXPECT_LT(idle_cpu, 0.5);
  std::printf("measured: the idle app was billed %.3f core-s\n", idle_cpu);

  // The windows follow each other with neither gap nor overlap, across the kill.
  const auto rows = LedgerRows(dir_.File("cloudlet.db"), burn);
  ASSERT_GE(rows.size(), 4u);
  bool spans_the_kill = false;
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(std::get<0>(rows[i]), std::get<1>(rows[i - 1])) << "window " << i << " does not start where the last ended";
    spans_the_kill = spans_the_kill || std::get<1>(rows[i]) - std::get<0>(rows[i]) > 2500;
  }
  std::string windows;
  for (const auto& [start, end, cpu] : rows) windows += std::to_string(start) + "-" + std::to_string(end) + " ";
  EXPECT_TRUE(spans_the_kill) << "one window covers the agent's absence: " << windows;
  std::printf("measured: %zu contiguous windows across the kill: %s\n", rows.size(), windows.c_str());

  // The same report from the CLI, by placement.
  auto cli = RunCommand({CLOUDLET_CLI_BIN, "--registry", cloudletd_->url(), "--token", tokens_["acme"], "report",
                         "--from", Day(-1), "--to", Day(1), "--group-by", "placement"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("PLACEMENT"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find(burn), std::string::npos) << cli.out;

  // The dashboard's live figures: the burn is over, the idle app idles.
  EXPECT_TRUE(WaitFor([&] { return Placement(idle).contains("live"); }, 10s)) << Placement(idle).dump();
  EXPECT_LT(Placement(idle)["live"].value("cpu_millis", 1e9), 100);
  EXPECT_GT(Placement(idle)["live"].value("mem_mib", 0.0), 0);
}

}  // namespace
}  // namespace cloudlet::testing
