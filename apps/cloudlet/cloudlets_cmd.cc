// `cloudlet cloudlets list|get|rm`: registered cloudlets.
#include <iostream>
#include <memory>

#include "client.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using common::Status;
using nlohmann::json;

std::string Fraction(const json& free, const json& cap, const char* key) {
  return std::to_string(ValueOr<long long>(free, key, 0)) + "/" + std::to_string(ValueOr<long long>(cap, key, 0));
}

void PrintCloudlets(const json& list) {
  std::vector<std::vector<std::string>> rows;
  bool with_distance = false;
  for (const auto& c : list) with_distance |= c.contains("distance_km");
  for (const auto& c : list) {
    std::vector<std::string> row = {ValueOr<std::string>(c, "id", ""),
                                    ValueOr<std::string>(c, "name", ""),
                                    ValueOr<std::string>(c, "state", ""),
                                    Fixed(ValueOr(c, "load", 0.0) * 100, 0) + "%",
                                    Fraction(Member(c, "free"), Member(c, "capacity"), "cpu_millis"),
                                    Fraction(Member(c, "free"), Member(c, "capacity"), "mem_mb"),
                                    JoinStrings(Member(c, "isolation")),
                                    std::to_string(Member(c, "base_vms").is_array() ? Member(c, "base_vms").size() : 0),
                                    ValueOr<std::string>(c, "last_heartbeat", ""),
                                    ValueOr<std::string>(c, "endpoint", "")};
    if (with_distance) row.push_back(c.contains("distance_km") ? Fixed(ValueOr(c, "distance_km", -1.0)) : "-");
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header = {"ID", "NAME", "STATE", "LOAD", "CPU FREE/TOTAL (m)", "MEM FREE/TOTAL (MiB)",
                                     "ISOLATION", "BASE VMS", "LAST HEARTBEAT", "ENDPOINT"};
  if (with_distance) header.push_back("KM");
  PrintTable(std::cout, header, rows);
}

struct ListFlags {
  std::string state, base_vm, near;
  size_t limit = 0;
};

Status List(const GlobalOptions& o, const ListFlags& f) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  std::string query;
  auto add = [&](const char* key, const std::string& v) {
    if (!v.empty()) query += (query.empty() ? "?" : "&") + std::string(key) + "=" + UrlEncode(v);
  };
  add("state", f.state);
  add("base_vm", f.base_vm);
  add("near", f.near);
  add("limit", f.limit ? std::to_string(f.limit) : "");
  auto body = client->Call("GET", "/v1/cloudlets" + query);
  if (!body.ok()) return body.status();
  if (o.json_output) PrintJson(*body);
  else PrintCloudlets(Member(*body, "cloudlets"));
  return Status::Ok();
}

Status Get(const GlobalOptions& o, const std::string& id) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  auto body = client->Call("GET", "/v1/cloudlets/" + UrlEncode(id));
  if (!body.ok()) return body.status();
  if (o.json_output) PrintJson(*body);
  else PrintCloudlets(json::array({*body}));
  return Status::Ok();
}

Status Remove(const GlobalOptions& o, const std::string& id) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  if (auto body = client->Call("DELETE", "/v1/cloudlets/" + UrlEncode(id)); !body.ok()) return body.status();
  if (o.json_output) PrintJson({{"id", id}, {"deleted", true}});
  else std::cout << "deregistered " << id << '\n';
  return Status::Ok();
}

}  // namespace

void AddCloudletCommands(CLI::App& app, Context& ctx) {
  auto* cloudlets = app.add_subcommand("cloudlets", "Registered cloudlets");
  cloudlets->require_subcommand(1);
  auto f = std::make_shared<ListFlags>();
  auto id = std::make_shared<std::string>();
  auto* list = cloudlets->add_subcommand("list", "List cloudlets (sorted by id, or by distance with --near)");
  list->add_option("--state", f->state, "Only this state")->check(CLI::IsMember({"healthy", "suspect", "expired"}));
  list->add_option("--base-vm", f->base_vm, "Only cloudlets caching this base VM (digest or 12+ hex prefix)");
  list->add_option("--near", f->near, "Sort by distance from LAT,LON");
  list->add_option("--limit", f->limit, "At most this many")->check(CLI::Range(size_t{1}, size_t{100000}));
  list->callback([&ctx, f] { ctx.run = [&ctx, f] { return List(ctx.options, *f); }; });
  auto* get = cloudlets->add_subcommand("get", "Show one cloudlet");
  get->add_option("id", *id, "Cloudlet id")->required();
  get->callback([&ctx, id] { ctx.run = [&ctx, id] { return Get(ctx.options, *id); }; });
  auto* rm = cloudlets->add_subcommand("rm", "Deregister a cloudlet");
  rm->add_option("id", *id, "Cloudlet id")->required();
  rm->callback([&ctx, id] { ctx.run = [&ctx, id] { return Remove(ctx.options, *id); }; });
}

}  // namespace cloudlet::cli
