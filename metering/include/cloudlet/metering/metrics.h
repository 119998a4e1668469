// Operational metrics in the Prometheus text exposition format (version 0.0.4).
//
//   Metrics metrics;
//   auto& requests = metrics.AddCounter("cloudlet_http_requests_total", "HTTP requests", {"route", "status"});
//   requests.Inc({"/v1/cloudlets", "200"});
//   auto& latency = metrics.AddHistogram("cloudlet_http_request_seconds", "Latency", {"route"},
//                                        {0.001, 0.01, 0.1, 1});
//   latency.Observe({"/v1/cloudlets"}, 0.004);
//   metrics.AddGauge("cloudlet_registry_cloudlets", "Cloudlets by state", "state",
//                    [] { return std::vector<std::pair<std::string, double>>{{"healthy", 3}}; });
//   std::string text = metrics.Render();
//
// Thread-safe. Add* is for start-up; the returned references live as long as the Metrics.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cloudlet::metering {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void Inc(const LabelValues& labels, double by = 1);

 private:
  friend class Metrics;
  std::mutex mu_;
  std::map<LabelValues, double> values_;
};

class Histogram {
 public:
  void Observe(const LabelValues& labels, double value);

 private:
  friend class Metrics;
  struct Series {
    std::vector<uint64_t> bucket_counts;  // cumulative at render time only
    uint64_t count = 0;
    double sum = 0;
  };
  std::vector<double> bounds_;
  std::mutex mu_;
  std::map<LabelValues, Series> series_;
};

class Metrics {
 public:
  using GaugeFn = std::function<std::vector<std::pair<std::string, double>>()>;

  Counter& AddCounter(std::string name, std::string help, std::vector<std::string> label_names);
  Histogram& AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                          std::vector<double> bounds);
  // A gauge read at render time: one series per returned (label value, value).
  void AddGauge(std::string name, std::string help, std::string label_name, GaugeFn fn);

  std::string Render() const;

 private:
  struct Family {
    std::string name, help, type;
    std::vector<std::string> label_names;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Histogram> histogram;
    GaugeFn gauge;
  };
  static std::unique_ptr<Family> NewFamily(std::string name, std::string help, std::string type,
                                           std::vector<std::string> label_names);
  void Register(std::unique_ptr<Family> family);

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// Escapes a label value as the exposition format requires (backslash, quote, newline).
std::string EscapeLabelValue(const std::string& v);

}  // namespace cloudlet::metering
