#include "cloudlet/metering/rating.h"

#include <cmath>
#include <sstream>

#include "cloudlet/common/json_fields.h"

namespace cloudlet::metering {
namespace {

using common::Result;
using common::Status;

bool IsDay(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  const int month = std::stoi(s.substr(5, 2)), day = std::stoi(s.substr(8, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

Status ReadPrices(const nlohmann::json& j, const std::string& field, UnitPrices& out) {
  if (!j.is_object()) return Status::InvalidField(field, "must be an object");
  common::JsonFields f(j, field);
  f.Number("cpu_core_hour", false, out.cpu_core_hour);
  f.Number("mem_gib_hour", false, out.mem_gib_hour);
  f.Number("net_in_gib", false, out.net_in_gib);
  f.Number("net_out_gib", false, out.net_out_gib);
  f.Number("gpu_hour", false, out.gpu_hour);
  f.Number("instance_hour", false, out.instance_hour);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  for (double v : {out.cpu_core_hour, out.mem_gib_hour, out.net_in_gib, out.net_out_gib, out.gpu_hour,
                   out.instance_hour}) {
    if (v < 0 || v > 1e9) return Status::InvalidField(field, "prices must be in [0, 1e9]");
  }
  return Status::Ok();
}

nlohmann::json PricesToJson(const UnitPrices& p) {
  return {{"cpu_core_hour", p.cpu_core_hour}, {"mem_gib_hour", p.mem_gib_hour}, {"net_in_gib", p.net_in_gib},
          {"net_out_gib", p.net_out_gib},     {"gpu_hour", p.gpu_hour},         {"instance_hour", p.instance_hour}};
}

double Cents(double amount) { return std::round(amount * 100) / 100; }

std::string Number(double v) {
  std::ostringstream out;
  out.precision(12);
  out << v;
  return out.str();
}

}  // namespace

Result<PriceVersion> PriceVersionFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("a price version must be a JSON object");
  PriceVersion v;
  common::JsonFields f(j, "");
  f.String("effective", true, v.effective);
  f.String("currency", false, v.currency);
  const nlohmann::json* base = f.Object("prices", true);
  const nlohmann::json* tiers = f.Object("tiers", false);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  if (!IsDay(v.effective)) return Status::InvalidField("effective", "must be a UTC day, YYYY-MM-DD");
  if (v.currency.size() != 3) return Status::InvalidField("currency", "must be a 3-letter code");
  CLOUDLET_RETURN_IF_ERROR(ReadPrices(*base, "prices", v.base));
  if (tiers) {
    if (tiers->size() > 64) return Status::InvalidField("tiers", "at most 64");
    for (auto it = tiers->begin(); it != tiers->end(); ++it) {
      if (it.key().empty() || it.key().size() > 63) return Status::InvalidField("tiers", "names are 1-63 characters");
      UnitPrices p = v.base;  // a tier overrides only what it names
      CLOUDLET_RETURN_IF_ERROR(ReadPrices(it.value(), "tiers." + it.key(), p));
      v.tiers[it.key()] = p;
    }
  }
  return v;
}

nlohmann::json PriceVersionToJson(const PriceVersion& v) {
  nlohmann::json tiers = nlohmann::json::object();
  for (const auto& [name, p] : v.tiers) tiers[name] = PricesToJson(p);
  return {{"effective", v.effective}, {"currency", v.currency}, {"prices", PricesToJson(v.base)}, {"tiers", tiers}};
}

void PriceBook::Add(PriceVersion v) { versions_[v.effective] = std::move(v); }

const PriceVersion* PriceBook::At(const std::string& day) const {
  auto it = versions_.upper_bound(day.substr(0, 10));
  if (it == versions_.begin()) return nullptr;
  return &std::prev(it)->second;
}

std::vector<PriceVersion> PriceBook::Versions() const {
  std::vector<PriceVersion> out;
  for (const auto& [day, v] : versions_) out.push_back(v);
  return out;
}

double Cost(const Quantities& q, const UnitPrices& p) {
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  return q.cpu_core_s / 3600 * p.cpu_core_hour + q.mem_mib_s / 1024 / 3600 * p.mem_gib_hour +
         q.net_in_bytes / kGiB * p.net_in_gib + q.net_out_bytes / kGiB * p.net_out_gib + q.gpu_s / 3600 * p.gpu_hour +
         q.instance_s / 3600 * p.instance_hour;
}

Report Rate(const std::vector<UsageSum>& sums, const PriceBook& book,
            const std::function<std::string(const std::string&)>& tier_of, const ReportOptions& o) {
  Report report;
  report.by_placement = o.by_placement;
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, ReportLine> lines;
  std::map<Key, double> raw_cost;
  for (const UsageSum& s : sums) {
    const PriceVersion* v = book.At(s.period);
    double cost = 0;
    if (v) {
      report.currency = v->currency;
      const std::string tier = tier_of ? tier_of(s.cloudlet) : "";
      auto t = v->tiers.find(tier);
      cost = Cost(s.q, t == v->tiers.end() ? v->base : t->second);
    } else {
      ++report.unpriced;
    }
    const std::string period = o.by_hour ? s.period : o.by_day ? s.period.substr(0, 10) : "";
    const Key key{o.by_tenant ? s.tenant : "", o.by_cloudlet ? s.cloudlet : "", o.by_placement ? s.placement : "", period};
    ReportLine& line = lines[key];
    line.tenant = std::get<0>(key);
    line.cloudlet = std::get<1>(key);
    line.placement = std::get<2>(key);
    line.period = std::get<3>(key);
    line.q += s.q;
    raw_cost[key] += cost;
    report.total_q += s.q;
  }
  for (auto& [key, line] : lines) {
    line.cost = Cents(raw_cost[key]);
    report.total_cost += line.cost;  // the total is the sum of the lines as shown
    report.lines.push_back(std::move(line));
  }
  report.total_cost = Cents(report.total_cost);
  return report;
}

nlohmann::json ReportToJson(const Report& r) {
  nlohmann::json lines = nlohmann::json::array();
  for (const auto& l : r.lines) {
    nlohmann::json j = {{"quantities", QuantitiesToJson(l.q)}, {"cost", l.cost}};
    if (!l.tenant.empty()) j["tenant"] = l.tenant;
    if (!l.cloudlet.empty()) j["cloudlet"] = l.cloudlet;
    if (r.by_placement) j["placement"] = l.placement;  // empty: usage not tied to a placement
    if (!l.period.empty()) j["period"] = l.period;
    lines.push_back(std::move(j));
  }
  return {{"currency", r.currency},
          {"lines", lines},
          {"total", {{"quantities", QuantitiesToJson(r.total_q)}, {"cost", r.total_cost}}},
          {"unpriced_sums", r.unpriced}};
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string ReportToCsv(const Report& r) {
  std::string out = std::string("tenant,cloudlet,") + (r.by_placement ? "placement," : "") +
                    "period,cpu_core_s,mem_mib_s,net_in_bytes,net_out_bytes,gpu_s,instance_s,cost,currency\r\n";
  auto row = [&](const std::string& tenant, const std::string& cloudlet, const std::string& placement,
                 const std::string& period, const Quantities& q, double cost) {
    char amount[32];
    std::snprintf(amount, sizeof amount, "%.2f", cost);
    out += CsvField(tenant) + "," + CsvField(cloudlet) + "," + (r.by_placement ? CsvField(placement) + "," : "") +
           CsvField(period.empty() ? r.span : period) + "," + Number(q.cpu_core_s) + "," +
           Number(q.mem_mib_s) + "," + Number(q.net_in_bytes) + "," + Number(q.net_out_bytes) + "," +
           Number(q.gpu_s) + "," + Number(q.instance_s) + "," + amount + "," + CsvField(r.currency) + "\r\n";
  };
  for (const auto& l : r.lines) row(l.tenant, l.cloudlet, l.placement, l.period, l.q, l.cost);
  row("TOTAL", "", "", "", r.total_q, r.total_cost);
  return out;
}

}  // namespace cloudlet::metering
