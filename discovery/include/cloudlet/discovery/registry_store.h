// Where the registry keeps what must survive a restart. Implementations: store/ (SQLite).
//
//   StoredRegistry state = store.Load().value();
//   store.Apply({StoreOp::Put(record), StoreOp::Delete("cl-b")}, registry.index());
//
// Implementations are used from one thread at a time (RegistryService's writer), except that a
// shared store's ChangesSince and WaitForChanges are called from the service's follower thread.
//
// A store shared by several registries (PostgreSQL, with several cloudletd on one database) also
// reports what the others wrote, in commit order, from a cursor:
//
//   auto changes = store.ChangesSince(cursor);  // records others put, ids others deleted
//   store.WaitForChanges(1s);                   // returns early when another registry commits
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::discovery {

struct StoreOp {
  enum class Kind {
    kPut,          // insert or replace the whole record (a registration)
    kUpdateState,  // update the record's state only if it still exists
    kDelete,       // remove it if present
  };
  Kind kind;
  CloudletRecord record;  // kPut, kUpdateState
  std::string id;         // kDelete

  static StoreOp Put(CloudletRecord r) { return {Kind::kPut, std::move(r), {}}; }
  static StoreOp UpdateState(CloudletRecord r) { return {Kind::kUpdateState, std::move(r), {}}; }
  static StoreOp Delete(std::string id) { return {Kind::kDelete, {}, std::move(id)}; }
};

struct StoredRegistry {
  std::vector<CloudletRecord> records;
  uint64_t index = 0;
  uint64_t cursor = 0;  // a shared store's change cursor as of these records
};

// What other registries sharing the store changed after a cursor.
struct RegistryChanges {
  std::vector<CloudletRecord> records;  // put or updated, oldest change first
  std::vector<std::string> deleted;
  uint64_t cursor = 0;                  // pass to the next call
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;
  virtual common::Result<StoredRegistry> Load() = 0;
  // Applies every op in order in one durable transaction, with the registry index; all or nothing.
  virtual common::Status Apply(const std::vector<StoreOp>& ops, uint64_t index) = 0;

  // True when other registries write to the same store (the rest below then matters).
  virtual bool shared() const { return false; }
  // Changes others committed after `cursor` (this store's own writes are left out).
  virtual common::Result<RegistryChanges> ChangesSince(uint64_t cursor) { return RegistryChanges{{}, {}, cursor}; }
  // Waits up to `limit`, returning early when another registry may have committed a change.
  virtual void WaitForChanges(common::Millis limit) { (void)limit; }
};

}  // namespace cloudlet::discovery
