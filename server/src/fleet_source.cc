#include "cloudlet/server/fleet_source.h"

#include <algorithm>

namespace cloudlet::server {

namespace {
std::atomic<uint64_t> next_fleet_source{1};
}  // namespace

RegistryFleetSource::RegistryFleetSource(const discovery::Registry& registry, const common::Clock& clock,
                                         common::Millis refresh, const placement::ProvisionObservations* observed,
                                         std::chrono::microseconds costly_build)
    : registry_(registry),
      clock_(clock),
      refresh_(refresh),
      observed_(observed),
      costly_build_(costly_build),
      instance_(next_fleet_source.fetch_add(1)) {
  view_.snapshot = std::make_shared<placement::FleetSnapshot>();
}

const placement::FleetSource::View& RegistryFleetSource::Current() {
  struct Local {
    uint64_t instance = 0, version = 0;
    Built built;
    View view;
  };
  thread_local Local local;
  const uint64_t membership = registry_.membership_index();
  const uint64_t index = registry_.index();
  const uint64_t observed = observed_ ? observed_->version() : 0;
  const auto now = clock_.Now();
  if (local.instance == instance_ && local.version == version_.load(std::memory_order_acquire) &&
      !Stale(local.built, membership, index, observed, now)) {
    return local.view;  // the common case: no lock, no shared reference count
  }
  std::lock_guard lock(mu_);
  if (Stale(built_, membership, index, observed, now)) {
    const auto started = std::chrono::steady_clock::now();
    const auto list = registry_.List({});
    std::vector<placement::CloudletState> states;
    std::vector<common::TimePoint> last_heartbeat;
    states.reserve(list.entries.size());
    for (const auto& e : list.entries) {
      const auto& r = e.record;
      placement::CloudletState& c = states.emplace_back();
      c.id = r.descriptor.id;
      c.endpoint = r.descriptor.endpoint;
      c.geo = r.descriptor.geo;
      c.eligible = r.health != discovery::Health::kExpired;
      c.suspect = r.health == discovery::Health::kSuspect;
      const auto& iso = r.descriptor.isolation;
      c.vm = std::find(iso.begin(), iso.end(), "vm") != iso.end();
      c.container = std::find(iso.begin(), iso.end(), "container") != iso.end();
      c.cpu_capacity = r.descriptor.capacity.cpu_millis;
      c.mem_capacity = r.descriptor.capacity.mem_mb;
      c.free_cpu = r.free.cpu_millis;
      c.free_mem = r.free.mem_mb;
      c.load = r.load;
      c.wan_mbps = r.descriptor.wan_mbps;
      if (auto o = observed_ ? observed_->Of(c.id) : std::nullopt) {
        c.observed = true;
        if (o->rate_mbps > 0) c.wan_mbps = o->rate_mbps;
        c.launch_s = o->launch_s;
      }
      for (const auto& vm : r.descriptor.base_vms) c.base_vms.push_back(vm.digest);
      c.labels = r.descriptor.labels;
      last_heartbeat.push_back(r.last_heartbeat);
    }
    view_.snapshot = std::make_shared<const placement::FleetSnapshot>(placement::BuildSnapshot(states, view_.snapshot.get()));
    view_.last_heartbeat = std::make_shared<const std::vector<common::TimePoint>>(std::move(last_heartbeat));
    built_ = {list.index, membership, observed, now,
              std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started)};
    version_.fetch_add(1, std::memory_order_release);
  }
  local = {instance_, version_.load(std::memory_order_relaxed), built_, view_};
  return local.view;
}

}  // namespace cloudlet::server
