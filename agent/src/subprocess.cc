#include "cloudlet/agent/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cloudlet::agent {

using common::Result;
using common::Status;

namespace {

void CloseBoth(int fds[2]) {
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
}

// Reads what is there from `fd` into `into` (up to `max`); false at end of file.
bool Drain(int fd, std::string& into, size_t max) {
  char buf[8192];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  if (n <= 0) return n < 0 && (errno == EAGAIN || errno == EINTR);
  if (into.size() < max) into.append(buf, std::min(static_cast<size_t>(n), max - into.size()));
  return true;
}

}  // namespace

Result<ProgramResult> RunProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                 size_t max_output, const std::vector<std::string>& env) {
  if (argv.empty()) return Status::InvalidArgument("no program to run");
  int out[2] = {-1, -1}, err[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    CloseBoth(out);
    return Status::Unavailable(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The child's environment, built before fork: between fork and exec only async-signal-safe calls.
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    CloseBoth(out);
    CloseBoth(err);
    return Status::Unavailable(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own group, so that a timeout kills what it started too
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // daemons block stop signals; the child must not
    const int null_in = ::open("/dev/null", O_RDONLY);
    ::dup2(null_in, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    // Nothing else of the caller's goes with it: not the agent's listening socket (a container's
    // monitor would hold its port after the agent died), nor its files and connections.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);
    }
    ::execvpe(args[0], args.data(), envp.data());
    static constexpr char kWhy[] = "cannot run the program: exec failed\n";
    (void)!::write(2, kWhy, sizeof kWhy - 1);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ProgramResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000))) < 0 && errno != EINTR) break;
    if (out_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) out_open = Drain(out[0], r.out, max_output);
    if (err_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) err_open = Drain(err[0], r.err, max_output);
  }
  ::close(out[0]);
  ::close(err[0]);
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return Status::Unavailable(argv[0] + " " + (argv.size() > 1 ? argv[1] : "") + " did not finish within " +
                               std::to_string(timeout.count()) + " ms");
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace cloudlet::agent
