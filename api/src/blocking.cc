#include "cloudlet/api/blocking.h"

#include "cloudlet/api/problem.h"
#include "cloudlet/api/query.h"

namespace cloudlet::api {

using common::Result;
using common::Status;

Result<BlockingQuery> ParseBlockingQuery(const std::map<std::string, std::string>& q, const BlockingOptions& options) {
  BlockingQuery out;
  if (auto it = q.find("index"); it != q.end()) {
    auto index = ParseWholeNumber(it->second, "index", 0, UINT64_MAX);
    if (!index.ok()) return index.status();
    out.index = *index;
    out.wait = options.default_wait;
  }
  if (auto it = q.find("wait"); it != q.end()) {
    auto wait = common::ParseDuration(it->second, "wait");
    if (!wait.ok()) return wait.status();
    if (*wait > options.max_wait) {
      return Status::InvalidField("wait", "must be at most " + common::FormatDuration(options.max_wait));
    }
    out.wait = *wait;
  }
  return out;
}

namespace {

// One blocking query: answered once, by whichever comes first of a change, the deadline or shutdown.
struct Pending {
  std::atomic<bool> answered{false};
  std::atomic<common::TimerQueue::TaskId> timer{0};
  std::atomic<uint64_t> watch{0};
  std::function<void()> answer;
};

}  // namespace

void BlockingQueries::Wait(common::Millis wait, const Responder& respond,
                           const std::function<uint64_t(std::function<void()>)>& watch,
                           std::function<void(uint64_t)> cancel, std::function<void()> answer) {
  if (waiting_.fetch_add(1) >= options_.max_waiting) {
    waiting_.fetch_sub(1);
    return respond(Problem(503, "too many blocking queries are waiting; retry later"));
  }
  auto pending = std::make_shared<Pending>();
  pending->answer = std::move(answer);
  auto finish = [this, pending] {
    if (pending->answered.exchange(true)) return;
    waiting_.fetch_sub(1);
    if (auto t = pending->timer.load()) timers_.Cancel(t);
    pending->answer();
  };
  // The source calls notify on the thread that changed it; the answer is built on the queue's.
  pending->watch = watch([this, finish] { timers_.Post(finish); });
  pending->timer = timers_.RunAfter(wait, [pending, cancel = std::move(cancel), finish] {
    if (auto w = pending->watch.load()) cancel(w);
    finish();
  });
}

}  // namespace cloudlet::api
