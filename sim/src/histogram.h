// Weighted latency histogram with logarithmic bins (0.1% wide, from 0.01 ms to 1,000 s): quantiles
// and a CDF that do not depend on the order of samples, so outputs are identical run to run.
#pragma once

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace cloudlet::sim {

class Histogram {
 public:
  static constexpr double kMinMs = 0.01;
  static constexpr double kGrowth = 1.001;
  static constexpr size_t kBins = 18'500;  // kMinMs * kGrowth^kBins > 1e6 ms

  void Add(double ms, double weight) {
    if (bins_.empty()) bins_.assign(kBins, 0.0);
    bins_[Bin(ms)] += weight;
    weight_ += weight;
    sum_ += weight * ms;
  }
  double Mean() const { return weight_ > 0 ? sum_ / weight_ : 0; }
  // The geometric middle of the bin where the cumulative weight reaches q.
  double Quantile(double q) const {
    if (weight_ <= 0) return 0;
    double acc = 0;
    for (size_t b = 0; b < bins_.size(); ++b) {
      acc += bins_[b];
      if (acc >= q * weight_) return Middle(b);
    }
    return Middle(kBins - 1);
  }
  // (ms, share at or below) at `points` points spread evenly on a log scale from 0.1 ms to the
  // 99.9th percentile.
  std::vector<std::pair<double, double>> Cdf(size_t points = 200) const {
    std::vector<std::pair<double, double>> out;
    if (weight_ <= 0) return out;
    const double lo = 0.1, hi = std::max(1.0, Quantile(0.999));
    double acc = 0;
    size_t b = 0;
    for (size_t i = 0; i <= points; ++i) {
      const double x = lo * std::pow(hi / lo, static_cast<double>(i) / static_cast<double>(points));
      for (; b < bins_.size() && Middle(b) <= x; ++b) acc += bins_[b];
      out.emplace_back(x, acc / weight_);
    }
    return out;
  }

 private:
  static size_t Bin(double ms) {
    if (!(ms > kMinMs)) return 0;
    static const double inv_log = 1 / std::log(kGrowth);
    return std::min(kBins - 1, static_cast<size_t>(std::log(ms / kMinMs) * inv_log) + 1);
  }
  static double Middle(size_t b) { return b == 0 ? kMinMs / 2 : kMinMs * std::pow(kGrowth, static_cast<double>(b) - 0.5); }

  std::vector<double> bins_;
  double weight_ = 0, sum_ = 0;
};

}  // namespace cloudlet::sim
