#include "cloudlet/discovery/registry_service.h"

#include <chrono>

#include <spdlog/spdlog.h>

namespace cloudlet::discovery {

using common::Status;

RegistryService::RegistryService(const common::Clock& clock, RegistryOptions registry_options, RegistryStore& store,
                                 ServiceOptions options)
    : registry_(clock, registry_options), store_(store), options_(options), clock_(clock) {}

RegistryService::~RegistryService() { Stop(); }

Status RegistryService::Start() {
  auto stored = store_.Load();
  if (!stored.ok()) return stored.status();
  registry_.Restore(std::move(stored->records), stored->index);
  std::lock_guard lock(mu_);
  running_ = true;
  writer_ = std::thread([this] { WriterLoop(); });
  if (store_.shared()) {
    follow_ = std::make_unique<common::FollowThread>(
        [this, cursor = stored->cursor, log = common::OutageLog("registry: reading other registries' changes")]() mutable {
          auto changes = store_.ChangesSince(cursor);
          if (!changes.ok()) return log.Failed(changes.status().message());
          log.Succeeded();
          for (const auto& r : changes->records) registry_.Follow(r);
          for (const auto& id : changes->deleted) registry_.Remove(id);
          cursor = changes->cursor;
        },
        [this](common::Millis limit) { store_.WaitForChanges(limit); }, options_.follow_interval);
  }
  return Status::Ok();
}

void RegistryService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_ || stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (follow_) follow_->Stop();
}

bool RegistryService::Enqueue(Pending p) {
  {
    std::lock_guard lock(mu_);
    if (!running_ || stopping_ || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
  return true;
}

void RegistryService::Register(CloudletDescriptor descriptor, PutCallback done) {
  CloudletRecord record;
  record.descriptor = std::move(descriptor);
  // What lands in storage; memory fills in times and state when the commit is applied.
  record.registered_at = record.last_heartbeat = clock_.Now();
  record.free = {record.descriptor.capacity.cpu_millis, record.descriptor.capacity.mem_mb};
  if (auto existing = registry_.Get(record.descriptor.id); existing.ok()) {
    record.registered_at = existing->registered_at;
    record.load = existing->load;
  }
  auto cb = done;
  if (!Enqueue({StoreOp::Put(std::move(record)), std::move(done), nullptr})) {
    cb(Status::Unavailable("the registry is stopping or too busy to store registrations; retry later"));
  }
}

void RegistryService::Deregister(const std::string& id, DoneCallback done) {
  if (!registry_.Contains(id)) {
    done(Status::NotFound("cloudlet '" + id + "' is not registered"));
    return;
  }
  auto cb = done;
  if (!Enqueue({StoreOp::Delete(id), nullptr, std::move(done)})) {
    cb(Status::Unavailable("the registry is stopping or too busy to store deregistrations; retry later"));
  }
}

void RegistryService::WriterLoop() {
  using Steady = std::chrono::steady_clock;
  auto next_flush = Steady::now() + options_.flush_interval;
  auto next_health = Steady::now();
  while (true) {
    std::deque<Pending> batch;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.health_interval, [&] { return !queue_.empty() || stopping_; });
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stopping = stopping_ && queue_.empty();
    }
    // Health is a scan of every record: do it on its own cadence, not once per write batch.
    if (Steady::now() >= next_health) {
      registry_.UpdateHealth();
      next_health = Steady::now() + options_.health_interval;
    }
    const bool flush_state = stopping || Steady::now() >= next_flush;
    if (flush_state) next_flush = Steady::now() + options_.flush_interval;
    if (!batch.empty() || flush_state) CommitBatch(std::move(batch), flush_state);
    if (stopping) return;
  }
}

void RegistryService::CommitBatch(std::deque<Pending> batch, bool flush_state) {
  // Order matters: background state first, then purges, then the acknowledged writes in arrival
  // order, so that a registration racing a purge or a state flush of the same id wins.
  std::vector<StoreOp> ops;
  std::vector<std::string> dirty_ids, purged;
  if (flush_state) {
    for (auto& r : registry_.TakeDirty()) {
      dirty_ids.push_back(r.descriptor.id);
      ops.push_back(StoreOp::UpdateState(std::move(r)));
    }
    purged = registry_.TakePurged();
    for (const auto& id : purged) ops.push_back(StoreOp::Delete(id));
  }
  for (const auto& p : batch) ops.push_back(p.op);
  if (ops.empty()) return;

  const Status committed = store_.Apply(ops, registry_.index());
  if (!committed.ok()) {
    spdlog::error("registry: storing {} change(s) failed: {}", ops.size(), committed.message());
    registry_.MarkDirty(dirty_ids);
  }
  for (const auto& id : purged) {
    spdlog::info("registry: purged '{}': expired for longer than the grace period", id);
  }
  for (auto& p : batch) {
    if (p.op.kind == StoreOp::Kind::kPut) {
      if (!committed.ok()) {
        p.put_done(Status::Unavailable("could not store the registration: " + committed.message()));
        continue;
      }
      const PutOutcome outcome = registry_.Put(p.op.record.descriptor);
      spdlog::info("registry: {} '{}' at {}", outcome == PutOutcome::kCreated ? "registered" : "re-registered",
                   p.op.record.descriptor.id, p.op.record.descriptor.endpoint);
      p.put_done(outcome);
    } else {
      if (committed.ok() && registry_.Remove(p.op.id)) spdlog::info("registry: deregistered '{}'", p.op.id);
      p.delete_done(committed.ok() ? Status::Ok()
                                   : Status::Unavailable("could not store the deregistration: " + committed.message()));
    }
  }
}

}  // namespace cloudlet::discovery
