// Blocking queries (Consul's ?index=N&wait=D): an answer waits until what the caller saw at index N
// changes, the wait passes, or the server stops, without holding a handler thread.
//
//   BlockingQueries blocking(timers, {.max_waiting = 4096});
//   auto q = ParseBlockingQuery(ctx.request.query, blocking.options());   // ?index=&wait=
//   if (!q->index || q->wait.count() == 0) return respond(Answer());
//   blocking.Wait(q->wait, respond,
//                 [&](std::function<void()> notify) { return source.Watch(*q->index, notify); },
//                 [&](uint64_t id) { source.CancelWatch(id); },
//                 [respond] { respond(Answer()); });
//
// `watch` registers `notify` with the source (which may call it at once, inline) and returns its
// id; `answer` runs once, on the timer queue's thread. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "cloudlet/api/http.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/status.h"
#include "cloudlet/common/timer_queue.h"

namespace cloudlet::api {

struct BlockingOptions {
  common::Millis default_wait{300'000};  // ?index=N without ?wait= (as Consul: 5 min)
  common::Millis max_wait{600'000};
  size_t max_waiting = 4096;             // beyond: 503
};

struct BlockingQuery {
  std::optional<uint64_t> index;  // absent: answer at once
  common::Millis wait{0};
};

// ?index= (a whole number) and ?wait= (a duration, at most max_wait); errors name the parameter.
common::Result<BlockingQuery> ParseBlockingQuery(const std::map<std::string, std::string>& query,
                                                 const BlockingOptions& options);

class BlockingQueries {
 public:
  BlockingQueries(common::TimerQueue& timers, BlockingOptions options) : timers_(timers), options_(options) {}

  // Answers with 503 at once when too many are waiting.
  void Wait(common::Millis wait, const Responder& respond, const std::function<uint64_t(std::function<void()>)>& watch,
            std::function<void(uint64_t)> cancel, std::function<void()> answer);

  size_t waiting() const { return waiting_.load(); }
  const BlockingOptions& options() const { return options_; }

 private:
  common::TimerQueue& timers_;
  const BlockingOptions options_;
  std::atomic<size_t> waiting_{0};
};

}  // namespace cloudlet::api
