#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cloudlet/sim/scenario.h"
#include "support/temp_dir.h"

namespace cloudlet::sim {
namespace {

using nlohmann::json;
using cloudlet::testing::TempDir;

json Minimal() {
  return json::parse(R"({
    "name": "tiny", "duration_s": 60, "step_s": 1,
    "area": {"width_m": 1000, "height_m": 500},
    "apps": [{"name": "ar", "share": 1, "cpu_millis": 500, "req_rate_hz": 10, "session_s": 60, "service_ms": 5}],
    "cloudlets": [{"id": "a", "x_m": 10, "y_m": 10, "cpu_millis": 8000, "wan_mbps": 100, "cached": ["ar"]}],
    "users": {"count": 3, "mobility": {"model": "random_waypoint"}}
  })");
}

std::string ErrorOf(const json& j) {
  auto s = ParseScenario(j, "bad.json");
  return s.ok() ? "ok" : s.status().message();
}

TEST(ScenarioTest, AMinimalScenarioGetsDocumentedDefaults) {
  auto s = ParseScenario(Minimal(), "tiny.json");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->users, 3);
  EXPECT_EQ(s->steps(), 60u);
  EXPECT_EQ(s->cloudlets[0].cached, std::vector<int>{0});
  EXPECT_EQ(s->network.cloud_rtt_ms, 60);
  EXPECT_EQ(s->migration.downtime_s, 1.5);
  EXPECT_TRUE(s->apps[0].base_vm_digest.starts_with("sha256:"));
  EXPECT_EQ(s->apps[0].base_vm_digest.size(), 71u);
}

TEST(ScenarioTest, BadFieldsAreReportedWithFileFieldAndReason) {
  struct Case {
    std::function<void(json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j.erase("name"); }, "bad.json: name: is required"},
      {[](json& j) { j["duration_s"] = -5; }, "bad.json: duration_s: must be a number in (0, 1e+08], not -5"},
      {[](json& j) { j["step_s"] = 120; }, "bad.json: step_s: must not exceed duration_s"},
      {[](json& j) { j["area"]["width_m"] = "wide"; }, "bad.json: area.width_m: must be a number"},
      {[](json& j) { j["apps"][0]["share"] = 0.5; }, "bad.json: apps: the shares must add up to 1, not 0.5"},
      {[](json& j) { j["apps"][0]["cpu_millis"] = 1.5; }, "bad.json: apps[0].cpu_millis: must be a whole number"},
      {[](json& j) { j["apps"][0]["isolation"] = "jail"; }, "bad.json: apps[0].isolation: must be one of vm, container, not 'jail'"},
      {[](json& j) { j["apps"][0]["colour"] = "red"; }, "bad.json: apps[0].colour: is not a known field"},
      {[](json& j) { j["cloudlets"][0]["x_m"] = 5000; }, "bad.json: cloudlets[0].x_m: must be a number in [0, 1000]"},
      {[](json& j) { j["cloudlets"][0]["cached"] = {"vr"}; }, "bad.json: cloudlets[0].cached[0]: names no app in apps: 'vr'"},
      {[](json& j) { j["cloudlets"].push_back(j["cloudlets"][0]); }, "bad.json: cloudlets[1].id: 'a' appears twice"},
      {[](json& j) { j["cloudlets"] = json{{"count", 4}, {"layout", "hex"}, {"cpu_millis", 1}, {"wan_mbps", 1}}; },
       "bad.json: cloudlets.layout: must be one of grid, random, clustered, not 'hex'"},
      {[](json& j) { j["users"]["mobility"]["min_speed_mps"] = 0; },
       "bad.json: users.mobility.min_speed_mps: must be > 0: with a zero minimum the mean speed decays"},
      {[](json& j) { j["users"]["mobility"]["model"] = "teleport"; }, "bad.json: users.mobility.model: must be one of"},
      {[](json& j) { j["users"]["mobility"] = {{"model", "trace"}}; }, "bad.json: users.mobility.file: is required for the trace model"},
      {[](json& j) { j["users"]["count"] = 0; }, "bad.json: users.count: must be at least 1"},
      {[](json& j) { j["network"] = {{"per_km_ms", 0}}; }, "bad.json: network.per_km_ms: must be a number in (0, 1000]"},
      {[](json& j) { j["migration"] = {{"margin", 0.5}}; }, "bad.json: migration.margin: must be a number in [1, 100]"},
      {[](json& j) { j["cache"] = {{"eviction", "fifo"}}; }, "bad.json: cache.eviction: must be one of lru, none"},
      {[](json& j) { j["optimal"] = 3; }, "bad.json: optimal: must be an object"},
      {[](json& j) { j["extra"] = true; }, "bad.json: extra: is not a known field"},
      {[](json& j) { j = json::array(); }, "bad.json: (top level): a scenario is a JSON object"},
  };
  for (const Case& c : cases) {
    json j = Minimal();
    c.edit(j);
    const std::string error = ErrorOf(j);
    EXPECT_EQ(error.rfind(c.expected, 0), 0u) << "got:  " << error << "\nwant: " << c.expected;
  }
}

TEST(ScenarioTest, FilesThatAreNotJsonOrMissingNameTheFile) {
  TempDir dir;
  std::ofstream(dir.File("broken.json")) << "{\"name\": ";
  EXPECT_NE(LoadScenario(dir.File("broken.json")).status().message().find("broken.json: not valid JSON"), std::string::npos);
  EXPECT_NE(LoadScenario(dir.File("none.json")).status().message().find("none.json: cannot read"), std::string::npos);
}

TEST(ScenarioTest, ATraceIsReadRelativeToTheScenario) {
  TempDir dir;
  std::ofstream(dir.File("walk.csv")) << "t,user,x,y\n0,u1,0,0\n10,u1,100,0\n0,u2,5,5\n";
  json j = Minimal();
  j["users"] = {{"mobility", {{"model", "trace"}, {"file", "walk.csv"}}}};
  std::ofstream(dir.File("s.json")) << j.dump();
  auto s = LoadScenario(dir.File("s.json"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->users, 2);  // one per user in the trace
  std::ofstream(dir.File("walk.csv")) << "t,user,x,y\n0,u1,0,0\n1,u1,9999,0\n";
  EXPECT_NE(LoadScenario(dir.File("s.json")).status().message().find("walk.csv:3: x,y: the position lies outside"), std::string::npos);
}

TEST(ScenarioTest, GeneratorsLayCloudletsOutInsideTheAreaWithTheCachedShare) {
  for (const char* layout : {"grid", "random", "clustered"}) {
    json j = Minimal();
    j["cloudlets"] = {{"count", 10}, {"layout", layout}, {"cpu_millis", 8000}, {"wan_mbps", 100}, {"cached", {"ar"}}, {"cache_fraction", 0.3}};
    auto s = ParseScenario(j, "gen.json");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_EQ(s->cloudlets.size(), 10u);
    int cached = 0;
    for (const auto& c : s->cloudlets) {
      EXPECT_GE(c.at.x_m, 0);
      EXPECT_LE(c.at.x_m, 1000);
      EXPECT_GE(c.at.y_m, 0);
      EXPECT_LE(c.at.y_m, 500);
      cached += !c.cached.empty();
    }
    EXPECT_EQ(cached, 3) << layout;
    EXPECT_EQ(s->cloudlets[9].id, "cl-010");
  }
}

TEST(ScenarioTest, TheBundledScenariosLoad) {
  for (const char* name : {"campus", "city", "highway"}) {
    auto s = LoadScenario(std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/" + name + ".json");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->name, name);
  }
}

}  // namespace
}  // namespace cloudlet::sim
