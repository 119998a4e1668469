// The HTTP listener's limits, against the real cloudletd over loopback with raw sockets: /healthz
// stays fast while 2,000 connections are held half-open and after they are gone; oversized headers
// and too many headers are 431; a client that never finishes its request is cut off at the deadline;
// connections past the cap get 503.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cloudlet/api/http_client.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// cloudletd's flags, with --http-listener from CLOUDLET_TEST_HTTP_LISTENER when it is set: with
// "cpprest" these tests show what the earlier listener lacks (docs/performance.md).
std::vector<std::string> Flags(std::vector<std::string> flags) {
  if (const char* listener = std::getenv("CLOUDLET_TEST_HTTP_LISTENER"); listener && *listener) {
    flags.insert(flags.end(), {"--http-listener", listener});
  }
  return flags;
}

int PortOf(const CloudletdProcess& d) { return std::stoi(d.url().substr(d.url().rfind(':') + 1)); }

// A raw TCP connection to the server; closed when it goes away.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(RawConnection&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RawConnection(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }
  bool Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  // What arrives within `limit`, until the peer closes or `limit` passes; `closed` says which.
  std::string Receive(std::chrono::milliseconds limit, bool* closed = nullptr) {
    std::string out;
    const auto until = Clock::now() + limit;
    if (closed) *closed = false;
    while (Clock::now() < until) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
      if (!closed && out.find("\r\n\r\n") != std::string::npos) break;  // a head is enough
    }
    return out;
  }

 private:
  int fd_ = -1;
};

// The status code of the first answer in `bytes`, or 0.
int StatusOf(const std::string& bytes) {
  if (bytes.rfind("HTTP/1.", 0) != 0 || bytes.size() < 12) return 0;
  return std::stoi(bytes.substr(9, 3));
}

// What the server answers `request` on a new connection, within 5 s.
std::string Ask(const CloudletdProcess& d, const std::string& request) {
  RawConnection c(PortOf(d));
  EXPECT_TRUE(c.Send(request));
  return c.Receive(5s);
}

// The slowest of `n` GET /healthz, each on a new connection.
std::chrono::milliseconds SlowestHealthz(const CloudletdProcess& d, int n) {
  std::chrono::milliseconds worst{0};
  for (int i = 0; i < n; ++i) {
    auto client = api::MakeHttpClient();
    const auto started = Clock::now();
    auto r = client->Send({.method = "GET", .url = d.url() + "/healthz", .body = {}, .headers = {}, .timeout = 2s});
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
    worst = std::max(worst, took);
  }
  return worst;
}

TEST(HttpLimitsTest, HealthzAnswersWithin100msWhile2000ConnectionsAreHeldHalfOpenAndAfterwards) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur < 4096) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 4096);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  if (rl.rlim_cur < 2100) GTEST_SKIP() << "this process may open only " << rl.rlim_cur << " files";
  CloudletdProcess d(Flags({"--http-request-deadline", "60s"}));
  d.Start();
  std::vector<RawConnection> held;
  held.reserve(2000);
  for (int i = 0; i < 2000; ++i) {
    RawConnection c(PortOf(d));
    ASSERT_TRUE(c.ok()) << "connection " << i;
    // Half a request: a request line and a header that never ends.
    ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    held.push_back(std::move(c));
  }
  std::this_thread::sleep_for(500ms);  // all accepted and waiting
  const auto during = SlowestHealthz(d, 20);
  EXPECT_LT(during, 100ms) << "slowest /healthz with 2,000 connections held: " << during.count() << " ms";
  // They are still held (the server has not given up on them), and none got an answer.
  for (size_t i = 0; i < held.size(); i += 199) {
    bool closed = true;
    EXPECT_EQ(held[i].Receive(10ms, &closed), "");
    EXPECT_FALSE(closed) << "connection " << i;
  }
  held.clear();
  std::this_thread::sleep_for(200ms);
  const auto after = SlowestHealthz(d, 20);
  EXPECT_LT(after, 100ms) << "slowest /healthz once they are gone: " << after.count() << " ms";
  std::cout << "slowest /healthz of 20: " << during.count() << " ms with 2,000 half-open connections, "
            << after.count() << " ms after\n";
}

TEST(HttpLimitsTest, OversizedHeadersOrTooManyHeadersAre431) {
  CloudletdProcess d(Flags({"--http-max-header-bytes", "8192", "--http-max-headers", "50"}));
  d.Start();
  const std::string big = Ask(d, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(20'000, 'x') + "\r\n\r\n");
  EXPECT_EQ(StatusOf(big), 431) << big;
  EXPECT_NE(big.find("8192 bytes"), std::string::npos) << big;
  auto with_headers = [](int n) {
    std::string request = "GET /healthz HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < n; ++i) request += "X-H" + std::to_string(i) + ": v\r\n";
    return request + "\r\n";
  };
  const std::string many = Ask(d, with_headers(60));
  EXPECT_EQ(StatusOf(many), 431) << many;
  EXPECT_NE(many.find("more than 50 headers"), std::string::npos) << many;
  EXPECT_EQ(StatusOf(Ask(d, with_headers(40))), 200);
  EXPECT_EQ(StatusOf(Ask(d, "GET /healthz HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n")), 400);
}

TEST(HttpLimitsTest, AClientThatNeverFinishesItsRequestIsCutOffAtTheDeadline) {
  CloudletdProcess d(Flags({"--http-request-deadline", "1s"}));
  d.Start();
  struct Case {
    const char* what;
    std::string sends;
  };
  for (const Case& c : {Case{"nothing at all", ""}, Case{"half its headers", "GET /healthz HTTP/1.1\r\nHost: a\r\nX-"},
                        Case{"a tenth of its body", "PUT /v1/cloudlets/cl-a HTTP/1.1\r\nHost: a\r\n"
                                                  "Content-Length: 100\r\n\r\n{\"name\":\"x"}}) {
    RawConnection conn(PortOf(d));
    ASSERT_TRUE(conn.ok());
    const auto started = Clock::now();
    if (!c.sends.empty()) {
      ASSERT_TRUE(conn.Send(c.sends));
    }
    bool closed = false;
    const std::string got = conn.Receive(5s, &closed);
    const auto took = Clock::now() - started;
    EXPECT_TRUE(closed) << c.what;
    EXPECT_EQ(got, "") << c.what;
    EXPECT_GE(took, 900ms) << c.what;
    EXPECT_LT(took, 3s) << c.what;
  }
  // A kept-alive connection that asks again in time is served again.
  RawConnection conn(PortOf(d));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(conn.Send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    EXPECT_EQ(StatusOf(conn.Receive(2s)), 200) << "request " << i;
    std::this_thread::sleep_for(300ms);
  }
}

TEST(HttpLimitsTest, ConnectionsPastTheCapAre503AndServedOnceOthersClose) {
  CloudletdProcess d(Flags({"--http-max-connections", "16"}));
  d.Start();
  std::vector<RawConnection> held;
  for (int i = 0; i < 16; ++i) {
    held.emplace_back(PortOf(d));
    ASSERT_TRUE(held.back().ok());
    // Answered, so taken by the server for certain, and kept alive for the next request.
    ASSERT_TRUE(held.back().Send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    ASSERT_EQ(StatusOf(held.back().Receive(5s)), 200) << "connection " << i;
  }
  {
    RawConnection extra(PortOf(d));
    ASSERT_TRUE(extra.ok());
    const std::string answer = extra.Receive(5s);
    EXPECT_EQ(StatusOf(answer), 503) << answer;
    EXPECT_NE(answer.find("maximum of connections"), std::string::npos) << answer;
  }
  held.clear();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(d.Call("GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace cloudlet::testing
