// Usage and billing over HTTP:
//   POST /v1/usage                  a batch of usage records (agents: their own cloudlet); per-record
//                                   results: accepted, duplicate or rejected with the reason
//   GET  /v1/reports/usage          ?from=&to=&group_by=tenant,cloudlet,day|hour&format=json|csv
//                                   (operators: every tenant, or ?tenant=; tenants: their own)
//   PUT  /v1/prices, GET /v1/prices a new price version (operators); the versions
// Reads and writes of the ledger run on `worker`, never on an HTTP thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "cloudlet/api/router.h"
#include "cloudlet/auth/credentials.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"

namespace cloudlet::api {

struct UsageRoutesDeps {
  metering::LedgerStore& ledger;
  metering::PriceStore& prices;
  metering::SharedPriceBook& book;  // loaded from `prices` by AddUsageRoutes
  common::TimerQueue& worker;
  const common::Clock& clock;
  std::function<bool(const std::string& tenant)> tenant_exists;
  std::function<std::string(const std::string& cloudlet)> tier_of;  // the cloudlet's `tier` label
  std::function<void()> on_recorded = {};  // on the worker, after a batch added usage
};

// Loads the price versions; fails when the stored ones cannot be read.
common::Status AddUsageRoutes(Router& router, UsageRoutesDeps deps);

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
  void Start(common::TimerQueue& worker, metering::LedgerStore& ledger, const metering::SharedPriceBook& prices,
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

}  // namespace cloudlet::api
