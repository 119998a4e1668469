#include "cloudlet/sim/report.h"

#include <algorithm>
#include <string_view>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cloudlet/common/files.h"

namespace cloudlet::sim {

namespace {

using common::Status;

// Colours for up to eight policies (colour-blind friendly, Okabe-Ito).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"};
const char* Colour(size_t i) { return kColours[i % 8]; }
// Dash patterns, one per curve: "none" (solid), then dashes of other lengths.
const char* Dashes(size_t i) {
  static const char* kDashes[] = {"none", "7 3", "2 2", "10 3 2 3", "4 4", "1 3", "12 4"};
  return kDashes[i % std::size(kDashes)];
}

struct Column {
  const char* name;
  const char* heading;
  int decimals;
  double (*get)(const PolicySummary&);
};

// `optimal` minimises the mean of network plus queueing: that column is a bound, the others are
// not, and are left out of its row.
bool Shown(const PolicySummary& p, const char* column) {
  return p.policy != "optimal" || std::string_view(column) == "mean_ms";
}

const Column kColumns[] = {
    {"mean_ms", "mean ms", 2, [](const PolicySummary& p) { return p.mean_ms; }},
    {"p50_ms", "p50", 2, [](const PolicySummary& p) { return p.p50_ms; }},
    {"p95_ms", "p95", 2, [](const PolicySummary& p) { return p.p95_ms; }},
    {"p99_ms", "p99", 2, [](const PolicySummary& p) { return p.p99_ms; }},
    {"total_mean_ms", "wait mean ms", 2, [](const PolicySummary& p) { return p.total_mean_ms; }},
    {"total_p95_ms", "wait p95", 2, [](const PolicySummary& p) { return p.total_p95_ms; }},
    {"total_p99_ms", "wait p99", 2, [](const PolicySummary& p) { return p.total_p99_ms; }},
    {"sla_violation_pct", "over SLA %", 2, [](const PolicySummary& p) { return p.sla_violation_pct; }},
    {"cloud_pct", "cloud %", 2, [](const PolicySummary& p) { return p.cloud_pct; }},
    {"migrations_per_user_hour", "migr./user-h", 3, [](const PolicySummary& p) { return p.migrations_per_user_hour; }},
    {"downtime_s", "downtime s", 1, [](const PolicySummary& p) { return p.downtime_s; }},
    {"provision_mean_s", "prov. mean s", 2, [](const PolicySummary& p) { return p.provision_mean_s; }},
    {"provision_p95_s", "prov. p95 s", 2, [](const PolicySummary& p) { return p.provision_p95_s; }},
    {"cache_hit_pct", "cache hit %", 1, [](const PolicySummary& p) { return p.cache_hit_pct; }},
    {"jain", "Jain", 3, [](const PolicySummary& p) { return p.jain; }},
};

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "nan";
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s == "-0" || s.find_first_not_of("-0.") == std::string::npos) s.erase(0, s[0] == '-');  // no "-0.00"
  return s;
}

std::string SummaryCsv(const SimResult& r) {
  std::string out = "policy";
  for (const Column& c : kColumns) out += std::string(",") + c.name;
  out += ",migrations,provisions\n";
  for (const PolicySummary& p : r.summary) {
    out += p.policy;
    for (const Column& c : kColumns) out += "," + (Shown(p, c.name) ? Fixed(c.get(p), c.decimals) : "");
    out += fmt::format(",{},{}\n", p.migrations, p.provisions);
  }
  return out;
}

std::string SummaryJson(const Scenario& s, const SimResult& r) {
  nlohmann::ordered_json j;
  j["scenario"] = s.name;
  j["seed"] = s.seed;
  j["users"] = s.users;
  j["cloudlets"] = s.cloudlets.size();
  j["duration_s"] = s.duration_s;
  j["step_s"] = s.step_s;
  auto& rows = j["policies"] = nlohmann::ordered_json::array();
  for (const PolicySummary& p : r.summary) {
    nlohmann::ordered_json row;
    row["policy"] = p.policy;
    // Rounded as in the CSV, so that the JSON is as stable as the table.
    for (const Column& c : kColumns) {
      row[c.name] = Shown(p, c.name) ? nlohmann::ordered_json(std::stod(Fixed(c.get(p), c.decimals))) : nullptr;
    }
    row["migrations"] = p.migrations;
    row["provisions"] = p.provisions;
    rows.push_back(row);
  }
  return j.dump(2) + "\n";
}

std::string Timing(const SimResult& r) {
  std::string out = "policy,decisions,decision_mean_us\n";
  for (const PolicySummary& p : r.summary) out += fmt::format("{},{},{:.2f}\n", p.policy, p.decisions, p.decision_mean_us);
  out += fmt::format("wall_s,,{:.2f}\n", r.wall_s);
  return out;
}

std::string Series(const SimResult& r) {
  std::string out = "t_s,policy,mean_ms,total_mean_ms,sla_violation_pct,on_cloud,migrations\n";
  for (const SeriesRow& row : r.series) {
    out += fmt::format("{},{},{},{},{},{},{}\n", Fixed(row.t_s, 1), r.policies[static_cast<size_t>(row.policy)],
                       Fixed(row.mean_ms, 3), Fixed(row.total_mean_ms, 3), Fixed(row.sla_violation_pct, 2), row.on_cloud,
                       row.migrations);
  }
  return out;
}

// --- SVG -------------------------------------------------------------------------------------------

std::string SvgOpen(double w, double h, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<title>{2}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{3}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\">{2}</text>\n",
      w, h, title, w / 2);
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// A round step (1, 2 or 5 times a power of ten) near a fifth of `range`.
double NiceStep(double range) {
  const double raw = range / 5, mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

std::string MapSvg(const Scenario& s, const SimResult& r) {
  const double W = 720, margin = 40;
  const double scale = (W - 2 * margin) / s.area.width_m;
  const double H = s.area.height_m * scale + 2 * margin + 20;
  auto X = [&](double x) { return Fixed(margin + x * scale, 1); };
  auto Y = [&](double y) { return Fixed(H - margin - y * scale, 1); };
  std::string out = SvgOpen(W, H, Escape(s.name) + ": cloudlets and a sample of user tracks");
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f7f7f7\" stroke=\"#999\"/>\n", X(0), Y(s.area.height_m),
                     Fixed(s.area.width_m * scale, 1), Fixed(s.area.height_m * scale, 1));
  for (size_t u = 0; u < r.tracks.size(); ++u) {
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.2\" stroke-opacity=\"0.7\" points=\"", Colour(u));
    for (const Position& p : r.tracks[u]) out += X(p.x_m) + "," + Y(p.y_m) + " ";
    out += "\"/>\n";
  }
  // Cloudlets: circles whose area is proportional to capacity (half transparent, so that close ones
  // show through each other), labelled with their ids.
  double max_cpu = 1;
  for (const auto& c : s.cloudlets) max_cpu = std::max(max_cpu, static_cast<double>(c.cpu_millis));
  for (const auto& c : s.cloudlets) {
    const double radius = 2 + 10 * std::sqrt(static_cast<double>(c.cpu_millis) / max_cpu);
    out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"{:.1f}\" fill=\"{}\" fill-opacity=\"0.75\" stroke=\"black\">"
                       "<title>{} ({} millicores)</title></circle>\n",
                       X(c.at.x_m), Y(c.at.y_m), radius, c.cached.empty() ? "#ffffff" : "#444444", Escape(c.id), c.cpu_millis);
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"9\">{}</text>\n", Fixed(margin + c.at.x_m * scale + radius + 2, 1),
                       Fixed(H - margin - c.at.y_m * scale + 3, 1), Escape(c.id));
  }
  // A scale bar of a round length, about a fifth of the width, under the map's right end.
  const double bar_m = NiceStep(s.area.width_m);
  const double bar_px = bar_m * scale, bar_x1 = W - margin, bar_x0 = bar_x1 - bar_px, bar_y = H - margin + 14;
  out += fmt::format("<g stroke=\"black\" stroke-width=\"1.5\"><line x1=\"{0}\" y1=\"{2}\" x2=\"{1}\" y2=\"{2}\"/>"
                     "<line x1=\"{0}\" y1=\"{3}\" x2=\"{0}\" y2=\"{4}\"/><line x1=\"{1}\" y1=\"{3}\" x2=\"{1}\" y2=\"{4}\"/></g>\n"
                     "<text x=\"{5}\" y=\"{6}\" text-anchor=\"middle\">{7}</text>\n",
                     Fixed(bar_x0, 1), Fixed(bar_x1, 1), Fixed(bar_y, 1), Fixed(bar_y - 4, 1), Fixed(bar_y + 4, 1),
                     Fixed((bar_x0 + bar_x1) / 2, 1), Fixed(bar_y - 6, 1),
                     bar_m >= 1000 ? Fixed(bar_m / 1000, bar_m >= 10'000 ? 0 : 1) + " km" : Fixed(bar_m, 0) + " m");
  out += fmt::format("<text x=\"{}\" y=\"{}\">{} m x {} m; circles: cloudlets (area: capacity; dark: base VM cached at the start); lines: {} users</text>\n",
                     margin, H - 12, Fixed(s.area.width_m, 0), Fixed(s.area.height_m, 0), r.tracks.size());
  return out + "</svg>\n";
}

// Axes for a plot area (x0, y0)-(x1, y1) in pixels; ticks at nice steps.
std::string Axes(double x0, double y0, double x1, double y1, double xmax, double ymax, const std::string& xlabel,
                 const std::string& ylabel, bool x_ticks = true) {
  std::string out = fmt::format("<g stroke=\"#999\"><line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\"/><line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{3}\"/></g>\n",
                                x0, y1, x1, y0);
  const double xs = NiceStep(xmax), ys = NiceStep(ymax);
  for (double v = 0; x_ticks && v <= xmax * 1.0001; v += xs) {
    const double px = x0 + (x1 - x0) * v / xmax;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", Fixed(px, 1), y1 + 16, Fixed(v, xs < 1 ? 1 : 0));
  }
  for (double v = 0; v <= ymax * 1.0001; v += ys) {
    const double py = y1 - (y1 - y0) * v / ymax;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", x0 - 6, Fixed(py + 4, 1), Fixed(v, ys < 1 ? 1 : 0));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, y1 + 34, xlabel);
  out += fmt::format("<text x=\"14\" y=\"{0}\" transform=\"rotate(-90 14 {0})\" text-anchor=\"middle\">{1}</text>\n", (y0 + y1) / 2, ylabel);
  return out;
}

std::string CdfSvg(const Scenario& s, const SimResult& r) {
  const double W = 720, H = 440, x0 = 60, y0 = 40, x1 = 560, y1 = 390;
  // A log scale from 1 ms up to the next power of ten above every policy's 99.9th percentile.
  double top = 10;
  for (const auto& c : r.cdf) {
    if (!c.empty()) top = std::max(top, c.back().first);
  }
  const double decades = std::ceil(std::log10(top));
  auto X = [&](double ms) { return x0 + (x1 - x0) * std::clamp(std::log10(std::max(ms, 1.0)) / decades, 0.0, 1.0); };
  std::string out = SvgOpen(W, H, Escape(s.name) + ": network plus queueing latency, CDF per policy");
  out += Axes(x0, y0, x1, y1, 1, 100, "", "requests at or below (%)", /*x_ticks=*/false);
  for (double d = 0; d <= decades; ++d) {
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
                       Fixed(X(std::pow(10, d)), 1), y0, y1, y1 + 16, Fixed(std::pow(10, d), 0));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">latency (ms, log scale)</text>\n", (x0 + x1) / 2, y1 + 34);
  for (size_t i = 0; i < r.cdf.size(); ++i) {
    // Each policy its own dash pattern too, so that a curve under another (cost under
    // cost-predict) still shows.
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"{}\" points=\"",
                       Colour(i), Dashes(i));
    for (const auto& [x, f] : r.cdf[i]) {
      if (x >= 1) out += Fixed(X(x), 1) + "," + Fixed(y1 - (y1 - y0) * f, 1) + " ";
    }
    out += "\"/>\n";
    out += fmt::format("<line x1=\"572\" y1=\"{0}\" x2=\"592\" y2=\"{0}\" stroke=\"{1}\" stroke-width=\"2\" stroke-dasharray=\"{2}\"/>"
                       "<text x=\"597\" y=\"{3}\">{4}</text>\n",
                       62 + 20 * i, Colour(i), Dashes(i), 66 + 20 * i, Escape(r.policies[i]));
  }
  return out + "</svg>\n";
}

std::string LoadSvg(const Scenario& s, const SimResult& r) {
  const size_t n = r.policies.size();
  const size_t cols = std::min<size_t>(n, 2), rows = (n + cols - 1) / cols;
  const size_t legend_items = std::min<size_t>(s.cloudlets.size(), 24);
  const double legend_h = 20 + 16 * std::ceil(static_cast<double>(legend_items) / 6);
  const double pw = 360, ph = 220, W = pw * static_cast<double>(cols), H = ph * static_cast<double>(rows) + 40 + legend_h;
  std::string out = SvgOpen(W, H, Escape(s.name) + ": utilisation of each cloudlet over time");
  const double tmax = r.load_times.empty() ? 1 : std::max(1.0, r.load_times.back());
  for (size_t i = 0; i < n; ++i) {
    const double ox = pw * static_cast<double>(i % cols), oy = 40 + ph * static_cast<double>(i / cols);
    const double x0 = ox + 50, x1 = ox + pw - 15, y0 = oy + 20, y1 = oy + ph - 45;
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n", (x0 + x1) / 2, oy + 12, Escape(r.policies[i]));
    out += Axes(x0, y0, x1, y1, tmax, 100, "time (s)", "load (%)");
    if (i >= r.load.size() || r.load[i].empty()) continue;
    const size_t clouds = r.load[i].front().size();
    for (size_t j = 0; j < clouds; ++j) {
      out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"0.8\" stroke-opacity=\"0.6\" points=\"", Colour(j));
      for (size_t k = 0; k < r.load[i].size(); ++k) {
        const double x = x0 + (x1 - x0) * r.load_times[k] / tmax;
        const double y = y1 - (y1 - y0) * std::min(1.0, static_cast<double>(r.load[i][k][j]));
        out += Fixed(x, 1) + "," + Fixed(y, 1) + " ";
      }
      out += "\"/>\n";
    }
  }
  // The legend: one colour per cloudlet (colours repeat after eight), in the scenario's order.
  const double ly = H - legend_h + 14;
  out += fmt::format("<text x=\"10\" y=\"{}\">one line per cloudlet:</text>\n", Fixed(ly, 1));
  for (size_t j = 0; j < legend_items; ++j) {
    const double lx = 10 + static_cast<double>(j % 6) * (W - 20) / 6, row_y = ly + 16 * static_cast<double>(j / 6 + 1);
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"4\" fill=\"{}\"/><text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text>\n",
                       Fixed(lx, 1), Fixed(row_y - 4, 1), Colour(j), Fixed(lx + 16, 1), Fixed(row_y, 1), Escape(s.cloudlets[j].id));
  }
  if (s.cloudlets.size() > legend_items) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"10\">and {} more</text>\n", Fixed(W - 90, 1), Fixed(ly, 1),
                       s.cloudlets.size() - legend_items);
  }
  return out + "</svg>\n";
}

}  // namespace

std::string SummaryMarkdown(const Scenario& s, const SimResult& r, bool with_timing) {
  std::string out = fmt::format("# {}: {} users, {} cloudlets, {} s at {} s steps, seed {}\n\n", s.name, s.users, s.cloudlets.size(),
                                Fixed(s.duration_s, 0), Fixed(s.step_s, 2), s.seed);
  out += "| policy |";
  for (const Column& c : kColumns) out += std::string(" ") + c.heading + " |";
  if (with_timing) out += " decision us |";
  out += "\n| --- |";
  for (size_t i = 0; i < std::size(kColumns) + (with_timing ? 1 : 0); ++i) out += " ---: |";
  out += "\n";
  for (const PolicySummary& p : r.summary) {
    out += "| " + p.policy + " |";
    for (const Column& c : kColumns) out += " " + (Shown(p, c.name) ? Fixed(c.get(p), c.decimals) : "-") + " |";
    if (with_timing) out += " " + Fixed(p.decision_mean_us, 2) + " |";
    out += "\n";
  }
  out += "\nLatency columns are per request: network plus queueing, then (\"wait\") with provisioning and migration "
         "downtime added. ";
  const bool with_optimal = std::any_of(r.summary.begin(), r.summary.end(), [](const PolicySummary& p) { return p.policy == "optimal"; });
  if (with_optimal) {
    out += "`optimal` is a lower bound on the mean of network plus queueing only (each step's min-cost assignment, "
           "which ignores provisioning and migration); its other columns would not be bounds and are left out. ";
  }
  out += with_timing ? fmt::format("Decision times are wall-clock means (optimal: one solve); the run took {:.1f} s.\n", r.wall_s)
                     : "Decision times, which differ from run to run, are in timing.csv.\n";
  return out;
}

Status WriteOutputs(const std::string& dir, const Scenario& s, const SimResult& r) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::InvalidField("out", "cannot create " + dir + ": " + ec.message());
  const std::pair<const char*, std::string> files[] = {
      {"summary.csv", SummaryCsv(r)},   {"summary.json", SummaryJson(s, r)}, {"summary.md", SummaryMarkdown(s, r, false)},
      {"timeseries.csv", Series(r)},    {"map.svg", MapSvg(s, r)},           {"cdf.svg", CdfSvg(s, r)},
      {"load.svg", LoadSvg(s, r)},      {"timing.csv", Timing(r)},
  };
  for (const auto& [name, text] : files) {
    CLOUDLET_RETURN_IF_ERROR(common::WriteFileAtomically((std::filesystem::path(dir) / name).string(), text));
  }
  return Status::Ok();
}

}  // namespace cloudlet::sim
