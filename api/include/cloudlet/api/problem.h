// RFC 7807 problem details, and the mapping from Status codes to HTTP.
//
//   respond(ProblemFromStatus(Status::InvalidField("capacity.cpu_millis", "must be >= 0")));
//   // 400 {"type":"/problems/invalid-argument","title":"Invalid argument","status":400,
//   //      "detail":"capacity.cpu_millis: must be >= 0","field":"capacity.cpu_millis"}
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http.h"
#include "cloudlet/common/status.h"

namespace cloudlet::api {

int HttpStatusFor(common::StatusCode code);
HttpResponse Problem(int status, std::string detail, std::optional<std::string> field = std::nullopt);
HttpResponse ProblemFromStatus(const common::Status& status);
HttpResponse JsonResponse(int status, const nlohmann::json& body);

}  // namespace cloudlet::api
