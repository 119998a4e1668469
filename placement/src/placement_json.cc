#include "cloudlet/placement/placement_json.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "cloudlet/common/host_port.h"
#include "cloudlet/common/json_fields.h"
#include "cloudlet/common/time_format.h"

namespace cloudlet::placement {

using common::JsonFields;
using common::Result;
using common::Status;
using nlohmann::json;

namespace {

Status ReadClient(const json& j, ClientSpec& client, const std::string& prefix) {
  JsonFields c(j, prefix);
  c.String("id", false, client.id);
  if (client.id.size() > 128) c.Fail("id", "must be at most 128 characters");
  c.Geo("geo", false, client.geo);
  if (const json* rtt = c.Object("rtt_ms", false)) {
    if (rtt->size() > 1000) c.Fail("rtt_ms", "at most 1000 entries");
    for (auto it = rtt->begin(); it != rtt->end() && c.status().ok(); ++it) {
      if (!it->is_number()) c.Fail("rtt_ms." + it.key().substr(0, 64), "must be a number");
      else client.rtt_ms[it.key()] = it->get<double>();
    }
  }
  return c.NoOthers();
}

// The app's workload fields (image, base_image, overlay_url, overlay_digest, base_vm_url, port, env,
// command, health, ready_timeout_s).
void ReadWorkload(JsonFields& a, WorkloadSpec& w) {
  a.String("image", false, w.image);
  a.String("base_image", false, w.base_image);
  a.String("overlay_url", false, w.overlay_url);
  a.String("overlay_digest", false, w.overlay_digest);
  a.String("base_vm_url", false, w.base_vm_url);
  int64_t port = 0;
  a.Int("port", false, port);
  w.port = static_cast<int>(std::clamp<int64_t>(port, -1, 65536));
  if (const json* env = a.Object("env", false)) {
    for (const auto& [k, v] : env->items()) {
      if (!v.is_string()) return a.Fail("env." + k.substr(0, 64), "must be a string");
      if (w.env.size() > kMaxEnv) return a.Fail("env", "at most " + std::to_string(kMaxEnv) + " variables");
      w.env[k] = v.get<std::string>();
    }
  }
  if (const json* command = a.Array("command", false)) {
    for (size_t i = 0; i < command->size(); ++i) {
      if (!(*command)[i].is_string()) return a.Fail("command[" + std::to_string(i) + "]", "must be a string");
      if (w.command.size() > kMaxCommandArgs) return a.Fail("command", "at most 64 arguments");
      w.command.push_back((*command)[i].get<std::string>());
    }
  }
  if (const json* health = a.Object("health", false)) {
    JsonFields h(*health, a.Path("health"));
    h.String("http", false, w.health.http_path);
    if (const json* tcp = h.Find("tcp", false)) {
      if (!tcp->is_boolean()) return a.Merge(Status::InvalidField(a.Path("health.tcp"), "must be true or false"));
      w.health.tcp = tcp->get<bool>();
    }
    a.Merge(h.NoOthers());
  }
  a.Number("ready_timeout_s", false, w.ready_timeout_s);
}

json WorkloadToJson(const WorkloadSpec& w) {
  json j = {{"port", w.port}, {"ready_timeout_s", w.ready_timeout_s}};
  if (!w.image.empty()) j["image"] = w.image;
  if (!w.base_image.empty()) j["base_image"] = w.base_image;
  if (!w.overlay_url.empty()) j["overlay_url"] = w.overlay_url;
  if (!w.overlay_digest.empty()) j["overlay_digest"] = w.overlay_digest;
  if (!w.base_vm_url.empty()) j["base_vm_url"] = w.base_vm_url;
  if (!w.env.empty()) j["env"] = w.env;
  if (!w.command.empty()) j["command"] = w.command;
  if (!w.health.http_path.empty()) j["health"] = {{"http", w.health.http_path}};
  else if (w.health.tcp) j["health"] = {{"tcp", true}};
  return j;
}

json ClientToJson(const ClientSpec& c) {
  json j = {{"id", c.id}, {"rtt_ms", json::object()}};
  for (const auto& [id, rtt] : c.rtt_ms) j["rtt_ms"][id] = rtt;
  if (c.geo) j["geo"] = {{"lat", c.geo->lat}, {"lon", c.geo->lon}};
  return j;
}

}  // namespace

Result<PlacementRequest> PlacementRequestFromJson(const json& body) {
  PlacementRequest r;
  JsonFields f(body, "");
  if (const json* app = f.Object("app", true)) {
    JsonFields a(*app, "app");
    AppSpec& s = r.app;
    a.String("name", true, s.name);
    a.String("base_vm", true, s.base_vm);
    a.Number("base_vm_mb", true, s.base_vm_mb);
    a.Number("overlay_mb", true, s.overlay_mb);
    a.Int("cpu_millis", true, s.cpu_millis);
    a.Int("mem_mb", true, s.mem_mb);
    a.String("isolation", false, s.isolation);
    a.Number("service_ms", false, s.service_ms);
    a.Number("req_rate_hz", false, s.req_rate_hz);
    a.Number("session_s", false, s.session_s);
    a.Number("max_rtt_ms", false, s.max_rtt_ms);
    ReadWorkload(a, s.workload);
    f.Merge(a.NoOthers());
  }
  if (const json* client = f.Object("client", false)) f.Merge(ReadClient(*client, r.client, "client"));
  int64_t k = r.k;
  f.Int("k", false, k);
  (void)f.StringIn("replaces", r.replaces, 64);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  if (k < 1 || k > 100) return Status::InvalidField("k", "must be in [1, 100]");
  r.k = static_cast<int>(k);
  CLOUDLET_RETURN_IF_ERROR(ValidateRequest(r));
  return r;
}

json PlacementRequestToJson(const PlacementRequest& r) {
  const AppSpec& a = r.app;
  json out = {{"app",
           {{"name", a.name},
            {"base_vm", a.base_vm},
            {"base_vm_mb", a.base_vm_mb},
            {"overlay_mb", a.overlay_mb},
            {"cpu_millis", a.cpu_millis},
            {"mem_mb", a.mem_mb},
            {"isolation", a.isolation},
            {"service_ms", a.service_ms},
            {"req_rate_hz", a.req_rate_hz},
            {"session_s", a.session_s},
            {"max_rtt_ms", a.max_rtt_ms}}},
          {"client", ClientToJson(r.client)},
          {"k", r.k}};
  if (a.workload.runs()) out["app"].update(WorkloadToJson(a.workload));
  if (!r.replaces.empty()) out["replaces"] = r.replaces;
  return out;
}

Result<LocationUpdate> LocationUpdateFromJson(const json& body) {
  ClientSpec client;
  CLOUDLET_RETURN_IF_ERROR(ReadClient(body, client, ""));
  if (!client.geo && client.rtt_ms.empty()) return Status::InvalidField("geo", "give geo, rtt_ms or both");
  if (client.geo && !common::IsValidGeo(*client.geo)) {
    return Status::InvalidField("geo", "lat must be in [-90, 90] and lon in [-180, 180]");
  }
  return LocationUpdate{client.geo, client.rtt_ms};
}

json CandidateToJson(const Candidate& c) {
  return {{"cloudlet", c.cloudlet_id},
          {"endpoint", c.endpoint},
          {"rtt_ms", c.rtt_ms},
          {"rtt_source", RttSourceName(c.rtt_source)},
          {"queue_ms", c.queue_ms},
          {"provision",
           {{"mode", ProvisionModeName(c.provision_mode)},
            {"seconds", c.provision_s},
            {"model", c.observed ? "observed" : "modelled"}}},
          {"cost_ms", c.cost_ms},
          {"sla_met", c.sla_met}};
}

Result<Candidate> CandidateFromJson(const json& j, const std::string& prefix) {
  Candidate c;
  JsonFields f(j, prefix);
  std::string source, mode;
  f.String("cloudlet", true, c.cloudlet_id);
  f.String("endpoint", true, c.endpoint);
  f.Number("rtt_ms", true, c.rtt_ms);
  f.String("rtt_source", true, source);
  f.Number("queue_ms", true, c.queue_ms);
  if (const json* provision = f.Object("provision", true)) {
    JsonFields pf(*provision, prefix + ".provision");
    pf.String("mode", true, mode);
    pf.Number("seconds", true, c.provision_s);
    std::string model = "modelled";
    pf.String("model", false, model);
    c.observed = model == "observed";
    f.Merge(pf.status());
  }
  f.Number("cost_ms", true, c.cost_ms);
  if (const json* sla = f.Find("sla_met", true)) {
    if (!sla->is_boolean()) f.Fail("sla_met", "must be true or false");
    else c.sla_met = sla->get<bool>();
  }
  CLOUDLET_RETURN_IF_ERROR(f.status());
  bool source_known = false, mode_known = false;
  for (RttSource s : {RttSource::kMeasured, RttSource::kCoordinates, RttSource::kGeo, RttSource::kDefault}) {
    if (source == RttSourceName(s)) c.rtt_source = s, source_known = true;
  }
  for (ProvisionMode m : {ProvisionMode::kWarm, ProvisionMode::kOverlay, ProvisionMode::kFull}) {
    if (mode == ProvisionModeName(m)) c.provision_mode = m, mode_known = true;
  }
  if (!source_known) return Status::InvalidField(prefix + ".rtt_source", "must be measured, coordinates, geo or default");
  if (!mode_known) return Status::InvalidField(prefix + ".provision.mode", "must be warm, overlay or full");
  return c;
}

json ProvisionReportToJson(const ProvisionReport& r) {
  return {{"mode", ProvisionModeName(r.mode)}, {"seconds", r.seconds}, {"bytes", r.bytes}, {"pull_seconds", r.pull_s},
          {"start_seconds", r.start_s}};
}

Result<ProvisionReport> ProvisionReportFromJson(const json& j, const std::string& where) {
  ProvisionReport r;
  JsonFields f(j, where);
  std::string mode;
  if (!f.Has("mode")) return Status::InvalidField(f.Path("mode"), "is required");
  (void)f.OneOf("mode", mode, {"warm", "overlay", "full"});
  (void)f.NumberIn("seconds", r.seconds, 0, 86'400, false, true);
  (void)f.IntIn("bytes", r.bytes, 0, int64_t{1} << 50);
  (void)f.NumberIn("pull_seconds", r.pull_s, 0, 86'400);
  (void)f.NumberIn("start_seconds", r.start_s, 0, 86'400);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  r.mode = mode == "warm" ? ProvisionMode::kWarm : mode == "overlay" ? ProvisionMode::kOverlay : ProvisionMode::kFull;
  return r;
}

json PlacementToJson(const Placement& p) {
  json j = {{"placement_id", p.id},
            {"owner", p.owner},
            {"state", PlacementStateName(p.state)},
            {"confirmed", p.confirmed},
            {"cloudlet", p.cloudlet_id},
            {"name", p.name.empty() ? p.id : p.name},
            {"endpoint", p.endpoint},
            {"created_at", common::FormatRfc3339(p.created_at)},
            {"modify_index", p.modify_index},
            {"chosen", CandidateToJson(p.chosen)},
            {"request", PlacementRequestToJson(p.request)}};
  if (!p.confirmed) j["expires_at"] = common::FormatRfc3339(p.expires_at);
  if (p.confirmed) j["activated_at"] = common::FormatRfc3339(p.activated_at);
  if (!p.reason.empty()) j["reason"] = p.reason;
  if (p.provision) j["provision"] = ProvisionReportToJson(*p.provision);
  if (p.live && p.state == PlacementState::kRunning) {
    j["live"] = {{"cpu_millis", p.live->cpu_millis},
                 {"mem_mib", p.live->mem_mib},
                 {"net_in_bytes", p.live->net_in_bytes},
                 {"net_out_bytes", p.live->net_out_bytes},
                 {"at", common::FormatRfc3339(p.live->at)}};
  }
  return j;
}

Result<Placement> PlacementFromJson(const json& j) {
  Placement p;
  JsonFields f(j, "");
  std::string state, created, activated, expires;
  f.String("placement_id", true, p.id);
  f.String("owner", true, p.owner);
  f.String("state", true, state);
  f.String("cloudlet", true, p.cloudlet_id);
  f.String("name", false, p.name);
  f.String("endpoint", true, p.endpoint);
  f.String("created_at", true, created);
  f.String("activated_at", false, activated);
  f.String("expires_at", false, expires);
  const json* request = f.Object("request", true);
  const json* chosen = f.Object("chosen", true);
  const json* provision = f.Object("provision", false);
  CLOUDLET_RETURN_IF_ERROR(f.status());
  auto req = PlacementRequestFromJson(*request);
  if (!req.ok()) return req.status().WithContext("request");
  p.request = std::move(*req);
  if (p.name.empty()) p.name = p.id;  // stored before placements had names
  const auto parsed_state = ParsePlacementState(state);
  if (!parsed_state || !IsLive(*parsed_state)) {
    return Status::InvalidField("state", "only live placements are stored (reserved, active, provisioning, running)");
  }
  p.state = *parsed_state;
  // Unconfirmed placements (stored only where registries share the store) hold until their lease ends.
  const auto confirmed = j.find("confirmed");
  p.confirmed = p.state != PlacementState::kReserved &&
                (confirmed == j.end() || !confirmed->is_boolean() || confirmed->get<bool>());
  auto created_at = common::ParseRfc3339(created, "created_at");
  if (!created_at.ok()) return created_at.status();
  p.created_at = *created_at;
  auto at = common::ParseRfc3339(p.confirmed ? activated : expires, p.confirmed ? "activated_at" : "expires_at");
  if (!at.ok()) return at.status();
  (p.confirmed ? p.activated_at : p.expires_at) = *at;
  auto cand = CandidateFromJson(*chosen, "chosen");
  if (!cand.ok()) return cand.status();
  p.chosen = std::move(*cand);
  if (provision) {
    auto r = ProvisionReportFromJson(*provision, "provision");
    if (!r.ok()) return r.status();
    p.provision = *r;
  }
  return p;
}

Result<WorkloadReport> WorkloadReportFromJson(const json& j) {
  WorkloadReport r;
  JsonFields f(j, "");
  std::string state;
  if (!f.Has("state")) return Status::InvalidField("state", "is required");
  (void)f.OneOf("state", state, {"provisioning", "running", "failed"});
  (void)f.StringIn("endpoint", r.endpoint, 262);
  (void)f.StringIn("reason", r.reason, 1024);
  const json* provision = f.Object("provision", false);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  r.state = *ParsePlacementState(state);
  if (!r.endpoint.empty() && !common::ParseHostPort(r.endpoint, "endpoint").ok()) {
    return Status::InvalidField("endpoint", "must be HOST:PORT");
  }
  if (provision) {
    auto p = ProvisionReportFromJson(*provision, "provision");
    if (!p.ok()) return p.status();
    r.provision = *p;
  }
  return r;
}

json PlaceResultToJson(const PlaceResult& r, const EngineParams& params) {
  json candidates = json::array();
  for (const auto& c : r.ranking.candidates) candidates.push_back(CandidateToJson(c));
  json j = {{"candidates", std::move(candidates)}, {"rejected", r.ranking.rejected}};
  if (r.placement) {
    j["placement_id"] = r.placement->id;
    j["state"] = PlacementStateName(r.placement->state);
    j["expires_at"] = common::FormatRfc3339(r.placement->expires_at);
    j["chosen"] = {{"cloudlet", r.placement->cloudlet_id}, {"endpoint", r.placement->endpoint}};
  } else {
    j["placement_id"] = nullptr;
    j["state"] = "unplaced";
    j["chosen"] = nullptr;
  }
  if (r.ranking.fallback) {
    j["fallback"] = {{"endpoint", params.cloud_endpoint}, {"rtt_ms", params.cloud_rtt_ms}};
  } else {
    j["fallback"] = nullptr;
  }
  return j;
}

namespace {

void AppendString(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// Shortest text that reads back as the same double; JSON has no NaN or infinity: null, as nlohmann.
void AppendNumber(std::string& out, double v) {
  if (std::isfinite(v)) fmt::format_to(std::back_inserter(out), "{}", v);
  else out += "null";
}

void AppendCandidate(std::string& out, const Candidate& c) {
  out += "{\"cloudlet\":";
  AppendString(out, c.cloudlet_id);
  out += ",\"endpoint\":";
  AppendString(out, c.endpoint);
  out += ",\"rtt_ms\":";
  AppendNumber(out, c.rtt_ms);
  out += ",\"rtt_source\":";
  AppendString(out, RttSourceName(c.rtt_source));
  out += ",\"queue_ms\":";
  AppendNumber(out, c.queue_ms);
  out += ",\"provision\":{\"mode\":";
  AppendString(out, ProvisionModeName(c.provision_mode));
  out += ",\"seconds\":";
  AppendNumber(out, c.provision_s);
  out += c.observed ? ",\"model\":\"observed\"" : ",\"model\":\"modelled\"";
  out += "},\"cost_ms\":";
  AppendNumber(out, c.cost_ms);
  out += c.sla_met ? ",\"sla_met\":true}" : ",\"sla_met\":false}";
}

}  // namespace

std::string PlaceResultJsonText(const PlaceResult& r, const EngineParams& params) {
  std::string out;
  out.reserve(256 + 256 * r.ranking.candidates.size());
  out += "{\"candidates\":[";
  for (size_t i = 0; i < r.ranking.candidates.size(); ++i) {
    if (i) out += ',';
    AppendCandidate(out, r.ranking.candidates[i]);
  }
  out += "],\"rejected\":{";
  bool first = true;
  for (const auto& [reason, count] : r.ranking.rejected) {
    if (!first) out += ',';
    first = false;
    AppendString(out, reason);
    fmt::format_to(std::back_inserter(out), ":{}", count);
  }
  out += '}';
  if (r.placement) {
    out += ",\"placement_id\":";
    AppendString(out, r.placement->id);
    out += ",\"state\":";
    AppendString(out, PlacementStateName(r.placement->state));
    out += ",\"expires_at\":";
    AppendString(out, common::FormatRfc3339(r.placement->expires_at));
    out += ",\"chosen\":{\"cloudlet\":";
    AppendString(out, r.placement->cloudlet_id);
    out += ",\"endpoint\":";
    AppendString(out, r.placement->endpoint);
    out += '}';
  } else {
    out += ",\"placement_id\":null,\"state\":\"unplaced\",\"chosen\":null";
  }
  if (r.ranking.fallback) {
    out += ",\"fallback\":{\"endpoint\":";
    AppendString(out, params.cloud_endpoint);
    out += ",\"rtt_ms\":";
    AppendNumber(out, params.cloud_rtt_ms);
    out += '}';
  } else {
    out += ",\"fallback\":null";
  }
  out += '}';
  return out;
}

json LocationResultToJson(const LocationResult& r) {
  const MigrationAdvice& a = r.advice;
  json j = {{"advice", a.migrate ? "migrate" : "stay"},
            {"gain_per_request_ms", a.gain_per_request_ms},
            {"expected_gain_ms", a.expected_gain_ms},
            {"cost_ms", a.cost_ms},
            {"downtime_s", a.downtime_s},
            {"reason", a.reason}};
  j["target"] = a.migrate ? json(a.target) : json(nullptr);
  json candidates = json::array();
  for (const auto& c : r.ranking.candidates) candidates.push_back(CandidateToJson(c));
  j["candidates"] = std::move(candidates);
  return j;
}

}  // namespace cloudlet::placement
