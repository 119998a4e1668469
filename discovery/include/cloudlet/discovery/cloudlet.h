// The cloudlet model: what an agent registers (descriptor), what it heartbeats (dynamic state),
// and what the registry adds (health, times, index). docs/api.md.
//
// Plain values; not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"

namespace cloudlet::discovery {

// Limits on what one cloudlet may register; inputs beyond them are rejected, never truncated.
inline constexpr size_t kMaxIdLength = 64;
inline constexpr size_t kMaxNameBytes = 63;  // a DNS-SD instance name label
inline constexpr size_t kMaxEndpointLength = 2048;
inline constexpr size_t kMaxBaseVms = 4096;
inline constexpr size_t kMaxLabels = 64;
inline constexpr int64_t kMaxCpuMillis = 100'000'000;  // 100k cores
inline constexpr int64_t kMaxMemMb = 1'000'000'000;    // 1 PB of memory
inline constexpr int64_t kMaxGpus = 4096;
inline constexpr double kMaxBaseVmMb = 10'000'000;     // 10 TB
inline constexpr double kMaxWanMbps = 10'000'000;      // 10 Tb/s

struct Capacity {
  int64_t cpu_millis = 0;
  int64_t mem_mb = 0;
  int64_t gpus = 0;
};

struct BaseVm {
  std::string digest;  // "sha256:<64 lowercase hex>"
  double size_mb = 0;
};

struct CloudletDescriptor {
  std::string id;
  std::string name;
  std::string endpoint;
  std::optional<common::GeoPoint> geo;
  Capacity capacity;
  std::vector<std::string> isolation;  // subset of {"vm", "container"}
  std::vector<BaseVm> base_vms;
  double wan_mbps = 0;
  std::map<std::string, std::string> labels;
  // The agent's Ed25519 public key (base64url, 43 characters) that signs its mDNS adverts; empty
  // when it does not sign.
  std::string public_key = {};
};

struct FreeCapacity {
  int64_t cpu_millis = 0;
  int64_t mem_mb = 0;
};

struct CacheChange {
  std::vector<BaseVm> added;
  std::vector<std::string> removed;  // digests
};

struct Heartbeat {
  double load = 0;  // utilisation, 0..1
  std::optional<FreeCapacity> free = std::nullopt;
  CacheChange cache = {};
};

enum class Health { kHealthy, kSuspect, kExpired };
const char* HealthName(Health h);
std::optional<Health> ParseHealth(std::string_view s);

struct CloudletRecord {
  CloudletDescriptor descriptor;
  double load = 0;
  FreeCapacity free;
  Health health = Health::kHealthy;
  common::TimePoint registered_at;
  common::TimePoint last_heartbeat;
  uint64_t modify_index = 0;  // registry index of the last visible change to this record
};

// Validation of single fields; each returns InvalidField naming `field`.
common::Status ValidateCloudletId(std::string_view id, std::string_view field = "id");
common::Status ValidateDigest(std::string_view digest, std::string_view field);
common::Status ValidateEndpoint(std::string_view url, std::string_view field = "endpoint");
// 43 characters of base64url (32 bytes).
common::Status ValidatePublicKey(std::string_view key, std::string_view field = "public_key");
// Checks every field and the relations between them (duplicates, free <= capacity).
common::Status ValidateDescriptor(const CloudletDescriptor& d);
common::Status ValidateHeartbeat(const Heartbeat& hb, const CloudletDescriptor& d);

}  // namespace cloudlet::discovery
