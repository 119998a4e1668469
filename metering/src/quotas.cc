#include "cloudlet/metering/quotas.h"

#include <cstdio>
#include <ctime>

#include <spdlog/spdlog.h>

#include "cloudlet/common/time_format.h"

namespace cloudlet::metering {

using common::Status;

void SpendCache::Start(common::TimerQueue& worker, LedgerStore& ledger,
                       const SharedPriceBook& prices, const common::Clock& clock,
                       std::function<std::string(const std::string&)> tier_of) {
  worker_ = &worker;
  refresh_ = [this, &ledger, &prices, &clock, tier_of = std::move(tier_of)] {
    const auto now = clock.Now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm = *std::gmtime(&t);
    char month[16];
    std::strftime(month, sizeof month, "%Y-%m-01", &tm);
    auto from = common::ParseRfc3339(std::string(month) + "T00:00:00Z", "month");
    auto sums = ledger.Sum(*from, now + std::chrono::hours(1), "", {});
    if (!sums.ok()) return spdlog::warn("metering: spend not refreshed: {}", sums.status().ToString());
    const auto report = Rate(*sums, prices.Copy(), tier_of, {.by_tenant = true});
    std::lock_guard lock(mu_);
    spend_.clear();
    for (const auto& line : report.lines) spend_[line.tenant] = line.cost;
  };
  worker.Post([this] { Tick(); });
}

common::Status CheckQuotas(const std::string& tenant, const auth::TenantQuotas& q, int64_t live, int64_t cpu_held,
                           int64_t cpu_asked, double spent) {
  if (q.max_placements && live + 1 > *q.max_placements) {
    return Status::ResourceExhausted("quota: tenant '" + tenant + "' may hold " + std::to_string(*q.max_placements) +
                                     " live placements");
  }
  if (q.max_cpu_millis && cpu_held + cpu_asked > *q.max_cpu_millis) {
    return Status::ResourceExhausted("quota: tenant '" + tenant + "' may reserve " + std::to_string(*q.max_cpu_millis) +
                                     " millicores; it holds " + std::to_string(cpu_held));
  }
  if (q.max_monthly_spend && spent >= *q.max_monthly_spend) {
    char limit[32];
    std::snprintf(limit, sizeof limit, "%.2f", *q.max_monthly_spend);
    return Status::ResourceExhausted("quota: tenant '" + tenant + "' has spent its monthly limit of " + limit);
  }
  return Status::Ok();
}

void SpendCache::RefreshSoon() {
  if (pending_ || !worker_) return;
  pending_ = true;
  worker_->RunAfter(std::chrono::seconds(1), [this] {
    pending_ = false;
    if (!stopped_) refresh_();
  });
}

double SpendCache::Of(const std::string& tenant) const {
  std::lock_guard lock(mu_);
  auto it = spend_.find(tenant);
  return it == spend_.end() ? 0 : it->second;
}

void SpendCache::Tick() {
  if (stopped_) return;
  refresh_();
  worker_->RunAfter(std::chrono::minutes(1), [this] { Tick(); });
}

}  // namespace cloudlet::metering
