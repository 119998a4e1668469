// One placement decision (filters, the bound pass, exact costs for the few contenders, top k) over
// fleets of 10 to 10,000 cloudlets spread over a metro area, unevenly loaded, half of them caching
// the app's base VM, with two measured RTTs in the request.
#include <benchmark/benchmark.h>

#include <random>

#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/placement_json.h"

namespace {

using namespace cloudlet::placement;

const std::string kDigest = "sha256:" + std::string(64, 'c');

FleetSnapshot Fleet(int n) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> lat(40.3, 40.6), lon(-80.1, -79.8), load(0, 0.6);
  std::uniform_int_distribution<int64_t> free_cpu(8'000, 60'000);
  std::vector<CloudletState> cloudlets;
  for (int i = 0; i < n; ++i) {
    CloudletState c;
    c.id = "cl-" + std::to_string(i);
    c.endpoint = "http://10.0.0.1:8471";
    c.geo = cloudlet::common::GeoPoint{lat(rng), lon(rng)};
    c.cpu_capacity = 64'000;
    c.free_cpu = free_cpu(rng);  // fleets are unevenly loaded
    c.mem_capacity = 262'144;
    c.free_mem = 131'072;
    c.load = load(rng);
    c.wan_mbps = 1000;
    if (i % 2 == 0) c.base_vms = {kDigest};
    cloudlets.push_back(c);
  }
  return BuildSnapshot(cloudlets);
}

PlacementRequest Request() {
  PlacementRequest r;
  r.app = {.name = "ar", .base_vm = kDigest, .base_vm_mb = 8000, .overlay_mb = 200, .cpu_millis = 1000,
           .mem_mb = 2048, .isolation = "vm", .service_ms = 10, .req_rate_hz = 10, .session_s = 600,
           .max_rtt_ms = 20};
  r.client.id = "phone";
  r.client.geo = cloudlet::common::GeoPoint{40.44, -79.94};
  r.client.rtt_ms = {{"cl-3", 4.2}, {"cl-8", 6.0}};
  r.k = 3;
  return r;
}

void BM_PlacementDecision(benchmark::State& state) {
  const FleetSnapshot fleet = Fleet(static_cast<int>(state.range(0)));
  const Engine engine({});
  const PlacementRequest request = Request();
  const Reservations reserved{Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(fleet.size())),
                              Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(fleet.size())), {}};
  uint64_t seed = 0;
  for (auto _ : state) {
    auto r = engine.Rank(fleet, request, reserved, ++seed);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlacementDecision)->Arg(10)->Arg(100)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)->ReportAggregatesOnly(true);

// What the placement route does around the decision: the request's JSON in, the answer's JSON out.
const char kRequestBody[] =
    R"({"app":{"name":"ar","base_vm":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","base_vm_mb":8000,)"
    R"("overlay_mb":200,"cpu_millis":1,"mem_mb":1,"service_ms":10,"req_rate_hz":10,"session_s":600,"max_rtt_ms":20},)"
    R"("client":{"id":"phone-17","geo":{"lat":40.4123,"lon":-80.0456}},"k":3})";

void BM_ParsePlacementRequest(benchmark::State& state) {
  for (auto _ : state) {
    auto r = PlacementRequestFromJson(nlohmann::json::parse(kRequestBody));
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ParsePlacementRequest)->Unit(benchmark::kMicrosecond);

void BM_PlaceResultJson(benchmark::State& state) {
  const FleetSnapshot fleet = Fleet(1000);
  const Engine engine({});
  auto ranked = engine.Rank(fleet, Request(), {}, 1);
  PlaceResult r{Placement{}, *ranked};
  r.placement->id = "pl-0123456789abcdef";
  r.placement->cloudlet_id = ranked->candidates[0].cloudlet_id;
  for (auto _ : state) {
    std::string text = state.range(0) ? PlaceResultJsonText(r, engine.params()) : PlaceResultToJson(r, engine.params()).dump();
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_PlaceResultJson)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
