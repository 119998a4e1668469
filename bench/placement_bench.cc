// One placement decision (filters, the bound pass, exact costs for the few contenders, top k):
//  - BM_PlacementDecision: fleets of 10 to 100,000 cloudlets packed into one metro area (30 x 33 km),
//    unevenly loaded, half of them caching the app's base VM, with two measured RTTs in the request.
//    Every cloudlet is within a fraction of a millisecond of RTT of every other, so that distance
//    prunes little: the worst case for the spatial search.
//  - BM_NationalDecision: fleets of 10,000 and 100,000 spread over a country as operators' edges are
//    (around 60 cities, in proportion to their size, a tenth of them in the countryside), clients in
//    a city, the same app; the decision examines only the cloudlets near enough to matter.
#include <benchmark/benchmark.h>

#include <random>

#include "cloudlet/placement/engine.h"
#include "cloudlet/placement/placement_json.h"

namespace {

using namespace cloudlet::placement;

const std::string kDigest = "sha256:" + std::string(64, 'c');

// n cloudlets, unevenly loaded, half of them caching the app's base VM, each where `where` puts it.
template <typename Where>
FleetSnapshot MakeFleet(int n, uint32_t seed, Where where) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> load(0, 0.6);
  std::uniform_int_distribution<int64_t> free_cpu(8'000, 60'000);
  std::vector<CloudletState> cloudlets;
  for (int i = 0; i < n; ++i) {
    CloudletState c;
    c.id = "cl-" + std::to_string(i);
    c.endpoint = "http://10.0.0.1:8471";
    c.geo = where(rng);
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

// One metro area, 30 x 33 km.
FleetSnapshot Fleet(int n) {
  std::uniform_real_distribution<double> lat(40.3, 40.6), lon(-80.1, -79.8);
  return MakeFleet(n, 5, [&](std::mt19937& rng) { return cloudlet::common::GeoPoint{lat(rng), lon(rng)}; });
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
BENCHMARK(BM_PlacementDecision)->Arg(10)->Arg(100)->Arg(1'000)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)->ReportAggregatesOnly(true);

// ~60 metro areas across the continental United States, weights roughly by population.
struct Metro {
  double lat, lon, weight;
};
const std::vector<Metro>& Metros() {
  static const std::vector<Metro> metros = [] {
    std::vector<Metro> m = {{40.71, -74.01, 19}, {34.05, -118.24, 13}, {41.88, -87.63, 9.5}, {32.78, -96.80, 7.6},
                            {29.76, -95.37, 7.1}, {38.91, -77.04, 6.3}, {25.76, -80.19, 6.1}, {39.95, -75.17, 6.2},
                            {33.75, -84.39, 6.1}, {33.45, -112.07, 4.9}, {42.36, -71.06, 4.9}, {37.77, -122.42, 4.7},
                            {34.11, -117.29, 4.6}, {42.33, -83.05, 4.4}, {47.61, -122.33, 4.0}, {44.98, -93.27, 3.7},
                            {32.72, -117.16, 3.3}, {27.95, -82.46, 3.2}, {39.74, -104.99, 3.0}, {38.63, -90.20, 2.8},
                            {39.29, -76.61, 2.8}, {35.23, -80.84, 2.7}, {28.54, -81.38, 2.7}, {29.42, -98.49, 2.6},
                            {45.52, -122.68, 2.5}, {38.58, -121.49, 2.4}, {40.44, -79.99, 2.4}, {36.17, -115.14, 2.3},
                            {30.27, -97.74, 2.3}, {39.10, -84.51, 2.2}, {39.10, -94.58, 2.2}, {39.96, -83.00, 2.1},
                            {41.50, -81.69, 2.1}, {39.77, -86.16, 2.1}, {37.34, -121.89, 2.0}, {36.16, -86.78, 2.0},
                            {36.85, -75.98, 1.8}, {41.82, -71.41, 1.6}, {43.04, -87.91, 1.6}, {30.33, -81.66, 1.6},
                            {35.47, -97.52, 1.4}, {35.78, -78.64, 1.4}, {35.15, -90.05, 1.3}, {37.54, -77.44, 1.3},
                            {38.25, -85.76, 1.3}, {29.95, -90.07, 1.3}, {40.76, -111.89, 1.2}, {41.76, -72.67, 1.2},
                            {42.89, -78.88, 1.1}, {33.52, -86.80, 1.1}, {43.16, -77.61, 1.1}, {36.15, -95.99, 1.0},
                            {32.22, -110.97, 1.0}, {21.31, -157.86, 1.0}, {36.74, -119.79, 1.0}, {42.65, -73.75, 0.9},
                            {41.26, -95.93, 0.9}, {35.08, -106.65, 0.9}, {31.76, -106.49, 0.9}, {61.22, -149.90, 0.4}};
    return m;
  }();
  return metros;
}

FleetSnapshot NationalFleet(int n) {
  std::vector<double> weights;
  for (const Metro& m : Metros()) weights.push_back(m.weight);
  std::discrete_distribution<size_t> metro(weights.begin(), weights.end());
  std::normal_distribution<double> around(0, 0.25);  // ~28 km: suburbs
  std::uniform_real_distribution<double> u(0, 1), rural_lat(30, 48), rural_lon(-122, -70);
  return MakeFleet(n, 6, [&](std::mt19937& rng) {
    if (u(rng) < 0.1) return cloudlet::common::GeoPoint{rural_lat(rng), rural_lon(rng)};
    const Metro& m = Metros()[metro(rng)];
    return cloudlet::common::GeoPoint{m.lat + around(rng), m.lon + around(rng)};
  });
}

// Clients in cities in turn, each a few km from its centre; RTTs measured to two cloudlets.
void BM_NationalDecision(benchmark::State& state) {
  const FleetSnapshot fleet = NationalFleet(static_cast<int>(state.range(0)));
  const Engine engine({});
  PlacementRequest request = Request();
  request.client.rtt_ms = {{"cl-3", 45.0}, {"cl-8", 60.0}};
  std::vector<cloudlet::common::GeoPoint> clients;
  std::mt19937 rng(8);
  std::normal_distribution<double> around(0, 0.05);
  for (int i = 0; i < 256; ++i) {
    const Metro& m = Metros()[static_cast<size_t>(i) % Metros().size()];
    clients.push_back({m.lat + around(rng), m.lon + around(rng)});
  }
  const Reservations reserved{Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(fleet.size())),
                              Eigen::ArrayXd::Zero(static_cast<Eigen::Index>(fleet.size())), {}};
  uint64_t seed = 0;
  for (auto _ : state) {
    request.client.geo = clients[seed % clients.size()];
    auto r = engine.Rank(fleet, request, reserved, ++seed);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NationalDecision)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond)->Repetitions(5)
    ->ReportAggregatesOnly(true);

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
