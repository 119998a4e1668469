#include "cloudlet/common/status.h"

namespace cloudlet::common {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid-argument";
    case StatusCode::kNotFound: return "not-found";
    case StatusCode::kAlreadyExists: return "already-exists";
    case StatusCode::kFailedPrecondition: return "failed-precondition";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kPermissionDenied: return "permission-denied";
    case StatusCode::kResourceExhausted: return "resource-exhausted";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kInternal: return "internal";
  }
  return "unknown";
}

Status Status::InvalidField(std::string field, std::string reason) {
  Status s(StatusCode::kInvalidArgument, field + ": " + reason);
  s.field_ = std::move(field);
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = context + ": " + message_;
  return s;
}

Status Status::InParent(const std::string& parent) const {
  if (!field_) return *this;
  Status s = *this;
  const std::string old = *field_;
  s.field_ = parent + "." + old;
  if (s.message_.starts_with(old + ": ")) s.message_ = *s.field_ + s.message_.substr(old.size());
  return s;
}

}  // namespace cloudlet::common
