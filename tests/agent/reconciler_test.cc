// The agent's reconciler against cloudletd built in-process (real routes, real SQLite) and an
// in-memory runtime whose workloads are real loopback sockets (support/fake_runtime.h).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/agent/reconciler.h"
#include "support/fake_runtime.h"
#include "support/in_process_server.h"

namespace cloudlet::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kBase = "127.0.0.1:5000/base@sha256:" + std::string(64, 'b');
const std::string kApp = "127.0.0.1:5000/ar@sha256:" + std::string(64, 'c');

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lab_.Start();
    json cloudlet = {{"name", "Lab"}, {"endpoint", "http://127.0.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
                     {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 16384}}}, {"isolation", {"container"}},
                     {"wan_mbps", 100}};
    ASSERT_EQ(lab_.Call("PUT", "/v1/cloudlets/cl-lab", cloudlet).status, 201);
    runtime_.Publish(kBase, 5 << 20, "sha256:" + std::string(64, 'b'));
    runtime_.Publish(kApp, 7 << 20, "sha256:" + std::string(64, 'c'), kBase);
  }

  std::unique_ptr<Reconciler> Make(int64_t image_cache_mb = 0, bool vm = false) {
    ReconcilerOptions o{.registry = {.registry = "http://in-process", .token = ""}, .cloudlet_id = "cl-lab",
                        .wait = 100ms, .image_cache_mb = image_cache_mb, .vm = vm};
    o.on_images = [this](const std::vector<discovery::BaseVm>& held) { held_ = held; };
    return std::make_unique<Reconciler>(o, runtime_, lab_.Client(), 7);
  }

  // Places (and confirms) an app with `image` on cl-lab: its id.
  std::string Place(const std::string& name, const std::string& image = kApp) {
    json app = {{"name", name}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 5}, {"overlay_mb", 2},
                {"cpu_millis", 100}, {"mem_mb", 64}, {"isolation", "container"}, {"image", image},
                {"base_image", kBase}, {"port", 8080}, {"ready_timeout_s", 5}};
    auto r = lab_.Call("POST", "/v1/placements", {{"app", app}});
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string id = json::parse(r.body).value("placement_id", "");
    EXPECT_EQ(lab_.Call("POST", "/v1/placements/" + id + "/confirm").status, 200);
    return id;
  }
  json Get(const std::string& id) { return json::parse(lab_.Call("GET", "/v1/placements/" + id).body); }

  testing::InProcessServer lab_;
  testing::FakeRuntime runtime_;
  std::vector<discovery::BaseVm> held_;
};

TEST_F(ReconcilerTest, APlacedAppRunsFullThenOverlayThenWarmAndEachIsReportedWithItsEndpoint) {
  auto r = Make();
  const std::string first = Place("ar");
  ASSERT_TRUE(r->RunOnce());
  json p = Get(first);
  ASSERT_EQ(p["state"], "running") << p.dump();
  EXPECT_TRUE(p["endpoint"].get<std::string>().starts_with("127.0.0.1:")) << p.dump();
  EXPECT_EQ(p["provision"]["mode"], "full");
  EXPECT_EQ(p["provision"]["bytes"], 7 << 20);
  // The base it pulled is advertised as a base VM, with its size.
  ASSERT_EQ(held_.size(), 2u);
  // The same image again: warm. Another image on the same base: overlay (only its own layers move).
  const std::string second = Place("ar-2");
  const std::string other_app = "127.0.0.1:5000/vr@sha256:" + std::string(64, 'd');
  runtime_.Publish(other_app, 9 << 20, "sha256:" + std::string(64, 'd'), kBase);
  const std::string third = Place("vr", other_app);
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(Get(second)["provision"]["mode"], "warm");
  EXPECT_EQ(Get(second)["provision"]["bytes"], 0);
  EXPECT_EQ(Get(third)["provision"]["mode"], "overlay");
  EXPECT_EQ(Get(third)["provision"]["bytes"], 4 << 20);
  EXPECT_EQ(runtime_.starts(), 3u);
  // Nothing changed: another round starts nothing twice.
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(runtime_.starts(), 3u);
}

TEST_F(ReconcilerTest, AVmRunsOnItsBaseReportsTheBytesThatMovedAndARuntimeOfTheOtherKindFailsIt) {
  json cloudlet = {{"name", "Lab"}, {"endpoint", "http://127.0.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
                   {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 16384}}}, {"isolation", {"vm", "container"}},
                   {"wan_mbps", 100}};
  ASSERT_EQ(lab_.Call("PUT", "/v1/cloudlets/cl-lab", cloudlet).status, 200);
  // The vm runtime's names: "<url>@<digest>", for the overlay and for the base.
  const std::string base_digest = "sha256:" + std::string(64, 'b'), overlay_digest = "sha256:" + std::string(64, 'e');
  const std::string base = "http://images/base.tar@" + base_digest, overlay = "http://images/ar.qcow2.gz@" + overlay_digest;
  runtime_.Publish(base, 30 << 20, base_digest, "", 31 << 20);
  runtime_.Publish(overlay, 1 << 20, overlay_digest, "", 100'000);
  json app = {{"name", "ar-vm"}, {"base_vm", base_digest}, {"base_vm_mb", 30}, {"overlay_mb", 0.1}, {"cpu_millis", 100},
              {"mem_mb", 64}, {"isolation", "vm"}, {"overlay_url", "http://images/ar.qcow2.gz"},
              {"overlay_digest", overlay_digest}, {"base_vm_url", "http://images/base.tar"}, {"port", 8080},
              {"ready_timeout_s", 5}};
  auto placed = lab_.Call("POST", "/v1/placements", {{"app", app}});
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string vm = json::parse(placed.body).value("placement_id", "");
  const std::string container = Place("ar");
  auto r = Make(0, /*vm=*/true);
  ASSERT_TRUE(r->RunOnce());
  json p = Get(vm);
  ASSERT_EQ(p["state"], "running") << p.dump();
  EXPECT_EQ(p["provision"]["mode"], "full");
  EXPECT_EQ(p["provision"]["bytes"], (31 << 20) + 100'000) << "what the pulls say they moved";
  EXPECT_EQ(runtime_.last_started().image, overlay);
  EXPECT_EQ(runtime_.last_started().base_image, base);
  EXPECT_EQ(runtime_.pulled(), (std::vector<std::string>{base, overlay})) << "the base first, so that it stays cached";
  EXPECT_EQ(Get(container)["state"], "failed");
  EXPECT_EQ(Get(container)["reason"], "this cloudlet's agent runs VMs (--runtime vm), not containers");
  EXPECT_EQ(runtime_.starts(), 1u);
}

TEST_F(ReconcilerTest, ReleasedPlacementsAreStoppedAndFailuresCarryTheirReason) {
  auto r = Make();
  const std::string kept = Place("ar");
  const std::string released = Place("ar-2");
  const std::string missing = Place("ghost", "127.0.0.1:5000/ghost@sha256:" + std::string(64, 'e'));
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(Get(missing)["state"], "failed");
  EXPECT_NE(Get(missing)["reason"].get<std::string>().find("pull failed"), std::string::npos) << Get(missing).dump();
  ASSERT_EQ(runtime_.List()->size(), 2u);
  ASSERT_EQ(lab_.Call("DELETE", "/v1/placements/" + released).status, 204);
  ASSERT_TRUE(r->RunOnce());
  auto left = runtime_.List();
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].placement_id, kept);
  // The app dies of memory: its placement fails with that reason and the workload is removed.
  runtime_.Exit(kept, 137, /*oom=*/true);
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(Get(kept)["state"], "failed");
  EXPECT_NE(Get(kept)["reason"].get<std::string>().find("out of memory"), std::string::npos);
  EXPECT_TRUE(runtime_.List()->empty());
}

TEST_F(ReconcilerTest, WhileTheRegistryIsAwayNothingIsStoppedAndAdoptedWorkloadsAreReportedAfter) {
  const std::string id = Place("ar");
  // A workload an earlier run of the agent left: adopted, not started again.
  runtime_.Hold(kApp);
  runtime_.Leave({.placement_id = id, .tenant = "operator", .id = "c-old", .image = kApp,
                  .state = WorkloadState::kRunning, .endpoint = "127.0.0.1:40999", .exit_code = 0, .oom_killed = false});
  // Nothing listens on port 1 of loopback: the registry is away.
  ReconcilerOptions o{.registry = {.registry = "http://127.0.0.1:1", .token = ""}, .cloudlet_id = "cl-lab", .wait = 100ms};
  Reconciler away(o, runtime_, lab_.Client(), 7);
  EXPECT_FALSE(away.RunOnce());
  EXPECT_EQ(runtime_.List()->size(), 1u) << "the registry's silence stops nothing";
  auto r = Make();
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(runtime_.starts(), 0u);
  EXPECT_EQ(Get(id)["state"], "running");
  EXPECT_EQ(Get(id)["endpoint"], "127.0.0.1:40999");
}

TEST_F(ReconcilerTest, TheImageCacheEvictsTheLeastRecentlyUsedAndNeverAnImageInUse) {
  const std::string old_app = "127.0.0.1:5000/old@sha256:" + std::string(64, 'f');
  runtime_.Publish(old_app, 8 << 20, "sha256:" + std::string(64, 'f'));
  runtime_.Hold(old_app);
  auto r = Make(/*image_cache_mb=*/13);  // base (5) + app (7) fit; the old app (8) does not
  const std::string id = Place("ar");
  ASSERT_TRUE(r->RunOnce());
  EXPECT_EQ(Get(id)["state"], "running");
  EXPECT_FALSE(runtime_.holds(old_app));
  EXPECT_TRUE(runtime_.holds(kApp));
  EXPECT_TRUE(runtime_.holds(kBase));
  auto tight = Make(/*image_cache_mb=*/1);  // nothing fits, but what runs stays
  ASSERT_TRUE(tight->RunOnce());
  EXPECT_TRUE(runtime_.holds(kApp));
  EXPECT_TRUE(runtime_.holds(kBase));
}

TEST_F(ReconcilerTest, AnAppThatNeverAnswersItsHealthCheckFailsWithThatReasonAndIsRemoved) {
  // The fake's workload accepts connections but never answers HTTP.
  json app = {{"name", "mute"}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 5}, {"overlay_mb", 2},
              {"cpu_millis", 100}, {"mem_mb", 64}, {"isolation", "container"}, {"image", kApp}, {"port", 8080},
              {"health", {{"http", "/healthz"}}}, {"ready_timeout_s", 0.5}};
  auto placed = lab_.Call("POST", "/v1/placements", {{"app", app}});
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string id = json::parse(placed.body)["placement_id"];
  // The health check goes to the workload's real socket, which accepts and never answers.
  ReconcilerOptions o{.registry = {.registry = "http://in-process", .token = ""}, .cloudlet_id = "cl-lab", .wait = 100ms};
  Reconciler r(o, runtime_, lab_.Client(), 7);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(r.RunOnce());
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  const json p = Get(id);
  EXPECT_EQ(p["state"], "failed");
  EXPECT_EQ(p["reason"], "health check timed out after 0.5 s") << p.dump();
  EXPECT_TRUE(runtime_.List()->empty());
}

TEST(DesiredFromJson, NamesTheFieldThatIsWrong) {
  EXPECT_FALSE(DesiredFromJson(json::object()).ok());
  auto bad = DesiredFromJson({{"placements", {{{"placement_id", "pl-1"}, {"tenant", "t"}, {"state", "active"}}}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("placements[0].app"), std::string::npos) << bad.status().ToString();
}

}  // namespace
}  // namespace cloudlet::agent
