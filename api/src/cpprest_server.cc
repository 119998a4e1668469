// The HTTP server adapter on cpprestsdk's http_listener (Boost.Asio underneath). cpprestsdk is in
// maintenance mode, so nothing outside this file knows it exists.
// cpprestsdk defines a macro U() that breaks fmt/spdlog; turn it off and include spdlog first.
#define _TURN_OFF_PLATFORM_STRING
#include <spdlog/spdlog.h>

#include <boost/asio/ssl.hpp>
#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "cloudlet/api/http_server.h"
#include "cloudlet/api/problem.h"
#include "cloudlet/api/request_target.h"

namespace cloudlet::api {

namespace {

namespace http = web::http;
using http::experimental::listener::http_listener;
using http::experimental::listener::http_listener_config;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class CpprestServer final : public HttpServer {
 public:
  CpprestServer(HttpServerOptions options, HttpHandler& handler) : options_(std::move(options)), handler_(handler) {}
  ~CpprestServer() override { Stop(std::chrono::milliseconds(0)); }

  common::Status Start() override {
    const std::string host = options_.host.find(':') != std::string::npos ? "[" + options_.host + "]" : options_.host;
    const std::string where = host + ":" + std::to_string(options_.port);
    try {
      if (options_.threads > 0) {
        static std::once_flag sized;
        std::call_once(sized, [&] { crossplat::threadpool::initialize_with_threads(options_.threads); });
      }
      http_listener_config config;
      // cpprestsdk's own timeout must not cut a blocking query short; ours are bounded elsewhere.
      config.set_timeout(utility::seconds(900));
      const bool tls = !options_.tls_cert_file.empty() || !options_.tls_key_file.empty();
      if (tls) {
        if (options_.tls_cert_file.empty() || options_.tls_key_file.empty()) {
          return common::Status::InvalidArgument("TLS needs both a certificate and a key file");
        }
        // Load them once now, so that a bad file is an error at start rather than at every handshake.
        boost::asio::ssl::context probe(boost::asio::ssl::context::tls_server);
        ConfigureTls(probe);
        config.set_ssl_context_callback([this](boost::asio::ssl::context& ctx) { ConfigureTls(ctx); });
      }
      listener_ = std::make_unique<http_listener>(web::uri((tls ? "https://" : "http://") + where + "/"), config);
      listener_->support([this](http::http_request req) { OnRequest(std::move(req)); });
      listener_->open().wait();
    } catch (const std::exception& e) {
      listener_.reset();
      return common::Status::Unavailable(where + ": cannot listen: " + e.what());
    }
    return common::Status::Ok();
  }

  void Stop(std::chrono::milliseconds drain) override {
    if (!listener_ || stopping_.exchange(true)) return;
    {
      std::unique_lock lock(mu_);
      if (!drained_.wait_for(lock, drain, [&] { return in_flight_ == 0; })) {
        spdlog::warn("http: {} request(s) still in flight after {} ms; closing anyway", in_flight_, drain.count());
      }
    }
    try {
      listener_->close().wait();
    } catch (const std::exception& e) {
      spdlog::warn("http: closing the listener: {}", e.what());
    }
  }

 private:
  void ConfigureTls(boost::asio::ssl::context& ctx) const {
    ctx.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                    boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                    boost::asio::ssl::context::no_tlsv1_1 | boost::asio::ssl::context::single_dh_use);
    ctx.use_certificate_chain_file(options_.tls_cert_file);
    ctx.use_private_key_file(options_.tls_key_file, boost::asio::ssl::context::pem);
  }

  void OnRequest(http::http_request req) {
    {
      std::lock_guard lock(mu_);
      ++in_flight_;
    }
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [this, req, once](HttpResponse r) mutable { Reply(req, std::move(r), *once); };
    if (stopping_) return respond(Problem(503, "the server is shutting down"));

    const std::string raw_uri = req.relative_uri().to_string();
    if (raw_uri.size() > kMaxRequestTargetBytes) {
      return respond(Problem(414, "the request target exceeds " + std::to_string(kMaxRequestTargetBytes) + " bytes"));
    }
    const auto& headers = req.headers();
    if (headers.content_length() > options_.max_body_bytes) {
      return respond(Problem(413, "the request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes"));
    }
    if (headers.has("Transfer-Encoding")) {
      return respond(Problem(411, "send the body with a Content-Length, not chunked"));
    }

    HttpRequest r;
    r.method = req.method();
    r.remote_address = req.remote_address();
    auto target = ParseRequestTarget(raw_uri);
    if (!target.ok()) return respond(Problem(400, "the request target is not valid: " + target.status().message()));
    r.path = std::move(target->path);
    r.query = std::move(target->query);
    for (const auto& [name, value] : headers) r.headers[Lower(name)] = value;

    req.extract_string(/*ignore_content_type=*/true)
        .then([this, r = std::move(r), respond](pplx::task<std::string> body) mutable {
          try {
            r.body = body.get();
          } catch (const std::exception&) {
            return respond(Problem(400, "could not read the request body"));
          }
          if (r.body.size() > options_.max_body_bytes) {
            return respond(Problem(413, "the request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes"));
          }
          try {
            handler_.Handle(std::move(r), respond);
          } catch (const std::exception& e) {
            spdlog::error("http: handler threw: {}", e.what());
            respond(Problem(500, "internal error"));
          }
        });
  }

  void Reply(http::http_request& req, HttpResponse r, std::atomic<bool>& once) {
    if (once.exchange(true)) return;
    http::http_response response(static_cast<http::status_code>(r.status));
    for (const auto& [k, v] : r.headers) response.headers().add(k, v);
    if (!r.content_type.empty()) response.set_body(std::move(r.body), r.content_type);
    // A request stays in flight until its reply has been written, so that Stop() never closes the
    // listener under a reply that is still being sent.
    req.reply(response).then([this](pplx::task<void> t) {
      try {
        t.get();
      } catch (const std::exception& e) {
        spdlog::debug("http: reply not delivered: {}", e.what());
      }
      std::lock_guard lock(mu_);
      if (--in_flight_ == 0) drained_.notify_all();
    });
  }

  const HttpServerOptions options_;
  HttpHandler& handler_;
  std::unique_ptr<http_listener> listener_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable drained_;
  size_t in_flight_ = 0;
};

}  // namespace

std::unique_ptr<HttpServer> MakeCpprestServer(HttpServerOptions options, HttpHandler& handler) {
  return std::make_unique<CpprestServer>(std::move(options), handler);
}

}  // namespace cloudlet::api
