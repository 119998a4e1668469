#include "cloudlet/discovery/lan.h"

#include <gtest/gtest.h>

namespace cloudlet::discovery {
namespace {

ServiceEvent Resolved(const std::string& name, const std::string& id, int load, uint64_t seq) {
  Advert a;
  a.id = id;
  a.cpu_free_millis = 1000;
  a.cpu_total_millis = 2000;
  a.mem_free_mb = 100;
  a.mem_total_mb = 200;
  a.load_percent = load;
  a.isolation = {"vm"};
  a.seq = seq;
  ServiceInstance s{.interface = "eth0", .protocol = "IPv4", .name = name, .type = kCloudletServiceType,
                    .domain = "local", .host = name + ".local", .address = "10.0.0.1", .port = 8471};
  return {ServiceEvent::Kind::kResolved, s, EncodeTxt(a)};
}

TEST(LanTable, AddsUpdatesAndRemovesInstances) {
  common::ManualClock clock(common::TimePoint{});
  LanTable table(clock);
  table.Apply(Resolved("b", "cl-b", 10, 1));
  table.Apply(Resolved("a", "cl-a", 20, 1));
  auto rows = table.Snapshot();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].instance.name, "a");  // sorted by name

  const uint64_t before = table.version();
  table.Apply(Resolved("a", "cl-a", 80, 2));
  EXPECT_GT(table.version(), before);
  EXPECT_EQ(table.Snapshot()[0].advert.load_percent, 80);

  ServiceEvent gone = Resolved("a", "cl-a", 80, 2);
  gone.kind = ServiceEvent::Kind::kRemoved;
  gone.txt.clear();
  table.Apply(gone);
  rows = table.Snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].advert.id, "cl-b");
}

TEST(LanTable, TheSameRecordAgainIsNotAChange) {
  common::ManualClock clock(common::TimePoint{});
  LanTable table(clock);
  table.Apply(Resolved("a", "cl-a", 20, 1));
  const uint64_t v = table.version();
  table.Apply(Resolved("a", "cl-a", 20, 1));
  EXPECT_EQ(table.version(), v);
}

TEST(LanTable, AHostileRecordIsDroppedAndRemovesTheEarlierEntry) {
  common::ManualClock clock(common::TimePoint{});
  LanTable table(clock);
  table.Apply(Resolved("a", "cl-a", 20, 1));
  table.Apply(Resolved("b", "cl-b", 20, 1));
  ServiceEvent hostile = Resolved("a", "cl-a", 20, 2);
  hostile.txt = {"txtvers=1", "id=cl-a", "cpu=NaN/2000"};
  table.Apply(hostile);
  ServiceEvent junk = Resolved("c", "cl-c", 20, 1);
  junk.txt = {std::string(255, '\xff'), "", "="};
  table.Apply(junk);
  const auto rows = table.Snapshot();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].advert.id, "cl-b");
  EXPECT_EQ(table.rejected(), 2u);
}

TEST(LanTable, WaitForChangeReturnsOnceSomethingChanged) {
  common::ManualClock clock(common::TimePoint{});
  LanTable table(clock);
  const uint64_t v = table.version();
  EXPECT_EQ(table.WaitForChange(v, std::chrono::milliseconds(1)), v);  // nothing happened
  table.Apply(Resolved("a", "cl-a", 20, 1));
  EXPECT_NE(table.WaitForChange(v, std::chrono::milliseconds(1)), v);
}

}  // namespace
}  // namespace cloudlet::discovery
