// Tenants' quotas: what a tenant may hold and spend, checked when it asks for a placement.
//
//   SpendCache spend;
//   spend.Start(ledger_worker, ledger, prices, clock, tier_of);   // this month's spend per tenant
//   Status s = CheckQuotas("acme", quotas, live, cpu_held, cpu_asked, spend.Of("acme"));
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "cloudlet/auth/credentials.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"

namespace cloudlet::metering {

// Whether a tenant holding `live` placements with `cpu_held` millicores, and having spent `spent`
// this month, may place an app asking for `cpu_asked`: Ok, or ResourceExhausted naming the quota.
// Exactly at a limit is allowed; beyond it is not.
common::Status CheckQuotas(const std::string& tenant, const auth::TenantQuotas& quotas, int64_t live, int64_t cpu_held,
                           int64_t cpu_asked, double spent);

// Each tenant's spend this calendar month (UTC), refreshed every minute on the ledger's worker and
// within a second of new usage, so that a spend quota needs no database read when a placement is
// asked for. Thread-safe.
class SpendCache {
 public:
  void Start(common::TimerQueue& worker, LedgerStore& ledger, const SharedPriceBook& prices,
             const common::Clock& clock, std::function<std::string(const std::string&)> tier_of);
  void Stop() { stopped_ = true; }
  // Recomputes within a second (once, however many batches arrive meanwhile); call on the worker.
  void RefreshSoon();
  double Of(const std::string& tenant) const;

 private:
  void Tick();
  common::TimerQueue* worker_ = nullptr;
  std::function<void()> refresh_;
  std::atomic<bool> stopped_{false};
  bool pending_ = false;  // a refresh is scheduled; only touched on the worker
  mutable std::mutex mu_;
  std::map<std::string, double> spend_;
};

}  // namespace cloudlet::metering
