// Real mDNS: cloudlet-agent, cloudlet discover, avahi-browse and avahi-publish in network
// namespaces, each with its own Avahi daemon (support/netns_lab.h).
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/netns_lab.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

#define REQUIRE_LAB()                                                                          \
  do {                                                                                         \
    if (auto why = NetnsLab::Unavailable(); !why.empty()) {                                    \
      if (NetnsLab::Required()) FAIL() << "CLOUDLET_REQUIRE_NETNS=1, but the lab " << why;     \
      GTEST_SKIP() << "no mDNS lab: " << why;                                                  \
    }                                                                                          \
  } while (0)

// A procfs stand-in whose counters the test moves: "cpu busy idle" in jiffies.
void WriteProc(const std::string& dir, uint64_t busy, uint64_t idle) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/stat.tmp") << "cpu  " << busy << " 0 0 " << idle << " 0 0 0 0 0 0\ncpu0 0\ncpu1 0\n";
  std::filesystem::rename(dir + "/stat.tmp", dir + "/stat");
  std::ofstream(dir + "/meminfo") << "MemTotal: 8192000 kB\nMemAvailable: 4096000 kB\n";
}

class MdnsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) return;
    for (size_t i = 0; i < agents_.size(); ++i) std::cerr << "--- agent" << i << " log:\n" << AgentLog(i);
    if (lab_) {
      for (int n = 0; n < lab_->nodes(); ++n) std::cerr << "--- node" << n << " avahi:\n" << lab_->AvahiLog(n);
    }
  }

  void MakeLab(int nodes) {
    lab_ = std::make_unique<NetnsLab>(nodes);
    ASSERT_TRUE(lab_->ok()) << lab_->error();
  }

  ChildProcess& StartAgent(int node, std::vector<std::string> args) {
    const std::string name = "agent" + std::to_string(agents_.size());
    std::vector<std::string> argv = {CLOUDLET_AGENT_BIN, "--state-dir", dir_.File(name)};
    argv.insert(argv.end(), args.begin(), args.end());
    agents_.push_back(std::make_unique<ChildProcess>(lab_->Exec(node, argv), dir_.File(name + ".log"),
                                                     dir_.File(name + ".log")));
    EXPECT_TRUE(agents_.back()->Start());
    return *agents_.back();
  }

  std::string AgentLog(size_t i) const { return ReadFileOrEmpty(dir_.File("agent" + std::to_string(i) + ".log")); }

  json Discover(int node, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {CLOUDLET_CLI_BIN, "--json", "discover", "--browse-for", "2s"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    RunResult r = RunCommand(lab_->Exec(node, argv), 20s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << r.out << r.err;
    return j.is_array() ? j : json::array();
  }

  // Discovers until `done` holds for the rows (or `limit` passes); returns the last rows.
  template <typename F>
  json DiscoverUntil(int node, F done, std::chrono::seconds limit = 30s, std::vector<std::string> extra = {}) {
    json rows;
    WaitFor([&] { return done(rows = Discover(node, extra)); }, limit);
    return rows;
  }

  static const json* Row(const json& rows, const std::string& id) {
    for (const auto& r : rows) {
      if (r.value("id", "") == id) return &r;
    }
    return nullptr;
  }

  // A cloudletd in node 0's namespace, listening on its bridge address.
  std::unique_ptr<CloudletdProcess> StartRegistry() {
    auto registry = std::make_unique<CloudletdProcess>();
    registry->UseNamespace(lab_->Namespace(0), lab_->Exec(0, {}), lab_->Address(0));
    registry->Start();
    return registry;
  }

  // A lab of three nodes: cloudletd in node 0, and cloudlet-agent "real" (id cl-real) in node 1,
  // registered with it; the agent's load comes from a procfs stand-in, so that a busy test machine
  // cannot leave it without room. The registry, once the agent is in it (a test failure otherwise).
  std::unique_ptr<CloudletdProcess> LabWithRealAgent() {
    MakeLab(3);
    auto registry = StartRegistry();
    WriteProc(dir_.File("proc"), 100, 900);
    StartAgent(1, {"--name", "real", "--id", "cl-real", "--registry", registry->url(), "--token", kOperatorToken,
                   "--insecure", "--geo", "40.44,-79.94", "--proc-dir", dir_.File("proc")});
    EXPECT_TRUE(WaitFor([&] { return registry->Call("GET", "/v1/cloudlets/cl-real").status == 200; }, 30s))
        << AgentLog(agents_.size() - 1);
    return registry;
  }

  std::string AvahiBrowse(int node) {
    return RunCommand(lab_->Exec(node, {"avahi-browse", "-rtp", "_cloudlet._tcp"}), 20s).out;
  }

  std::unique_ptr<NetnsLab> lab_;  // destroyed last: it removes the namespaces
  TempDir dir_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
};

TEST_F(MdnsTest, ThreeAgentsAreFoundFromAFourthNamespaceWithTheirTxtValues) {
  REQUIRE_LAB();
  MakeLab(4);
  std::filesystem::create_directories(dir_.File("images"));
  std::ofstream(dir_.File("images/base.qcow2")) << "abc";  // sha256 ba7816bf8f01...
  const char* isolation[] = {"", "vm", "container", "vm,container"};
  for (int i = 1; i <= 3; ++i) {
    std::vector<std::string> args = {"--name", "cloudlet-" + std::to_string(i), "--id", "cl-" + std::to_string(i),
                                     "--cpu-millis", std::to_string(i * 1000), "--isolation", isolation[i],
                                     "--geo", "40." + std::to_string(i) + ",-79.9"};
    if (i == 1) args.insert(args.end(), {"--base-vm-dir", dir_.File("images")});
    StartAgent(i, args);
  }
  const json rows = DiscoverUntil(0, [](const json& r) { return r.size() == 3; });
  ASSERT_EQ(rows.size(), 3u) << rows.dump(2) << AgentLog(0);
  for (int i = 1; i <= 3; ++i) {
    const json* row = Row(rows, "cl-" + std::to_string(i));
    ASSERT_NE(row, nullptr) << rows.dump(2);
    EXPECT_EQ((*row)["name"], "cloudlet-" + std::to_string(i));
    EXPECT_EQ((*row)["address"], lab_->Address(i));
    EXPECT_EQ((*row)["port"], 8471);
    EXPECT_EQ((*row)["source"], "lan");
    EXPECT_EQ((*row)["cpu"]["total_millis"], i * 1000);
    EXPECT_GT((*row)["mem"]["total_mb"].get<int64_t>(), 0);
    EXPECT_NEAR((*row)["geo"]["lat"].get<double>(), 40.0 + i / 10.0, 1e-6);
    EXPECT_EQ((*row)["base_vms"], i == 1 ? json::array({"ba7816bf8f01"}) : json::array());
  }
  EXPECT_EQ(Row(rows, "cl-3")->at("isolation"), json::array({"vm", "container"}));

  // What any Bonjour or Avahi client sees: the same records, parsed by Avahi's own tool.
  const std::string browse = AvahiBrowse(0);
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    const std::string resolved = "=;veth0;IPv4;cloudlet-" + n + ";_cloudlet._tcp;local;node" + n + ".local;" +
                                 lab_->Address(i) + ";8471;";
    const size_t at = browse.find(resolved);
    ASSERT_NE(at, std::string::npos) << browse;
    const std::string line = browse.substr(at, browse.find('\n', at) - at);
    EXPECT_NE(line.find("\"txtvers=1\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"id=cl-" + n + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("/" + std::to_string(i * 1000) + "\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"iso=" + std::string(isolation[i]) + "\""), std::string::npos) << line;
  }
  EXPECT_NE(browse.find("\"bvm=ba7816bf8f01\""), std::string::npos) << browse;
}

TEST_F(MdnsTest, ATxtUpdateReachesTheBrowserAndAStoppedAgentLeavesIt) {
  REQUIRE_LAB();
  MakeLab(2);
  const std::string proc = dir_.File("proc");
  WriteProc(proc, 100, 900);  // 10% busy since "boot"
  ChildProcess& agent = StartAgent(1, {"--name", "mover", "--id", "cl-mover", "--proc-dir", proc,
                                       "--sample-interval", "100ms"});
  ChildProcess watch(lab_->Exec(0, {CLOUDLET_CLI_BIN, "--json", "discover", "--watch"}), dir_.File("watch.out"),
                     dir_.File("watch.err"));
  ASSERT_TRUE(watch.Start());
  auto last = [&]() -> json {
    const std::string out = watch.Stdout();
    const size_t end = out.rfind('\n');
    if (end == std::string::npos) return json();
    const size_t start = out.rfind('\n', end - 1);
    return json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end), nullptr, false);
  };
  auto mover = [&]() -> json {
    json l = last();
    if (!l.is_object()) return json();
    const json* row = Row(l["cloudlets"], "cl-mover");
    return row ? *row : json();
  };
  ASSERT_TRUE(WaitFor([&] { return mover().is_object(); }, 30s)) << watch.Stdout() << AgentLog(0);
  EXPECT_EQ(mover()["load_percent"], 10);
  const uint64_t seq = mover()["seq"].get<uint64_t>();

  WriteProc(proc, 100 + 900, 900 + 100);  // the next 1000 jiffies were 90% busy
  ASSERT_TRUE(WaitFor([&] { return mover().is_object() && mover()["load_percent"] == 90; }, 30s))
      << watch.Stdout() << AgentLog(0);
  EXPECT_GT(mover()["seq"].get<uint64_t>(), seq);
  EXPECT_EQ(mover()["cpu"]["free_millis"], 200);  // 2 cores, 90% busy

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(20s), 0) << AgentLog(0);
  EXPECT_TRUE(WaitFor([&] { json l = last(); return l.is_object() && l["cloudlets"].empty(); }, 30s))
      << watch.Stdout();
  EXPECT_NE(AgentLog(0).find("withdrew"), std::string::npos) << AgentLog(0);
  watch.Signal(SIGINT);
  EXPECT_EQ(watch.Wait(10s), 0);
}

TEST_F(MdnsTest, TheAdvertComesBackAfterTheAvahiDaemonRestarts) {
  REQUIRE_LAB();
  MakeLab(2);
  ChildProcess& agent = StartAgent(1, {"--name", "survivor", "--id", "cl-survivor"});
  auto seen_from = [&](int node) {
    return AvahiBrowse(node).find("=;veth0;IPv4;survivor;_cloudlet._tcp;local;") != std::string::npos;
  };
  ASSERT_TRUE(WaitFor([&] { return seen_from(0); }, 30s)) << AgentLog(0);

  // A crash: the new daemon knows nothing until the agent publishes again.
  ASSERT_TRUE(lab_->StopAvahi(1, SIGKILL));
  ASSERT_TRUE(lab_->StartAvahi(1)) << lab_->AvahiLog(1);
  EXPECT_TRUE(WaitFor([&] { return seen_from(1); }, 30s)) << AgentLog(0);

  // A clean stop says goodbye, so the other namespace forgets the advert, then sees it again.
  ASSERT_TRUE(lab_->StopAvahi(1, SIGTERM));
  EXPECT_TRUE(WaitFor([&] { return !seen_from(0); }, 30s));
  ASSERT_TRUE(lab_->StartAvahi(1)) << lab_->AvahiLog(1);
  EXPECT_TRUE(WaitFor([&] { return seen_from(0); }, 30s)) << AgentLog(0);
  EXPECT_TRUE(agent.Running());
  EXPECT_NE(AgentLog(0).find("went away"), std::string::npos) << AgentLog(0);
}

TEST_F(MdnsTest, AnAgentStartedBeforeAvahiAdvertisesOnceTheDaemonRuns) {
  REQUIRE_LAB();
  MakeLab(2);
  ASSERT_TRUE(lab_->StopAvahi(1, SIGTERM));
  ChildProcess& agent = StartAgent(1, {"--name", "early", "--id", "cl-early"});
  ASSERT_TRUE(WaitFor([&] { return AgentLog(0).find("waiting for the Avahi daemon") != std::string::npos; }, 20s))
      << AgentLog(0);
  EXPECT_TRUE(agent.Running());
  ASSERT_TRUE(lab_->StartAvahi(1)) << lab_->AvahiLog(1);
  const json rows = DiscoverUntil(0, [](const json& r) { return r.size() == 1; });
  ASSERT_EQ(rows.size(), 1u) << AgentLog(0);
  EXPECT_EQ(rows[0]["id"], "cl-early");
}

TEST_F(MdnsTest, TwoAgentsWithTheSameNameAreBothVisibleOneUnderTheAlternativeName) {
  REQUIRE_LAB();
  MakeLab(3);
  StartAgent(1, {"--name", "twin", "--id", "cl-twin-a"});
  ASSERT_TRUE(WaitFor([&] { return AgentLog(0).find("advertising 'twin'") != std::string::npos; }, 30s));
  StartAgent(2, {"--name", "twin", "--id", "cl-twin-b"});
  const json rows = DiscoverUntil(0, [](const json& r) { return r.size() == 2; });
  ASSERT_EQ(rows.size(), 2u) << rows.dump(2) << AgentLog(1);
  EXPECT_EQ(Row(rows, "cl-twin-a")->at("name"), "twin");
  EXPECT_EQ(Row(rows, "cl-twin-b")->at("name"), "twin #2");
  EXPECT_NE(AgentLog(1).find("is taken"), std::string::npos) << AgentLog(1);
}

TEST_F(MdnsTest, AnAgentRegistersWithTheRegistryAndRegistersAgainAfterAnOutage) {
  REQUIRE_LAB();
  MakeLab(3);
  auto registry = StartRegistry();
  const std::string url = registry->url();
  // Plain HTTP across the lab's bridge, so --insecure (the TLS test covers https).
  ChildProcess& agent = StartAgent(1, {"--name", "registered", "--id", "cl-reg", "--registry", url, "--token",
                                       kOperatorToken, "--heartbeat-interval", "1s", "--insecure"});
  ASSERT_TRUE(WaitFor([&] { return registry->Call("GET", "/v1/cloudlets/cl-reg").status == 200; }, 30s))
      << AgentLog(0);
  const json record = registry->Json("GET", "/v1/cloudlets/cl-reg");
  EXPECT_EQ(record["endpoint"], "http://" + lab_->Address(1) + ":8471");
  EXPECT_EQ(record["state"], "healthy");

  // From a third namespace: the LAN and the registry agree.
  const json rows = DiscoverUntil(2, [](const json& r) { return !r.empty() && r[0]["source"] == "lan+registry"; },
                                  30s, {"--registry", url, "--token", kOperatorToken, "--insecure"});
  ASSERT_EQ(rows.size(), 1u) << rows.dump(2);
  EXPECT_EQ(rows[0]["registry_state"], "healthy");

  // A registry with more cloudlets than --limit: discover asks for the nearest few, and for the LAN's
  // own instance by id (it is neither among the first by id nor near).
  for (int i = 0; i < 6; ++i) {
    const std::string body = R"({"endpoint":"http://10.9.9.9:8471","geo":{"lat":)" + std::to_string(40.0 + i) +
                             R"(,"lon":-80.0},"capacity":{"cpu_millis":1000,"mem_mb":1000},"isolation":["vm"],"wan_mbps":100})";
    ASSERT_EQ(registry->Call("PUT", "/v1/cloudlets/cl-a" + std::to_string(i), body).status, 201);
  }
  const json paged = Discover(2, {"--registry", url, "--token", kOperatorToken, "--insecure", "--limit", "3", "--near",
                                  "44.1,-80.0"});
  std::vector<std::string> ids;
  for (const auto& r : paged) ids.push_back(r.value("id", "") + "/" + r.value("source", ""));
  EXPECT_EQ(ids, (std::vector<std::string>{"cl-reg/lan+registry", "cl-a4/registry", "cl-a5/registry", "cl-a3/registry"}))
      << paged.dump(2);

  // The registry dies and comes back empty (a new database): the running agent notices the 404
  // on its next heartbeat and registers again.
  registry->Signal(SIGKILL);
  registry->Wait();
  ASSERT_TRUE(WaitFor([&] { return AgentLog(0).find("heartbeat failed") != std::string::npos; }, 30s)) << AgentLog(0);
  std::this_thread::sleep_for(2s);  // down for a while
  registry = StartRegistry();
  EXPECT_TRUE(WaitFor([&] { return registry->Call("GET", "/v1/cloudlets/cl-reg").status == 200; }, 60s))
      << AgentLog(0);
  EXPECT_NE(AgentLog(0).find("registering again"), std::string::npos) << AgentLog(0);
  EXPECT_TRUE(agent.Running());

  // SIGTERM: the agent deregisters.
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(20s), 0) << AgentLog(0);
  EXPECT_EQ(registry->Call("GET", "/v1/cloudlets/cl-reg").status, 404);
}

TEST_F(MdnsTest, ARogueAdvertCopyingARealCloudletIsRejectedAndNeverPlaced) {
  REQUIRE_LAB();
  auto registry = LabWithRealAgent();
  if (HasFailure()) return;
  const std::string url = registry->url();
  const std::string real_key = registry->Json("GET", "/v1/cloudlets/cl-real")["public_key"];
  ASSERT_EQ(real_key.size(), 43u);

  // Two rogues in another namespace claim the real cloudlet's id: one copies its public key (but
  // cannot sign), one does not sign at all.
  std::vector<std::unique_ptr<ChildProcess>> rogues;
  const std::vector<std::string> body = {"txtvers=1", "id=cl-real", "cpu=64000/64000", "mem=999999/999999", "load=0",
                                         "iso=vm,container", "seq=99"};
  for (const auto& [name, extra] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"rogue-copy", {"pk=" + real_key, "sig=" + std::string(86, 'A')}}, {"rogue-plain", {}}}) {
    std::vector<std::string> argv = {"avahi-publish", "-s", name, "_cloudlet._tcp", "8471"};
    argv.insert(argv.end(), body.begin(), body.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    rogues.push_back(std::make_unique<ChildProcess>(lab_->Exec(2, argv), dir_.File("rogue.log"), dir_.File("rogue.log")));
    ASSERT_TRUE(rogues.back()->Start());
  }
  const std::vector<std::string> with_registry = {"--registry", url, "--token", kOperatorToken, "--insecure"};
  const json rows = DiscoverUntil(0, [](const json& r) { return r.size() == 3; }, 30s, with_registry);
  ASSERT_EQ(rows.size(), 3u) << rows.dump(2);
  for (const auto& r : rows) {
    if (r["name"] == "real") {
      EXPECT_EQ(r["verification"], "verified") << r.dump(2);
      EXPECT_EQ(r["source"], "lan+registry");
    } else {
      EXPECT_EQ(r["verification"], "rejected") << r.dump(2);
      EXPECT_EQ(r["source"], "lan");
    }
  }
  // Without a registry nothing can be checked: all unverified.
  for (const auto& r : Discover(0)) EXPECT_EQ(r["verification"], "unverified") << r.dump(2);

  // Placement draws from the registry, where only the real agent's record is.
  const json placed = registry->Json(
      "POST", "/v1/placements",
      json{{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'd')}, {"base_vm_mb", 100},
                    {"overlay_mb", 10}, {"cpu_millis", 100}, {"mem_mb", 64}, {"service_ms", 5}, {"req_rate_hz", 1},
                    {"session_s", 60}, {"max_rtt_ms", 500}}},
           {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}}
          .dump());
  ASSERT_TRUE(placed["chosen"].is_object()) << placed.dump(2);
  EXPECT_EQ(placed["chosen"]["endpoint"], "http://" + lab_->Address(1) + ":8471");
}

TEST_F(MdnsTest, HostileAdvertsNeitherCrashNorPoisonTheBrowser) {
  REQUIRE_LAB();
  MakeLab(3);
  StartAgent(2, {"--name", "honest", "--id", "cl-honest"});
  const std::string valid_rest[] = {"cpu=1000/2000", "mem=100/200", "load=5", "iso=vm", "seq=1"};
  std::vector<std::vector<std::string>> hostile = {
      // Huge values everywhere.
      {"huge", "txtvers=1", "id=" + std::string(240, 'a'), "cpu=" + std::string(250, '9') + "/1",
       "mem=" + std::string(250, '1'), "load=" + std::string(250, '5'), "iso=" + std::string(250, 'v'),
       "seq=" + std::string(250, '7'), "bvm=" + std::string(250, 'f')},
      // Keys missing.
      {"missing", "txtvers=1", "id=cl-missing"},
      // Numbers that are not.
      {"nan", "txtvers=1", "id=cl-nan", "cpu=lots/many", "mem=-5/x", "load=1e9", "iso=vm", "seq=-1"},
      // Duplicate keys: the first counts (RFC 6763 §6.4), here a valid one.
      {"dupes", "txtvers=1", "id=cl-dupes", "id=cl-evil", "load=7", "load=abc"},
      // Bytes that are not UTF-8, in the name and in values.
      {"bad\xff\xfename", "txtvers=1", "id=cl-\xff", "cpu=\xfe/\xff"},
  };
  for (const auto& v : valid_rest) hostile[3].push_back(v);
  std::vector<std::unique_ptr<ChildProcess>> publishers;
  for (const auto& h : hostile) {
    std::vector<std::string> argv = {"avahi-publish", "-s", h[0], "_cloudlet._tcp", "8471"};
    argv.insert(argv.end(), h.begin() + 1, h.end());
    publishers.push_back(std::make_unique<ChildProcess>(lab_->Exec(1, argv), dir_.File("publish.log"),
                                                        dir_.File("publish.log")));
    ASSERT_TRUE(publishers.back()->Start());
  }
  ASSERT_TRUE(WaitFor([&] {
    const std::string b = AvahiBrowse(0);
    return b.find(";dupes;") != std::string::npos && b.find(";honest;") != std::string::npos &&
           b.find(";nan;") != std::string::npos && b.find(";missing;") != std::string::npos;
  }, 30s)) << ReadFileOrEmpty(dir_.File("publish.log"));

  const json rows = Discover(0);  // exits 0 and prints JSON: nothing crashed
  std::set<std::string> ids;
  for (const auto& r : rows) ids.insert(r.value("id", ""));
  EXPECT_EQ(ids, (std::set<std::string>{"cl-honest", "cl-dupes"})) << rows.dump(2);
  EXPECT_EQ(Row(rows, "cl-dupes")->at("load_percent"), 7);

  // A watching browser survives them too and still follows the honest agent.
  ChildProcess watch(lab_->Exec(0, {CLOUDLET_CLI_BIN, "--json", "discover", "--watch"}), dir_.File("watch.out"),
                     dir_.File("watch.err"));
  ASSERT_TRUE(watch.Start());
  EXPECT_TRUE(WaitFor([&] { return watch.Stdout().find("cl-honest") != std::string::npos; }, 20s));
  EXPECT_TRUE(watch.Running());
  watch.Signal(SIGINT);
  EXPECT_EQ(watch.Wait(10s), 0) << watch.Stderr();
}

TEST_F(MdnsTest, TheAgentMeasuresTheRealHostAndKeepsItsIdAcrossRestarts) {
  REQUIRE_LAB();
  MakeLab(1);
  ChildProcess* agent = &StartAgent(0, {"--name", "real"});
  auto resource = [&]() -> json {
    json out;
    InNetns(lab_->Namespace(0), [&] {
      RunResult r = RunCommand({"curl", "-sf", "http://127.0.0.1:8471/v1/resource"}, 10s);
      out = json::parse(r.out, nullptr, false);
    });
    return out;
  };
  ASSERT_TRUE(WaitFor([&] { return resource().is_object(); }, 20s)) << AgentLog(0);
  const json first = resource();
  EXPECT_EQ(first["capacity"]["cpu_millis"], 1000 * static_cast<int64_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  meminfo >> key >> kb;
  EXPECT_EQ(first["capacity"]["mem_mb"], kb / 1024);
  EXPECT_GE(first["load"].get<double>(), 0.0);
  EXPECT_LE(first["load"].get<double>(), 1.0);
  const std::string id = first["id"];
  EXPECT_EQ(id.rfind("cl-", 0), 0u);

  agent->Signal(SIGTERM);
  ASSERT_EQ(agent->Wait(20s), 0) << AgentLog(0);
  agents_.clear();
  // Same state directory ("agent0"), so the same id.
  agents_.push_back(std::make_unique<ChildProcess>(
      lab_->Exec(0, {CLOUDLET_AGENT_BIN, "--state-dir", dir_.File("agent0"), "--name", "real"}), dir_.File("again.log"),
      dir_.File("again.log")));
  ASSERT_TRUE(agents_.back()->Start());
  ASSERT_TRUE(WaitFor([&] { return resource().is_object(); }, 20s)) << ReadFileOrEmpty(dir_.File("again.log"));
  EXPECT_EQ(resource()["id"], id);
}

TEST_F(MdnsTest, TheClientLibraryPlacesOnAVerifiedLanCloudletAndWithTheRegistryDownStillFindsTheLan) {
  REQUIRE_LAB();
  auto registry = LabWithRealAgent();
  if (HasFailure()) return;
  const std::string url = registry->url();
  // A rogue claims the real cloudlet's id without its key; another claims an id the registry does not know.
  std::vector<std::unique_ptr<ChildProcess>> rogues;
  for (const std::string id : {"cl-real", "cl-rogue"}) {
    rogues.push_back(std::make_unique<ChildProcess>(
        lab_->Exec(2, {"avahi-publish", "-s", "rogue-" + id, "_cloudlet._tcp", "8471", "txtvers=1", "id=" + id,
                       "cpu=64000/64000", "mem=999999/999999", "load=0", "iso=vm,container", "seq=1"}),
        dir_.File("rogue.log"), dir_.File("rogue.log")));
    ASSERT_TRUE(rogues.back()->Start());
  }
  ASSERT_EQ(DiscoverUntil(0, [](const json& r) { return r.size() == 3; }).size(), 3u);
  std::ofstream(dir_.File("app.json")) << json{{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'd')},
                                               {"base_vm_mb", 100}, {"overlay_mb", 10}, {"cpu_millis", 100},
                                               {"mem_mb", 64}, {"service_ms", 5}, {"req_rate_hz", 1},
                                               {"session_s", 60}}.dump();
  const std::vector<std::string> example = {NEAREST_CLOUDLET_BIN, "--allow-http", "--browse-ms", "3000", "--registry",
                                            url, "--token", kOperatorToken, "--app", dir_.File("app.json"), "--geo",
                                            "40.44,-79.94", "--timeout-ms", "5000"};
  RunResult r = RunCommand(lab_->Exec(0, example), 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // Only the real cloudlet is offered, found on the LAN and verified against the registry's key, with an RTT.
  const std::string agent = "http://" + lab_->Address(1) + ":8471";
  const size_t row = r.out.find("cl-real");
  ASSERT_NE(row, std::string::npos) << r.out;
  const std::string line = r.out.substr(row, r.out.find('\n', row) - row);
  EXPECT_NE(line.find(agent), std::string::npos) << line;
  EXPECT_NE(line.find("lan+registry  verified"), std::string::npos) << line;
  EXPECT_EQ(line.find(" - "), std::string::npos) << "no RTT measured: " << line;
  const std::string table = r.out.substr(0, r.out.find("placement "));
  EXPECT_EQ(table.find("cl-real", row + 1), std::string::npos) << "the rogue was offered: " << table;
  EXPECT_EQ(r.out.find("cl-rogue"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("on cl-real: active at " + agent), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("released pl-"), std::string::npos) << r.out;

  // The registry goes down: the LAN is still found (unchecked, so said), placing fails cleanly.
  registry->Signal(SIGKILL);
  registry->Wait();
  r = RunCommand(lab_->Exec(0, example), 60s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("lan           unverified"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("nearest-cloudlet: place: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(unavailable)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace cloudlet::testing
