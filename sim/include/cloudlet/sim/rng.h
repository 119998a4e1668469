// The simulator's pseudo-random generator: xoshiro256** (Blackman and Vigna, "Scrambled linear
// pseudorandom number generators", 2018), seeded through splitmix64. Its state is 32 bytes, where
// std::mt19937_64 keeps 2.5 KB: the simulator gives every user its own stream, and with 100,000
// users the walkers' state must stay small enough to stream through the caches each step. It meets
// UniformRandomBitGenerator, so the <random> distributions take it.
//
//   Rng rng(seed);
//   std::uniform_real_distribution<double> u(0, 1);
//   double x = u(rng);
#pragma once

#include <cstdint>
#include <limits>

namespace cloudlet::sim {

class Rng {
 public:
  using result_type = uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  explicit Rng(uint64_t seed) {
    // splitmix64 spreads any seed, 0 included, over a state that is never all zero.
    for (uint64_t& word : s_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  result_type operator()() {
    const uint64_t out = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return out;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace cloudlet::sim
