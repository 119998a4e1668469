// Runs a step's independent tasks (one per policy) on a few threads and waits for all of them.
// Each task owns its state, so results do not depend on which thread ran it. Internal.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cloudlet::sim {

class StepPool {
 public:
  explicit StepPool(unsigned threads) {
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~StepPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Calls fn(0) .. fn(tasks - 1), some on the calling thread, and returns when all have returned.
  void Run(size_t tasks, const std::function<void(size_t)>& fn) {
    {
      std::lock_guard lock(mu_);
      fn_ = &fn;
      tasks_ = tasks;
      next_ = 0;
      done_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    Drain();
    std::unique_lock lock(mu_);
    finished_.wait(lock, [&] { return done_ == tasks_; });
    fn_ = nullptr;
  }

 private:
  void Drain() {
    for (;;) {
      size_t task;
      const std::function<void(size_t)>* fn;
      {
        std::lock_guard lock(mu_);
        if (!fn_ || next_ >= tasks_) return;
        task = next_++;
        fn = fn_;
      }
      (*fn)(task);
      std::lock_guard lock(mu_);
      if (++done_ == tasks_) finished_.notify_all();
    }
  }
  void Work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      Drain();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t tasks_ = 0, next_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

}  // namespace cloudlet::sim
