// The agent driven through AgentDeps with fakes: a manual clock, a seeded random source, a scripted
// host, an in-memory spool, and HTTP server and advertiser stand-ins that record what they get.
#include <fstream>
#include <map>
#include <mutex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/agent/agent.h"
#include "cloudlet/discovery/txt_record.h"
#include "support/fake_runtime.h"
#include "support/idle_http_server.h"
#include "support/memory_spool.h"
#include "support/temp_dir.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

class RecordingAdvertiser final : public discovery::ServiceAdvertiser {
 public:
  explicit RecordingAdvertiser(std::vector<std::vector<std::string>>& records) : records_(records) {}
  void UpdateTxt(std::vector<std::string> txt) override { records_.push_back(std::move(txt)); }
  std::string EstablishedName() const override { return "fake"; }

 private:
  std::vector<std::vector<std::string>>& records_;
};

using testing::MemorySpool;

// Everything an agent under test is given, and what it did with it.
struct Harness {
  explicit Harness(uint64_t seed = 1) : random(seed) {}
  common::ManualClock clock{common::FromUnixMillis(1'790'000'000'000)};
  common::SeededRandom random;
  HostSample host{.load = 0.2, .cpu_total_millis = 8000, .cpu_free_millis = 6000, .mem_total_mb = 16384, .mem_free_mb = 8192};
  api::HttpHandler* handler = nullptr;
  std::vector<std::vector<std::string>> adverts;  // the first record, then every update
  MemorySpool* spool = nullptr;
  int http_clients = 0;

  AgentDeps Deps() {
    return {.clock = clock,
            .random = random,
            .sample_host = [this] { return common::Result<HostSample>(host); },
            .http_client = [this]() -> std::unique_ptr<api::HttpClient> {
              ++http_clients;
              return nullptr;
            },
            .http_server = [this](const api::HttpServerOptions&, api::HttpHandler& h) -> std::unique_ptr<api::HttpServer> {
              handler = &h;
              return std::make_unique<testing::IdleHttpServer>();
            },
            .advertiser = [this](discovery::AdvertOptions o)
                -> common::Result<std::unique_ptr<discovery::ServiceAdvertiser>> {
              adverts.push_back(o.txt);
              return std::unique_ptr<discovery::ServiceAdvertiser>(new RecordingAdvertiser(adverts));
            },
            .open_spool = [this](const std::string&) -> common::Result<std::unique_ptr<metering::UsageSpool>> {
              auto s = std::make_unique<MemorySpool>();
              spool = s.get();
              return std::unique_ptr<metering::UsageSpool>(std::move(s));
            }};
  }

  api::HttpResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                         const std::string& from = "127.0.0.1") {
    api::HttpResponse out;
    handler->Handle({.method = method, .path = path, .query = {}, .headers = {}, .body = body, .remote_address = from},
                    [&](api::HttpResponse r) { out = std::move(r); });
    return out;
  }
};

AgentConfig Config(const TempDir& dir) {
  AgentConfig c;
  c.name = "unit";
  c.state_dir = dir.path();
  c.endpoint = "http://127.0.0.1:8471";
  return c;
}

discovery::Advert Decoded(const std::vector<std::string>& txt) {
  auto a = discovery::DecodeTxt(txt);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? *a : discovery::Advert{};
}

TEST(AgentRun, TheCloudletIdComesFromTheInjectedRandomSourceAndIsKept) {
  TempDir dir;
  std::string first;
  for (int run = 0; run < 2; ++run) {
    Harness h(run == 0 ? 1 : 2);  // a second start must not draw a new id
    Agent agent(Config(dir), h.Deps());
    ASSERT_TRUE(agent.Start().ok());
    if (run == 0) first = agent.descriptor().id;
    EXPECT_EQ(agent.descriptor().id, first);
    agent.Shutdown(false);
  }
  Harness again;
  TempDir other;
  Agent same_seed(Config(other), again.Deps());
  ASSERT_TRUE(same_seed.Start().ok());
  EXPECT_EQ(same_seed.descriptor().id, first) << "seed 1 again, fresh state: the same id";
  EXPECT_EQ(again.http_clients, 0) << "no registry: no HTTP client is made";
}

TEST(AgentRun, AdvertisesAgainOnlyWhenTheHostMovedAndTheMinimumIntervalPassed) {
  TempDir dir;
  Harness h;
  Agent agent(Config(dir), h.Deps());
  ASSERT_TRUE(agent.Start().ok());
  ASSERT_EQ(h.adverts.size(), 1u);
  EXPECT_EQ(Decoded(h.adverts[0]).load_percent, 20);
  EXPECT_EQ(Decoded(h.adverts[0]).seq, 1u);

  h.host.load = 0.6;
  h.clock.Advance(500ms);  // within --min-advert-interval (1 s)
  agent.Tick();
  EXPECT_EQ(h.adverts.size(), 1u);
  h.clock.Advance(600ms);
  agent.Tick();
  ASSERT_EQ(h.adverts.size(), 2u);
  EXPECT_EQ(Decoded(h.adverts[1]).load_percent, 60);
  EXPECT_EQ(Decoded(h.adverts[1]).seq, 2u);

  h.host.load = 0.62;  // below the 5-point threshold
  h.clock.Advance(5s);
  agent.Tick();
  EXPECT_EQ(h.adverts.size(), 2u);
  h.host.cpu_free_millis = 1000;  // 62% of the total: material
  agent.Tick();
  ASSERT_EQ(h.adverts.size(), 3u);
  EXPECT_EQ(Decoded(h.adverts[2]).cpu_free_millis, 1000);
}

TEST(AgentRun, BaseVmsAreRescannedWhenTheIntervalPassesOnTheAgentsClock) {
  TempDir dir, images;
  Harness h;
  AgentConfig c = Config(dir);
  c.base_vm_dir = images.path();
  std::ofstream(images.File("a.img")) << "base A";
  Agent agent(c, h.Deps());
  ASSERT_TRUE(agent.Start().ok());
  ASSERT_EQ(agent.descriptor().base_vms.size(), 1u);
  std::ofstream(images.File("b.img")) << "base B";
  h.clock.Advance(59s);
  agent.Tick();
  EXPECT_EQ(agent.descriptor().base_vms.size(), 1u) << "not yet due";
  h.clock.Advance(1s);
  agent.Tick();
  EXPECT_EQ(agent.descriptor().base_vms.size(), 2u);
}

TEST(AgentRun, TheLocalApiAnswersFromTheAgentsStateAndSpoolsUsageFromThisHostOnly) {
  TempDir dir;
  Harness h;
  Agent agent(Config(dir), h.Deps());
  ASSERT_TRUE(agent.Start().ok());
  ASSERT_NE(h.handler, nullptr);

  auto ping = nlohmann::json::parse(h.Call("GET", "/v1/ping").body);
  EXPECT_EQ(ping["id"], agent.descriptor().id);
  EXPECT_EQ(ping["time"], "2026-09-21T14:13:20.000Z") << "the injected clock, not the system's";
  auto resource = nlohmann::json::parse(h.Call("GET", "/v1/resource").body);
  EXPECT_EQ(resource["free"]["cpu_millis"], 6000);
  EXPECT_EQ(resource["advertised_name"], "fake");

  const std::string usage = R"({"records":[{"event_id":"e-1","tenant":"acme","start":"2026-09-21T12:00:00Z",
      "end":"2026-09-21T12:10:00Z","quantities":{"cpu_core_s":60}}]})";
  EXPECT_EQ(h.Call("POST", "/v1/usage", usage, "10.0.0.9").status, 403);
  EXPECT_TRUE(h.spool->records_.empty());
  EXPECT_EQ(h.Call("POST", "/v1/usage", usage).status, 202);
  ASSERT_EQ(h.spool->records_.count("e-1"), 1u);
  EXPECT_EQ(h.spool->records_["e-1"]["cloudlet"], agent.descriptor().id);
  // A record ending after the injected "now" (plus the allowed skew) is refused.
  const std::string future = R"({"records":[{"event_id":"e-2","tenant":"acme","start":"2026-09-23T12:00:00Z",
      "end":"2026-09-23T12:10:00Z","quantities":{"cpu_core_s":60}}]})";
  EXPECT_EQ(h.Call("POST", "/v1/usage", future).status, 400);
  EXPECT_EQ(h.Call("DELETE", "/v1/ping").status, 405);
}

TEST(AgentRun, WhileTheSpoolsDiskRefusesWritesUsageIsKeptInMemoryAndTheAnswerAndMetricsSaySo) {
  TempDir dir;
  Harness h;
  AgentConfig c = Config(dir);
  c.spool_memory_records = 1;
  Agent agent(c, h.Deps());
  ASSERT_TRUE(agent.Start().ok());
  auto usage = [](const std::string& id) {
    return R"({"records":[{"event_id":")" + id + R"(","tenant":"acme","start":"2026-09-21T12:00:00Z",
      "end":"2026-09-21T12:10:00Z","quantities":{"cpu_core_s":60}}]})";
  };
  EXPECT_EQ(h.Call("GET", "/metrics", "", "10.0.0.9").status, 403);
  EXPECT_NE(h.Call("GET", "/metrics").body.find("cloudlet_agent_spool_degraded 0"), std::string::npos);

  h.spool->SetFailing(true);
  auto kept = h.Call("POST", "/v1/usage", usage("e-1"));
  EXPECT_EQ(kept.status, 202);
  EXPECT_EQ(nlohmann::json::parse(kept.body)["durable"], false) << kept.body;
  const std::string metrics = h.Call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("cloudlet_agent_spool_degraded 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("cloudlet_agent_spool_memory_records 1"), std::string::npos) << metrics;
  auto refused = h.Call("POST", "/v1/usage", usage("e-2"));
  EXPECT_EQ(refused.status, 503) << "memory holds its one record";
  EXPECT_EQ(refused.headers["Retry-After"], "1");
  EXPECT_NE(h.Call("GET", "/metrics").body.find("cloudlet_agent_spool_refused_records_total 1"), std::string::npos);

  h.spool->SetFailing(false);
  h.clock.Advance(std::chrono::seconds(2));
  agent.Tick();  // the periodic tick moves memory to the disk
  EXPECT_EQ(h.spool->records_.count("e-1"), 1u);
  EXPECT_NE(h.Call("GET", "/metrics").body.find("cloudlet_agent_spool_memory_records 0"), std::string::npos);
  auto durable = h.Call("POST", "/v1/usage", usage("e-2"));
  EXPECT_EQ(nlohmann::json::parse(durable.body)["durable"], true) << durable.body;
}

TEST(AgentRun, WithARuntimeTheAgentAdoptsWhatItRanAndShowsItInTheLocalApi) {
  TempDir dir;
  Harness h;
  AgentDeps deps = h.Deps();
  RuntimeContext seen;
  deps.make_runtime = [&seen](const RuntimeContext& c) -> common::Result<std::unique_ptr<WorkloadRuntime>> {
    seen = c;
    WorkloadStatus w{.placement_id = "pl-00000000000000a1", .tenant = "acme", .id = "c1", .image = "app",
                     .state = WorkloadState::kRunning, .endpoint = "10.1.2.3:40000", .exit_code = 0, .oom_killed = false};
    auto runtime = std::make_unique<testing::FakeRuntime>();
    runtime->Leave(w);
    return std::unique_ptr<WorkloadRuntime>(std::move(runtime));
  };
  AgentConfig c = Config(dir);
  c.endpoint = "http://10.1.2.3:8471";
  Agent agent(c, std::move(deps));
  ASSERT_TRUE(agent.Start().ok());
  EXPECT_EQ(seen.cloudlet_id, agent.descriptor().id);
  EXPECT_EQ(seen.endpoint_host, "10.1.2.3");
  auto resource = nlohmann::json::parse(h.Call("GET", "/v1/resource").body);
  ASSERT_EQ(resource["workloads"].size(), 1u);
  EXPECT_EQ(resource["workloads"][0]["placement"], "pl-00000000000000a1");
  EXPECT_EQ(resource["workloads"][0]["state"], "running");
  EXPECT_EQ(resource["workloads"][0]["endpoint"], "10.1.2.3:40000");
}

TEST(AgentRun, ARuntimeThatCannotStartStopsTheAgentWithItsReason) {
  TempDir dir;
  Harness h;
  AgentDeps deps = h.Deps();
  deps.make_runtime = [](const RuntimeContext&) -> common::Result<std::unique_ptr<WorkloadRuntime>> {
    return common::Status::FailedPrecondition("cannot run podman (apt-get install podman runc)");
  };
  Agent agent(Config(dir), std::move(deps));
  auto started = agent.Start();
  EXPECT_EQ(started.code(), common::StatusCode::kFailedPrecondition);
  EXPECT_NE(started.message().find("podman"), std::string::npos);
  agent.Shutdown(false);
}

}  // namespace
}  // namespace cloudlet::agent
