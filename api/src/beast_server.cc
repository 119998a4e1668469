// The HTTP listener on Boost.Beast (Boost.Asio underneath): plain or TLS, keep-alive, and every limit
// of HttpServerOptions. A connection is one session on its own strand: it reads a request's headers
// (431 past the byte or count limit), then its body (413 past max_body_bytes), all within the request
// deadline (the connection is closed when it passes), hands the request to the handler with no
// deadline (blocking queries wait for minutes), and writes the answer within the write deadline.
//
// Lifetimes: the io_context and its counters live in a Core that every session holds, so that an
// answer given late (a blocking query that ends after Stop) never touches a destroyed io_context; a
// Responder posts to its session only while the Core's gate is open.
#include <sys/resource.h>

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "cloudlet/api/http_server.h"
#include "cloudlet/api/problem.h"
#include "cloudlet/api/request_target.h"

namespace cloudlet::api {

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  virtual void Close() = 0;  // from any thread
};

// What the listener and its sessions share.
class Core final : public std::enable_shared_from_this<Core> {
 public:
  Core(HttpServerOptions o, HttpHandler& h)
      : options(std::move(o)),
        handler(h),
        ioc(static_cast<int>(options.threads > 0 ? options.threads : 2)),
        acceptor(net::make_strand(ioc)),
        retry_timer(acceptor.get_executor()) {}

  void Accept();
  // Counts a request handed to the handler until its answer is written (or dropped at Stop).
  void BeginFlight() {
    std::lock_guard lock(flight_mu);
    ++in_flight;
  }
  void EndFlight() {
    std::lock_guard lock(flight_mu);
    if (--in_flight == 0) drained.notify_all();
  }
  // Runs `post` (which posts to a session) while the gate is open; false once it is closed.
  template <class F>
  bool ThroughGate(F&& post) {
    std::lock_guard lock(gate_mu);
    if (!gate_open) return false;
    post();
    return true;
  }
  void Track(SessionBase* s, std::weak_ptr<SessionBase> w) {
    std::lock_guard lock(sessions_mu);
    sessions[s] = std::move(w);
  }
  void Untrack(SessionBase* s) {
    std::lock_guard lock(sessions_mu);
    sessions.erase(s);
  }

  const HttpServerOptions options;
  HttpHandler& handler;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;  // after the process ran out of descriptors
  std::optional<ssl::context> tls;
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};

  std::mutex gate_mu;
  bool gate_open = true;
  std::mutex flight_mu;
  std::condition_variable drained;
  size_t in_flight = 0;
  std::mutex sessions_mu;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

 private:
  void OnAccept(ErrorCode ec, tcp::socket socket);
};

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(std::shared_ptr<Core> core, std::string remote, Args&&... stream_args)
      : core_(std::move(core)), stream_(std::forward<Args>(stream_args)...), remote_(std::move(remote)) {
    ++core_->connections;
  }
  ~Session() override {
    core_->Untrack(this);
    --core_->connections;
  }

  // `refuse`: over the connection cap; answer 503 and close.
  void Begin(bool refuse) {
    core_->Track(this, this->weak_from_this());
    if constexpr (kTls) {
      Lowest().expires_after(core_->options.request_deadline);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this(), refuse](ErrorCode ec) {
        if (ec) return;  // a failed handshake or a client that never finished it: nothing to answer
        refuse ? self->Refuse(503, "the server holds its maximum of connections; try again") : self->ReadHeader();
      });
    } else {
      net::dispatch(stream_.get_executor(), [self = this->shared_from_this(), refuse] {
        refuse ? self->Refuse(503, "the server holds its maximum of connections; try again") : self->ReadHeader();
      });
    }
  }

  void Close() override {
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      ErrorCode ignored;
      self->Lowest().socket().close(ignored);
    });
  }

 private:
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(std::min<size_t>(core_->options.max_header_bytes, UINT32_MAX)));
    parser_->body_limit(core_->options.max_body_bytes);
    Lowest().expires_after(core_->options.request_deadline);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = this->shared_from_this()](ErrorCode ec, size_t) { self->OnHeader(ec); });
  }

  // True when `ec` ended the read and was dealt with.
  bool ReadFailed(ErrorCode ec) {
    if (!ec) return false;
    if (ec == bhttp::error::header_limit) {
      Refuse(431, "the request line and headers exceed " + std::to_string(core_->options.max_header_bytes) + " bytes");
    } else if (ec == bhttp::error::body_limit) {
      Refuse(413, "the request body exceeds " + std::to_string(core_->options.max_body_bytes) + " bytes");
    } else if (ec == beast::error::timeout) {
      spdlog::debug("http: {} did not finish a request within {} ms; closed", remote_,
                    core_->options.request_deadline.count());
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
               ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      Refuse(400, "malformed HTTP request: " + ec.message());
    }
    return true;  // end of stream, reset, aborted: nothing to answer
  }

  void OnHeader(ErrorCode ec) {
    if (ReadFailed(ec)) return;
    const auto& head = parser_->get();
    if (static_cast<size_t>(std::distance(head.begin(), head.end())) > core_->options.max_header_count) {
      return Refuse(431, "the request has more than " + std::to_string(core_->options.max_header_count) + " headers");
    }
    if (bhttp::token_list(head[bhttp::field::expect]).exists("100-continue") && !parser_->is_done()) {
      auto go_on = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, head.version());
      bhttp::async_write(stream_, *go_on, [self = this->shared_from_this(), go_on](ErrorCode ec, size_t) {
        if (!ec) self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = this->shared_from_this()](ErrorCode ec, size_t) { self->OnRequest(ec); });
  }

  void OnRequest(ErrorCode ec) {
    if (ReadFailed(ec)) return;
    Lowest().expires_never();  // the handler may take minutes (blocking queries)
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    const std::string_view raw(req.target().data(), req.target().size());
    if (raw.size() > kMaxRequestTargetBytes) {
      return Refuse(414, "the request target exceeds " + std::to_string(kMaxRequestTargetBytes) + " bytes");
    }
    auto target = ParseRequestTarget(raw);
    if (!target.ok()) return Refuse(400, "the request target is not valid: " + target.status().message());
    HttpRequest r{.method = std::string(req.method_string()), .path = std::move(target->path),
                  .query = std::move(target->query), .headers = {}, .body = std::move(req.body()),
                  .remote_address = remote_};
    for (const auto& field : req) {
      std::string& value = r.headers[Lower(std::string_view(field.name_string().data(), field.name_string().size()))];
      const std::string_view v(field.value().data(), field.value().size());
      value = value.empty() ? std::string(v) : value + ", " + std::string(v);
    }
    if (core_->stopping) return Refuse(503, "the server is shutting down");

    core_->BeginFlight();
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self = this->shared_from_this(), once](HttpResponse answer) {
      if (once->exchange(true)) return;
      const bool posted = self->core_->ThroughGate([&] {
        net::post(self->stream_.get_executor(),
                  [self, answer = std::move(answer)]() mutable { self->Write(std::move(answer), true); });
      });
      if (!posted) self->core_->EndFlight();
    };
    try {
      core_->handler.Handle(std::move(r), respond);
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw: {}", e.what());
      respond(Problem(500, "internal error"));
    }
  }

  // Answers and closes: the request was refused before the handler saw it.
  void Refuse(int status, const std::string& why) {
    close_after_ = true;
    Write(Problem(status, why), false);
  }

  void Write(HttpResponse answer, bool in_flight) {
    res_.emplace();
    res_->version(version_);
    res_->result(static_cast<unsigned>(answer.status));
    for (const auto& [k, v] : answer.headers) res_->set(k, v);
    if (!answer.content_type.empty()) res_->set(bhttp::field::content_type, answer.content_type);
    res_->body() = std::move(answer.body);
    res_->keep_alive(keep_alive_ && !close_after_ && !core_->stopping);
    res_->prepare_payload();
    Lowest().expires_after(core_->options.write_deadline);
    bhttp::async_write(stream_, *res_, [self = this->shared_from_this(), in_flight](ErrorCode ec, size_t) {
      if (in_flight) self->core_->EndFlight();
      if (ec) return;
      if (!self->res_->keep_alive()) return self->Shutdown();
      self->ReadHeader();
    });
  }

  void Shutdown() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](ErrorCode) {});
    } else {
      ErrorCode ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  std::shared_ptr<Core> core_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> res_;
  bool keep_alive_ = true;
  bool close_after_ = false;
  unsigned version_ = 11;
};

void Core::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](ErrorCode ec, tcp::socket socket) {
    self->OnAccept(ec, std::move(socket));
  });
}

void Core::OnAccept(ErrorCode ec, tcp::socket socket) {
  if (!acceptor.is_open() || stopping) return;
  if (ec) {
    // Out of descriptors (EMFILE) or a connection reset before it was taken: wait a little.
    spdlog::warn("http: accept: {}", ec.message());
    retry_timer.expires_after(std::chrono::milliseconds(100));
    retry_timer.async_wait([self = shared_from_this()](ErrorCode) { self->Accept(); });
    return;
  }
  ErrorCode peer_ec;
  auto address = socket.remote_endpoint(peer_ec).address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
  }
  const std::string remote = peer_ec ? std::string() : address.to_string();
  const bool refuse = connections.load() >= options.max_connections;
  if (tls) {
    auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(shared_from_this(), remote,
                                                                              std::move(socket), *tls);
    s->Begin(refuse);
  } else {
    auto s = std::make_shared<Session<beast::tcp_stream>>(shared_from_this(), remote, std::move(socket));
    s->Begin(refuse);
  }
  Accept();
}

// Enough descriptors for the connection cap, as far as the hard limit allows.
void RaiseDescriptorLimit(size_t wanted) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= wanted) return;
  const rlim_t before = rl.rlim_cur;
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, wanted);
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < wanted) {
    spdlog::warn("http: open files limited to {} (hard limit; was {}): fewer than {} connections fit", rl.rlim_cur,
                 before, wanted);
  }
}

class BeastServer final : public HttpServer {
 public:
  BeastServer(HttpServerOptions options, HttpHandler& handler)
      : core_(std::make_shared<Core>(std::move(options), handler)) {}
  ~BeastServer() override { Stop(std::chrono::milliseconds(0)); }

  common::Status Start() override {
    const HttpServerOptions& o = core_->options;
    const std::string where =
        (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
    const bool tls = !o.tls_cert_file.empty() || !o.tls_key_file.empty();
    try {
      if (tls) {
        if (o.tls_cert_file.empty() || o.tls_key_file.empty()) {
          return common::Status::InvalidArgument("TLS needs both a certificate and a key file");
        }
        core_->tls.emplace(ssl::context::tls_server);
        core_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                                ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
        core_->tls->use_certificate_chain_file(o.tls_cert_file);
        core_->tls->use_private_key_file(o.tls_key_file, ssl::context::pem);
      }
      tcp::resolver resolver(core_->ioc);
      const auto endpoints = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive);
      if (endpoints.empty()) return common::Status::Unavailable(where + ": the address resolves to nothing");
      const tcp::endpoint endpoint = endpoints.begin()->endpoint();
      core_->acceptor.open(endpoint.protocol());
      core_->acceptor.set_option(net::socket_base::reuse_address(true));
      core_->acceptor.bind(endpoint);
      core_->acceptor.listen(net::socket_base::max_listen_connections);
    } catch (const std::exception& e) {
      return common::Status::Unavailable(where + ": cannot listen: " + e.what());
    }
    RaiseDescriptorLimit(o.max_connections + 256);
    core_->Accept();
    work_.emplace(net::make_work_guard(core_->ioc));
    const size_t threads = o.threads > 0 ? o.threads : 2;
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([core = core_] { core->ioc.run(); });
    started_ = true;
    return common::Status::Ok();
  }

  void Stop(std::chrono::milliseconds drain) override {
    if (!started_ || core_->stopping.exchange(true)) return;
    {
      std::unique_lock lock(core_->flight_mu);
      if (!core_->drained.wait_for(lock, drain, [&] { return core_->in_flight == 0; })) {
        spdlog::warn("http: {} request(s) still in flight after {} ms; closing anyway", core_->in_flight, drain.count());
      }
    }
    {
      std::lock_guard lock(core_->gate_mu);  // answers given from now on are dropped
      core_->gate_open = false;
    }
    net::post(core_->acceptor.get_executor(), [core = core_] {
      ErrorCode ignored;
      core->acceptor.close(ignored);
      core->retry_timer.cancel();
    });
    std::vector<std::shared_ptr<SessionBase>> open;
    {
      std::lock_guard lock(core_->sessions_mu);
      for (auto& [_, weak] : core_->sessions) {
        if (auto s = weak.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) s->Close();
    open.clear();
    work_.reset();
    // Closed sockets end every pending operation; a session stuck anyway is not waited for long.
    for (int i = 0; i < 40 && core_->connections.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (core_->connections.load() > 0) core_->ioc.stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  std::shared_ptr<Core> core_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  bool started_ = false;
};

}  // namespace

std::unique_ptr<HttpServer> MakeHttpServer(HttpServerOptions options, HttpHandler& handler) {
  return std::make_unique<BeastServer>(std::move(options), handler);
}

}  // namespace cloudlet::api
