// Request limits: a token bucket per caller, and a lock-out for addresses that keep presenting bad
// tokens.
//
//   RateLimiter limiter({.per_second = 50, .burst = 100});
//   if (auto wait = limiter.Acquire("token-accessor", Steady::now())) respond 429, Retry-After: *wait
//
// Time is passed in, so tests need no clock. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace cloudlet::api {

using Steady = std::chrono::steady_clock;

struct RateLimitOptions {
  double per_second = 0;  // 0: no limit
  double burst = 0;       // bucket size; at least 1
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimitOptions options) : options_(options) {}
  // Takes one token from `key`'s bucket; when empty, how long until one is there (whole seconds,
  // at least 1, as Retry-After counts them).
  std::optional<std::chrono::seconds> Acquire(const std::string& key, Steady::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Steady::time_point at;
  };
  RateLimitOptions options_;
  std::mutex mu_;
  std::map<std::string, Bucket> buckets_;
};

struct BadTokenOptions {
  int limit = 10;                           // bad tokens from one address within `window`...
  std::chrono::seconds window{60};          // ... lock the address out until the window ends
};

class BadTokenTracker {
 public:
  explicit BadTokenTracker(BadTokenOptions options) : options_(options) {}
  void RecordFailure(const std::string& address, Steady::time_point now);
  // While locked out: how long until the address may try again.
  std::optional<std::chrono::seconds> LockedOut(const std::string& address, Steady::time_point now);

 private:
  struct Window {
    Steady::time_point start;
    int failures = 0;
  };
  BadTokenOptions options_;
  std::mutex mu_;
  std::map<std::string, Window> windows_;
};

}  // namespace cloudlet::api
