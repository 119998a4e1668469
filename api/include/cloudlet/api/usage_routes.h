// Usage and billing over HTTP:
//   POST /v1/usage                  a batch of usage records (agents: their own cloudlet); per-record
//                                   results: accepted, duplicate or rejected with the reason
//   GET  /v1/reports/usage          ?from=&to=&group_by=tenant,cloudlet,placement,day|hour&format=json|csv
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

}  // namespace cloudlet::api
