#include "cloudlet/api/router.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <memory>

#include "cloudlet/api/problem.h"

namespace cloudlet::api {

using common::Status;

namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    const size_t end = path.find('/', start);
    out.push_back(path.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::string BearerToken(const HttpRequest& req) {
  const std::string h = req.Header("authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (h.size() <= kScheme.size()) return {};
  // The scheme is case-insensitive (RFC 7235).
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kScheme[i]))) return {};
  }
  return h.substr(kScheme.size());
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  return address.starts_with("127.") || address == "::1" || address.starts_with("::ffff:127.");
}

Router::Router(const auth::Authenticator& authenticator, const auth::Authorizer& authorizer,
               metering::Metrics& metrics, RouterLimits limits)
    : authenticator_(authenticator),
      authorizer_(authorizer),
      requests_(metrics.AddCounter("cloudlet_http_requests_total", "HTTP requests by route, method and status",
                                   {"route", "method", "status"})),
      latency_(metrics.AddHistogram("cloudlet_http_request_duration_seconds",
                                    "Time from a request's arrival to its response, by route", {"route"},
                                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60})),
      per_token_(limits.per_token),
      bad_tokens_(limits.bad_tokens) {}

void Router::Add(Route route) {
  patterns_.push_back(SplitPath(route.pattern));
  routes_.push_back(std::move(route));
}

std::vector<std::pair<std::string, std::string>> Router::Routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

std::optional<PathParams> Router::Match(const std::vector<std::string>& pattern, const std::vector<std::string>& segments) {
  if (pattern.size() != segments.size()) return std::nullopt;
  PathParams params;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].size() > 2 && pattern[i].front() == '{' && pattern[i].back() == '}') {
      if (segments[i].empty()) return std::nullopt;
      params[pattern[i].substr(1, pattern[i].size() - 2)] = segments[i];
    } else if (pattern[i] != segments[i]) {
      return std::nullopt;
    }
  }
  return params;
}

Status Router::Authorize(const Route& route, RouteContext& ctx, std::chrono::seconds& retry_after) {
  if (route.access.kind == Access::Kind::kPublic) return Status::Ok();
  if (route.access.kind == Access::Kind::kLoopbackOrOperator && IsLoopbackAddress(ctx.request.remote_address)) {
    return Status::Ok();
  }
  const auto now = Steady::now();
  const std::string& address = ctx.request.remote_address;
  // An address that keeps guessing is not even asked for its token until its window ends.
  if (auto wait = bad_tokens_.LockedOut(address, now)) {
    retry_after = *wait;
    return Status::ResourceExhausted("too many bad tokens from " + address.substr(0, 64) + "; try again later");
  }
  auto principal = authenticator_.Authenticate(BearerToken(ctx.request));
  if (!principal.ok()) {
    bad_tokens_.RecordFailure(address, now);
    return principal.status();
  }
  // Operators run the fleet and the benchmarks; every other caller is held to its rate.
  if (auto wait = principal->role == auth::Role::kOperator ? std::nullopt : per_token_.Acquire(principal->subject, now)) {
    retry_after = *wait;
    return Status::ResourceExhausted("rate limit of this token exceeded; try again later");
  }
  ctx.principal = *principal;
  const auth::Permission needed = route.access.kind == Access::Kind::kPermission
                                      ? route.access.permission(ctx.params)
                                      : auth::Permission::Operator();
  return authorizer_.Authorize(*ctx.principal, needed);
}

void Router::Handle(HttpRequest request, Responder respond) {
  const auto started = std::chrono::steady_clock::now();
  const auto segments = SplitPath(request.path);
  const Route* route = nullptr;
  std::optional<PathParams> params;
  std::string allowed;
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Route& r = routes_[i];
    auto p = Match(patterns_[i], segments);
    if (!p) continue;
    if (r.method == request.method) {
      route = &r;
      params = std::move(p);
      break;
    }
    allowed += (allowed.empty() ? "" : ", ") + r.method;
  }
  const std::string label = route ? route->pattern : "unmatched";
  const std::string method = request.method;
  // Wraps the responder: metrics once, whatever thread answers.
  auto once = std::make_shared<std::atomic<bool>>(false);
  Responder measured = [this, respond, once, started, label, method](HttpResponse response) {
    if (once->exchange(true)) return;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    requests_.Inc({label, method, std::to_string(response.status)});
    latency_.Observe({label}, seconds);
    respond(std::move(response));
  };

  if (!route) {
    if (!allowed.empty()) {
      HttpResponse r = Problem(405, request.method + " is not allowed here; use " + allowed);
      r.headers["Allow"] = allowed;
      return measured(std::move(r));
    }
    return measured(Problem(404, "no such endpoint: " + request.path.substr(0, 256)));
  }
  RouteContext ctx{std::move(request), std::move(*params), std::nullopt};
  std::chrono::seconds retry_after{0};
  if (Status s = Authorize(*route, ctx, retry_after); !s.ok()) {
    HttpResponse r = ProblemFromStatus(s);
    if (s.code() == common::StatusCode::kResourceExhausted) r.headers["Retry-After"] = std::to_string(retry_after.count());
    return measured(std::move(r));
  }
  route->handler(ctx, measured);
}

}  // namespace cloudlet::api
