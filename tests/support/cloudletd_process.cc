#include "support/cloudletd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

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

CloudletdProcess::~CloudletdProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void CloudletdProcess::Start() { ASSERT_TRUE(TryStart()) << "cloudletd did not come up:\n" << Log(); }

bool CloudletdProcess::TryStart() {
  if (pid_ > 0) return false;
  port_ = FreeLoopbackPort();
  if (port_ <= 0) return false;
  std::vector<std::string> args = {CLOUDLETD_BIN, "--listen", "127.0.0.1:" + std::to_string(port_), "--db", db_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const std::string log = dir_.File("cloudletd.log");
  pid_ = ::fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setenv("CLOUDLET_BOOTSTRAP_TOKEN", kOperatorToken, 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  WaitFor([&] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pid_ = -1;
      return true;
    }
    auto r = api::MakeHttpClient()->Send(
        {.method = "GET", .url = url() + "/healthz", .body = {}, .headers = {}, .timeout = std::chrono::milliseconds(500)});
    return r.ok() && r->status == 200;
  });
  return pid_ > 0;
}

void CloudletdProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

int CloudletdProcess::Wait(std::chrono::seconds limit) {
  int status = 0;
  int result = -1;
  WaitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
  if (WIFEXITED(status)) result = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) result = 128 + WTERMSIG(status);
  pid_ = -1;
  return result;
}

std::string CloudletdProcess::Log() const {
  std::ifstream in(dir_.File("cloudletd.log"));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

api::ClientResponse CloudletdProcess::Call(const std::string& method, const std::string& path, const std::string& body,
                                           const char* token, std::chrono::milliseconds timeout) const {
  api::ClientRequest req{.method = method, .url = url() + path, .body = body, .headers = {}, .timeout = timeout};
  if (token && *token) req.headers["Authorization"] = std::string("Bearer ") + token;
  auto r = api::MakeHttpClient()->Send(req);
  EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
  return r.ok() ? *r : api::ClientResponse{};
}

nlohmann::json CloudletdProcess::Json(const std::string& method, const std::string& path, const std::string& body) const {
  auto r = Call(method, path, body);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << method << " " << path << " answered " << r.status << ": " << r.body;
  return j;
}

}  // namespace cloudlet::testing
