#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>

#include "cloudlet/placement/placement_service.h"

namespace cloudlet::placement {
namespace {

using std::chrono::milliseconds;

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

// Fakes at our own seams: a fixed fleet and an in-memory store that can be told to fail.
class FixedFleet final : public FleetSource {
 public:
  explicit FixedFleet(std::vector<CloudletState> cloudlets) {
    view_.snapshot = std::make_shared<const FleetSnapshot>(BuildSnapshot(cloudlets));
    view_.last_heartbeat = std::make_shared<const std::vector<common::TimePoint>>(cloudlets.size(), common::FromUnixMillis(0));
  }
  const View& Current() override { return view_; }

 private:
  View view_;
};

class MemoryStore final : public PlacementStore {
 public:
  common::Result<std::vector<Placement>> LoadActive() override {
    std::lock_guard lock(mu);
    std::vector<Placement> out;
    for (const auto& [id, p] : rows) out.push_back(p);
    return out;
  }
  common::Status PutActive(const Placement& p) override {
    std::lock_guard lock(mu);
    if (fail) return common::Status::Unavailable("disk full");
    rows[p.id] = p;
    return common::Status::Ok();
  }
  common::Status Remove(const std::string& id) override {
    std::lock_guard lock(mu);
    if (fail) return common::Status::Unavailable("disk full");
    rows.erase(id);
    return common::Status::Ok();
  }
  std::mutex mu;
  std::map<std::string, Placement> rows;
  bool fail = false;
};

CloudletState Cloudlet(const std::string& id, int64_t cpu) {
  CloudletState c;
  c.id = id;
  c.endpoint = "http://" + id;
  c.cpu_capacity = c.free_cpu = cpu;
  c.mem_capacity = c.free_mem = 1'000'000;
  c.wan_mbps = 1000;
  c.base_vms = {Digest('a')};
  return c;
}

PlacementRequest Request() {
  PlacementRequest r;
  r.app = {.name = "game", .base_vm = Digest('a'), .base_vm_mb = 4000, .overlay_mb = 100, .cpu_millis = 1000,
           .mem_mb = 512, .isolation = "vm", .service_ms = 5, .req_rate_hz = 20, .session_s = 600, .max_rtt_ms = 0};
  r.client.id = "phone";
  return r;
}

common::Result<Placement> Wait(std::function<void(PlacementService::Done)> call) {
  std::promise<common::Result<Placement>> done;
  call([&](common::Result<Placement> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

WorkloadReport Running(const std::string& endpoint) {
  WorkloadReport r;
  r.state = PlacementState::kRunning;
  r.endpoint = endpoint;
  return r;
}

class PlacementServiceTest : public ::testing::Test {
 protected:
  void Make(std::vector<CloudletState> fleet) {
    fleet_ = std::make_unique<FixedFleet>(std::move(fleet));
    service_ = std::make_unique<PlacementService>(clock_, Engine({}), MigrationAdvisor({}), *fleet_, store_, coords_,
                                                  PlacementOptions{.lease = milliseconds(30'000)});
    ASSERT_TRUE(service_->Start().ok());
  }
  common::ManualClock clock_{common::FromUnixMillis(1'000'000)};
  MemoryStore store_;
  Vivaldi coords_;
  std::unique_ptr<FixedFleet> fleet_;
  std::unique_ptr<PlacementService> service_;
};

TEST_F(PlacementServiceTest, HundredConcurrentPlacementsSpreadByCapacity) {
  // Room below saturation: 40, 30, 20 and 10 one-core apps.
  Make({Cloudlet("cl-40", 41'000), Cloudlet("cl-30", 31'000), Cloudlet("cl-20", 21'000), Cloudlet("cl-10", 11'000)});
  std::mutex mu;
  std::map<std::string, int> placed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 10; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = service_->Place("tenant-a", Request());
        ASSERT_TRUE(r.ok());
        ASSERT_TRUE(r->placement.has_value()) << "no room for a placement that fits";
        std::lock_guard lock(mu);
        ++placed[r->placement->cloudlet_id];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(placed, (std::map<std::string, int>{{"cl-40", 40}, {"cl-30", 30}, {"cl-20", 20}, {"cl-10", 10}}));
  auto more = service_->Place("tenant-a", Request());
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(more->placement.has_value());
  EXPECT_TRUE(more->ranking.fallback);
}

TEST_F(PlacementServiceTest, UnconfirmedLeaseExpiresAndItsCapacityReturns) {
  Make({Cloudlet("cl-small", 1'500)});  // room for one app (two would saturate it)
  auto first = service_->Place("tenant-a", Request());
  ASSERT_TRUE(first->placement.has_value());
  EXPECT_FALSE(service_->Place("tenant-a", Request())->placement.has_value());
  clock_.Advance(milliseconds(29'999));
  EXPECT_FALSE(service_->Place("tenant-a", Request())->placement.has_value());
  clock_.Advance(milliseconds(1));
  auto second = service_->Place("tenant-a", Request());
  ASSERT_TRUE(second->placement.has_value());
  EXPECT_EQ(service_->Get("tenant-a", first->placement->id)->state, PlacementState::kExpired);
  auto late = Wait([&](auto done) { service_->Confirm("tenant-a", first->placement->id, done); });
  EXPECT_EQ(late.status().code(), common::StatusCode::kFailedPrecondition);
}

TEST_F(PlacementServiceTest, ConfirmedPlacementsAreStoredKeepTheirCapacityAndSurviveRestart) {
  Make({Cloudlet("cl-small", 1'500)});
  auto p = service_->Place("tenant-a", Request());
  const std::string id = p->placement->id;
  auto confirmed = Wait([&](auto done) { service_->Confirm("tenant-a", id, done); });
  ASSERT_TRUE(confirmed.ok()) << confirmed.status().ToString();
  EXPECT_EQ(confirmed->state, PlacementState::kActive);
  EXPECT_EQ(store_.rows.count(id), 1u);
  clock_.Advance(milliseconds(60'000));  // leases do not apply to active placements
  EXPECT_EQ(service_->Get("tenant-a", id)->state, PlacementState::kActive);
  EXPECT_FALSE(service_->Place("tenant-b", Request())->placement.has_value());

  service_->Stop();
  Make({Cloudlet("cl-small", 1'500)});  // a restart: the store is reloaded
  EXPECT_EQ(service_->Get("tenant-a", id)->state, PlacementState::kActive);
  auto released = Wait([&](auto done) { service_->Release("tenant-a", id, done); });
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(store_.rows.count(id), 0u);
  EXPECT_TRUE(service_->Place("tenant-b", Request())->placement.has_value());
}

TEST_F(PlacementServiceTest, OwnersSeeOnlyTheirOwnPlacements) {
  Make({Cloudlet("cl-a", 16'000)});
  auto p = service_->Place("tenant-a", Request());
  const std::string id = p->placement->id;
  EXPECT_EQ(service_->Get("tenant-b", id).status().code(), common::StatusCode::kNotFound);
  EXPECT_TRUE(service_->Get("", id).ok());  // operators see all
  EXPECT_EQ(Wait([&](auto d) { service_->Release("tenant-b", id, d); }).status().code(), common::StatusCode::kNotFound);
  EXPECT_EQ(service_->Get("tenant-a", "pl-0000000000000000").status().code(), common::StatusCode::kNotFound);
}

TEST_F(PlacementServiceTest, FailedStoreWriteLeavesThePlacementReserved) {
  Make({Cloudlet("cl-a", 16'000)});
  auto p = service_->Place("tenant-a", Request());
  store_.fail = true;
  auto r = Wait([&](auto done) { service_->Confirm("tenant-a", p->placement->id, done); });
  EXPECT_EQ(r.status().code(), common::StatusCode::kUnavailable);
  EXPECT_EQ(service_->Get("tenant-a", p->placement->id)->state, PlacementState::kReserved);
  EXPECT_TRUE(store_.rows.empty());
}

TEST_F(PlacementServiceTest, SecondPlacementOfTheSameAppIsWarmWhereTheFirstRuns) {
  Make({Cloudlet("cl-a", 16'000), Cloudlet("cl-b", 16'000)});
  // A short, sparse session: 3.1 s of synthesis over 60 requests is 51 ms each, so warm matters.
  auto req = Request();
  req.app.req_rate_hz = 1;
  req.app.session_s = 60;
  auto first = service_->Place("tenant-a", req);
  ASSERT_TRUE(Wait([&](auto d) { service_->Confirm("tenant-a", first->placement->id, d); }).ok());
  auto second = service_->Place("tenant-a", req);
  EXPECT_EQ(second->placement->cloudlet_id, first->placement->cloudlet_id);
  EXPECT_EQ(second->ranking.candidates[0].provision_mode, ProvisionMode::kWarm);
  auto other_tenant = service_->Place("tenant-b", req);
  EXPECT_EQ(other_tenant->ranking.candidates[0].provision_mode, ProvisionMode::kOverlay);
}

TEST_F(PlacementServiceTest, LocationAdvisesMigrationWhenTheUserMovesFarAway) {
  auto west = Cloudlet("cl-pgh", 16'000), east = Cloudlet("cl-bos", 16'000);
  west.geo = common::GeoPoint{40.44, -79.94};
  east.geo = common::GeoPoint{42.36, -71.06};
  Make({west, east});
  auto req = Request();
  req.client.geo = common::GeoPoint{40.44, -79.94};
  req.app.session_s = 3600;
  auto p = service_->Place("tenant-a", req);
  ASSERT_EQ(p->placement->cloudlet_id, "cl-pgh");
  ASSERT_TRUE(Wait([&](auto d) { service_->Confirm("tenant-a", p->placement->id, d); }).ok());

  auto nearby = service_->Location("tenant-a", p->placement->id, {common::GeoPoint{40.45, -79.95}, {}});
  ASSERT_TRUE(nearby.ok());
  EXPECT_FALSE(nearby->advice.migrate) << nearby->advice.reason;
  auto boston = service_->Location("tenant-a", p->placement->id, {common::GeoPoint{42.36, -71.06}, {}});
  ASSERT_TRUE(boston.ok());
  EXPECT_TRUE(boston->advice.migrate) << boston->advice.reason;
  EXPECT_EQ(boston->advice.target, "cl-bos");
  EXPECT_GT(boston->advice.gain_per_request_ms, 10);
}

TEST_F(PlacementServiceTest, APlacementThatReplacesAnotherKeepsItsNameWhichResolvesToTheNewestRunning) {
  Make({Cloudlet("cl-a", 16'000), Cloudlet("cl-b", 16'000)});
  auto first = service_->Place("tenant-a", Request());
  ASSERT_TRUE(first.ok() && first->placement);
  const std::string id = first->placement->id;
  EXPECT_EQ(first->placement->name, id);
  ASSERT_TRUE(Wait([&](auto d) { service_->Confirm("tenant-a", id, d); }).ok());
  EXPECT_FALSE(service_->RunningByName(id).has_value());  // not running yet
  ASSERT_TRUE(Wait([&](auto d) { service_->Report("", id, Running("10.0.0.1:30001"), d); }).ok());
  ASSERT_TRUE(service_->RunningByName(id).has_value());
  EXPECT_EQ(service_->RunningByName(id)->endpoint, "10.0.0.1:30001");

  // Another tenant cannot take the name over; an unknown id is named in the error.
  PlacementRequest hijack = Request();
  hijack.replaces = id;
  auto refused = service_->Place("tenant-b", hijack);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().field(), "replaces");

  clock_.Advance(milliseconds(10));
  auto second = service_->Place("tenant-a", hijack);
  ASSERT_TRUE(second.ok() && second->placement);
  const std::string next = second->placement->id;
  EXPECT_NE(next, id);
  EXPECT_EQ(second->placement->name, id);
  ASSERT_TRUE(Wait([&](auto d) { service_->Confirm("tenant-a", next, d); }).ok());
  // Both live, only the old one running: the name still points at it.
  EXPECT_EQ(service_->RunningByName(id)->id, id);
  ASSERT_TRUE(Wait([&](auto d) { service_->Report("", next, Running("10.0.0.2:30002"), d); }).ok());
  EXPECT_EQ(service_->RunningByName(id)->id, next);  // the newest running wins
  ASSERT_TRUE(Wait([&](auto d) { service_->Release("tenant-a", id, d); }).ok());
  EXPECT_EQ(service_->RunningByName(id)->endpoint, "10.0.0.2:30002");
  EXPECT_FALSE(service_->RunningByName(next).has_value());  // the new id is no name of its own
  ASSERT_TRUE(Wait([&](auto d) { service_->Release("tenant-a", next, d); }).ok());
  EXPECT_FALSE(service_->RunningByName(id).has_value());
}

}  // namespace
}  // namespace cloudlet::placement
