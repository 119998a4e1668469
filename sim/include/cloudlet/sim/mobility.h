// How simulated users move through the area, in virtual time. Five models:
//
//   random_waypoint  pick a point uniformly and a speed in [min, max] (min > 0: Yoon, Liu and Noble,
//                    INFOCOM 2003), walk there, pause up to max_pause, repeat;
//   gauss_markov     speed and heading are first-order Gauss-Markov processes (Camp, Boleng and
//                    Davies 2002): memory alpha, steered back towards the centre near the edges;
//   manhattan        streets every block_m in both directions; at each crossing go straight (1/2),
//                    left or right (1/4 each); a new speed in [min, max] per block;
//   nomadic          attraction points (EdgeCloudSim's "places"): walk to one at a speed in
//                    [min, max], stay an exponential dwell time near it, pick another;
//   trace            replay of a CSV trace `t,user,x,y`, linearly interpolated.
//
//   auto walker = MakeMobility(spec, {1000, 800}, /*seed=*/42, /*user=*/0);
//   Position p = (*walker)->Advance(1.0);   // one second of virtual time
//
// Deterministic for a seed. Not thread-safe: one model per simulated user.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/sim/rng.h"

namespace cloudlet::sim {

struct Area {
  double width_m = 0;
  double height_m = 0;
};

struct Position {
  double x_m = 0;
  double y_m = 0;
};

class Mobility {
 public:
  virtual ~Mobility() = default;
  // Moves forward by dt_s seconds of virtual time and returns where the user is.
  virtual Position Advance(double dt_s) = 0;
  virtual Position position() const = 0;
};

struct RandomWaypointParams {
  double min_speed_mps = 0.5;  // must be > 0 (Yoon et al. 2003)
  double max_speed_mps = 1.5;
  double max_pause_s = 0;
};

class RandomWaypoint : public Mobility {
 public:
  static common::Result<std::unique_ptr<RandomWaypoint>> Create(Area area, RandomWaypointParams params,
                                                                uint64_t seed);

  Position Advance(double dt_s) override;
  Position position() const override { return position_; }
  double speed_mps() const { return speed_mps_; }

 private:
  RandomWaypoint(Area area, RandomWaypointParams params, uint64_t seed);
  void PickLeg();

  Area area_;
  RandomWaypointParams params_;
  Rng rng_;
  Position position_;
  Position target_;
  double speed_mps_ = 0;
  double pause_left_s_ = 0;
};

// Positions of users over time, keyed by user name; each user's samples sorted by time.
struct Trace {
  struct Sample {
    double t_s;
    Position at;
  };
  std::map<std::string, std::vector<Sample>> users;
};

// Reads `t,user,x,y` (a header line is allowed). Errors name the file, the line and the field.
// Every position must lie inside `area`; at most `max_rows` rows.
common::Result<Trace> ReadTrace(const std::string& path, Area area, size_t max_rows = 10'000'000);

// The parameters of every model; each uses its own.
struct MobilitySpec {
  std::string model = "random_waypoint";  // random_waypoint | gauss_markov | manhattan | nomadic | trace
  double min_speed_mps = 0.5;
  double max_speed_mps = 1.5;
  double max_pause_s = 0;
  // gauss_markov
  double mean_speed_mps = 1.0;
  double alpha = 0.75;
  double speed_sd_mps = 0.3;
  double heading_sd_rad = 0.5;
  double update_s = 1.0;
  // manhattan
  double block_m = 100;
  // nomadic
  std::vector<Position> attractions = {};  // empty: `attraction_count` random points
  int attraction_count = 5;
  double dwell_mean_s = 120;
  double dwell_radius_m = 20;
  // trace
  std::shared_ptr<const Trace> trace = {};
};

// Checks the parameters; errors name the field under `mobility.`.
common::Status ValidateMobility(const MobilitySpec& spec, Area area);

// The walkers of one scenario's users: the spec is checked, and what every walker shares (the
// spec itself, the nomadic model's points) made, once.
class MobilityFactory {
 public:
  static common::Result<MobilityFactory> Create(const MobilitySpec& spec, Area area, uint64_t seed);
  // The walker of user number `user` (for a trace: the user-th name in sorted order).
  std::unique_ptr<Mobility> Make(size_t user) const;

 private:
  MobilityFactory(std::shared_ptr<const MobilitySpec> spec, Area area, uint64_t seed,
                  std::shared_ptr<const std::vector<Position>> points)
      : spec_(std::move(spec)), area_(area), seed_(seed), points_(std::move(points)) {}
  std::shared_ptr<const MobilitySpec> spec_;
  Area area_;
  uint64_t seed_;
  std::shared_ptr<const std::vector<Position>> points_;  // nomadic
};

// One walker alone: MobilityFactory::Create, then Make(user).
common::Result<std::unique_ptr<Mobility>> MakeMobility(const MobilitySpec& spec, Area area, uint64_t seed,
                                                       size_t user);

// The long-run mean speed of a model with speeds uniform in [min, max] over legs whose length does
// not depend on the speed (random waypoint without pauses, manhattan, nomadic without dwelling):
// the time average 1 / E[1/v] = (max - min) / ln(max / min).
double TimeAverageSpeed(double min_speed_mps, double max_speed_mps);

}  // namespace cloudlet::sim
