// The registry as the engine's fleet: when a snapshot is rebuilt.
#include "cloudlet/server/fleet_source.h"

#include <gtest/gtest.h>

#include "discovery/test_descriptors.h"

namespace cloudlet::server {
namespace {

using namespace std::chrono_literals;

struct Fixture {
  common::ManualClock clock{common::FromUnixMillis(1'000'000)};
  discovery::Registry registry{clock, {}};
};

TEST(RegistryFleetSourceTest, AJoiningCloudletIsInTheNextViewAtOnce) {
  Fixture f;
  f.registry.Put(testing::MakeDescriptor("cl-a"));
  RegistryFleetSource fleet(f.registry, f.clock);
  EXPECT_EQ(fleet.Current().snapshot->size(), 1u);
  f.registry.Put(testing::MakeDescriptor("cl-b"));
  EXPECT_EQ(fleet.Current().snapshot->size(), 2u);  // a small fleet rebuilds cheaply: no waiting
}

// Where a rebuild is costly (here: every rebuild counts as costly), a change waits until ten times
// the last build's duration has passed, and then shows.
TEST(RegistryFleetSourceTest, CostlyRebuildsWaitTenTimesTheirDuration) {
  Fixture f;
  for (int i = 0; i < 50; ++i) f.registry.Put(testing::MakeDescriptor("cl-" + std::to_string(i)));
  RegistryFleetSource fleet(f.registry, f.clock, common::Millis(100), nullptr, /*costly_build=*/0us);
  EXPECT_EQ(fleet.Current().snapshot->size(), 50u);
  f.registry.Put(testing::MakeDescriptor("cl-new"));
  EXPECT_EQ(fleet.Current().snapshot->size(), 50u);  // the clock has not moved: the old view stands
  f.clock.Advance(10s);
  EXPECT_EQ(fleet.Current().snapshot->size(), 51u);
}

}  // namespace
}  // namespace cloudlet::server
