// Our own small HTTP interface; adapters implement it (http_server.h: Boost.Beast, which cloudletd
// and the agent use, and cpprestsdk, kept for comparison).
//
//   class Hello : public HttpHandler {
//     void Handle(HttpRequest req, Responder respond) override { respond({.status = 200, .body = "hi"}); }
//   };
//   auto server = MakeHttpServer({.host = "127.0.0.1", .port = 8470}, handler);
//   CLOUDLET_RETURN_IF_ERROR(server->Start());
//
// A handler must not block: it either responds at once or keeps the Responder and calls it later
// from any thread. A Responder must be called exactly once; later calls are ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "cloudlet/common/status.h"

namespace cloudlet::api {

struct HttpRequest {
  std::string method;
  std::string path;                            // percent-decoded
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
};

using Responder = std::function<void(HttpResponse)>;

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void Handle(HttpRequest request, Responder respond) = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8470;
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413 before they are read
  // Threads serving requests; 0 keeps the library's default. The pool is process-wide and can be
  // sized once, before the first server starts.
  size_t threads = 0;
  // Both set: serve HTTPS (TLS 1.2 or later) with this certificate chain and key, PEM files.
  std::string tls_cert_file = {};
  std::string tls_key_file = {};
  // Limits on what a client may send and hold (the Beast adapter enforces them; cpprestsdk cannot).
  size_t max_header_bytes = 16 * 1024;  // request line and headers together; past it 431
  size_t max_header_count = 100;        // past it 431
  // From the moment a request is awaited (a new connection, or the next request on a kept-alive
  // one) until its headers and body are read; a client that never finishes is cut off.
  std::chrono::milliseconds request_deadline{10'000};
  std::chrono::milliseconds write_deadline{30'000};  // to deliver an answer
  size_t max_connections = 10'000;  // past it a new connection gets 503 and is closed
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual common::Status Start() = 0;
  // Stops accepting work (new requests get 503), waits up to `drain` for requests in flight to be
  // answered, then closes the listener.
  virtual void Stop(std::chrono::milliseconds drain) = 0;
};

}  // namespace cloudlet::api
