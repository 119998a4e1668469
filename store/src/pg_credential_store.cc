#include <algorithm>
#include <functional>
#include <mutex>
#include <vector>

#include "credential_codec.h"
#include "pg_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

class PgCredentialStore final : public auth::CredentialStore {
 public:
  explicit PgCredentialStore(std::shared_ptr<PgShared> shared) : shared_(std::move(shared)) {}

  Result<std::vector<auth::Tenant>> LoadTenants() override { return Load("tenants ORDER BY id", TenantFromJson); }
  Result<std::vector<auth::TokenRecord>> LoadTokens() override {
    return Load("tokens ORDER BY accessor", TokenFromJson);
  }
  Result<std::vector<auth::AppTokenRecord>> LoadAppTokens() override {
    return Load("app_tokens ORDER BY id", AppTokenFromJson);
  }

  // Each write takes a change number (under kChangeLock) and announces itself, for the other
  // registries sharing the database.
  Status PutTenant(const auth::Tenant& t) override {
    return PutChange("INSERT INTO tenants (id, body, writer) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET "
                     "body = EXCLUDED.body, writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
                     {t.id, TenantToJson(t).dump(), shared_->writer});
  }

  Status PutToken(const auth::TokenRecord& t) override {
    return PutChange("INSERT INTO tokens (accessor, body, writer) VALUES ($1, $2, $3) ON CONFLICT (accessor) DO UPDATE "
                     "SET body = EXCLUDED.body, writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
                     {t.accessor, TokenToJson(t).dump(), shared_->writer});
  }

  Status PutAppToken(const auth::AppTokenRecord& t) override {
    return PutChange("INSERT INTO app_tokens (id, tenant, body, writer) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO "
                     "UPDATE SET body = EXCLUDED.body, writer = EXCLUDED.writer, change_seq = nextval('change_seq')",
                     {t.id, t.tenant, AppTokenToJson(t).dump(), shared_->writer});
  }

  bool shared() const override { return shared_->options.several_instances; }

  Result<uint64_t> ChangeCursor() override {
    std::lock_guard lock(shared_->mu);
    auto last = shared_->conn.Query(
        "SELECT GREATEST((SELECT COALESCE(MAX(change_seq), 0) FROM tenants), "
        "(SELECT COALESCE(MAX(change_seq), 0) FROM tokens), (SELECT COALESCE(MAX(change_seq), 0) FROM app_tokens))");
    if (!last.ok()) return last.status();
    return static_cast<uint64_t>(last->Int(0, 0));
  }

  Result<auth::CredentialChanges> ChangesSince(uint64_t cursor) override {
    std::lock_guard lock(shared_->mu);
    auth::CredentialChanges out;
    out.cursor = cursor;
    CLOUDLET_RETURN_IF_ERROR(InSnapshot(shared_->conn, [&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(Changed("tenants", cursor, out.cursor, out.tenants, TenantFromJson));
      CLOUDLET_RETURN_IF_ERROR(Changed("tokens", cursor, out.cursor, out.tokens, TokenFromJson));
      return Changed("app_tokens", cursor, out.cursor, out.app_tokens, AppTokenFromJson);
    }));
    return out;
  }

  void WaitForChanges(common::Millis limit) override { listener_.Wait(limit); }

  Status AppendAudit(const auth::AuditEntry& e) override {
    return Put("INSERT INTO audit (at_ms, actor, remote, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
               {common::ToUnixMillis(e.at), e.actor, e.remote, e.action, e.target, e.detail});
  }

  Result<std::vector<auth::AuditEntry>> RecentAudit(size_t limit) override {
    std::lock_guard lock(shared_->mu);
    auto rows = shared_->conn.Query(
        "SELECT seq, at_ms, actor, remote, action, target, detail FROM audit ORDER BY seq DESC LIMIT $1",
        {static_cast<int64_t>(limit)});
    if (!rows.ok()) return rows.status();
    std::vector<auth::AuditEntry> out;
    for (int i = 0; i < rows->rows(); ++i) {
      out.push_back({rows->Int(i, 0), common::FromUnixMillis(rows->Int(i, 1)), rows->Text(i, 2), rows->Text(i, 3),
                     rows->Text(i, 4), rows->Text(i, 5), rows->Text(i, 6)});
    }
    return out;
  }

 private:
  // Records of `table` another process changed after `after`, decoded, oldest first; `cursor` moves
  // past every changed row, this process's own included.
  template <typename T>
  Status Changed(const char* table, uint64_t after, uint64_t& cursor, std::vector<T>& out,
                 T (*decode)(const nlohmann::json&)) {
    uint64_t read_to = after;
    CLOUDLET_RETURN_IF_ERROR(ForEachChange(*shared_, "body", table, read_to, [&](const PgResult& rows, int i) {
      const nlohmann::json j = nlohmann::json::parse(rows.Text(i, 0), nullptr, false);
      if (!j.is_object()) return Status::Internal(shared_->conn.where() + ": a stored credential is not JSON");
      out.push_back(decode(j));
      return Status::Ok();
    }));
    cursor = std::max(cursor, read_to);
    return Status::Ok();
  }

  Status PutChange(const char* sql, const std::vector<PgArg>& args) {
    std::lock_guard lock(shared_->mu);
    return shared_->conn.InTransaction([&]() -> Status {
      CLOUDLET_RETURN_IF_ERROR(
          shared_->conn.Run("SELECT pg_advisory_xact_lock($1, $2)", {kAdvisoryLockClass, kChangeLock}));
      CLOUDLET_RETURN_IF_ERROR(shared_->conn.Run(sql, args));
      return shared_->conn.Run("SELECT pg_notify($1, $2)", {kCredentialsChannel, shared_->writer});
    });
  }

  template <typename T>
  Result<std::vector<T>> Load(const std::string& from, T (*decode)(const nlohmann::json&)) {
    std::lock_guard lock(shared_->mu);
    auto rows = shared_->conn.Query("SELECT body FROM " + from);
    if (!rows.ok()) return rows.status();
    std::vector<T> out;
    for (int i = 0; i < rows->rows(); ++i) {
      const nlohmann::json j = nlohmann::json::parse(rows->Text(i, 0), nullptr, false);
      if (!j.is_object()) return Status::Internal(shared_->conn.where() + ": a stored credential is not JSON");
      out.push_back(decode(j));
    }
    return out;
  }

  Status Put(const char* sql, const std::vector<PgArg>& args) {
    std::lock_guard lock(shared_->mu);
    return shared_->conn.Run(sql, args);
  }

  std::shared_ptr<PgShared> shared_;
  PgListener listener_{shared_->url, kCredentialsChannel};  // the follower thread's alone
};

}  // namespace

std::unique_ptr<auth::CredentialStore> MakePgCredentialStore(std::shared_ptr<PgShared> shared) {
  return std::make_unique<PgCredentialStore>(std::move(shared));
}

}  // namespace cloudlet::store
