#include "cloudlet/metering/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace cloudlet::metering {

void Counter::Inc(const LabelValues& labels, double by) {
  std::lock_guard lock(mu_);
  values_[labels] += by;
}

void Histogram::Observe(const LabelValues& labels, double value) {
  // Buckets are "less than or equal" (le); the +Inf bucket is the count.
  const size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  std::lock_guard lock(mu_);
  Series& s = series_[labels];
  if (s.bucket_counts.empty()) s.bucket_counts.assign(bounds_.size(), 0);
  if (bucket < bounds_.size()) ++s.bucket_counts[bucket];
  ++s.count;
  s.sum += value;
}

std::unique_ptr<Metrics::Family> Metrics::NewFamily(std::string name, std::string help, std::string type,
                                                   std::vector<std::string> label_names) {
  auto f = std::make_unique<Family>();
  f->name = std::move(name);
  f->help = std::move(help);
  f->type = std::move(type);
  f->label_names = std::move(label_names);
  return f;
}

void Metrics::Register(std::unique_ptr<Family> family) {
  std::lock_guard lock(mu_);
  families_.push_back(std::move(family));
}

Counter& Metrics::AddCounter(std::string name, std::string help, std::vector<std::string> label_names) {
  auto f = NewFamily(std::move(name), std::move(help), "counter", std::move(label_names));
  f->counter = std::make_unique<Counter>();
  Counter& c = *f->counter;
  Register(std::move(f));
  return c;
}

Histogram& Metrics::AddHistogram(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> bounds) {
  auto f = NewFamily(std::move(name), std::move(help), "histogram", std::move(label_names));
  f->histogram = std::make_unique<Histogram>();
  std::sort(bounds.begin(), bounds.end());
  f->histogram->bounds_ = std::move(bounds);
  Histogram& h = *f->histogram;
  Register(std::move(f));
  return h;
}

void Metrics::AddGauge(std::string name, std::string help, std::string label_name, GaugeFn fn) {
  auto f = NewFamily(std::move(name), std::move(help), "gauge", {std::move(label_name)});
  f->gauge = std::move(fn);
  Register(std::move(f));
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  char buf[32];
  // Shortest text that reads back as the same double.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string Labels(const std::vector<std::string>& names, const LabelValues& values, const std::string& extra = {}) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    if (!out.empty()) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? out : "{" + out + "}";
}

}  // namespace

std::string Metrics::Render() const {
  std::ostringstream out;
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    out << "# HELP " << f->name << ' ' << f->help << "\n# TYPE " << f->name << ' ' << f->type << '\n';
    if (f->counter) {
      std::lock_guard l(f->counter->mu_);
      for (const auto& [labels, v] : f->counter->values_) {
        out << f->name << Labels(f->label_names, labels) << ' ' << FormatValue(v) << '\n';
      }
    } else if (f->histogram) {
      const Histogram& h = *f->histogram;
      std::lock_guard l(f->histogram->mu_);
      for (const auto& [labels, s] : h.series_) {
        uint64_t cumulative = 0;
        for (size_t i = 0; i < h.bounds_.size(); ++i) {
          cumulative += s.bucket_counts[i];
          out << f->name << "_bucket" << Labels(f->label_names, labels, "le=\"" + FormatValue(h.bounds_[i]) + "\"")
              << ' ' << cumulative << '\n';
        }
        out << f->name << "_bucket" << Labels(f->label_names, labels, "le=\"+Inf\"") << ' ' << s.count << '\n';
        out << f->name << "_sum" << Labels(f->label_names, labels) << ' ' << FormatValue(s.sum) << '\n';
        out << f->name << "_count" << Labels(f->label_names, labels) << ' ' << s.count << '\n';
      }
    } else if (f->gauge) {
      for (const auto& [label, v] : f->gauge()) {
        out << f->name << Labels(f->label_names, {label}) << ' ' << FormatValue(v) << '\n';
      }
    }
  }
  return out.str();
}

}  // namespace cloudlet::metering
