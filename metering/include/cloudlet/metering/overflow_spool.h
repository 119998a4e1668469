// A durable usage spool with a bounded reserve in memory, for when its disk fails (full, failing, or
// locked past its timeout). Usage that the durable spool cannot take is kept in memory, up to
// `memory_limit` records, said once in the log when it starts and again when it ends; each later
// call tries the disk again (at most once per `retry_every`) and, once it takes writes, moves what
// memory holds into it in one transaction. Records kept in memory reach the registry as any others
// (Oldest lists them after the durable ones); they are lost if the agent dies before the disk
// recovers, and `Stats` says how many there are.
//
//   OverflowSpool spool(std::move(sqlite_spool), {.memory_limit = 10000}, clock);
//
// A write that moves a meter's cursors forward is never kept in memory: the meter reads cumulative
// counters, so its next reading covers the window anyway, and a cursor that moved only in memory
// would, after a crash, make the window counted again under a different event id. Cursor erasures
// (a workload's last window) may be kept: after a crash they are redone by the meter itself.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <set>

#include "cloudlet/common/clock.h"
#include "cloudlet/metering/spool.h"

namespace cloudlet::metering {

struct OverflowSpoolOptions {
  size_t memory_limit = 10'000;  // records kept in memory at most; past it a write fails
  std::chrono::milliseconds retry_every{1000};
};

struct OverflowSpoolStats {
  size_t in_memory = 0;        // records that only memory holds now
  uint64_t disk_failures = 0;  // writes the durable spool refused, since start
  uint64_t refused = 0;        // records refused because memory was full too
  bool degraded = false;       // the durable spool refuses writes
};

class OverflowSpool final : public UsageSpool {
 public:
  OverflowSpool(std::unique_ptr<UsageSpool> durable, OverflowSpoolOptions options, const common::Clock& clock);

  using UsageSpool::Add;
  common::Status Add(const std::vector<SpooledRecord>& records, const std::vector<CursorUpdate>& cursors) override;
  common::Result<std::map<std::string, nlohmann::json>> Cursors() override;
  common::Result<std::vector<SpooledRecord>> Oldest(size_t limit) override;
  common::Status Remove(const std::vector<std::string>& event_ids) override;
  common::Result<size_t> Size() override;

  OverflowSpoolStats Stats() const;
  // Tries the disk again now if memory holds anything and a try is due (for a periodic caller).
  void Retry();

 private:
  // Moves memory into the durable spool if it is due and the disk takes it. Holds mu_.
  void TryFlushLocked();

  std::unique_ptr<UsageSpool> durable_;
  OverflowSpoolOptions options_;
  const common::Clock& clock_;
  mutable std::mutex mu_;
  std::vector<SpooledRecord> memory_;  // oldest first
  std::set<std::string> memory_ids_;
  std::set<std::string> erased_cursors_;  // erasures the durable spool has not taken yet
  common::TimePoint last_try_{};
  OverflowSpoolStats stats_;
};

}  // namespace cloudlet::metering
