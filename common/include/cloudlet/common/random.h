// Randomness is injected like time, never drawn from globals: the production source is the
// operating system's, tests and the simulator seed their own.
//
//   common::SeededRandom random(42);      // the same numbers every run
//   Agent agent(config, {.clock = clock, .random = random, ...});
//
// Both sources are safe to use from several threads.
#pragma once

#include <atomic>
#include <cstdint>

namespace cloudlet::common {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual uint64_t Next() = 0;
};

// The operating system's entropy (std::random_device).
class SystemRandom final : public RandomSource {
 public:
  uint64_t Next() override;
};

// A fixed sequence from a seed (SplitMix64).
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() override;

 private:
  std::atomic<uint64_t> state_;
};

// A process-wide SystemRandom, for production wiring.
RandomSource& SystemRandomSource();

}  // namespace cloudlet::common
