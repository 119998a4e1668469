#include "cloudlet/api/placement_routes.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "cloudlet/common/json_fields.h"
#include "cloudlet/common/time_format.h"

#include "cloudlet/api/problem.h"
#include "cloudlet/api/query.h"
#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/placement/placement_json.h"

namespace cloudlet::api {

using common::Status;
using nlohmann::json;
using placement::Placement;

namespace {

// Who owns what a caller creates, and whose placements a caller may see ("" = all, operators).
// A tenant's placements are owned by the tenant; an operator's by "operator:<token subject>", which no
// tenant id can look like (tenant ids hold no ':').
std::string OwnerOf(const RouteContext& ctx) {
  const auth::Principal& p = *ctx.principal;
  if (!p.tenant.empty()) return p.tenant;
  return p.role == auth::Role::kOperator ? "operator:" + p.subject : p.subject;
}
std::string ViewerOf(const RouteContext& ctx) {
  return ctx.principal->role == auth::Role::kOperator ? std::string() : OwnerOf(ctx);
}

common::Result<json> Body(const RouteContext& ctx) { return discovery::ParseJsonObject(ctx.request.body); }

Status ValidatePlacementId(const std::string& id) {
  bool ok = id.size() == 19 && id.starts_with("pl-");
  for (size_t i = 3; ok && i < id.size(); ++i) ok = std::isxdigit(static_cast<unsigned char>(id[i]));
  return ok ? Status::Ok() : Status::NotFound("no placement '" + id.substr(0, 64) + "'");
}

}  // namespace

namespace {

// POST /v1/rtt: RTT samples between nodes, for network coordinates (Vivaldi).
void AddRttRoute(Router& router, placement::Vivaldi& coordinates) {
  router.Add({"POST", "/v1/rtt", Access::Need([](const PathParams&) { return auth::Permission::RttWrite(); }),
              [&coordinates](RouteContext& ctx, Responder respond) {
                auto body = Body(ctx);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                common::JsonFields f(*body, "");
                std::string from;
                f.String("from", true, from);
                const json* samples = f.Array("samples", true);
                if (Status s = f.NoOthers(); !s.ok()) return respond(ProblemFromStatus(s));
                if (from.empty() || from.size() > 128) {
                  return respond(ProblemFromStatus(Status::InvalidField("from", "must be 1 to 128 characters")));
                }
                // An agent speaks for its own cloudlet only.
                if (ctx.principal && ctx.principal->role == auth::Role::kAgent && from != ctx.principal->cloudlet_id) {
                  return respond(ProblemFromStatus(
                      Status::PermissionDenied("an agent token may post RTT samples from its own cloudlet only")));
                }
                if (samples->size() > 1000) {
                  return respond(ProblemFromStatus(Status::InvalidField("samples", "at most 1000 per request")));
                }
                // Check every sample first, so that a bad one changes nothing.
                std::vector<std::pair<std::string, double>> parsed;
                for (size_t i = 0; i < samples->size(); ++i) {
                  const std::string field = "samples[" + std::to_string(i) + "]";
                  if (!(*samples)[i].is_object()) {
                    return respond(ProblemFromStatus(Status::InvalidField(field, "must be {to, rtt_ms}")));
                  }
                  common::JsonFields s((*samples)[i], field);
                  std::string to;
                  double rtt = 0;
                  s.String("to", true, to);
                  s.Number("rtt_ms", true, rtt);
                  s.Merge(s.NoOthers());
                  if (s.status().ok() && (to.empty() || to.size() > 128 || to == from)) s.Fail("to", "must be another node's id");
                  if (s.status().ok() && !(rtt >= 0 && rtt <= 100'000)) s.Fail("rtt_ms", "must be in [0, 100000]");
                  if (!s.status().ok()) return respond(ProblemFromStatus(s.status()));
                  parsed.emplace_back(std::move(to), rtt);
                }
                size_t accepted = 0;
                for (const auto& [to, rtt] : parsed) accepted += coordinates.Observe(from, to, rtt).ok();
                respond(JsonResponse(200, {{"accepted", accepted}, {"nodes", coordinates.size()}}));
              }});
}

}  // namespace

namespace {

// What an agent needs to run a placement: not the device's position or measurements.
json AgentView(const Placement& p) {
  return {{"placement_id", p.id},   {"tenant", p.owner},
          {"state", placement::PlacementStateName(p.state)}, {"confirmed", p.confirmed},
          {"endpoint", p.endpoint}, {"modify_index", p.modify_index},
          {"app", placement::PlacementRequestToJson(p.request)["app"]}};
}

// PUT /v1/cloudlets/{id}/workloads: {"at": RFC 3339, "workloads": [{"placement_id", "cpu_millis",
// "mem_mib", "net_in_bytes", "net_out_bytes"}]}; errors name the field.
common::Result<std::vector<std::pair<std::string, placement::LiveFigures>>> LiveFiguresFromJson(const json& body) {
  constexpr size_t kMaxWorkloads = 10'000;
  common::JsonFields f(body, "");
  std::string at_text;
  f.String("at", true, at_text);
  const json* list = f.Array("workloads", true);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  auto at = common::ParseRfc3339(at_text, "at");
  if (!at.ok()) return at.status();
  if (list->size() > kMaxWorkloads) return Status::InvalidField("workloads", "at most 10000");
  std::vector<std::pair<std::string, placement::LiveFigures>> out;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string where = "workloads[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) return Status::InvalidField(where, "must be an object");
    common::JsonFields w((*list)[i], where);
    std::string id;
    placement::LiveFigures l{.at = *at};
    double net_in = 0, net_out = 0;
    w.String("placement_id", true, id);
    w.Number("cpu_millis", true, l.cpu_millis);
    w.Number("mem_mib", true, l.mem_mib);
    w.Number("net_in_bytes", false, net_in);
    w.Number("net_out_bytes", false, net_out);
    CLOUDLET_RETURN_IF_ERROR(w.NoOthers());
    for (auto [name, v] : {std::pair{"cpu_millis", l.cpu_millis}, std::pair{"mem_mib", l.mem_mib},
                           std::pair{"net_in_bytes", net_in}, std::pair{"net_out_bytes", net_out}}) {
      if (!(v >= 0 && v < 1e15)) return Status::InvalidField(where + "." + name, "must be a number from 0 to 1e15");
    }
    if (Status s = ValidatePlacementId(id); !s.ok()) return s.WithContext(where);
    l.net_in_bytes = static_cast<int64_t>(net_in);
    l.net_out_bytes = static_cast<int64_t>(net_out);
    out.emplace_back(std::move(id), l);
  }
  return out;
}

HttpResponse WithIndex(HttpResponse r, uint64_t index) {
  r.headers["X-Cloudlet-Index"] = std::to_string(index);
  return r;
}

HttpResponse CloudletPlacementsResponse(placement::PlacementService& placements, const std::string& cloudlet) {
  const auto on = placements.OnCloudlet(cloudlet);
  json list = json::array();
  for (const auto& p : on.placements) list.push_back(AgentView(p));
  return WithIndex(JsonResponse(200, {{"placements", std::move(list)}, {"index", on.index}}), on.index);
}

// GET /v1/cloudlets/{id}/placements and POST /v1/placements/{id}/status: the agent's side.
void AddAgentRoutes(Router& router, placement::PlacementService& placements, std::shared_ptr<BlockingQueries> blocking) {
  router.Add({"GET", "/v1/cloudlets/{id}/placements",
              Access::Need([](const PathParams& p) { return auth::Permission::CloudletWrite(p.at("id")); }),
              [&placements, blocking](RouteContext& ctx, Responder respond) {
                const std::string cloudlet = ctx.params.at("id");
                if (Status s = discovery::ValidateCloudletId(cloudlet); !s.ok()) return respond(ProblemFromStatus(s));
                auto q = ParseBlockingQuery(ctx.request.query, blocking->options());
                if (!q.ok()) return respond(ProblemFromStatus(q.status()));
                if (!q->index || q->wait.count() == 0) return respond(CloudletPlacementsResponse(placements, cloudlet));
                const uint64_t after = *q->index;
                blocking->Wait(
                    q->wait, respond,
                    [&placements, cloudlet, after](std::function<void()> notify) {
                      return placements.WatchCloudlet(cloudlet, after, std::move(notify));
                    },
                    [&placements](uint64_t id) { placements.CancelWatch(id); },
                    [&placements, respond, cloudlet] { respond(CloudletPlacementsResponse(placements, cloudlet)); });
              }});
  router.Add({"POST", "/v1/placements/{id}/status",
              Access::Need([](const PathParams&) { return auth::Permission::PlacementReport(); }),
              [&placements](RouteContext& ctx, Responder respond) {
                const std::string& id = ctx.params.at("id");
                if (Status s = ValidatePlacementId(id); !s.ok()) return respond(ProblemFromStatus(s));
                auto body = Body(ctx);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto report = placement::WorkloadReportFromJson(*body);
                if (!report.ok()) return respond(ProblemFromStatus(report.status()));
                // An agent speaks for the placements of its own cloudlet only; others are not found.
                const auth::Principal& who = *ctx.principal;
                const std::string cloudlet = who.role == auth::Role::kOperator ? std::string() : who.cloudlet_id;
                if (who.role != auth::Role::kOperator && cloudlet.empty()) {
                  return respond(ProblemFromStatus(Status::PermissionDenied("only a cloudlet's agent reports its workloads")));
                }
                placements.Report(cloudlet, id, *report, [respond](common::Result<Placement> p) {
                  if (!p.ok()) return respond(ProblemFromStatus(p.status()));
                  respond(WithIndex(JsonResponse(200, AgentView(*p)), p->modify_index));
                });
              }});
  // The meter's latest figures of what runs on the cloudlet (not durable: the next reading replaces them).
  router.Add({"PUT", "/v1/cloudlets/{id}/workloads",
              Access::Need([](const PathParams& p) { return auth::Permission::CloudletWrite(p.at("id")); }),
              [&placements](RouteContext& ctx, Responder respond) {
                const std::string cloudlet = ctx.params.at("id");
                if (Status s = discovery::ValidateCloudletId(cloudlet); !s.ok()) return respond(ProblemFromStatus(s));
                auto body = Body(ctx);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto figures = LiveFiguresFromJson(*body);
                if (!figures.ok()) return respond(ProblemFromStatus(figures.status()));
                const size_t taken = placements.SetLive(cloudlet, *figures);
                respond(JsonResponse(200, {{"taken", taken}, {"ignored", figures->size() - taken}}));
              }});
}

}  // namespace

void AddPlacementRoutes(Router& router, placement::PlacementService& placements, placement::Vivaldi& coordinates,
                        metering::Metrics& metrics, common::TimerQueue& timers, BlockingOptions blocking_options) {
  // Lives as long as the routes that use it.
  auto blocking = std::make_shared<BlockingQueries>(timers, blocking_options);
  metering::Counter& requests = metrics.AddCounter(
      "cloudlet_placement_requests_total", "Placement requests by the tenant (or operator) that asked, and outcome",
      {"owner", "outcome"});
  auto write = Access::Need([](const PathParams&) { return auth::Permission::PlacementWrite(); });
  auto read = Access::Need([](const PathParams&) { return auth::Permission::PlacementRead(); });
  auto done = [](Responder respond, int ok_status) {
    return [respond, ok_status](common::Result<Placement> p) {
      if (!p.ok()) return respond(ProblemFromStatus(p.status()));
      if (ok_status == 204) {
        HttpResponse r;
        r.status = 204;
        r.content_type.clear();
        return respond(std::move(r));
      }
      respond(JsonResponse(ok_status, placement::PlacementToJson(*p)));
    };
  };

  router.Add({"POST", "/v1/placements", write, [&placements, &requests](RouteContext& ctx, Responder respond) {
                auto body = Body(ctx);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto request = placement::PlacementRequestFromJson(*body);
                if (!request.ok()) return respond(ProblemFromStatus(request.status()));
                auto placed = placements.Place(OwnerOf(ctx), *request);
                requests.Inc({OwnerOf(ctx), !placed.ok()                     ? "refused"
                                            : placed->placement.has_value() ? "placed"
                                                                             : "unplaced"});
                if (!placed.ok()) return respond(ProblemFromStatus(placed.status()));
                HttpResponse r;
                r.status = placed->placement ? 201 : 200;
                r.body = placement::PlaceResultJsonText(*placed, placements.engine().params());
                if (placed->placement) r.headers["Location"] = "/v1/placements/" + placed->placement->id;
                respond(std::move(r));
              }});
  router.Add({"GET", "/v1/placements", read, [&placements](RouteContext& ctx, Responder respond) {
                auto limit = QueryWholeNumber(ctx.request.query, "limit", 1, 10'000, 1000);
                if (!limit.ok()) return respond(ProblemFromStatus(limit.status()));
                json list = json::array();
                for (const auto& p : placements.List(ViewerOf(ctx), static_cast<size_t>(*limit))) list.push_back(placement::PlacementToJson(p));
                respond(JsonResponse(200, {{"placements", list}}));
              }});
  router.Add({"GET", "/v1/placements/{id}", read, [&placements, blocking](RouteContext& ctx, Responder respond) {
                const std::string id = ctx.params.at("id");
                if (Status s = ValidatePlacementId(id); !s.ok()) return respond(ProblemFromStatus(s));
                auto q = ParseBlockingQuery(ctx.request.query, blocking->options());
                if (!q.ok()) return respond(ProblemFromStatus(q.status()));
                const std::string viewer = ViewerOf(ctx);
                auto answer = [&placements, viewer, id, respond] {
                  auto p = placements.Get(viewer, id);
                  if (!p.ok()) return respond(ProblemFromStatus(p.status()));
                  respond(WithIndex(JsonResponse(200, placement::PlacementToJson(*p)), p->modify_index));
                };
                if (!q->index || q->wait.count() == 0) return answer();
                const uint64_t after = *q->index;
                // Checked and armed under the service's lock, so that no change slips between; a
                // placement the caller cannot see is answered at once (404).
                blocking->Wait(
                    q->wait, respond,
                    [&placements, viewer, id, after](std::function<void()> notify) -> uint64_t {
                      auto w = placements.WatchPlacement(viewer, id, after, notify);
                      if (!w.ok()) notify();
                      return w.ok() ? *w : 0;
                    },
                    [&placements](uint64_t w) { placements.CancelWatch(w); }, answer);
              }});
  router.Add({"POST", "/v1/placements/{id}/confirm", write, [&placements, done](RouteContext& ctx, Responder respond) {
                const std::string& id = ctx.params.at("id");
                if (Status s = ValidatePlacementId(id); !s.ok()) return respond(ProblemFromStatus(s));
                placements.Confirm(ViewerOf(ctx), id, done(respond, 200));
              }});
  router.Add({"DELETE", "/v1/placements/{id}", write, [&placements, done](RouteContext& ctx, Responder respond) {
                const std::string& id = ctx.params.at("id");
                if (Status s = ValidatePlacementId(id); !s.ok()) return respond(ProblemFromStatus(s));
                placements.Release(ViewerOf(ctx), id, done(respond, 204));
              }});
  router.Add({"POST", "/v1/placements/{id}/location", write, [&placements](RouteContext& ctx, Responder respond) {
                const std::string& id = ctx.params.at("id");
                if (Status s = ValidatePlacementId(id); !s.ok()) return respond(ProblemFromStatus(s));
                auto body = Body(ctx);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto update = placement::LocationUpdateFromJson(*body);
                if (!update.ok()) return respond(ProblemFromStatus(update.status()));
                auto result = placements.Location(ViewerOf(ctx), id, *update);
                if (!result.ok()) return respond(ProblemFromStatus(result.status()));
                respond(JsonResponse(200, placement::LocationResultToJson(*result)));
              }});
  AddRttRoute(router, coordinates);
  AddAgentRoutes(router, placements, blocking);
}

}  // namespace cloudlet::api
