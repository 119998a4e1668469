// A UsageSpool in memory, for unit tests of what spools usage (the agent, its meter).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cloudlet/metering/spool.h"

namespace cloudlet::testing {

class MemorySpool final : public metering::UsageSpool {
 public:
  using metering::UsageSpool::Add;
  common::Status Add(const std::vector<metering::SpooledRecord>& records,
                     const std::vector<metering::CursorUpdate>& cursors) override {
    std::lock_guard lock(mu_);
    if (fail_next_ || failing_) {
      fail_next_ = false;
      return common::Status::Unavailable("disk full (a test's fault)");
    }
    for (const auto& r : records) records_.emplace(r.event_id, r.body);
    for (const auto& c : cursors) {
      if (c.body.is_null()) cursors_.erase(c.key);
      else cursors_[c.key] = c.body;
    }
    return common::Status::Ok();
  }
  common::Result<std::map<std::string, nlohmann::json>> Cursors() override {
    std::lock_guard lock(mu_);
    return cursors_;
  }
  // By event id, not by age: tests name their records in order.
  common::Result<std::vector<metering::SpooledRecord>> Oldest(size_t limit) override {
    std::lock_guard lock(mu_);
    std::vector<metering::SpooledRecord> out;
    for (const auto& [id, body] : records_) {
      if (out.size() < limit) out.push_back({id, body});
    }
    return out;
  }
  common::Status Remove(const std::vector<std::string>& ids) override {
    std::lock_guard lock(mu_);
    if (failing_) return common::Status::Unavailable("disk full (a test's fault)");
    for (const auto& id : ids) records_.erase(id);
    return common::Status::Ok();
  }
  common::Result<size_t> Size() override {
    std::lock_guard lock(mu_);
    return records_.size();
  }
  // The next Add fails and changes nothing.
  void FailNextAdd() {
    std::lock_guard lock(mu_);
    fail_next_ = true;
  }

  // Every write fails and changes nothing until SetFailing(false).
  void SetFailing(bool failing) {
    std::lock_guard lock(mu_);
    failing_ = failing;
  }

  std::map<std::string, nlohmann::json> records_;  // by event id
  std::map<std::string, nlohmann::json> cursors_;

 private:
  std::mutex mu_;
  bool fail_next_ = false;
  bool failing_ = false;
};

}  // namespace cloudlet::testing
