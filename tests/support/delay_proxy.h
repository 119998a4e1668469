// A TCP relay on loopback that holds every chunk for a set delay each way: a path of a chosen RTT
// to an agent, where the kernel has no netem (ARCHITECTURE.md section 8). The delay can be changed
// while it runs (the device "moves"). Stops and joins its threads when destroyed.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cloudlet::testing {

class DelayProxy {
 public:
  // Listens on a free loopback port and relays to 127.0.0.1:`target_port`.
  DelayProxy(int target_port, std::chrono::milliseconds one_way);
  ~DelayProxy();
  int port() const { return port_; }
  void SetDelay(std::chrono::milliseconds one_way) { delay_ms_ = one_way.count(); }

 private:
  void Accept();
  void Pump(int from, int to);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<long> delay_ms_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace cloudlet::testing
