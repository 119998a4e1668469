#include <gtest/gtest.h>

#include <random>

#include "cloudlet/discovery/registry.h"
#include "discovery/test_descriptors.h"

namespace cloudlet::discovery {
namespace {

using common::ManualClock;
using std::chrono::milliseconds;
using testing::Digest;
using testing::MakeDescriptor;

class RegistryTest : public ::testing::Test {
 protected:
  // Interval 5 s: suspect after 7.5 s of silence; TTL 15 s; purged 60 s after that.
  RegistryOptions options_{milliseconds(5'000), milliseconds(15'000), milliseconds(60'000)};
  ManualClock clock_{common::FromUnixMillis(1'000'000)};
  Registry registry_{clock_, options_};

  Health HealthOf(const std::string& id) { return registry_.Get(id)->health; }
  void Advance(int64_t ms) {
    clock_.Advance(milliseconds(ms));
    registry_.UpdateHealth();
  }
};

// Records another registry wrote (a shared store): new ones and visible changes move the index and
// are never marked dirty here; a newer time alone does not; older news is ignored.
TEST_F(RegistryTest, FollowedRecordsMoveTheIndexOnlyWhenSomethingVisibleChanged) {
  CloudletRecord r;
  r.descriptor = MakeDescriptor("cl-far");
  r.load = 0.2;
  r.free = {1'000, 2'000};
  r.registered_at = r.last_heartbeat = clock_.Now();
  const uint64_t start = registry_.index();
  EXPECT_TRUE(registry_.Follow(r));
  EXPECT_EQ(registry_.index(), start + 1);
  EXPECT_EQ(HealthOf("cl-far"), Health::kHealthy);
  EXPECT_TRUE(registry_.TakeDirty().empty());
  r.last_heartbeat += milliseconds(1'000);  // the same figures, a second later
  EXPECT_TRUE(registry_.Follow(r));
  EXPECT_EQ(registry_.index(), start + 1);
  r.load = 0.6;
  EXPECT_TRUE(registry_.Follow(r));
  EXPECT_EQ(registry_.index(), start + 2);
  EXPECT_DOUBLE_EQ(registry_.Get("cl-far")->load, 0.6);
  CloudletRecord older = r;
  older.last_heartbeat -= milliseconds(5'000);
  older.load = 0.1;
  EXPECT_FALSE(registry_.Follow(older));
  EXPECT_DOUBLE_EQ(registry_.Get("cl-far")->load, 0.6);
  // Its health follows the heartbeat it carries (a second ahead of this clock): 9 s on, suspect.
  Advance(9'000);
  EXPECT_EQ(HealthOf("cl-far"), Health::kSuspect);
}

TEST_F(RegistryTest, OptionsNeedTtlBeyondTheSuspectThreshold) {
  EXPECT_TRUE(options_.Validate().ok());
  const RegistryOptions short_ttl{milliseconds(5'000), milliseconds(7'000), milliseconds(0)};
  const RegistryOptions no_interval{milliseconds(0), milliseconds(7'000), milliseconds(0)};
  EXPECT_EQ(*short_ttl.Validate().field(), "heartbeat_ttl");
  EXPECT_EQ(*no_interval.Validate().field(), "heartbeat_interval");
}

TEST_F(RegistryTest, HealthMovesFromHealthyToSuspectToExpiredThenPurged) {
  EXPECT_EQ(registry_.Put(MakeDescriptor("cl-a")), PutOutcome::kCreated);
  EXPECT_EQ(HealthOf("cl-a"), Health::kHealthy);
  Advance(7'500);
  EXPECT_EQ(HealthOf("cl-a"), Health::kHealthy);  // exactly 1.5 intervals: not yet
  Advance(1);
  EXPECT_EQ(HealthOf("cl-a"), Health::kSuspect);
  Advance(15'000 - 7'501);
  EXPECT_EQ(HealthOf("cl-a"), Health::kSuspect);
  Advance(1);
  EXPECT_EQ(HealthOf("cl-a"), Health::kExpired);
  EXPECT_TRUE(registry_.TakePurged().empty());
  Advance(60'000);
  EXPECT_EQ(registry_.TakePurged(), std::vector<std::string>{"cl-a"});
  EXPECT_FALSE(registry_.Contains("cl-a"));
}

TEST_F(RegistryTest, HeartbeatRevivesAndUnknownIdIsNotFound) {
  registry_.Put(MakeDescriptor("cl-a"));
  Advance(20'000);
  EXPECT_EQ(HealthOf("cl-a"), Health::kExpired);
  EXPECT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.2}).ok());
  EXPECT_EQ(HealthOf("cl-a"), Health::kHealthy);
  EXPECT_EQ(registry_.Heartbeat("cl-zz", {.load = 0.2}).code(), common::StatusCode::kNotFound);
}

TEST_F(RegistryTest, RestoredRecordsStaySuspectUntilTheyHeartbeat) {
  CloudletRecord stored;
  stored.descriptor = MakeDescriptor("cl-a");
  stored.last_heartbeat = common::FromUnixMillis(5);  // long ago
  registry_.Restore({stored}, 41);
  EXPECT_GT(registry_.index(), 41u);
  EXPECT_EQ(HealthOf("cl-a"), Health::kSuspect);
  Advance(1'000);
  EXPECT_EQ(HealthOf("cl-a"), Health::kSuspect);  // TTL counts from the restart, not the old heartbeat
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.1}).ok());
  EXPECT_EQ(HealthOf("cl-a"), Health::kHealthy);
  Advance(15'001);
  EXPECT_EQ(HealthOf("cl-a"), Health::kExpired);
}

TEST_F(RegistryTest, HeartbeatUpdatesLoadFreeAndCache) {
  registry_.Put(MakeDescriptor("cl-a"));
  Heartbeat hb{.load = 0.75, .free = FreeCapacity{4'000, 1'024}, .cache = {}};
  hb.cache.added = {{Digest('b'), 100}};
  hb.cache.removed = {Digest('a')};
  ASSERT_TRUE(registry_.Heartbeat("cl-a", hb).ok());
  auto r = registry_.Get("cl-a");
  EXPECT_DOUBLE_EQ(r->load, 0.75);
  EXPECT_EQ(r->free.cpu_millis, 4'000);
  ASSERT_EQ(r->descriptor.base_vms.size(), 1u);
  EXPECT_EQ(r->descriptor.base_vms[0].digest, Digest('b'));
}

TEST_F(RegistryTest, RejectsHeartbeatClaimingMoreFreeThanCapacityAndChangesNothing) {
  registry_.Put(MakeDescriptor("cl-a"));
  const uint64_t before = registry_.index();
  auto s = registry_.Heartbeat("cl-a", {.load = 0.5, .free = FreeCapacity{99'999, 1}});
  EXPECT_EQ(*s.field(), "free.cpu_millis");
  EXPECT_EQ(registry_.index(), before);
  EXPECT_DOUBLE_EQ(registry_.Get("cl-a")->load, 0);
}

TEST_F(RegistryTest, IndexMovesOnlyOnVisibleChanges) {
  registry_.Put(MakeDescriptor("cl-a"));
  const uint64_t i0 = registry_.index();
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.5}).ok());
  const uint64_t i1 = registry_.index();
  EXPECT_GT(i1, i0);
  clock_.Advance(milliseconds(1'000));
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.5}).ok());  // same values: only the time moved
  EXPECT_EQ(registry_.index(), i1);
  EXPECT_EQ(registry_.Get("cl-a")->modify_index, i1);
  EXPECT_EQ(registry_.Get("cl-a")->last_heartbeat, clock_.Now());
  EXPECT_TRUE(registry_.Remove("cl-a"));
  EXPECT_GT(registry_.index(), i1);
  EXPECT_FALSE(registry_.Remove("cl-a"));
}

TEST_F(RegistryTest, ReplacingKeepsRegistrationTimeAndClampsFree) {
  registry_.Put(MakeDescriptor("cl-a"));
  const auto registered = registry_.Get("cl-a")->registered_at;
  clock_.Advance(milliseconds(2'000));
  auto smaller = MakeDescriptor("cl-a");
  smaller.capacity.cpu_millis = 1'000;
  EXPECT_EQ(registry_.Put(smaller), PutOutcome::kReplaced);
  auto r = registry_.Get("cl-a");
  EXPECT_EQ(r->registered_at, registered);
  EXPECT_EQ(r->free.cpu_millis, 1'000);
}

TEST_F(RegistryTest, WatchFiresOnceWhenTheIndexPasses) {
  registry_.Put(MakeDescriptor("cl-a"));
  int fired = 0;
  const uint64_t now = registry_.index();
  const auto id = registry_.Watch(now, [&] { ++fired; });
  EXPECT_NE(id, 0u);
  EXPECT_EQ(fired, 0);
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.9}).ok());
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.1}).ok());
  EXPECT_EQ(fired, 1);
  EXPECT_FALSE(registry_.CancelWatch(id));
}

TEST_F(RegistryTest, WatchOnAnOldIndexFiresAtOnceAndCancelledWatchNever) {
  registry_.Put(MakeDescriptor("cl-a"));
  int fired = 0;
  EXPECT_EQ(registry_.Watch(0, [&] { ++fired; }), 0u);
  EXPECT_EQ(fired, 1);
  const auto id = registry_.Watch(registry_.index(), [&] { fired += 10; });
  EXPECT_TRUE(registry_.CancelWatch(id));
  registry_.Put(MakeDescriptor("cl-b"));
  EXPECT_EQ(fired, 1);
  registry_.Watch(registry_.index(), [&] { fired += 100; });
  registry_.FireAllWatches();
  EXPECT_EQ(fired, 101);
}

TEST_F(RegistryTest, HealthTransitionsWakeWatchers) {
  registry_.Put(MakeDescriptor("cl-a"));
  bool fired = false;
  registry_.Watch(registry_.index(), [&] { fired = true; });
  Advance(7'000);
  EXPECT_FALSE(fired);
  Advance(1'000);
  EXPECT_TRUE(fired);
}

TEST_F(RegistryTest, ListFiltersByStateBaseVmAndSortsByDistance) {
  auto far = MakeDescriptor("cl-far", 42.36, -71.06);  // Boston
  far.base_vms = {{Digest('c'), 100}};
  registry_.Put(MakeDescriptor("cl-near", 40.44, -79.94));  // Pittsburgh
  registry_.Put(far);
  auto nowhere = MakeDescriptor("cl-nowhere");
  nowhere.geo.reset();
  registry_.Put(nowhere);
  Advance(8'000);
  ASSERT_TRUE(registry_.Heartbeat("cl-far", {.load = 0.1}).ok());

  auto ids = [](const ListResult& r) {
    std::vector<std::string> out;
    for (const auto& e : r.entries) out.push_back(e.record.descriptor.id);
    return out;
  };
  EXPECT_EQ(ids(registry_.List({})), (std::vector<std::string>{"cl-far", "cl-near", "cl-nowhere"}));
  EXPECT_EQ(ids(registry_.List({.state = Health::kHealthy})), std::vector<std::string>{"cl-far"});
  EXPECT_EQ(ids(registry_.List({.state = Health::kSuspect})), (std::vector<std::string>{"cl-near", "cl-nowhere"}));
  EXPECT_EQ(ids(registry_.List({.base_vm = Digest('c')})), std::vector<std::string>{"cl-far"});
  EXPECT_EQ(ids(registry_.List({.base_vm = std::string(12, 'a')})), (std::vector<std::string>{"cl-near", "cl-nowhere"}));

  auto near = registry_.List({.near = common::GeoPoint{40.0, -80.0}});
  EXPECT_EQ(ids(near), (std::vector<std::string>{"cl-near", "cl-far", "cl-nowhere"}));
  EXPECT_LT(*near.entries[0].distance_km, *near.entries[1].distance_km);
  EXPECT_FALSE(near.entries[2].distance_km.has_value());
  EXPECT_EQ(ids(registry_.List({.near = common::GeoPoint{42.0, -71.0}, .limit = 1})),
            std::vector<std::string>{"cl-far"});
  EXPECT_EQ(ids(registry_.List({.limit = 2})), (std::vector<std::string>{"cl-far", "cl-near"}));
}

// `near` with a limit goes through the spatial index: its answer must be the first `limit` of the
// full sort (same records, distances and order; cloudlets without geo last), with filters, after
// cloudlets join, move and leave, and for duplicate positions (ties by id).
TEST_F(RegistryTest, NearestWithLimitEqualsTheFullSort) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  auto put = [&](int i) {
    auto d = MakeDescriptor("cl-" + std::to_string(i), 25 + 24 * u(rng), -124 + 57 * u(rng));
    if (i % 5 == 0) d.geo = common::GeoPoint{40.44, -79.94};  // many at one spot
    if (i % 50 == 7) d.geo.reset();
    if (i % 3 == 0) d.base_vms = {{Digest('c'), 100}};
    registry_.Put(d);
  };
  for (int i = 0; i < 3000; ++i) put(i);
  Advance(8'000);  // all suspect; a third heartbeats back to healthy
  for (int i = 0; i < 3000; i += 3) ASSERT_TRUE(registry_.Heartbeat("cl-" + std::to_string(i), {.load = 0.1}).ok());

  auto check = [&](const ListFilter& filter, const std::string& where) {
    ListFilter all = filter;
    all.limit.reset();
    auto full = registry_.List(all);
    auto fast = registry_.List(filter);
    full.entries.resize(std::min(full.entries.size(), *filter.limit));
    ASSERT_EQ(fast.entries.size(), full.entries.size()) << where;
    for (size_t i = 0; i < full.entries.size(); ++i) {
      EXPECT_EQ(fast.entries[i].record.descriptor.id, full.entries[i].record.descriptor.id) << where << " #" << i;
      EXPECT_EQ(fast.entries[i].distance_km, full.entries[i].distance_km) << where << " #" << i;
      EXPECT_EQ(fast.entries[i].record.modify_index, full.entries[i].record.modify_index) << where << " #" << i;
    }
    EXPECT_EQ(fast.index, full.index) << where;
  };
  for (int round = 0; round < 3; ++round) {
    for (int q = 0; q < 60; ++q) {
      ListFilter f{.near = common::GeoPoint{-60 + 130 * u(rng), -180 + 360 * u(rng)},
                   .limit = static_cast<size_t>(1 + u(rng) * 40)};
      if (q % 4 == 1) f.near = common::GeoPoint{40.44, -79.94};
      if (q % 5 == 2) f.state = Health::kHealthy;
      if (q % 7 == 3) f.base_vm = Digest('c');
      if (q == 59) f.limit = 3000;  // past the cloudlets with geo: the rest follow by id
      check(f, "round " + std::to_string(round) + " query " + std::to_string(q));
    }
    // Cloudlets move, join and leave: the index follows.
    for (int i = 0; i < 200; ++i) put(static_cast<int>(u(rng) * 3500));
    for (int i = 0; i < 100; ++i) registry_.Remove("cl-" + std::to_string(static_cast<int>(u(rng) * 3500)));
  }
}

TEST_F(RegistryTest, DirtyRecordsAreHandedOutOnce) {
  registry_.Put(MakeDescriptor("cl-a"));
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.3}).ok());
  auto dirty = registry_.TakeDirty();
  ASSERT_EQ(dirty.size(), 1u);
  EXPECT_DOUBLE_EQ(dirty[0].load, 0.3);
  EXPECT_TRUE(registry_.TakeDirty().empty());
  registry_.MarkDirty({"cl-a", "cl-unknown"});
  EXPECT_EQ(registry_.TakeDirty().size(), 1u);
}

TEST_F(RegistryTest, MembershipIndexIgnoresLoadButNotJoinsLeavesOrHealth) {
  registry_.Put(MakeDescriptor("cl-a"));
  const uint64_t m0 = registry_.membership_index();
  ASSERT_TRUE(registry_.Heartbeat("cl-a", {.load = 0.7}).ok());
  EXPECT_EQ(registry_.membership_index(), m0);  // a load change alone
  Advance(8'000);                                // healthy -> suspect
  const uint64_t m1 = registry_.membership_index();
  EXPECT_GT(m1, m0);
  registry_.Put(MakeDescriptor("cl-b"));
  EXPECT_GT(registry_.membership_index(), m1);
  const uint64_t m2 = registry_.membership_index();
  EXPECT_TRUE(registry_.Remove("cl-b"));
  EXPECT_GT(registry_.membership_index(), m2);
}

TEST_F(RegistryTest, CountsByHealth) {
  registry_.Put(MakeDescriptor("cl-a"));
  registry_.Put(MakeDescriptor("cl-b"));
  Advance(8'000);
  ASSERT_TRUE(registry_.Heartbeat("cl-b", {.load = 0}).ok());
  auto counts = registry_.CountByHealth();
  EXPECT_EQ(counts[Health::kHealthy], 1u);
  EXPECT_EQ(counts[Health::kSuspect], 1u);
  EXPECT_EQ(counts[Health::kExpired], 0u);
}

}  // namespace
}  // namespace cloudlet::discovery
