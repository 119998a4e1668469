// The OpenAPI 3.1 description of cloudletd's routes (api/openapi.json, compiled in), served at
// GET /v1/openapi.json without a token.
//
//   api::AddOpenApiRoute(router);
//   nlohmann::json doc = nlohmann::json::parse(api::OpenApiDocument());
//
// tests/api/openapi_test.cc holds the description to the router: every route described, every
// description routed, and each operation's request and answers valid against its schemas.
#pragma once

#include <string_view>

#include "cloudlet/api/router.h"

namespace cloudlet::api {

std::string_view OpenApiDocument();
void AddOpenApiRoute(Router& router);

}  // namespace cloudlet::api
