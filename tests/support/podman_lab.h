// What the tests that run real containers need from this machine.
#pragma once

#include <unistd.h>

#include <filesystem>

namespace cloudlet::testing {

// Why podman-based tests cannot run here (root, podman, busybox-static, and docker-registry when
// `need_registry`), or nullptr when they can.
inline const char* WhyPodmanCannotRun(bool need_registry) {
  namespace fs = std::filesystem;
  if (::geteuid() != 0) return "needs root";
  if (!fs::exists("/usr/bin/podman")) return "podman is not installed (apt-get install podman runc)";
  if (!fs::exists("/bin/busybox")) return "busybox-static is not installed";
  if (need_registry && !fs::exists("/usr/bin/docker-registry")) return "docker-registry is not installed";
  return nullptr;
}

}  // namespace cloudlet::testing
