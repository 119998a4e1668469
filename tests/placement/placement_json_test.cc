#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "cloudlet/placement/placement_json.h"

namespace cloudlet::placement {
namespace {

Placement ActivePlacement() {
  Placement p;
  p.id = "pl-0123456789abcdef";
  p.owner = "tenant-a";
  p.request.app = {.name = "ar", .base_vm = "sha256:" + std::string(64, 'e'), .base_vm_mb = 8000, .overlay_mb = 200,
                   .cpu_millis = 1000, .mem_mb = 512, .isolation = "container", .service_ms = 10, .req_rate_hz = 5,
                   .session_s = 900, .max_rtt_ms = 25};
  p.request.client = {.id = "phone-1", .geo = common::GeoPoint{40.44, -79.94}, .rtt_ms = {{"cl-a", 4.5}}};
  p.request.k = 4;
  p.cloudlet_id = p.chosen.cloudlet_id = "cl-a";
  p.endpoint = p.chosen.endpoint = "http://cl-a:8471";
  p.chosen.rtt_ms = 4.5;
  p.chosen.rtt_source = RttSource::kMeasured;
  p.chosen.queue_ms = 10.7;
  p.chosen.provision_mode = ProvisionMode::kOverlay;
  p.chosen.provision_s = 3.7;
  p.chosen.cost_ms = 21.4;
  p.chosen.sla_met = false;
  p.state = PlacementState::kActive;
  p.confirmed = true;
  p.created_at = common::FromUnixMillis(1'000'000);
  p.activated_at = common::FromUnixMillis(1'002'000);
  return p;
}

// What the store writes is what it reads back: a restart must not change the breakdown.
TEST(PlacementJsonTest, ActivePlacementRoundTripsWithItsFullBreakdown) {
  const Placement p = ActivePlacement();
  auto back = PlacementFromJson(PlacementToJson(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(PlacementToJson(*back), PlacementToJson(p));
  EXPECT_EQ(back->chosen.rtt_source, RttSource::kMeasured);
  EXPECT_EQ(back->chosen.provision_mode, ProvisionMode::kOverlay);
  EXPECT_DOUBLE_EQ(back->chosen.provision_s, 3.7);
  EXPECT_FALSE(back->chosen.sla_met);
  EXPECT_EQ(back->request.client.rtt_ms.at("cl-a"), 4.5);
}

TEST(PlacementJsonTest, CorruptBreakdownNamesTheField) {
  nlohmann::json j = PlacementToJson(ActivePlacement());
  j["chosen"]["rtt_source"] = "guessed";
  EXPECT_EQ(*PlacementFromJson(j).status().field(), "chosen.rtt_source");
  j = PlacementToJson(ActivePlacement());
  j["chosen"]["provision"]["mode"] = "teleport";
  EXPECT_EQ(*PlacementFromJson(j).status().field(), "chosen.provision.mode");
  j = PlacementToJson(ActivePlacement());
  j["chosen"]["sla_met"] = "yes";
  EXPECT_EQ(*PlacementFromJson(j).status().field(), "chosen.sla_met");
}


// The placement route writes its answer as text directly; it must say exactly what the tree says.
TEST(PlacementJsonTest, PlaceResultTextEqualsTheJsonTree) {
  EngineParams params;
  params.cloud_endpoint = "https://cloud.example/\"quoted\"\\path\t";
  params.cloud_rtt_ms = 80.125;
  Placement p = ActivePlacement();
  p.state = PlacementState::kReserved;
  p.expires_at = common::FromUnixMillis(1'030'000);
  Candidate second = p.chosen;
  second.cloudlet_id = "cl-b";
  second.rtt_ms = 1.0 / 3;
  second.cost_ms = 1e-9;
  second.queue_ms = 123456789.5;
  second.sla_met = true;
  second.provision_mode = ProvisionMode::kFull;
  second.rtt_source = RttSource::kGeo;
  std::vector<PlaceResult> cases(3);
  cases[0].placement = p;
  cases[0].ranking.candidates = {p.chosen, second};
  cases[0].ranking.rejected = {{"cpu", 3}, {"health", 1}, {"policy \"x\"", 2}};
  cases[1].ranking.fallback = true;  // nothing at all: unplaced, with the cloud offered
  cases[2] = cases[0];
  cases[2].ranking.fallback = true;
  cases[2].ranking.candidates[1].rtt_ms = std::numeric_limits<double>::quiet_NaN();
  for (const PlaceResult& r : cases) {
    const std::string text = PlaceResultJsonText(r, params);
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(text)) << text;
    // Compared as a client reads both (a NaN in the tree is written as null, like the text).
    EXPECT_EQ(parsed, nlohmann::json::parse(PlaceResultToJson(r, params).dump())) << text;
  }
}

const std::string kImage = "127.0.0.1:5000/ar-guide@sha256:" + std::string(64, 'a');

nlohmann::json WorkloadRequest() {
  return {{"app",
           {{"name", "ar-guide"}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 5}, {"overlay_mb", 1},
            {"cpu_millis", 500}, {"mem_mb", 64}, {"isolation", "container"}, {"image", kImage},
            {"base_image", "127.0.0.1:5000/base:1"}, {"port", 8080}, {"env", {{"MODE", "fast"}}},
            {"command", {"/bin/httpd", "-f"}}, {"health", {{"http", "/healthz"}}}, {"ready_timeout_s", 30}}},
          {"client", {{"id", "phone"}}}};
}

TEST(PlacementJsonTest, AWorkloadIsReadValidatedAndRoundTrips) {
  auto r = PlacementRequestFromJson(WorkloadRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const WorkloadSpec& w = r->app.workload;
  EXPECT_EQ(w.image, kImage);
  EXPECT_EQ(w.port, 8080);
  EXPECT_EQ(w.env.at("MODE"), "fast");
  EXPECT_EQ(w.command.size(), 2u);
  EXPECT_EQ(w.health.http_path, "/healthz");
  EXPECT_DOUBLE_EQ(w.ready_timeout_s, 30);
  auto again = PlacementRequestFromJson(PlacementRequestToJson(*r));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->app.workload, w);
  // Without an image the request is advisory, as before, and says nothing of a workload.
  nlohmann::json advisory = WorkloadRequest();
  for (const char* k : {"image", "base_image", "port", "env", "command", "health", "ready_timeout_s"}) advisory["app"].erase(k);
  auto plain = PlacementRequestFromJson(advisory);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(PlacementRequestToJson(*plain)["app"].contains("image"));
}

nlohmann::json VmRequest() {
  return {{"app",
           {{"name", "ar-vm"}, {"base_vm", "sha256:" + std::string(64, 'b')}, {"base_vm_mb", 500}, {"overlay_mb", 20},
            {"cpu_millis", 1000}, {"mem_mb", 256}, {"isolation", "vm"},
            {"overlay_url", "https://images.example/ar.qcow2.gz"}, {"overlay_digest", "sha256:" + std::string(64, 'e')},
            {"base_vm_url", "https://images.example/base.tar"}, {"port", 8080}, {"health", {{"http", "/"}}}}}};
}

TEST(PlacementJsonTest, AVmWorkloadIsReadValidatedAndRoundTrips) {
  auto r = PlacementRequestFromJson(VmRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const WorkloadSpec& w = r->app.workload;
  EXPECT_TRUE(w.runs());
  EXPECT_TRUE(w.image.empty());
  EXPECT_EQ(w.overlay_url, "https://images.example/ar.qcow2.gz");
  EXPECT_EQ(w.base_vm_url, "https://images.example/base.tar");
  auto again = PlacementRequestFromJson(PlacementRequestToJson(*r));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->app.workload, w);
  EXPECT_FALSE(PlacementRequestToJson(*r)["app"].contains("image"));
  // base_vm_url is optional: a cloudlet that lacks the base then fails the placement.
  nlohmann::json cached_only = VmRequest();
  cached_only["app"].erase("base_vm_url");
  EXPECT_TRUE(PlacementRequestFromJson(cached_only).ok());

  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& j) { j["app"]["isolation"] = "container"; }, "app.overlay_url"},
      {[](nlohmann::json& j) { j["app"]["overlay_url"] = "file:///etc/shadow"; }, "app.overlay_url"},
      {[](nlohmann::json& j) { j["app"]["overlay_url"] = "http://"; }, "app.overlay_url"},
      {[](nlohmann::json& j) { j["app"]["overlay_url"] = "http://a b/c"; }, "app.overlay_url"},
      {[](nlohmann::json& j) { j["app"]["overlay_url"] = "https://x/" + std::string(2048, 'a'); }, "app.overlay_url"},
      {[](nlohmann::json& j) { j["app"].erase("overlay_digest"); }, "app.overlay_digest"},
      {[](nlohmann::json& j) { j["app"]["overlay_digest"] = "sha256:ABC"; }, "app.overlay_digest"},
      {[](nlohmann::json& j) { j["app"]["base_vm_url"] = "ftp://images/base.tar"; }, "app.base_vm_url"},
      {[](nlohmann::json& j) { j["app"]["image"] = kImage; }, "app.image"},
      {[](nlohmann::json& j) { j["app"]["base_image"] = "127.0.0.1:5000/base:1"; }, "app.base_image"},
      {[](nlohmann::json& j) { j["app"]["command"] = {"/start"}; }, "app.command"},
      {[](nlohmann::json& j) { j["app"]["env"] = {{"MODE", "x"}}; }, "app.env"},
      {[](nlohmann::json& j) { j["app"].erase("port"); }, "app.port"},
      {[](nlohmann::json& j) { j["app"].erase("overlay_url"); }, "app.image"},  // a digest without a URL
  };
  for (const auto& [mutate, field] : cases) {
    nlohmann::json j = VmRequest();
    mutate(j);
    auto bad = PlacementRequestFromJson(j);
    ASSERT_FALSE(bad.ok()) << j.dump();
    EXPECT_EQ(bad.status().field().value_or(""), field) << bad.status().message();
  }
}

TEST(PlacementJsonTest, BadWorkloadFieldsAreRefusedNamingTheField) {
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](nlohmann::json& j) { j["app"]["image"] = "127.0.0.1:5000/ar-guide:latest"; }, "app.image"},
      {[](nlohmann::json& j) { j["app"]["image"] = "ar@sha256:" + std::string(63, 'a'); }, "app.image"},
      {[](nlohmann::json& j) { j["app"]["image"] = "../etc@sha256:" + std::string(64, 'a'); }, "app.image"},
      {[](nlohmann::json& j) { j["app"]["base_image"] = "bad name"; }, "app.base_image"},
      {[](nlohmann::json& j) { j["app"]["port"] = 70000; }, "app.port"},
      {[](nlohmann::json& j) { j["app"].erase("port"); }, "app.port"},
      {[](nlohmann::json& j) { j["app"]["port"] = "8080"; }, "app.port"},
      {[](nlohmann::json& j) { j["app"]["env"] = {{"1BAD", "x"}}; }, "app.env"},
      {[](nlohmann::json& j) { j["app"]["env"] = {{"OK", 5}}; }, "app.env.OK"},
      {[](nlohmann::json& j) { j["app"]["command"] = {"sh", 7}; }, "app.command[1]"},
      {[](nlohmann::json& j) { j["app"]["command"] = std::vector<std::string>(65, "x"); }, "app.command"},
      {[](nlohmann::json& j) { j["app"]["health"] = {{"http", "healthz"}}; }, "app.health"},
      {[](nlohmann::json& j) { j["app"]["health"] = {{"tcp", "yes"}}; }, "app.health.tcp"},
      {[](nlohmann::json& j) { j["app"]["health"] = {{"grpc", true}}; }, "app.health.grpc"},
      {[](nlohmann::json& j) { j["app"]["ready_timeout_s"] = 0; }, "app.ready_timeout_s"},
      {[](nlohmann::json& j) { j["app"]["isolation"] = "vm"; }, "app.image"},
      {[](nlohmann::json& j) { j["app"].erase("image"); }, "app.image"},  // port without an image
      {[](nlohmann::json& j) { j["app"]["overlay_digest"] = "sha256:" + std::string(64, 'e'); }, "app.overlay_digest"},
      {[](nlohmann::json& j) { j["app"]["max_rtt_msec"] = 20; }, "app.max_rtt_msec"},  // a typo
      {[](nlohmann::json& j) { j["clinet"] = nlohmann::json::object(); }, "clinet"},
  };
  for (const auto& [mutate, field] : cases) {
    nlohmann::json j = WorkloadRequest();
    mutate(j);
    auto r = PlacementRequestFromJson(j);
    ASSERT_FALSE(r.ok()) << j.dump();
    EXPECT_EQ(r.status().code(), common::StatusCode::kInvalidArgument) << j.dump();
    EXPECT_EQ(r.status().field().value_or(""), field) << r.status().message();
  }
}

}  // namespace
}  // namespace cloudlet::placement
