#include "cloudlet/discovery/registry.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::discovery {

using common::Status;

Status RegistryOptions::Validate() const {
  if (heartbeat_interval.count() <= 0) return Status::InvalidField("heartbeat_interval", "must be > 0");
  if (heartbeat_ttl <= heartbeat_interval * 3 / 2) {
    return Status::InvalidField("heartbeat_ttl", "must be longer than 1.5 heartbeat intervals");
  }
  if (purge_after.count() < 0) return Status::InvalidField("purge_after", "must be >= 0");
  return Status::Ok();
}

Registry::Registry(const common::Clock& clock, RegistryOptions options) : clock_(clock), options_(options) {}

Health Registry::HealthAt(const Entry& e, common::TimePoint now) const {
  const auto age = now - e.seen_at;
  if (age > options_.heartbeat_ttl) return Health::kExpired;
  if (e.restored || age > options_.heartbeat_interval * 3 / 2) return Health::kSuspect;
  return Health::kHealthy;
}

void Registry::BumpLocked(Entry& e, std::vector<std::function<void()>>& fire) {
  e.record.modify_index = ++index_;
  dirty_.insert(e.record.descriptor.id);
  CollectWatchersLocked(fire);
}

void Registry::CollectWatchersLocked(std::vector<std::function<void()>>& fire) { waiters_.Take("", index_, fire); }

void Registry::Fire(std::vector<std::function<void()>>& fire) { common::Watchers::Run(fire); }

void Registry::Restore(std::vector<CloudletRecord> records, uint64_t index) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    index_ = std::max(index_.load(), index);
    for (auto& r : records) {
      Entry e{std::move(r), now, true};
      e.record.health = Health::kSuspect;
      const std::string id = e.record.descriptor.id;
      entries_[id] = std::move(e);
    }
    ++index_;  // the restart is itself a change: every record is suspect now
    ++membership_index_;
    ++geo_version_;
    for (auto& [id, e] : entries_) e.record.modify_index = index_;
    CollectWatchersLocked(fire);
  }
  Fire(fire);
}

PutOutcome Registry::Put(const CloudletDescriptor& descriptor) {
  std::vector<std::function<void()>> fire;
  PutOutcome outcome;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    auto [it, created] = entries_.try_emplace(descriptor.id);
    Entry& e = it->second;
    CloudletRecord& r = e.record;
    if (created || r.descriptor.geo != descriptor.geo) ++geo_version_;
    if (created) {
      r.registered_at = now;
      r.load = 0;
      r.free = {descriptor.capacity.cpu_millis, descriptor.capacity.mem_mb};
    } else {
      r.free.cpu_millis = std::min(r.free.cpu_millis, descriptor.capacity.cpu_millis);
      r.free.mem_mb = std::min(r.free.mem_mb, descriptor.capacity.mem_mb);
    }
    r.descriptor = descriptor;
    r.last_heartbeat = now;
    e.seen_at = now;
    e.restored = false;
    r.health = Health::kHealthy;
    BumpLocked(e, fire);
    ++membership_index_;
    outcome = created ? PutOutcome::kCreated : PutOutcome::kReplaced;
  }
  Fire(fire);
  return outcome;
}

Status Registry::Heartbeat(std::string_view id, const discovery::Heartbeat& hb) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Status::NotFound("cloudlet '" + std::string(id) + "' is not registered");
    Entry& e = it->second;
    CloudletRecord& r = e.record;
    CLOUDLET_RETURN_IF_ERROR(ValidateHeartbeat(hb, r.descriptor));

    std::vector<BaseVm> cache = r.descriptor.base_vms;
    bool cache_changed = false;
    for (const auto& digest : hb.cache.removed) {
      auto gone = std::remove_if(cache.begin(), cache.end(), [&](const BaseVm& vm) { return vm.digest == digest; });
      cache_changed |= gone != cache.end();
      cache.erase(gone, cache.end());
    }
    for (const auto& added : hb.cache.added) {
      auto found = std::find_if(cache.begin(), cache.end(), [&](const BaseVm& vm) { return vm.digest == added.digest; });
      if (found == cache.end()) cache.push_back(added);
      else if (found->size_mb != added.size_mb) found->size_mb = added.size_mb;
      else continue;
      cache_changed = true;
    }
    if (cache.size() > kMaxBaseVms) return Status::InvalidField("cache.added", "would exceed 4096 cached base VMs");

    const auto now = clock_.Now();
    const Health before = r.health;
    const bool visible = cache_changed || r.load != hb.load ||
                         (hb.free && (hb.free->cpu_millis != r.free.cpu_millis || hb.free->mem_mb != r.free.mem_mb));
    r.load = hb.load;
    if (hb.free) r.free = *hb.free;
    if (cache_changed) r.descriptor.base_vms = std::move(cache);
    r.last_heartbeat = now;
    e.seen_at = now;
    e.restored = false;
    r.health = HealthAt(e, now);
    if (r.health != before || cache_changed) ++membership_index_;
    if (visible || r.health != before) BumpLocked(e, fire);
    else dirty_.insert(r.descriptor.id);
  }
  Fire(fire);
  return Status::Ok();
}

bool Registry::Follow(const CloudletRecord& incoming) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    const std::string& id = incoming.descriptor.id;
    auto [it, created] = entries_.try_emplace(id);
    Entry& e = it->second;
    CloudletRecord& r = e.record;
    const bool descriptor_changed = created || DescriptorToJson(r.descriptor) != DescriptorToJson(incoming.descriptor);
    if (!descriptor_changed && incoming.last_heartbeat < r.last_heartbeat) return false;  // older news
    if (created || r.descriptor.geo != incoming.descriptor.geo) ++geo_version_;
    const Health before = created ? Health::kExpired : r.health;
    // As with a heartbeat here: a newer time alone is not a visible change (the index stays).
    const bool visible = descriptor_changed || r.load != incoming.load || r.free.cpu_millis != incoming.free.cpu_millis ||
                         r.free.mem_mb != incoming.free.mem_mb;
    const auto modify_index = r.modify_index;
    r = incoming;
    r.modify_index = modify_index;
    e.seen_at = created ? incoming.last_heartbeat : std::max(e.seen_at, incoming.last_heartbeat);
    e.restored = false;
    r.health = HealthAt(e, clock_.Now());
    if (created || descriptor_changed || r.health != before) ++membership_index_;
    if (!visible && r.health == before) return true;
    r.modify_index = ++index_;
    CollectWatchersLocked(fire);
  }
  Fire(fire);
  return true;
}

bool Registry::Remove(std::string_view id) {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    dirty_.erase(it->first);
    entries_.erase(it);
    ++index_;
    ++membership_index_;
    ++geo_version_;
    CollectWatchersLocked(fire);
  }
  Fire(fire);
  return true;
}

common::Result<CloudletRecord> Registry::Get(std::string_view id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return Status::NotFound("cloudlet '" + std::string(id) + "' is not registered");
  return it->second.record;
}

bool Registry::Contains(std::string_view id) const {
  std::lock_guard lock(mu_);
  return entries_.contains(id);
}

uint64_t Registry::index() const { return index_.load(std::memory_order_acquire); }

uint64_t Registry::membership_index() const { return membership_index_.load(std::memory_order_acquire); }

std::map<Health, size_t> Registry::CountByHealth() const {
  std::map<Health, size_t> counts{{Health::kHealthy, 0}, {Health::kSuspect, 0}, {Health::kExpired, 0}};
  std::lock_guard lock(mu_);
  for (const auto& [id, e] : entries_) ++counts[e.record.health];
  return counts;
}

namespace {

bool MatchesBaseVm(const CloudletDescriptor& d, const std::string& wanted) {
  // "sha256:" plus a prefix, or a bare hex prefix as the mDNS record carries it.
  const std::string_view w = wanted.starts_with("sha256:") ? std::string_view(wanted).substr(7) : wanted;
  return std::any_of(d.base_vms.begin(), d.base_vms.end(),
                     [&](const BaseVm& vm) { return std::string_view(vm.digest).substr(7).starts_with(w); });
}

}  // namespace

bool Registry::Matches(const Entry& e, const ListFilter& filter) {
  if (filter.state && e.record.health != *filter.state) return false;
  return !filter.base_vm || MatchesBaseVm(e.record.descriptor, *filter.base_vm);
}

void Registry::IndexPositionsLocked() const {
  if (geo_indexed_ == geo_version_) return;
  std::vector<common::SphereIndex::Item> items;
  geo_entries_.clear();
  for (const auto& [id, e] : entries_) {
    if (!e.record.descriptor.geo) continue;
    items.push_back({common::ToUnitVector(*e.record.descriptor.geo), static_cast<int32_t>(geo_entries_.size())});
    geo_entries_.push_back(&e);
  }
  geo_index_ = common::SphereIndex(std::move(items));
  geo_indexed_ = geo_version_;
}

ListResult Registry::ListNearestLocked(const ListFilter& filter) const {
  struct Found {
    double km;
    const Entry* entry;
  };
  // Nearer first, ties by id: the order of the full sort in List.
  auto nearer = [](const Found& a, const Found& b) {
    return a.km != b.km ? a.km < b.km : a.entry->record.descriptor.id < b.entry->record.descriptor.id;
  };
  const size_t limit = *filter.limit;
  std::vector<Found> best;  // a heap whose front is the farthest kept
  IndexPositionsLocked();
  const common::UnitVector from = common::ToUnitVector(*filter.near);
  auto by_distance = [](int32_t, double chord2) { return chord2; };
  geo_index_.Search(from, by_distance, [&](std::span<const common::SphereIndex::Item> leaf) {
    for (const auto& item : leaf) {
      const Entry& e = *geo_entries_[static_cast<size_t>(item.row)];
      if (!Matches(e, filter)) continue;
      // GreatCircleKm's arithmetic, on the vector the index already holds.
      const double dx = from.x - item.at.x, dy = from.y - item.at.y, dz = from.z - item.at.z;
      const Found f{common::ChordToKm(std::sqrt(dx * dx + dy * dy + dz * dz)), &e};
      if (best.size() < limit) {
        best.push_back(f);
        std::push_heap(best.begin(), best.end(), nearer);
      } else if (nearer(f, best.front())) {
        std::pop_heap(best.begin(), best.end(), nearer);
        best.back() = f;
        std::push_heap(best.begin(), best.end(), nearer);
      }
    }
    // Leaves farther than the farthest kept cannot hold anything nearer (a little slack for rounding).
    if (best.size() < limit) return common::SphereIndex::kNoLimit;
    const double chord = common::KmToChord(best.front().km) * (1 + 1e-9) + 1e-12;
    return chord * chord;
  });
  std::sort_heap(best.begin(), best.end(), nearer);
  ListResult out;
  out.index = index_;
  out.entries.reserve(limit);
  for (const Found& f : best) out.entries.push_back({f.entry->record, f.km});
  for (auto it = entries_.begin(); out.entries.size() < limit && it != entries_.end(); ++it) {
    if (!it->second.record.descriptor.geo && Matches(it->second, filter)) out.entries.push_back({it->second.record, std::nullopt});
  }
  return out;
}

ListResult Registry::List(const ListFilter& filter) const {
  // Select and order pointers under the lock, then copy only the records that are returned.
  struct Candidate {
    const Entry* entry;
    std::optional<double> distance_km;
  };
  std::vector<Candidate> selected;
  ListResult out;
  std::lock_guard lock(mu_);
  if (filter.near && filter.limit) return ListNearestLocked(filter);
  out.index = index_;
  selected.reserve(filter.near ? entries_.size() : std::min(entries_.size(), filter.limit.value_or(entries_.size())));
  for (const auto& [id, e] : entries_) {
    if (!Matches(e, filter)) continue;
    Candidate c{&e, std::nullopt};
    if (filter.near && e.record.descriptor.geo) c.distance_km = common::GreatCircleKm(*filter.near, *e.record.descriptor.geo);
    selected.push_back(c);
    // Without `near` the map's id order is the answer's order: stop at the limit.
    if (!filter.near && filter.limit && selected.size() == *filter.limit) break;
  }
  const size_t keep = std::min(selected.size(), filter.limit.value_or(selected.size()));
  if (filter.near) {
    // Nearest first, cloudlets without geo last, ties by id.
    auto by_distance = [](const Candidate& a, const Candidate& b) {
      if (a.distance_km.has_value() != b.distance_km.has_value()) return a.distance_km.has_value();
      if (a.distance_km && *a.distance_km != *b.distance_km) return *a.distance_km < *b.distance_km;
      return a.entry->record.descriptor.id < b.entry->record.descriptor.id;
    };
    std::partial_sort(selected.begin(), selected.begin() + keep, selected.end(), by_distance);
  }
  out.entries.reserve(keep);
  for (size_t i = 0; i < keep; ++i) out.entries.push_back({selected[i].entry->record, selected[i].distance_km});
  return out;
}

void Registry::UpdateHealth() {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    for (auto& [id, e] : entries_) {
      const Health h = HealthAt(e, now);
      if (h != e.record.health) {
        spdlog::info("registry: '{}' {} -> {}", id, HealthName(e.record.health), HealthName(h));
        e.record.health = h;
        BumpLocked(e, fire);
        ++membership_index_;
      }
    }
  }
  Fire(fire);
}

std::vector<std::string> Registry::TakePurged() {
  std::vector<std::string> purged;
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now - it->second.seen_at > options_.heartbeat_ttl + options_.purge_after) {
        purged.push_back(it->first);
        dirty_.erase(it->first);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    if (!purged.empty()) {
      ++index_;
      ++membership_index_;
      ++geo_version_;
      CollectWatchersLocked(fire);
    }
  }
  Fire(fire);
  return purged;
}

std::vector<CloudletRecord> Registry::TakeDirty() {
  std::lock_guard lock(mu_);
  std::vector<CloudletRecord> out;
  out.reserve(dirty_.size());
  for (const auto& id : dirty_) {
    auto it = entries_.find(id);
    if (it != entries_.end()) out.push_back(it->second.record);
  }
  dirty_.clear();
  return out;
}

void Registry::MarkDirty(const std::vector<std::string>& ids) {
  std::lock_guard lock(mu_);
  for (const auto& id : ids) {
    if (entries_.contains(id)) dirty_.insert(id);
  }
}

Registry::WatchId Registry::Watch(uint64_t after_index, std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (index_ <= after_index) return waiters_.Add("", after_index, std::move(fn));
  }
  fn();
  return 0;
}

bool Registry::CancelWatch(WatchId id) {
  std::lock_guard lock(mu_);
  return waiters_.Remove(id);
}

void Registry::FireAllWatches() {
  std::vector<std::function<void()>> fire;
  {
    std::lock_guard lock(mu_);
    waiters_.TakeAll(fire);
  }
  Fire(fire);
}

}  // namespace cloudlet::discovery
