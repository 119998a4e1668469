// How credentials are kept in every backend: a JSON body per record, keyed by its id. The secret
// part of a token is never among them (only its SHA-256); a tenant's app-token signing key is, as
// HMAC needs it (SQLite keeps the file 0600 in a 0700 directory; PostgreSQL its access rules).
// Private to store/.
#pragma once

#include <nlohmann/json.hpp>

#include "cloudlet/auth/credentials.h"

namespace cloudlet::store {

nlohmann::json TenantToJson(const auth::Tenant& t);
auth::Tenant TenantFromJson(const nlohmann::json& j);
nlohmann::json TokenToJson(const auth::TokenRecord& t);
auth::TokenRecord TokenFromJson(const nlohmann::json& j);
nlohmann::json AppTokenToJson(const auth::AppTokenRecord& t);
auth::AppTokenRecord AppTokenFromJson(const nlohmann::json& j);

}  // namespace cloudlet::store
