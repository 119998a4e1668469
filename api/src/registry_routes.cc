#include "cloudlet/api/registry_routes.h"

#include <charconv>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "cloudlet/api/blocking.h"
#include "cloudlet/api/problem.h"
#include "cloudlet/api/query.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::api {

using common::Result;
using common::Status;
using discovery::Health;
using nlohmann::json;

namespace {

Status ValidateBaseVmFilter(const std::string& v) {
  const std::string_view hex = v.starts_with("sha256:") ? std::string_view(v).substr(7) : std::string_view(v);
  bool ok = hex.size() >= 12 && hex.size() <= 64;
  for (char c : hex) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  return ok ? Status::Ok()
            : Status::InvalidField("base_vm", "must be a sha256 digest or at least its first 12 lowercase hex digits");
}

struct ListQuery {
  discovery::ListFilter filter;
  BlockingQuery blocking;
};

BlockingOptions BlockingOf(const RegistryRoutesOptions& o) {
  return {.default_wait = o.default_wait, .max_wait = o.max_wait, .max_waiting = o.max_blocking_queries};
}

Result<ListQuery> ParseListQuery(const std::map<std::string, std::string>& q, const RegistryRoutesOptions& options) {
  ListQuery out;
  if (auto it = q.find("state"); it != q.end()) {
    out.filter.state = discovery::ParseHealth(it->second);
    if (!out.filter.state) return Status::InvalidField("state", "must be healthy, suspect or expired");
  }
  if (auto it = q.find("base_vm"); it != q.end()) {
    CLOUDLET_RETURN_IF_ERROR(ValidateBaseVmFilter(it->second));
    out.filter.base_vm = it->second;
  }
  if (auto it = q.find("near"); it != q.end()) {
    const size_t comma = it->second.find(',');
    if (comma == std::string::npos) return Status::InvalidField("near", "must be lat,lon");
    auto lat = ParseNumber(it->second.substr(0, comma), "near");
    auto lon = ParseNumber(it->second.substr(comma + 1), "near");
    if (!lat.ok()) return lat.status();
    if (!lon.ok()) return lon.status();
    common::GeoPoint p{*lat, *lon};
    if (!common::IsValidGeo(p)) return Status::InvalidField("near", "lat must be in [-90, 90] and lon in [-180, 180]");
    out.filter.near = p;
  }
  if (auto it = q.find("limit"); it != q.end()) {
    auto limit = ParseWholeNumber(it->second, "limit", 0, options.max_list_limit);
    if (!limit.ok()) return limit.status();
    if (*limit == 0) return Status::InvalidField("limit", "must be at least 1");
    out.filter.limit = *limit;
  }
  auto blocking = ParseBlockingQuery(q, BlockingOf(options));
  if (!blocking.ok()) return blocking.status();
  out.blocking = *blocking;
  return out;
}

// Rendering a record with nlohmann::json costs tens of microseconds, which a list of 10,000 pays
// 10,000 times; most records have not changed since the last list. The cache keeps each record's
// JSON text keyed by its modify_index, without last_heartbeat (which moves with every heartbeat and
// is appended fresh). Thread-safe.
class RecordJsonCache {
 public:
  void Append(std::string& out, const discovery::CloudletRecord& r, std::optional<double> distance_km) {
    {
      std::lock_guard lock(mu_);
      auto& item = items_[r.descriptor.id];
      if (item.text.empty() || item.modify_index != r.modify_index) {
        json j = discovery::RecordToJson(r);
        j.erase("last_heartbeat");
        item.text = j.dump(-1, ' ', false, json::error_handler_t::replace);
        item.text.pop_back();  // the closing brace: fields are appended below
        item.modify_index = r.modify_index;
      }
      out += item.text;
    }
    out += ",\"last_heartbeat\":\"" + common::FormatRfc3339(r.last_heartbeat) + "\"";
    if (distance_km) out += ",\"distance_km\":" + json(*distance_km).dump();
    out += '}';
  }

  // Drops entries of cloudlets that are gone once they outnumber the live ones.
  void Prune(size_t live) {
    std::lock_guard lock(mu_);
    if (items_.size() > 2 * live + 1024) items_.clear();
  }

 private:
  struct Item {
    uint64_t modify_index = 0;
    std::string text;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Item> items_;
};

HttpResponse ListResponse(const discovery::Registry& registry, const discovery::ListFilter& filter,
                          RecordJsonCache& cache) {
  const discovery::ListResult result = registry.List(filter);
  HttpResponse r;
  r.body = "{\"cloudlets\":[";
  for (size_t i = 0; i < result.entries.size(); ++i) {
    if (i > 0) r.body += ',';
    cache.Append(r.body, result.entries[i].record, result.entries[i].distance_km);
  }
  r.body += "],\"index\":" + std::to_string(result.index) + "}";
  r.headers["X-Cloudlet-Index"] = std::to_string(result.index);
  if (!filter.state && !filter.base_vm && !filter.limit) cache.Prune(result.entries.size());
  return r;
}

class RegistryRoutes {
 public:
  RegistryRoutes(discovery::RegistryService& service, common::TimerQueue& timers, metering::Metrics& metrics,
                 RegistryRoutesOptions options)
      : service_(service), registry_(service.registry()), options_(options), blocking_(timers, BlockingOf(options)) {
    metrics.AddGauge("cloudlet_registry_cloudlets", "Registered cloudlets by state", "state", [this] {
      std::vector<std::pair<std::string, double>> out;
      for (const auto& [health, n] : registry_.CountByHealth()) out.emplace_back(discovery::HealthName(health), n);
      return out;
    });
    metrics.AddGauge("cloudlet_registry_blocking_queries", "Blocking queries waiting for a change", "kind", [this] {
      return std::vector<std::pair<std::string, double>>{{"list", static_cast<double>(blocking_.waiting())}};
    });
  }

  void List(RouteContext& ctx, Responder respond) {
    auto query = ParseListQuery(ctx.request.query, options_);
    if (!query.ok()) return respond(ProblemFromStatus(query.status()));
    const BlockingQuery& b = query->blocking;
    if (!b.index || registry_.index() > *b.index || b.wait.count() == 0) {
      return respond(ListResponse(registry_, query->filter, json_cache_));
    }
    blocking_.Wait(
        b.wait, respond, [this, &b](std::function<void()> notify) { return registry_.Watch(*b.index, std::move(notify)); },
        [this](uint64_t id) { registry_.CancelWatch(id); },
        [this, respond, filter = std::move(query->filter)] { respond(ListResponse(registry_, filter, json_cache_)); });
  }

  void Get(RouteContext& ctx, Responder respond) {
    const std::string& id = ctx.params.at("id");
    if (Status s = discovery::ValidateCloudletId(id); !s.ok()) return respond(ProblemFromStatus(s));
    const uint64_t index = registry_.index();
    auto record = registry_.Get(id);
    if (!record.ok()) return respond(ProblemFromStatus(record.status()));
    HttpResponse r = JsonResponse(200, discovery::RecordToJson(*record));
    r.headers["X-Cloudlet-Index"] = std::to_string(index);
    respond(std::move(r));
  }

  void Put(RouteContext& ctx, Responder respond) {
    const std::string id = ctx.params.at("id");
    auto descriptor = discovery::ParseDescriptorJson(ctx.request.body, id);
    if (!descriptor.ok()) return respond(ProblemFromStatus(descriptor.status()));
    // The key that signs a cloudlet's adverts is its identity on the LAN: only an operator may
    // change it once registered (so a stolen agent token cannot re-key a cloudlet quietly).
    if (auto existing = registry_.Get(id); existing.ok() && !existing->descriptor.public_key.empty() &&
                                           existing->descriptor.public_key != descriptor->public_key &&
                                           (!ctx.principal || ctx.principal->role != auth::Role::kOperator)) {
      return respond(Problem(409, "cloudlet '" + id + "' is registered with another public key; an operator must "
                                  "deregister it first", "public_key"));
    }
    service_.Register(std::move(*descriptor), [this, id, respond, ctx](Result<discovery::PutOutcome> outcome) {
      if (!outcome.ok()) return respond(ProblemFromStatus(outcome.status()));
      if (options_.audit) {
        options_.audit(ctx, *outcome == discovery::PutOutcome::kCreated ? "cloudlet.register" : "cloudlet.replace", id);
      }
      auto record = registry_.Get(id);
      if (!record.ok()) return respond(ProblemFromStatus(record.status()));  // deregistered meanwhile
      const bool created = *outcome == discovery::PutOutcome::kCreated;
      HttpResponse r = JsonResponse(created ? 201 : 200, discovery::RecordToJson(*record));
      if (created) r.headers["Location"] = "/v1/cloudlets/" + id;
      respond(std::move(r));
    });
  }

  void Heartbeat(RouteContext& ctx, Responder respond) {
    const std::string& id = ctx.params.at("id");
    if (Status s = discovery::ValidateCloudletId(id); !s.ok()) return respond(ProblemFromStatus(s));
    auto hb = discovery::ParseHeartbeatJson(ctx.request.body);
    if (!hb.ok()) return respond(ProblemFromStatus(hb.status()));
    if (Status s = service_.Heartbeat(id, *hb); !s.ok()) return respond(ProblemFromStatus(s));
    auto record = registry_.Get(id);
    if (!record.ok()) return respond(ProblemFromStatus(record.status()));
    const auto& o = registry_.options();
    respond(JsonResponse(200, {{"id", id},
                               {"state", discovery::HealthName(record->health)},
                               {"index", record->modify_index},
                               {"heartbeat_interval_ms", o.heartbeat_interval.count()},
                               {"heartbeat_ttl_ms", o.heartbeat_ttl.count()}}));
  }

  void Delete(RouteContext& ctx, Responder respond) {
    const std::string& id = ctx.params.at("id");
    if (Status s = discovery::ValidateCloudletId(id); !s.ok()) return respond(ProblemFromStatus(s));
    service_.Deregister(id, [this, respond, ctx, id](Status s) {
      if (!s.ok()) return respond(ProblemFromStatus(s));
      if (options_.audit) options_.audit(ctx, "cloudlet.deregister", id);
      HttpResponse r;
      r.status = 204;
      r.content_type.clear();
      respond(std::move(r));
    });
  }

 private:
  discovery::RegistryService& service_;
  discovery::Registry& registry_;
  const RegistryRoutesOptions options_;
  BlockingQueries blocking_;
  RecordJsonCache json_cache_;
};

}  // namespace

void AddRegistryRoutes(Router& router, discovery::RegistryService& service, common::TimerQueue& timers,
                       metering::Metrics& metrics, RegistryRoutesOptions options) {
  // Lives as long as the process's router; routes hold a shared reference.
  auto routes = std::make_shared<RegistryRoutes>(service, timers, metrics, options);
  auto read = Access::Need([](const PathParams&) { return auth::Permission::CloudletRead(); });
  auto write = Access::Need([](const PathParams& p) { return auth::Permission::CloudletWrite(p.at("id")); });
  auto bind = [routes](void (RegistryRoutes::*fn)(RouteContext&, Responder)) {
    return [routes, fn](RouteContext& ctx, Responder respond) { ((*routes).*fn)(ctx, std::move(respond)); };
  };
  router.Add({"GET", "/healthz", Access::Public(), [](RouteContext&, Responder respond) {
                respond(JsonResponse(200, {{"status", "ok"}}));
              }});
  router.Add({"GET", "/metrics", Access::LoopbackOrOperator(), [&metrics](RouteContext&, Responder respond) {
                HttpResponse r;
                r.content_type = "text/plain; version=0.0.4; charset=utf-8";
                r.body = metrics.Render();
                respond(std::move(r));
              }});
  router.Add({"GET", "/v1/cloudlets", read, bind(&RegistryRoutes::List)});
  router.Add({"GET", "/v1/cloudlets/{id}", read, bind(&RegistryRoutes::Get)});
  router.Add({"PUT", "/v1/cloudlets/{id}", write, bind(&RegistryRoutes::Put)});
  router.Add({"DELETE", "/v1/cloudlets/{id}", write, bind(&RegistryRoutes::Delete)});
  router.Add({"POST", "/v1/cloudlets/{id}/heartbeat", write, bind(&RegistryRoutes::Heartbeat)});
}

}  // namespace cloudlet::api
