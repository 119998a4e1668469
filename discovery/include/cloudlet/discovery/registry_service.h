// The registry as the server runs it: the in-memory Registry plus durable storage.
//
//   RegistryService service(clock, registry_options, store);
//   CLOUDLET_RETURN_IF_ERROR(service.Start());               // loads what the store kept
//   service.Register(descriptor, [](Result<PutOutcome> r) { /* reply: stored durably */ });
//   service.Heartbeat("cl-a", hb);                            // memory only; persisted in background
//   service.Stop();                                           // drains writes, flushes state
//
// Registrations and deregistrations are acknowledged only after they are committed; one writer
// thread commits them in groups (many concurrent registrations share one fsync). Heartbeats are soft
// state: they update memory at once and are written in the background every `flush_interval`,
// together with health changes and purges. Callbacks run on the writer thread and must not block.
//
// On a store shared with other registries (RegistryStore::shared(): several cloudletd on one
// PostgreSQL database) a follower thread applies what the others commit: it waits for a change to be
// announced (at most `follow_interval`) and applies every change after its cursor, so this
// registry's view, and its blocking queries, follow the others within about a second.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/follow_thread.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/registry.h"
#include "cloudlet/discovery/registry_store.h"

namespace cloudlet::discovery {

struct ServiceOptions {
  common::Millis flush_interval{1'000};  // how often heartbeat state is written
  common::Millis health_interval{100};   // how often health is re-evaluated
  size_t max_batch = 512;                // writes in one transaction at most
  size_t max_queue = 20'000;             // writes waiting at most; beyond, Unavailable
  common::Millis follow_interval{500};   // a shared store: the longest wait between looks at others' changes
};

class RegistryService {
 public:
  using PutCallback = std::function<void(common::Result<PutOutcome>)>;
  using DoneCallback = std::function<void(common::Status)>;

  RegistryService(const common::Clock& clock, RegistryOptions registry_options, RegistryStore& store,
                  ServiceOptions options = {});
  ~RegistryService();
  RegistryService(const RegistryService&) = delete;
  RegistryService& operator=(const RegistryService&) = delete;

  common::Status Start();
  void Stop();

  // `descriptor` must be valid (ValidateDescriptor).
  void Register(CloudletDescriptor descriptor, PutCallback done);
  // NotFound at once for an unknown id; otherwise acknowledged after the delete commits.
  void Deregister(const std::string& id, DoneCallback done);
  common::Status Heartbeat(std::string_view id, const discovery::Heartbeat& hb) { return registry_.Heartbeat(id, hb); }

  Registry& registry() { return registry_; }
  const Registry& registry() const { return registry_; }

 private:
  struct Pending {
    StoreOp op;
    PutCallback put_done;
    DoneCallback delete_done;
  };
  bool Enqueue(Pending p);
  void WriterLoop();
  void CommitBatch(std::deque<Pending> batch, bool flush_state);

  Registry registry_;
  RegistryStore& store_;
  const ServiceOptions options_;
  const common::Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool running_ = false;
  bool stopping_ = false;
  std::thread writer_;
  std::unique_ptr<common::FollowThread> follow_;  // shared stores only
};

}  // namespace cloudlet::discovery
