// `cloudlet place`: rank the fleet for an app and reserve the best cloudlet.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "client.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/geo.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

struct PlaceFlags {
  std::string app_file, rtt, geo, client_id;
  int k = 0;
  bool wait = false;
  std::string wait_timeout = "5m";
};

// --rtt cl-a=4.2,cl-b=7 as the request's client.rtt_ms.
Status AddRtts(const std::string& rtt, json& client) {
  std::stringstream pairs(rtt);
  for (std::string pair; std::getline(pairs, pair, ',');) {
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    char* end = nullptr;
    const double ms = eq == std::string::npos ? 0 : std::strtod(pair.c_str() + eq + 1, &end);
    if (eq == std::string::npos || eq == 0 || end == pair.c_str() + eq + 1 || *end != '\0') {
      return Status::InvalidArgument("--rtt: expected ID=MS[,ID=MS...], got '" + pair + "'");
    }
    client["rtt_ms"][pair.substr(0, eq)] = ms;
  }
  return Status::Ok();
}

// Reads --app FILE (the placement request's `app` object, or a whole request) and adds the client.
Result<json> BuildPlacementRequest(const PlaceFlags& f) {
  std::ifstream in(f.app_file);
  if (!in) return Status::InvalidArgument("cannot read " + f.app_file);
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return Status::InvalidArgument(f.app_file + ": not a JSON object");
  json request = doc.contains("app") ? doc : json{{"app", doc}};
  json& client = request["client"];
  if (!client.is_object()) client = json::object();
  if (!f.client_id.empty()) client["id"] = f.client_id;
  if (!f.geo.empty()) {
    auto at = common::ParseGeoPoint(f.geo, "--geo");
    if (!at.ok()) return Status::InvalidArgument("--geo: expected LAT,LON");
    client["geo"] = {{"lat", at->lat}, {"lon", at->lon}};
  }
  CLOUDLET_RETURN_IF_ERROR(AddRtts(f.rtt, client));
  if (f.k > 0) request["k"] = f.k;
  return request;
}

void PrintPlacement(const json& r) {
  std::vector<std::vector<std::string>> rows;
  int rank = 0;
  const json& candidates = Member(r, "candidates");
  for (const auto& c : candidates.is_array() ? candidates : json::array()) {
    const json& provision = Member(c, "provision");
    rows.push_back({std::to_string(++rank), ValueOr<std::string>(c, "cloudlet", ""), Fixed(ValueOr(c, "rtt_ms", 0.0)),
                    ValueOr<std::string>(c, "rtt_source", ""), Fixed(ValueOr(c, "queue_ms", 0.0)),
                    ValueOr<std::string>(provision, "mode", ""), Fixed(ValueOr(provision, "seconds", 0.0)),
                    Fixed(ValueOr(c, "cost_ms", 0.0), 2), ValueOr(c, "sla_met", false) ? "yes" : "no",
                    ValueOr<std::string>(c, "endpoint", "")});
  }
  if (Member(r, "placement_id").is_string()) {
    std::cout << "placement " << Member(r, "placement_id").get<std::string>() << " reserved on "
              << ValueOr<std::string>(Member(r, "chosen"), "cloudlet", "?") << " until "
              << ValueOr<std::string>(r, "expires_at", "") << " (confirm with POST /v1/placements/{id}/confirm)\n\n";
  } else {
    std::cout << "no cloudlet can take this app\n\n";
  }
  PrintTable(std::cout, {"RANK", "CLOUDLET", "RTT ms", "FROM", "QUEUE ms", "PROVISION", "SECONDS", "COST ms", "SLA",
                         "ENDPOINT"},
             rows);
  const json& rejected = Member(r, "rejected");
  if (rejected.is_object() && !rejected.empty()) {
    std::cout << "\nrejected:";
    for (const auto& [reason, n] : rejected.items()) std::cout << " " << reason << "=" << (n.is_number() ? n.get<int>() : 0);
    std::cout << "\n";
  }
  const json& fallback = Member(r, "fallback");
  if (fallback.is_object()) {
    std::cout << "\nno cloudlet meets the SLA; the cloud is the fallback: " << ValueOr<std::string>(fallback, "endpoint", "")
              << " (~" << Fixed(ValueOr(fallback, "rtt_ms", 0.0)) << " ms)\n";
  }
}

// Confirms the placement, then follows it (blocking queries) until its app runs or it fails.
Result<json> WaitUntilRunning(RegistryClient& client, const std::string& id, common::Millis timeout, bool quiet) {
  auto confirmed = client.Call("POST", "/v1/placements/" + id + "/confirm");
  if (!confirmed.ok()) return confirmed.status();
  json p = *confirmed;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // Each wait ends well within the client's own request timeout.
  const auto wait_ms = std::max<int64_t>(1000, client.timeout().count() / 2);
  std::string last;
  while (true) {
    const std::string state = ValueOr<std::string>(p, "state", "");
    if (state != last && !quiet) std::cerr << "placement " << id << ": " << state << "\n";
    last = state;
    if (state == "running") return p;
    if (state == "failed") {
      return Status::FailedPrecondition("placement " + id + " failed: " + ValueOr<std::string>(p, "reason", "no reason given"));
    }
    if (state == "released" || state == "expired") return Status::FailedPrecondition("placement " + id + " is " + state);
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::Unavailable("placement " + id + " is still " + state + " after --wait-timeout");
    }
    const auto index = ValueOr<uint64_t>(p, "modify_index", 0);
    auto next = client.Call("GET", "/v1/placements/" + id + "?index=" + std::to_string(index) + "&wait=" +
                                       std::to_string(wait_ms) + "ms");
    if (!next.ok()) return next.status();
    p = *next;
  }
}

Status Place(const GlobalOptions& o, const PlaceFlags& f) {
  auto request = BuildPlacementRequest(f);
  if (!request.ok()) return request.status();
  auto timeout = common::ParseDuration(f.wait_timeout, "--wait-timeout");
  if (!timeout.ok()) return Status::InvalidArgument(timeout.status().message());
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  auto body = client->Call("POST", "/v1/placements", request->dump());
  if (!body.ok()) return body.status();
  if (!f.wait || !Member(*body, "placement_id").is_string()) {
    if (o.json_output) PrintJson(*body);
    else PrintPlacement(*body);
    return f.wait ? Status::FailedPrecondition("no cloudlet can take this app") : Status::Ok();
  }
  const std::string id = Member(*body, "placement_id").get<std::string>();
  auto running = WaitUntilRunning(*client, id, *timeout, o.json_output);
  if (!running.ok()) return running.status();
  if (o.json_output) {
    PrintJson(*running);
  } else {
    const json& provision = Member(*running, "provision");
    std::cerr << "placement " << id << " running on " << ValueOr<std::string>(*running, "cloudlet", "?") << " at "
              << ValueOr<std::string>(*running, "endpoint", "?");
    if (provision.is_object()) {
      std::cerr << " (" << ValueOr<std::string>(provision, "mode", "?") << ", "
                << Fixed(ValueOr(provision, "seconds", 0.0), 2) << " s)";
    }
    std::cerr << "\n";
    std::cout << ValueOr<std::string>(*running, "endpoint", "") << "\n";  // alone on stdout, for scripts
  }
  return Status::Ok();
}

}  // namespace

void AddPlaceCommand(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<PlaceFlags>();
  auto* place = app.add_subcommand("place", "Rank cloudlets for an app and reserve the best");
  place->add_option("--app", f->app_file, "JSON file: the request's `app` object (or a whole request)")->required();
  place->add_option("--rtt", f->rtt, "Measured RTTs: ID=MS[,ID=MS...]");
  place->add_option("--geo", f->geo, "The device's position: LAT,LON");
  place->add_option("--client-id", f->client_id, "The device's id (for network coordinates)");
  place->add_option("--k", f->k, "Candidates to return")->check(CLI::Range(1, 100));
  place->add_flag("--wait", f->wait,
                  "Confirm the placement and wait until its app runs, then print its endpoint (HOST:PORT) on "
                  "stdout (progress goes to stderr); a failed placement exits 1 with the reason");
  place->add_option("--wait-timeout", f->wait_timeout, "How long --wait waits (default 5m)");
  place->callback([&ctx, f] { ctx.run = [&ctx, f] { return Place(ctx.options, *f); }; });
}

}  // namespace cloudlet::cli
