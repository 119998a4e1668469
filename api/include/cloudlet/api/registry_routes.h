// The cloudlet registry's REST routes (docs/api.md), plus /healthz and /metrics.
//
//   common::TimerQueue timers;
//   AddRegistryRoutes(router, service, timers, metrics, {});
//
// `service`, `timers` and `metrics` must outlive the router. Blocking queries wait on the registry's
// index without holding a handler thread: the answer is sent from `timers`' thread.
#pragma once

#include <functional>
#include <string>

#include <atomic>
#include <cstddef>

#include "cloudlet/api/router.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/metering/metrics.h"

namespace cloudlet::api {

struct RegistryRoutesOptions {
  common::Millis default_wait{300'000};  // ?index=N without ?wait= (as Consul: 5 min)
  common::Millis max_wait{600'000};
  size_t max_blocking_queries = 4096;    // beyond: 503 with Retry-After
  size_t max_list_limit = 100'000;
  // Called once a registration or deregistration is durable ("cloudlet.register", id), for the
  // audit trail; must not block.
  std::function<void(const RouteContext& ctx, const std::string& action, const std::string& target)> audit = {};
};

void AddRegistryRoutes(Router& router, discovery::RegistryService& service, common::TimerQueue& timers,
                       metering::Metrics& metrics, RegistryRoutesOptions options);

}  // namespace cloudlet::api
