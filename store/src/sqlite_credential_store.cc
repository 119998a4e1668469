#include "sqlite_shared.h"

#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "credential_codec.h"


namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

class SqliteCredentialStore final : public auth::CredentialStore {
 public:
  explicit SqliteCredentialStore(std::shared_ptr<SharedDb> shared) : shared_(std::move(shared)) {}

  Result<std::vector<auth::Tenant>> LoadTenants() override {
    std::vector<auth::Tenant> out;
    CLOUDLET_RETURN_IF_ERROR(
        Scan("SELECT body FROM tenants ORDER BY id", [&](const nlohmann::json& j) { out.push_back(TenantFromJson(j)); }));
    return out;
  }

  Result<std::vector<auth::TokenRecord>> LoadTokens() override {
    std::vector<auth::TokenRecord> out;
    CLOUDLET_RETURN_IF_ERROR(Scan("SELECT body FROM tokens ORDER BY accessor",
                                  [&](const nlohmann::json& j) { out.push_back(TokenFromJson(j)); }));
    return out;
  }

  Result<std::vector<auth::AppTokenRecord>> LoadAppTokens() override {
    std::vector<auth::AppTokenRecord> out;
    CLOUDLET_RETURN_IF_ERROR(Scan("SELECT body FROM app_tokens ORDER BY id",
                                  [&](const nlohmann::json& j) { out.push_back(AppTokenFromJson(j)); }));
    return out;
  }

  Status PutTenant(const auth::Tenant& t) override {
    return Put("INSERT INTO tenants (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
               {t.id, TenantToJson(t).dump()});
  }

  Status PutToken(const auth::TokenRecord& t) override {
    return Put("INSERT INTO tokens (accessor, body) VALUES (?1, ?2) "
               "ON CONFLICT (accessor) DO UPDATE SET body = excluded.body",
               {t.accessor, TokenToJson(t).dump()});
  }

  Status PutAppToken(const auth::AppTokenRecord& t) override {
    return Put("INSERT INTO app_tokens (id, tenant, body) VALUES (?1, ?2, ?3) "
               "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
               {t.id, t.tenant, AppTokenToJson(t).dump()});
  }

  Status AppendAudit(const auth::AuditEntry& e) override {
    std::lock_guard lock(shared_->mu);
    auto stmt = shared_->db.Prepare(
        "INSERT INTO audit (at_ms, actor, remote, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!stmt.ok()) return stmt.status();
    return stmt->Bind(1, common::ToUnixMillis(e.at))
        .Bind(2, e.actor)
        .Bind(3, e.remote)
        .Bind(4, e.action)
        .Bind(5, e.target)
        .Bind(6, e.detail)
        .Run()
        .WithContext(shared_->db.path());
  }

  Result<std::vector<auth::AuditEntry>> RecentAudit(size_t limit) override {
    std::lock_guard lock(shared_->mu);
    auto rows = shared_->db.Prepare(
        "SELECT seq, at_ms, actor, remote, action, target, detail FROM audit ORDER BY seq DESC LIMIT ?1");
    if (!rows.ok()) return rows.status();
    rows->Bind(1, static_cast<int64_t>(limit));
    std::vector<auth::AuditEntry> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) break;
      out.push_back({rows->Int(0), common::FromUnixMillis(rows->Int(1)), rows->Text(2), rows->Text(3), rows->Text(4),
                     rows->Text(5), rows->Text(6)});
    }
    return out;
  }

 private:
  Status Scan(const char* sql, const std::function<void(const nlohmann::json&)>& row) {
    std::lock_guard lock(shared_->mu);
    auto rows = shared_->db.Prepare(sql);
    if (!rows.ok()) return rows.status();
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) return Status::Ok();
      const nlohmann::json j = nlohmann::json::parse(rows->Text(0), nullptr, false);
      if (!j.is_object()) return Status::Internal(shared_->db.path() + ": a stored credential is not JSON");
      row(j);
    }
  }

  Status Put(const char* sql, const std::vector<std::string>& values) {
    std::lock_guard lock(shared_->mu);
    auto stmt = shared_->db.Prepare(sql);
    if (!stmt.ok()) return stmt.status();
    for (size_t i = 0; i < values.size(); ++i) stmt->Bind(static_cast<int>(i + 1), values[i]);
    return stmt->Run().WithContext(shared_->db.path());
  }

  std::shared_ptr<SharedDb> shared_;
};

}  // namespace

std::unique_ptr<auth::CredentialStore> MakeSqliteCredentialStore(std::shared_ptr<SharedDb> shared) {
  return std::make_unique<SqliteCredentialStore>(std::move(shared));
}

}  // namespace cloudlet::store
