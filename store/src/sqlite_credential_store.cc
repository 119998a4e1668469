#include "sqlite_shared.h"

#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>


namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

// Records are kept as JSON bodies keyed by id: the secret part of a token is never among them
// (only its SHA-256); a tenant's app-token signing key is, as HMAC needs it (the database file is
// 0600 in a 0700 directory).
nlohmann::json TimeOrNull(const std::optional<common::TimePoint>& t) {
  return t ? nlohmann::json(common::ToUnixMillis(*t)) : nlohmann::json();
}
// A member of a stored body, or null when absent (never operator[] on a const object: a missing
// key there is undefined behaviour).
const nlohmann::json& Member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<common::TimePoint> OptionalTime(const nlohmann::json& j) {
  if (!j.is_number_integer()) return std::nullopt;
  return common::FromUnixMillis(j.get<int64_t>());
}

nlohmann::json QuotasToJson(const auth::TenantQuotas& q) {
  nlohmann::json j = nlohmann::json::object();
  if (q.max_placements) j["max_placements"] = *q.max_placements;
  if (q.max_cpu_millis) j["max_cpu_millis"] = *q.max_cpu_millis;
  if (q.max_monthly_spend) j["max_monthly_spend"] = *q.max_monthly_spend;
  return j;
}

class SqliteCredentialStore final : public auth::CredentialStore {
 public:
  explicit SqliteCredentialStore(std::shared_ptr<SharedDb> shared) : shared_(std::move(shared)) {}

  Result<std::vector<auth::Tenant>> LoadTenants() override {
    std::vector<auth::Tenant> out;
    CLOUDLET_RETURN_IF_ERROR(Scan("SELECT body FROM tenants ORDER BY id", [&](const nlohmann::json& j) {
      auth::Tenant t{j.value("id", ""), j.value("name", ""), common::FromUnixMillis(j.value("created_at_ms", int64_t{0})),
                     OptionalTime(Member(j, "disabled_at_ms")), j.value("key_id", ""), j.value("signing_key", ""), {}};
      const nlohmann::json& q = Member(j, "quotas");
      if (q.is_object()) {
        const nlohmann::json& placements = Member(q, "max_placements");
        const nlohmann::json& cpu = Member(q, "max_cpu_millis");
        const nlohmann::json& spend = Member(q, "max_monthly_spend");
        if (placements.is_number_integer()) t.quotas.max_placements = placements.get<int64_t>();
        if (cpu.is_number_integer()) t.quotas.max_cpu_millis = cpu.get<int64_t>();
        if (spend.is_number()) t.quotas.max_monthly_spend = spend.get<double>();
      }
      out.push_back(std::move(t));
    }));
    return out;
  }

  Result<std::vector<auth::TokenRecord>> LoadTokens() override {
    std::vector<auth::TokenRecord> out;
    CLOUDLET_RETURN_IF_ERROR(Scan("SELECT body FROM tokens ORDER BY accessor", [&](const nlohmann::json& j) {
      auth::TokenRecord t;
      t.accessor = j.value("accessor", "");
      t.hash_hex = j.value("hash", "");
      t.role = RoleFromName(j.value("role", ""));
      t.tenant = j.value("tenant", "");
      t.cloudlet_id = j.value("cloudlet", "");
      t.scopes = j.value("scopes", std::vector<std::string>{});
      t.description = j.value("description", "");
      t.created_by = j.value("created_by", "");
      t.created_at = common::FromUnixMillis(j.value("created_at_ms", int64_t{0}));
      t.expires_at = OptionalTime(Member(j, "expires_at_ms"));
      t.revoked_at = OptionalTime(Member(j, "revoked_at_ms"));
      out.push_back(std::move(t));
    }));
    return out;
  }

  Result<std::vector<auth::AppTokenRecord>> LoadAppTokens() override {
    std::vector<auth::AppTokenRecord> out;
    CLOUDLET_RETURN_IF_ERROR(Scan("SELECT body FROM app_tokens ORDER BY id", [&](const nlohmann::json& j) {
      out.push_back({j.value("id", ""), j.value("tenant", ""), j.value("scopes", std::vector<std::string>{}),
                     j.value("created_by", ""), common::FromUnixMillis(j.value("created_at_ms", int64_t{0})),
                     common::FromUnixMillis(j.value("expires_at_ms", int64_t{0})), OptionalTime(Member(j, "revoked_at_ms"))});
    }));
    return out;
  }

  Status PutTenant(const auth::Tenant& t) override {
    const nlohmann::json j = {{"id", t.id}, {"name", t.name}, {"created_at_ms", common::ToUnixMillis(t.created_at)},
                              {"disabled_at_ms", TimeOrNull(t.disabled_at)}, {"key_id", t.key_id},
                              {"signing_key", t.signing_key}, {"quotas", QuotasToJson(t.quotas)}};
    return Put("INSERT INTO tenants (id, body) VALUES (?1, ?2) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
               {t.id, j.dump()});
  }

  Status PutToken(const auth::TokenRecord& t) override {
    const nlohmann::json j = {{"accessor", t.accessor}, {"hash", t.hash_hex}, {"role", auth::RoleName(t.role)},
                              {"tenant", t.tenant}, {"cloudlet", t.cloudlet_id}, {"scopes", t.scopes},
                              {"description", t.description}, {"created_by", t.created_by},
                              {"created_at_ms", common::ToUnixMillis(t.created_at)},
                              {"expires_at_ms", TimeOrNull(t.expires_at)}, {"revoked_at_ms", TimeOrNull(t.revoked_at)}};
    return Put("INSERT INTO tokens (accessor, body) VALUES (?1, ?2) "
               "ON CONFLICT (accessor) DO UPDATE SET body = excluded.body",
               {t.accessor, j.dump()});
  }

  Status PutAppToken(const auth::AppTokenRecord& t) override {
    const nlohmann::json j = {{"id", t.id}, {"tenant", t.tenant}, {"scopes", t.scopes}, {"created_by", t.created_by},
                              {"created_at_ms", common::ToUnixMillis(t.created_at)},
                              {"expires_at_ms", common::ToUnixMillis(t.expires_at)},
                              {"revoked_at_ms", TimeOrNull(t.revoked_at)}};
    return Put("INSERT INTO app_tokens (id, tenant, body) VALUES (?1, ?2, ?3) "
               "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
               {t.id, t.tenant, j.dump()});
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
  static auth::Role RoleFromName(const std::string& name) {
    for (auto r : {auth::Role::kOperator, auth::Role::kTenant, auth::Role::kAgent, auth::Role::kApp}) {
      if (name == auth::RoleName(r)) return r;
    }
    return auth::Role::kApp;  // the least privileged
  }

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
