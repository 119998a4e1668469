#include "cloudlet/common/timer_queue.h"

namespace cloudlet::common {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

TimerQueue::TaskId TimerQueue::RunAfter(std::chrono::milliseconds delay, Task task) {
  std::lock_guard lock(mu_);
  if (stopping_) return 0;
  const TaskId id = next_id_++;
  const auto deadline = Steady::now() + delay;
  tasks_.emplace(std::make_pair(deadline, id), std::move(task));
  deadlines_.emplace(id, deadline);
  cv_.notify_all();
  return id;
}

bool TimerQueue::Cancel(TaskId id) {
  std::lock_guard lock(mu_);
  auto it = deadlines_.find(id);
  if (it == deadlines_.end()) return false;
  tasks_.erase({it->second, id});
  deadlines_.erase(it);
  return true;
}

void TimerQueue::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    // Keep only what is due now; the loop runs it and exits.
    for (auto it = tasks_.upper_bound({Steady::now(), UINT64_MAX}); it != tasks_.end();) {
      deadlines_.erase(it->first.second);
      it = tasks_.erase(it);
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimerQueue::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    if (tasks_.empty()) {
      if (stopping_) return;
      cv_.wait(lock);
      continue;
    }
    auto first = tasks_.begin();
    // A copy: Cancel() may erase this node while the wait has the lock released.
    const Steady::time_point deadline = first->first.first;
    if (deadline > Steady::now()) {
      cv_.wait_until(lock, deadline);
      continue;
    }
    Task task = std::move(first->second);
    deadlines_.erase(first->first.second);
    tasks_.erase(first);
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace cloudlet::common
