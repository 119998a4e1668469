#include "cloudlet/discovery/cloudlet.h"

#include <cmath>
#include <set>

#include "cloudlet/common/digest.h"

namespace cloudlet::discovery {

using common::Status;

const char* HealthName(Health h) {
  switch (h) {
    case Health::kHealthy: return "healthy";
    case Health::kSuspect: return "suspect";
    case Health::kExpired: return "expired";
  }
  return "unknown";
}

std::optional<Health> ParseHealth(std::string_view s) {
  if (s == "healthy") return Health::kHealthy;
  if (s == "suspect") return Health::kSuspect;
  if (s == "expired") return Health::kExpired;
  return std::nullopt;
}

namespace {

bool IsLowerAlnumOrDash(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}
bool IsLabelKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '/';
}

}  // namespace

Status ValidateCloudletId(std::string_view id, std::string_view field) {
  if (id.empty() || id.size() > kMaxIdLength) {
    return Status::InvalidField(std::string(field), "must be 1 to 64 characters of [a-z0-9-]");
  }
  for (char c : id) {
    if (!IsLowerAlnumOrDash(c)) return Status::InvalidField(std::string(field), "must be 1 to 64 characters of [a-z0-9-]");
  }
  return Status::Ok();
}

Status ValidateDigest(std::string_view digest, std::string_view field) {
  if (!common::IsSha256Digest(digest)) {
    return Status::InvalidField(std::string(field), "must be sha256:<64 lowercase hex digits>");
  }
  return Status::Ok();
}

Status ValidateEndpoint(std::string_view url, std::string_view field) {
  const std::string f(field);
  if (url.empty() || url.size() > kMaxEndpointLength) {
    return Status::InvalidField(f, "must be an http:// or https:// URL of at most 2048 characters");
  }
  size_t scheme_end = 0;
  if (url.starts_with("http://")) scheme_end = 7;
  else if (url.starts_with("https://")) scheme_end = 8;
  else return Status::InvalidField(f, "must start with http:// or https://");
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f) return Status::InvalidField(f, "must not contain spaces, control or non-ASCII characters");
  }
  const std::string_view rest = url.substr(scheme_end);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  const std::string_view host = authority.substr(authority.rfind('@') == std::string_view::npos ? 0 : authority.rfind('@') + 1);
  if (host.empty() || host.front() == ':') return Status::InvalidField(f, "has no host");
  return Status::Ok();
}

Status ValidateDescriptor(const CloudletDescriptor& d) {
  CLOUDLET_RETURN_IF_ERROR(ValidateCloudletId(d.id));
  if (d.name.empty() || d.name.size() > kMaxNameBytes || HasControlChar(d.name)) {
    return Status::InvalidField("name", "must be 1 to 63 bytes without control characters");
  }
  CLOUDLET_RETURN_IF_ERROR(ValidateEndpoint(d.endpoint));
  if (d.geo && !common::IsValidGeo(*d.geo)) {
    return Status::InvalidField("geo", "lat must be in [-90, 90] and lon in [-180, 180]");
  }
  if (d.capacity.cpu_millis < 0 || d.capacity.cpu_millis > kMaxCpuMillis) {
    return Status::InvalidField("capacity.cpu_millis", "must be in [0, 100000000]");
  }
  if (d.capacity.mem_mb < 0 || d.capacity.mem_mb > kMaxMemMb) {
    return Status::InvalidField("capacity.mem_mb", "must be in [0, 1000000000]");
  }
  if (d.capacity.gpus < 0 || d.capacity.gpus > kMaxGpus) {
    return Status::InvalidField("capacity.gpus", "must be in [0, 4096]");
  }
  if (d.isolation.empty() || d.isolation.size() > 2) {
    return Status::InvalidField("isolation", "must list \"vm\", \"container\" or both");
  }
  std::set<std::string> seen_isolation;
  for (const auto& iso : d.isolation) {
    if (iso != "vm" && iso != "container") return Status::InvalidField("isolation", "unknown kind '" + iso.substr(0, 32) + "'; use vm or container");
    if (!seen_isolation.insert(iso).second) return Status::InvalidField("isolation", "lists '" + iso + "' twice");
  }
  if (d.base_vms.size() > kMaxBaseVms) return Status::InvalidField("base_vms", "at most 4096 entries");
  std::set<std::string_view> digests;
  for (size_t i = 0; i < d.base_vms.size(); ++i) {
    const std::string field = "base_vms[" + std::to_string(i) + "]";
    CLOUDLET_RETURN_IF_ERROR(ValidateDigest(d.base_vms[i].digest, field + ".digest"));
    if (!(d.base_vms[i].size_mb > 0) || d.base_vms[i].size_mb > kMaxBaseVmMb) {
      return Status::InvalidField(field + ".size_mb", "must be in (0, 10000000]");
    }
    if (!digests.insert(d.base_vms[i].digest).second) return Status::InvalidField(field + ".digest", "is listed twice");
  }
  if (!(d.wan_mbps > 0) || d.wan_mbps > kMaxWanMbps) return Status::InvalidField("wan_mbps", "must be in (0, 10000000]");
  if (!d.public_key.empty()) CLOUDLET_RETURN_IF_ERROR(ValidatePublicKey(d.public_key));
  if (d.labels.size() > kMaxLabels) return Status::InvalidField("labels", "at most 64 labels");
  for (const auto& [key, value] : d.labels) {
    bool key_ok = !key.empty() && key.size() <= 63;
    for (char c : key) key_ok = key_ok && IsLabelKeyChar(c);
    if (!key_ok) return Status::InvalidField("labels", "keys must be 1 to 63 characters of [A-Za-z0-9._/-]");
    if (value.size() > 256 || HasControlChar(value)) {
      return Status::InvalidField("labels." + key, "must be at most 256 bytes without control characters");
    }
  }
  return Status::Ok();
}

Status ValidatePublicKey(std::string_view key, std::string_view field) {
  bool ok = key.size() == 43;
  for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  // 32 bytes use 256 of the 258 bits: the last character carries 4 bits and 2 zero bits.
  ok = ok && std::string_view("AEIMQUYcgkosw048").find(key.back()) != std::string_view::npos;
  return ok ? Status::Ok() : Status::InvalidField(std::string(field), "must be an Ed25519 public key: 43 base64url characters");
}

Status ValidateHeartbeat(const Heartbeat& hb, const CloudletDescriptor& d) {
  if (!(hb.load >= 0 && hb.load <= 1)) return Status::InvalidField("load", "must be in [0, 1]");
  if (hb.free) {
    if (hb.free->cpu_millis < 0 || hb.free->cpu_millis > d.capacity.cpu_millis) {
      return Status::InvalidField("free.cpu_millis", "must be in [0, capacity.cpu_millis]");
    }
    if (hb.free->mem_mb < 0 || hb.free->mem_mb > d.capacity.mem_mb) {
      return Status::InvalidField("free.mem_mb", "must be in [0, capacity.mem_mb]");
    }
  }
  if (hb.cache.added.size() > kMaxBaseVms || hb.cache.removed.size() > kMaxBaseVms) {
    return Status::InvalidField("cache", "at most 4096 added and 4096 removed entries");
  }
  for (size_t i = 0; i < hb.cache.added.size(); ++i) {
    const std::string field = "cache.added[" + std::to_string(i) + "]";
    CLOUDLET_RETURN_IF_ERROR(ValidateDigest(hb.cache.added[i].digest, field + ".digest"));
    if (!(hb.cache.added[i].size_mb > 0) || hb.cache.added[i].size_mb > kMaxBaseVmMb) {
      return Status::InvalidField(field + ".size_mb", "must be in (0, 10000000]");
    }
  }
  for (size_t i = 0; i < hb.cache.removed.size(); ++i) {
    CLOUDLET_RETURN_IF_ERROR(ValidateDigest(hb.cache.removed[i], "cache.removed[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}

}  // namespace cloudlet::discovery
