// Placements over HTTP on the real cloudletd, with the real CLI.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>

#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;

const std::string kBaseVm = "sha256:" + std::string(64, 'b');

json Cloudlet(double lat, double lon, int64_t cpu, bool cached) {
  json vms = json::array();
  if (cached) vms.push_back({{"digest", kBaseVm}, {"size_mb", 8000}});
  return {{"endpoint", "http://10.1.0.1:8471"}, {"geo", {{"lat", lat}, {"lon", lon}}},
          {"capacity", {{"cpu_millis", cpu}, {"mem_mb", 65536}}}, {"isolation", {"vm"}}, {"wan_mbps", 1000},
          {"base_vms", vms}};
}

json App() {
  return {{"name", "ar-guide"}, {"base_vm", kBaseVm}, {"base_vm_mb", 8000}, {"overlay_mb", 200},
          {"cpu_millis", 1000}, {"mem_mb", 1024}, {"service_ms", 10}, {"req_rate_hz", 10}, {"session_s", 3600},
          {"max_rtt_ms", 15}};
}

json Request(json client = json::object()) { return {{"app", App()}, {"client", client}, {"k", 3}}; }

class PlacementHttpTest : public ::testing::Test {
 protected:
  void Register(CloudletdProcess& d) {
    ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-pgh", Cloudlet(40.44, -79.94, 16'000, true).dump()).status, 201);
    ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-bos", Cloudlet(42.36, -71.06, 16'000, true).dump()).status, 201);
    ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-cold", Cloudlet(40.45, -79.95, 16'000, false).dump()).status, 201);
  }
  TempDir dir_;
};

TEST_F(PlacementHttpTest, LifecycleWorksEndToEndAndActivePlacementsSurviveKillNine) {
  const std::string db = dir_.File("var/cloudlet.db");
  std::string id;
  {
    CloudletdProcess d({"--cloud-endpoint", "https://cloud.example.org"}, db);
    d.Start();
    Register(d);
    auto placed = d.Call("POST", "/v1/placements", Request({{"id", "phone-1"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}}}).dump());
    ASSERT_EQ(placed.status, 201) << placed.body;
    json r = json::parse(placed.body);
    id = r["placement_id"];
    EXPECT_EQ(placed.Header("location"), "/v1/placements/" + id);
    EXPECT_EQ(r["state"], "reserved");
    EXPECT_EQ(r["chosen"]["cloudlet"], "cl-pgh");  // near, cached
    ASSERT_EQ(r["candidates"].size(), 3u);
    EXPECT_EQ(r["candidates"][0]["provision"]["mode"], "overlay");
    EXPECT_EQ(r["candidates"][0]["rtt_source"], "geo");
    EXPECT_TRUE(r["candidates"][0]["sla_met"].get<bool>());
    EXPECT_EQ(r["candidates"][1]["cloudlet"], "cl-cold");
    EXPECT_EQ(r["candidates"][1]["provision"]["mode"], "full");
    EXPECT_FALSE(r["candidates"][2]["sla_met"].get<bool>());  // Boston: ~19.5 ms by geo, over the 15 ms SLA
    EXPECT_TRUE(r["fallback"].is_null());
    EXPECT_EQ(d.Json("GET", "/v1/placements/" + id)["state"], "reserved");

    auto confirmed = d.Call("POST", "/v1/placements/" + id + "/confirm");
    ASSERT_EQ(confirmed.status, 200) << confirmed.body;
    EXPECT_EQ(json::parse(confirmed.body)["state"], "active");
    d.Signal(SIGKILL);
    d.Wait();
  }
  CloudletdProcess d({}, db);
  d.Start();
  ASSERT_EQ(d.Call("POST", "/v1/cloudlets/cl-bos/heartbeat", R"({"load":0.1})").status, 200);
  ASSERT_EQ(d.Call("POST", "/v1/cloudlets/cl-pgh/heartbeat", R"({"load":0.1})").status, 200);
  auto after = d.Json("GET", "/v1/placements/" + id);
  EXPECT_EQ(after["state"], "active");
  EXPECT_EQ(after["cloudlet"], "cl-pgh");
  EXPECT_EQ(after["chosen"]["provision"]["mode"], "overlay");  // the breakdown survives the restart
  EXPECT_EQ(after["chosen"]["rtt_source"], "geo");

  auto stay = d.Call("POST", "/v1/placements/" + id + "/location", R"({"geo":{"lat":40.45,"lon":-79.93}})");
  ASSERT_EQ(stay.status, 200) << stay.body;
  EXPECT_EQ(json::parse(stay.body)["advice"], "stay");
  auto move = d.Call("POST", "/v1/placements/" + id + "/location", R"({"geo":{"lat":42.36,"lon":-71.06}})");
  ASSERT_EQ(move.status, 200) << move.body;
  json advice = json::parse(move.body);
  EXPECT_EQ(advice["advice"], "migrate") << move.body;
  EXPECT_EQ(advice["target"], "cl-bos");
  EXPECT_GT(advice["expected_gain_ms"].get<double>(), advice["cost_ms"].get<double>());
  EXPECT_GT(advice["downtime_s"].get<double>(), 0);

  auto released = d.Call("DELETE", "/v1/placements/" + id);
  EXPECT_EQ(released.status, 204);
  EXPECT_EQ(d.Json("GET", "/v1/placements/" + id)["state"], "released");
  EXPECT_EQ(d.Call("POST", "/v1/placements/" + id + "/confirm").status, 409);  // released: place again
}

TEST_F(PlacementHttpTest, UnmetSlaOffersTheCloudFallback) {
  CloudletdProcess d({"--cloud-endpoint", "https://cloud.example.org", "--cloud-rtt-ms", "70"});
  d.Start();
  Register(d);
  json req = Request({{"geo", {{"lat", 37.77}, {"lon", -122.42}}}});  // San Francisco
  auto r = d.Call("POST", "/v1/placements", req.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json body = json::parse(r.body);
  EXPECT_FALSE(body["candidates"][0]["sla_met"].get<bool>());
  EXPECT_EQ(body["fallback"]["endpoint"], "https://cloud.example.org");
  EXPECT_EQ(body["fallback"]["rtt_ms"], 70);
}

TEST_F(PlacementHttpTest, UnconfirmedReservationExpiresAndReturnsCapacity) {
  CloudletdProcess d({"--lease", "300ms"});
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-one", Cloudlet(40.44, -79.94, 1'500, true).dump()).status, 201);
  auto first = d.Call("POST", "/v1/placements", Request().dump());
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string id = json::parse(first.body)["placement_id"];
  auto full = d.Call("POST", "/v1/placements", Request().dump());
  ASSERT_EQ(full.status, 200) << full.body;  // nothing placed: the only cloudlet is held
  EXPECT_TRUE(json::parse(full.body)["placement_id"].is_null());
  EXPECT_TRUE(WaitFor([&] { return d.Json("GET", "/v1/placements/" + id)["state"] == "expired"; }));
  EXPECT_EQ(d.Call("POST", "/v1/placements/" + id + "/confirm").status, 409);
  EXPECT_EQ(d.Call("POST", "/v1/placements", Request().dump()).status, 201);
}

TEST_F(PlacementHttpTest, BadRequestsAreRejectedAndChangeNothing) {
  CloudletdProcess d;
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-one", Cloudlet(40.44, -79.94, 1'500, true).dump()).status, 201);
  auto field_of = [&](json body) {
    auto r = d.Call("POST", "/v1/placements", body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/problem+json");
    return json::parse(r.body).value("field", "");
  };
  json bad = Request();
  bad["app"]["base_vm"] = "md5:1234";
  EXPECT_EQ(field_of(bad), "app.base_vm");
  bad = Request();
  bad["app"]["overlay_mb"] = -5;
  EXPECT_EQ(field_of(bad), "app.overlay_mb");
  bad = Request();
  bad["app"]["cpu_millis"] = "two";
  EXPECT_EQ(field_of(bad), "app.cpu_millis");
  bad = Request();
  bad["k"] = 0;
  EXPECT_EQ(field_of(bad), "k");
  bad = Request();
  bad["k"] = 1000;
  EXPECT_EQ(field_of(bad), "k");
  bad = Request();
  bad.erase("app");
  EXPECT_EQ(field_of(bad), "app");
  EXPECT_EQ(d.Call("POST", "/v1/placements", "{oops").status, 400);
  EXPECT_EQ(d.Call("GET", "/v1/placements/pl-0123456789abcdef").status, 404);
  EXPECT_EQ(d.Call("GET", "/v1/placements/not-an-id").status, 404);
  EXPECT_EQ(d.Call("POST", "/v1/placements/pl-0123456789abcdef/confirm").status, 404);
  EXPECT_EQ(d.Call("DELETE", "/v1/placements/pl-0123456789abcdef").status, 404);
  EXPECT_EQ(d.Call("POST", "/v1/placements/pl-0123456789abcdef/location", R"({"geo":{"lat":1,"lon":1}})").status, 404);
  EXPECT_EQ(d.Call("POST", "/v1/placements", Request().dump(), "").status, 401);
  // Nothing above took capacity: the one-app cloudlet still takes one.
  EXPECT_EQ(d.Call("POST", "/v1/placements", Request().dump()).status, 201);
}

TEST_F(PlacementHttpTest, RttSamplesFeedNetworkCoordinates) {
  CloudletdProcess d;
  d.Start();
  Register(d);
  auto r = d.Call("POST", "/v1/rtt", R"({"from":"phone-9","samples":[{"to":"cl-pgh","rtt_ms":6},{"to":"cl-bos","rtt_ms":30}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["accepted"], 2);
  EXPECT_EQ(d.Call("POST", "/v1/rtt", R"({"from":"phone-9","samples":[{"to":"cl-pgh","rtt_ms":-1}]})").status, 400);
  EXPECT_EQ(d.Call("POST", "/v1/rtt", R"({"from":"phone-9","samples":[{"to":"phone-9","rtt_ms":1}]})").status, 400);
  auto placed = json::parse(d.Call("POST", "/v1/placements", Request({{"id", "phone-9"}}).dump()).body);
  for (const auto& c : placed["candidates"]) {
    EXPECT_EQ(c["rtt_source"], c["cloudlet"] == "cl-cold" ? "default" : "coordinates") << c.dump();
  }
}

TEST_F(PlacementHttpTest, CliPrintsTheRankedTable) {
  CloudletdProcess d;
  d.Start();
  Register(d);
  const std::string app_file = dir_.File("app.json");
  std::ofstream(app_file) << App().dump();
  const std::string cmd = "env CLOUDLET_REGISTRY=" + d.url() + " CLOUDLET_TOKEN=" + kOperatorToken + " " +
                          CLOUDLET_CLI_BIN + " place --app " + app_file + " --rtt cl-bos=4.2,cl-pgh=9 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  EXPECT_EQ(WEXITSTATUS(status), 0) << out;
  EXPECT_NE(out.find("reserved on cl-bos"), std::string::npos) << out;
  EXPECT_NE(out.find("measured"), std::string::npos) << out;
  EXPECT_NE(out.find("COST ms"), std::string::npos) << out;
  EXPECT_NE(out.find("cl-cold"), std::string::npos) << out;
}

}  // namespace
}  // namespace cloudlet::testing
