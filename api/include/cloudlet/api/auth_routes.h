// Tenants, tokens and the audit trail over HTTP:
//   POST/GET /v1/tenants, POST /v1/tenants/{id}/disable, POST /v1/tenants/{id}/rotate-key (operator)
//   POST/GET /v1/tokens, DELETE /v1/tokens/{id} (operators: all; tenants: their own app tokens)
//   GET /v1/audit?limit=N (operator)
// Changes are written on `admin` (a worker thread), never on an HTTP thread.
#pragma once

#include "cloudlet/api/router.h"
#include "cloudlet/auth/token_policy.h"
#include "cloudlet/common/timer_queue.h"

namespace cloudlet::api {

void AddAuthRoutes(Router& router, auth::TokenPolicy& policy, common::TimerQueue& admin);

// The caller of a route, for the audit trail.
auth::Caller CallerOf(const RouteContext& ctx);

}  // namespace cloudlet::api
