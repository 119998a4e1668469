// Outbound HTTP for the CLI, agents, tests and benchmarks (libcurl underneath).
//
//   auto client = MakeHttpClient();
//   auto r = client->Send({.method = "GET", .url = "http://127.0.0.1:8470/healthz"});
//   if (r.ok() && r->status == 200) { ... r->body ... }
//
// One client keeps its connection alive between calls. Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "cloudlet/common/status.h"

namespace cloudlet::api {

struct ClientRequest {
  std::string method = "GET";
  std::string url = {};
  std::string body = {};
  std::map<std::string, std::string> headers = {};
  std::chrono::milliseconds timeout{10'000};
};

struct ClientResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-cased

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Unavailable when no response arrived (connection refused, timeout); any HTTP status is a response.
  virtual common::Result<ClientResponse> Send(const ClientRequest& request) = 0;
};

struct ClientOptions {
  std::string ca_file = {};  // PEM bundle to verify HTTPS servers with; empty: the system's
};

// HTTPS servers are always verified (certificate chain and host name).
std::unique_ptr<HttpClient> MakeHttpClient(ClientOptions options = {});

// Tokens must not cross a network in the clear: plain http:// is refused for a host that is not
// loopback unless `insecure`. The error names `what` ("--registry").
common::Status CheckServerUrl(const std::string& url, bool insecure, const std::string& what);

}  // namespace cloudlet::api
