#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "cloudlet/metering/metrics.h"

namespace cloudlet::metering {
namespace {

TEST(MetricsTest, RendersCountersInExpositionFormat) {
  Metrics m;
  auto& c = m.AddCounter("reqs_total", "Requests", {"route", "status"});
  c.Inc({"/v1/cloudlets", "200"});
  c.Inc({"/v1/cloudlets", "200"});
  c.Inc({"/v1/cloudlets", "404"}, 3);
  const std::string text = m.Render();
  EXPECT_NE(text.find("# HELP reqs_total Requests\n# TYPE reqs_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("reqs_total{route=\"/v1/cloudlets\",status=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("reqs_total{route=\"/v1/cloudlets\",status=\"404\"} 3\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  Metrics m;
  auto& h = m.AddHistogram("lat_seconds", "Latency", {"route"}, {0.125, 0.5, 2});
  // Binary fractions, so that the sum is exact.
  for (double v : {0.0625, 0.125, 0.25, 1.0, 4.0}) h.Observe({"r"}, v);
  const std::string text = m.Render();
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"r\",le=\"0.125\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"r\",le=\"0.5\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"r\",le=\"2\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{route=\"r\",le=\"+Inf\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count{route=\"r\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_sum{route=\"r\"} 5.4375\n"), std::string::npos);
}

TEST(MetricsTest, GaugesAreReadAtRenderTimeAndLabelsEscaped) {
  Metrics m;
  double healthy = 1;
  m.AddGauge("cloudlets", "By state", "state", [&] {
    return std::vector<std::pair<std::string, double>>{{"healthy", healthy}, {"we\"ird\\\n", 0}};
  });
  healthy = 4;
  const std::string text = m.Render();
  EXPECT_NE(text.find("cloudlets{state=\"healthy\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("cloudlets{state=\"we\\\"ird\\\\\\n\"} 0\n"), std::string::npos) << text;
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  Metrics m;
  auto& c = m.AddCounter("n_total", "N", {});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) c.Inc({});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(m.Render().find("n_total 80000\n"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::metering
