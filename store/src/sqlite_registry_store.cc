#include "sqlite_shared.h"

#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::store {

using common::Result;
using common::Status;
using discovery::CloudletRecord;
using discovery::StoreOp;

namespace {

class SqliteRegistryStore final : public discovery::RegistryStore {
 public:
  explicit SqliteRegistryStore(std::shared_ptr<SharedDb> shared) : shared_(std::move(shared)), db_(shared_->db) {}

  Status Prepare() {
    auto prepare = [&](Statement& out, const char* sql) -> Status {
      auto s = db_.Prepare(sql);
      if (!s.ok()) return s.status();
      out = std::move(*s);
      return Status::Ok();
    };
    CLOUDLET_RETURN_IF_ERROR(prepare(begin_, "BEGIN IMMEDIATE"));
    CLOUDLET_RETURN_IF_ERROR(prepare(commit_, "COMMIT"));
    CLOUDLET_RETURN_IF_ERROR(prepare(rollback_, "ROLLBACK"));
    CLOUDLET_RETURN_IF_ERROR(prepare(put_,
        "INSERT INTO cloudlets (id, descriptor, load, free_cpu_millis, free_mem_mb, registered_at_ms, "
        "last_heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT (id) DO UPDATE SET descriptor = excluded.descriptor, load = excluded.load, "
        "free_cpu_millis = excluded.free_cpu_millis, free_mem_mb = excluded.free_mem_mb, "
        "registered_at_ms = excluded.registered_at_ms, last_heartbeat_ms = excluded.last_heartbeat_ms"));
    CLOUDLET_RETURN_IF_ERROR(prepare(update_,
        "UPDATE cloudlets SET descriptor = ?2, load = ?3, free_cpu_millis = ?4, free_mem_mb = ?5, "
        "registered_at_ms = ?6, last_heartbeat_ms = ?7 WHERE id = ?1"));
    CLOUDLET_RETURN_IF_ERROR(prepare(delete_, "DELETE FROM cloudlets WHERE id = ?1"));
    CLOUDLET_RETURN_IF_ERROR(prepare(set_index_,
        "INSERT INTO registry_meta (name, value) VALUES ('index', ?1) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value"));
    return Status::Ok();
  }

  Result<discovery::StoredRegistry> Load() override {
    std::lock_guard lock(shared_->mu);
    discovery::StoredRegistry out;
    auto rows = db_.Prepare(
        "SELECT id, descriptor, load, free_cpu_millis, free_mem_mb, registered_at_ms, last_heartbeat_ms "
        "FROM cloudlets ORDER BY id");
    if (!rows.ok()) return rows.status();
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(db_.path());
      if (!*more) break;
      const std::string id = rows->Text(0);
      const std::string text = rows->Text(1);
      const auto where = db_.path() + ": cloudlet '" + id.substr(0, 64) + "'";
      const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded()) return Status::Internal(where + ": stored descriptor is not JSON");
      auto d = discovery::DescriptorFromJson(j, id);
      if (!d.ok()) return d.status().WithContext(where);
      CloudletRecord r;
      r.descriptor = std::move(*d);
      r.load = rows->Double(2);
      r.free = {rows->Int(3), rows->Int(4)};
      r.registered_at = common::FromUnixMillis(rows->Int(5));
      r.last_heartbeat = common::FromUnixMillis(rows->Int(6));
      out.records.push_back(std::move(r));
    }
    auto index = db_.Prepare("SELECT value FROM registry_meta WHERE name = 'index'");
    if (!index.ok()) return index.status();
    auto found = index->Step();
    if (!found.ok()) return found.status();
    if (*found) out.index = static_cast<uint64_t>(index->Int(0));
    index->Reset();
    return out;
  }

  Status Apply(const std::vector<StoreOp>& ops, uint64_t index) override {
    std::lock_guard lock(shared_->mu);
    CLOUDLET_RETURN_IF_ERROR(begin_.Run().WithContext(db_.path() + ": begin"));
    Status st = ApplyInTransaction(ops, index);
    if (st.ok()) st = commit_.Run().WithContext(db_.path() + ": commit");
    if (!st.ok()) (void)rollback_.Run();
    return st;
  }

 private:
  Status ApplyInTransaction(const std::vector<StoreOp>& ops, uint64_t index) {
    for (const auto& op : ops) {
      if (op.kind == StoreOp::Kind::kDelete) {
        CLOUDLET_RETURN_IF_ERROR(delete_.Bind(1, op.id).Run());
        continue;
      }
      const CloudletRecord& r = op.record;
      Statement& s = op.kind == StoreOp::Kind::kPut ? put_ : update_;
      s.Bind(1, r.descriptor.id)
          .Bind(2, discovery::DescriptorToJson(r.descriptor).dump())
          .Bind(3, r.load)
          .Bind(4, r.free.cpu_millis)
          .Bind(5, r.free.mem_mb)
          .Bind(6, common::ToUnixMillis(r.registered_at))
          .Bind(7, common::ToUnixMillis(r.last_heartbeat));
      CLOUDLET_RETURN_IF_ERROR(s.Run());
    }
    return set_index_.Bind(1, static_cast<int64_t>(index)).Run();
  }

  std::shared_ptr<SharedDb> shared_;
  Db& db_;
  Statement begin_, commit_, rollback_, put_, update_, delete_, set_index_;
};

}  // namespace

Result<std::unique_ptr<discovery::RegistryStore>> MakeSqliteRegistryStore(std::shared_ptr<SharedDb> shared) {
  auto store = std::make_unique<SqliteRegistryStore>(std::move(shared));
  CLOUDLET_RETURN_IF_ERROR(store->Prepare());
  return std::unique_ptr<discovery::RegistryStore>(std::move(store));
}

}  // namespace cloudlet::store
