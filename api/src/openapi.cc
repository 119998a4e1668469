#include "cloudlet/api/openapi.h"

#include "dashboard_assets.h"

namespace cloudlet::api {

std::string_view OpenApiDocument() { return ui::kOpenApiJson; }

void AddOpenApiRoute(Router& router) {
  router.Add({"GET", "/v1/openapi.json", Access::Public(), [](RouteContext&, Responder respond) {
                HttpResponse r{.status = 200, .content_type = "application/json", .headers = {}, .body = ui::kOpenApiJson};
                r.headers["Cache-Control"] = "no-cache";
                respond(std::move(r));
              }});
}

}  // namespace cloudlet::api
