// Runs the real cloudletd binary on a free loopback port with its own database, for integration
// tests. The process is killed and reaped when the object goes away.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/api/http_client.h"
#include "support/child_process.h"
#include "support/temp_dir.h"

namespace cloudlet::testing {

inline constexpr char kOperatorToken[] = "integration-operator-token-0123456789";

// A port that was free a moment ago (bound to 0 and released).
int FreeLoopbackPort();

class CloudletdProcess {
 public:
  explicit CloudletdProcess(std::vector<std::string> extra_args = {}, std::string db = {});

  // Runs the daemon in network namespace `netns` (command `prefix` from NetnsLab::Exec) listening on
  // `host`:8470; calls from the test are made from inside that namespace. Before Start().
  void UseNamespace(std::string netns, std::vector<std::string> prefix, std::string host);
  // Listens on this port rather than a fresh one (to come back where clients expect it).
  void UsePort(int port) { fixed_port_ = port; }
  // Serves HTTPS with `cert` and `key`; the test's calls verify it against `ca`. Before Start().
  void UseTls(const std::string& cert, const std::string& key, std::string ca);

  // Starts the binary and waits (up to 20 s) until /healthz answers. Fails the test otherwise.
  void Start();
  // As Start, but reports failure instead; exit_code() then says how the process ended.
  bool TryStart();
  int exit_code() const { return exit_code_; }
  // Sends a signal; Wait() reaps and returns the exit status (or 128 + signal).
  void Signal(int sig);
  int Wait(std::chrono::seconds limit = std::chrono::seconds(30));
  bool running() const { return process_ && process_->pid() > 0; }

  std::string url() const { return (ca_.empty() ? "http://" : "https://") + host_ + ":" + std::to_string(port_); }
  const std::string& db() const { return db_; }
  std::string Log() const;

  // One request with the operator token (or `token` when given; "" sends none).
  api::ClientResponse Call(const std::string& method, const std::string& path, const std::string& body = {},
                           const char* token = kOperatorToken,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) const;
  nlohmann::json Json(const std::string& method, const std::string& path, const std::string& body = {}) const;

 private:
  common::Result<api::ClientResponse> Send(const api::ClientRequest& req) const;

  TempDir dir_;
  std::vector<std::string> extra_args_;
  std::string db_;
  std::string netns_;
  std::vector<std::string> prefix_;
  std::string host_ = "127.0.0.1";
  std::string ca_;
  int port_ = 0;
  int fixed_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  int exit_code_ = -1;
};

// Registers `threads` x `each` cloudlets, "cl-T-I", from `threads` threads at once, each descriptor
// from `body(id)`; returns the ids that were acknowledged (201).
std::vector<std::string> RegisterFromThreads(const CloudletdProcess& d, int threads, int each,
                                             const std::function<std::string(const std::string& id)>& body);

}  // namespace cloudlet::testing
