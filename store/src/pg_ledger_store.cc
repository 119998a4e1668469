#include <mutex>
#include <vector>

#include <nlohmann/json.hpp>

#include "pg_shared.h"

namespace cloudlet::store {

using common::Result;
using common::Status;

namespace {

constexpr int64_t kDayMs = 86'400'000;

// The usage ledger: append-only (a duplicate event id changes nothing, whichever instance wrote it
// first), its daily roll-up, and prices.
class PgLedgerStore final : public LedgerAndPrices {
 public:
  explicit PgLedgerStore(std::shared_ptr<PgShared> shared) : shared_(std::move(shared)), conn_(shared_->conn) {}

  Result<std::vector<metering::AppendOutcome>> Append(const std::vector<metering::UsageRecord>& records) override {
    std::lock_guard lock(shared_->mu);
    std::vector<metering::AppendOutcome> out;
    const int64_t now = common::ToUnixMillis(shared_->clock.Now());
    CLOUDLET_RETURN_IF_ERROR(conn_.InTransaction([&]() -> Status {
      for (const auto& r : records) {
        const metering::Quantities& q = r.q;
        auto inserted = conn_.Query(
            "INSERT INTO usage (event_id, kind, tenant, cloudlet, placement, start_ms, end_ms, cpu_core_s, mem_mib_s, "
            "net_in_bytes, net_out_bytes, gpu_s, instance_s, received_ms) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (event_id) DO NOTHING",
            {r.event_id, r.kind, r.tenant, r.cloudlet, r.placement_id, common::ToUnixMillis(r.start),
             common::ToUnixMillis(r.end), q.cpu_core_s, q.mem_mib_s, q.net_in_bytes, q.net_out_bytes, q.gpu_s,
             q.instance_s, now});
        if (!inserted.ok()) return inserted.status();
        const bool accepted = inserted->Changed() == 1;
        out.push_back(accepted ? metering::AppendOutcome::kAccepted : metering::AppendOutcome::kDuplicate);
        if (!accepted) continue;
        // The daily roll-up that reports read: kept in the same transaction as the record.
        const int64_t start = common::ToUnixMillis(r.start);
        CLOUDLET_RETURN_IF_ERROR(conn_.Run(
            "INSERT INTO usage_daily AS d (day_ms, tenant, cloudlet, cpu_core_s, mem_mib_s, net_in_bytes, "
            "net_out_bytes, gpu_s, instance_s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "ON CONFLICT (day_ms, tenant, cloudlet) DO UPDATE SET cpu_core_s = d.cpu_core_s + EXCLUDED.cpu_core_s, "
            "mem_mib_s = d.mem_mib_s + EXCLUDED.mem_mib_s, net_in_bytes = d.net_in_bytes + EXCLUDED.net_in_bytes, "
            "net_out_bytes = d.net_out_bytes + EXCLUDED.net_out_bytes, gpu_s = d.gpu_s + EXCLUDED.gpu_s, "
            "instance_s = d.instance_s + EXCLUDED.instance_s",
            {start - ((start % kDayMs) + kDayMs) % kDayMs, r.tenant, r.cloudlet, q.cpu_core_s, q.mem_mib_s,
             q.net_in_bytes, q.net_out_bytes, q.gpu_s, q.instance_s}));
      }
      return Status::Ok();
    }));
    return out;
  }

  Result<std::vector<metering::UsageSum>> Sum(common::TimePoint from, common::TimePoint to, const std::string& tenant,
                                              metering::SumGrain grain) override {
    std::lock_guard lock(shared_->mu);
    const int64_t from_ms = common::ToUnixMillis(from), to_ms = common::ToUnixMillis(to);
    // Whole days come from the daily roll-up; hours and partial days from the records themselves.
    const bool daily = !grain.by_hour && !grain.by_placement && from_ms % kDayMs == 0 && to_ms % kDayMs == 0;
    const std::string placement = grain.by_placement ? "placement" : "''";
    const std::string period = grain.by_hour ? "'YYYY-MM-DD\"T\"HH24'" : "'YYYY-MM-DD'";
    const std::string sql =
        daily ? "SELECT tenant, cloudlet, '', to_char(to_timestamp(day_ms / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), "
                "cpu_core_s, mem_mib_s, net_in_bytes, net_out_bytes, gpu_s, instance_s FROM usage_daily "
                "WHERE day_ms >= $1 AND day_ms < $2 AND ($3::text = '' OR tenant = $3::text) "
                "ORDER BY tenant, cloudlet, day_ms"
              : "SELECT tenant, cloudlet, " + placement + ", to_char(to_timestamp(start_ms / 1000.0) AT TIME ZONE 'UTC', " +
                    period + "), SUM(cpu_core_s), SUM(mem_mib_s), SUM(net_in_bytes), SUM(net_out_bytes), SUM(gpu_s), "
                    "SUM(instance_s) FROM usage WHERE start_ms >= $1 AND start_ms < $2 "
                    "AND ($3::text = '' OR tenant = $3::text) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4";
    auto rows = conn_.Query(sql, {from_ms, to_ms, tenant});
    if (!rows.ok()) return rows.status();
    std::vector<metering::UsageSum> out;
    for (int i = 0; i < rows->rows(); ++i) {
      metering::UsageSum s{rows->Text(i, 0), rows->Text(i, 1), rows->Text(i, 2), rows->Text(i, 3), {}};
      s.q = {rows->Double(i, 4), rows->Double(i, 5), rows->Double(i, 6),
             rows->Double(i, 7), rows->Double(i, 8), rows->Double(i, 9)};
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<std::vector<metering::PriceVersion>> LoadPrices() override {
    std::lock_guard lock(shared_->mu);
    auto rows = conn_.Query("SELECT body FROM prices ORDER BY effective");
    if (!rows.ok()) return rows.status();
    std::vector<metering::PriceVersion> out;
    for (int i = 0; i < rows->rows(); ++i) {
      auto v = metering::PriceVersionFromJson(nlohmann::json::parse(rows->Text(i, 0), nullptr, false));
      if (!v.ok()) return v.status().WithContext(conn_.where() + ": a stored price version");
      out.push_back(std::move(*v));
    }
    return out;
  }

  bool shared() const override { return shared_->options.several_instances; }

  Status PutPrice(const metering::PriceVersion& v) override {
    std::lock_guard lock(shared_->mu);
    return conn_.Run(
        "INSERT INTO prices (effective, body) VALUES ($1, $2) ON CONFLICT (effective) DO UPDATE SET body = EXCLUDED.body",
        {v.effective, metering::PriceVersionToJson(v).dump()});
  }

 private:
  std::shared_ptr<PgShared> shared_;
  PgConn& conn_;
};

}  // namespace

std::shared_ptr<LedgerAndPrices> MakePgLedgerStore(std::shared_ptr<PgShared> shared) {
  return std::make_shared<PgLedgerStore>(std::move(shared));
}

}  // namespace cloudlet::store
