// `cloudlet placements list|get|confirm|wait|move|release`: a placement's life after `cloudlet place`.
#include <iostream>
#include <memory>

#include "client.h"
#include "cloudlet/common/duration.h"
#include "placement_flow.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

std::string AppName(const json& p) { return ValueOr<std::string>(Member(Member(p, "request"), "app"), "name", ""); }

void PrintPlacements(const json& list) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : list.is_array() ? list : json::array()) {
    const json& live = Member(p, "live");
    const std::string state = ValueOr<std::string>(p, "state", "");
    std::string owner = ValueOr<std::string>(p, "owner", "");
    if (owner.starts_with("operator:")) owner = "operator";  // the operator's own, whichever token
    rows.push_back({ValueOr<std::string>(p, "placement_id", ""), AppName(p), owner,
                    ValueOr<std::string>(p, "cloudlet", ""), state,
                    state == "running" ? ValueOr<std::string>(p, "endpoint", "") : "",
                    live.is_object() ? Fixed(ValueOr(live, "cpu_millis", 0.0), 0) : "",
                    live.is_object() ? Fixed(ValueOr(live, "mem_mib", 0.0), 1) : "",
                    ValueOr<std::string>(p, "created_at", "")});
  }
  PrintTable(std::cout, {"PLACEMENT", "APP", "OWNER", "CLOUDLET", "STATE", "ENDPOINT", "CPU (m)", "MEM (MiB)", "CREATED"},
             rows);
}

void PrintOne(const GlobalOptions& o, const json& p) {
  if (o.json_output) return PrintJson(p);
  PrintPlacements(json::array({p}));
  if (Member(p, "reason").is_string()) std::cout << "\nreason: " << ValueOr<std::string>(p, "reason", "") << "\n";
  if (!ValueOr(p, "confirmed", true)) {
    std::cout << "\nreserved until " << ValueOr<std::string>(p, "expires_at", "")
              << ": confirm it (cloudlet placements confirm " << ValueOr<std::string>(p, "placement_id", "")
              << ") or it lapses\n";
  }
}

Status WithClient(const GlobalOptions& o, const std::function<Status(RegistryClient&)>& fn) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  return fn(*client);
}

struct MoveFlags {
  std::string id, geo, rtt, wait_timeout = "5m";
  bool force = false;
  bool wait = false;
};

// Asks for migration advice at the device's new position; when it says move (or --force), places
// the app again from there, confirms it (waits for it to run with --wait), then releases the old
// placement: make before break.
Status Move(const GlobalOptions& o, const MoveFlags& f) {
  auto timeout = common::ParseDuration(f.wait_timeout, "--wait-timeout");
  if (!timeout.ok()) return Status::InvalidArgument(timeout.status().message());
  json client_json = json::object();
  CLOUDLET_RETURN_IF_ERROR(AddClientFlags({.geo = f.geo, .rtt = f.rtt, .client_id = ""}, client_json));
  if (client_json.empty()) return Status::InvalidArgument("move: give the device's new --geo or --rtt (or both)");
  return WithClient(o, [&](RegistryClient& client) -> Status {
    const std::string path = "/v1/placements/" + UrlEncode(f.id);
    auto current = client.Call("GET", path);
    if (!current.ok()) return current.status();
    auto advice = client.Call("POST", path + "/location", client_json.dump());
    if (!advice.ok()) return advice.status();
    const bool migrate = ValueOr<std::string>(*advice, "advice", "") == "migrate";
    std::cerr << "advice: " << ValueOr<std::string>(*advice, "advice", "?") << " ("
              << ValueOr<std::string>(*advice, "reason", "") << ")\n";
    if (!migrate && !f.force) {
      if (o.json_output) PrintJson(*advice);
      else std::cout << "placement " << f.id << " stays on " << ValueOr<std::string>(*current, "cloudlet", "?") << "\n";
      return Status::Ok();
    }
    // `replaces`: the new placement keeps the old one's DNS name, so apps that connect by name follow.
    json request = {{"app", Member(Member(*current, "request"), "app")}, {"client", client_json}, {"replaces", f.id}};
    auto placed = client.Call("POST", "/v1/placements", request.dump());
    if (!placed.ok()) return placed.status();
    if (!Member(*placed, "placement_id").is_string()) {
      return Status::ResourceExhausted("move: no cloudlet can take the app at the new position; " + f.id + " stays");
    }
    const std::string next = Member(*placed, "placement_id").get<std::string>();
    const std::string target = ValueOr<std::string>(Member(*placed, "chosen"), "cloudlet", "?");
    if (target == ValueOr<std::string>(*current, "cloudlet", "")) {
      (void)client.Call("DELETE", "/v1/placements/" + next);
      std::cout << "placement " << f.id << " stays on " << target << ": it is still the best there\n";
      return Status::Ok();
    }
    auto moved = f.wait ? WaitUntilRunning(client, next, *timeout, o.json_output)
                        : client.Call("POST", "/v1/placements/" + next + "/confirm");
    if (!moved.ok()) {
      (void)client.Call("DELETE", "/v1/placements/" + next);  // the old one keeps serving
      return Status(moved.status().code(), "move: " + moved.status().message() + "; " + f.id + " stays");
    }
    if (auto released = client.Call("DELETE", path); !released.ok()) {
      return Status(released.status().code(), "moved to " + next + " but could not release " + f.id + ": " +
                                                  released.status().message());
    }
    if (o.json_output) {
      PrintJson(*moved);
      return Status::Ok();
    }
    std::cerr << "placement " << f.id << " released; " << next << " on " << target << " replaces it\n";
    std::cout << next << "\n";  // alone on stdout, for scripts
    return Status::Ok();
  });
}

}  // namespace

void AddPlacementCommands(CLI::App& app, Context& ctx) {
  auto* placements = app.add_subcommand("placements", "A placement's life after `cloudlet place`: list, get, confirm, "
                                                      "wait, move, release");
  placements->require_subcommand(1);
  auto limit = std::make_shared<size_t>(100);
  auto* list = placements->add_subcommand("list", "Live placements, newest first (operators: all; tenants: their own)");
  list->add_option("--limit", *limit, "At most this many")->capture_default_str()->check(CLI::Range(size_t{1}, size_t{1000}));
  list->callback([&ctx, limit] {
    ctx.run = [&ctx, limit] {
      return WithClient(ctx.options, [&](RegistryClient& client) -> Status {
        auto body = client.Call("GET", "/v1/placements?limit=" + std::to_string(*limit));
        if (!body.ok()) return body.status();
        if (ctx.options.json_output) PrintJson(*body);
        else PrintPlacements(Member(*body, "placements"));
        return Status::Ok();
      });
    };
  });

  // get, confirm and release: one call each on the placement.
  struct Simple {
    const char* name;
    const char* help;
    const char* method;
    const char* suffix;
  };
  for (const Simple s : {Simple{"get", "Show one placement (state, endpoint, live use)", "GET", ""},
                         Simple{"confirm", "Confirm a reservation before its lease lapses", "POST", "/confirm"},
                         Simple{"release", "Release a placement: its workload stops, its capacity returns", "DELETE", ""}}) {
    auto id = std::make_shared<std::string>();
    auto* cmd = placements->add_subcommand(s.name, s.help);
    cmd->add_option("id", *id, "Placement id (pl-...)")->required();
    cmd->callback([&ctx, id, s] {
      ctx.run = [&ctx, id, s] {
        return WithClient(ctx.options, [&](RegistryClient& client) -> Status {
          auto body = client.Call(s.method, "/v1/placements/" + UrlEncode(*id) + s.suffix);
          if (!body.ok()) return body.status();
          if (std::string(s.method) == "DELETE") {
            if (ctx.options.json_output) PrintJson({{"placement_id", *id}, {"released", true}});
            else std::cout << "released " << *id << "\n";
          } else {
            PrintOne(ctx.options, *body);
          }
          return Status::Ok();
        });
      };
    });
  }

  auto wait_id = std::make_shared<std::string>();
  auto wait_timeout = std::make_shared<std::string>("5m");
  auto* wait = placements->add_subcommand("wait", "Confirm a placement and wait until its app runs; print its endpoint "
                                                  "(a failed placement exits 1 with the reason)");
  wait->add_option("id", *wait_id, "Placement id (pl-...)")->required();
  wait->add_option("--timeout", *wait_timeout, "How long to wait")->capture_default_str();
  wait->callback([&ctx, wait_id, wait_timeout] {
    ctx.run = [&ctx, wait_id, wait_timeout] {
      auto timeout = common::ParseDuration(*wait_timeout, "--timeout");
      if (!timeout.ok()) return Status::InvalidArgument(timeout.status().message());
      return WithClient(ctx.options, [&](RegistryClient& client) -> Status {
        auto running = WaitUntilRunning(client, *wait_id, *timeout, ctx.options.json_output);
        if (!running.ok()) return running.status();
        if (ctx.options.json_output) PrintJson(*running);
        else std::cout << ValueOr<std::string>(*running, "endpoint", "") << "\n";
        return Status::Ok();
      });
    };
  });

  auto mf = std::make_shared<MoveFlags>();
  auto* move = placements->add_subcommand(
      "move", "The device moved: ask for migration advice there and, when it says move (or --force), place the app "
              "again from the new position, confirm it, then release the old placement; prints the new id");
  move->add_option("id", mf->id, "Placement id (pl-...)")->required();
  move->add_option("--geo", mf->geo, "The device's new position: LAT,LON");
  move->add_option("--rtt", mf->rtt, "RTTs measured there: ID=MS[,ID=MS...]");
  move->add_flag("--force", mf->force, "Move even when the advice is to stay");
  move->add_flag("--wait", mf->wait, "Wait until the new placement's app runs before releasing the old one");
  move->add_option("--wait-timeout", mf->wait_timeout, "How long --wait waits")->capture_default_str();
  move->callback([&ctx, mf] { ctx.run = [&ctx, mf] { return Move(ctx.options, *mf); }; });
}

}  // namespace cloudlet::cli
