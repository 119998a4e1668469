#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cloudlet/api/problem.h"
#include "cloudlet/api/router.h"
#include "cloudlet/auth/bootstrap_policy.h"

namespace cloudlet::api {
namespace {

constexpr char kToken[] = "router-test-token-0123456789";

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : policy_(std::move(*auth::BootstrapPolicy::Create(kToken))), router_(*policy_, *policy_, metrics_) {
    router_.Add({"GET", "/open", Access::Public(), Echo("open")});
    router_.Add({"GET", "/metrics", Access::LoopbackOrOperator(), Echo("metrics")});
    router_.Add({"GET", "/v1/things/{id}", Access::Need([](const PathParams& p) {
                   return auth::Permission::CloudletWrite(p.at("id"));
                 }),
                 [](RouteContext& ctx, Responder respond) {
                   respond(JsonResponse(200, {{"id", ctx.params.at("id")}, {"who", ctx.principal->subject}}));
                 }});
    router_.Add({"DELETE", "/v1/things/{id}", Access::Need([](const PathParams&) { return auth::Permission::Operator(); }),
                 Echo("deleted")});
  }

  static RouteHandler Echo(std::string what) {
    return [what](RouteContext&, Responder respond) { respond(JsonResponse(200, {{"route", what}})); };
  }

  HttpResponse Call(std::string method, std::string path, std::string token = "", std::string from = "127.0.0.1") {
    HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.remote_address = std::move(from);
    if (!token.empty()) req.headers["authorization"] = "Bearer " + token;
    HttpResponse out;
    out.status = -1;
    router_.Handle(req, [&](HttpResponse r) { out = std::move(r); });
    return out;
  }

  metering::Metrics metrics_;
  std::unique_ptr<auth::BootstrapPolicy> policy_;
  Router router_;
};

TEST_F(RouterTest, PublicRoutesNeedNoToken) { EXPECT_EQ(Call("GET", "/open").status, 200); }

TEST_F(RouterTest, ProtectedRoutesDenyByDefault) {
  auto r = Call("GET", "/v1/things/a");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(r.headers["WWW-Authenticate"], "Bearer realm=\"cloudlet\"");
  EXPECT_EQ(Call("GET", "/v1/things/a", "wrong-token-0123456789").status, 401);
  auto ok = Call("GET", "/v1/things/a", kToken);
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(nlohmann::json::parse(ok.body)["id"], "a");
}

TEST_F(RouterTest, BearerSchemeIsCaseInsensitive) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/v1/things/a";
  req.headers["authorization"] = std::string("bearer ") + kToken;
  int status = 0;
  router_.Handle(req, [&](HttpResponse r) { status = r.status; });
  EXPECT_EQ(status, 200);
}

TEST_F(RouterTest, MetricsAreOpenOnLoopbackOnly) {
  EXPECT_EQ(Call("GET", "/metrics", "", "127.0.0.1").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "", "::1").status, 200);
  EXPECT_EQ(Call("GET", "/metrics", "", "10.1.2.3").status, 401);
  EXPECT_EQ(Call("GET", "/metrics", kToken, "10.1.2.3").status, 200);
}

TEST_F(RouterTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  auto missing = Call("GET", "/nope", kToken);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(nlohmann::json::parse(missing.body)["type"], "/problems/not-found");
  auto wrong = Call("PATCH", "/v1/things/a", kToken);
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["Allow"], "GET, DELETE");
  EXPECT_EQ(Call("GET", "/v1/things/", kToken).status, 404);  // empty segment is not an id
}

TEST_F(RouterTest, RecordsRequestsByRouteTemplate) {
  Call("GET", "/v1/things/a", kToken);
  Call("GET", "/v1/things/b", kToken);
  Call("GET", "/v1/things/b");
  const std::string text = metrics_.Render();
  EXPECT_NE(text.find(R"(cloudlet_http_requests_total{route="/v1/things/{id}",method="GET",status="200"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(cloudlet_http_requests_total{route="/v1/things/{id}",method="GET",status="401"} 1)"),
            std::string::npos);
}

TEST(ProblemTest, MapsStatusCodesAndCarriesTheField) {
  auto r = ProblemFromStatus(common::Status::InvalidField("capacity.mem_mb", "must be >= 0"));
  EXPECT_EQ(r.status, 400);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["field"], "capacity.mem_mb");
  EXPECT_EQ(body["status"], 400);
  EXPECT_EQ(body["detail"], "capacity.mem_mb: must be >= 0");
  EXPECT_EQ(HttpStatusFor(common::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(common::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(common::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(Problem(429, "slow down").headers["Retry-After"], "1");
}

}  // namespace
}  // namespace cloudlet::api
