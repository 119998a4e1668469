// Tenants' usage, as agents report it, and the append-only ledger that keeps it.
//
//   auto record = UsageRecordFromJson(j, "records[3]");      // errors name the field
//   LedgerStore& ledger = ...;
//   auto outcomes = ledger.Append(valid_records);           // kAccepted or kDuplicate, per record
//
// Exactly-once effect over at-least-once delivery: `event_id` is unique in the ledger, a replay is
// answered "duplicate" and counted once; corrections are new records of kind "adjustment" (their
// quantities may be negative), never updates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"

namespace cloudlet::metering {

inline constexpr size_t kMaxEventIdLength = 128;
inline constexpr size_t kMaxUsageBatch = 1000;

// What was used over [start, end).
struct Quantities {
  double cpu_core_s = 0;     // CPU core-seconds
  double mem_mib_s = 0;      // memory MiB-seconds
  double net_in_bytes = 0;
  double net_out_bytes = 0;
  double gpu_s = 0;          // GPU-seconds
  double instance_s = 0;     // placement time (reserved or active), metered by the registry itself

  Quantities& operator+=(const Quantities& o);
};

struct UsageRecord {
  std::string event_id;
  std::string kind = "usage";  // "usage" or "adjustment"
  std::string tenant;
  std::string placement_id;    // optional
  std::string cloudlet;
  common::TimePoint start;
  common::TimePoint end;
  Quantities q;
};

// A placement's own time on a cloudlet (instance seconds), recorded by the registry when it ends:
// event id "placement:<id>", so that it is counted once.
UsageRecord InstanceUsage(const std::string& placement_id, const std::string& tenant, const std::string& cloudlet,
                          common::TimePoint start, common::TimePoint end);

// Parses one record; `field` prefixes error fields ("records[3].end"). Checks what a record alone
// can show: ids, kind, end after start, nothing far in the future, no negative usage.
common::Result<UsageRecord> UsageRecordFromJson(const nlohmann::json& j, const std::string& field,
                                                common::TimePoint now);
nlohmann::json QuantitiesToJson(const Quantities& q);

enum class AppendOutcome { kAccepted, kDuplicate };

// How finely LedgerStore::Sum sums: per UTC day (or hour), and per placement too when asked.
struct SumGrain {
  bool by_hour = false;
  bool by_placement = false;
};

// Usage summed per tenant, cloudlet and UTC day (or hour): the finest grain a report needs, and the
// grain prices change at.
struct UsageSum {
  std::string tenant;
  std::string cloudlet;
  std::string placement;  // only when summed by placement
  std::string period;  // "2026-11-27", or "2026-11-27T13" when summed by hour
  Quantities q;
};

// Durable, append-only storage of usage. Implementations serialise their own transactions.
class LedgerStore {
 public:
  virtual ~LedgerStore() = default;
  // All of `records` in one transaction: when it returns OK every accepted record is on disk.
  virtual common::Result<std::vector<AppendOutcome>> Append(const std::vector<UsageRecord>& records) = 0;
  // Records whose start lies in [from, to), of `tenant` (empty: all), summed per tenant, cloudlet
  // (and placement) and day (or hour).
  virtual common::Result<std::vector<UsageSum>> Sum(common::TimePoint from, common::TimePoint to,
                                                   const std::string& tenant, SumGrain grain) = 0;
};

}  // namespace cloudlet::metering
