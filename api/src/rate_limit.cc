#include "cloudlet/api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace cloudlet::api {
namespace {

// Beyond this many keys, idle entries are dropped so that a flood of callers cannot grow the maps
// without bound.
constexpr size_t kMaxKeys = 100'000;

std::chrono::seconds WholeSeconds(double seconds) {
  return std::chrono::seconds(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds))));
}

}  // namespace

std::optional<std::chrono::seconds> RateLimiter::Acquire(const std::string& key, Steady::time_point now) {
  if (options_.per_second <= 0) return std::nullopt;
  const double burst = std::max(1.0, options_.burst);
  std::lock_guard lock(mu_);
  if (buckets_.size() > kMaxKeys) {
    std::erase_if(buckets_, [&](const auto& kv) {
      return std::chrono::duration<double>(now - kv.second.at).count() * options_.per_second >= burst;
    });
  }
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst, now});
  Bucket& b = it->second;
  const double elapsed = std::max(0.0, std::chrono::duration<double>(now - b.at).count());
  b.tokens = std::min(burst, b.tokens + elapsed * options_.per_second);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return std::nullopt;
  }
  return WholeSeconds((1 - b.tokens) / options_.per_second);
}

void BadTokenTracker::RecordFailure(const std::string& address, Steady::time_point now) {
  std::lock_guard lock(mu_);
  if (windows_.size() > kMaxKeys) {
    std::erase_if(windows_, [&](const auto& kv) { return now - kv.second.start >= options_.window; });
  }
  Window& w = windows_[address];
  if (w.failures == 0 || now - w.start >= options_.window) w = Window{now, 0};
  ++w.failures;
}

std::optional<std::chrono::seconds> BadTokenTracker::LockedOut(const std::string& address, Steady::time_point now) {
  std::lock_guard lock(mu_);
  auto it = windows_.find(address);
  if (it == windows_.end() || it->second.failures < options_.limit) return std::nullopt;
  const auto left = it->second.start + options_.window - now;
  if (left <= Steady::duration::zero()) {
    windows_.erase(it);
    return std::nullopt;
  }
  return WholeSeconds(std::chrono::duration<double>(left).count());
}

}  // namespace cloudlet::api
