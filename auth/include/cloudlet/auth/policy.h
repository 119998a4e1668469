// Authentication and authorisation as every route sees them.
//
//   auto principal = authenticator.Authenticate(bearer_token);        // Unauthenticated on failure
//   Status s = authorizer.Authorize(*principal, Permission::CloudletWrite("cl-a"));
//   if (!s.ok()) { /* PermissionDenied: answer 403 */ }
//
// Implementations must be thread-safe: requests arrive on many threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/common/status.h"

namespace cloudlet::auth {

enum class Role { kOperator, kTenant, kAgent, kApp };
const char* RoleName(Role r);

struct Principal {
  std::string subject;  // a token's public id, for logs and audit; never the secret
  Role role = Role::kApp;
  std::string tenant;       // tenants and apps
  std::string cloudlet_id;  // agents: the one cloudlet they may write
  std::vector<std::string> scopes = {};  // permission names the token is limited to; empty: the role's
};

// What a route needs, declared next to the route.
struct Permission {
  enum class Kind {
    kCloudletRead,   // list and get cloudlets
    kCloudletWrite,  // register, heartbeat, deregister `resource`
    kOperator,       // fleet administration
    kPlacementWrite, // create placements and confirm, move or release one's own
    kPlacementRead,  // read one's own placements
    kPlacementReport,  // report a workload's state (agents: placements on their own cloudlet)
    kRttWrite,       // post RTT samples for network coordinates
    kTokenManage,    // tokens: operators all, tenants their own app tokens
    kUsageWrite,     // report usage (agents: records of their own cloudlet)
    kReportRead,     // usage reports and prices (tenants: their own usage)
  };
  Kind kind;
  std::string resource;

  static Permission CloudletRead() { return {Kind::kCloudletRead, {}}; }
  static Permission CloudletWrite(std::string id) { return {Kind::kCloudletWrite, std::move(id)}; }
  static Permission Operator() { return {Kind::kOperator, {}}; }
  static Permission PlacementWrite() { return {Kind::kPlacementWrite, {}}; }
  static Permission PlacementRead() { return {Kind::kPlacementRead, {}}; }
  static Permission PlacementReport() { return {Kind::kPlacementReport, {}}; }
  static Permission RttWrite() { return {Kind::kRttWrite, {}}; }
  static Permission TokenManage() { return {Kind::kTokenManage, {}}; }
  static Permission UsageWrite() { return {Kind::kUsageWrite, {}}; }
  static Permission ReportRead() { return {Kind::kReportRead, {}}; }
  // The scope name a token is limited with: "cloudlet.write" for CloudletWrite("cl-a").
  const char* ScopeName() const;
  std::string ToString() const;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual common::Result<Principal> Authenticate(std::string_view bearer_token) const = 0;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual common::Status Authorize(const Principal& who, const Permission& what) const = 0;
};

}  // namespace cloudlet::auth
