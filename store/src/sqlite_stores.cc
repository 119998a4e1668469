#include "cloudlet/store/sqlite_stores.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/placement/placement_json.h"
#include "sqlite_db.h"

namespace cloudlet::store {

using common::Result;
using common::Status;
using discovery::CloudletRecord;
using discovery::StoreOp;

namespace {

// Forward-only migrations; entry i brings the schema to version i + 1. Portable SQL only.
const std::vector<const char*> kMigrations = {
    R"sql(
      CREATE TABLE cloudlets (
        id TEXT PRIMARY KEY,
        descriptor TEXT NOT NULL,
        load REAL NOT NULL,
        free_cpu_millis INTEGER NOT NULL,
        free_mem_mb INTEGER NOT NULL,
        registered_at_ms INTEGER NOT NULL,
        last_heartbeat_ms INTEGER NOT NULL
      );
      CREATE TABLE registry_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE placements (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        cloudlet_id TEXT NOT NULL,
        body TEXT NOT NULL,
        activated_at_ms INTEGER NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE tenants (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE tokens (accessor TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE app_tokens (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        remote TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
      );
    )sql",
    R"sql(
      CREATE TABLE usage (
        event_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        tenant TEXT NOT NULL,
        cloudlet TEXT NOT NULL,
        placement TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        cpu_core_s REAL NOT NULL,
        mem_mib_s REAL NOT NULL,
        net_in_bytes REAL NOT NULL,
        net_out_bytes REAL NOT NULL,
        gpu_s REAL NOT NULL,
        instance_s REAL NOT NULL,
        received_ms INTEGER NOT NULL
      );
      CREATE INDEX usage_by_start ON usage (start_ms);
      CREATE INDEX usage_by_tenant ON usage (tenant, start_ms);
      CREATE TABLE prices (effective TEXT PRIMARY KEY, body TEXT NOT NULL);
    )sql",
    R"sql(
      CREATE TABLE usage_daily (
        day_ms INTEGER NOT NULL,
        tenant TEXT NOT NULL,
        cloudlet TEXT NOT NULL,
        cpu_core_s REAL NOT NULL,
        mem_mib_s REAL NOT NULL,
        net_in_bytes REAL NOT NULL,
        net_out_bytes REAL NOT NULL,
        gpu_s REAL NOT NULL,
        instance_s REAL NOT NULL,
        PRIMARY KEY (day_ms, tenant, cloudlet)
      );
      INSERT INTO usage_daily
        SELECT start_ms - start_ms % 86400000, tenant, cloudlet, SUM(cpu_core_s), SUM(mem_mib_s),
               SUM(net_in_bytes), SUM(net_out_bytes), SUM(gpu_s), SUM(instance_s)
        FROM usage GROUP BY 1, 2, 3;
    )sql",
};

// An exclusive advisory lock held for the store's lifetime.
class LockFile {
 public:
  static Result<LockFile> Acquire(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status::Unavailable(path + ": cannot open lock file: " + std::strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Status::FailedPrecondition(path + ": the database is in use by another cloudletd");
    }
    return LockFile(fd);
  }
  LockFile(LockFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LockFile& operator=(LockFile&&) = delete;
  ~LockFile() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_;
};

// One connection and its lock file, shared by the stores of one database. Each store takes `mu`
// for a whole transaction, so stores used from different threads never interleave statements.
struct SharedDb {
  SharedDb(LockFile l, Db d) : lock(std::move(l)), db(std::move(d)) {}
  LockFile lock;
  Db db;
  std::mutex mu;
};

// Runs `body` in one IMMEDIATE transaction: committed if it succeeds, rolled back if not.
Status InTransaction(Db& db, const std::function<Status()>& body) {
  CLOUDLET_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE").WithContext(db.path()));
  Status s = body();
  if (s.ok()) s = db.Exec("COMMIT");
  if (!s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s.WithContext(db.path());
  }
  return Status::Ok();
}

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

constexpr int64_t kDayMs = 86'400'000;

// The usage ledger: append-only (INSERT only; a duplicate event id changes nothing), and prices.
class SqliteLedgerStore final : public SqliteLedgerStoreBase {
 public:
  explicit SqliteLedgerStore(std::shared_ptr<SharedDb> shared) : shared_(std::move(shared)) {}

  Result<std::vector<metering::AppendOutcome>> Append(const std::vector<metering::UsageRecord>& records) override {
    std::lock_guard lock(shared_->mu);
    Db& db = shared_->db;
    auto insert = db.Prepare(
        "INSERT INTO usage (event_id, kind, tenant, cloudlet, placement, start_ms, end_ms, cpu_core_s, mem_mib_s, "
        "net_in_bytes, net_out_bytes, gpu_s, instance_s, received_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) ON CONFLICT (event_id) DO NOTHING");
    if (!insert.ok()) return insert.status();
    auto roll = db.Prepare(
        "INSERT INTO usage_daily (day_ms, tenant, cloudlet, cpu_core_s, mem_mib_s, net_in_bytes, net_out_bytes, gpu_s, "
        "instance_s) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (day_ms, tenant, cloudlet) DO UPDATE SET "
        "cpu_core_s = cpu_core_s + excluded.cpu_core_s, mem_mib_s = mem_mib_s + excluded.mem_mib_s, "
        "net_in_bytes = net_in_bytes + excluded.net_in_bytes, net_out_bytes = net_out_bytes + excluded.net_out_bytes, "
        "gpu_s = gpu_s + excluded.gpu_s, instance_s = instance_s + excluded.instance_s");
    if (!roll.ok()) return roll.status();
    std::vector<metering::AppendOutcome> out;
    const int64_t now = common::ToUnixMillis(std::chrono::system_clock::now());
    CLOUDLET_RETURN_IF_ERROR(InTransaction(db, [&]() -> Status {
      for (const auto& r : records) {
        CLOUDLET_RETURN_IF_ERROR(insert->Bind(1, r.event_id)
                                     .Bind(2, r.kind)
                                     .Bind(3, r.tenant)
                                     .Bind(4, r.cloudlet)
                                     .Bind(5, r.placement_id)
                                     .Bind(6, common::ToUnixMillis(r.start))
                                     .Bind(7, common::ToUnixMillis(r.end))
                                     .Bind(8, r.q.cpu_core_s)
                                     .Bind(9, r.q.mem_mib_s)
                                     .Bind(10, r.q.net_in_bytes)
                                     .Bind(11, r.q.net_out_bytes)
                                     .Bind(12, r.q.gpu_s)
                                     .Bind(13, r.q.instance_s)
                                     .Bind(14, now)
                                     .Run());
        const bool accepted = db.Changes() == 1;
        out.push_back(accepted ? metering::AppendOutcome::kAccepted : metering::AppendOutcome::kDuplicate);
        if (!accepted) continue;
        // The daily roll-up that reports read: kept in the same transaction as the record.
        const int64_t start = common::ToUnixMillis(r.start);
        CLOUDLET_RETURN_IF_ERROR(roll->Bind(1, start - ((start % kDayMs) + kDayMs) % kDayMs)
                                     .Bind(2, r.tenant)
                                     .Bind(3, r.cloudlet)
                                     .Bind(4, r.q.cpu_core_s)
                                     .Bind(5, r.q.mem_mib_s)
                                     .Bind(6, r.q.net_in_bytes)
                                     .Bind(7, r.q.net_out_bytes)
                                     .Bind(8, r.q.gpu_s)
                                     .Bind(9, r.q.instance_s)
                                     .Run());
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<metering::UsageSum>> Sum(common::TimePoint from, common::TimePoint to, const std::string& tenant,
                                              bool by_hour) override {
    std::lock_guard lock(shared_->mu);
    const int64_t from_ms = common::ToUnixMillis(from), to_ms = common::ToUnixMillis(to);
    // Whole days come from the daily roll-up (a row per tenant, cloudlet and day); hours and
    // partial days from the records themselves.
    const bool daily = !by_hour && from_ms % kDayMs == 0 && to_ms % kDayMs == 0;
    const std::string sql =
        daily ? "SELECT tenant, cloudlet, strftime('%Y-%m-%d', day_ms / 1000, 'unixepoch'), cpu_core_s, mem_mib_s, "
                "net_in_bytes, net_out_bytes, gpu_s, instance_s FROM usage_daily "
                "WHERE day_ms >= ?1 AND day_ms < ?2 AND (?3 = '' OR tenant = ?3) ORDER BY tenant, cloudlet, day_ms"
              : std::string("SELECT tenant, cloudlet, ") +
                    (by_hour ? "strftime('%Y-%m-%dT%H', start_ms / 1000, 'unixepoch')"
                             : "strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch')") +
                    " AS period, SUM(cpu_core_s), SUM(mem_mib_s), SUM(net_in_bytes), SUM(net_out_bytes), SUM(gpu_s), "
                    "SUM(instance_s) FROM usage WHERE start_ms >= ?1 AND start_ms < ?2 AND (?3 = '' OR tenant = ?3) "
                    "GROUP BY tenant, cloudlet, period ORDER BY tenant, cloudlet, period";
    auto rows = shared_->db.Prepare(sql);
    if (!rows.ok()) return rows.status();
    rows->Bind(1, from_ms).Bind(2, to_ms).Bind(3, tenant);
    std::vector<metering::UsageSum> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) break;
      metering::UsageSum s{rows->Text(0), rows->Text(1), rows->Text(2), {}};
      s.q = {rows->Double(3), rows->Double(4), rows->Double(5), rows->Double(6), rows->Double(7), rows->Double(8)};
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<metering::PriceVersion>> LoadPrices() override {
    std::lock_guard lock(shared_->mu);
    auto rows = shared_->db.Prepare("SELECT body FROM prices ORDER BY effective");
    if (!rows.ok()) return rows.status();
    std::vector<metering::PriceVersion> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) break;
      auto v = metering::PriceVersionFromJson(nlohmann::json::parse(rows->Text(0), nullptr, false));
      if (!v.ok()) return v.status().WithContext(shared_->db.path() + ": a stored price version");
      out.push_back(std::move(*v));
    }
    return out;
  }

  Status PutPrice(const metering::PriceVersion& v) override {
    std::lock_guard lock(shared_->mu);
    auto stmt = shared_->db.Prepare(
        "INSERT INTO prices (effective, body) VALUES (?1, ?2) ON CONFLICT (effective) DO UPDATE SET body = excluded.body");
    if (!stmt.ok()) return stmt.status();
    return stmt->Bind(1, v.effective).Bind(2, metering::PriceVersionToJson(v).dump()).Run().WithContext(shared_->db.path());
  }

 private:
  std::shared_ptr<SharedDb> shared_;
};

Status Migrate(Db& db) {
  CLOUDLET_RETURN_IF_ERROR(db.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)"));
  auto current = db.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current.ok()) return current.status();
  auto row = current->Step();
  if (!row.ok()) return row.status();
  const int64_t version = current->Int(0);
  current->Reset();
  if (version > static_cast<int64_t>(kMigrations.size())) {
    return Status::FailedPrecondition(db.path() + ": schema version " + std::to_string(version) +
                                      " is newer than this build understands (" +
                                      std::to_string(kMigrations.size()) + "); use a newer cloudletd");
  }
  for (size_t v = static_cast<size_t>(version); v < kMigrations.size(); ++v) {
    CLOUDLET_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
    Status st = db.Exec(kMigrations[v]);
    if (st.ok()) {
      auto mark = db.Prepare("INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?1, ?2)");
      st = mark.ok() ? mark->Bind(1, static_cast<int64_t>(v + 1))
                           .Bind(2, common::ToUnixMillis(std::chrono::system_clock::now()))
                           .Run()
                     : mark.status();
    }
    if (st.ok()) st = db.Exec("COMMIT");
    if (!st.ok()) {
      (void)db.Exec("ROLLBACK");
      return st.WithContext("migration to schema version " + std::to_string(v + 1));
    }
  }
  return Status::Ok();
}

}  // namespace

int SqliteSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Result<SqliteStores> OpenSqliteStores(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::exists(parent)) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return Status::Unavailable(parent.string() + ": cannot create directory: " + ec.message());
    fs::permissions(parent, fs::perms::owner_all, ec);  // the database holds tenants' data
  }
  auto lock = LockFile::Acquire(path + ".lock");
  if (!lock.ok()) return lock.status();
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  ::chmod(path.c_str(), 0600);
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout = 5000"));
  auto mode = db->Prepare("PRAGMA journal_mode = WAL");
  if (!mode.ok()) return mode.status();
  auto row = mode->Step();
  if (!row.ok()) return row.status().WithContext(path);
  const bool wal = mode->Text(0) == "wal";
  mode->Reset();
  if (!wal) return Status::Unavailable(path + ": cannot switch the journal to WAL mode");
  // FULL: a commit is on disk before it is acknowledged; only registrations pay for it.
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  CLOUDLET_RETURN_IF_ERROR(Migrate(*db));
  auto shared = std::make_shared<SharedDb>(std::move(*lock), std::move(*db));
  auto registry = std::make_unique<SqliteRegistryStore>(shared);
  CLOUDLET_RETURN_IF_ERROR(registry->Prepare());
  SqliteStores out;
  out.registry = std::move(registry);
  out.placements = std::make_unique<SqlitePlacementStore>(shared);
  out.credentials = std::make_unique<SqliteCredentialStore>(shared);
  out.ledger = std::make_shared<SqliteLedgerStore>(shared);
  return out;
}

Result<std::unique_ptr<discovery::RegistryStore>> OpenSqliteRegistryStore(const std::string& path) {
  auto stores = OpenSqliteStores(path);
  if (!stores.ok()) return stores.status();
  return std::move(stores->registry);
}

namespace {

class SqliteUsageSpool final : public metering::UsageSpool {
 public:
  SqliteUsageSpool(LockFile lock, Db db) : lock_(std::move(lock)), db_(std::move(db)) {}

  Status Add(const std::vector<metering::SpooledRecord>& records) override {
    std::lock_guard lock(mu_);
    auto insert = db_.Prepare("INSERT INTO spool (event_id, body) VALUES (?1, ?2) ON CONFLICT (event_id) DO NOTHING");
    if (!insert.ok()) return insert.status();
    return InTransaction(db_, [&]() -> Status {
      for (const auto& r : records) CLOUDLET_RETURN_IF_ERROR(insert->Bind(1, r.event_id).Bind(2, r.body.dump()).Run());
      return Status::Ok();
    });
  }

  Result<std::vector<metering::SpooledRecord>> Oldest(size_t limit) override {
    std::lock_guard lock(mu_);
    auto rows = db_.Prepare("SELECT event_id, body FROM spool ORDER BY seq LIMIT ?1");
    if (!rows.ok()) return rows.status();
    rows->Bind(1, static_cast<int64_t>(limit));
    std::vector<metering::SpooledRecord> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(db_.path());
      if (!*more) break;
      out.push_back({rows->Text(0), nlohmann::json::parse(rows->Text(1), nullptr, false)});
    }
    return out;
  }

  Status Remove(const std::vector<std::string>& event_ids) override {
    std::lock_guard lock(mu_);
    auto del = db_.Prepare("DELETE FROM spool WHERE event_id = ?1");
    if (!del.ok()) return del.status();
    return InTransaction(db_, [&]() -> Status {
      for (const auto& id : event_ids) CLOUDLET_RETURN_IF_ERROR(del->Bind(1, id).Run());
      return Status::Ok();
    });
  }

  Result<size_t> Size() override {
    std::lock_guard lock(mu_);
    auto rows = db_.Prepare("SELECT COUNT(*) FROM spool");
    if (!rows.ok()) return rows.status();
    auto more = rows->Step();
    if (!more.ok()) return more.status();
    return static_cast<size_t>(rows->Int(0));
  }

 private:
  LockFile lock_;
  Db db_;
  std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<metering::UsageSpool>> OpenSqliteUsageSpool(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) fs::create_directories(parent, ec);
  auto lock = LockFile::Acquire(path + ".lock");
  if (!lock.ok()) return lock.status();
  auto db = Db::Open(path);
  if (!db.ok()) return db.status();
  ::chmod(path.c_str(), 0600);
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA busy_timeout = 5000"));
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode = WAL"));
  CLOUDLET_RETURN_IF_ERROR(db->Exec("PRAGMA synchronous = FULL"));
  CLOUDLET_RETURN_IF_ERROR(db->Exec(
      "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, "
      "body TEXT NOT NULL)"));
  return std::unique_ptr<metering::UsageSpool>(new SqliteUsageSpool(std::move(*lock), std::move(*db)));
}

}  // namespace cloudlet::store
