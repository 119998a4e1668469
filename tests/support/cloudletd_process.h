// Runs the real cloudletd binary on a free loopback port with its own database, for integration
// tests. The process is killed and reaped when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <thread>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {

inline constexpr char kOperatorToken[] = "integration-operator-token-0123456789";

// A port that was free a moment ago (bound to 0 and released).
int FreeLoopbackPort();

class CloudletdProcess {
 public:
  explicit CloudletdProcess(std::vector<std::string> extra_args = {}, std::string db = {});
  ~CloudletdProcess();

  // Starts the binary and waits (up to 20 s) until /healthz answers. Fails the test otherwise.
  void Start();
  // As Start, but reports failure instead; exit_code() then says how the process ended.
  bool TryStart();
  int exit_code() const { return exit_code_; }
  // Sends a signal; Wait() reaps and returns the exit status (or 128 + signal).
  void Signal(int sig);
  int Wait(std::chrono::seconds limit = std::chrono::seconds(30));
  bool running() const { return pid_ > 0; }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& db() const { return db_; }
  std::string Log() const;

  // One request with the operator token (or `token` when given; "" sends none).
  api::ClientResponse Call(const std::string& method, const std::string& path, const std::string& body = {},
                           const char* token = kOperatorToken,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) const;
  nlohmann::json Json(const std::string& method, const std::string& path, const std::string& body = {}) const;

 private:
  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::string db_;
  int port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// Waits until `condition` holds, polling; false when `limit` passes first.
template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds limit = std::chrono::milliseconds(20'000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace cloudlet::testing
