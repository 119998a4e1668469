// A placement policy of the simulator: where a new session goes, and whether a placed user moves.
// PolicyRun (policy_run.h) owns the world's mechanics (capacity held, caches, provisioning,
// migration downtime, measurement); a policy only decides. One file per policy in this folder,
// each registered by one line in registry.cc:
//
//   class Nearest final : public Policy {
//     bool Moves() const override { return true; }
//     int Choose(PolicyRun& run, size_t u, Position p) override { return run.NearestWithRoom(p, run.world().AppIndexOf(u)); }
//     int Reconsider(PolicyRun& run, size_t u, Position p, double) override { ... }
//   };
//
// A policy belongs to one run and is called from that run's thread only. docs/architecture.md
// describes a simulation step.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/sim/scenario.h"
#include "cloudlet/sim/simulator.h"

namespace cloudlet::sim {

class PolicyRun;

// A user not placed yet, and a user served by the Level-1 cloud.
constexpr int kNone = -1;
constexpr int kCloud = -2;

class Policy {
 public:
  virtual ~Policy() = default;
  // Whether the run builds the engine's fleet snapshot at every step (for PolicyRun::Rank).
  virtual bool UsesEngine() const { return false; }
  // Where a new session of user `u` at `p` goes: a cloudlet's row, or kCloud.
  virtual int Choose(PolicyRun& run, size_t u, Position p) = 0;
  // Whether Reconsider may move a placed user. When false, placed users are not looked at between
  // sessions (nothing could come of it).
  virtual bool Moves() const = 0;
  // Where a placed user should move, or kNone to stay. By default a placement lasts its session.
  virtual int Reconsider(PolicyRun& /*run*/, size_t /*u*/, Position /*p*/, double /*t*/) { return kNone; }
  // A position fix of user `u`: at the start of each session and at each look.
  virtual void Observe(size_t /*u*/, double /*t*/, Position /*p*/) {}
  // A migration target is ready: true keeps the user where it is for now.
  virtual bool HoldMove(PolicyRun& /*run*/, size_t /*u*/, Position /*p*/, double /*t*/) { return false; }
};

using PolicyFactory = std::function<std::unique_ptr<Policy>(const Scenario&)>;

struct PolicyEntry {
  std::string name;
  PolicyFactory make;  // null for `optimal`, which is solved apart from the runs (optimal.h)
};

// Every policy, in the order they appear in outputs.
const std::vector<PolicyEntry>& PolicyTable();
// Null for an unknown name or `optimal`.
std::unique_ptr<Policy> MakePolicy(const std::string& name, const Scenario& s);
// `--live`: the registry behind `remote` decides.
std::unique_ptr<Policy> MakeLivePolicy(Remote& remote);

}  // namespace cloudlet::sim
