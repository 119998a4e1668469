// Placements on PostgreSQL. Shared by several registries, reservations are decided here: under the
// change lock (one reservation at a time across registries), a cloudlet's capacity less what its
// live placements hold must cover the new one. Every write takes change numbers, names its writer and
// NOTIFYs, for the others' followers.
#include <algorithm>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/placement/placement_json.h"
#include "pg_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

class PgPlacementStore final : public placement::PlacementStore {
 public:
  explicit PgPlacementStore(std::shared_ptr<PgShared> shared) : shared_(std::move(shared)), conn_(shared_->conn) {}

  Result<std::vector<placement::Placement>> LoadActive() override {
    std::lock_guard lock(shared_->mu);
    auto rows = conn_.Query("SELECT id, body FROM placements WHERE confirmed OR expires_at_ms > $1 ORDER BY id",
                            {common::ToUnixMillis(shared_->clock.Now())});
    if (!rows.ok()) return rows.status();
    std::vector<placement::Placement> out;
    for (int i = 0; i < rows->rows(); ++i) {
      auto p = Decode(*rows, i, 0, 1);
      if (!p.ok()) return p.status();
      out.push_back(std::move(*p));
    }
    return out;
  }

  Status PutActive(const placement::Placement& p) override {
    std::lock_guard lock(shared_->mu);
    return Change([&] { return Upsert(p); });
  }

  Status Remove(const std::string& id) override {
    std::lock_guard lock(shared_->mu);
    return Change([&] { return Delete(id); });
  }

  bool shared() const override { return shared_->options.several_instances; }

  Status Reserve(const placement::Placement& p, common::TimePoint now) override {
    std::lock_guard lock(shared_->mu);
    const int64_t now_ms = common::ToUnixMillis(now);
    return Change([&]() -> Status {
      // A reservation is soft state, as it is in one cloudletd's memory: its commit need not wait for
      // the disk (a crash of PostgreSQL itself may forget the last moments of reservations, never half
      // of one; the check stays exact). Confirmations (PutActive) are durable before they are answered.
      CLOUDLET_RETURN_IF_ERROR(conn_.Run("SET LOCAL synchronous_commit = off"));
      // Reservations whose lease passed hold nothing; forget them here, where it costs one query.
      auto lapsed = conn_.Query(
          "DELETE FROM placements WHERE cloudlet_id = $1 AND NOT confirmed AND expires_at_ms <= $2 RETURNING id",
          {p.cloudlet_id, now_ms});
      if (!lapsed.ok()) return lapsed.status();
      for (int i = 0; i < lapsed->rows(); ++i) CLOUDLET_RETURN_IF_ERROR(MarkDeleted(lapsed->Text(i, 0)));
      auto room = conn_.Query(
          "SELECT (c.descriptor::jsonb #>> '{capacity,cpu_millis}')::bigint - COALESCE(SUM(p.cpu_millis), 0), "
          "(c.descriptor::jsonb #>> '{capacity,mem_mb}')::bigint - COALESCE(SUM(p.mem_mb), 0) "
          "FROM cloudlets c LEFT JOIN placements p ON p.cloudlet_id = c.id AND (p.confirmed OR p.expires_at_ms > $2) "
          "WHERE c.id = $1 GROUP BY c.id, c.descriptor",
          {p.cloudlet_id, now_ms});
      if (!room.ok()) return room.status();
      if (room->rows() == 0) {
        return Status::ResourceExhausted("cloudlet '" + p.cloudlet_id + "' is no longer registered");
      }
      if (room->Int(0, 0) < p.request.app.cpu_millis || room->Int(0, 1) < p.request.app.mem_mb) {
        return Status::ResourceExhausted("cloudlet '" + p.cloudlet_id + "' has no room left: " +
                                         std::to_string(room->Int(0, 0)) + " millicores and " +
                                         std::to_string(room->Int(0, 1)) + " MB free of reservations");
      }
      return Upsert(p);
    });
  }

  Result<uint64_t> ChangeCursor() override {
    std::lock_guard lock(shared_->mu);
    auto last = conn_.Query(
        "SELECT GREATEST((SELECT COALESCE(MAX(change_seq), 0) FROM placements), "
        "(SELECT COALESCE(MAX(change_seq), 0) FROM placement_deletions))");
    if (!last.ok()) return last.status();
    return static_cast<uint64_t>(last->Int(0, 0));
  }

  Result<placement::PlacementChanges> ChangesSince(uint64_t cursor) override {
    std::lock_guard lock(shared_->mu);
    placement::PlacementChanges out;
    uint64_t rows_after = cursor, deletions_after = cursor;
    CLOUDLET_RETURN_IF_ERROR(InSnapshot(conn_, [&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(
          ForEachChange(*shared_, "id, body", "placements", rows_after, [&](const PgResult& rows, int i) -> Status {
            auto p = Decode(rows, i, 0, 1);
            if (!p.ok()) return p.status();
            out.placements.push_back(std::move(*p));
            return Status::Ok();
          }));
      return ForEachChange(*shared_, "id", "placement_deletions", deletions_after, [&](const PgResult& rows, int i) {
        out.removed.push_back(rows.Text(i, 0));
        return Status::Ok();
      });
    }));
    out.cursor = std::max(rows_after, deletions_after);
    return out;
  }

  void WaitForChanges(common::Millis limit) override { listener_.Wait(limit); }

 private:
  // One transaction that takes change numbers: under the change lock, announced at commit.
  Status Change(const std::function<Status()>& body) {
    return conn_.InTransaction([&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(conn_.Run("SELECT pg_advisory_xact_lock($1, $2)", {kAdvisoryLockClass, kChangeLock}));
      CLOUDLET_RETURN_IF_ERROR(body());
      return conn_.Run("SELECT pg_notify($1, $2)", {kPlacementsChannel, shared_->writer});
    });
  }

  Status Upsert(const placement::Placement& p) {
    CLOUDLET_RETURN_IF_ERROR(conn_.Run(
        "INSERT INTO placements (id, owner, cloudlet_id, body, activated_at_ms, confirmed, expires_at_ms, cpu_millis, "
        "mem_mb, writer) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, cloudlet_id = EXCLUDED.cloudlet_id, "
        "body = EXCLUDED.body, activated_at_ms = EXCLUDED.activated_at_ms, confirmed = EXCLUDED.confirmed, "
        "expires_at_ms = EXCLUDED.expires_at_ms, cpu_millis = EXCLUDED.cpu_millis, mem_mb = EXCLUDED.mem_mb, "
        "writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
        {p.id, p.owner, p.cloudlet_id, placement::PlacementToJson(p).dump(), common::ToUnixMillis(p.activated_at),
         p.confirmed ? "true" : "false", common::ToUnixMillis(p.expires_at), p.request.app.cpu_millis,
         p.request.app.mem_mb, shared_->writer}));
    return conn_.Run("DELETE FROM placement_deletions WHERE id = $1", {p.id});
  }

  Status Delete(const std::string& id) {
    CLOUDLET_RETURN_IF_ERROR(conn_.Run("DELETE FROM placements WHERE id = $1", {id}));
    return MarkDeleted(id);
  }

  Status MarkDeleted(const std::string& id) {
    return conn_.Run(
        "INSERT INTO placement_deletions (id, writer) VALUES ($1, $2) "
        "ON CONFLICT (id) DO UPDATE SET writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
        {id, shared_->writer});
  }

  Result<placement::Placement> Decode(const PgResult& rows, int i, int id_col, int body_col) const {
    const std::string where = conn_.where() + ": placement '" + rows.Text(i, id_col).substr(0, 64) + "'";
    const nlohmann::json j = nlohmann::json::parse(rows.Text(i, body_col), nullptr, false);
    if (j.is_discarded()) return Status::Internal(where + ": stored body is not JSON");
    auto p = placement::PlacementFromJson(j);
    if (!p.ok()) return p.status().WithContext(where);
    return p;
  }

  std::shared_ptr<PgShared> shared_;
  PgConn& conn_;
  PgListener listener_{shared_->url, kPlacementsChannel};  // the follower thread's alone
};

}  // namespace

std::unique_ptr<placement::PlacementStore> MakePgPlacementStore(std::shared_ptr<PgShared> shared) {
  return std::make_unique<PgPlacementStore>(std::move(shared));
}

}  // namespace cloudlet::store
