#include "cloudlet/api/auth_routes.h"

#include <nlohmann/json.hpp>

#include "cloudlet/api/problem.h"
#include "cloudlet/api/query.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/json_fields.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::api {
namespace {

using common::Status;
using nlohmann::json;

json TimeOrNull(const std::optional<common::TimePoint>& t) {
  return t ? json(common::FormatRfc3339(*t)) : json();
}

// Never the signing key.
json TenantJson(const auth::Tenant& t) {
  json quotas = json::object();
  if (t.quotas.max_placements) quotas["max_placements"] = *t.quotas.max_placements;
  if (t.quotas.max_cpu_millis) quotas["max_cpu_millis"] = *t.quotas.max_cpu_millis;
  if (t.quotas.max_monthly_spend) quotas["max_monthly_spend"] = *t.quotas.max_monthly_spend;
  return {{"id", t.id}, {"name", t.name}, {"created_at", common::FormatRfc3339(t.created_at)},
          {"disabled_at", TimeOrNull(t.disabled_at)}, {"key_id", t.key_id}, {"quotas", quotas}};
}

// Never the secret or its hash: the accessor names the token.
json TokenJson(const auth::TokenRecord& t) {
  return {{"id", t.accessor}, {"role", auth::RoleName(t.role)}, {"tenant", t.tenant}, {"cloudlet", t.cloudlet_id},
          {"scopes", t.scopes}, {"description", t.description}, {"created_by", t.created_by},
          {"created_at", common::FormatRfc3339(t.created_at)}, {"expires_at", TimeOrNull(t.expires_at)},
          {"revoked_at", TimeOrNull(t.revoked_at)}};
}

json AppTokenJson(const auth::AppTokenRecord& t) {
  return {{"id", t.id}, {"role", "app"}, {"tenant", t.tenant}, {"scopes", t.scopes}, {"created_by", t.created_by},
          {"created_at", common::FormatRfc3339(t.created_at)}, {"expires_at", common::FormatRfc3339(t.expires_at)},
          {"revoked_at", TimeOrNull(t.revoked_at)}};
}

common::Result<auth::TokenRequest> TokenRequestFromJson(const json& body) {
  common::JsonFields f(body, "");
  auth::TokenRequest r;
  std::string role = "app", ttl;
  f.String("role", false, role);
  f.String("tenant", false, r.tenant);
  f.String("cloudlet", false, r.cloudlet_id);
  f.String("ttl", false, ttl);
  f.String("description", false, r.description);
  if (const json* scopes = f.Array("scopes", false)) {
    for (const auto& s : *scopes) {
      if (!s.is_string()) return Status::InvalidField("scopes", "must be a list of strings");
      r.scopes.push_back(s);
    }
  }
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  if (role == "operator") r.role = auth::Role::kOperator;
  else if (role == "tenant") r.role = auth::Role::kTenant;
  else if (role == "agent") r.role = auth::Role::kAgent;
  else if (role == "app") r.role = auth::Role::kApp;
  else return Status::InvalidField("role", "must be operator, tenant, agent or app");
  if (!ttl.empty()) {
    auto d = common::ParseDuration(ttl, "ttl");
    if (!d.ok()) return d.status();
    r.ttl = *d;
  }
  return r;
}

}  // namespace

auth::Caller CallerOf(const RouteContext& ctx) {
  return {ctx.principal.value_or(auth::Principal{}), ctx.request.remote_address};
}

namespace {

// Runs work on the admin thread; it answers through the responder.
using OnAdmin = std::function<void(std::function<HttpResponse()> work, Responder respond)>;

// Tenants and their quotas (operators).
void AddTenantRoutes(Router& router, auth::TokenPolicy& policy, const OnAdmin& on_admin) {
  auto operator_only = Access::Need([](const PathParams&) { return auth::Permission::Operator(); });
  router.Add({"POST", "/v1/tenants", operator_only, [&policy, on_admin](RouteContext& ctx, Responder respond) {
                auto body = discovery::ParseJsonObject(ctx.request.body);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                std::string id, name;
                common::JsonFields f(*body, "");
                f.String("id", true, id);
                f.String("name", false, name);
                if (Status s = f.NoOthers(); !s.ok()) return respond(ProblemFromStatus(s));
                on_admin([&policy, caller = CallerOf(ctx), id, name] {
                  auto t = policy.CreateTenant(caller, id, name);
                  if (!t.ok()) return ProblemFromStatus(t.status());
                  HttpResponse r = JsonResponse(201, TenantJson(*t));
                  r.headers["Location"] = "/v1/tenants/" + t->id;
                  return r;
                }, respond);
              }});
  router.Add({"GET", "/v1/tenants", operator_only, [&policy](RouteContext&, Responder respond) {
                json list = json::array();
                for (const auto& t : policy.ListTenants()) list.push_back(TenantJson(t));
                respond(JsonResponse(200, {{"tenants", list}}));
              }});
  for (const char* verb : {"disable", "rotate-key"}) {
    const bool disable = std::string(verb) == "disable";
    router.Add({"POST", std::string("/v1/tenants/{id}/") + verb, operator_only,
                [&policy, on_admin, disable](RouteContext& ctx, Responder respond) {
                  on_admin([&policy, caller = CallerOf(ctx), id = ctx.params.at("id"), disable] {
                    auto t = disable ? policy.DisableTenant(caller, id) : policy.RotateSigningKey(caller, id);
                    return t.ok() ? JsonResponse(200, TenantJson(*t)) : ProblemFromStatus(t.status());
                  }, respond);
                }});
  }

  router.Add({"PUT", "/v1/tenants/{id}/quotas", operator_only, [&policy, on_admin](RouteContext& ctx, Responder respond) {
                auto body = discovery::ParseJsonObject(ctx.request.body);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                common::JsonFields f(*body, "");
                int64_t placements = -1, cpu = -1;
                double spend = -1;
                f.Int("max_placements", false, placements);
                f.Int("max_cpu_millis", false, cpu);
                f.Number("max_monthly_spend", false, spend);
                if (Status s = f.NoOthers(); !s.ok()) return respond(ProblemFromStatus(s));
                auth::TenantQuotas q;
                // A field left out or null means no limit.
                auto given = [&](const char* k) { return body->contains(k) && !(*body)[k].is_null(); };
                if (given("max_placements")) q.max_placements = placements;
                if (given("max_cpu_millis")) q.max_cpu_millis = cpu;
                if (given("max_monthly_spend")) q.max_monthly_spend = spend;
                on_admin([&policy, caller = CallerOf(ctx), id = ctx.params.at("id"), q] {
                  auto t = policy.SetQuotas(caller, id, q);
                  return t.ok() ? JsonResponse(200, TenantJson(*t)) : ProblemFromStatus(t.status());
                }, respond);
              }});
}

// Tokens (operators; tenants their own app tokens) and the audit trail (operators).
void AddTokenRoutes(Router& router, auth::TokenPolicy& policy, const OnAdmin& on_admin) {
  auto operator_only = Access::Need([](const PathParams&) { return auth::Permission::Operator(); });
  auto manage = Access::Need([](const PathParams&) { return auth::Permission::TokenManage(); });
  router.Add({"POST", "/v1/tokens", manage, [&policy, on_admin](RouteContext& ctx, Responder respond) {
                auto body = discovery::ParseJsonObject(ctx.request.body.empty() ? "{}" : ctx.request.body);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto request = TokenRequestFromJson(*body);
                if (!request.ok()) return respond(ProblemFromStatus(request.status()));
                on_admin([&policy, caller = CallerOf(ctx), request = *request] {
                  auto t = policy.Issue(caller, request);
                  if (!t.ok()) return ProblemFromStatus(t.status());
                  return JsonResponse(201, {{"token", t->token}, {"id", t->id}, {"role", auth::RoleName(t->role)},
                                            {"tenant", t->tenant}, {"expires_at", TimeOrNull(t->expires_at)}});
                }, respond);
              }});
  router.Add({"GET", "/v1/tokens", manage, [&policy](RouteContext& ctx, Responder respond) {
                const auth::Caller caller = CallerOf(ctx);
                json tokens = json::array();
                for (const auto& t : policy.ListTokens(caller)) tokens.push_back(TokenJson(t));
                for (const auto& t : policy.ListAppTokens(caller)) tokens.push_back(AppTokenJson(t));
                respond(JsonResponse(200, {{"tokens", tokens}}));
              }});
  router.Add({"DELETE", "/v1/tokens/{id}", manage, [&policy, on_admin](RouteContext& ctx, Responder respond) {
                on_admin([&policy, caller = CallerOf(ctx), id = ctx.params.at("id")] {
                  Status s = policy.Revoke(caller, id);
                  if (!s.ok()) return ProblemFromStatus(s);
                  HttpResponse r;
                  r.status = 204;
                  r.content_type.clear();
                  return r;
                }, respond);
              }});
  router.Add({"GET", "/v1/audit", operator_only, [&policy, on_admin](RouteContext& ctx, Responder respond) {
                auto limit = QueryWholeNumber(ctx.request.query, "limit", 1, 10'000, 100);
                if (!limit.ok()) return respond(ProblemFromStatus(limit.status()));
                on_admin([&policy, limit = *limit] {
                  auto entries = policy.RecentAudit(static_cast<size_t>(limit));
                  if (!entries.ok()) return ProblemFromStatus(entries.status());
                  json list = json::array();
                  for (const auto& e : *entries) {
                    list.push_back({{"seq", e.seq}, {"at", common::FormatRfc3339(e.at)}, {"actor", e.actor},
                                    {"remote", e.remote}, {"action", e.action}, {"target", e.target},
                                    {"detail", e.detail}});
                  }
                  return JsonResponse(200, {{"audit", list}});
                }, respond);
              }});
}

}  // namespace

void AddAuthRoutes(Router& router, auth::TokenPolicy& policy, common::TimerQueue& admin) {
  const OnAdmin on_admin = [&admin](std::function<HttpResponse()> work, Responder respond) {
    admin.Post([work = std::move(work), respond = std::move(respond)] { respond(work()); });
  };
  AddTenantRoutes(router, policy, on_admin);
  AddTokenRoutes(router, policy, on_admin);
}

}  // namespace cloudlet::api
