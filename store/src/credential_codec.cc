#include "credential_codec.h"

namespace cloudlet::store {

namespace {

nlohmann::json TimeOrNull(const std::optional<common::TimePoint>& t) {
  return t ? nlohmann::json(common::ToUnixMillis(*t)) : nlohmann::json();
}
// A member of a stored body, or null when absent (never operator[] on a const object: a missing
// key there is undefined behaviour).
const nlohmann::json& Member(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::optional<common::TimePoint> OptionalTime(const nlohmann::json& j) {
  if (!j.is_number_integer()) return std::nullopt;
  return common::FromUnixMillis(j.get<int64_t>());
}

nlohmann::json QuotasToJson(const auth::TenantQuotas& q) {
  nlohmann::json j = nlohmann::json::object();
  if (q.max_placements) j["max_placements"] = *q.max_placements;
  if (q.max_cpu_millis) j["max_cpu_millis"] = *q.max_cpu_millis;
  if (q.max_monthly_spend) j["max_monthly_spend"] = *q.max_monthly_spend;
  return j;
}

auth::Role RoleFromName(const std::string& name) {
  for (auto r : {auth::Role::kOperator, auth::Role::kTenant, auth::Role::kAgent, auth::Role::kApp}) {
    if (name == auth::RoleName(r)) return r;
  }
  return auth::Role::kApp;  // the least privileged
}

}  // namespace

nlohmann::json TenantToJson(const auth::Tenant& t) {
  return {{"id", t.id}, {"name", t.name}, {"created_at_ms", common::ToUnixMillis(t.created_at)},
          {"disabled_at_ms", TimeOrNull(t.disabled_at)}, {"key_id", t.key_id},
          {"signing_key", t.signing_key}, {"quotas", QuotasToJson(t.quotas)}};
}

auth::Tenant TenantFromJson(const nlohmann::json& j) {
  auth::Tenant t{j.value("id", ""), j.value("name", ""), common::FromUnixMillis(j.value("created_at_ms", int64_t{0})),
                 OptionalTime(Member(j, "disabled_at_ms")), j.value("key_id", ""), j.value("signing_key", ""), {}};
  const nlohmann::json& q = Member(j, "quotas");
  if (q.is_object()) {
    const nlohmann::json& placements = Member(q, "max_placements");
    const nlohmann::json& cpu = Member(q, "max_cpu_millis");
    const nlohmann::json& spend = Member(q, "max_monthly_spend");
    if (placements.is_number_integer()) t.quotas.max_placements = placements.get<int64_t>();
    if (cpu.is_number_integer()) t.quotas.max_cpu_millis = cpu.get<int64_t>();
    if (spend.is_number()) t.quotas.max_monthly_spend = spend.get<double>();
  }
  return t;
}

nlohmann::json TokenToJson(const auth::TokenRecord& t) {
  return {{"accessor", t.accessor}, {"hash", t.hash_hex}, {"role", auth::RoleName(t.role)},
          {"tenant", t.tenant}, {"cloudlet", t.cloudlet_id}, {"scopes", t.scopes},
          {"description", t.description}, {"created_by", t.created_by},
          {"created_at_ms", common::ToUnixMillis(t.created_at)},
          {"expires_at_ms", TimeOrNull(t.expires_at)}, {"revoked_at_ms", TimeOrNull(t.revoked_at)}};
}

auth::TokenRecord TokenFromJson(const nlohmann::json& j) {
  auth::TokenRecord t;
  t.accessor = j.value("accessor", "");
  t.hash_hex = j.value("hash", "");
  t.role = RoleFromName(j.value("role", ""));
  t.tenant = j.value("tenant", "");
  t.cloudlet_id = j.value("cloudlet", "");
  t.scopes = j.value("scopes", std::vector<std::string>{});
  t.description = j.value("description", "");
  t.created_by = j.value("created_by", "");
  t.created_at = common::FromUnixMillis(j.value("created_at_ms", int64_t{0}));
  t.expires_at = OptionalTime(Member(j, "expires_at_ms"));
  t.revoked_at = OptionalTime(Member(j, "revoked_at_ms"));
  return t;
}

nlohmann::json AppTokenToJson(const auth::AppTokenRecord& t) {
  return {{"id", t.id}, {"tenant", t.tenant}, {"scopes", t.scopes}, {"created_by", t.created_by},
          {"created_at_ms", common::ToUnixMillis(t.created_at)},
          {"expires_at_ms", common::ToUnixMillis(t.expires_at)},
          {"revoked_at_ms", TimeOrNull(t.revoked_at)}};
}

auth::AppTokenRecord AppTokenFromJson(const nlohmann::json& j) {
  return {j.value("id", ""), j.value("tenant", ""), j.value("scopes", std::vector<std::string>{}),
          j.value("created_by", ""), common::FromUnixMillis(j.value("created_at_ms", int64_t{0})),
          common::FromUnixMillis(j.value("expires_at_ms", int64_t{0})), OptionalTime(Member(j, "revoked_at_ms"))};
}

}  // namespace cloudlet::store
