#include "sqlite_shared.h"

#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>


namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

// The six quantities of a usage record, bound to parameters first .. first + 5 in the columns' order.
void BindQuantities(Statement& s, int first, const metering::Quantities& q) {
  s.Bind(first, q.cpu_core_s)
      .Bind(first + 1, q.mem_mib_s)
      .Bind(first + 2, q.net_in_bytes)
      .Bind(first + 3, q.net_out_bytes)
      .Bind(first + 4, q.gpu_s)
      .Bind(first + 5, q.instance_s);
}

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
    const int64_t now = common::ToUnixMillis(shared_->clock.Now());
    CLOUDLET_RETURN_IF_ERROR(InTransaction(db, [&]() -> Status {
      for (const auto& r : records) {
        insert->Bind(1, r.event_id)
            .Bind(2, r.kind)
            .Bind(3, r.tenant)
            .Bind(4, r.cloudlet)
            .Bind(5, r.placement_id)
            .Bind(6, common::ToUnixMillis(r.start))
            .Bind(7, common::ToUnixMillis(r.end))
            .Bind(14, now);
        BindQuantities(*insert, 8, r.q);
        CLOUDLET_RETURN_IF_ERROR(insert->Run());
        const bool accepted = db.Changes() == 1;
        out.push_back(accepted ? metering::AppendOutcome::kAccepted : metering::AppendOutcome::kDuplicate);
        if (!accepted) continue;
        // The daily roll-up that reports read: kept in the same transaction as the record.
        const int64_t start = common::ToUnixMillis(r.start);
        roll->Bind(1, start - ((start % kDayMs) + kDayMs) % kDayMs)
            .Bind(2, r.tenant)
            .Bind(3, r.cloudlet);
        BindQuantities(*roll, 4, r.q);
        CLOUDLET_RETURN_IF_ERROR(roll->Run());
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<metering::UsageSum>> Sum(common::TimePoint from, common::TimePoint to, const std::string& tenant,
                                              metering::SumGrain grain) override {
    const bool by_hour = grain.by_hour;
    std::lock_guard lock(shared_->mu);
    const int64_t from_ms = common::ToUnixMillis(from), to_ms = common::ToUnixMillis(to);
    // Whole days come from the daily roll-up (a row per tenant, cloudlet and day); hours and
    // partial days from the records themselves.
    const bool daily = !by_hour && !grain.by_placement && from_ms % kDayMs == 0 && to_ms % kDayMs == 0;
    const std::string placement = grain.by_placement ? "placement" : "''";
    const std::string sql =
        daily ? "SELECT tenant, cloudlet, '', strftime('%Y-%m-%d', day_ms / 1000, 'unixepoch'), cpu_core_s, mem_mib_s, "
                "net_in_bytes, net_out_bytes, gpu_s, instance_s FROM usage_daily "
                "WHERE day_ms >= ?1 AND day_ms < ?2 AND (?3 = '' OR tenant = ?3) ORDER BY tenant, cloudlet, day_ms"
              : "SELECT tenant, cloudlet, " + placement + " AS placement, " +
                    (by_hour ? "strftime('%Y-%m-%dT%H', start_ms / 1000, 'unixepoch')"
                             : "strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch')") +
                    " AS period, SUM(cpu_core_s), SUM(mem_mib_s), SUM(net_in_bytes), SUM(net_out_bytes), SUM(gpu_s), "
                    "SUM(instance_s) FROM usage WHERE start_ms >= ?1 AND start_ms < ?2 AND (?3 = '' OR tenant = ?3) "
                    "GROUP BY tenant, cloudlet, placement, period ORDER BY tenant, cloudlet, placement, period";
    auto rows = shared_->db.Prepare(sql);
    if (!rows.ok()) return rows.status();
    rows->Bind(1, from_ms).Bind(2, to_ms).Bind(3, tenant);
    std::vector<metering::UsageSum> out;
    while (true) {
      auto more = rows->Step();
      if (!more.ok()) return more.status().WithContext(shared_->db.path());
      if (!*more) break;
      metering::UsageSum s{rows->Text(0), rows->Text(1), rows->Text(2), rows->Text(3), {}};
      s.q = {rows->Double(4), rows->Double(5), rows->Double(6), rows->Double(7), rows->Double(8), rows->Double(9)};
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

}  // namespace

std::shared_ptr<SqliteLedgerStoreBase> MakeSqliteLedgerStore(std::shared_ptr<SharedDb> shared) {
  return std::make_shared<SqliteLedgerStore>(std::move(shared));
}

}  // namespace cloudlet::store
