#include "support/cloudletd_process.h"

#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/netns_lab.h"

#ifndef CLOUDLETD_BIN
#error "CLOUDLETD_BIN must name the cloudletd binary"
#endif

namespace cloudlet::testing {

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

CloudletdProcess::CloudletdProcess(std::vector<std::string> extra_args, std::string db)
    : extra_args_(std::move(extra_args)), db_(db.empty() ? dir_.File("var/cloudlet.db") : std::move(db)) {}

void CloudletdProcess::UseNamespace(std::string netns, std::vector<std::string> prefix, std::string host) {
  netns_ = std::move(netns);
  prefix_ = std::move(prefix);
  host_ = std::move(host);
}

void CloudletdProcess::UseTls(const std::string& cert, const std::string& key, std::string ca) {
  extra_args_.insert(extra_args_.end(), {"--tls-cert", cert, "--tls-key", key});
  ca_ = std::move(ca);
}

void CloudletdProcess::Start() { ASSERT_TRUE(TryStart()) << "cloudletd did not come up:\n" << Log(); }

bool CloudletdProcess::TryStart() {
  if (running()) return false;
  port_ = fixed_port_ > 0 ? fixed_port_ : netns_.empty() ? FreeLoopbackPort() : 8470;
  if (port_ <= 0) return false;
  std::vector<std::string> args = prefix_;
  for (std::string a : {std::string(CLOUDLETD_BIN), std::string("--listen"), host_ + ":" + std::to_string(port_),
                        std::string("--db"), db_}) {
    args.push_back(a);
  }
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const std::string log = dir_.File("cloudletd.log");
  process_ = std::make_unique<ChildProcess>(args, log, log, std::map<std::string, std::string>{
                                                                {"CLOUDLET_BOOTSTRAP_TOKEN", kOperatorToken}});
  if (!process_->Start()) return false;
  WaitFor([&] {
    if (!process_->Running()) return true;
    api::ClientRequest req{.method = "GET", .url = url() + "/healthz", .body = {}, .headers = {},
                           .timeout = std::chrono::milliseconds(500)};
    auto r = Send(req);
    return r.ok() && r->status == 200;
  });
  exit_code_ = process_->exit_code();
  return running();
}

common::Result<api::ClientResponse> CloudletdProcess::Send(const api::ClientRequest& req) const {
  if (netns_.empty()) return api::MakeHttpClient({.ca_file = ca_})->Send(req);
  common::Result<api::ClientResponse> out = common::Status::Internal("not sent");
  InNetns(netns_, [&] { out = api::MakeHttpClient({.ca_file = ca_})->Send(req); });
  return out;
}

void CloudletdProcess::Signal(int sig) {
  if (process_) process_->Signal(sig);
}

int CloudletdProcess::Wait(std::chrono::seconds limit) {
  if (!process_) return -1;
  exit_code_ = process_->Wait(limit);
  return exit_code_;
}

std::string CloudletdProcess::Log() const { return ReadFileOrEmpty(dir_.File("cloudletd.log")); }

api::ClientResponse CloudletdProcess::Call(const std::string& method, const std::string& path, const std::string& body,
                                           const char* token, std::chrono::milliseconds timeout) const {
  api::ClientRequest req{.method = method, .url = url() + path, .body = body, .headers = {}, .timeout = timeout};
  if (token && *token) req.headers["Authorization"] = std::string("Bearer ") + token;
  auto r = Send(req);
  EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
  return r.ok() ? *r : api::ClientResponse{};
}

nlohmann::json CloudletdProcess::Json(const std::string& method, const std::string& path, const std::string& body) const {
  auto r = Call(method, path, body);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << method << " " << path << " answered " << r.status << ": " << r.body;
  return j;
}

std::vector<std::string> RegisterFromThreads(const CloudletdProcess& d, int threads, int each,
                                             const std::function<std::string(const std::string& id)>& body) {
  std::vector<std::string> acknowledged;
  std::mutex mu;
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      for (int i = 0; i < each; ++i) {
        const std::string id = "cl-" + std::to_string(t) + "-" + std::to_string(i);
        if (d.Call("PUT", "/v1/cloudlets/" + id, body(id)).status == 201) {
          std::lock_guard lock(mu);
          acknowledged.push_back(id);
        }
      }
    });
  }
  for (auto& th : running) th.join();
  return acknowledged;
}

}  // namespace cloudlet::testing
