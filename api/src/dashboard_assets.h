// The dashboard's files (api/ui/) and the OpenAPI description (api/openapi.json), compiled in so that
// cloudletd serves them with nothing to install.
#pragma once

namespace cloudlet::api::ui {

extern const char kIndexHtml[];
extern const char kAppJs[];
extern const char kStyleCss[];
extern const char kOpenApiJson[];

}  // namespace cloudlet::api::ui
