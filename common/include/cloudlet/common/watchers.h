// Callbacks waiting for a change index to pass a value, optionally for one key: the mechanism under
// blocking queries (the registry's list, a cloudlet's placements, one placement).
//
//   Watchers w;                                    // guarded by its owner's lock
//   auto id = w.Add("pl-1", /*after=*/41, fn);     // wants to hear when "pl-1" moves past 41
//   std::vector<Watchers::Fn> fire;
//   w.Take("pl-1", /*index=*/42, fire);            // collects fn; the owner calls it after unlocking
//
// Not thread-safe: the owner holds its lock around every call, and runs what Take collects
// outside it (or hands it off without blocking).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace cloudlet::common {

class Watchers {
 public:
  using Id = uint64_t;
  using Fn = std::function<void()>;

  Id Add(std::string key, uint64_t after_index, Fn fn) {
    const Id id = next_++;
    waiting_.emplace(id, Waiter{std::move(key), after_index, std::move(fn)});
    return id;
  }
  // True when the watcher was still waiting.
  bool Remove(Id id) { return waiting_.erase(id) > 0; }
  // Moves into `fire` the watchers of `key` ("" matches only watchers added with "") whose
  // index is now passed.
  void Take(const std::string& key, uint64_t index, std::vector<Fn>& fire) {
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second.key == key && index > it->second.after_index) {
        fire.push_back(std::move(it->second.fn));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Every watcher, as at shutdown.
  void TakeAll(std::vector<Fn>& fire) {
    for (auto& [id, w] : waiting_) fire.push_back(std::move(w.fn));
    waiting_.clear();
  }
  size_t size() const { return waiting_.size(); }

  static void Run(std::vector<Fn>& fire) {
    for (auto& fn : fire) fn();
    fire.clear();
  }

 private:
  struct Waiter {
    std::string key;
    uint64_t after_index;
    Fn fn;
  };
  std::map<Id, Waiter> waiting_;
  Id next_ = 1;
};

}  // namespace cloudlet::common
