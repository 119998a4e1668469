// The agent's durable queue of usage records not yet acknowledged by the registry, so that a
// registry outage or an agent restart loses nothing.
//
//   spool.Add(records);                 // durable when it returns; an event id already queued is ignored
//   auto batch = spool.Oldest(100);     // to send
//   spool.Remove(ids);                  // once the registry has answered for them
//
// A meter that turns counters into records keeps its cursors here too (how far each placement's
// usage has been recorded), written in the same transaction as the records they produced, so that
// a crash can neither count a window twice nor lose one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/common/status.h"

namespace cloudlet::metering {

struct SpooledRecord {
  std::string event_id;
  nlohmann::json body;  // the record as the registry's POST /v1/usage takes it
};

// A meter's cursor: set to `body`, or erased.
struct CursorUpdate {
  std::string key;
  nlohmann::json body;  // null: erase
};

class UsageSpool {
 public:
  virtual ~UsageSpool() = default;
  common::Status Add(const std::vector<SpooledRecord>& records) { return Add(records, {}); }
  // The records and the cursor updates, in one transaction.
  virtual common::Status Add(const std::vector<SpooledRecord>& records, const std::vector<CursorUpdate>& cursors) = 0;
  virtual common::Result<std::map<std::string, nlohmann::json>> Cursors() = 0;
  virtual common::Result<std::vector<SpooledRecord>> Oldest(size_t limit) = 0;
  virtual common::Status Remove(const std::vector<std::string>& event_ids) = 0;
  virtual common::Result<size_t> Size() = 0;
};

}  // namespace cloudlet::metering
