#include "cloudlet/api/problem.h"

namespace cloudlet::api {

using common::StatusCode;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

namespace {

struct Kind {
  const char* type;
  const char* title;
};

Kind KindFor(int status) {
  switch (status) {
    case 400: return {"/problems/invalid-argument", "Invalid argument"};
    case 401: return {"/problems/unauthenticated", "Missing or invalid token"};
    case 403: return {"/problems/forbidden", "Not allowed"};
    case 404: return {"/problems/not-found", "Not found"};
    case 405: return {"/problems/method-not-allowed", "Method not allowed"};
    case 409: return {"/problems/conflict", "Conflict"};
    case 411: return {"/problems/length-required", "Content-Length required"};
    case 413: return {"/problems/body-too-large", "Request body too large"};
    case 414: return {"/problems/uri-too-long", "Request URI too long"};
    case 429: return {"/problems/too-many-requests", "Too many requests"};
    case 503: return {"/problems/unavailable", "Service unavailable"};
    default: return {"/problems/internal", "Internal error"};
  }
}

}  // namespace

HttpResponse Problem(int status, std::string detail, std::optional<std::string> field) {
  const Kind kind = KindFor(status);
  nlohmann::json body = {{"type", kind.type}, {"title", kind.title}, {"status", status}, {"detail", std::move(detail)}};
  if (field) body["field"] = *field;
  HttpResponse r;
  r.status = status;
  r.content_type = "application/problem+json";
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status == 401) r.headers["WWW-Authenticate"] = "Bearer realm=\"cloudlet\"";
  if (status == 429 || status == 503) r.headers["Retry-After"] = "1";
  return r;
}

HttpResponse ProblemFromStatus(const common::Status& status) {
  return Problem(HttpStatusFor(status.code()), status.message(), status.field());
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace cloudlet::api
