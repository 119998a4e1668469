// The meter on a manual clock, a fake runtime whose counters the test sets, and a spool in memory:
// records cover every stretch of a workload's life once, across restarts and spool failures.
#include "cloudlet/agent/meter.h"

#include <gtest/gtest.h>

#include "cloudlet/common/time_format.h"
#include "cloudlet/metering/usage.h"
#include "support/fake_runtime.h"
#include "support/memory_spool.h"

namespace cloudlet::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int64_t kT0 = 1'790'000'000'000;  // a reading's time, on a 10 s boundary

class MeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_.Hold("app:1");
    runtime_.SetStartTime(kT0 - 2000);  // started 2 s before the first reading
    ASSERT_TRUE(runtime_.Start({.placement_id = "pl-a", .tenant = "acme", .image = "app:1", .port = 8080}).ok());
  }

  std::unique_ptr<Meter> NewMeter() {
    auto m = std::make_unique<Meter>(
        MeterOptions{.cloudlet_id = "cl-a", .interval = 10s, .on_records = [this] { ++woken_; },
                     .on_live = [this](const std::vector<LiveUsage>& l) { live_ = l; }},
        runtime_, spool_, clock_);
    EXPECT_TRUE(m->Load().ok());
    return m;
  }
  void At(int64_t ms_after_t0, WorkloadStats counters) {
    clock_.Set(common::FromUnixMillis(kT0 + ms_after_t0));
    runtime_.SetStats("pl-a", counters);
  }
  // pl-a's records, oldest first, checked to follow each other with neither gap nor overlap.
  std::vector<json> Records() {
    std::vector<json> out;
    for (const auto& [id, body] : spool_.records_) out.push_back(body);
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) { return a["start"] < b["start"]; });
    for (size_t i = 1; i < out.size(); ++i) EXPECT_EQ(out[i]["start"], out[i - 1]["end"]) << "a gap or an overlap";
    return out;
  }
  static double Cpu(const json& r) { return r["quantities"]["cpu_core_s"].get<double>(); }

  common::ManualClock clock_{common::FromUnixMillis(kT0)};
  testing::FakeRuntime runtime_;
  testing::MemorySpool spool_;
  int woken_ = 0;
  std::vector<LiveUsage> live_;
};

TEST_F(MeterTest, EachReadingRecordsWhatChangedSinceTheLastForTheWorkloadsTenant) {
  auto meter = NewMeter();
  At(0, {.cpu_s = 1.5, .mem_bytes = 100 << 20, .net_in_bytes = 1000, .net_out_bytes = 500});
  meter->Read();
  At(10'000, {.cpu_s = 6.5, .mem_bytes = 300 << 20, .net_in_bytes = 3000, .net_out_bytes = 4500});
  meter->Read();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  // The first covers the workload's life from its start.
  EXPECT_EQ(records[0]["start"], common::FormatRfc3339(common::FromUnixMillis(kT0 - 2000)));
  EXPECT_DOUBLE_EQ(Cpu(records[0]), 1.5);
  EXPECT_DOUBLE_EQ(records[0]["quantities"]["mem_mib_s"].get<double>(), 100 * 2.0);
  const json& second = records[1];
  EXPECT_EQ(second["tenant"], "acme");
  EXPECT_EQ(second["placement_id"], "pl-a");
  EXPECT_EQ(second["cloudlet"], "cl-a");
  EXPECT_EQ(second["kind"], "usage");
  EXPECT_EQ(second["event_id"], "run:pl-a:" + std::to_string(kT0) + "-" + std::to_string(kT0 + 10'000));
  EXPECT_DOUBLE_EQ(Cpu(second), 5.0);
  EXPECT_DOUBLE_EQ(second["quantities"]["mem_mib_s"].get<double>(), (100 + 300) / 2.0 * 10);
  EXPECT_DOUBLE_EQ(second["quantities"]["net_in_bytes"].get<double>(), 2000);
  EXPECT_DOUBLE_EQ(second["quantities"]["net_out_bytes"].get<double>(), 4000);
  // Each record is one the registry's ledger takes as it is.
  auto parsed = metering::UsageRecordFromJson(second, "r", clock_.Now());
  EXPECT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(woken_, 2);
  ASSERT_EQ(live_.size(), 1u);
  EXPECT_NEAR(live_[0].cpu_millis, 500, 1e-9);
  EXPECT_NEAR(live_[0].mem_mib, 300, 1e-9);
}

TEST_F(MeterTest, ARestartGoesOnFromTheLastDurableReadingSoNoWindowIsCountedTwiceOrLost) {
  {
    auto meter = NewMeter();
    At(0, {.cpu_s = 1});
    meter->Read();
    At(10'000, {.cpu_s = 4});
    meter->Read();
  }  // as after kill -9: nothing but the spool is left
  auto again = NewMeter();
  At(37'000, {.cpu_s = 9});  // down for 27 s, mid-window
  again->Read();
  At(40'000, {.cpu_s = 10});
  again->Read();
  const auto records = Records();
  ASSERT_EQ(records.size(), 4u);
  EXPECT_DOUBLE_EQ(Cpu(records[2]), 5.0) << "the outage's windows, once";
  EXPECT_DOUBLE_EQ(Cpu(records[3]), 1.0);
  double total = 0;
  for (const auto& r : records) total += Cpu(r);
  EXPECT_DOUBLE_EQ(total, 10.0) << "every CPU second, once";
}

TEST_F(MeterTest, AReadingTheSpoolCannotKeepIsCoveredByTheNext) {
  auto meter = NewMeter();
  At(0, {.cpu_s = 1});
  meter->Read();
  spool_.FailNextAdd();
  At(10'000, {.cpu_s = 3});
  meter->Read();
  EXPECT_EQ(Records().size(), 1u);
  At(20'000, {.cpu_s = 7});
  meter->Read();
  const auto records = Records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_DOUBLE_EQ(Cpu(records[1]), 6.0);
  EXPECT_EQ(records[1]["start"], common::FormatRfc3339(common::FromUnixMillis(kT0)));
}

TEST_F(MeterTest, FinalClosesTheLastWindowAndForgetsThePlacement) {
  auto meter = NewMeter();
  At(0, {.cpu_s = 1});
  meter->Read();
  At(4'000, {.cpu_s = 2.5});
  meter->Final("pl-a");
  ASSERT_EQ(Records().size(), 2u);
  EXPECT_DOUBLE_EQ(Cpu(Records()[1]), 1.5);
  EXPECT_TRUE(spool_.cursors_.empty());
  ASSERT_TRUE(runtime_.Stop("pl-a").ok());
  meter->Read();
  EXPECT_EQ(Records().size(), 2u) << "nothing more for a stopped workload";
}

TEST_F(MeterTest, AWorkloadThatDiedLosesOnlyItsUnreadStretchAndLeavesNoCursor) {
  auto meter = NewMeter();
  At(0, {.cpu_s = 1});
  meter->Read();
  runtime_.Exit("pl-a", 137, true);
  At(3'000, {});
  meter->Read();  // not running: no reading, cursor kept for Final
  EXPECT_EQ(spool_.cursors_.size(), 1u);
  meter->Final("pl-a");
  EXPECT_TRUE(spool_.cursors_.empty());
  EXPECT_EQ(Records().size(), 1u);
}

TEST_F(MeterTest, AWorkloadRemovedBehindItsBackLeavesNoCursor) {
  auto meter = NewMeter();
  At(0, {.cpu_s = 1});
  meter->Read();
  ASSERT_TRUE(runtime_.Stop("pl-a").ok());
  clock_.Set(common::FromUnixMillis(kT0 + 10'000));
  meter->Read();
  EXPECT_TRUE(spool_.cursors_.empty());
}

TEST_F(MeterTest, AnOperatorsOwnPlacementShowsLiveButBillsNoTenant) {
  ASSERT_TRUE(runtime_.Start({.placement_id = "pl-op", .tenant = "operator:bootstrap:1f2e3d4c", .image = "app:1", .port = 8080}).ok());
  auto meter = NewMeter();
  At(0, {.cpu_s = 1});
  runtime_.SetStats("pl-op", {.cpu_s = 2});
  meter->Read();
  for (const auto& [id, body] : spool_.records_) EXPECT_EQ(body["tenant"], "acme") << id;
  EXPECT_EQ(live_.size(), 2u);
}

}  // namespace
}  // namespace cloudlet::agent
