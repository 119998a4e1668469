// Report latency over a month of usage: 1,000 tenants on 100 cloudlets, one record per tenant
// every 5 minutes (8.64 million records), in a real SQLite file. Times what GET /v1/reports/usage
// does on the ledger's worker: the store's sums and the rating. Usage: usage_report_bench [tenants]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "cloudlet/common/time_format.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/store/sqlite_stores.h"
#include "support/temp_dir.h"

using namespace cloudlet;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int tenants = argc > 1 ? std::max(1, std::atoi(argv[1])) : 1000;
  constexpr int kCloudlets = 100;
  constexpr int kIntervals = 30 * 24 * 12;  // 5-minute intervals in 30 days
  testing::TempDir dir;
  auto stores = store::OpenSqliteStores(dir.File("ledger.db"));
  if (!stores.ok()) return std::fprintf(stderr, "%s\n", stores.status().ToString().c_str()), 1;
  const auto month = *common::ParseRfc3339("2026-11-01T00:00:00Z", "t");

  const auto load_start = Clock::now();
  std::vector<metering::UsageRecord> batch;
  batch.reserve(10'000);
  size_t total = 0;
  for (int i = 0; i < kIntervals; ++i) {
    for (int t = 0; t < tenants; ++t) {
      metering::UsageRecord r;
      r.event_id = "t" + std::to_string(t) + "-" + std::to_string(i);
      r.tenant = "tenant-" + std::to_string(t);
      r.cloudlet = "cl-" + std::to_string((t + i / 288) % kCloudlets);  // tenants move between cloudlets daily
      r.start = month + std::chrono::minutes(5 * i);
      r.end = r.start + std::chrono::minutes(5);
      r.q.cpu_core_s = 300;
      r.q.mem_mib_s = 1024 * 300;
      batch.push_back(std::move(r));
      if (batch.size() == batch.capacity()) {
        if (auto s = stores->ledger->Append(batch); !s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
        total += batch.size();
        batch.clear();
      }
    }
    if (i % 864 == 0) std::fprintf(stderr, "\rloading: %3d%%", 100 * i / kIntervals);
  }
  if (!batch.empty()) (void)stores->ledger->Append(batch), total += batch.size();
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  std::fprintf(stderr, "\rloading: 100%%\n");

  metering::PriceBook book;
  book.Add(*metering::PriceVersionFromJson(nlohmann::json::parse(
      R"({"effective":"2026-01-01","prices":{"cpu_core_hour":0.05,"mem_gib_hour":0.005}})")));
  auto time_report = [&](const char* what, metering::ReportOptions options, const std::string& tenant) {
    std::vector<double> ms;
    size_t lines = 0;
    for (int run = 0; run < 5; ++run) {
      const auto t0 = Clock::now();
      auto sums = stores->ledger->Sum(month, month + std::chrono::hours(24 * 30), tenant, {.by_hour = options.by_hour});
      const auto report = metering::Rate(*sums, book, nullptr, options);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      lines = report.lines.size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-52s median %8.1f ms  (min %.1f, max %.1f; %zu lines)\n", what, ms[2], ms.front(), ms.back(), lines);
  };
  std::printf("usage report latency: %zu records (%d tenants x %d cloudlets, 5-minute records for 30 days), "
              "loaded in %.0f s (%.0f records/s in batches of 10,000); database %.0f MiB\n",
              total, tenants, kCloudlets, load_s, total / load_s,
              std::filesystem::file_size(dir.File("ledger.db")) / 1048576.0);
  time_report("month, group_by=tenant (operator)", {.by_tenant = true}, "");
  time_report("month, group_by=tenant,day (operator)", {.by_tenant = true, .by_day = true}, "");
  time_report("month, group_by=cloudlet,day, one tenant", {.by_cloudlet = true, .by_day = true}, "tenant-7");
  return 0;
}
