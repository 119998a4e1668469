// A child process for integration tests and benchmarks: started with fork/exec, its stdout and
// stderr in files, killed and reaped when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace cloudlet::testing {

class ChildProcess {
 public:
  // `stdout_file` and `stderr_file` may be the same file; "" discards.
  ChildProcess(std::vector<std::string> argv, std::string stdout_file, std::string stderr_file,
               std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool Start();  // false when fork failed
  void Signal(int sig);
  // Reaps the process within `limit`: its exit status, 128 + signal, or -1 if it is still running.
  int Wait(std::chrono::milliseconds limit = std::chrono::seconds(30));
  // True while the process has not exited (reaps it if it has).
  bool Running();
  int exit_code() const { return exit_code_; }
  pid_t pid() const { return pid_; }
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  std::vector<std::string> argv_;
  std::string stdout_file_, stderr_file_;
  std::map<std::string, std::string> env_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

struct RunResult {
  int exit_code = -1;  // -1: timed out (then killed)
  std::string out;
  std::string err;
};

// Runs a command to completion (killed after `limit`), capturing both streams.
RunResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds limit = std::chrono::seconds(30),
                     const std::map<std::string, std::string>& env = {});

std::string ReadFileOrEmpty(const std::string& path);

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
