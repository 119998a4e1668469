#include "cloudlet/sim/mobility.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <array>
#include <numbers>
#include <sstream>

namespace cloudlet::sim {

common::Result<std::unique_ptr<RandomWaypoint>> RandomWaypoint::Create(Area area, RandomWaypointParams params,
                                                                       uint64_t seed) {
  if (!(area.width_m > 0) || !(area.height_m > 0) || !std::isfinite(area.width_m) || !std::isfinite(area.height_m)) {
    return common::Status::InvalidField("area", "width_m and height_m must be finite and > 0");
  }
  if (!(params.min_speed_mps > 0)) {
    return common::Status::InvalidField("min_speed_mps",
                                        "must be > 0: with a zero minimum the mean speed decays (Yoon et al. 2003)");
  }
  if (!(params.max_speed_mps >= params.min_speed_mps) || !std::isfinite(params.max_speed_mps)) {
    return common::Status::InvalidField("max_speed_mps", "must be finite and >= min_speed_mps");
  }
  if (!(params.max_pause_s >= 0) || !std::isfinite(params.max_pause_s)) {
    return common::Status::InvalidField("max_pause_s", "must be finite and >= 0");
  }
  return std::unique_ptr<RandomWaypoint>(new RandomWaypoint(area, params, seed));
}

RandomWaypoint::RandomWaypoint(Area area, RandomWaypointParams params, uint64_t seed)
    : area_(area), params_(params), rng_(seed) {
  std::uniform_real_distribution<double> x(0, area_.width_m), y(0, area_.height_m);
  position_ = {x(rng_), y(rng_)};
  PickLeg();
}

void RandomWaypoint::PickLeg() {
  std::uniform_real_distribution<double> x(0, area_.width_m), y(0, area_.height_m);
  std::uniform_real_distribution<double> speed(params_.min_speed_mps, params_.max_speed_mps);
  target_ = {x(rng_), y(rng_)};
  speed_mps_ = speed(rng_);
}

namespace {

// Straight legs at a constant speed with a pause where each ends: the motion random waypoint and
// nomadic share. `pause_at_end()` gives the pause where a leg ends; `next_leg()` sets the next
// target and speed (both read again after it).
template <typename PauseAtEnd, typename NextLeg>
void WalkLegs(double dt_s, Position& at, const Position& target, const double& speed, double& pause_left,
              PauseAtEnd pause_at_end, NextLeg next_leg) {
  double left_s = dt_s;
  int idle = 0;  // legs ended without time passing: a zero-length leg must not spin forever
  while (left_s > 0 && idle < 8) {
    if (pause_left > 0) {
      const double wait = std::min(pause_left, left_s);
      pause_left -= wait;
      left_s -= wait;
      if (pause_left <= 0) next_leg();
      idle = 0;
      continue;
    }
    const double dx = target.x_m - at.x_m, dy = target.y_m - at.y_m;
    const double dist = std::sqrt(dx * dx + dy * dy);
    const double reach = speed * left_s;
    if (reach < dist) {
      at.x_m += dx / dist * reach;
      at.y_m += dy / dist * reach;
      return;
    }
    at = target;
    left_s -= dist / speed;
    idle = dist > 0 ? 0 : idle + 1;
    pause_left = pause_at_end();
    if (pause_left <= 0) next_leg();
  }
}

}  // namespace

Position RandomWaypoint::Advance(double dt_s) {
  WalkLegs(
      dt_s, position_, target_, speed_mps_, pause_left_s_,
      [this] {
        std::uniform_real_distribution<double> pause(0, params_.max_pause_s);
        return params_.max_pause_s > 0 ? pause(rng_) : 0.0;
      },
      [this] { PickLeg(); });
  return position_;
}

namespace {

using common::Result;
using common::Status;

double Clamp(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

// Gauss-Markov: s_n = a s_{n-1} + (1 - a) s_mean + sqrt(1 - a^2) N(0, sd), the same for the
// heading, whose mean turns towards the centre when the user is near an edge.
class GaussMarkov : public Mobility {
 public:
  GaussMarkov(Area area, std::shared_ptr<const MobilitySpec> spec, uint64_t seed)
      : area_(area), spec_(std::move(spec)), p_(*spec_), rng_(seed) {
    std::uniform_real_distribution<double> x(0, area.width_m), y(0, area.height_m), h(-std::numbers::pi, std::numbers::pi);
    position_ = {x(rng_), y(rng_)};
    speed_ = p_.mean_speed_mps;
    heading_ = h(rng_);
    mean_heading_ = heading_;
  }
  Position Advance(double dt_s) override {
    double left = dt_s;
    while (left > 1e-12) {
      if (until_update_ <= 0) Update();
      const double dt = std::min(left, until_update_);
      position_.x_m = Clamp(position_.x_m + speed_ * std::cos(heading_) * dt, 0, area_.width_m);
      position_.y_m = Clamp(position_.y_m + speed_ * std::sin(heading_) * dt, 0, area_.height_m);
      until_update_ -= dt;
      left -= dt;
    }
    return position_;
  }
  Position position() const override { return position_; }

 private:
  void Update() {
    const double a = p_.alpha, noise = std::sqrt(1 - a * a);
    // Near an edge (within a tenth of the area), the mean heading points back inside.
    const double mx = area_.width_m * 0.1, my = area_.height_m * 0.1;
    const bool near = position_.x_m < mx || position_.x_m > area_.width_m - mx || position_.y_m < my ||
                      position_.y_m > area_.height_m - my;
    if (near) {
      mean_heading_ = std::atan2(area_.height_m / 2 - position_.y_m, area_.width_m / 2 - position_.x_m);
    }
    // The heading follows its mean through the shorter way round.
    double diff = std::remainder(mean_heading_ - heading_, 2 * std::numbers::pi);
    const double target = heading_ + diff;
    speed_ = std::max(0.0, a * speed_ + (1 - a) * p_.mean_speed_mps + noise * p_.speed_sd_mps * normal_(rng_));
    heading_ = a * heading_ + (1 - a) * target + noise * p_.heading_sd_rad * normal_(rng_);
    until_update_ = p_.update_s;
  }

  Area area_;
  std::shared_ptr<const MobilitySpec> spec_;
  const MobilitySpec& p_;
  Rng rng_;
  std::normal_distribution<double> normal_{0, 1};
  Position position_;
  double speed_ = 0, heading_ = 0, mean_heading_ = 0, until_update_ = 0;
};

// Manhattan grid: moves along streets x = i * block or y = j * block.
class Manhattan : public Mobility {
 public:
  Manhattan(Area area, std::shared_ptr<const MobilitySpec> spec, uint64_t seed)
      : area_(area), spec_(std::move(spec)), p_(*spec_), rng_(seed) {
    cols_ = static_cast<int>(std::floor(area.width_m / p_.block_m));
    rows_ = static_cast<int>(std::floor(area.height_m / p_.block_m));
    std::uniform_int_distribution<int> cx(0, cols_), cy(0, rows_), d(0, 3);
    at_ = {cx(rng_), cy(rng_)};
    position_ = {at_[0] * p_.block_m, at_[1] * p_.block_m};
    dir_ = d(rng_);
    NextBlock();
  }
  Position Advance(double dt_s) override {
    double left = dt_s;
    while (left > 1e-12) {
      const double tx = next_[0] * p_.block_m, ty = next_[1] * p_.block_m;
      const double ex = tx - position_.x_m, ey = ty - position_.y_m;
      const double dist = std::sqrt(ex * ex + ey * ey);
      const double reach = speed_ * left;
      if (reach < dist) {
        position_.x_m += (tx - position_.x_m) / dist * reach;
        position_.y_m += (ty - position_.y_m) / dist * reach;
        break;
      }
      left -= dist / speed_;
      position_ = {tx, ty};
      at_ = next_;
      Turn();
      NextBlock();
    }
    return position_;
  }
  Position position() const override { return position_; }

 private:
  static constexpr int kDx[4] = {1, 0, -1, 0}, kDy[4] = {0, 1, 0, -1};
  bool Open(int d) const {
    const int x = at_[0] + kDx[d], y = at_[1] + kDy[d];
    return x >= 0 && x <= cols_ && y >= 0 && y <= rows_;
  }
  void Turn() {
    std::uniform_real_distribution<double> u(0, 1);
    const double r = u(rng_);
    const int choice = r < 0.5 ? dir_ : r < 0.75 ? (dir_ + 1) % 4 : (dir_ + 3) % 4;
    if (Open(choice)) {
      dir_ = choice;
      return;
    }
    // At the edge: the other ways that stay on the grid, in a fixed order, else back.
    for (int d : {dir_, (dir_ + 1) % 4, (dir_ + 3) % 4, (dir_ + 2) % 4}) {
      if (Open(d)) {
        dir_ = d;
        return;
      }
    }
  }
  void NextBlock() {
    if (!Open(dir_)) Turn();
    next_ = {at_[0] + kDx[dir_], at_[1] + kDy[dir_]};
    std::uniform_real_distribution<double> s(p_.min_speed_mps, p_.max_speed_mps);
    speed_ = s(rng_);
  }

  Area area_;
  std::shared_ptr<const MobilitySpec> spec_;
  const MobilitySpec& p_;
  Rng rng_;
  int cols_ = 0, rows_ = 0;
  std::array<int, 2> at_{}, next_{};
  int dir_ = 0;
  double speed_ = 1;
  Position position_;
};

// Nomadic: walk to an attraction point, stay near it for an exponential time, pick another.
class Nomadic : public Mobility {
 public:
  Nomadic(Area area, std::shared_ptr<const MobilitySpec> spec, std::shared_ptr<const std::vector<Position>> points,
          uint64_t seed)
      : area_(area), spec_(std::move(spec)), p_(*spec_), points_(std::move(points)), rng_(seed) {
    std::uniform_real_distribution<double> x(0, area.width_m), y(0, area.height_m);
    position_ = {x(rng_), y(rng_)};
    Pick();
  }
  Position Advance(double dt_s) override {
    WalkLegs(
        dt_s, position_, target_, speed_, dwell_left_,
        [this] {
          if (p_.dwell_mean_s <= 0) return 0.0;
          std::exponential_distribution<double> dwell(1 / p_.dwell_mean_s);
          return dwell(rng_);
        },
        [this] { Pick(); });
    return position_;
  }
  Position position() const override { return position_; }

 private:
  void Pick() {
    std::uniform_int_distribution<size_t> which(0, points_->size() - 1);
    std::uniform_real_distribution<double> angle(0, 2 * std::numbers::pi), radius(0, 1), s(p_.min_speed_mps, p_.max_speed_mps);
    const Position c = (*points_)[which(rng_)];
    const double a = angle(rng_), r = p_.dwell_radius_m * std::sqrt(radius(rng_));
    target_ = {Clamp(c.x_m + r * std::cos(a), 0, area_.width_m), Clamp(c.y_m + r * std::sin(a), 0, area_.height_m)};
    speed_ = s(rng_);
  }

  Area area_;
  std::shared_ptr<const MobilitySpec> spec_;
  const MobilitySpec& p_;
  std::shared_ptr<const std::vector<Position>> points_;  // every user's
  Rng rng_;
  Position position_, target_;
  double speed_ = 1, dwell_left_ = 0;
};

class TraceReplay : public Mobility {
 public:
  TraceReplay(std::shared_ptr<const Trace> trace, const std::vector<Trace::Sample>& samples)
      : trace_(std::move(trace)), samples_(samples), position_(samples.front().at) {}
  Position Advance(double dt_s) override {
    t_ += dt_s;
    while (next_ < samples_.size() && samples_[next_].t_s <= t_) ++next_;
    if (next_ == 0) {
      position_ = samples_.front().at;
    } else if (next_ == samples_.size()) {
      position_ = samples_.back().at;
    } else {
      const auto& a = samples_[next_ - 1];
      const auto& b = samples_[next_];
      const double f = (t_ - a.t_s) / (b.t_s - a.t_s);
      position_ = {a.at.x_m + f * (b.at.x_m - a.at.x_m), a.at.y_m + f * (b.at.y_m - a.at.y_m)};
    }
    return position_;
  }
  Position position() const override { return position_; }

 private:
  std::shared_ptr<const Trace> trace_;  // keeps samples_ alive
  const std::vector<Trace::Sample>& samples_;
  Position position_;
  double t_ = 0;
  size_t next_ = 0;
};

Status Positive(const char* field, double v) {
  if (!(v > 0) || !std::isfinite(v)) return Status::InvalidField(std::string("mobility.") + field, "must be a finite number > 0");
  return Status::Ok();
}

Status SpeedRange(const MobilitySpec& s) {
  if (!(s.min_speed_mps > 0) || !std::isfinite(s.min_speed_mps)) {
    return Status::InvalidField("mobility.min_speed_mps",
                                "must be > 0: with a zero minimum the mean speed decays (Yoon et al. 2003)");
  }
  if (!(s.max_speed_mps >= s.min_speed_mps) || !std::isfinite(s.max_speed_mps)) {
    return Status::InvalidField("mobility.max_speed_mps", "must be finite and >= min_speed_mps");
  }
  return Status::Ok();
}

bool Inside(Position p, Area a) { return p.x_m >= 0 && p.x_m <= a.width_m && p.y_m >= 0 && p.y_m <= a.height_m; }

}  // namespace

double TimeAverageSpeed(double lo, double hi) { return hi > lo ? (hi - lo) / std::log(hi / lo) : lo; }

Status ValidateMobility(const MobilitySpec& s, Area area) {
  if (s.model == "random_waypoint") {
    CLOUDLET_RETURN_IF_ERROR(SpeedRange(s));
    if (!(s.max_pause_s >= 0) || !std::isfinite(s.max_pause_s)) {
      return Status::InvalidField("mobility.max_pause_s", "must be finite and >= 0");
    }
  } else if (s.model == "gauss_markov") {
    CLOUDLET_RETURN_IF_ERROR(Positive("mean_speed_mps", s.mean_speed_mps));
    CLOUDLET_RETURN_IF_ERROR(Positive("update_s", s.update_s));
    if (!(s.alpha >= 0 && s.alpha < 1)) return Status::InvalidField("mobility.alpha", "must be in [0, 1)");
    if (!(s.speed_sd_mps >= 0) || !std::isfinite(s.speed_sd_mps)) {
      return Status::InvalidField("mobility.speed_sd_mps", "must be finite and >= 0");
    }
    if (!(s.heading_sd_rad >= 0) || !std::isfinite(s.heading_sd_rad)) {
      return Status::InvalidField("mobility.heading_sd_rad", "must be finite and >= 0");
    }
  } else if (s.model == "manhattan") {
    CLOUDLET_RETURN_IF_ERROR(SpeedRange(s));
    CLOUDLET_RETURN_IF_ERROR(Positive("block_m", s.block_m));
    if (s.block_m > area.width_m || s.block_m > area.height_m) {
      return Status::InvalidField("mobility.block_m", "must fit in the area at least once each way");
    }
  } else if (s.model == "nomadic") {
    CLOUDLET_RETURN_IF_ERROR(SpeedRange(s));
    if (s.attractions.empty() && (s.attraction_count < 1 || s.attraction_count > 10'000)) {
      return Status::InvalidField("mobility.attraction_count", "must be in [1, 10000]");
    }
    for (size_t i = 0; i < s.attractions.size(); ++i) {
      if (!Inside(s.attractions[i], area)) {
        return Status::InvalidField("mobility.attractions[" + std::to_string(i) + "]", "must lie inside the area");
      }
    }
    if (!(s.dwell_mean_s >= 0) || !std::isfinite(s.dwell_mean_s)) {
      return Status::InvalidField("mobility.dwell_mean_s", "must be finite and >= 0");
    }
    if (!(s.dwell_radius_m >= 0) || !std::isfinite(s.dwell_radius_m)) {
      return Status::InvalidField("mobility.dwell_radius_m", "must be finite and >= 0");
    }
  } else if (s.model == "trace") {
    if (!s.trace || s.trace->users.empty()) return Status::InvalidField("mobility.file", "the trace holds no users");
  } else {
    return Status::InvalidField("mobility.model",
                                "must be random_waypoint, gauss_markov, manhattan, nomadic or trace, not '" +
                                    s.model.substr(0, 40) + "'");
  }
  return Status::Ok();
}

Result<MobilityFactory> MobilityFactory::Create(const MobilitySpec& s, Area area, uint64_t seed) {
  if (!(area.width_m > 0) || !(area.height_m > 0) || !std::isfinite(area.width_m) || !std::isfinite(area.height_m)) {
    return Status::InvalidField("area", "width_m and height_m must be finite and > 0");
  }
  CLOUDLET_RETURN_IF_ERROR(ValidateMobility(s, area));
  if (s.model == "random_waypoint") {
    CLOUDLET_RETURN_IF_ERROR(RandomWaypoint::Create(area, {s.min_speed_mps, s.max_speed_mps, s.max_pause_s}, seed).status());
  }
  std::shared_ptr<const std::vector<Position>> points;
  if (s.model == "nomadic") {
    std::vector<Position> p = s.attractions;
    if (p.empty()) {  // the same points for every user: drawn from the scenario's seed alone
      Rng rng(seed ^ 0x6E6F6D616469ULL);
      std::uniform_real_distribution<double> x(0, area.width_m), y(0, area.height_m);
      for (int i = 0; i < s.attraction_count; ++i) {
        const double px = x(rng);
        p.push_back({px, y(rng)});
      }
    }
    points = std::make_shared<const std::vector<Position>>(std::move(p));
  }
  return MobilityFactory(std::make_shared<const MobilitySpec>(s), area, seed, std::move(points));
}

std::unique_ptr<Mobility> MobilityFactory::Make(size_t user) const {
  const MobilitySpec& s = *spec_;
  // One stream per user, decorrelated from its neighbours'.
  const uint64_t user_seed = seed_ * 0x9E3779B97F4A7C15ULL + user * 0xBF58476D1CE4E5B9ULL + 1;
  if (s.model == "random_waypoint") {
    return std::move(*RandomWaypoint::Create(area_, {s.min_speed_mps, s.max_speed_mps, s.max_pause_s}, user_seed));
  }
  if (s.model == "gauss_markov") return std::make_unique<GaussMarkov>(area_, spec_, user_seed);
  if (s.model == "manhattan") return std::make_unique<Manhattan>(area_, spec_, user_seed);
  if (s.model == "nomadic") return std::make_unique<Nomadic>(area_, spec_, points_, user_seed);
  auto it = s.trace->users.begin();
  std::advance(it, static_cast<long>(user % s.trace->users.size()));
  return std::make_unique<TraceReplay>(s.trace, it->second);
}

Result<std::unique_ptr<Mobility>> MakeMobility(const MobilitySpec& s, Area area, uint64_t seed, size_t user) {
  auto factory = MobilityFactory::Create(s, area, seed);
  if (!factory.ok()) return factory.status();
  return factory->Make(user);
}

Result<Trace> ReadTrace(const std::string& path, Area area, size_t max_rows) {
  std::ifstream in(path);
  if (!in) return Status::InvalidField(path, "cannot open the trace file");
  Trace trace;
  std::string line;
  size_t line_no = 0, rows = 0;
  auto bad = [&](const std::string& field, const std::string& why) {
    return Status::InvalidField(path + ":" + std::to_string(line_no) + ": " + field, why);
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line_no == 1 && line.rfind("t,", 0) == 0) continue;  // header
    if (++rows > max_rows) return bad("rows", "more than " + std::to_string(max_rows) + " rows");
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() != 4) return bad("row", "must have 4 fields t,user,x,y");
    double v[3];
    const char* names[3] = {"t", "x", "y"};
    const int cols[3] = {0, 2, 3};
    for (int i = 0; i < 3; ++i) {
      const std::string& text = f[static_cast<size_t>(cols[i])];
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v[i]);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v[i])) {
        return bad(names[i], "must be a number, not '" + text.substr(0, 32) + "'");
      }
    }
    if (f[1].empty() || f[1].size() > 64) return bad("user", "must be 1 to 64 characters");
    if (v[0] < 0) return bad("t", "must be >= 0");
    if (!Inside({v[1], v[2]}, area)) return bad("x,y", "the position lies outside the scenario's area");
    auto& samples = trace.users[f[1]];
    if (!samples.empty() && v[0] <= samples.back().t_s) return bad("t", "times of one user must increase");
    samples.push_back({v[0], {v[1], v[2]}});
  }
  if (trace.users.empty()) return Status::InvalidField(path, "the trace holds no rows");
  return trace;
}

}  // namespace cloudlet::sim
