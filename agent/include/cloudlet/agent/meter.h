// Usage measured by the runtime, not reported by someone else: every `interval` the meter reads
// each running workload's cumulative counters (CPU seconds, memory now, network bytes in and out)
// and turns what changed since the last reading into a usage record for the workload's tenant, into
// the agent's durable spool, from which the UsageForwarder sends it to the registry's ledger.
//
//   Meter meter({.cloudlet_id = "cl-a", .interval = 10s}, runtime, spool, clock);
//   meter.Start();                  // its own thread, one reading per interval boundary
//   meter.Final("pl-...");          // the last, partial window, before a workload is stopped
//   meter.Stop();
//
// Each placement has a cursor (its last reading: when, and the counters then), kept in the spool
// and written in the same transaction as the record it closed. A record spans [cursor, now) and its
// event id is "run:<placement>:<start ms>-<end ms>", so that a restart (even kill -9) neither counts a
// window twice nor loses one: the next record starts where the last durable one ended, and a record
// sent twice is a duplicate to the ledger. Memory is integrated from readings (the mean of the two
// ends of a window, times its length). A workload first seen is metered from its start. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/agent/workload_runtime.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/metering/spool.h"

namespace cloudlet::agent {

// A running placement's usage between its last two readings: what the dashboard shows live.
struct LiveUsage {
  std::string placement_id;
  double cpu_millis = 0;  // mean over the window
  double mem_mib = 0;     // at the reading
  int64_t net_in_bytes = 0, net_out_bytes = 0;  // since the workload started
};
nlohmann::json LiveUsageToJson(const std::vector<LiveUsage>& live, common::TimePoint at);

struct MeterOptions {
  std::string cloudlet_id;
  std::chrono::milliseconds interval{10'000};
  std::function<void()> on_records = {};                               // records were spooled
  std::function<void(const std::vector<LiveUsage>&)> on_live = {};     // after each reading
};

class Meter {
 public:
  Meter(MeterOptions options, WorkloadRuntime& runtime, metering::UsageSpool& spool, const common::Clock& clock);
  ~Meter();

  // Loads the cursors an earlier run left. Call before Start or Read.
  common::Status Load();
  void Start();
  void Stop();

  // One reading of every running workload now; what Start's thread does at each interval boundary.
  void Read();
  // Closes the placement's last window now, before its workload stops (released, moved, failed).
  void Final(const std::string& placement_id);

 private:
  struct Cursor {
    std::string container, tenant;
    int64_t at_ms = 0;
    WorkloadStats counters;
  };
  static nlohmann::json CursorToJson(const Cursor& c);
  static Cursor CursorFromJson(const nlohmann::json& j);
  // The record of [cursor, now) (nothing when it has no length), and the cursor at now.
  void Close(const std::string& placement_id, const Cursor& from, const Cursor& to,
             std::vector<metering::SpooledRecord>& records) const;
  void Run();

  const MeterOptions options_;
  WorkloadRuntime& runtime_;
  metering::UsageSpool& spool_;
  const common::Clock& clock_;
  std::mutex read_mu_;                       // one reading at a time (Read, Final)
  std::map<std::string, Cursor> cursors_;    // by placement; guarded by read_mu_
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudlet::agent
