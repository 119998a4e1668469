#include "cloudlet/auth/bootstrap_policy.h"

#include "cloudlet/auth/token.h"

namespace cloudlet::auth {

using common::Status;

const char* RoleName(Role r) {
  switch (r) {
    case Role::kOperator: return "operator";
    case Role::kTenant: return "tenant";
    case Role::kAgent: return "agent";
    case Role::kApp: return "app";
  }
  return "unknown";
}

std::string Permission::ToString() const {
  return kind == Kind::kCloudletWrite ? std::string(ScopeName()) + ":" + resource : std::string(ScopeName());
}

const char* Permission::ScopeName() const {
  switch (kind) {
    case Kind::kCloudletRead: return "cloudlet.read";
    case Kind::kCloudletWrite: return "cloudlet.write";
    case Kind::kOperator: return "operator";
    case Kind::kPlacementWrite: return "placement.write";
    case Kind::kPlacementRead: return "placement.read";
    case Kind::kPlacementReport: return "placement.report";
    case Kind::kRttWrite: return "rtt.write";
    case Kind::kTokenManage: return "token.manage";
    case Kind::kUsageWrite: return "usage.write";
    case Kind::kReportRead: return "report.read";
  }
  return "unknown";
}

common::Result<std::unique_ptr<BootstrapPolicy>> BootstrapPolicy::Create(std::string_view operator_token) {
  CLOUDLET_RETURN_IF_ERROR(ValidateTokenText(operator_token, "bootstrap token"));
  const auto digest = Sha256(operator_token);
  // The subject is a short public fingerprint so logs can tell which token acted.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string subject = "bootstrap:";
  for (int i = 0; i < 4; ++i) {
    subject.push_back(kHex[digest[i] >> 4]);
    subject.push_back(kHex[digest[i] & 0xf]);
  }
  return std::unique_ptr<BootstrapPolicy>(new BootstrapPolicy(digest, std::move(subject)));
}

common::Result<Principal> BootstrapPolicy::Authenticate(std::string_view bearer_token) const {
  if (bearer_token.empty()) return Status::Unauthenticated("missing bearer token");
  if (bearer_token.size() > kMaxTokenLength) return Status::Unauthenticated("invalid token");
  // Compare digests, not tokens: equal lengths always, and no early exit on the first difference.
  const auto presented = Sha256(bearer_token);
  const std::string_view a(reinterpret_cast<const char*>(presented.data()), presented.size());
  const std::string_view b(reinterpret_cast<const char*>(digest_.data()), digest_.size());
  if (!ConstantTimeEquals(a, b)) return Status::Unauthenticated("invalid token");
  return Principal{subject_, Role::kOperator, {}, {}};
}

Status BootstrapPolicy::Authorize(const Principal& who, const Permission& what) const {
  if (who.role == Role::kOperator && who.subject == subject_) return Status::Ok();
  return Status::PermissionDenied("not allowed: " + what.ToString());
}

}  // namespace cloudlet::auth
