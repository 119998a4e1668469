// Usage and billing on the real cloudletd: ingest (exactly once over retries), reports to the
// cent, tenant isolation, and no acknowledged record lost to kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/local_agent.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json Record(const std::string& id, const std::string& tenant, const std::string& cloudlet, const std::string& start,
            json quantities) {
  return {{"event_id", id}, {"tenant", tenant}, {"cloudlet", cloudlet}, {"start", start}, {"end", start},
          {"quantities", quantities}};
}

class UsageHttpTest : public ::testing::Test {
 protected:
  std::string Issue(CloudletdProcess& d, const json& body) {
    auto r = d.Call("POST", "/v1/tokens", body.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body)["token"];
  }
  json Post(CloudletdProcess& d, const std::string& token, const json& records) {
    auto r = d.Call("POST", "/v1/usage", json{{"records", records}}.dump(), token.c_str());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
};

TEST_F(UsageHttpTest, ReportsMatchHandComputedTotalsToTheCentAndRetriesCountOnce) {
  CloudletdProcess d;
  d.Start();
  for (const char* t : {"acme", "globex"}) ASSERT_EQ(d.Call("POST", "/v1/tenants", json{{"id", t}}.dump()).status, 201);
  // Prices: from Nov 1st, cpu 0.12 per core-hour, memory 0.004 per GiB-hour, egress 0.09 per GiB;
  // from Nov 20th cpu costs 0.15.
  ASSERT_EQ(d.Call("PUT", "/v1/prices", R"({"effective":"2026-11-01","prices":{"cpu_core_hour":0.12,
      "mem_gib_hour":0.004,"net_out_gib":0.09}})").status, 200);
  ASSERT_EQ(d.Call("PUT", "/v1/prices", R"({"effective":"2026-11-20","prices":{"cpu_core_hour":0.15,
      "mem_gib_hour":0.004,"net_out_gib":0.09}})").status, 200);
  const std::string agent_a = Issue(d, {{"role", "agent"}, {"cloudlet", "cl-a"}});
  const std::string agent_b = Issue(d, {{"role", "agent"}, {"cloudlet", "cl-b"}});

  const json batch_a = {
      Record("a-1", "acme", "cl-a", "2026-11-10T10:00:00Z", {{"cpu_core_s", 36000}}),          // 10 core-h
      Record("a-2", "acme", "cl-a", "2026-11-21T10:00:00Z", {{"cpu_core_s", 7200}}),           // 2 core-h
      Record("a-3", "globex", "cl-a", "2026-11-21T11:00:00Z", {{"mem_mib_s", 1024.0 * 3600 * 50}}),  // 50 GiB-h
  };
  const json batch_b = {
      Record("b-1", "acme", "cl-b", "2026-11-22T10:00:00Z", {{"net_out_bytes", 3.0 * (1 << 30)}}),  // 3 GiB out
      Record("b-2", "globex", "cl-b", "2026-11-22T10:00:00Z", {{"cpu_core_s", 1800}}),               // 0.5 core-h
  };
  EXPECT_EQ(Post(d, agent_a, batch_a)["accepted"], 3);
  EXPECT_EQ(Post(d, agent_b, batch_b)["accepted"], 2);
  // At-least-once delivery: the same batches again change nothing.
  json again = Post(d, agent_a, batch_a);
  EXPECT_EQ(again["duplicate"], 3);
  EXPECT_EQ(again["accepted"], 0);
  EXPECT_EQ(Post(d, agent_b, json::array({batch_b[0], Record("b-3", "acme", "cl-a", "2026-11-22T10:00:00Z", {})}))
                ["rejected"], 1);  // agent B may not report for cl-a

  const json report = d.Json("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=tenant");
  ASSERT_EQ(report["lines"].size(), 2u) << report.dump(2);
  // acme: 10 h x 0.12 = 1.20; 2 h x 0.15 = 0.30; 3 GiB x 0.09 = 0.27 -> 1.77
  // globex: 50 GiB-h x 0.004 = 0.20; 0.5 h x 0.15 = 0.075 -> 0.275, rounded to 0.28 (one line)
  EXPECT_EQ(report["lines"][0]["tenant"], "acme");
  EXPECT_DOUBLE_EQ(report["lines"][0]["cost"].get<double>(), 1.77);
  EXPECT_EQ(report["lines"][1]["tenant"], "globex");
  EXPECT_DOUBLE_EQ(report["lines"][1]["cost"].get<double>(), 0.28);
  EXPECT_DOUBLE_EQ(report["total"]["cost"].get<double>(), 2.05);

  const std::string csv = d.Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=tenant,cloudlet&format=csv").body;
  EXPECT_NE(csv.find("acme,cl-b,2026-11-01/2026-12-01,0,0,0,3221225472,0,0,0.27,USD\r\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("TOTAL,"), std::string::npos);
}

TEST_F(UsageHttpTest, ATenantReadsOnlyItsOwnReport) {
  CloudletdProcess d;
  d.Start();
  for (const char* t : {"acme", "globex"}) ASSERT_EQ(d.Call("POST", "/v1/tenants", json{{"id", t}}.dump()).status, 201);
  Post(d, kOperatorToken, {Record("x-1", "acme", "cl-a", "2026-11-10T10:00:00Z", {{"cpu_core_s", 3600}}),
                           Record("x-2", "globex", "cl-a", "2026-11-10T10:00:00Z", {{"cpu_core_s", 7200}})});
  const std::string globex = Issue(d, {{"role", "tenant"}, {"tenant", "globex"}});
  // Asking for acme's usage still gives globex's own.
  auto r = d.Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=tenant&tenant=acme", {},
                  globex.c_str());
  ASSERT_EQ(r.status, 200);
  const json report = json::parse(r.body);
  ASSERT_EQ(report["lines"].size(), 1u) << r.body;
  EXPECT_EQ(report["lines"][0]["tenant"], "globex");
  EXPECT_EQ(r.body.find("acme"), std::string::npos);
  EXPECT_EQ(d.Call("GET", "/v1/reports/usage?from=2026-12-01&to=2026-11-01").status, 400);
  EXPECT_EQ(d.Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01&group_by=planet").status, 400);
}

TEST_F(UsageHttpTest, KillNineDuringIngestLosesNoAcknowledgedRecord) {
  TempDir dir;
  const std::string db = dir.File("c.db");
  auto d = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  d->Start();
  ASSERT_EQ(d->Call("POST", "/v1/tenants", json{{"id", "acme"}}.dump()).status, 201);
  // One client posts batches of 20 records of 1 core-second each and remembers what was acknowledged.
  std::atomic<int> acknowledged{0}, sent{0};
  std::atomic<bool> stop{false};
  std::thread client([&] {
    auto http = api::MakeHttpClient();
    for (int batch = 0; !stop; ++batch) {
      json records = json::array();
      for (int i = 0; i < 20; ++i) {
        records.push_back(Record("k-" + std::to_string(batch) + "-" + std::to_string(i), "acme", "cl-a",
                                 "2026-11-10T10:00:00Z", {{"cpu_core_s", 1}}));
      }
      sent = (batch + 1) * 20;
      auto r = http->Send({.method = "POST", .url = d->url() + "/v1/usage",
                           .body = json{{"records", records}}.dump(),
                           .headers = {{"Authorization", std::string("Bearer ") + kOperatorToken}},
                           .timeout = std::chrono::milliseconds(2000)});
      if (!r.ok() || r->status != 200) break;  // the server died under us
      acknowledged += json::parse(r->body)["accepted"].get<int>();
    }
  });
  ASSERT_TRUE(WaitFor([&] { return acknowledged >= 400; }, 20s));
  d->Signal(SIGKILL);
  d->Wait();
  stop = true;
  client.join();
  d = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  d->Start();
  const json report = d->Json("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01");
  const double recorded = report["total"]["quantities"]["cpu_core_s"].get<double>();
  EXPECT_GE(recorded, acknowledged.load());  // every acknowledged record is there
  EXPECT_LE(recorded, sent.load());          // and nothing was counted twice
}

}  // namespace
}  // namespace cloudlet::testing

namespace cloudlet::testing {
namespace {

json App(int cpu_millis) {
  return {{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'f')}, {"base_vm_mb", 100},
                   {"overlay_mb", 10}, {"cpu_millis", cpu_millis}, {"mem_mb", 64}, {"service_ms", 5},
                   {"req_rate_hz", 1}, {"session_s", 60}, {"max_rtt_ms", 500}}},
          {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}};
}

std::string Iso(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}

class QuotaHttpTest : public UsageHttpTest {
 protected:
  void SetUp() override {
    d_.Start();
    ASSERT_EQ(d_.Call("POST", "/v1/tenants", json{{"id", "acme"}}.dump()).status, 201);
    ASSERT_EQ(d_.Call("PUT", "/v1/cloudlets/cl-a",
                      json{{"endpoint", "http://10.1.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
                           {"capacity", {{"cpu_millis", 64000}, {"mem_mb", 65536}}}, {"isolation", {"vm"}},
                           {"wan_mbps", 1000}}
                          .dump())
                  .status,
              201);
    tenant_ = Issue(d_, {{"role", "tenant"}, {"tenant", "acme"}});
  }
  api::ClientResponse Place(int cpu) { return d_.Call("POST", "/v1/placements", App(cpu).dump(), tenant_.c_str()); }
  CloudletdProcess d_;
  std::string tenant_;
};

TEST_F(QuotaHttpTest, PlacementBeyondAQuotaIs429WithTheReason) {
  ASSERT_EQ(d_.Call("PUT", "/v1/tenants/acme/quotas", R"({"max_placements":2,"max_cpu_millis":2500})").status, 200);
  auto first = Place(1000);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(Place(1000).status, 201);
  auto third = Place(100);
  EXPECT_EQ(third.status, 429);
  EXPECT_NE(third.body.find("2 live placements"), std::string::npos) << third.body;
  // Releasing one makes room; the CPU quota then speaks.
  const std::string id = json::parse(first.body)["placement_id"];
  ASSERT_EQ(d_.Call("DELETE", "/v1/placements/" + id, {}, tenant_.c_str()).status, 204);
  auto cpu = Place(1600);  // 1000 held + 1600 > 2500
  EXPECT_EQ(cpu.status, 429);
  EXPECT_NE(cpu.body.find("2500 millicores"), std::string::npos) << cpu.body;
  EXPECT_EQ(Place(500).status, 201);
  EXPECT_EQ(d_.Call("PUT", "/v1/tenants/acme/quotas", R"({"max_placements":-1})").status, 400);
  EXPECT_EQ(d_.Call("PUT", "/v1/tenants/acme/quotas", R"({"max_placements":1})", tenant_.c_str()).status, 403);
}

TEST_F(QuotaHttpTest, TheMonthlySpendQuotaFollowsRecordedUsage) {
  ASSERT_EQ(d_.Call("PUT", "/v1/prices", R"({"effective":"2020-01-01","prices":{"cpu_core_hour":0.10}})").status, 200);
  ASSERT_EQ(d_.Call("PUT", "/v1/tenants/acme/quotas", R"({"max_monthly_spend":0.5})").status, 200);
  EXPECT_EQ(Place(100).status, 201);
  // $1.00 of usage this month: 10 core-hours at 0.10.
  const std::string start = Iso(std::chrono::system_clock::now() - std::chrono::minutes(1));
  EXPECT_EQ(Post(d_, kOperatorToken, json::array({Record("spend-1", "acme", "cl-a", start, {{"cpu_core_s", 36000}})}))
                ["accepted"],
            1);
  api::ClientResponse refused;
  EXPECT_TRUE(WaitFor([&] { return (refused = Place(100)).status == 429; }, 10s)) << refused.body;  // within a second or so
  EXPECT_NE(refused.body.find("monthly"), std::string::npos) << refused.body;
}

TEST_F(QuotaHttpTest, PlacementsAreMeteredThemselves) {
  auto placed = Place(100);
  ASSERT_EQ(placed.status, 201);
  const std::string id = json::parse(placed.body)["placement_id"];
  std::this_thread::sleep_for(1200ms);
  ASSERT_EQ(d_.Call("DELETE", "/v1/placements/" + id, {}, tenant_.c_str()).status, 204);
  json report;
  ASSERT_TRUE(WaitFor([&] {
    const auto now = std::chrono::system_clock::now();
    report = d_.Json("GET", "/v1/reports/usage?from=" + Iso(now - std::chrono::hours(24)) +
                                "&to=" + Iso(now + std::chrono::hours(24)) + "&group_by=tenant");
    return !report["lines"].empty();
  }, 10s));
  const double seconds = report["lines"][0]["quantities"]["instance_s"];
  EXPECT_GE(seconds, 1.2);
  EXPECT_LT(seconds, 30);
  const std::string metrics = d_.Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("cloudlet_placement_requests_total{owner=\"acme\",outcome=\"placed\"} 1"), std::string::npos)
      << metrics.substr(0, 2000);
}

}  // namespace
}  // namespace cloudlet::testing

namespace cloudlet::testing {
namespace {

TEST(AgentUsageTest, TheAgentSpoolsUsageAndDeliversItOnceAfterOutagesAndRestarts) {
  TempDir dir;
  const std::string db = dir.File("c.db");
  auto registry = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  registry->Start();
  const std::string url = registry->url();
  ASSERT_EQ(registry->Call("POST", "/v1/tenants", json{{"id", "acme"}}.dump()).status, 201);
  const std::string agent_token =
      json::parse(registry->Call("POST", "/v1/tokens", json{{"role", "agent"}, {"cloudlet", "cl-spool"}}.dump()).body)["token"];
  const int port = FreeLoopbackPort();
  const std::string agent_url = "http://127.0.0.1:" + std::to_string(port);
  auto start_agent = [&] {
    return StartLocalAgent({.bin = CLOUDLET_AGENT_BIN, .port = port, .state_dir = dir.File("agent"), .id = "cl-spool",
                            .registry = url, .token = agent_token, .log = dir.File("agent.log")});
  };
  // What the cloudlet's hypervisor does: POST usage to the agent on the same host.
  auto report_usage = [&](std::vector<std::string> ids) {
    auto r = api::MakeHttpClient()->Send({.method = "POST", .url = agent_url + "/v1/usage",
                                          .body = HoursOfUsage(ids, "acme").dump(), .headers = {},
                                          .timeout = std::chrono::milliseconds(5000)});
    EXPECT_TRUE(r.ok() && r->status == 202) << (r.ok() ? r->body : r.status().ToString());
  };
  auto recorded_core_hours = [&]() -> double {
    auto r = registry->Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01", {}, kOperatorToken,
                            std::chrono::milliseconds(2000));
    if (r.status != 200) return -1;
    return json::parse(r.body)["total"]["quantities"]["cpu_core_s"].get<double>() / 3600;
  };

  auto agent = start_agent();
  report_usage({"u-1", "u-2"});
  report_usage({"u-2", "u-3"});  // u-2 reported twice by the hypervisor
  EXPECT_TRUE(WaitFor([&] { return recorded_core_hours() == 3; }, 20s)) << ReadFileOrEmpty(dir.File("agent.log"));

  // The registry goes away; usage keeps arriving; the agent itself restarts meanwhile.
  registry->Signal(SIGKILL);
  registry->Wait();
  report_usage({"u-4", "u-5"});
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->Wait(20s), 0);
  agent = start_agent();
  report_usage({"u-3", "u-6"});  // u-3 was delivered before the outage
  const int registry_port = std::stoi(url.substr(url.rfind(':') + 1));
  registry = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  registry->UsePort(registry_port);
  registry->Start();
  EXPECT_TRUE(WaitFor([&] { return recorded_core_hours() == 6; }, 60s)) << ReadFileOrEmpty(dir.File("agent.log"));
  std::this_thread::sleep_for(3s);  // nothing more arrives: each record counted once
  EXPECT_EQ(recorded_core_hours(), 6);
  EXPECT_NE(ReadFileOrEmpty(dir.File("agent.log")).find("wait in the spool"), std::string::npos);
}

TEST(AgentUsageTest, AnAgentWithSeveralRegistriesMovesToTheNextWhenOneDiesAndSpoolsWhileAllAreDown) {
  TempDir dir;
  std::vector<std::unique_ptr<CloudletdProcess>> registries;
  std::vector<std::string> tokens;
  for (const char* name : {"a.db", "b.db"}) {
    registries.push_back(std::make_unique<CloudletdProcess>(std::vector<std::string>{}, dir.File(name)));
    registries.back()->Start();
    ASSERT_EQ(registries.back()->Call("POST", "/v1/tenants", json{{"id", "acme"}}.dump()).status, 201);
  }
  const int port = FreeLoopbackPort();
  // The operator token is accepted by both (each was started with it); agents would get one per registry
  // set in a shared database (issue 19), which these two separate SQLite files are not.
  auto agent = StartLocalAgent({.bin = CLOUDLET_AGENT_BIN, .port = port, .state_dir = dir.File("agent"), .id = "cl-two",
                                .registry = registries[0]->url() + "," + registries[1]->url(), .token = kOperatorToken,
                                .log = dir.File("agent.log")});
  EXPECT_TRUE(WaitFor([&] { return registries[0]->Call("GET", "/v1/cloudlets/cl-two").status == 200; }, 20s));
  EXPECT_EQ(registries[1]->Call("GET", "/v1/cloudlets/cl-two").status, 404);  // the first answers: the second is spare

  // The first dies: the next heartbeat goes to the second, which does not know the cloudlet yet (404),
  // so the agent registers there; usage reported from now on is delivered there.
  registries[0]->Signal(SIGKILL);
  registries[0]->Wait();
  EXPECT_TRUE(WaitFor([&] { return registries[1]->Call("GET", "/v1/cloudlets/cl-two").status == 200; }, 20s))
      << ReadFileOrEmpty(dir.File("agent.log"));
  auto r = api::MakeHttpClient()->Send({.method = "POST", .url = "http://127.0.0.1:" + std::to_string(port) + "/v1/usage",
                                        .body = HoursOfUsage({"u-1", "u-2"}, "acme").dump(), .headers = {},
                                        .timeout = std::chrono::milliseconds(5000)});
  EXPECT_TRUE(r.ok() && r->status == 202);
  EXPECT_TRUE(WaitFor([&] {
    auto report = registries[1]->Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01");
    return report.status == 200 && json::parse(report.body)["total"]["quantities"]["cpu_core_s"].get<double>() == 7200;
  }, 20s)) << ReadFileOrEmpty(dir.File("agent.log"));

  // Every registry down: usage is still taken (202) and kept in the agent's spool...
  registries[1]->Signal(SIGKILL);
  registries[1]->Wait();
  r = api::MakeHttpClient()->Send({.method = "POST", .url = "http://127.0.0.1:" + std::to_string(port) + "/v1/usage",
                                   .body = HoursOfUsage({"u-3"}, "acme").dump(), .headers = {},
                                   .timeout = std::chrono::milliseconds(5000)});
  EXPECT_TRUE(r.ok() && r->status == 202);
  // ...until one comes back: the first, on its own database and address, receives it, once.
  const std::string first_url = registries[0]->url();
  CloudletdProcess back({}, dir.File("a.db"));
  back.UsePort(std::stoi(first_url.substr(first_url.rfind(':') + 1)));
  back.Start();
  EXPECT_TRUE(WaitFor([&] {
    auto report = back.Call("GET", "/v1/reports/usage?from=2026-11-01&to=2026-12-01");
    return report.status == 200 && json::parse(report.body)["total"]["quantities"]["cpu_core_s"].get<double>() == 3600;
  }, 30s)) << ReadFileOrEmpty(dir.File("agent.log"));
}

}  // namespace
}  // namespace cloudlet::testing
