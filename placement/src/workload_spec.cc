// The part of the app spec that says what a cloudlet runs (docs/api.md, placements).
#include <cctype>
#include <cmath>
#include <string>

#include "cloudlet/common/digest.h"
#include "cloudlet/placement/engine.h"

namespace cloudlet::placement {

using common::Status;

bool IsImageReference(std::string_view ref, bool pinned) {
  const size_t at = ref.find('@');
  const std::string_view name = ref.substr(0, at);
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.front() == '-' || name.back() == '/' ||
      name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) {
    return false;
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '/' && c != ':') {
      return false;
    }
  }
  if (at == std::string_view::npos) return !pinned;
  const std::string_view digest = ref.substr(at + 1);
  if (digest.size() != 7 + 64 || !digest.starts_with("sha256:")) return false;
  for (char c : digest.substr(7)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

namespace {

bool IsEnvName(const std::string& k) {
  if (k.empty() || k.size() > 128 || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// An http:// or https:// URL of printable characters, without spaces.
bool IsFetchUrl(const std::string& url) {
  if (url.size() > 2048 || !(url.starts_with("http://") || url.starts_with("https://"))) return false;
  const size_t host = url.find("://") + 3;
  if (host >= url.size() || url[host] == '/') return false;
  for (char c : url) {
    if (c <= ' ' || c >= 127) return false;
  }
  return true;
}

Status ValidateVmWorkload(const WorkloadSpec& w) {
  if (!w.image.empty() || !w.base_image.empty()) {
    return Status::InvalidField(!w.image.empty() ? "app.image" : "app.base_image",
                                "is for containers; a VM runs app.base_vm with app.overlay_url: give one of the two");
  }
  if (!IsFetchUrl(w.overlay_url)) {
    return Status::InvalidField("app.overlay_url", "must be an http:// or https:// URL of at most 2048 characters");
  }
  if (!common::IsSha256Digest(w.overlay_digest)) {
    return Status::InvalidField("app.overlay_digest", "is required with overlay_url: sha256:<64 lowercase hex digits>");
  }
  if (!w.base_vm_url.empty() && !IsFetchUrl(w.base_vm_url)) {
    return Status::InvalidField("app.base_vm_url", "must be an http:// or https:// URL of at most 2048 characters");
  }
  if (!w.command.empty()) return Status::InvalidField("app.command", "is for containers: a VM runs its disk's /start");
  if (!w.env.empty()) return Status::InvalidField("app.env", "is for containers: a VM's settings live on its disk");
  return Status::Ok();
}

}  // namespace

Status ValidateWorkload(const WorkloadSpec& w) {
  if (!w.runs()) {
    const bool other = !w.base_image.empty() || w.port != 0 || !w.env.empty() || !w.command.empty() ||
                       w.health != HealthCheck{} || !w.overlay_digest.empty() || !w.base_vm_url.empty();
    return other ? Status::InvalidField("app.image", "(or app.overlay_url, for a VM) is required with base_image, "
                                        "port, env, command, health, overlay_digest or base_vm_url")
                 : Status::Ok();
  }
  if (!w.overlay_url.empty()) {
    CLOUDLET_RETURN_IF_ERROR(ValidateVmWorkload(w));
  } else {
    if (!IsImageReference(w.image, /*pinned=*/true)) {
      return Status::InvalidField("app.image", "must be an OCI reference pinned by digest: <name>@sha256:<64 hex digits>");
    }
    if (!w.base_image.empty() && !IsImageReference(w.base_image, /*pinned=*/false)) {
      return Status::InvalidField("app.base_image", "must be an OCI reference: <name>[:tag][@sha256:<64 hex digits>]");
    }
    if (!w.overlay_digest.empty() || !w.base_vm_url.empty()) {
      return Status::InvalidField(!w.overlay_digest.empty() ? "app.overlay_digest" : "app.base_vm_url",
                                  "is for VMs (with app.overlay_url), not containers");
    }
  }
  if (w.port < 1 || w.port > 65535) return Status::InvalidField("app.port", "must be in [1, 65535]");
  if (w.env.size() > kMaxEnv) return Status::InvalidField("app.env", "at most " + std::to_string(kMaxEnv) + " variables");
  for (const auto& [k, v] : w.env) {
    if (!IsEnvName(k)) return Status::InvalidField("app.env", "'" + k.substr(0, 64) + "' is not a variable name");
    if (v.size() > kMaxArgBytes) return Status::InvalidField("app.env." + k, "at most 4096 bytes");
  }
  if (w.command.size() > kMaxCommandArgs) return Status::InvalidField("app.command", "at most 64 arguments");
  for (size_t i = 0; i < w.command.size(); ++i) {
    if (w.command[i].size() > kMaxArgBytes) {
      return Status::InvalidField("app.command[" + std::to_string(i) + "]", "at most 4096 bytes");
    }
  }
  const HealthCheck& h = w.health;
  if (!h.http_path.empty() && (h.tcp || h.http_path[0] != '/' || h.http_path.size() > 256)) {
    return Status::InvalidField("app.health", "must be {\"http\": \"/path\"} or {\"tcp\": true}");
  }
  if (!std::isfinite(w.ready_timeout_s) || w.ready_timeout_s <= 0 || w.ready_timeout_s > 3600) {
    return Status::InvalidField("app.ready_timeout_s", "must be a number in (0, 3600]");
  }
  return Status::Ok();
}

}  // namespace cloudlet::placement
