#include <gtest/gtest.h>

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

}  // namespace
}  // namespace cloudlet::placement
