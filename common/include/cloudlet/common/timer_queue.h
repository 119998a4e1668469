// One background thread that runs tasks at a deadline or as soon as possible.
//
//   TimerQueue timers;
//   auto id = timers.RunAfter(std::chrono::seconds(30), [] { ReplyWithTimeout(); });
//   timers.Cancel(id);          // false when it already ran
//   timers.Post([] { ... });    // as soon as possible, in order of posting
//
// Thread-safe. Tasks run on the queue's thread one at a time and must not block for long.
// The destructor drops tasks that have not run; Shutdown() first runs those already due.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace cloudlet::common {

class TimerQueue {
 public:
  using Task = std::function<void()>;
  using TaskId = uint64_t;

  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  TaskId RunAfter(std::chrono::milliseconds delay, Task task);
  TaskId Post(Task task) { return RunAfter(std::chrono::milliseconds(0), std::move(task)); }
  // Returns true when the task was removed before it ran.
  bool Cancel(TaskId id);
  // Runs tasks already due, then stops the thread. Later calls to RunAfter are dropped.
  void Shutdown();

 private:
  using Steady = std::chrono::steady_clock;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  // Ordered by (deadline, id) so that equal deadlines run in posting order.
  std::map<std::pair<Steady::time_point, TaskId>, Task> tasks_;
  std::map<TaskId, Steady::time_point> deadlines_;
  TaskId next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cloudlet::common
