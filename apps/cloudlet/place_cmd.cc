// `cloudlet place`: rank the fleet for an app and reserve the best cloudlet.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "client.h"
#include "placement_flow.h"
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
  bool print_id = false;
  std::string wait_timeout = "5m";
};

// Reads --app FILE (the placement request's `app` object, or a whole request) and adds the client.
Result<json> BuildPlacementRequest(const PlaceFlags& f) {
  std::ifstream in(f.app_file);
  if (!in) return Status::InvalidArgument("cannot read " + f.app_file);
  std::stringstream text;
  text << in.rdbuf();
  json doc;
  try {
    doc = json::parse(text.str());
  } catch (const json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 3, column 1: syntax error ..." -> from "line".
    const std::string what = e.what();
    const size_t at = what.find("line ");
    return Status::InvalidArgument(f.app_file + ": " + (at == std::string::npos ? what : what.substr(at)));
  }
  if (!doc.is_object()) {
    return Status::InvalidArgument(f.app_file + ": must be a JSON object (the app, or a whole request), not " +
                                   doc.type_name());
  }
  json request = doc.contains("app") ? doc : json{{"app", doc}};
  json& client = request["client"];
  if (!client.is_object()) client = json::object();
  CLOUDLET_RETURN_IF_ERROR(AddClientFlags({.geo = f.geo, .rtt = f.rtt, .client_id = f.client_id}, client));
  if (f.k > 0) request["k"] = f.k;
  return request;
}

// The engine's rejection reasons, as an operator would say them.
std::string Rejections(const json& rejected) {
  static const std::map<std::string, std::string> kSaid = {{"health", "not healthy (suspect or expired)"},
                                                           {"isolation", "without the app's isolation class"},
                                                           {"cpu", "without enough free CPU"},
                                                           {"memory", "without enough free memory"},
                                                           {"saturated", "too busy to answer within the SLA"}};
  std::string out;
  for (const auto& [reason, n] : rejected.items()) {
    const int count = n.is_number_integer() ? n.get<int>() : 0;
    auto said = kSaid.find(reason);
    out += (out.empty() ? "" : "; ") + std::to_string(count) + (count == 1 ? " cloudlet " : " cloudlets ") +
           (said == kSaid.end() ? "refused: " + reason : said->second);
  }
  return out;
}

// Why nothing fits, from what the answer says: no cloudlets at all, none that can take the app, or
// none that meets its SLA.
std::string WhyNothing(const json& r) {
  const json& candidates = Member(r, "candidates");
  const json& rejected = Member(r, "rejected");
  const bool none_ranked = !candidates.is_array() || candidates.empty();
  if (none_ranked && (!rejected.is_object() || rejected.empty())) return "no cloudlet is registered";
  if (none_ranked) return "no cloudlet can take this app";
  return "no cloudlet meets the SLA";
}

void PrintPlacement(const json& r, std::ostream& out) {
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
    const std::string id = Member(r, "placement_id").get<std::string>();
    out << "placement " << id << " reserved on " << ValueOr<std::string>(Member(r, "chosen"), "cloudlet", "?")
              << " until " << ValueOr<std::string>(r, "expires_at", "") << " (cloudlet placements confirm " << id
              << ")\n\n";
  } else {
    out << "nothing placed: " << WhyNothing(r) << "\n\n";
  }
  if (!rows.empty()) {
    PrintTable(out, {"RANK", "CLOUDLET", "RTT ms", "FROM", "QUEUE ms", "PROVISION", "PROVISION s", "COST ms",
                           "SLA", "ENDPOINT"},
               rows);
  }
  const json& rejected = Member(r, "rejected");
  if (rejected.is_object() && !rejected.empty()) out << "\nrejected: " << Rejections(rejected) << "\n";
  const json& fallback = Member(r, "fallback");
  if (fallback.is_object()) {
    const std::string endpoint = ValueOr<std::string>(fallback, "endpoint", "");
    out << "\n" << WhyNothing(r) << "; "
              << (endpoint.empty() ? std::string("no cloud fallback is configured (cloudletd --cloud-endpoint)")
                                   : "the cloud is the fallback: " + endpoint + " (~" +
                                         Fixed(ValueOr(fallback, "rtt_ms", 0.0)) + " ms)")
              << "\n";
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
  // --print-id: the table goes to stderr, the id alone to stdout (PL=$(cloudlet place ... --print-id)).
  std::ostream& table = f.print_id ? std::cerr : std::cout;
  if (!Member(*body, "placement_id").is_string()) {
    if (o.json_output) PrintJson(*body);
    else PrintPlacement(*body, table);
    return Status::ResourceExhausted("nothing placed: " + WhyNothing(*body));
  }
  if (f.print_id) {
    if (!o.json_output) PrintPlacement(*body, table);
    std::cout << Member(*body, "placement_id").get<std::string>() << "\n";
    return Status::Ok();
  }
  if (!f.wait) {
    if (o.json_output) PrintJson(*body);
    else PrintPlacement(*body, table);
    return Status::Ok();
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
  place->add_option("--k", f->k, "Candidates to return (default 3)")->check(CLI::Range(1, 100));
  place->footer(
      "app.json: the request's `app` object, or a whole request {\"app\": ..., \"client\": ..., \"k\": ...}.\n"
      "  required: name, base_vm (\"sha256:<64 hex>\": the base VM or image it builds on), base_vm_mb,\n"
      "            overlay_mb (what moves when only the base is cached), cpu_millis, mem_mb\n"
      "  optional: isolation (\"vm\" or \"container\"; default vm), service_ms (server time per request; 0),\n"
      "            req_rate_hz (1), session_s (60), max_rtt_ms (the SLA on response time; 0: none)\n"
      "  to run it on agents with a runtime (docs/runtime.md): image (pinned: name@sha256:...), base_image,\n"
      "            port, env (object), command (array), health ({\"http\": \"/path\"} or {\"tcp\": true};\n"
      "            default tcp), ready_timeout_s (60)\n"
      "Unknown fields are refused, naming them. Exit codes: 0 placed, 1 failure, 2 bad usage, 3 nothing placed.");
  place->add_flag("--wait", f->wait,
                  "Confirm the placement and wait until its app runs, then print its endpoint (HOST:PORT) on "
                  "stdout (progress goes to stderr); a failed placement exits 1 with the reason");
  place->add_option("--wait-timeout", f->wait_timeout, "How long --wait waits")->capture_default_str();
  place->add_flag("--print-id", f->print_id, "Print the new placement's id alone on stdout (the table goes to stderr), for PL=$(cloudlet place ...)")->excludes("--wait");
  place->callback([&ctx, f] { ctx.run = [&ctx, f] { return Place(ctx.options, *f); }; });
}

}  // namespace cloudlet::cli
