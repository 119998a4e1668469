#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "cloudlet/sim/report.h"
#include "cloudlet/sim/simulator.h"
#include "kalman.h"
#include "support/temp_dir.h"

namespace cloudlet::sim {
namespace {

using cloudlet::testing::TempDir;
using nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Scenario Bundled(const std::string& name, double duration_s) {
  auto s = LoadScenario(std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/" + name + ".json");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  s->duration_s = duration_s;
  return *s;
}

const PolicySummary& Row(const SimResult& r, const std::string& policy) {
  for (const auto& p : r.summary) {
    if (p.policy == policy) return p;
  }
  throw std::runtime_error("no row for " + policy);
}

// One user standing 500 m from one cloudlet, no jitter: every figure can be worked out by hand.
TEST(SimulatorTest, ATinyScenarioGivesTheHandComputedNumbers) {
  TempDir dir;
  std::ofstream(dir.File("still.csv")) << "t,user,x,y\n0,u,300,400\n";
  const json j = json::parse(R"({
    "name": "tiny", "duration_s": 100, "step_s": 1,
    "area": {"width_m": 1000, "height_m": 1000},
    "apps": [{"name": "ar", "share": 1, "base_vm_mb": 100, "overlay_mb": 10, "cpu_millis": 1000, "mem_mb": 100,
              "service_ms": 10, "req_rate_hz": 10, "session_s": 100, "max_rtt_ms": 30}],
    "cloudlets": [{"id": "only", "x_m": 0, "y_m": 0, "cpu_millis": 10000, "base_load": 0.1, "wan_mbps": 100}],
    "users": {"stagger_sessions": false, "mobility": {"model": "trace", "file": "still.csv"}},
    "network": {"access_ms": 4, "per_km_ms": 10, "jitter_ms": 0, "cloud_rtt_ms": 500}
  })");
  std::ofstream(dir.File("tiny.json")) << j.dump();
  auto s = LoadScenario(dir.File("tiny.json"));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto r = Simulate(*s, {.policies = {"cost", "nearest", "optimal"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Network: 4 + 10 ms/km x 0.5 km = 9 ms. Queueing: utilisation 0.1 + 1000/10000 = 0.2, so
  // 10 / (1 - 0.2) = 12.5 ms. Together 21.5 ms.
  // Provisioning without a cached base VM: 1 s overhead + 100 MB x 8 / 100 Mb/s = 8 s, then the
  // overlay: 2.5 s launch + max(10 x 8 / 100, 10 / 120, 10 / 150) = 0.8 s (nothing hidden): 12.3 s.
  // Spread over the session's 10 Hz x 100 s = 1000 requests: 12.3 ms more per request.
  // Requests in the first 13 steps (t = 0..12, before 12.3 s) find the app not running: 13% over SLA.
  for (const char* policy : {"cost", "nearest"}) {
    const PolicySummary& p = Row(*r, policy);
    EXPECT_NEAR(p.mean_ms, 21.5, 1e-9) << policy;
    EXPECT_NEAR(p.p50_ms, 21.5, 21.5 * 0.001) << policy;
    EXPECT_NEAR(p.total_mean_ms, 21.5 + 12.3, 1e-9) << policy;
    EXPECT_NEAR(p.provision_mean_s, 12.3, 1e-9) << policy;
    EXPECT_EQ(p.provisions, 1u) << policy;
    EXPECT_EQ(p.cache_hit_pct, 0) << policy;
    EXPECT_NEAR(p.sla_violation_pct, 13, 1e-9) << policy;
    EXPECT_EQ(p.migrations, 0u) << policy;
    EXPECT_NEAR(p.jain, 1, 1e-12) << policy;
  }
  // The optimum is the same assignment, and its flow value the same number.
  EXPECT_NEAR(Row(*r, "optimal").mean_ms, 21.5, 1e-9);
  for (const auto& check : r->optimal_checks) EXPECT_NEAR(check.optimal_mean_ms, 21.5, 1e-9);
}

TEST(SimulatorTest, TheSameSeedGivesByteIdenticalOutputs) {
  Scenario s = Bundled("campus", 120);
  TempDir a, b, c;
  auto first = Simulate(s, {});
  auto second = Simulate(s, {.threads = 1});  // however the policies are spread over threads
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(WriteOutputs(a.path(), s, *first).ok());
  ASSERT_TRUE(WriteOutputs(b.path(), s, *second).ok());
  for (const char* f : {"summary.csv", "summary.json", "summary.md", "timeseries.csv", "map.svg", "cdf.svg", "load.svg"}) {
    const std::string x = Slurp(a.File(f)), y = Slurp(b.File(f));
    EXPECT_FALSE(x.empty()) << f;
    EXPECT_EQ(x, y) << f << " differs between two runs";
  }
  // A different seed changes the users' tracks and so the results.
  s.seed += 1;
  auto third = Simulate(s, {});
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(WriteOutputs(c.path(), s, *third).ok());
  EXPECT_NE(Slurp(a.File("summary.csv")), Slurp(c.File("summary.csv")));
}

TEST(SimulatorTest, TheOptimumIsNeverWorseThanAnyPolicyAtAnyStep) {
  // Campus at every step (users alone); a shortened city (mixed apps, users grouped by cell).
  for (auto [name, duration] : {std::pair{"campus", 300.0}, std::pair{"city", 120.0}}) {
    Scenario s = Bundled(name, duration);
    if (std::string(name) == "city") {
      s.users = 600;
      s.optimal.every_s = 5;
    }
    auto r = Simulate(s, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_GT(r->optimal_checks.size(), 10u);
    for (const auto& check : r->optimal_checks) {
      for (size_t i = 0; i < check.policy_mean_ms.size(); ++i) {
        if (std::isnan(check.policy_mean_ms[i])) continue;
        EXPECT_LE(check.optimal_mean_ms, check.policy_mean_ms[i] + 1e-6)
            << name << " t=" << check.t_s << " " << r->policies[i];
      }
    }
  }
}

TEST(SimulatorTest, UnknownPoliciesAreRefusedByName) {
  auto r = Simulate(Bundled("campus", 10), {.policies = {"cost", "psychic"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().field(), "policies");
  EXPECT_NE(r.status().message().find("psychic"), std::string::npos);
}

TEST(SimulatorTest, OutputsHoldEveryPolicyAndColumn) {
  Scenario s = Bundled("highway", 60);
  s.users = 50;
  auto r = Simulate(s, {});
  ASSERT_TRUE(r.ok());
  TempDir dir;
  ASSERT_TRUE(WriteOutputs(dir.path(), s, *r).ok());
  const json summary = json::parse(Slurp(dir.File("summary.json")));
  ASSERT_EQ(summary["policies"].size(), AllPolicies().size());
  for (const char* key : {"mean_ms", "p50_ms", "p95_ms", "p99_ms", "total_mean_ms", "total_p95_ms", "sla_violation_pct",
                          "migrations_per_user_hour", "downtime_s", "provision_mean_s", "provision_p95_s", "cache_hit_pct", "jain"}) {
    EXPECT_TRUE(summary["policies"][0].contains(key)) << key;
  }
  const std::string csv = Slurp(dir.File("summary.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + static_cast<long>(AllPolicies().size()));
  EXPECT_NE(Slurp(dir.File("timeseries.csv")).find("t_s,policy,mean_ms"), std::string::npos);
  EXPECT_NE(Slurp(dir.File("timing.csv")).find("decision_mean_us"), std::string::npos);
  for (const char* svg : {"map.svg", "cdf.svg", "load.svg"}) {
    const std::string text = Slurp(dir.File(svg));
    EXPECT_EQ(text.rfind("<svg", 0), 0u) << svg;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << svg;
  }
}

TEST(PositionFilterTest, PredictsAStraightWalkAhead) {
  PositionFilter f;
  const PredictSettings settings{.horizon_s = 10, .process_noise = 0.5, .measurement_noise_m = 1};
  for (int t = 0; t <= 30; t += 2) f.Observe(t, {10.0 + 3.0 * t, 20.0 + 1.0 * t}, settings);
  const Position ahead = f.Predict(10, {1000, 1000});
  EXPECT_NEAR(ahead.x_m, 10 + 3 * 40, 2);
  EXPECT_NEAR(ahead.y_m, 20 + 40, 2);
  EXPECT_NEAR(f.Predict(1e6, {1000, 1000}).x_m, 1000, 1e-9);  // never outside the area
}

// The textbook filter, with 4 x 4 matrices over (x, y, vx, vy): PositionFilter's per-axis form
// must agree with it.
class MatrixFilter {
 public:
  void Observe(double t, Position p, const PredictSettings& s) {
    const double r = s.measurement_noise_m * s.measurement_noise_m;
    if (!started_) {
      x_ << p.x_m, p.y_m, 0, 0;
      P_ = Eigen::Matrix4d::Identity() * 100;
      P_(0, 0) = P_(1, 1) = r;
      t_ = t;
      started_ = true;
      return;
    }
    const double dt = t - t_;
    t_ = t;
    Eigen::Matrix4d F = Eigen::Matrix4d::Identity();
    F(0, 2) = F(1, 3) = dt;
    const double q2 = s.process_noise * s.process_noise;
    Eigen::Matrix4d Q = Eigen::Matrix4d::Zero();
    Q(0, 0) = Q(1, 1) = dt * dt * dt * dt / 4 * q2;
    Q(0, 2) = Q(2, 0) = Q(1, 3) = Q(3, 1) = dt * dt * dt / 2 * q2;
    Q(2, 2) = Q(3, 3) = dt * dt * q2;
    x_ = F * x_;
    P_ = F * P_ * F.transpose() + Q;
    const Eigen::Matrix2d S = P_.topLeftCorner<2, 2>() + Eigen::Matrix2d::Identity() * r;
    const Eigen::Matrix<double, 4, 2> K = P_.leftCols<2>() * S.inverse();
    x_ += K * Eigen::Vector2d(p.x_m - x_(0), p.y_m - x_(1));
    P_ -= K * P_.topRows<2>();
  }
  Eigen::Vector4d state() const { return x_; }

 private:
  Eigen::Vector4d x_ = Eigen::Vector4d::Zero();
  Eigen::Matrix4d P_ = Eigen::Matrix4d::Identity();
  double t_ = 0;
  bool started_ = false;
};

TEST(PositionFilterTest, EqualsTheMatrixFilter) {
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0, 1);
  const PredictSettings settings{.horizon_s = 10, .process_noise = 0.7, .measurement_noise_m = 4};
  PositionFilter f;
  MatrixFilter m;
  double t = 0;
  Position at{1e5, 1e5};  // far from the area's edges, where Predict clamps
  for (int i = 0; i < 400; ++i) {
    t += 0.5 + 20 * u(rng);
    at = {at.x_m + 30 * (u(rng) - 0.3), at.y_m + 30 * (u(rng) - 0.6)};
    f.Observe(t, at, settings);
    m.Observe(t, at, settings);
    const Position ahead = f.Predict(1, {1e9, 1e9});
    const Eigen::Vector4d x = m.state();
    ASSERT_NEAR(ahead.x_m, x(0) + x(2), 1e-6 * std::abs(x(0)) + 1e-9) << "fix " << i;
    ASSERT_NEAR(ahead.y_m, x(1) + x(3), 1e-6 * std::abs(x(1)) + 1e-9) << "fix " << i;
    ASSERT_NEAR(f.velocity().x_m, x(2), 1e-6) << "fix " << i;
    ASSERT_NEAR(f.velocity().y_m, x(3), 1e-6) << "fix " << i;
  }
}

}  // namespace
}  // namespace cloudlet::sim
