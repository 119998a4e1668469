// The CLI's side of the registry's REST API: requests with the caller's token, answers as JSON or
// errors naming what went wrong, and helpers to read answers from a registry of any version.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "commands.h"

namespace cloudlet::cli {

// The bearer token from --token, --token-file, CLOUDLET_TOKEN or CLOUDLET_TOKEN_FILE.
common::Result<std::string> TokenOf(const GlobalOptions& o);

class RegistryClient {
 public:
  // The registries from --registry or CLOUDLET_REGISTRY (comma-separated: tried in order, the one
  // that last answered first; on a refused connection, a timeout or a 5xx the next one, two rounds
  // with backoff); InvalidArgument for a bad URL, token or timeout.
  static common::Result<RegistryClient> Connect(const GlobalOptions& o);

  // The answer as JSON; Unavailable when the registry cannot be reached, FailedPrecondition with
  // its problem's detail when it answers an error.
  common::Result<nlohmann::json> Call(const std::string& method, const std::string& path, const std::string& body = {});
  // The answer's body as text (CSV).
  common::Result<std::string> Raw(const std::string& method, const std::string& path);
  common::Millis timeout() const { return timeout_; }

 private:
  RegistryClient() = default;
  common::Result<api::ClientResponse> Send(const std::string& method, const std::string& path, const std::string& body);

  std::shared_ptr<api::HttpClient> http_;
  std::vector<std::string> bases_;
  std::string token_;
  common::Millis timeout_{10'000};
};

std::string UrlEncode(const std::string& s);
std::string EnvOr(const char* name, const char* fallback);

// A member of an answer, or null when it is absent: operator[] on a const json must never be asked
// for a missing key, and a registry of another version may leave one out.
const nlohmann::json& Member(const nlohmann::json& j, const char* key);

template <typename T>
T ValueOr(const nlohmann::json& j, const char* key, T fallback) {
  const nlohmann::json& v = Member(j, key);
  try {
    return v.is_null() ? fallback : v.get<T>();
  } catch (const nlohmann::json::exception&) {
    return fallback;
  }
}

std::string Fixed(double v, int digits = 1);
// The strings of a JSON array, comma-separated.
std::string JoinStrings(const nlohmann::json& arr);
void PrintJson(const nlohmann::json& j);

}  // namespace cloudlet::cli
