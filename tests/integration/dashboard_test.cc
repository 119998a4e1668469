// The operator dashboard in a real browser: Debian's chromium, headless, against the real cloudletd.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "support/child_process.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string Chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

std::string Day(int days_ago) {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() - std::chrono::hours(24 * days_ago));
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    browser_ = Chromium();
    if (browser_.empty()) {
      if (std::getenv("CI")) FAIL() << "chromium is missing (scripts/install-deps installs it)";
      GTEST_SKIP() << "no chromium: scripts/install-deps installs it";
    }
    d_.Start();
    for (const char* t : {"acme", "globex"}) ASSERT_EQ(d_.Call("POST", "/v1/tenants", json{{"id", t}}.dump()).status, 201);
    ASSERT_EQ(d_.Call("PUT", "/v1/cloudlets/cl-dash",
                      json{{"endpoint", "http://10.1.0.1:8471"}, {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 16000}}},
                           {"isolation", {"vm"}}, {"wan_mbps", 1000}}
                          .dump())
                  .status,
              201);
    ASSERT_EQ(d_.Call("PUT", "/v1/prices", R"({"effective":"2020-01-01","prices":{"cpu_core_hour":0.10}})").status, 200);
    // Five days of usage: acme 10 core-hours a day, globex 4.
    json records = json::array();
    for (int day = 1; day <= 5; ++day) {
      for (auto [tenant, hours] : {std::pair{"acme", 10}, std::pair{"globex", 4}}) {
        const std::string start = Day(day) + "T06:00:00Z";
        records.push_back({{"event_id", std::string(tenant) + "-" + std::to_string(day)}, {"tenant", tenant},
                           {"cloudlet", "cl-dash"}, {"start", start}, {"end", start},
                           {"quantities", {{"cpu_core_s", hours * 3600}}}});
      }
    }
    ASSERT_EQ(d_.Json("POST", "/v1/usage", json{{"records", records}}.dump())["accepted"], 10);
    // A placement that runs on cl-dash, with the figures its agent's meter read.
    const json placed = d_.Json("POST", "/v1/placements",
                                json{{"app", {{"name", "ar"}, {"base_vm", "sha256:" + std::string(64, 'a')}, {"base_vm_mb", 100},
                                               {"overlay_mb", 10}, {"cpu_millis", 500}, {"mem_mb", 64}}},
                                     {"client", {{"geo", {{"lat", 10.0}, {"lon", 10.0}}}}}}
                                    .dump());
    placement_ = placed.value("placement_id", "");
    ASSERT_FALSE(placement_.empty()) << placed.dump();
    ASSERT_EQ(d_.Call("POST", "/v1/placements/" + placement_ + "/confirm", "").status, 200);
    ASSERT_EQ(d_.Call("POST", "/v1/placements/" + placement_ + "/status",
                      R"({"state":"running","endpoint":"10.1.0.1:40123"})").status, 200);
    const json taken = d_.Json("PUT", "/v1/cloudlets/cl-dash/workloads",
                               json{{"at", Day(0) + "T06:00:00Z"},
                                    {"workloads", {{{"placement_id", placement_}, {"cpu_millis", 487}, {"mem_mib", 33.5}}}}}
                                   .dump());
    ASSERT_EQ(taken["taken"], 1) << taken.dump();
  }

  RunResult Browse(const std::string& fragment, std::vector<std::string> extra) {
    std::vector<std::string> argv = {browser_, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                     "--user-data-dir=" + profile_.path(), "--virtual-time-budget=15000"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(d_.url() + "/ui/" + fragment);
    return RunCommand(argv, 90s);
  }

  std::string browser_;
  std::string placement_;
  CloudletdProcess d_;
  TempDir profile_;
};

TEST_F(DashboardTest, AnOperatorLogsInAndSeesTheFleetAndTheCharts) {
  const auto page = d_.Call("GET", "/ui/", {}, "");
  ASSERT_EQ(page.status, 200);  // the page itself holds no data
  EXPECT_NE(page.Header("content-security-policy").find("default-src 'self'"), std::string::npos);

  RunResult dom = Browse(std::string("#token=") + kOperatorToken, {"--dump-dom"});
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_NE(dom.out.find("data-ready=\"1\""), std::string::npos) << dom.out;
  EXPECT_NE(dom.out.find("<td>cl-dash</td>"), std::string::npos);
  EXPECT_NE(dom.out.find("The one cloudlet."), std::string::npos) << "the fleet is shown a page at a time";
  EXPECT_NE(dom.out.find("<td>http://10.1.0.1:8471</td>"), std::string::npos) << "the fleet shows endpoints";
  EXPECT_NE(dom.out.find(" s ago</td>"), std::string::npos) << "... and heartbeat ages";
  EXPECT_NE(dom.out.find("USD per day"), std::string::npos) << "the cost chart's unit";
  EXPECT_NE(dom.out.find("<rect"), std::string::npos) << "daily buckets as bars";
  EXPECT_NE(dom.out.find("class=\"chart\""), std::string::npos);
  EXPECT_NE(dom.out.find("data-tenant=\"acme\""), std::string::npos);
  EXPECT_NE(dom.out.find("data-tenant=\"globex\""), std::string::npos);
  EXPECT_NE(dom.out.find("5.00 USD"), std::string::npos) << "acme: 50 core-hours at 0.10";
  EXPECT_NE(dom.out.find("2.00 USD"), std::string::npos) << "globex: 20 core-hours at 0.10";
  // The placement list: state, endpoint and the live figures of what runs.
  EXPECT_NE(dom.out.find("<td>" + placement_ + "</td>"), std::string::npos) << dom.out;
  EXPECT_NE(dom.out.find("<td>" + placement_ + "</td><td>operator</td>"), std::string::npos) << "the operator's own";
  EXPECT_NE(dom.out.find("<td class=\"state-running\">running</td><td>10.1.0.1:40123</td>"), std::string::npos) << dom.out;
  EXPECT_NE(dom.out.find("<td class=\"num live-cpu\">487</td><td class=\"num live-mem\">33.5</td>"), std::string::npos)
      << dom.out;

  const std::string shot = std::string(CLOUDLET_BUILD_DIR) + "/dashboard.png";
  std::filesystem::remove(shot);
  RunResult png = Browse(std::string("#token=") + kOperatorToken, {"--window-size=1280,1000", "--screenshot=" + shot});
  ASSERT_EQ(png.exit_code, 0) << png.err;
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 20'000u);
}

TEST_F(DashboardTest, WithoutAnOperatorTokenItShowsOnlyTheLoginForm) {
  RunResult none = Browse("", {"--dump-dom"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.out.find("<form id=\"login\">"), std::string::npos) << none.out;  // shown
  EXPECT_EQ(none.out.find("data-ready"), std::string::npos);
  const std::string tenant =
      json::parse(d_.Call("POST", "/v1/tokens", json{{"role", "tenant"}, {"tenant", "acme"}}.dump()).body)["token"];
  RunResult wrong = Browse("#token=" + tenant, {"--dump-dom"});
  EXPECT_NE(wrong.out.find("Not an operator token."), std::string::npos) << wrong.out;
  EXPECT_EQ(wrong.out.find("<td>cl-dash</td>"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::testing
