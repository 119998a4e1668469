#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "cloudlet/placement/engine.h"

namespace cloudlet::placement {
namespace {

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

CloudletState Cloudlet(const std::string& id, bool cached) {
  CloudletState c;
  c.id = id;
  c.endpoint = "http://" + id + ":8471";
  c.cpu_capacity = c.free_cpu = 16'000;
  c.mem_capacity = c.free_mem = 65'536;
  c.wan_mbps = 1000;
  if (cached) c.base_vms = {Digest('a')};
  return c;
}

// 200 MB overlay on an 8 GB base; 10 ms of service at 10 Hz; 1 core.
PlacementRequest Request(double session_s) {
  PlacementRequest r;
  r.app = {.name = "ar-guide", .base_vm = Digest('a'), .base_vm_mb = 8000, .overlay_mb = 200, .cpu_millis = 1000,
           .mem_mb = 1000, .isolation = "vm", .service_ms = 10, .req_rate_hz = 10, .session_s = session_s,
           .max_rtt_ms = 0};
  r.client.id = "phone-1";
  r.k = 3;
  return r;
}

// Hand-computed with the default parameters:
//   pipeline  = max(200*8/1000, 200/120, 200/150)   = 1.66667 s
//   overlay   = 2.5 + (1 - 0) * 1.66667              = 4.16667 s
//   full      = 1 + 8000*8/1000 + 4.16667            = 69.16667 s
//   queue     = 10 / (1 - 1000/16000)                = 10.66667 ms
constexpr double kOverlayS = 2.5 + 200.0 / 120.0;
constexpr double kFullS = 1 + 64 + kOverlayS;
constexpr double kQueueMs = 10 / (1 - 1000.0 / 16000.0);

TEST(EngineTest, CachedBaseVmWinsOverUncachedAtSimilarRtt) {
  Engine engine({});
  auto fleet = BuildSnapshot({Cloudlet("cl-cached", true), Cloudlet("cl-cold", false)});
  auto req = Request(60);  // 600 requests
  req.client.rtt_ms = {{"cl-cached", 5.0}, {"cl-cold", 4.5}};
  auto r = engine.Rank(fleet, req, {}, 1);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->candidates.size(), 2u);
  const Candidate& best = r->candidates[0];
  EXPECT_EQ(best.cloudlet_id, "cl-cached");
  EXPECT_EQ(best.provision_mode, ProvisionMode::kOverlay);
  EXPECT_EQ(best.rtt_source, RttSource::kMeasured);
  EXPECT_NEAR(best.provision_s, kOverlayS, 1e-9);
  EXPECT_NEAR(best.queue_ms, kQueueMs, 1e-9);
  EXPECT_NEAR(best.cost_ms, 5.0 + kQueueMs + kOverlayS * 1000 / 600, 1e-9);  // 21.78 ms
  EXPECT_EQ(r->candidates[1].provision_mode, ProvisionMode::kFull);
  EXPECT_NEAR(r->candidates[1].cost_ms, 4.5 + kQueueMs + kFullS * 1000 / 600, 1e-9);  // 129.61 ms
  EXPECT_FALSE(r->fallback);
}

TEST(EngineTest, MuchCloserUncachedCloudletWinsOnlyWhenTheSessionIsLongEnough) {
  Engine engine({});
  auto fleet = BuildSnapshot({Cloudlet("cl-far-cached", true), Cloudlet("cl-near-cold", false)});
  auto req = Request(3600);  // 36,000 requests: 68.7 s of provisioning is 1.9 ms each
  req.client.rtt_ms = {{"cl-far-cached", 40.0}, {"cl-near-cold", 5.0}};
  auto long_session = engine.Rank(fleet, req, {}, 1);
  ASSERT_TRUE(long_session.ok());
  EXPECT_EQ(long_session->candidates[0].cloudlet_id, "cl-near-cold");
  EXPECT_NEAR(long_session->candidates[0].cost_ms, 5.0 + kQueueMs + kFullS * 1000 / 36000, 1e-9);  // 17.48
  EXPECT_NEAR(long_session->candidates[1].cost_ms, 40.0 + kQueueMs + kOverlayS * 1000 / 36000, 1e-9);  // 50.77

  req.app.session_s = 60;  // 600 requests: 114 ms each for the cold one, 6.1 ms for the cached one
  auto short_session = engine.Rank(fleet, req, {}, 1);
  ASSERT_TRUE(short_session.ok());
  EXPECT_EQ(short_session->candidates[0].cloudlet_id, "cl-far-cached");
}

TEST(EngineTest, RejectsFullSaturatedMismatchedAndExpiredCloudletsCountingReasons) {
  Engine engine({});
  auto full_cpu = Cloudlet("cl-full-cpu", true);
  full_cpu.free_cpu = 500;
  auto full_mem = Cloudlet("cl-full-mem", true);
  full_mem.free_mem = 10;
  auto container_only = Cloudlet("cl-containers", true);
  container_only.vm = false;
  auto expired = Cloudlet("cl-expired", true);
  expired.eligible = false;
  auto busy = Cloudlet("cl-busy", true);
  busy.load = 0.97;  // plus 1/16 of a core: rho >= 1
  auto fleet = BuildSnapshot({full_cpu, full_mem, container_only, expired, busy, Cloudlet("cl-ok", false)});
  auto r = engine.Rank(fleet, Request(60), {}, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->candidates.size(), 1u);
  EXPECT_EQ(r->candidates[0].cloudlet_id, "cl-ok");
  EXPECT_EQ(r->rejected, (std::map<std::string, int>{
                             {"cpu", 1}, {"memory", 1}, {"isolation", 1}, {"health", 1}, {"saturated", 1}}));
}

TEST(EngineTest, UnmetSlaIsFlaggedAndOffersTheCloud) {
  Engine engine({});
  auto fleet = BuildSnapshot({Cloudlet("cl-a", true), Cloudlet("cl-b", true)});
  auto req = Request(60);
  req.app.max_rtt_ms = 10;
  req.client.rtt_ms = {{"cl-a", 25.0}, {"cl-b", 30.0}};
  auto r = engine.Rank(fleet, req, {}, 1);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->candidates.size(), 2u);
  EXPECT_EQ(r->candidates[0].cloudlet_id, "cl-a");  // still the best, soft SLA
  EXPECT_FALSE(r->candidates[0].sla_met);
  EXPECT_TRUE(r->fallback);
  req.client.rtt_ms["cl-b"] = 9.0;
  auto met = engine.Rank(fleet, req, {}, 1);
  EXPECT_FALSE(met->fallback);
  EXPECT_TRUE(met->candidates[0].sla_met);
}

TEST(EngineTest, RttComesFromMeasurementThenCoordinatesThenGeo) {
  Engine engine({});
  auto a = Cloudlet("cl-a", true), b = Cloudlet("cl-b", true), c = Cloudlet("cl-c", true), d = Cloudlet("cl-d", true);
  a.geo = b.geo = c.geo = common::GeoPoint{0, 1};  // 111.19 km from the client
  auto fleet = BuildSnapshot({a, b, c, d});
  auto req = Request(60);
  req.k = 4;
  req.client.geo = common::GeoPoint{0, 0};
  req.client.rtt_ms = {{"cl-a", 3.0}, {"cl-unknown", 1.0}};
  Eigen::ArrayXd coords(4);
  coords << 7.0, 8.0, std::nan(""), std::nan("");
  auto r = engine.Rank(fleet, req, {}, 1, &coords);
  ASSERT_TRUE(r.ok());
  std::map<std::string, Candidate> by_id;
  for (const auto& cand : r->candidates) by_id[cand.cloudlet_id] = cand;
  EXPECT_EQ(by_id["cl-a"].rtt_source, RttSource::kMeasured);
  EXPECT_DOUBLE_EQ(by_id["cl-a"].rtt_ms, 3.0);
  EXPECT_EQ(by_id["cl-b"].rtt_source, RttSource::kCoordinates);
  EXPECT_DOUBLE_EQ(by_id["cl-b"].rtt_ms, 8.0);
  EXPECT_EQ(by_id["cl-c"].rtt_source, RttSource::kGeo);
  // 4 ms access + 2 x 111.195 km x stretch 2 / 200 km per ms.
  EXPECT_NEAR(by_id["cl-c"].rtt_ms, 4 + 2 * 111.1951 * 2 / 200, 1e-3);
  EXPECT_EQ(by_id["cl-d"].rtt_source, RttSource::kDefault);
  EXPECT_DOUBLE_EQ(by_id["cl-d"].rtt_ms, 50.0);
}

TEST(EngineTest, WarmCloudletsCostNoProvisioningAndSuspectOnesPayAPenalty) {
  Engine engine({});
  auto susp = Cloudlet("cl-suspect", true);
  susp.suspect = true;
  auto fleet = BuildSnapshot({Cloudlet("cl-warm", false), susp});
  auto req = Request(60);
  req.client.rtt_ms = {{"cl-warm", 5.0}, {"cl-suspect", 5.0}};
  Reservations reserved;
  reserved.warm_rows = {0};
  auto r = engine.Rank(fleet, req, reserved, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->candidates[0].cloudlet_id, "cl-warm");
  EXPECT_EQ(r->candidates[0].provision_mode, ProvisionMode::kWarm);
  EXPECT_NEAR(r->candidates[0].cost_ms, 5.0 + kQueueMs, 1e-9);
  EXPECT_NEAR(r->candidates[1].cost_ms, 5.0 + kQueueMs + kOverlayS * 1000 / 600 + 20, 1e-9);
}

TEST(EngineTest, ReservationsSpreadPlacementsByCapacityWithoutOvercommitting) {
  Engine engine({});
  std::vector<CloudletState> cloudlets;
  for (int i = 0; i < 4; ++i) {
    auto c = Cloudlet("cl-" + std::to_string(i), true);
    c.cpu_capacity = c.free_cpu = 26'000;  // room for 25 one-core apps below saturation
    cloudlets.push_back(c);
  }
  auto fleet = BuildSnapshot(cloudlets);
  Reservations reserved{Eigen::ArrayXd::Zero(4), Eigen::ArrayXd::Zero(4), {}};
  std::map<std::string, int> placed;
  for (int n = 0; n < 100; ++n) {
    auto r = engine.Rank(fleet, Request(60), reserved, static_cast<uint64_t>(n));
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r->candidates.empty()) << "placement " << n << " found no room";
    const Candidate& best = r->candidates[0];
    reserved.cpu_millis[best.row] += 1000;
    reserved.mem_mb[best.row] += 1000;
    ++placed[best.cloudlet_id];
  }
  for (const auto& [id, count] : placed) EXPECT_EQ(count, 25) << id;
  // The 101st does not fit anywhere: every cloudlet would saturate.
  auto r = engine.Rank(fleet, Request(60), reserved, 101);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->candidates.empty());
  EXPECT_EQ(r->rejected["saturated"] + r->rejected["cpu"], 4);
  EXPECT_TRUE(r->fallback);
}

TEST(EngineTest, EqualCostsAreSharedFairlyAcrossSeeds) {
  Engine engine({});
  auto fleet = BuildSnapshot({Cloudlet("cl-a", true), Cloudlet("cl-b", true), Cloudlet("cl-c", true)});
  std::map<std::string, int> wins;
  for (uint64_t seed = 0; seed < 3000; ++seed) ++wins[engine.Rank(fleet, Request(60), {}, seed)->candidates[0].cloudlet_id];
  for (const auto& [id, n] : wins) EXPECT_NEAR(n, 1000, 150) << id;
  EXPECT_EQ(wins.size(), 3u);
}

TEST(EngineTest, BadRequestsNameTheField) {
  Engine engine({});
  auto fleet = BuildSnapshot({Cloudlet("cl-a", true)});
  auto field = [&](auto mutate) {
    auto req = Request(60);
    mutate(req);
    auto r = engine.Rank(fleet, req, {}, 1);
    return r.ok() ? std::string("<ok>") : r.status().field().value_or("<none>");
  };
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.base_vm = "md5:abc"; }), "app.base_vm");
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.overlay_mb = -1; }), "app.overlay_mb");
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.cpu_millis = -5; }), "app.cpu_millis");
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.isolation = "chroot"; }), "app.isolation");
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.service_ms = std::nan(""); }), "app.service_ms");
  EXPECT_EQ(field([](PlacementRequest& r) { r.k = 0; }), "k");
  EXPECT_EQ(field([](PlacementRequest& r) { r.k = 101; }), "k");
  EXPECT_EQ(field([](PlacementRequest& r) { r.client.rtt_ms["cl-a"] = -3; }), "client.rtt_ms.cl-a");
  EXPECT_EQ(field([](PlacementRequest& r) { r.app.name.clear(); }), "app.name");
}

TEST(EngineTest, EmptyFleetOffersOnlyTheCloud) {
  Engine engine({});
  auto r = engine.Rank(BuildSnapshot({}), Request(60), {}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->candidates.empty());
  EXPECT_TRUE(r->fallback);
}

// The vectorised ranking and the scalar model (cost_model.h) must never drift apart: over a varied
// fleet (geo, measured and default RTTs; loads; cached or not; warm; suspect; reservations), every
// candidate's figures equal what the scalar formulas give for that cloudlet.
TEST(EngineTest, EveryCandidatesCostIsTheScalarModels) {
  EngineParams params;
  params.geo.access_ms = 3;
  params.synthesis.launch_s = 1.5;
  const Engine engine(params);
  std::vector<CloudletState> states;
  for (int i = 0; i < 60; ++i) {
    CloudletState c = Cloudlet("cl-" + std::to_string(i), i % 3 == 0);
    if (i % 7 != 0) c.geo = common::GeoPoint{40.0 + 0.05 * i, -80.0 + 0.03 * (i % 11)};
    c.load = 0.01 * (i % 50);
    c.free_cpu = 16'000 - 200 * (i % 40);
    c.wan_mbps = 50.0 * (1 + i % 9);
    c.suspect = i % 13 == 5;
    states.push_back(c);
  }
  const FleetSnapshot fleet = BuildSnapshot(states);
  Reservations reserved;
  reserved.cpu_millis = Eigen::ArrayXd::Zero(60);
  reserved.mem_mb = Eigen::ArrayXd::Zero(60);
  for (int i = 0; i < 60; i += 4) reserved.cpu_millis[i] = 500;
  reserved.warm_rows = {10, 20};
  PlacementRequest req = Request(300);
  req.client.geo = common::GeoPoint{40.9, -79.8};
  req.client.rtt_ms = {{"cl-3", 2.5}, {"cl-12", 40.0}};
  req.k = 60;
  auto r = engine.Rank(fleet, req, reserved, 7);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_GT(r->candidates.size(), 40u);
  std::map<RttSource, int> sources;
  for (const Candidate& c : r->candidates) {
    const size_t i = static_cast<size_t>(c.row);
    const CloudletState& s = states[i];
    ++sources[c.rtt_source];
    const double rho = std::max(s.load, 1.0 - static_cast<double>(s.free_cpu) / static_cast<double>(s.cpu_capacity)) +
                       (static_cast<double>(req.app.cpu_millis) + reserved.cpu_millis[c.row]) / static_cast<double>(s.cpu_capacity);
    double rtt = params.default_rtt_ms;
    if (auto m = req.client.rtt_ms.find(s.id); m != req.client.rtt_ms.end()) {
      rtt = m->second;
    } else if (s.geo) {
      rtt = params.geo.RttMs(common::GreatCircleKm(*req.client.geo, *s.geo));
    }
    const ProvisionMode mode = (i == 10 || i == 20) ? ProvisionMode::kWarm
                               : i % 3 == 0         ? ProvisionMode::kOverlay
                                                    : ProvisionMode::kFull;
    const double provision_s = engine.ProvisionSeconds(mode, req.app, s.wan_mbps);
    const double queue_ms = *QueueMs(req.app.service_ms, rho);
    const double expected = CostMs(rtt, queue_ms, provision_s, req.app.req_rate_hz, req.app.session_s) +
                            (s.suspect ? params.suspect_penalty_ms : 0);
    EXPECT_EQ(c.provision_mode, mode) << s.id;
    EXPECT_NEAR(c.rtt_ms, rtt, 1e-9 * rtt) << s.id;
    EXPECT_NEAR(c.queue_ms, queue_ms, 1e-9 * queue_ms) << s.id;
    EXPECT_NEAR(c.provision_s, provision_s, 1e-12 + 1e-12 * provision_s) << s.id;
    EXPECT_NEAR(c.cost_ms, expected, 1e-9 * expected) << s.id;
  }
  EXPECT_EQ(sources[RttSource::kMeasured], 2);
  EXPECT_GT(sources[RttSource::kGeo], 30);
  EXPECT_GT(sources[RttSource::kDefault], 3);
}

}  // namespace
}  // namespace cloudlet::placement
