// The registry on PostgreSQL, with a change feed for registries that share the database: every
// write numbers its rows from one sequence under an advisory lock (so numbers become visible in
// order), names its writer, and NOTIFYs; ChangesSince reads what others wrote after a cursor.
#include <algorithm>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/discovery/cloudlet_json.h"
#include "pg_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;
using discovery::CloudletRecord;
using discovery::StoreOp;

namespace {

constexpr char kColumns[] = "id, descriptor, load, free_cpu_millis, free_mem_mb, registered_at_ms, last_heartbeat_ms";

class PgRegistryStore final : public discovery::RegistryStore {
 public:
  explicit PgRegistryStore(std::shared_ptr<PgShared> shared)
      : shared_(std::move(shared)), conn_(shared_->conn), writer_(shared_->writer) {}

  Result<discovery::StoredRegistry> Load() override {
    std::lock_guard lock(shared_->mu);
    discovery::StoredRegistry out;
    CLOUDLET_RETURN_IF_ERROR(InSnapshot(conn_, [&]() -> Status {
      auto rows = conn_.Query(std::string("SELECT ") + kColumns + ", change_seq FROM cloudlets ORDER BY id");
      if (!rows.ok()) return rows.status();
      for (int i = 0; i < rows->rows(); ++i) {
        auto r = RecordAt(*rows, i);
        if (!r.ok()) return r.status();
        out.cursor = std::max<uint64_t>(out.cursor, rows->Int(i, 7));
        out.records.push_back(std::move(*r));
      }
      auto last = conn_.Query("SELECT COALESCE(MAX(change_seq), 0) FROM cloudlet_deletions");
      if (!last.ok()) return last.status();
      out.cursor = std::max<uint64_t>(out.cursor, last->Int(0, 0));
      auto index = conn_.Query("SELECT value FROM registry_meta WHERE name = 'index'");
      if (!index.ok()) return index.status();
      if (index->rows() > 0) out.index = static_cast<uint64_t>(index->Int(0, 0));
      return Status::Ok();
    }));
    return out;
  }

  Status Apply(const std::vector<StoreOp>& ops, uint64_t index) override {
    std::lock_guard lock(shared_->mu);
    return conn_.InTransaction([&]() -> Status {
      // Change numbers are taken under this lock and it is held until commit: a reader that has seen
      // number N has seen every number below it.
      CLOUDLET_RETURN_IF_ERROR(
          conn_.Run("SELECT pg_advisory_xact_lock($1, $2)", {kAdvisoryLockClass, kChangeLock}));
      for (const auto& op : ops) {
        if (op.kind == StoreOp::Kind::kDelete) {
          CLOUDLET_RETURN_IF_ERROR(conn_.Run("DELETE FROM cloudlets WHERE id = $1", {op.id}));
          CLOUDLET_RETURN_IF_ERROR(conn_.Run(
              "INSERT INTO cloudlet_deletions (id, writer) VALUES ($1, $2) "
              "ON CONFLICT (id) DO UPDATE SET writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
              {op.id, writer_}));
          continue;
        }
        const CloudletRecord& r = op.record;
        const std::vector<PgArg> args = {r.descriptor.id,
                                         discovery::DescriptorToJson(r.descriptor).dump(),
                                         r.load,
                                         r.free.cpu_millis,
                                         r.free.mem_mb,
                                         common::ToUnixMillis(r.registered_at),
                                         common::ToUnixMillis(r.last_heartbeat),
                                         writer_};
        if (op.kind == StoreOp::Kind::kPut) {
          CLOUDLET_RETURN_IF_ERROR(conn_.Run(
              "INSERT INTO cloudlets (id, descriptor, load, free_cpu_millis, free_mem_mb, registered_at_ms, "
              "last_heartbeat_ms, writer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
              "ON CONFLICT (id) DO UPDATE SET descriptor = EXCLUDED.descriptor, load = EXCLUDED.load, "
              "free_cpu_millis = EXCLUDED.free_cpu_millis, free_mem_mb = EXCLUDED.free_mem_mb, "
              "registered_at_ms = EXCLUDED.registered_at_ms, last_heartbeat_ms = EXCLUDED.last_heartbeat_ms, "
              "writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
              args));
          CLOUDLET_RETURN_IF_ERROR(conn_.Run("DELETE FROM cloudlet_deletions WHERE id = $1", {r.descriptor.id}));
        } else {
          // State from this registry's memory: never over a newer heartbeat another registry stored.
          CLOUDLET_RETURN_IF_ERROR(conn_.Run(
              "UPDATE cloudlets SET descriptor = $2, load = $3, free_cpu_millis = $4, free_mem_mb = $5, "
              "registered_at_ms = $6, last_heartbeat_ms = $7, writer = $8, change_seq = nextval('change_seq') "
              "WHERE id = $1 AND last_heartbeat_ms <= $7",
              args));
        }
      }
      CLOUDLET_RETURN_IF_ERROR(conn_.Run(
          "INSERT INTO registry_meta (name, value) VALUES ('index', $1) "
          "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
          {static_cast<int64_t>(index)}));
      return conn_.Run("SELECT pg_notify($1, $2)", {kRegistryChannel, writer_});
    });
  }

  bool shared() const override { return shared_->options.several_instances; }

  Result<discovery::RegistryChanges> ChangesSince(uint64_t cursor) override {
    std::lock_guard lock(shared_->mu);
    discovery::RegistryChanges out;
    uint64_t records_after = cursor, deletions_after = cursor;
    CLOUDLET_RETURN_IF_ERROR(InSnapshot(conn_, [&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(
          ForEachChange(*shared_, kColumns, "cloudlets", records_after, [&](const PgResult& rows, int i) -> Status {
            auto r = RecordAt(rows, i);
            if (!r.ok()) return r.status();
            out.records.push_back(std::move(*r));
            return Status::Ok();
          }));
      return ForEachChange(*shared_, "id", "cloudlet_deletions", deletions_after, [&](const PgResult& rows, int i) {
        out.deleted.push_back(rows.Text(i, 0));
        return Status::Ok();
      });
    }));
    out.cursor = std::max(records_after, deletions_after);
    return out;
  }

  void WaitForChanges(common::Millis limit) override { listener_.Wait(limit); }

 private:
  Result<CloudletRecord> RecordAt(const PgResult& rows, int i) const {
    const std::string id = rows.Text(i, 0);
    const auto where = conn_.where() + ": cloudlet '" + id.substr(0, 64) + "'";
    const nlohmann::json j = nlohmann::json::parse(rows.Text(i, 1), nullptr, false);
    if (j.is_discarded()) return Status::Internal(where + ": stored descriptor is not JSON");
    auto d = discovery::DescriptorFromJson(j, id);
    if (!d.ok()) return d.status().WithContext(where);
    CloudletRecord r;
    r.descriptor = std::move(*d);
    r.load = rows.Double(i, 2);
    r.free = {rows.Int(i, 3), rows.Int(i, 4)};
    r.registered_at = common::FromUnixMillis(rows.Int(i, 5));
    r.last_heartbeat = common::FromUnixMillis(rows.Int(i, 6));
    return r;
  }

  std::shared_ptr<PgShared> shared_;
  PgConn& conn_;
  const std::string writer_;  // this process's name in the change feed
  PgListener listener_{shared_->url, kRegistryChannel};  // the follower thread's alone
};

}  // namespace

std::unique_ptr<discovery::RegistryStore> MakePgRegistryStore(std::shared_ptr<PgShared> shared) {
  return std::make_unique<PgRegistryStore>(std::move(shared));
}

}  // namespace cloudlet::store
