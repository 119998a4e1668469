#include "cloudlet/api/usage_routes.h"

#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/api/problem.h"
#include "cloudlet/api/query.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/discovery/cloudlet_json.h"

namespace cloudlet::api {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

constexpr auto kMaxReportSpan = std::chrono::hours(24 * 367);

// One batch waiting for the ledger: its valid records, where their results go, and the answer.
struct PendingBatch {
  std::vector<metering::UsageRecord> records;
  std::vector<size_t> slot;  // results index of each record
  json results;
  Responder respond;
};

struct UsageState : std::enable_shared_from_this<UsageState> {
  explicit UsageState(UsageRoutesDeps d) : deps(std::move(d)) {}
  UsageRoutesDeps deps;
  std::mutex mu;
  std::vector<PendingBatch> pending;
  bool flush_scheduled = false;

  // Group commit: the batches that arrive while one commit is on disk share the next one, so that
  // concurrent agents share each fsync.
  void Enqueue(PendingBatch batch) {
    std::lock_guard lock(mu);
    pending.push_back(std::move(batch));
    if (flush_scheduled) return;
    flush_scheduled = true;
    deps.worker.Post([self = shared_from_this()] { self->Flush(); });
  }

  void Flush() {
    std::vector<PendingBatch> batches;
    {
      std::lock_guard lock(mu);
      batches.swap(pending);
      flush_scheduled = false;
    }
    std::vector<metering::UsageRecord> all;
    for (auto& b : batches) all.insert(all.end(), b.records.begin(), b.records.end());
    std::vector<metering::AppendOutcome> outcomes;
    if (!all.empty()) {
      auto appended = deps.ledger.Append(all);
      if (!appended.ok()) {
        spdlog::error("usage: {}", appended.status().ToString());
        for (auto& b : batches) b.respond(Problem(503, "the ledger could not record the batch; nothing was recorded"));
        return;
      }
      outcomes = std::move(*appended);
    }
    bool added = false;
    size_t next = 0;
    for (auto& b : batches) {
      for (size_t i = 0; i < b.records.size(); ++i, ++next) {
        const bool accepted = outcomes[next] == metering::AppendOutcome::kAccepted;
        b.results[b.slot[i]]["status"] = accepted ? "accepted" : "duplicate";
        added |= accepted;
      }
      size_t counts[3] = {0, 0, 0};
      for (const auto& r : b.results) {
        const std::string st = r["status"];
        ++counts[st == "accepted" ? 0 : st == "duplicate" ? 1 : 2];
      }
      b.respond(JsonResponse(200, {{"accepted", counts[0]}, {"duplicate", counts[1]}, {"rejected", counts[2]},
                                   {"results", b.results}}));
    }
    if (added && deps.on_recorded) deps.on_recorded();
  }
};

// "2026-11-27" (midnight UTC) or a full RFC 3339 time.
Result<common::TimePoint> ParseWhen(const std::string& text, const std::string& field) {
  if (text.size() == 10) return common::ParseRfc3339(text + "T00:00:00Z", field);
  return common::ParseRfc3339(text, field);
}

}  // namespace

namespace {

// PUT /v1/prices (operators) and GET /v1/prices: price versions, written and loaded on the worker.
void AddPriceRoutes(Router& router, const std::shared_ptr<UsageState>& state) {
  router.Add({"PUT", "/v1/prices", Access::Need([](const PathParams&) { return auth::Permission::Operator(); }),
              [state](RouteContext& ctx, Responder respond) {
                auto body = discovery::ParseJsonObject(ctx.request.body);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                auto version = metering::PriceVersionFromJson(*body);
                if (!version.ok()) return respond(ProblemFromStatus(version.status()));
                state->deps.worker.Post([state, version = *version, respond] {
                  if (Status s = state->deps.prices.PutPrice(version); !s.ok()) return respond(ProblemFromStatus(s));
                  state->deps.book.Add(version);
                  respond(JsonResponse(200, metering::PriceVersionToJson(version)));
                });
              }});
  router.Add({"GET", "/v1/prices", Access::Need([](const PathParams&) { return auth::Permission::ReportRead(); }),
              [state](RouteContext&, Responder respond) {
                json versions = json::array();
                for (const auto& v : state->deps.book.Copy().Versions()) versions.push_back(metering::PriceVersionToJson(v));
                respond(JsonResponse(200, {{"versions", versions}}));
              }});
}

}  // namespace

common::Status AddUsageRoutes(Router& router, UsageRoutesDeps deps) {
  auto state = std::make_shared<UsageState>(std::move(deps));
  auto loaded = state->deps.prices.LoadPrices();
  if (!loaded.ok()) return loaded.status();
  for (auto& v : *loaded) state->deps.book.Add(std::move(v));

  router.Add({"POST", "/v1/usage", Access::Need([](const PathParams&) { return auth::Permission::UsageWrite(); }),
              [state](RouteContext& ctx, Responder respond) {
                auto body = discovery::ParseJsonObject(ctx.request.body);
                if (!body.ok()) return respond(ProblemFromStatus(body.status()));
                for (const auto& [key, value] : body->items()) {
                  if (key != "records") return respond(ProblemFromStatus(Status::InvalidField(key.substr(0, 64), "is not a known field")));
                }
                const json& records = (*body)["records"];
                if (!records.is_array()) return respond(ProblemFromStatus(Status::InvalidField("records", "must be an array")));
                if (records.empty() || records.size() > metering::kMaxUsageBatch) {
                  return respond(ProblemFromStatus(Status::InvalidField("records", "must hold 1 to 1000 records")));
                }
                // Each record is checked on its own: one bad record does not sink the batch.
                const auth::Principal& who = *ctx.principal;
                const auto now = state->deps.clock.Now();
                json results = json::array();
                std::vector<metering::UsageRecord> valid;
                std::vector<size_t> slot;  // results index of each valid record
                for (size_t i = 0; i < records.size(); ++i) {
                  const std::string field = "records[" + std::to_string(i) + "]";
                  auto r = metering::UsageRecordFromJson(records[i], field, now);
                  Status why = r.ok() ? Status::Ok() : r.status();
                  if (why.ok() && who.role == auth::Role::kAgent && r->cloudlet != who.cloudlet_id) {
                    why = Status::PermissionDenied("an agent reports usage of its own cloudlet only");
                  } else if (why.ok() && !state->deps.tenant_exists(r->tenant)) {
                    why = Status::InvalidField(field + ".tenant", "no tenant '" + r->tenant + "'");
                  }
                  json result = {{"event_id", records[i].is_object() ? records[i].value("event_id", "") : ""}};
                  if (!why.ok()) {
                    result["status"] = "rejected";
                    result["reason"] = why.message();
                  } else {
                    slot.push_back(results.size());
                    valid.push_back(std::move(*r));
                  }
                  results.push_back(std::move(result));
                }
                state->Enqueue({std::move(valid), std::move(slot), std::move(results), std::move(respond)});
              }});

  router.Add({"GET", "/v1/reports/usage", Access::Need([](const PathParams&) { return auth::Permission::ReportRead(); }),
              [state](RouteContext& ctx, Responder respond) {
                auto get = [&](const char* k) { return QueryText(ctx.request.query, k); };
                auto from = ParseWhen(get("from"), "from");
                if (!from.ok()) return respond(ProblemFromStatus(from.status()));
                auto to = ParseWhen(get("to"), "to");
                if (!to.ok()) return respond(ProblemFromStatus(to.status()));
                if (*to <= *from) return respond(ProblemFromStatus(Status::InvalidField("to", "must be after from")));
                if (*to - *from > kMaxReportSpan) {
                  return respond(ProblemFromStatus(Status::InvalidField("to", "a report spans at most a year")));
                }
                metering::ReportOptions options;
                std::string group_by = get("group_by");
                for (size_t start = 0; !group_by.empty() && start <= group_by.size();) {
                  const size_t comma = group_by.find(',', start);
                  const std::string g = group_by.substr(start, comma - start);
                  if (g == "tenant") options.by_tenant = true;
                  else if (g == "cloudlet") options.by_cloudlet = true;
                  else if (g == "placement") options.by_placement = true;
                  else if (g == "day") options.by_day = true;
                  else if (g == "hour") options.by_hour = true;
                  else return respond(ProblemFromStatus(Status::InvalidField("group_by", "use tenant, cloudlet, placement, day or hour")));
                  if (comma == std::string::npos) break;
                  start = comma + 1;
                }
                const std::string format = get("format").empty() ? "json" : get("format");
                if (format != "json" && format != "csv") {
                  return respond(ProblemFromStatus(Status::InvalidField("format", "must be json or csv")));
                }
                // A tenant sees its own usage, whatever it asks for.
                const auth::Principal& who = *ctx.principal;
                const std::string tenant = who.role == auth::Role::kOperator ? get("tenant") : who.tenant;
                state->deps.worker.Post([state, from = *from, to = *to, tenant, options, format, respond] {
                  auto sums = state->deps.ledger.Sum(from, to, tenant, {.by_hour = options.by_hour, .by_placement = options.by_placement});
                  if (!sums.ok()) return respond(ProblemFromStatus(sums.status()));
                  metering::Report report = metering::Rate(*sums, state->deps.book.Copy(), state->deps.tier_of, options);
                  auto when = [](common::TimePoint t) {  // a whole day as its date
                    const std::string text = common::FormatRfc3339(t);
                    return common::ToUnixMillis(t) % 86'400'000 == 0 ? text.substr(0, 10) : text;
                  };
                  report.span = when(from) + "/" + when(to);
                  if (format == "csv") {
                    HttpResponse r{.status = 200, .content_type = "text/csv; charset=utf-8", .headers = {},
                                   .body = metering::ReportToCsv(report)};
                    r.headers["Content-Disposition"] = "attachment; filename=\"usage.csv\"";
                    return respond(std::move(r));
                  }
                  json j = metering::ReportToJson(report);
                  j["from"] = common::FormatRfc3339(from);
                  j["to"] = common::FormatRfc3339(to);
                  respond(JsonResponse(200, j));
                });
              }});

  AddPriceRoutes(router, state);
  return Status::Ok();
}

}  // namespace cloudlet::api
