#include "cloudlet/agent/meter.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <spdlog/spdlog.h>

#include "cloudlet/common/time_format.h"

namespace cloudlet::agent {

using common::Status;
using nlohmann::json;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// What a counter gained from `from` to `to`; a counter that went back (the workload restarted in
// place) counts from zero.
template <typename T>
T Gain(T from, T to) {
  return to >= from ? to - from : to;
}

// Tenant ids are 1-64 of a-z, 0-9 and '-'.
bool IsTenantId(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

json LiveUsageToJson(const std::vector<LiveUsage>& live, common::TimePoint at) {
  json list = json::array();
  for (const auto& l : live) {
    list.push_back({{"placement_id", l.placement_id},
                    {"cpu_millis", std::round(l.cpu_millis)},
                    {"mem_mib", std::round(l.mem_mib * 10) / 10},
                    {"net_in_bytes", l.net_in_bytes},
                    {"net_out_bytes", l.net_out_bytes}});
  }
  return {{"at", common::FormatRfc3339(at)}, {"workloads", list}};
}

Meter::Meter(MeterOptions options, WorkloadRuntime& runtime, metering::UsageSpool& spool, const common::Clock& clock)
    : options_(std::move(options)), runtime_(runtime), spool_(spool), clock_(clock) {}

Meter::~Meter() { Stop(); }

json Meter::CursorToJson(const Cursor& c) {
  return {{"container", c.container}, {"tenant", c.tenant},         {"at_ms", c.at_ms},
          {"cpu_s", c.counters.cpu_s}, {"mem_bytes", c.counters.mem_bytes},
          {"net_in_bytes", c.counters.net_in_bytes}, {"net_out_bytes", c.counters.net_out_bytes}};
}

Meter::Cursor Meter::CursorFromJson(const json& j) {
  Cursor c;
  if (!j.is_object()) return c;
  c.container = j.value("container", "");
  c.tenant = j.value("tenant", "");
  c.at_ms = j.value("at_ms", int64_t{0});
  c.counters = {.cpu_s = j.value("cpu_s", 0.0), .mem_bytes = j.value("mem_bytes", int64_t{0}),
                .net_in_bytes = j.value("net_in_bytes", int64_t{0}), .net_out_bytes = j.value("net_out_bytes", int64_t{0})};
  return c;
}

Status Meter::Load() {
  auto stored = spool_.Cursors();
  if (!stored.ok()) return stored.status().WithContext("the meter's cursors");
  std::lock_guard lock(read_mu_);
  for (const auto& [placement, body] : *stored) cursors_[placement] = CursorFromJson(body);
  if (!cursors_.empty()) spdlog::info("meter: {} placement(s) metered up to their last durable reading", cursors_.size());
  return Status::Ok();
}

void Meter::Start() { thread_ = std::thread([this] { Run(); }); }

void Meter::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Meter::Run() {
  const int64_t interval = std::max<int64_t>(options_.interval.count(), 1);
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Readings fall on the interval's boundaries of wall-clock time.
    const int64_t now = common::ToUnixMillis(clock_.Now());
    const int64_t next = (now / interval + 1) * interval;
    if (wake_.wait_for(lock, std::chrono::milliseconds(next - now), [this] { return stopping_; })) return;
    lock.unlock();
    Read();
    lock.lock();
  }
}

void Meter::Close(const std::string& placement_id, const Cursor& from, const Cursor& to,
                  std::vector<metering::SpooledRecord>& records) const {
  if (to.at_ms <= from.at_ms) return;
  // An operator's own placement (owner "operator:<token>") bills no tenant.
  if (!IsTenantId(to.tenant)) return;
  const double seconds = static_cast<double>(to.at_ms - from.at_ms) / 1000;
  const json q = {
      {"cpu_core_s", Gain(from.counters.cpu_s, to.counters.cpu_s)},
      {"mem_mib_s", static_cast<double>(from.counters.mem_bytes + to.counters.mem_bytes) / 2 / kMiB * seconds},
      {"net_in_bytes", Gain(from.counters.net_in_bytes, to.counters.net_in_bytes)},
      {"net_out_bytes", Gain(from.counters.net_out_bytes, to.counters.net_out_bytes)}};
  const std::string id = "run:" + placement_id + ":" + std::to_string(from.at_ms) + "-" + std::to_string(to.at_ms);
  records.push_back({id,
                     {{"event_id", id},
                      {"kind", "usage"},
                      {"tenant", to.tenant},
                      {"placement_id", placement_id},
                      {"cloudlet", options_.cloudlet_id},
                      {"start", common::FormatRfc3339(common::FromUnixMillis(from.at_ms))},
                      {"end", common::FormatRfc3339(common::FromUnixMillis(to.at_ms))},
                      {"quantities", q}}});
}

void Meter::Read() {
  std::lock_guard lock(read_mu_);
  auto listed = runtime_.List();
  if (!listed.ok()) {
    spdlog::warn("meter: cannot list workloads ({}); the next reading covers this window too", listed.status().ToString());
    return;
  }
  auto all_stats = runtime_.StatsAll();  // one look for every workload
  if (!all_stats.ok()) {
    spdlog::warn("meter: cannot read the workloads' counters ({}); the next reading covers this window too",
                 all_stats.status().ToString());
    return;
  }
  const int64_t now = common::ToUnixMillis(clock_.Now());  // when the counters were read
  std::vector<metering::SpooledRecord> records;
  std::vector<metering::CursorUpdate> updates;
  std::map<std::string, Cursor> next;
  std::vector<LiveUsage> live;
  std::set<std::string> listed_ids;
  for (const auto& w : *listed) {
    listed_ids.insert(w.placement_id);
    if (w.state != WorkloadState::kRunning || w.placement_id.empty()) continue;
    auto stats = all_stats->find(w.placement_id);
    if (stats == all_stats->end()) continue;  // stopped meanwhile: Final or the next reading deals with it
    const Cursor to{.container = w.id, .tenant = w.tenant, .at_ms = now, .counters = stats->second};
    auto it = cursors_.find(w.placement_id);
    Cursor from;
    if (it != cursors_.end() && it->second.container == w.id) {
      from = it->second;
    } else {
      // First seen: metered from its start, its memory taken as now's for that stretch.
      from = {.container = w.id, .tenant = w.tenant,
              .at_ms = w.started_at_ms > 0 && w.started_at_ms < now ? w.started_at_ms : now,
              .counters = {.cpu_s = 0, .mem_bytes = stats->second.mem_bytes, .net_in_bytes = 0, .net_out_bytes = 0}};
    }
    Close(w.placement_id, from, to, records);
    updates.push_back({w.placement_id, CursorToJson(to)});
    next[w.placement_id] = to;
    const double seconds = static_cast<double>(now - from.at_ms) / 1000;
    live.push_back({.placement_id = w.placement_id,
                    .cpu_millis = seconds > 0 ? Gain(from.counters.cpu_s, to.counters.cpu_s) / seconds * 1000 : 0,
                    .mem_mib = static_cast<double>(stats->second.mem_bytes) / kMiB,
                    .net_in_bytes = stats->second.net_in_bytes,
                    .net_out_bytes = stats->second.net_out_bytes});
  }
  // A placement whose workload is gone without a Final (removed by hand) keeps no cursor.
  for (const auto& [placement, c] : cursors_) {
    if (!listed_ids.count(placement)) updates.push_back({placement, nullptr});
  }
  if (records.empty() && updates.empty()) return;
  if (Status s = spool_.Add(records, updates); !s.ok()) {
    // Nothing moved: the next reading covers this window as well, so nothing is lost.
    spdlog::error("meter: cannot spool {} record(s): {}; the next reading covers them", records.size(), s.ToString());
    return;
  }
  for (auto& [placement, c] : next) cursors_[placement] = c;
  for (const auto& u : updates) {
    if (u.body.is_null()) cursors_.erase(u.key);
  }
  if (!records.empty() && options_.on_records) options_.on_records();
  if (options_.on_live) options_.on_live(live);
}

void Meter::Final(const std::string& placement_id) {
  std::lock_guard lock(read_mu_);
  auto it = cursors_.find(placement_id);
  if (it == cursors_.end()) return;
  std::vector<metering::SpooledRecord> records;
  const int64_t now = common::ToUnixMillis(clock_.Now());
  auto stats = runtime_.Stats(placement_id);
  if (stats.ok()) {
    Close(placement_id, it->second, {.container = it->second.container, .tenant = it->second.tenant, .at_ms = now,
                                     .counters = *stats},
          records);
  } else {
    spdlog::warn("meter: placement {} stopped by itself; its last {:.1f} s could not be read", placement_id,
                 static_cast<double>(now - it->second.at_ms) / 1000);
  }
  if (Status s = spool_.Add(records, {{placement_id, nullptr}}); !s.ok()) {
    spdlog::error("meter: cannot spool the last window of {}: {}", placement_id, s.ToString());
    return;
  }
  cursors_.erase(it);
  if (!records.empty() && options_.on_records) options_.on_records();
}

}  // namespace cloudlet::agent
