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
  // Grouped by placement: a column of its own.
  bool by_placement = false;
  for (const auto& line : lines.is_array() ? lines : json::array()) by_placement = by_placement || line.contains("placement");
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const json& line, const std::string& label) {
    const json& q = Member(line, "quantities");
    auto per = [&](const char* key, double unit) { return Fixed(ValueOr(q, key, 0.0) / unit, 3); };
    std::vector<std::string> row = {label.empty() ? ValueOr<std::string>(line, "tenant", "") : label,
                                    ValueOr<std::string>(line, "cloudlet", "")};
    if (by_placement) row.push_back(ValueOr<std::string>(line, "placement", ""));
    for (std::string cell : {ValueOr<std::string>(line, "period", ""), per("cpu_core_s", 3600),
                             per("mem_mib_s", 1024.0 * 3600), per("net_in_bytes", 1 << 30), per("net_out_bytes", 1 << 30),
                             per("gpu_s", 3600), per("instance_s", 3600), Fixed(ValueOr(line, "cost", 0.0), 2)}) {
      row.push_back(std::move(cell));
    }
    rows.push_back(std::move(row));
  };
  for (const auto& line : lines.is_array() ? lines : json::array()) add(line, "");
  add(Member(body, "total"), "TOTAL");
  std::vector<std::string> header = {"TENANT", "CLOUDLET"};
  if (by_placement) header.push_back("PLACEMENT");
  for (std::string h : {"PERIOD", "CPU core-h", "MEM GiB-h", "NET IN GiB", "NET OUT GiB", "GPU h", "INSTANCE h"}) {
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
  PrintJson(*body);
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
