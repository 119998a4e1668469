#include <gtest/gtest.h>

#include "cloudlet/common/time_format.h"
#include "cloudlet/metering/rating.h"
#include "cloudlet/metering/usage.h"

namespace cloudlet::metering {
namespace {

using nlohmann::json;

const common::TimePoint kNow = *common::ParseRfc3339("2026-11-27T12:00:00Z", "t");

json Record(json overrides = json::object()) {
  json j = {{"event_id", "e-1"}, {"tenant", "acme"}, {"cloudlet", "cl-a"}, {"start", "2026-11-27T10:00:00Z"},
            {"end", "2026-11-27T11:00:00Z"}, {"quantities", {{"cpu_core_s", 3600}}}};
  j.merge_patch(overrides);
  return j;
}

TEST(UsageRecord, ParsesAndRejectsWhatAloneIsWrongNamingTheField) {
  auto r = UsageRecordFromJson(Record(), "records[0]", kNow);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->q.cpu_core_s, 3600);
  struct Case {
    json patch;
    std::string field;
  } cases[] = {
      {{{"end", "2026-11-27T09:00:00Z"}}, "records[0].end"},
      {{{"end", "2026-11-28T11:00:00Z"}}, "records[0].end"},  // in the future
      {{{"quantities", {{"cpu_core_s", -1}}}}, "records[0].quantities.cpu_core_s"},
      {{{"event_id", ""}}, "records[0].event_id"},
      {{{"event_id", "a b"}}, "records[0].event_id"},
      {{{"tenant", nullptr}}, "records[0].tenant"},
      {{{"kind", "refund"}}, "records[0].kind"},
      {{{"start", "yesterday"}}, "records[0].start"},
      {{{"quantities", {{"gpu_s", "lots"}}}}, "records[0].quantities.gpu_s"},
  };
  for (const auto& c : cases) {
    auto bad = UsageRecordFromJson(Record(c.patch), "records[0]", kNow);
    ASSERT_FALSE(bad.ok()) << c.patch.dump();
    EXPECT_EQ(bad.status().field(), c.field) << bad.status().ToString();
  }
  // An adjustment may take usage back.
  EXPECT_TRUE(UsageRecordFromJson(Record({{"kind", "adjustment"}, {"quantities", {{"cpu_core_s", -1800}}}}), "r", kNow).ok());
}

PriceVersion Version(const std::string& day, double cpu, double gold_cpu = -1) {
  json j = {{"effective", day}, {"prices", {{"cpu_core_hour", cpu}, {"instance_hour", 0.5}}}};
  if (gold_cpu >= 0) j["tiers"] = {{"gold", {{"cpu_core_hour", gold_cpu}}}};
  auto v = PriceVersionFromJson(j);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return *v;
}

UsageSum Sum(const std::string& tenant, const std::string& cloudlet, const std::string& day, double core_hours) {
  UsageSum s{tenant, cloudlet, "", day, {}};
  s.q.cpu_core_s = core_hours * 3600;
  return s;
}

TEST(Rating, OldPeriodsKeepOldPricesAcrossAPriceChange) {
  PriceBook book;
  book.Add(Version("2026-11-01", 0.10));
  book.Add(Version("2026-11-15", 0.30));
  const std::vector<UsageSum> sums = {Sum("acme", "cl-a", "2026-11-14", 10), Sum("acme", "cl-a", "2026-11-15", 10),
                                      Sum("acme", "cl-a", "2026-10-31", 10)};
  Report r = Rate(sums, book, nullptr, {.by_tenant = true, .by_day = true});
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_EQ(r.lines[0].period, "2026-10-31");
  EXPECT_EQ(r.lines[0].cost, 0);  // before any price
  EXPECT_EQ(r.unpriced, 1u);
  EXPECT_DOUBLE_EQ(r.lines[1].cost, 1.00);  // 10 core-hours at 0.10
  EXPECT_DOUBLE_EQ(r.lines[2].cost, 3.00);  // at 0.30 from the 15th
  EXPECT_DOUBLE_EQ(r.total_cost, 4.00);
  EXPECT_DOUBLE_EQ(r.total_q.cpu_core_s, 30 * 3600);
}

TEST(Rating, TiersOverrideOnlyWhatTheyNameAndLinesRoundToTheCent) {
  PriceBook book;
  book.Add(Version("2026-01-01", 0.10, 0.25));
  std::vector<UsageSum> sums = {Sum("acme", "cl-gold", "2026-11-27", 1), Sum("acme", "cl-plain", "2026-11-27", 1),
                                Sum("globex", "cl-plain", "2026-11-27", 0.333)};
  sums[1].q.instance_s = 1800;  // half an instance-hour at 0.5, the same in the gold tier
  Report r = Rate(sums, book, [](const std::string& c) { return c == "cl-gold" ? "gold" : ""; },
                  {.by_tenant = true, .by_cloudlet = true});
  ASSERT_EQ(r.lines.size(), 3u);
  EXPECT_DOUBLE_EQ(r.lines[0].cost, 0.25);
  EXPECT_DOUBLE_EQ(r.lines[1].cost, 0.35);
  EXPECT_DOUBLE_EQ(r.lines[2].cost, 0.03);  // 0.0333 rounds to 3 cents
  EXPECT_DOUBLE_EQ(r.total_cost, 0.63);     // the sum of the lines as shown
}

TEST(Rating, BadPriceVersionsNameTheField) {
  EXPECT_EQ(PriceVersionFromJson({{"effective", "2026-13-01"}, {"prices", json::object()}}).status().field(), "effective");
  EXPECT_EQ(PriceVersionFromJson({{"effective", "2026-11-01"}}).status().field(), "prices");
  EXPECT_EQ(PriceVersionFromJson({{"effective", "2026-11-01"}, {"prices", {{"gpu_hour", -1}}}}).status().field(), "prices");
  EXPECT_EQ(PriceVersionFromJson({{"effective", "2026-11-01"}, {"currency", "dollars"}, {"prices", json::object()}})
                .status().field(),
            "currency");
}

TEST(Csv, QuotesWhatNeedsQuotingAndEndsLinesWithCrlf) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  Report r;
  r.lines.push_back({"acme,inc", "cl-a", "", "2026-11-27", {}, 1.5});
  r.total_cost = 1.5;
  const std::string csv = ReportToCsv(r);
  EXPECT_EQ(csv.substr(0, csv.find("\r\n")),
            "tenant,cloudlet,period,cpu_core_s,mem_mib_s,net_in_bytes,net_out_bytes,gpu_s,instance_s,cost,currency");
  EXPECT_NE(csv.find("\"acme,inc\",cl-a,2026-11-27,0,0,0,0,0,0,1.50,USD\r\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("TOTAL,,,0,0,0,0,0,0,1.50,USD\r\n"), std::string::npos) << csv;
}

TEST(Rate, GroupedByPlacementKeepsEachPlacementOnItsOwnLineAndInTheCsv) {
  PriceBook book;
  book.Add({.effective = "2026-01-01", .currency = "USD", .base = {.cpu_core_hour = 3.6}, .tiers = {}});
  const std::vector<UsageSum> sums = {{"acme", "cl-a", "pl-1", "2026-11-27", {.cpu_core_s = 100}},
                                      {"acme", "cl-a", "pl-2", "2026-11-27", {.cpu_core_s = 50}},
                                      {"acme", "cl-b", "pl-1", "2026-11-28", {.cpu_core_s = 10}}};
  const Report r = Rate(sums, book, nullptr, {.by_tenant = true, .by_placement = true});
  ASSERT_EQ(r.lines.size(), 2u);
  EXPECT_EQ(r.lines[0].placement, "pl-1");
  EXPECT_DOUBLE_EQ(r.lines[0].q.cpu_core_s, 110);
  EXPECT_DOUBLE_EQ(r.lines[0].cost, 0.11);
  EXPECT_EQ(r.lines[1].placement, "pl-2");
  EXPECT_EQ(ReportToJson(r)["lines"][1]["placement"], "pl-2");
  const std::string csv = ReportToCsv(r);
  EXPECT_TRUE(csv.starts_with("tenant,cloudlet,placement,period,cpu_core_s,")) << csv;
  EXPECT_NE(csv.find("acme,,pl-2,,50,"), std::string::npos) << csv;
  EXPECT_FALSE(ReportToJson(Rate(sums, book, nullptr, {.by_tenant = true}))["lines"][0].contains("placement"));
}

}  // namespace
}  // namespace cloudlet::metering
