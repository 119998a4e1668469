#include <gtest/gtest.h>

#include "cloudlet/discovery/cloudlet_json.h"
#include "discovery/test_descriptors.h"

namespace cloudlet::discovery {
namespace {

using nlohmann::json;
using testing::Digest;
using testing::MakeDescriptor;

json ValidBody() { return DescriptorToJson(MakeDescriptor("cl-a")); }

std::string FieldOf(const json& body, const std::string& id = "cl-a") {
  auto r = ParseDescriptorJson(body.dump(), id);
  if (r.ok()) return "<ok>";
  return r.status().field().value_or("<no field: " + r.status().message() + ">");
}

TEST(CloudletJsonTest, RoundTripsADescriptor) {
  auto d = ParseDescriptorJson(ValidBody().dump(), "cl-a");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(DescriptorToJson(*d), ValidBody());
}

TEST(CloudletJsonTest, IdAndNameDefaultFromTheUrl) {
  json body = ValidBody();
  body.erase("id");
  body.erase("name");
  auto d = ParseDescriptorJson(body.dump(), "cl-a");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->id, "cl-a");
  EXPECT_EQ(d->name, "cl-a");
}

TEST(CloudletJsonTest, RefusesUnknownFieldsNamingThem) {
  json body = ValidBody();
  body["future_field"] = {{"x", 1}};
  EXPECT_EQ(FieldOf(body), "future_field");
  body = ValidBody();
  body["capacity"]["cpu_milis"] = 1;  // a typo
  EXPECT_EQ(FieldOf(body), "capacity.cpu_milis");
}

TEST(CloudletJsonTest, NamesTheFieldThatIsMissingOrMistyped) {
  struct Case {
    std::function<void(json&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](json& b) { b.erase("endpoint"); }, "endpoint"},
      {[](json& b) { b["endpoint"] = 5; }, "endpoint"},
      {[](json& b) { b["endpoint"] = "ftp://x"; }, "endpoint"},
      {[](json& b) { b["endpoint"] = "http://"; }, "endpoint"},
      {[](json& b) { b["id"] = "cl-b"; }, "id"},
      {[](json& b) { b["name"] = std::string(64, 'n'); }, "name"},
      {[](json& b) { b["geo"]["lat"] = 91; }, "geo"},
      {[](json& b) { b["geo"]["lon"] = "east"; }, "geo.lon"},
      {[](json& b) { b["geo"] = "here"; }, "geo"},
      {[](json& b) { b.erase("capacity"); }, "capacity"},
      {[](json& b) { b["capacity"]["cpu_millis"] = -1; }, "capacity.cpu_millis"},
      {[](json& b) { b["capacity"]["cpu_millis"] = 1.5; }, "capacity.cpu_millis"},
      {[](json& b) { b["capacity"]["cpu_millis"] = "4"; }, "capacity.cpu_millis"},
      {[](json& b) { b["capacity"]["mem_mb"] = 1e12; }, "capacity.mem_mb"},
      {[](json& b) { b["capacity"]["mem_mb"] = 18446744073709551615ull; }, "capacity.mem_mb"},
      {[](json& b) { b["capacity"]["gpus"] = 5000; }, "capacity.gpus"},
      {[](json& b) { b["isolation"] = json::array(); }, "isolation"},
      {[](json& b) { b["isolation"] = {"vm", "vm"}; }, "isolation"},
      {[](json& b) { b["isolation"] = {"kvm"}; }, "isolation"},
      {[](json& b) { b["isolation"] = {"vm", "container", "vm"}; }, "isolation"},
      {[](json& b) { b["isolation"] = "vm"; }, "isolation"},
      {[](json& b) { b["base_vms"][0]["digest"] = "sha256:ABC"; }, "base_vms[0].digest"},
      {[](json& b) { b["base_vms"][0]["size_mb"] = 0; }, "base_vms[0].size_mb"},
      {[](json& b) { b["base_vms"].push_back(b["base_vms"][0]); }, "base_vms[1].digest"},
      {[](json& b) { b["base_vms"][0] = "sha256:aa"; }, "base_vms[0]"},
      {[](json& b) { b.erase("wan_mbps"); }, "wan_mbps"},
      {[](json& b) { b["wan_mbps"] = 0; }, "wan_mbps"},
      {[](json& b) { b["labels"] = {{"bad key", "v"}}; }, "labels"},
      {[](json& b) { b["labels"] = {{"k", 3}}; }, "labels.k"},
      {[](json& b) { b["labels"] = {{"k", std::string(300, 'v')}}; }, "labels.k"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    json body = ValidBody();
    cases[i].mutate(body);
    EXPECT_EQ(FieldOf(body), cases[i].field) << "case " << i << ": " << body.dump();
  }
}

TEST(CloudletJsonTest, RejectsMalformedJsonAndNonObjects) {
  auto r = ParseDescriptorJson("{\"endpoint\": ", "cl-a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(*r.status().field(), "body");
  EXPECT_NE(r.status().message().find("line 1, column 14"), std::string::npos) << r.status().message();
  EXPECT_EQ(*ParseDescriptorJson("[1,2]", "cl-a").status().field(), "body");
  EXPECT_EQ(*ParseDescriptorJson("{\"x\": NaN}", "cl-a").status().field(), "body");
  EXPECT_EQ(*ParseDescriptorJson("", "cl-a").status().field(), "body");
}

TEST(CloudletJsonTest, RejectsBadIdsInTheUrl) {
  for (const char* id : {"", "CL-A", "cl_a", "cl/a", "a b"}) {
    EXPECT_EQ(FieldOf(ValidBody(), id), "id") << id;
  }
  EXPECT_EQ(FieldOf(ValidBody(), std::string(65, 'a')), "id");
}

TEST(CloudletJsonTest, ParsesHeartbeats) {
  auto hb = ParseHeartbeatJson(R"({"load":0.25,"free":{"cpu_millis":100,"mem_mb":200},
      "cache":{"added":[{"digest":")" + Digest('b') + R"(","size_mb":10}],"removed":[")" + Digest('a') + R"("]}})");
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_DOUBLE_EQ(hb->load, 0.25);
  EXPECT_EQ(hb->free->cpu_millis, 100);
  EXPECT_EQ(hb->cache.added.size(), 1u);
  EXPECT_EQ(hb->cache.removed.at(0), Digest('a'));

  EXPECT_EQ(*ParseHeartbeatJson(R"({})").status().field(), "load");
  EXPECT_EQ(*ParseHeartbeatJson(R"({"load":1.5})").status().field(), "load");
  EXPECT_EQ(*ParseHeartbeatJson(R"({"load":"high"})").status().field(), "load");
  EXPECT_EQ(*ParseHeartbeatJson(R"({"load":0.1,"free":{"cpu_millis":1}})").status().field(), "free.mem_mb");
  EXPECT_EQ(*ParseHeartbeatJson(R"({"load":0.1,"cache":{"removed":[3]}})").status().field(), "cache.removed[0]");
}

TEST(CloudletJsonTest, RecordJsonCarriesRegistryFields) {
  CloudletRecord r;
  r.descriptor = MakeDescriptor("cl-a");
  r.health = Health::kSuspect;
  r.load = 0.5;
  r.modify_index = 9;
  json j = RecordToJson(r);
  EXPECT_EQ(j["state"], "suspect");
  EXPECT_EQ(j["index"], 9);
  EXPECT_EQ(j["last_heartbeat"], "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(j["capacity"]["cpu_millis"], 16000);
}

}  // namespace
}  // namespace cloudlet::discovery
