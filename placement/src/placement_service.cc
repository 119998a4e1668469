#include "cloudlet/placement/placement_service.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "mix.h"

namespace cloudlet::placement {

using internal::Mix;

using common::Result;
using common::Status;

namespace {

constexpr size_t kMaxEnded = 10'000;

bool Owns(const std::string& owner, const Placement& p) { return owner.empty() || owner == p.owner; }

Status NotFound(const std::string& id) { return Status::NotFound("no placement '" + id.substr(0, 64) + "'"); }

}  // namespace

const char* PlacementStateName(PlacementState s) {
  switch (s) {
    case PlacementState::kReserved: return "reserved";
    case PlacementState::kActive: return "active";
    case PlacementState::kProvisioning: return "provisioning";
    case PlacementState::kRunning: return "running";
    case PlacementState::kReleased: return "released";
    case PlacementState::kExpired: return "expired";
    case PlacementState::kFailed: return "failed";
  }
  return "unknown";
}

std::optional<PlacementState> ParsePlacementState(std::string_view name) {
  for (auto s : {PlacementState::kReserved, PlacementState::kActive, PlacementState::kProvisioning,
                 PlacementState::kRunning, PlacementState::kReleased, PlacementState::kExpired, PlacementState::kFailed}) {
    if (name == PlacementStateName(s)) return s;
  }
  return std::nullopt;
}

bool IsLive(PlacementState s) {
  return s == PlacementState::kReserved || s == PlacementState::kActive || s == PlacementState::kProvisioning ||
         s == PlacementState::kRunning;
}

PlacementService::PlacementService(const common::Clock& clock, Engine engine, MigrationAdvisor advisor,
                                   FleetSource& fleet, PlacementStore& store, Vivaldi& coordinates,
                                   PlacementOptions options)
    : clock_(clock),
      engine_(std::move(engine)),
      advisor_(advisor),
      fleet_(fleet),
      store_(store),
      coordinates_(coordinates),
      options_(options),
      id_salt_((options_.random ? *options_.random : common::SystemRandomSource()).Next()) {}

PlacementService::~PlacementService() { Stop(); }

Status PlacementService::Start() {
  // Taken before the load: whatever changes meanwhile is read again from the feed.
  auto cursor = store_.ChangeCursor();
  if (!cursor.ok()) return cursor.status();
  auto active = store_.LoadActive();
  if (!active.ok()) return active.status();
  {
    std::lock_guard lock(mu_);
    for (auto& p : *active) {
      TouchLocked(p);
      AddLocked(std::move(p));
    }
    writer_ = std::make_unique<common::TimerQueue>();
  }
  if (store_.shared()) {
    follow_ = std::make_unique<common::FollowThread>(
        [this, cursor = *cursor, log = common::OutageLog("placement: reading other registries' changes")]() mutable {
          auto changes = store_.ChangesSince(cursor);
          if (!changes.ok()) return log.Failed(changes.status().message());
          log.Succeeded();
          Follow(*changes);
          cursor = changes->cursor;
        },
        [this](common::Millis limit) { store_.WaitForChanges(limit); }, common::Millis(500));
  }
  return Status::Ok();
}

void PlacementService::Stop() {
  if (follow_) follow_->Stop();
  if (writer_) writer_->Shutdown();  // runs the writes already queued
}

void PlacementService::Follow(const PlacementChanges& changes) {
  std::lock_guard lock(mu_);
  for (Placement p : changes.placements) {
    if (live_.count(p.id)) {
      RemoveLocked(p.id);
    } else if (ended_.count(p.id)) {
      continue;  // it ended here; a late update does not bring it back
    }
    TouchLocked(p);
    AddLocked(std::move(p));
  }
  for (const auto& id : changes.removed) {
    if (live_.count(id)) EndLocked(RemoveLocked(id), PlacementState::kReleased, /*notify=*/false);
  }
}

Result<PlaceResult> PlacementService::ReserveShared(Placement p, PlaceResult out) {
  for (const Candidate& c : out.ranking.candidates) {
    p.chosen = c;
    p.cloudlet_id = c.cloudlet_id;
    p.endpoint = c.endpoint;
    const Status reserved = store_.Reserve(p, p.created_at);
    if (reserved.code() == common::StatusCode::kResourceExhausted) continue;  // taken through another registry
    if (!reserved.ok()) return Status::Unavailable("could not store the reservation: " + reserved.message());
    std::lock_guard lock(mu_);
    TouchLocked(p);
    out.placement = p;
    AddLocked(std::move(p));
    return out;
  }
  out.ranking.candidates.clear();  // each was full once every registry's reservations were counted
  return out;
}

size_t PlacementService::live() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

OwnerUsage PlacementService::UsageOf(const std::string& owner) const {
  std::lock_guard lock(mu_);
  auto it = by_owner_.find(owner);
  return it == by_owner_.end() ? OwnerUsage{} : it->second;
}

// 64 bits from the system's entropy per id: ids are DNS names anyone may query (docs/security.md), so
// one must not tell the next (an invertible mix of a counter would).
std::string PlacementService::NewId() {
  common::RandomSource& random = options_.random ? *options_.random : common::SystemRandomSource();
  ++seq_;  // ids issued: also seeds the ranking of location updates
  char buf[24];
  do {
    std::snprintf(buf, sizeof buf, "pl-%016llx", static_cast<unsigned long long>(random.Next()));
  } while (live_.count(buf) || ended_.count(buf));
  return buf;
}

namespace {

std::string AppKey(const std::string& owner, const AppSpec& app) {
  return owner + '\n' + app.name + '\n' + app.base_vm;
}

}  // namespace

namespace {

// A client that reports RTTs below the physical floor has a broken clock or a lying probe: said once
// per request, with the first few.
void LogImplausible(const ClientSpec& client, const Ranking& ranking) {
  if (ranking.implausible_count == 0) return;
  std::string list;
  for (const ImplausibleRtt& r : ranking.implausible) {
    list += fmt::format("{}{} {:.3f} ms from {} (at least {:.3f} ms over its distance)", list.empty() ? "" : "; ",
                        r.source == RttSource::kMeasured ? "measured" : "coordinates", r.rtt_ms, r.cloudlet_id, r.floor_ms);
  }
  spdlog::warn("placement: client '{}': {} RTT(s) faster than light in fibre, set aside as measurement errors: {}",
               client.id.substr(0, 64), ranking.implausible_count, list);
}

}  // namespace

void PlacementService::IndexLocked(const Placement& p, int sign) {
  OwnerUsage& owned = by_owner_[p.owner];
  owned.live = sign > 0 ? owned.live + 1 : owned.live - 1;
  owned.cpu_millis += sign * p.request.app.cpu_millis;
  if (owned.live == 0) by_owner_.erase(p.owner);
  for (auto [ids_by_key, key] : {std::pair{&by_cloudlet_, &p.cloudlet_id}, std::pair{&by_name_, &p.name}}) {
    if (sign > 0) {
      (*ids_by_key)[*key].insert(p.id);
    } else if (auto on = ids_by_key->find(*key); on != ids_by_key->end()) {
      on->second.erase(p.id);
      if (on->second.empty()) ids_by_key->erase(on);
    }
  }
  const double cpu = sign * static_cast<double>(p.request.app.cpu_millis);
  const double mem = sign * static_cast<double>(p.request.app.mem_mb);
  // Only additions matter to a placement ranked meanwhile: a release leaves its choice valid.
  if (sign > 0 && rows_of_) {
    ++change_seq_;
    if (auto row = rows_of_->row_of.find(p.cloudlet_id); row != rows_of_->row_of.end()) {
      row_changed_at_[static_cast<size_t>(row->second)] = change_seq_;
    }
  }
  if (!p.confirmed) {
    Held& h = reserved_by_cloudlet_[p.cloudlet_id];
    h.cpu_millis += cpu;
    h.mem_mb += mem;
    if (rows_of_) {
      if (auto row = rows_of_->row_of.find(p.cloudlet_id); row != rows_of_->row_of.end()) {
        reserved_cpu_by_row_[row->second] += cpu;
        reserved_mem_by_row_[row->second] += mem;
      }
    }
    if (sign > 0) {
      leases_.emplace(p.expires_at, p.id);
    } else {
      auto [lo, hi] = leases_.equal_range(p.expires_at);
      for (auto it = lo; it != hi; ++it) {
        if (it->second == p.id) {
          leases_.erase(it);
          break;
        }
      }
    }
  } else {
    auto& recent = recent_by_cloudlet_[p.cloudlet_id];
    if (sign > 0) recent.push_back({p.id, p.activated_at, cpu, mem});
    else std::erase_if(recent, [&](const Recent& r) { return r.id == p.id; });
    auto& counts = warm_[AppKey(p.owner, p.request.app)];
    if ((counts[p.cloudlet_id] += sign) <= 0) counts.erase(p.cloudlet_id);
  }
}

void PlacementService::AddLocked(Placement p) {
  IndexLocked(p, +1);
  const std::string id = p.id;
  live_[id] = std::move(p);
}

Placement PlacementService::RemoveLocked(const std::string& id) {
  auto it = live_.find(id);
  Placement p = std::move(it->second);
  live_.erase(it);
  IndexLocked(p, -1);
  return p;
}

void PlacementService::ReservationsLocked(const FleetSource::View& view, const PlacementRequest& request,
                                          const std::string& owner, const std::string* except_id, Reservations& r) {
  const FleetSnapshot& fleet = *view.snapshot;
  const auto n = static_cast<Eigen::Index>(fleet.size());
  // Reserved capacity is in no heartbeat yet. The by-row sums are rebuilt when the snapshot changes.
  if (rows_of_ != &fleet) {
    // Keep the snapshot alive as long as rows_of_ points at it.
    rows_snapshot_ = view.snapshot;
    rows_of_ = &fleet;
    reserved_cpu_by_row_.setZero(n);
    row_changed_at_.assign(static_cast<size_t>(n), ++change_seq_);
    reserved_mem_by_row_.setZero(n);
    for (const auto& [cloudlet, held] : reserved_by_cloudlet_) {
      auto row = fleet.row_of.find(cloudlet);
      if (row == fleet.row_of.end()) continue;
      reserved_cpu_by_row_[row->second] += held.cpu_millis;
      reserved_mem_by_row_[row->second] += held.mem_mb;
    }
  }
  // Assignment into arrays of the same size reuses their storage.
  r.cpu_millis = reserved_cpu_by_row_;
  r.mem_mb = reserved_mem_by_row_;
  r.warm_rows.clear();
  // An active app is in its cloudlet's `free` once the cloudlet has heartbeated since it started.
  for (auto& [cloudlet, recent] : recent_by_cloudlet_) {
    auto row = fleet.row_of.find(cloudlet);
    if (row == fleet.row_of.end()) continue;
    const int i = row->second;
    if (view.last_heartbeat && static_cast<size_t>(i) < view.last_heartbeat->size()) {
      std::erase_if(recent, [&](const Recent& a) { return a.activated_at < (*view.last_heartbeat)[i]; });
    }
    for (const Recent& a : recent) {
      r.cpu_millis[i] += a.cpu_millis;
      r.mem_mb[i] += a.mem_mb;
    }
  }
  // A placement being re-evaluated does not compete with itself.
  if (except_id) {
    auto self = live_.find(*except_id);
    auto row = self == live_.end() ? fleet.row_of.end() : fleet.row_of.find(self->second.cloudlet_id);
    if (row != fleet.row_of.end()) {
      const Placement& p = self->second;
      const bool counted = !p.confirmed ||
                           std::any_of(recent_by_cloudlet_[p.cloudlet_id].begin(),
                                       recent_by_cloudlet_[p.cloudlet_id].end(),
                                       [&](const Recent& a) { return a.id == p.id; });
      if (counted) {
        r.cpu_millis[row->second] -= static_cast<double>(p.request.app.cpu_millis);
        r.mem_mb[row->second] -= static_cast<double>(p.request.app.mem_mb);
      }
    }
  }
  if (auto warm = warm_.find(AppKey(owner, request.app)); warm != warm_.end()) {
    for (const auto& [cloudlet, count] : warm->second) {
      if (auto row = fleet.row_of.find(cloudlet); row != fleet.row_of.end()) r.warm_rows.push_back(row->second);
    }
  }
}

void PlacementService::TouchLocked(Placement& p) {
  p.modify_index = ++index_;
  cloudlet_index_[p.cloudlet_id] = index_;
  std::vector<common::Watchers::Fn> fire;
  watchers_.Take(p.id, index_, fire);
  watchers_.Take("cloudlet:" + p.cloudlet_id, index_, fire);
  common::Watchers::Run(fire);
}

void PlacementService::EndLocked(Placement p, PlacementState state, bool notify) {
  if (notify && options_.on_end) options_.on_end(p, clock_.Now());
  p.state = state;
  TouchLocked(p);
  if (ended_order_.size() >= kMaxEnded) {
    ended_.erase(ended_order_.front());
    ended_order_.pop_front();
  }
  ended_order_.push_back(p.id);
  ended_[p.id] = std::move(p);
}

void PlacementService::ExpireLeasesLocked(common::TimePoint now) {
  while (!leases_.empty() && leases_.begin()->first <= now) {
    const std::string id = leases_.begin()->second;
    EndLocked(RemoveLocked(id), PlacementState::kExpired);
  }
}

void PlacementService::ExpireLeases() {
  std::lock_guard lock(mu_);
  ExpireLeasesLocked(clock_.Now());
}

Placement* PlacementService::FindLocked(const std::string& owner, const std::string& id) {
  auto it = live_.find(id);
  return it != live_.end() && Owns(owner, it->second) ? &it->second : nullptr;
}

Result<Placement> PlacementService::CopyOf(const std::string& owner, const std::string& id) {
  std::lock_guard lock(mu_);
  ExpireLeasesLocked(clock_.Now());
  if (Placement* p = FindLocked(owner, id)) return *p;
  auto ended = ended_.find(id);
  if (ended != ended_.end() && Owns(owner, ended->second)) return ended->second;
  return NotFound(id);
}

Result<PlaceResult> PlacementService::Place(const std::string& owner, const PlacementRequest& request) {
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(request));
  // The snapshot and coordinate estimates are read outside the lock.
  const FleetSource::View& view = fleet_.Current();
  const Eigen::ArrayXd coords = request.client.id.empty()
                                    ? Eigen::ArrayXd()
                                    : coordinates_.EstimateMany(request.client.id, view.snapshot->ids);
  const Eigen::ArrayXd* coords_ptr = coords.size() ? &coords : nullptr;
  // Optimistic: rank outside the lock against a copy of the reservations, then commit only if
  // nobody reserved on the chosen cloudlet meanwhile; otherwise rank again with what they took, so
  // that concurrent requests spread instead of herding. After a few collisions, rank under the lock.
  constexpr int kOptimisticTries = 4;
  for (int attempt = 0;; ++attempt) {
    const bool locked_path = attempt >= kOptimisticTries;
    std::unique_lock lock(mu_);
    const auto now = clock_.Now();
    ExpireLeasesLocked(now);
    if (live_.size() >= options_.max_placements) {
      return Status::ResourceExhausted("the registry holds its maximum of live placements; release some");
    }
    if (options_.quota) {
      auto it = by_owner_.find(owner);
      CLOUDLET_RETURN_IF_ERROR(options_.quota(owner, it == by_owner_.end() ? OwnerUsage{} : it->second, request));
    }
    thread_local Reservations reserved;  // scratch, reused by this thread's requests
    ReservationsLocked(view, request, owner, nullptr, reserved);
    const uint64_t seed = Mix(id_salt_ + ++rank_seq_);
    const uint64_t ranked_at = change_seq_;
    if (!locked_path) lock.unlock();
    auto ranking = engine_.Rank(*view.snapshot, request, reserved, seed, coords_ptr);
    if (!ranking.ok()) return ranking.status();
    LogImplausible(request.client, *ranking);
    PlaceResult out{std::nullopt, std::move(*ranking)};
    if (out.ranking.candidates.empty()) return out;
    if (!locked_path) {
      lock.lock();
      ExpireLeasesLocked(clock_.Now());
      const int row = out.ranking.candidates.front().row;
      // Nothing placed, confirmed or released on the chosen cloudlet since the ranking read it.
      const bool unchanged = rows_of_ == view.snapshot.get() && row_changed_at_[static_cast<size_t>(row)] <= ranked_at;
      if (!unchanged) continue;
    }
    Placement p;
    p.id = NewId();
    p.name = p.id;
    if (!request.replaces.empty()) {
      const Placement* old = FindLocked(owner, request.replaces);
      if (!old) return Status::InvalidField("replaces", "no live placement '" + request.replaces.substr(0, 64) + "' of yours");
      p.name = old->name;
    }
    p.owner = owner;
    p.request = request;
    p.chosen = out.ranking.candidates.front();
    p.cloudlet_id = p.chosen.cloudlet_id;
    p.endpoint = p.chosen.endpoint;
    p.state = PlacementState::kReserved;
    p.created_at = clock_.Now();
    p.expires_at = p.created_at + options_.lease;
    if (store_.shared()) {
      lock.unlock();
      return ReserveShared(std::move(p), std::move(out));
    }
    TouchLocked(p);
    out.placement = p;
    AddLocked(std::move(p));
    return out;
  }
}

Result<Placement> PlacementService::Get(const std::string& owner, const std::string& id) { return CopyOf(owner, id); }

std::optional<Placement> PlacementService::RunningByName(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto ids = by_name_.find(name);
  if (ids == by_name_.end()) return std::nullopt;
  const Placement* best = nullptr;
  for (const auto& id : ids->second) {
    const Placement& p = live_.at(id);
    if (p.state == PlacementState::kRunning && (!best || p.created_at > best->created_at)) best = &p;
  }
  if (!best) return std::nullopt;
  return *best;
}

std::vector<Placement> PlacementService::List(const std::string& owner, size_t limit) {
  std::vector<Placement> out;
  {
    std::lock_guard lock(mu_);
    ExpireLeasesLocked(clock_.Now());
    for (const auto& [id, p] : live_) {
      if (Owns(owner, p)) out.push_back(p);
    }
  }
  std::sort(out.begin(), out.end(), [](const Placement& a, const Placement& b) { return a.created_at > b.created_at; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

void PlacementService::Confirm(const std::string& owner, const std::string& id, Done done) {
  Placement copy;
  {
    std::lock_guard lock(mu_);
    ExpireLeasesLocked(clock_.Now());
    Placement* p = FindLocked(owner, id);
    if (!p) {
      auto ended = ended_.find(id);
      if (ended != ended_.end() && Owns(owner, ended->second)) {
        return done(Status::FailedPrecondition("placement '" + id + "' is " +
                                               PlacementStateName(ended->second.state) + "; place again"));
      }
      return done(NotFound(id));
    }
    if (p->confirmed) return done(*p);  // confirming twice is harmless
    // Confirmed from now on, so the lease cannot lapse while the write is in flight.
    Placement active = RemoveLocked(id);
    active.confirmed = true;
    if (active.state == PlacementState::kReserved) active.state = PlacementState::kActive;
    active.activated_at = clock_.Now();
    TouchLocked(active);
    copy = active;
    AddLocked(std::move(active));
  }
  writer_->Post([this, copy, done] {
    const Status stored = store_.PutActive(copy);
    if (stored.ok()) return done(copy);
    {
      std::lock_guard lock(mu_);
      if (FindLocked("", copy.id)) {
        Placement back = RemoveLocked(copy.id);
        back.confirmed = false;  // its lease runs on as before
        if (back.state == PlacementState::kActive) back.state = PlacementState::kReserved;
        TouchLocked(back);
        AddLocked(std::move(back));
      }
    }
    done(Status::Unavailable("could not store the placement: " + stored.message()));
  });
}

void PlacementService::Release(const std::string& owner, const std::string& id, Done done) {
  Placement released;
  {
    std::lock_guard lock(mu_);
    ExpireLeasesLocked(clock_.Now());
    Placement* p = FindLocked(owner, id);
    if (!p) return done(NotFound(id));
    released = RemoveLocked(id);
    // A reservation held in a shared store is given back there too.
    if (!released.confirmed && !store_.shared()) {
      EndLocked(released, PlacementState::kReleased);
      released.state = PlacementState::kReleased;
      return done(released);
    }
  }
  EndDurably(std::move(released), PlacementState::kReleased, std::move(done));
}

void PlacementService::EndDurably(Placement p, PlacementState state, Done done) {
  writer_->Post([this, p = std::move(p), state, done]() mutable {
    const Status removed = store_.Remove(p.id);
    std::lock_guard lock(mu_);
    if (!removed.ok()) {
      AddLocked(p);  // nothing changed
      return done(Status::Unavailable(std::string("could not store that it is ") + PlacementStateName(state) + ": " +
                                      removed.message()));
    }
    EndLocked(p, state);
    p.state = state;
    done(p);
  });
}

Result<LocationResult> PlacementService::Location(const std::string& owner, const std::string& id,
                                                  const LocationUpdate& update) {
  auto current = CopyOf(owner, id);
  if (!current.ok()) return current.status();
  if (!IsLive(current->state)) {
    return Status::FailedPrecondition("placement '" + id + "' is " + PlacementStateName(current->state));
  }
  PlacementRequest moved = current->request;
  if (update.geo) moved.client.geo = update.geo;
  for (const auto& [cloudlet, rtt] : update.rtt_ms) moved.client.rtt_ms[cloudlet] = rtt;
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(moved));

  const FleetSource::View& view = fleet_.Current();
  const Eigen::ArrayXd coords =
      moved.client.id.empty() ? Eigen::ArrayXd() : coordinates_.EstimateMany(moved.client.id, view.snapshot->ids);
  std::lock_guard lock(mu_);
  Placement* p = FindLocked(owner, id);
  if (!p) return NotFound(id);
  p->request.client = moved.client;
  // This placement's own hold is not counted against the cloudlets it is compared on.
  thread_local Reservations reserved;
  ReservationsLocked(view, moved, p->owner, &id, reserved);  // warm for its owner
  const Eigen::ArrayXd* coord_ptr = coords.size() ? &coords : nullptr;
  auto best = engine_.Rank(*view.snapshot, moved, reserved, Mix(id_salt_ ^ seq_), coord_ptr);
  if (!best.ok()) return best.status();
  // The current cloudlet, evaluated alone at the new position (it may not be in the top k).
  const auto row = view.snapshot->row_of.find(p->cloudlet_id);
  const int current_row = row == view.snapshot->row_of.end() ? -1 : row->second;
  auto here = engine_.RankRow(*view.snapshot, moved, reserved, current_row, coord_ptr);
  if (!here.ok()) return here.status();

  MigrationOption stay{p->cloudlet_id, std::numeric_limits<double>::infinity()};
  if (!here->candidates.empty()) stay.response_ms = here->candidates[0].rtt_ms + here->candidates[0].queue_ms;
  MigrationOption go;
  double target_provision_s = 0;
  if (!best->candidates.empty()) {
    const Candidate& b = best->candidates[0];
    go = {b.cloudlet_id, b.rtt_ms + b.queue_ms};
    target_provision_s = b.provision_s;
  }
  const auto started = p->confirmed ? p->activated_at : p->created_at;
  const double elapsed_s = std::chrono::duration<double>(clock_.Now() - started).count();
  const double remaining = moved.app.req_rate_hz * std::max(0.0, moved.app.session_s - elapsed_s);
  LocationResult out{advisor_.Advise(stay, go, remaining, target_provision_s), std::move(*best)};
  return out;
}

namespace {

// What an agent may say next, given what the placement is now (live).
Status CheckReport(const Placement& p, const WorkloadReport& r) {
  switch (r.state) {
    case PlacementState::kProvisioning:
      if (p.state == PlacementState::kRunning) {
        return Status::FailedPrecondition("placement '" + p.id + "' is running; report failed first");
      }
      return Status::Ok();
    case PlacementState::kRunning:
      if (r.endpoint.empty()) return Status::InvalidField("endpoint", "is required when running");
      return Status::Ok();
    case PlacementState::kFailed:
      if (r.reason.empty()) return Status::InvalidField("reason", "is required when failed");
      return Status::Ok();
    default:
      return Status::InvalidField("state", "must be provisioning, running or failed");
  }
}

}  // namespace

void PlacementService::Report(const std::string& cloudlet_id, const std::string& id, const WorkloadReport& report,
                              Done done) {
  Placement copy;
  {
    std::lock_guard lock(mu_);
    ExpireLeasesLocked(clock_.Now());
    Placement* p = FindLocked("", id);
    if (p && !cloudlet_id.empty() && p->cloudlet_id != cloudlet_id) p = nullptr;
    if (!p) {
      auto ended = ended_.find(id);
      if (ended != ended_.end() && (cloudlet_id.empty() || ended->second.cloudlet_id == cloudlet_id)) {
        return done(Status::FailedPrecondition("placement '" + id + "' is " + PlacementStateName(ended->second.state)));
      }
      return done(NotFound(id));
    }
    if (Status s = CheckReport(*p, report); !s.ok()) return done(s);
    const bool same = p->state == report.state && (report.state != PlacementState::kRunning || p->endpoint == report.endpoint);
    if (same) return done(*p);  // a repeated report changes nothing
    if (report.state == PlacementState::kFailed) {
      Placement failed = RemoveLocked(id);
      failed.reason = report.reason;
      if (!failed.confirmed) {
        EndLocked(failed, PlacementState::kFailed);
        failed.state = PlacementState::kFailed;
        return done(failed);
      }
      copy = std::move(failed);
    } else {
      p->state = report.state;
      p->live.reset();  // figures of an earlier run, or another cloudlet's
      if (report.state == PlacementState::kRunning) {
        p->endpoint = report.endpoint;
        p->provision = report.provision;
        if (report.provision && options_.on_provisioned) options_.on_provisioned(*p, *report.provision);
      }
      TouchLocked(*p);
      if (!p->confirmed) return done(*p);  // soft state until confirmed
      copy = *p;
    }
  }
  if (report.state == PlacementState::kFailed) return EndDurably(std::move(copy), PlacementState::kFailed, std::move(done));
  writer_->Post([this, copy, done] {
    const Status stored = store_.PutActive(copy);
    if (!stored.ok()) return done(Status::Unavailable("could not store the placement: " + stored.message()));
    done(copy);
  });
}

size_t PlacementService::SetLive(const std::string& cloudlet_id,
                                 const std::vector<std::pair<std::string, LiveFigures>>& figures) {
  size_t taken = 0;
  std::lock_guard lock(mu_);
  for (const auto& [id, f] : figures) {
    auto it = live_.find(id);
    if (it == live_.end() || it->second.cloudlet_id != cloudlet_id || it->second.state != PlacementState::kRunning) continue;
    it->second.live = f;
    ++taken;
  }
  return taken;
}

CloudletPlacements PlacementService::OnCloudlet(const std::string& cloudlet_id) {
  CloudletPlacements out;
  std::lock_guard lock(mu_);
  ExpireLeasesLocked(clock_.Now());
  out.index = index_;
  if (auto on = by_cloudlet_.find(cloudlet_id); on != by_cloudlet_.end()) {
    for (const auto& id : on->second) out.placements.push_back(live_.at(id));
  }
  return out;
}

Result<PlacementService::WatchId> PlacementService::WatchPlacement(const std::string& owner, const std::string& id,
                                                                   uint64_t after_index, common::Watchers::Fn fn) {
  std::lock_guard lock(mu_);
  ExpireLeasesLocked(clock_.Now());
  const Placement* p = FindLocked(owner, id);
  if (!p) {
    auto ended = ended_.find(id);
    if (ended == ended_.end() || !Owns(owner, ended->second)) return NotFound(id);
    p = &ended->second;
  }
  if (p->modify_index > after_index || !IsLive(p->state)) {
    fn();
    return WatchId{0};
  }
  return watchers_.Add(id, after_index, std::move(fn));
}

PlacementService::WatchId PlacementService::WatchCloudlet(const std::string& cloudlet_id, uint64_t after_index,
                                                          common::Watchers::Fn fn) {
  std::lock_guard lock(mu_);
  ExpireLeasesLocked(clock_.Now());
  auto at = cloudlet_index_.find(cloudlet_id);
  if (at != cloudlet_index_.end() && at->second > after_index) {
    fn();
    return 0;
  }
  return watchers_.Add("cloudlet:" + cloudlet_id, after_index, std::move(fn));
}

bool PlacementService::CancelWatch(WatchId id) {
  std::lock_guard lock(mu_);
  return watchers_.Remove(id);
}

void PlacementService::FireAllWatches() {
  std::vector<common::Watchers::Fn> fire;
  std::lock_guard lock(mu_);
  watchers_.TakeAll(fire);
  common::Watchers::Run(fire);
}

uint64_t PlacementService::index() const {
  std::lock_guard lock(mu_);
  return index_;
}

}  // namespace cloudlet::placement
