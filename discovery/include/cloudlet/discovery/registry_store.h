// Where the registry keeps what must survive a restart. Implementations: store/ (SQLite).
//
//   StoredRegistry state = store.Load().value();
//   store.Apply({StoreOp::Put(record), StoreOp::Delete("cl-b")}, registry.index());
//
// Implementations are used from one thread at a time (RegistryService's writer).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;
  virtual common::Result<StoredRegistry> Load() = 0;
  // Applies every op in order in one durable transaction, with the registry index; all or nothing.
  virtual common::Status Apply(const std::vector<StoreOp>& ops, uint64_t index) = 0;
};

}  // namespace cloudlet::discovery
