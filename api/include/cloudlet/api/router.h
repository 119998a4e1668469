// Routes with declared access, authentication, authorisation and request metrics.
//
//   Router router(policy, policy, metrics);
//   router.Add({"GET", "/v1/cloudlets/{id}", Access::Need([](const PathParams& p) {
//                 return auth::Permission::CloudletRead(); }),
//               [](RouteContext& ctx, Responder respond) { ... ctx.params.at("id") ... }});
//
// Every route states who may call it; there is no default but deny. Thread-safe once routes are
// added (Add is for start-up only).
// docs/architecture.md: the router's place on a request's path.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cloudlet/api/http.h"
#include "cloudlet/api/rate_limit.h"
#include "cloudlet/auth/policy.h"
#include "cloudlet/metering/metrics.h"

namespace cloudlet::api {

using PathParams = std::map<std::string, std::string>;

struct Access {
  enum class Kind {
    kPublic,              // anyone (liveness)
    kLoopbackOrOperator,  // anyone on loopback, else an operator (metrics)
    kPermission,          // a bearer token with the permission below
  };
  Kind kind = Kind::kPermission;
  std::function<auth::Permission(const PathParams&)> permission;

  static Access Public() { return {Kind::kPublic, nullptr}; }
  static Access LoopbackOrOperator() { return {Kind::kLoopbackOrOperator, nullptr}; }
  static Access Need(std::function<auth::Permission(const PathParams&)> p) { return {Kind::kPermission, std::move(p)}; }
};

struct RouteContext {
  HttpRequest request;
  PathParams params;
  std::optional<auth::Principal> principal;  // set when the request carried a valid token
};

using RouteHandler = std::function<void(RouteContext& ctx, Responder respond)>;

struct Route {
  std::string method;
  std::string pattern;  // "/v1/cloudlets/{id}/heartbeat": {name} matches one non-empty segment
  Access access;
  RouteHandler handler;
};

struct RouterLimits {
  RateLimitOptions per_token = {};  // requests per authenticated caller (token); operators are exempt
  BadTokenOptions bad_tokens = {};  // lock-out of addresses presenting bad tokens
};

class Router final : public HttpHandler {
 public:
  Router(const auth::Authenticator& authenticator, const auth::Authorizer& authorizer, metering::Metrics& metrics,
         RouterLimits limits = {});

  void Add(Route route);
  // Every route's method and pattern, in the order added (for the OpenAPI conformance test).
  std::vector<std::pair<std::string, std::string>> Routes() const;
  void Handle(HttpRequest request, Responder respond) override;

 private:
  // `pattern` is the route's pattern split at '/', done once when the route is added.
  static std::optional<PathParams> Match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments);
  // On ResourceExhausted, `retry_after` says how long the caller should wait.
  common::Status Authorize(const Route& route, RouteContext& ctx, std::chrono::seconds& retry_after);

  const auth::Authenticator& authenticator_;
  const auth::Authorizer& authorizer_;
  metering::Counter& requests_;
  metering::Histogram& latency_;
  std::vector<Route> routes_;
  std::vector<std::vector<std::string>> patterns_;  // by route
  RateLimiter per_token_;
  BadTokenTracker bad_tokens_;
};

bool IsLoopbackAddress(const std::string& address);

}  // namespace cloudlet::api
