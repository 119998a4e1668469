// The real cloudletd binary with `--db postgres://...` on a real PostgreSQL 15 that the test starts:
// what is acknowledged survives kill -9, a second daemon on the same database is refused (unless
// they share it, --db-shared), a PostgreSQL restart under the daemon costs 503s, not state; and
// three daemons sharing one database place exactly what fits and follow each other.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "cloudlet/api/failover_client.h"
#include "cloudlet/common/time_format.h"
#include "support/cloudletd_process.h"
#include "support/local_agent.h"
#include "support/postgres_server.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;

json Cloudlet(const std::string& name) {
  return {{"name", name},
          {"endpoint", "http://10.0.0.7:8471"},
          {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
          {"capacity", {{"cpu_millis", 16000}, {"mem_mb", 65536}}},
          {"isolation", {"vm"}},
          {"base_vms", json::array({{{"digest", "sha256:" + std::string(64, 'b')}, {"size_mb", 4000}}})},
          {"wan_mbps", 1000}};
}

json Cloudlet(const std::string& name, int64_t cpu_millis) {
  json c = Cloudlet(name);
  c["capacity"]["cpu_millis"] = cpu_millis;
  return c;
}

json PlacementRequest() {
  return {{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 4000},
                   {"overlay_mb", 100}, {"cpu_millis", 1000}, {"mem_mb", 1024}, {"service_ms", 10},
                   {"req_rate_hz", 10}, {"session_s", 600}, {"max_rtt_ms", 50}}},
          {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}};
}

class CloudletdOnPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    CLOUDLET_REQUIRE_POSTGRES();
    pg_ = PostgresServer::Start();
    ASSERT_TRUE(pg_) << PostgresServer::last_error();
    url_ = pg_->CreateDatabase("cloudlet");
    ASSERT_FALSE(url_.empty()) << PostgresServer::last_error();
  }
  std::unique_ptr<PostgresServer> pg_;
  std::string url_;
};

TEST_F(CloudletdOnPostgres, KillNineThenRestartKeepsEveryAcknowledgedWrite) {
  std::vector<std::string> acknowledged;
  std::string placement;
  {
    CloudletdProcess d({}, url_);
    d.Start();
    acknowledged = RegisterFromThreads(d, 8, 20, [](const std::string& id) { return Cloudlet(id).dump(); });
    ASSERT_EQ(d.Call("POST", "/v1/tenants", json{{"id", "acme"}, {"name", "Acme"}}.dump()).status, 201);
    auto placed = d.Call("POST", "/v1/placements", PlacementRequest().dump());
    ASSERT_EQ(placed.status, 201) << placed.body;
    placement = json::parse(placed.body)["placement_id"];
    ASSERT_EQ(d.Call("POST", "/v1/placements/" + placement + "/confirm").status, 200);
    d.Signal(SIGKILL);
    EXPECT_EQ(d.Wait(), 128 + SIGKILL);
  }
  ASSERT_EQ(acknowledged.size(), 160u);
  // The killed daemon's claim on the database went with its connection: a new one starts at once.
  CloudletdProcess again({}, url_);
  again.Start();
  std::set<std::string> present;
  const json list = again.Json("GET", "/v1/cloudlets");
  for (const auto& c : list["cloudlets"]) present.insert(c["id"].get<std::string>());
  for (const auto& id : acknowledged) EXPECT_TRUE(present.contains(id)) << id << " was acknowledged but lost";
  EXPECT_NE(again.Json("GET", "/v1/tenants").dump().find("\"Acme\""), std::string::npos);
  EXPECT_EQ(again.Json("GET", "/v1/placements/" + placement).value("state", ""), "active");
  EXPECT_NE(again.Log().find("postgresql://postgres@127.0.0.1:"), std::string::npos) << again.Log();
}

TEST_F(CloudletdOnPostgres, ASecondDaemonOnTheSameDatabaseRefusesToStart) {
  CloudletdProcess first({}, url_);
  first.Start();
  CloudletdProcess second({}, url_);
  EXPECT_FALSE(second.TryStart());
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_NE(second.Log().find("in use by another cloudletd"), std::string::npos) << second.Log();
}

TEST_F(CloudletdOnPostgres, APostgresRestartCostsFailedRequestsNotState) {
  CloudletdProcess d({}, url_);
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Cloudlet("a").dump()).status, 201);
  ASSERT_TRUE(pg_->Restart()) << PostgresServer::last_error();
  // Writes during and right after the restart may answer 503; none is acknowledged and lost.
  int status = 0;
  ASSERT_TRUE(WaitFor([&] {
    status = d.Call("PUT", "/v1/cloudlets/cl-b", Cloudlet("b").dump()).status;
    EXPECT_TRUE(status == 201 || status == 503) << status;
    return status == 201;
  }, std::chrono::seconds(20)));
  auto ids = pg_->Psql("cloudlet", "SELECT string_agg(id, ',' ORDER BY id) FROM cloudlets");
  ASSERT_TRUE(ids) << PostgresServer::last_error();
  EXPECT_EQ(*ids, "cl-a,cl-b\n");
}

TEST_F(CloudletdOnPostgres, APostgresDbNeedsAnOperatorTokenSource) {
  const RunResult r = RunCommand({CLOUDLETD_BIN, "--db", url_, "--listen", "127.0.0.1:" + std::to_string(FreeLoopbackPort())},
                                 std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.err + r.out).find("--bootstrap-token-file"), std::string::npos) << r.err << r.out;
}

TEST_F(CloudletdOnPostgres, AnUnreachableServerIsNamedWithoutItsPassword) {
  const RunResult r = RunCommand({CLOUDLETD_BIN, "--db", "postgres://cloudlet:hunter2@127.0.0.1:1/cloudlet",
                                  "--listen", "127.0.0.1:" + std::to_string(FreeLoopbackPort())},
                                 std::chrono::seconds(20), {{"CLOUDLET_BOOTSTRAP_TOKEN", kOperatorToken}});
  EXPECT_EQ(r.exit_code, 1);
  const std::string out = r.err + r.out;
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  EXPECT_NE(out.find("postgres://cloudlet:***@127.0.0.1:1/cloudlet: cannot connect"), std::string::npos) << out;
}

// Three cloudletd on one database (--db-shared): 300 placements at once, spread over the three, on
// cloudlets with room for 90 between them: exactly 90 are placed, and none is over capacity.
TEST_F(CloudletdOnPostgres, ThreeInstancesPlaceExactlyWhatFits) {
  std::vector<std::unique_ptr<CloudletdProcess>> d;
  for (int i = 0; i < 3; ++i) {
    d.push_back(std::make_unique<CloudletdProcess>(std::vector<std::string>{"--db-shared"}, url_));
    d.back()->Start();
  }
  for (const char* id : {"cl-1", "cl-2", "cl-3"}) {
    ASSERT_EQ(d[0]->Call("PUT", std::string("/v1/cloudlets/") + id, Cloudlet(id, 30'000).dump()).status, 201);
  }
  // Registered through the first, seen by the others within a second.
  for (int i = 1; i < 3; ++i) {
    EXPECT_TRUE(WaitFor([&] { return d[i]->Json("GET", "/v1/cloudlets")["cloudlets"].size() == 3; },
                        std::chrono::milliseconds(1'000)))
        << "instance " << i;
  }
  std::atomic<int> placed{0}, refused{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 30; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto r = d[(t + i) % 3]->Call("POST", "/v1/placements", PlacementRequest().dump());
        if (r.status == 201) ++placed;
        else if (r.status == 200) ++refused;  // no cloudlet could take it
        else ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(placed.load(), 90);
  EXPECT_EQ(refused.load(), 210);
  EXPECT_EQ(failed.load(), 0);
  auto held = pg_->Psql("cloudlet",
                        "SELECT string_agg(cloudlet_id || '=' || n, ',' ORDER BY cloudlet_id) FROM "
                        "(SELECT cloudlet_id, SUM(cpu_millis) AS n FROM placements GROUP BY cloudlet_id) t");
  ASSERT_TRUE(held) << PostgresServer::last_error();
  EXPECT_EQ(*held, "cl-1=30000,cl-2=30000,cl-3=30000\n");
}

// What one instance does, the others see: a tenant and its token made through one work through
// another; a placement reserved through one is confirmed through another and its owner's blocking
// query there wakes; a revocation through the third takes effect at the first within 2 s; so does a
// price version; a usage record sent to two of them counts once.
TEST_F(CloudletdOnPostgres, SharedInstancesFollowEachOther) {
  std::vector<std::unique_ptr<CloudletdProcess>> d;
  for (int i = 0; i < 3; ++i) {
    d.push_back(std::make_unique<CloudletdProcess>(std::vector<std::string>{"--db-shared"}, url_));
    d.back()->Start();
  }
  ASSERT_EQ(d[0]->Call("PUT", "/v1/cloudlets/cl-1", Cloudlet("cl-1").dump()).status, 201);
  ASSERT_EQ(d[0]->Call("POST", "/v1/tenants", json{{"id", "acme"}}.dump()).status, 201);
  auto issued = d[0]->Call("POST", "/v1/tokens", json{{"role", "tenant"}, {"tenant", "acme"}}.dump());
  ASSERT_EQ(issued.status, 201) << issued.body;
  const json token = json::parse(issued.body);
  const std::string acme = token["token"];
  ASSERT_TRUE(WaitFor([&] { return d[1]->Call("GET", "/v1/placements", "", acme.c_str()).status == 200; },
                      std::chrono::milliseconds(2'000)));
  ASSERT_TRUE(WaitFor([&] { return d[1]->Json("GET", "/v1/cloudlets")["cloudlets"].size() == 1; },
                      std::chrono::milliseconds(1'000)));
  auto placed = d[1]->Call("POST", "/v1/placements", PlacementRequest().dump(), acme.c_str());
  ASSERT_EQ(placed.status, 201) << placed.body;
  const json p = json::parse(placed.body);
  const std::string id = p["placement_id"];
  // The owner waits on the first instance; the placement is confirmed through the second.
  ASSERT_TRUE(WaitFor([&] { return d[0]->Call("GET", "/v1/placements/" + id, "", acme.c_str()).status == 200; },
                      std::chrono::milliseconds(1'000)));
  const uint64_t seen = d[0]->Json("GET", "/v1/placements/" + id)["modify_index"];
  auto waiting = std::async(std::launch::async, [&] {
    return d[0]->Call("GET", "/v1/placements/" + id + "?index=" + std::to_string(seen) + "&wait=20s", "", acme.c_str(),
                      std::chrono::milliseconds(30'000));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(d[1]->Call("POST", "/v1/placements/" + id + "/confirm", "", acme.c_str()).status, 200);
  auto woke = waiting.get();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  ASSERT_EQ(woke.status, 200) << woke.body;
  EXPECT_EQ(json::parse(woke.body)["state"], "active");
  // Revoked through the third: refused by the first within 2 s.
  ASSERT_TRUE(WaitFor([&] { return d[2]->Call("GET", "/v1/placements", "", acme.c_str()).status == 200; },
                      std::chrono::milliseconds(2'000)));
  ASSERT_EQ(d[2]->Call("DELETE", "/v1/tokens/" + token["id"].get<std::string>()).status, 204);
  EXPECT_TRUE(WaitFor([&] { return d[0]->Call("GET", "/v1/placements", "", acme.c_str()).status == 401; },
                      std::chrono::milliseconds(2'000)));
  // A usage record delivered through two instances (an agent that failed over mid-delivery) counts once.
  json records = HoursOfUsage({"u-both"}, "acme");
  records["records"][0]["cloudlet"] = "cl-1";  // an operator names it; an agent's token implies it
  const std::string usage = records.dump();
  auto first = d[0]->Call("POST", "/v1/usage", usage);
  auto again = d[1]->Call("POST", "/v1/usage", usage);
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(first.body)["accepted"], 1) << first.body;
  EXPECT_EQ(json::parse(again.body)["duplicate"], 1);
  // A price version set through the second is in the third's book within 2 s.
  ASSERT_EQ(d[1]->Call("PUT", "/v1/prices", R"({"effective":"2026-01-01","prices":{"cpu_core_hour":0.25}})").status, 200);
  EXPECT_TRUE(WaitFor([&] { return d[2]->Json("GET", "/v1/prices")["versions"].size() == 1; },
                      std::chrono::milliseconds(2'000)));
}

// Chaos: three cloudletd on one database, two agents and placement load, all given the three URLs.
// One cloudletd is killed (-9) under load: placements and heartbeats carry on through the others
// within 2 s, no acknowledged placement is lost, and the killed one, restarted, has them all.
TEST_F(CloudletdOnPostgres, KillingOneOfThreeLosesNothingAcknowledgedAndItCatchesUpOnRestart) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::unique_ptr<CloudletdProcess>> d;
  std::vector<std::string> urls;
  for (int i = 0; i < 3; ++i) {
    d.push_back(std::make_unique<CloudletdProcess>(std::vector<std::string>{"--db-shared"}, url_));
    d.back()->Start();
    urls.push_back(d.back()->url());
  }
  const std::string all = urls[0] + "," + urls[1] + "," + urls[2];
  TempDir dir;
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (const char* id : {"cl-a", "cl-b"}) {
    agents.push_back(StartLocalAgent({.bin = CLOUDLET_AGENT_BIN, .port = FreeLoopbackPort(),
                                      .state_dir = dir.File(id), .id = id, .registry = all, .token = kOperatorToken,
                                      .log = dir.File(std::string(id) + ".log"),
                                      .extra_args = {"--geo", "40.44,-79.94", "--cpu-millis", "1000000",
                                                     "--mem-mb", "1000000"}}));
  }
  ASSERT_TRUE(WaitFor([&] { return d[2]->Json("GET", "/v1/cloudlets?state=healthy")["cloudlets"].size() == 2; },
                      std::chrono::seconds(20)))
      << ReadFileOrEmpty(dir.File("cl-a.log"));

  // Placement load: each thread places and confirms through a failover client over the three.
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::vector<Clock::time_point> acknowledged_at;
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&] {
      auto http = api::MakeFailoverClient(api::MakeHttpClient(), urls);
      auto call = [&](const std::string& method, const std::string& path, const std::string& body) {
        return http->Send({.method = method, .url = urls[0] + path, .body = body,
                           .headers = {{"Authorization", std::string("Bearer ") + kOperatorToken}},
                           .timeout = std::chrono::milliseconds(5'000)});
      };
      while (!stop) {
        auto placed = call("POST", "/v1/placements", PlacementRequest().dump());
        if (!placed.ok() || placed->status != 201) continue;
        const std::string id = json::parse(placed->body)["placement_id"];
        auto confirmed = call("POST", "/v1/placements/" + id + "/confirm", "");
        if (!confirmed.ok() || confirmed->status != 200) continue;
        std::lock_guard lock(mu);
        acknowledged.push_back(id);
        acknowledged_at.push_back(Clock::now());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1'500));
  const auto killed_at = Clock::now();
  const auto killed_wall = std::chrono::system_clock::now();
  d[0]->Signal(SIGKILL);
  d[0]->Wait();
  // Heartbeats reach the others: cl-a's last heartbeat, seen by the third, passes the kill.
  EXPECT_TRUE(WaitFor([&] {
    auto c = d[2]->Json("GET", "/v1/cloudlets/cl-a");
    auto at = common::ParseRfc3339(c.value("last_heartbeat", ""), "last_heartbeat");
    return at.ok() && *at > killed_wall && c.value("state", "") == "healthy";
  }, std::chrono::milliseconds(2'500)));
  std::this_thread::sleep_for(std::chrono::milliseconds(2'000));
  stop = true;
  for (auto& th : load) th.join();

  size_t before = 0;
  std::optional<Clock::duration> gap;
  for (size_t i = 0; i < acknowledged_at.size(); ++i) {
    if (acknowledged_at[i] < killed_at) ++before;
    else if (!gap) gap = acknowledged_at[i] - killed_at;
  }
  ASSERT_GT(before, 0u);
  ASSERT_TRUE(gap.has_value()) << "no placement was acknowledged after the kill";
  EXPECT_LT(*gap, std::chrono::seconds(2));
  std::cerr << acknowledged.size() << " placements acknowledged, " << before << " before the kill; the first after it "
            << std::chrono::duration_cast<std::chrono::milliseconds>(*gap).count() << " ms after\n";
  for (const auto& id : acknowledged) {
    EXPECT_EQ(d[1]->Json("GET", "/v1/placements/" + id).value("state", ""), "active") << id;
  }
  // The killed one comes back where clients expect it and has everything.
  CloudletdProcess again({"--db-shared"}, url_);
  again.UsePort(std::stoi(urls[0].substr(urls[0].rfind(':') + 1)));
  again.Start();
  for (const auto& id : acknowledged) EXPECT_EQ(again.Json("GET", "/v1/placements/" + id).value("state", ""), "active") << id;
  EXPECT_EQ(again.Json("GET", "/v1/cloudlets")["cloudlets"].size(), 2u);
}

}  // namespace
}  // namespace cloudlet::testing
