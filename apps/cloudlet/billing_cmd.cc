// `cloudlet report` (usage and cost) and `cloudlet prices set|list`.
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "client.h"
#include "table.h"

namespace cloudlet::cli {
namespace {

using common::Status;
using nlohmann::json;

struct ReportFlags {
  std::string from, to, group_by = "tenant", tenant;
  bool csv = false;
};

std::string Day(common::TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&tt));
  return buf;
}

void PrintReport(const json& body) {
  const json& lines = Member(body, "lines");
  // A column for each key the report is grouped by, and none for the others.
  std::vector<std::string> keys;
  for (const char* key : {"tenant", "cloudlet", "placement", "period"}) {
    for (const auto& line : lines.is_array() ? lines : json::array()) {
      if (line.contains(key)) {
        keys.push_back(key);
        break;
      }
    }
  }
  const bool grouped = !keys.empty();
  if (!grouped) keys.push_back("");  // an ungrouped report is its total
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const json& line, const std::string& label) {
    const json& q = Member(line, "quantities");
    auto per = [&](const char* key, double unit) { return Fixed(ValueOr(q, key, 0.0) / unit, 3); };
    std::vector<std::string> row;
    for (const auto& key : keys) row.push_back(key.empty() ? "" : ValueOr<std::string>(line, key.c_str(), ""));
    if (!label.empty()) row.front() = label;
    for (std::string cell : {per("cpu_core_s", 3600), per("mem_mib_s", 1024.0 * 3600), per("net_in_bytes", 1 << 30),
                             per("net_out_bytes", 1 << 30), per("gpu_s", 3600), per("instance_s", 3600),
                             Fixed(ValueOr(line, "cost", 0.0), 2)}) {
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  };
  if (grouped) {
    for (const auto& line : lines.is_array() ? lines : json::array()) add(line, "");
  }
  add(Member(body, "total"), "TOTAL");
  std::vector<std::string> header;
  for (const auto& key : keys) {
    std::string h = key.empty() ? "FROM " + ValueOr<std::string>(body, "from", "").substr(0, 10) + " TO " +
                                      ValueOr<std::string>(body, "to", "").substr(0, 10)
                                : key;
    for (char& c : h) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    header.push_back(h);
  }
  for (std::string h : {"CPU core-h", "MEM GiB-h", "NET IN GiB", "NET OUT GiB", "GPU h", "INSTANCE h"}) {
    header.push_back(std::move(h));
  }
  header.push_back("COST " + ValueOr<std::string>(body, "currency", ""));
  PrintTable(std::cout, header, rows);
}

Status Report(const GlobalOptions& o, const ReportFlags& f) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  const auto now = common::WallClock().Now();
  std::string query = "?from=" + UrlEncode(f.from.empty() ? Day(now - std::chrono::hours(24 * 30)) : f.from) +
                      "&to=" + UrlEncode(f.to.empty() ? Day(now + std::chrono::hours(24)) : f.to) +
                      "&group_by=" + UrlEncode(f.group_by) + (f.csv ? "&format=csv" : "");
  if (!f.tenant.empty()) query += "&tenant=" + UrlEncode(f.tenant);
  if (f.csv) {
    auto csv = client->Raw("GET", "/v1/reports/usage" + query);
    if (!csv.ok()) return csv.status();
    std::cout << *csv;
    return Status::Ok();
  }
  auto body = client->Call("GET", "/v1/reports/usage" + query);
  if (!body.ok()) return body.status();
  if (o.json_output) PrintJson(*body);
  else PrintReport(*body);
  return Status::Ok();
}

Status SetPrices(const GlobalOptions& o, const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::InvalidArgument("cannot read " + file);
  std::stringstream text;
  text << in.rdbuf();
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  auto body = client->Call("PUT", "/v1/prices", text.str());
  if (!body.ok()) return body.status();
  if (o.json_output) PrintJson(*body);
  else std::cout << "price version from " << ValueOr<std::string>(*body, "effective", "") << " saved\n";
  return Status::Ok();
}

Status ListPrices(const GlobalOptions& o) {
  auto client = RegistryClient::Connect(o);
  if (!client.ok()) return client.status();
  auto body = client->Call("GET", "/v1/prices");
  if (!body.ok()) return body.status();
  if (o.json_output) {
    PrintJson(*body);
    return Status::Ok();
  }
  // One row per version, and one per price tier of it.
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const std::string& effective, const std::string& currency, const std::string& tier, const json& p) {
    auto price = [&](const char* key) { return Fixed(ValueOr(p, key, 0.0), 4); };
    rows.push_back({effective, currency, tier, price("cpu_core_hour"), price("mem_gib_hour"), price("net_in_gib"),
                    price("net_out_gib"), price("gpu_hour"), price("instance_hour")});
  };
  const json& versions = Member(*body, "versions");
  for (const auto& v : versions.is_array() ? versions : json::array()) {
    const std::string effective = ValueOr<std::string>(v, "effective", ""), currency = ValueOr<std::string>(v, "currency", "");
    add(effective, currency, "", Member(v, "prices"));
    const json& tiers = Member(v, "tiers");
    if (!tiers.is_object()) continue;
    for (const auto& [tier, p] : tiers.items()) add(effective, currency, tier, p);
  }
  PrintTable(std::cout, {"EFFECTIVE", "CURRENCY", "TIER", "CPU core-h", "MEM GiB-h", "NET IN GiB", "NET OUT GiB",
                         "GPU h", "INSTANCE h"},
             rows);
  return Status::Ok();
}

}  // namespace

void AddBillingCommands(CLI::App& app, Context& ctx) {
  auto f = std::make_shared<ReportFlags>();
  auto* report = app.add_subcommand("report", "Usage and cost (operators: every tenant; tenants: their own)");
  report->add_option("--from", f->from, "Start: YYYY-MM-DD or an RFC 3339 time (default: 30 days ago)");
  report->add_option("--to", f->to, "End, exclusive (default: tomorrow)");
  report->add_option("--group-by", f->group_by, "Any of tenant, cloudlet, placement, day, hour, comma-separated")->capture_default_str();
  report->add_option("--tenant", f->tenant, "Only this tenant (operators)");
  report->add_flag("--csv", f->csv, "Print CSV (RFC 4180) instead of a table");
  report->callback([&ctx, f] { ctx.run = [&ctx, f] { return Report(ctx.options, *f); }; });

  auto* prices = app.add_subcommand("prices", "Price versions (operators set them; tenants read them)");
  prices->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* set = prices->add_subcommand("set", "Add a price version from a JSON file");
  set->add_option("file", *file, "JSON: {effective, currency, prices, tiers}")->required()->check(CLI::ExistingFile);
  set->callback([&ctx, file] { ctx.run = [&ctx, file] { return SetPrices(ctx.options, *file); }; });
  prices->add_subcommand("list", "List the price versions")->callback([&ctx] {
    ctx.run = [&ctx] { return ListPrices(ctx.options); };
  });
}

}  // namespace cloudlet::cli
