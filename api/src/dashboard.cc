#include "cloudlet/api/dashboard.h"

#include "dashboard_assets.h"

namespace cloudlet::api {
namespace {

HttpResponse Asset(const char* body, const char* type) {
  HttpResponse r{.status = 200, .content_type = type, .headers = {}, .body = body};
  // Only this server's own files and API: no inline script, no other origin.
  r.headers["Content-Security-Policy"] =
      "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; frame-ancestors 'none'";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["Cache-Control"] = "no-cache";
  return r;
}

}  // namespace

void AddDashboardRoutes(Router& router) {
  auto serve = [&router](const char* path, const char* body, const char* type) {
    router.Add({"GET", path, Access::Public(), [body, type](RouteContext&, Responder respond) {
                  respond(Asset(body, type));
                }});
  };
  serve("/ui", ui::kIndexHtml, "text/html; charset=utf-8");
  serve("/ui/", ui::kIndexHtml, "text/html; charset=utf-8");
  serve("/ui/app.js", ui::kAppJs, "text/javascript; charset=utf-8");
  serve("/ui/style.css", ui::kStyleCss, "text/css; charset=utf-8");
}

}  // namespace cloudlet::api
