// Prices and what usage costs.
//
//   PriceBook book;                                   // versions, each from a UTC day on
//   book.Add(version);                                // later `effective` wins from that day
//   auto report = Rate(sums, book, tier_of, {.by_tenant = true, .by_day = true});
//
// Prices are per unit (core-hour, GiB-hour, GiB, GPU-hour, instance-hour), optionally overridden
// per price tier (a cloudlet's `tier` label). Usage is rated with the version in force on its day,
// so old periods keep old prices. Amounts are rounded to the cent per report line.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cloudlet/common/status.h"
#include "cloudlet/metering/usage.h"

namespace cloudlet::metering {

struct UnitPrices {
  double cpu_core_hour = 0;
  double mem_gib_hour = 0;
  double net_in_gib = 0;
  double net_out_gib = 0;
  double gpu_hour = 0;
  double instance_hour = 0;
};

struct PriceVersion {
  std::string effective;  // "2026-11-01": from this UTC day on
  std::string currency = "USD";
  UnitPrices base;
  std::map<std::string, UnitPrices> tiers;  // by a cloudlet's `tier` label
};

common::Result<PriceVersion> PriceVersionFromJson(const nlohmann::json& j);
nlohmann::json PriceVersionToJson(const PriceVersion& v);

class PriceBook {
 public:
  // Replaces a version with the same effective day.
  void Add(PriceVersion v);
  // The version in force on `day` ("YYYY-MM-DD"), or null before the first.
  const PriceVersion* At(const std::string& day) const;
  std::vector<PriceVersion> Versions() const;

 private:
  std::map<std::string, PriceVersion> versions_;  // by effective day
};

// A PriceBook shared between threads: writers add versions, readers rate against a copy.
class SharedPriceBook {
 public:
  void Add(PriceVersion v) {
    std::lock_guard lock(mu_);
    book_.Add(std::move(v));
  }
  PriceBook Copy() const {
    std::lock_guard lock(mu_);
    return book_;
  }

 private:
  mutable std::mutex mu_;
  PriceBook book_;
};

// Durable price versions.
class PriceStore {
 public:
  virtual ~PriceStore() = default;
  virtual common::Result<std::vector<PriceVersion>> LoadPrices() = 0;
  virtual common::Status PutPrice(const PriceVersion& v) = 0;
  // True when other registries write prices to the same store (each then reloads them, every second).
  virtual bool shared() const { return false; }
};

// The cost of `q` at `prices`, unrounded.
double Cost(const Quantities& q, const UnitPrices& prices);

struct ReportOptions {
  bool by_tenant = false, by_cloudlet = false, by_placement = false, by_day = false, by_hour = false;
};

struct ReportLine {
  std::string tenant, cloudlet, placement, period;  // empty when not grouped by it
  Quantities q;
  double cost = 0;                        // rounded to the cent
};

struct Report {
  std::vector<ReportLine> lines;
  Quantities total_q;
  double total_cost = 0;
  std::string currency = "USD";
  size_t unpriced = 0;  // sums that fell before the first price version (cost 0)
  bool by_placement = false;  // the CSV has a placement column
  std::string span;           // "FROM/TO" (ISO 8601): the CSV's period of lines not grouped by day or hour
};

// `tier_of` gives a cloudlet's price tier ("" for none).
Report Rate(const std::vector<UsageSum>& sums, const PriceBook& book,
            const std::function<std::string(const std::string& cloudlet)>& tier_of, const ReportOptions& options);

nlohmann::json ReportToJson(const Report& r);
// RFC 4180: a header line (a placement column only when grouped by placement), CRLF line ends, fields with comma, quote, CR or LF quoted (quotes doubled).
std::string ReportToCsv(const Report& r);
std::string CsvField(const std::string& s);

}  // namespace cloudlet::metering
