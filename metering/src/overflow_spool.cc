#include "cloudlet/metering/overflow_spool.h"

#include <spdlog/spdlog.h>

namespace cloudlet::metering {

using common::Result;
using common::Status;

namespace {

bool MovesACursorForward(const std::vector<CursorUpdate>& cursors) {
  for (const auto& c : cursors) {
    if (!c.body.is_null()) return true;
  }
  return false;
}

}  // namespace

OverflowSpool::OverflowSpool(std::unique_ptr<UsageSpool> durable, OverflowSpoolOptions options,
                             const common::Clock& clock)
    : durable_(std::move(durable)), options_(options), clock_(clock) {}

void OverflowSpool::TryFlushLocked() {
  if (!stats_.degraded) return;
  const auto now = clock_.Now();
  if (now - last_try_ < options_.retry_every) return;
  last_try_ = now;
  std::vector<CursorUpdate> erasures;
  for (const auto& key : erased_cursors_) erasures.push_back({key, nullptr});
  if (Status s = durable_->Add(memory_, erasures); !s.ok()) {
    ++stats_.disk_failures;
    return;
  }
  spdlog::info("usage spool: the disk takes writes again; {} record(s) held in memory are durable now", memory_.size());
  memory_.clear();
  memory_ids_.clear();
  erased_cursors_.clear();
  stats_.degraded = false;
  stats_.in_memory = 0;
}

Status OverflowSpool::Add(const std::vector<SpooledRecord>& records, const std::vector<CursorUpdate>& cursors) {
  std::lock_guard lock(mu_);
  TryFlushLocked();
  Status failure = Status::Unavailable("the usage spool's disk refuses writes (retried every " +
                                       std::to_string(options_.retry_every.count()) + " ms)");
  if (!stats_.degraded) {
    Status s = durable_->Add(records, cursors);
    if (s.ok()) return s;
    ++stats_.disk_failures;
    stats_.degraded = true;
    last_try_ = clock_.Now();
    spdlog::warn("usage spool: cannot write ({}); keeping usage in memory, up to {} record(s), until the disk "
                 "takes writes again",
                 s.ToString(), options_.memory_limit);
    failure = s;
  }
  if (MovesACursorForward(cursors)) return failure;  // the meter's next reading covers it
  std::vector<const SpooledRecord*> fresh;
  for (const auto& r : records) {
    if (!memory_ids_.count(r.event_id)) fresh.push_back(&r);
  }
  if (memory_.size() + fresh.size() > options_.memory_limit) {
    if (stats_.refused == 0 || memory_.size() < options_.memory_limit) {
      spdlog::error("usage spool: memory holds {} of {} record(s) and the disk refuses writes; refusing {} more",
                    memory_.size(), options_.memory_limit, fresh.size());
    }
    stats_.refused += fresh.size();
    return Status::ResourceExhausted("the usage spool's disk refuses writes and its memory reserve (" +
                                     std::to_string(options_.memory_limit) + " records) is full");
  }
  for (const auto* r : fresh) {
    memory_.push_back(*r);
    memory_ids_.insert(r->event_id);
  }
  for (const auto& c : cursors) erased_cursors_.insert(c.key);  // only erasures get here
  stats_.in_memory = memory_.size();
  return Status::Ok();
}

Result<std::map<std::string, nlohmann::json>> OverflowSpool::Cursors() {
  std::lock_guard lock(mu_);
  auto stored = durable_->Cursors();
  if (!stored.ok()) return stored;
  for (const auto& key : erased_cursors_) stored->erase(key);
  return stored;
}

Result<std::vector<SpooledRecord>> OverflowSpool::Oldest(size_t limit) {
  std::lock_guard lock(mu_);
  TryFlushLocked();
  auto out = durable_->Oldest(limit);
  if (!out.ok()) {
    if (memory_.empty()) return out;
    out = std::vector<SpooledRecord>{};  // what memory holds can still go
  }
  std::set<std::string> listed;
  for (const auto& r : *out) listed.insert(r.event_id);
  for (const auto& r : memory_) {
    if (out->size() >= limit) break;
    if (!listed.count(r.event_id)) out->push_back(r);
  }
  return out;
}

Status OverflowSpool::Remove(const std::vector<std::string>& event_ids) {
  std::lock_guard lock(mu_);
  size_t from_memory = 0;
  for (const auto& id : event_ids) {
    if (!memory_ids_.erase(id)) continue;
    ++from_memory;
    std::erase_if(memory_, [&](const SpooledRecord& r) { return r.event_id == id; });
  }
  stats_.in_memory = memory_.size();
  Status s = durable_->Remove(event_ids);
  // Records only memory held are gone either way; durable ones stay and are sent again (the ledger
  // takes a repeated event id as a duplicate).
  return s.ok() || from_memory == event_ids.size() ? Status::Ok() : s;
}

Result<size_t> OverflowSpool::Size() {
  std::lock_guard lock(mu_);
  auto size = durable_->Size();
  if (!size.ok()) return size;
  return *size + memory_.size();
}

void OverflowSpool::Retry() {
  std::lock_guard lock(mu_);
  TryFlushLocked();
}

OverflowSpoolStats OverflowSpool::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace cloudlet::metering
