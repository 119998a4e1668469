#include "cloudlet/discovery/lan.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace cloudlet::discovery {

void LanTable::Apply(const ServiceEvent& event) {
  const std::string key = event.instance.Key();
  std::lock_guard lock(mu_);
  if (event.kind == ServiceEvent::Kind::kRemoved) {
    if (entries_.erase(key) > 0) {
      spdlog::info("lan: '{}' on {} is gone", event.instance.name, event.instance.interface);
      ++version_;
      changed_.notify_all();
    }
    return;
  }
  auto advert = DecodeTxt(event.txt);
  if (!advert.ok()) {
    ++rejected_;
    spdlog::warn("lan: dropped the advert of '{}' from {} ({}): {}", event.instance.name, event.instance.address,
                 event.instance.interface, advert.status().ToString());
    if (entries_.erase(key) > 0) ++version_;
    changed_.notify_all();
    return;
  }
  auto [it, inserted] = entries_.try_emplace(key);
  if (!inserted && it->second.advert == *advert && it->second.instance.address == event.instance.address &&
      it->second.instance.port == event.instance.port) {
    return;  // the same record again
  }
  spdlog::info("lan: '{}' ({}) at {}:{} {} seq {} load {}%", event.instance.name, advert->id, event.instance.address,
               event.instance.port, inserted ? "found" : "updated", advert->seq, advert->load_percent);
  it->second = LanCloudlet{event.instance, std::move(*advert), clock_.Now(), event.txt};
  ++version_;
  changed_.notify_all();
}

std::vector<LanCloudlet> LanTable::Snapshot() const {
  std::vector<LanCloudlet> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(entries_.size());
    for (const auto& [key, entry] : entries_) out.push_back(entry);
  }
  std::sort(out.begin(), out.end(), [](const LanCloudlet& a, const LanCloudlet& b) {
    return std::tie(a.instance.name, a.instance.interface, a.instance.protocol) <
           std::tie(b.instance.name, b.instance.interface, b.instance.protocol);
  });
  return out;
}

uint64_t LanTable::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

uint64_t LanTable::WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return version_ != seen; });
  return version_;
}

uint64_t LanTable::rejected() const {
  std::lock_guard lock(mu_);
  return rejected_;
}

}  // namespace cloudlet::discovery
