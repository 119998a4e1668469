// Exponential backoff with jitter for retrying an unreachable registry.
//
//   Backoff backoff({.initial = 500ms, .max = 30s, .jitter = 0.5}, seed);
//   while (!Register()) sleep_for(backoff.Next());
//   backoff.Reset();
//
// The n-th delay is drawn uniformly from [(1 - jitter) * d, d] with d = min(max, initial * 2^n):
// agents that lost the registry together do not come back in lockstep. Not synchronised.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace cloudlet::agent {

struct BackoffOptions {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  double jitter = 0.5;  // 0..1
};

class Backoff {
 public:
  Backoff(BackoffOptions options, uint64_t seed) : options_(options), rng_(seed) {}

  std::chrono::milliseconds Next();
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  BackoffOptions options_;
  std::mt19937_64 rng_;
  int attempts_ = 0;
};

}  // namespace cloudlet::agent
