// The usage spool's memory reserve: what a failing disk cannot take is kept in memory up to a bound,
// listed for sending, and moved to the disk in one write once it takes writes again; a meter's
// cursors never move forward in memory alone.
#include "cloudlet/metering/overflow_spool.h"

#include <gtest/gtest.h>

#include "support/memory_spool.h"

namespace cloudlet::metering {
namespace {

using namespace std::chrono_literals;

SpooledRecord Rec(const std::string& id) { return {id, {{"event_id", id}}}; }

std::vector<std::string> Ids(const std::vector<SpooledRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.event_id);
  return out;
}

class OverflowSpoolTest : public ::testing::Test {
 protected:
  OverflowSpoolTest() {
    auto disk = std::make_unique<testing::MemorySpool>();
    disk_ = disk.get();
    spool_ = std::make_unique<OverflowSpool>(std::move(disk), OverflowSpoolOptions{.memory_limit = 3, .retry_every = 1s},
                                             clock_);
  }

  common::ManualClock clock_{common::FromUnixMillis(1'790'000'000'000)};
  testing::MemorySpool* disk_ = nullptr;
  std::unique_ptr<OverflowSpool> spool_;
};

TEST_F(OverflowSpoolTest, WhileTheDiskTakesWritesNothingIsHeldInMemory) {
  ASSERT_TRUE(spool_->Add({Rec("a"), Rec("b")}).ok());
  EXPECT_EQ(disk_->records_.size(), 2u);
  EXPECT_EQ(spool_->Stats().in_memory, 0u);
  EXPECT_FALSE(spool_->Stats().degraded);
  EXPECT_EQ(*spool_->Size(), 2u);
}

TEST_F(OverflowSpoolTest, AFailingDiskSendsRecordsToMemoryUpToTheBoundAndTheyAreStillListedForSending) {
  ASSERT_TRUE(spool_->Add({Rec("a")}).ok());
  disk_->SetFailing(true);
  ASSERT_TRUE(spool_->Add({Rec("b"), Rec("c")}).ok());
  EXPECT_TRUE(spool_->Stats().degraded);
  EXPECT_EQ(spool_->Stats().in_memory, 2u);
  EXPECT_EQ(spool_->Stats().disk_failures, 1u);
  EXPECT_EQ(disk_->records_.size(), 1u);
  EXPECT_EQ(Ids(*spool_->Oldest(10)), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(Ids(*spool_->Oldest(2)), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(*spool_->Size(), 3u);

  ASSERT_TRUE(spool_->Add({Rec("c")}).ok()) << "a record memory holds already is not counted twice";
  ASSERT_TRUE(spool_->Add({Rec("d")}).ok());
  const common::Status full = spool_->Add({Rec("e")});
  EXPECT_EQ(full.code(), common::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("memory reserve (3 records) is full"), std::string::npos) << full.message();
  EXPECT_EQ(spool_->Stats().refused, 1u);
  EXPECT_EQ(spool_->Stats().in_memory, 3u);

  // Sent and answered: removed from memory even though the disk cannot delete.
  ASSERT_TRUE(spool_->Remove({"b", "d"}).ok());
  EXPECT_EQ(spool_->Stats().in_memory, 1u);
  EXPECT_EQ(Ids(*spool_->Oldest(10)), (std::vector<std::string>{"a", "c"}));
}

TEST_F(OverflowSpoolTest, OnceTheDiskRecoversMemoryIsMovedToItInOneWriteAndLaterWritesGoStraightThere) {
  disk_->SetFailing(true);
  ASSERT_TRUE(spool_->Add({Rec("a")}, {{"pl-1", nullptr}}).ok()) << "a workload's last window may wait in memory";
  EXPECT_TRUE(disk_->records_.empty());
  disk_->SetFailing(false);
  spool_->Retry();  // not due yet: tries are a second apart
  EXPECT_EQ(spool_->Stats().in_memory, 1u);
  clock_.Advance(1s);
  disk_->cursors_["pl-2"] = "kept";
  spool_->Retry();
  EXPECT_FALSE(spool_->Stats().degraded);
  EXPECT_EQ(spool_->Stats().in_memory, 0u);
  EXPECT_EQ(disk_->records_.count("a"), 1u);
  ASSERT_TRUE(spool_->Add({Rec("b")}).ok());
  EXPECT_EQ(disk_->records_.count("b"), 1u);
  EXPECT_EQ(spool_->Stats().in_memory, 0u);
}

TEST_F(OverflowSpoolTest, ACursorErasedInMemoryIsHiddenAndReachesTheDiskWithItsRecords) {
  disk_->cursors_["pl-1"] = {{"at_ms", 1}};
  disk_->cursors_["pl-2"] = {{"at_ms", 2}};
  disk_->SetFailing(true);
  ASSERT_TRUE(spool_->Add({Rec("last-of-pl-1")}, {{"pl-1", nullptr}}).ok());
  auto cursors = spool_->Cursors();
  ASSERT_TRUE(cursors.ok());
  EXPECT_EQ(cursors->count("pl-1"), 0u);
  EXPECT_EQ(cursors->count("pl-2"), 1u);
  disk_->SetFailing(false);
  clock_.Advance(2s);
  spool_->Retry();
  EXPECT_EQ(disk_->cursors_.count("pl-1"), 0u);
  EXPECT_EQ(disk_->records_.count("last-of-pl-1"), 1u);
}

TEST_F(OverflowSpoolTest, AWriteThatMovesACursorForwardIsNeverHeldInMemory) {
  disk_->SetFailing(true);
  const common::Status s = spool_->Add({Rec("run:pl-1:0-10000")}, {{"pl-1", {{"at_ms", 10000}}}});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(spool_->Stats().in_memory, 0u);
  EXPECT_TRUE(spool_->Oldest(10)->empty());
  // And while the disk is known to fail (a try not yet due), it fails without waiting for one.
  EXPECT_FALSE(spool_->Add({Rec("run:pl-1:0-20000")}, {{"pl-1", {{"at_ms", 20000}}}}).ok());
  disk_->SetFailing(false);
  clock_.Advance(1s);
  ASSERT_TRUE(spool_->Add({Rec("run:pl-1:0-30000")}, {{"pl-1", {{"at_ms", 30000}}}}).ok());
  EXPECT_EQ(disk_->cursors_["pl-1"]["at_ms"], 30000);
  EXPECT_EQ(disk_->records_.size(), 1u);
}

TEST_F(OverflowSpoolTest, WithNoReserveAFailingDiskRefusesAtOnce) {
  auto disk = std::make_unique<testing::MemorySpool>();
  disk->SetFailing(true);
  OverflowSpool none(std::move(disk), {.memory_limit = 0}, clock_);
  EXPECT_EQ(none.Add({Rec("a")}).code(), common::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace cloudlet::metering
