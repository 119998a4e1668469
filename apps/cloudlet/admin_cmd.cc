// `cloudlet tenants add|list|disable|rotate-key`, `cloudlet tokens create|list|revoke`, `cloudlet audit`.
#include <iostream>
#include <memory>
#include <sstream>

#include "client.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

// `text` when the member is a string, else `otherwise`.
std::string StringOr(const json& j, const char* key, const std::string& otherwise) {
  const json& v = Member(j, key);
  return v.is_string() ? v.get<std::string>() : otherwise;
}

// Runs one call and prints its answer: as JSON with --json, else with `print`.
Status CallAndPrint(const GlobalOptions& o, const std::string& method, const std::string& path, const std::string& body,
                    const std::function<void(const json&)>& print) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  auto answer = client->Call(method, path, body);
  if (!answer.ok()) return answer.status();
  if (o.json_output) PrintJson(*answer);
  else print(*answer);
  return Status::Ok();
}

void PrintTenants(const json& body) {
  std::vector<std::vector<std::string>> rows;
  const json& list = Member(body, "tenants");
  for (const auto& t : list.is_array() ? list : json::array({body})) {
    const json& disabled = Member(t, "disabled_at");
    rows.push_back({StringOr(t, "id", ""), StringOr(t, "name", ""), StringOr(t, "created_at", ""),
                    disabled.is_string() ? "disabled " + disabled.get<std::string>() : "active",
                    StringOr(t, "key_id", "")});
  }
  PrintTable(std::cout, {"ID", "NAME", "CREATED", "STATE", "SIGNING KEY ID"}, rows);
}

void PrintTokens(const json& body) {
  std::vector<std::vector<std::string>> rows;
  const json& list = Member(body, "tokens");
  for (const auto& t : list.is_array() ? list : json::array()) {
    const std::string scopes = JoinStrings(Member(t, "scopes"));
    rows.push_back({StringOr(t, "id", ""), StringOr(t, "role", ""), StringOr(t, "tenant", ""),
                    StringOr(t, "cloudlet", ""), scopes.empty() ? "(role)" : scopes, StringOr(t, "expires_at", "never"),
                    Member(t, "revoked_at").is_string() ? "revoked" : "active", StringOr(t, "description", "")});
  }
  PrintTable(std::cout, {"ID", "ROLE", "TENANT", "CLOUDLET", "SCOPES", "EXPIRES", "STATE", "DESCRIPTION"}, rows);
}

void PrintAudit(const json& body) {
  std::vector<std::vector<std::string>> rows;
  const json& list = Member(body, "audit");
  for (const auto& e : list.is_array() ? list : json::array()) {
    rows.push_back({StringOr(e, "at", ""), StringOr(e, "actor", ""), StringOr(e, "remote", ""),
                    StringOr(e, "action", ""), StringOr(e, "target", ""), StringOr(e, "detail", "")});
  }
  PrintTable(std::cout, {"AT", "ACTOR", "FROM", "ACTION", "TARGET", "DETAIL"}, rows);
}

struct TokenFlags {
  std::string role = "app", tenant, cloudlet, scopes, ttl, description;
};

json TokenRequest(const TokenFlags& f) {
  json request = {{"role", f.role}};
  if (!f.tenant.empty()) request["tenant"] = f.tenant;
  if (!f.cloudlet.empty()) request["cloudlet"] = f.cloudlet;
  if (!f.ttl.empty()) request["ttl"] = f.ttl;
  if (!f.description.empty()) request["description"] = f.description;
  if (!f.scopes.empty()) {
    json list = json::array();
    std::stringstream in(f.scopes);
    for (std::string s; std::getline(in, s, ',');) list.push_back(s);
    request["scopes"] = list;
  }
  return request;
}

// The secret alone on stdout (for $(...)), what it is on stderr.
void PrintCreatedToken(const json& body) {
  std::cout << StringOr(body, "token", "") << '\n';
  const json& expires = Member(body, "expires_at");
  std::cerr << "created " << StringOr(body, "role", "") << " token " << StringOr(body, "id", "")
            << (expires.is_string() ? ", expires " + expires.get<std::string>() : "")
            << "; the secret above is shown only now\n";
}

void AddTenantCommands(CLI::App& app, Context& ctx) {
  auto* tenants = app.add_subcommand("tenants", "Tenants (operator)");
  tenants->require_subcommand(1);
  auto id = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  auto* add = tenants->add_subcommand("add", "Create a tenant");
  add->add_option("id", *id, "Tenant id, 1-64 of [a-z0-9-]")->required();
  add->add_option("--name", *name, "Display name");
  add->callback([&ctx, id, name] {
    ctx.run = [&ctx, id, name] {
      return CallAndPrint(ctx.options, "POST", "/v1/tenants", json{{"id", *id}, {"name", *name}}.dump(), PrintTenants);
    };
  });
  tenants->add_subcommand("list", "List tenants")->callback([&ctx] {
    ctx.run = [&ctx] { return CallAndPrint(ctx.options, "GET", "/v1/tenants", "", PrintTenants); };
  });
  for (const auto& [name_of, help] : {std::pair{"disable", "Disable a tenant: all its tokens stop working"},
                                      std::pair{"rotate-key", "New app-token signing key: its app tokens stop working"}}) {
    auto* sub = tenants->add_subcommand(name_of, help);
    sub->add_option("id", *id, "Tenant id")->required();
    sub->callback([&ctx, id, action = std::string(name_of)] {
      ctx.run = [&ctx, id, action] {
        return CallAndPrint(ctx.options, "POST", "/v1/tenants/" + UrlEncode(*id) + "/" + action, "", PrintTenants);
      };
    });
  }
}

void AddTokenCommands(CLI::App& app, Context& ctx) {
  auto* tokens = app.add_subcommand("tokens", "Tokens (operators: all; tenants: their own app tokens)");
  tokens->require_subcommand(1);
  auto f = std::make_shared<TokenFlags>();
  auto id = std::make_shared<std::string>();
  auto* create = tokens->add_subcommand("create", "Create a token; its secret is printed once");
  create->add_option("--role", f->role, "operator, tenant, agent or app")->capture_default_str()
      ->check(CLI::IsMember({"operator", "tenant", "agent", "app"}));
  create->add_option("--tenant", f->tenant, "The tenant of a tenant or app token");
  create->add_option("--cloudlet", f->cloudlet, "The one cloudlet an agent token may write");
  create->add_option("--scopes", f->scopes, "Limit to these permissions, comma-separated (e.g. placement.read)");
  create->add_option("--ttl", f->ttl, "Lifetime, e.g. 1h or 30d (app tokens: at most 24h, default 1h)");
  create->add_option("--description", f->description, "What the token is for");
  create->callback([&ctx, f] {
    ctx.run = [&ctx, f] { return CallAndPrint(ctx.options, "POST", "/v1/tokens", TokenRequest(*f).dump(), PrintCreatedToken); };
  });
  tokens->add_subcommand("list", "List tokens (never their secrets)")->callback([&ctx] {
    ctx.run = [&ctx] { return CallAndPrint(ctx.options, "GET", "/v1/tokens", "", PrintTokens); };
  });
  auto* revoke = tokens->add_subcommand("revoke", "Revoke a token at once");
  revoke->add_option("id", *id, "Token id (accessor or app token id)")->required();
  revoke->callback([&ctx, id] {
    ctx.run = [&ctx, id] {
      auto client = RegistryClient::Connect(ctx.options);
      if (!client.ok()) return client.status();
      if (auto r = client->Call("DELETE", "/v1/tokens/" + UrlEncode(*id)); !r.ok()) return r.status();
      if (ctx.options.json_output) PrintJson({{"id", *id}, {"revoked", true}});
      else std::cout << "revoked " << *id << '\n';
      return Status::Ok();
    };
  });
}

}  // namespace

void AddAdminCommands(CLI::App& app, Context& ctx) {
  AddTenantCommands(app, ctx);
  AddTokenCommands(app, ctx);
  auto limit = std::make_shared<size_t>(50);
  auto* audit = app.add_subcommand("audit", "Recent administrative actions (operator)");
  audit->add_option("--limit", *limit, "How many, newest first")->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{10000}));
  audit->callback([&ctx, limit] {
    ctx.run = [&ctx, limit] {
      return CallAndPrint(ctx.options, "GET", "/v1/audit?limit=" + std::to_string(*limit), "", PrintAudit);
    };
  });
}

}  // namespace cloudlet::cli
