// Weighted latency histogram with log-linear bins (1,024 per power of two, 0.05% to 0.1% wide, from
// 0.01 ms to about 2,000 s, as HdrHistogram does): a sample's bin is read off the bits of its double,
// with no logarithm, as the simulator adds one per user per step per policy. Quantiles and a CDF do
// not depend on the order of samples, so outputs are identical run to run.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <utility>
#include <vector>

namespace cloudlet::sim {

class Histogram {
 public:
  static constexpr double kMinMs = 0.01;        // at or below: bin 0
  static constexpr int kSubBits = 10;            // 1,024 bins per power of two
  static constexpr int kMinExp = -7, kMaxExp = 20;  // 2^-7 ms < kMinMs; 2^21 ms ~ 35 minutes
  static constexpr size_t kBins = (static_cast<size_t>(kMaxExp - kMinExp + 1) << kSubBits) + 1;

  Histogram() : bins_(kBins, 0.0) {}

  void Add(double ms, double weight) {
    AddToBin(ms, weight);
    AddTotals(weight, weight * ms);
  }
  // For a caller that adds many samples at once: each sample's bin, then the batch's totals
  // (its weight, and the sum of weight x ms).
  void AddToBin(double ms, double weight) { bins_[Bin(ms)] += weight; }
  void AddTotals(double weight, double weighted_ms) {
    weight_ += weight;
    sum_ += weighted_ms;
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
    const auto bits = std::bit_cast<uint64_t>(ms);
    const int exponent = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
    if (exponent > kMaxExp) return kBins - 1;
    const auto sub = static_cast<size_t>((bits >> (52 - kSubBits)) & ((uint64_t{1} << kSubBits) - 1));
    return 1 + (static_cast<size_t>(exponent - kMinExp) << kSubBits) + sub;
  }
  // The geometric middle of a bin's range.
  static double Middle(size_t b) {
    if (b == 0) return kMinMs / 2;
    const size_t i = b - 1;
    const int exponent = kMinExp + static_cast<int>(i >> kSubBits);
    const double sub = static_cast<double>(i & ((size_t{1} << kSubBits) - 1));
    const double lo = std::ldexp(1 + sub / (1 << kSubBits), exponent), hi = std::ldexp(1 + (sub + 1) / (1 << kSubBits), exponent);
    return std::sqrt(lo * hi);
  }

  std::vector<double> bins_;
  double weight_ = 0, sum_ = 0;
};

}  // namespace cloudlet::sim
