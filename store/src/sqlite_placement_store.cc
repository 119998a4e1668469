#include "sqlite_shared.h"

#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/placement/placement_json.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

class SqlitePlacementStore final : public placement::PlacementStore {
 public:
  explicit SqlitePlacementStore(std::shared_ptr<SharedDb> shared) : shared_(std::move(shared)) {}

  Result<std::vector<placement::Placement>> LoadActive() override {
    std::lock_guard lock(shared_->mu);
    std::vector<placement::Placement> out;
    auto rows = shared_->db.Prepare("SELECT id, body FROM placements ORDER BY id");
    if (!rows.ok()) return rows.status();
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) break;
      const std::string where = shared_->db.path() + ": placement '" + rows->Text(0).substr(0, 64) + "'";
      const nlohmann::json j = nlohmann::json::parse(rows->Text(1), nullptr, false);
      if (j.is_discarded()) return Status::Internal(where + ": stored body is not JSON");
      auto p = placement::PlacementFromJson(j);
      if (!p.ok()) return p.status().WithContext(where);
      out.push_back(std::move(*p));
    }
    return out;
  }

  Status PutActive(const placement::Placement& p) override {
    std::lock_guard lock(shared_->mu);
    auto stmt = shared_->db.Prepare(
        "INSERT INTO placements (id, owner, cloudlet_id, body, activated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, cloudlet_id = excluded.cloudlet_id, "
        "body = excluded.body, activated_at_ms = excluded.activated_at_ms");
    if (!stmt.ok()) return stmt.status();
    return stmt->Bind(1, p.id)
        .Bind(2, p.owner)
        .Bind(3, p.cloudlet_id)
        .Bind(4, placement::PlacementToJson(p).dump())
        .Bind(5, common::ToUnixMillis(p.activated_at))
        .Run()
        .WithContext(shared_->db.path());
  }

  Status Remove(const std::string& id) override {
    std::lock_guard lock(shared_->mu);
    auto stmt = shared_->db.Prepare("DELETE FROM placements WHERE id = ?1");
    if (!stmt.ok()) return stmt.status();
    return stmt->Bind(1, id).Run().WithContext(shared_->db.path());
  }

 private:
  std::shared_ptr<SharedDb> shared_;
};

}  // namespace

std::unique_ptr<placement::PlacementStore> MakeSqlitePlacementStore(std::shared_ptr<SharedDb> shared) {
  return std::make_unique<SqlitePlacementStore>(std::move(shared));
}

}  // namespace cloudlet::store
