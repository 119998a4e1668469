// A thread that follows changes others make to shared state: it calls `look` (read what changed,
// apply it), then `wait` (return when a change is announced, or after at most `interval`), until
// stopped. For the registry and the credentials of several cloudletd on one database.
//
//   FollowThread follow(
//       [&] { auto c = store.ChangesSince(cursor); ...; },   // never throws
//       [&](Millis limit) { store.WaitForChanges(limit); },
//       std::chrono::milliseconds(500));
//   ...
//   follow.Stop();  // at most one `interval` later
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "cloudlet/common/clock.h"

namespace cloudlet::common {

class FollowThread {
 public:
  FollowThread(std::function<void()> look, std::function<void(Millis)> wait, Millis interval);
  ~FollowThread() { Stop(); }
  FollowThread(const FollowThread&) = delete;
  FollowThread& operator=(const FollowThread&) = delete;

  void Stop();

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// Logs a failure to follow once per outage, and its end.
class OutageLog {
 public:
  explicit OutageLog(std::string what) : what_(std::move(what)) {}
  void Failed(const std::string& why);
  void Succeeded();

 private:
  std::string what_;
  bool failing_ = false;
};

}  // namespace cloudlet::common
