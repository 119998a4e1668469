#include "cloudlet/common/follow_thread.h"

#include <spdlog/spdlog.h>

namespace cloudlet::common {

FollowThread::FollowThread(std::function<void()> look, std::function<void(Millis)> wait, Millis interval)
    : thread_([this, look = std::move(look), wait = std::move(wait), interval] {
        while (!stopping_) {
          look();
          if (stopping_) return;
          wait(interval);
        }
      }) {}

void FollowThread::Stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void OutageLog::Failed(const std::string& why) {
  if (!failing_) spdlog::warn("{}: {}", what_, why);
  failing_ = true;
}

void OutageLog::Succeeded() {
  if (failing_) spdlog::info("{}: working again", what_);
  failing_ = false;
}

}  // namespace cloudlet::common
