#include "support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace cloudlet::testing {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string stdout_file, std::string stderr_file,
                           std::map<std::string, std::string> env)
    : argv_(std::move(argv)), stdout_file_(std::move(stdout_file)), stderr_file_(std::move(stderr_file)),
      env_(std::move(env)) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ChildProcess::Start() {
  if (pid_ > 0) return false;
  exit_code_ = -1;
  pid_ = ::fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    auto redirect = [](const std::string& file, int target) {
      const int fd = ::open(file.empty() ? "/dev/null" : file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (fd >= 0) ::dup2(fd, target);
    };
    redirect(stdout_file_, 1);
    redirect(stderr_file_, 2);
    for (const auto& [k, v] : env_) ::setenv(k.c_str(), v.c_str(), 1);
    ::setpgid(0, 0);  // its own group: a signal to the test does not reach it, and vice versa
    std::vector<char*> argv;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return true;
}

void ChildProcess::Signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return false;
}

int ChildProcess::Wait(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return exit_code_;
  WaitFor([&] { return !Running(); }, limit);
  return pid_ > 0 ? -1 : exit_code_;
}

std::string ChildProcess::Stdout() const { return ReadFileOrEmpty(stdout_file_); }
std::string ChildProcess::Stderr() const { return ReadFileOrEmpty(stderr_file_); }

RunResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                     const std::map<std::string, std::string>& env) {
  TempDir dir;
  ChildProcess child(argv, dir.File("out"), dir.File("err"), env);
  RunResult r;
  if (!child.Start()) return r;
  r.exit_code = child.Wait(limit);
  if (r.exit_code == -1) {
    child.Signal(SIGKILL);
    child.Wait();
  }
  r.out = child.Stdout();
  r.err = child.Stderr();
  return r;
}

}  // namespace cloudlet::testing
