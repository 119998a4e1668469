// A well-mixed 64-bit hash (splitmix64): reproducible tie-breaking and ids. Private to placement/.
#pragma once

#include <cstdint>

namespace cloudlet::placement::internal {

inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace cloudlet::placement::internal
