#include "client.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cloudlet/api/failover_client.h"
#include "cloudlet/common/duration.h"

namespace cloudlet::cli {

using common::Result;
using common::Status;
using nlohmann::json;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

Result<std::string> TokenOf(const GlobalOptions& o) {
  std::string token = o.token.empty() ? EnvOr("CLOUDLET_TOKEN", "") : o.token;
  std::string token_file = o.token_file.empty() ? EnvOr("CLOUDLET_TOKEN_FILE", "") : o.token_file;
  if (token.empty() && !token_file.empty()) {
    std::ifstream in(token_file);
    if (!in) return Status::InvalidArgument("cannot read token file " + token_file);
    std::getline(in, token);
  }
  if (token.empty()) {
    return Status::InvalidArgument(
        "no token: pass --token, --token-file, or set CLOUDLET_TOKEN (cloudletd prints how on start)");
  }
  return token;
}

Result<RegistryClient> RegistryClient::Connect(const GlobalOptions& o) {
  RegistryClient c;
  std::stringstream urls(!o.registry.empty() ? o.registry : EnvOr("CLOUDLET_REGISTRY", "http://127.0.0.1:8470"));
  for (std::string url; std::getline(urls, url, ',');) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.empty()) continue;
    if (auto s = api::CheckServerUrl(url, o.insecure, "--registry"); !s.ok()) return Status::InvalidArgument(s.message());
    c.bases_.push_back(url);
  }
  if (c.bases_.empty()) return Status::InvalidArgument("--registry: give a URL, e.g. http://127.0.0.1:8470");
  auto token = TokenOf(o);
  if (!token.ok()) return token.status();
  c.token_ = *token;
  auto timeout = common::ParseDuration(o.timeout, "--timeout");
  if (!timeout.ok()) return Status::InvalidArgument(timeout.status().message());
  c.timeout_ = *timeout;
  c.http_ = api::MakeFailoverClient(api::MakeHttpClient({.ca_file = o.ca_file}), c.bases_);
  return c;
}

Result<api::ClientResponse> RegistryClient::Send(const std::string& method, const std::string& path,
                                                 const std::string& body) {
  // The failover client tries the other registries (api/failover_client.h).
  api::ClientRequest req{.method = method, .url = bases_.front() + path, .body = body, .headers = {}, .timeout = timeout_};
  req.headers["Authorization"] = "Bearer " + token_;
  auto r = http_->Send(req);
  if (!r.ok()) {
    return Status::Unavailable(bases_.size() == 1 ? "cannot reach the registry at " + bases_.front() + ": " + r.status().message()
                                                  : "cannot reach any registry: " + r.status().message());
  }
  return r;
}

Result<std::string> RegistryClient::Raw(const std::string& method, const std::string& path) {
  auto r = Send(method, path, {});
  if (!r.ok()) return r.status();
  if (r->status >= 400) {
    return Status::FailedPrecondition("the registry answered " + std::to_string(r->status) + ": " + r->body);
  }
  return r->body;
}

Result<json> RegistryClient::Call(const std::string& method, const std::string& path, const std::string& request_body) {
  auto r = Send(method, path, request_body);
  if (!r.ok()) return r.status();
  json body = r->body.empty() ? json() : json::parse(r->body, nullptr, false);
  if (r->status >= 400) {
    const json& detail = Member(body, "detail");
    return Status::FailedPrecondition("the registry answered " + std::to_string(r->status) + ": " +
                                      (detail.is_string() ? detail.get<std::string>() : r->body));
  }
  if (body.is_discarded()) return Status::Internal("the registry's answer is not JSON");
  return body;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

const json& Member(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string JoinStrings(const json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const auto& v : arr) {
    if (v.is_string()) out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

void PrintJson(const json& j) { std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n'; }

}  // namespace cloudlet::cli
