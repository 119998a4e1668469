#include "cloudlet/common/random.h"

#include <mutex>
#include <random>

namespace cloudlet::common {

uint64_t SystemRandom::Next() {
  static std::mutex mu;
  static std::random_device device;
  std::lock_guard lock(mu);
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

uint64_t SeededRandom::Next() {
  uint64_t z = state_.fetch_add(0x9E3779B97F4A7C15ULL) + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

RandomSource& SystemRandomSource() {
  static SystemRandom random;
  return random;
}

}  // namespace cloudlet::common
