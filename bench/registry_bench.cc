// In-process costs of the registry with 1,000 to 100,000 cloudlets: the work one heartbeat or one
// list does inside cloudletd, without HTTP, and the memory a cloudlet takes. The HTTP figures come
// from bench/run-registry-bench.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <random>

#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/discovery/registry.h"

namespace {

using namespace cloudlet;

discovery::CloudletDescriptor Descriptor(int i, std::mt19937& rng) {
  std::uniform_real_distribution<double> lat(40.0, 41.0), lon(-80.5, -79.5);
  discovery::CloudletDescriptor d;
  d.id = "cl-" + std::to_string(i);
  d.name = d.id;
  d.endpoint = "http://10.0.0.1:8471";
  d.geo = common::GeoPoint{lat(rng), lon(rng)};
  d.capacity = {16'000, 65'536, 0};
  d.isolation = {"vm", "container"};
  char hex[65];
  std::snprintf(hex, sizeof hex, "%064x", i % 50);
  d.base_vms = {{std::string("sha256:") + hex, 4096}};
  d.wan_mbps = 1000;
  return d;
}

struct Fixture {
  explicit Fixture(int n) : registry(clock, {}) {
    std::mt19937 rng(1);
    for (int i = 0; i < n; ++i) registry.Put(Descriptor(i, rng));
  }
  common::ManualClock clock{common::FromUnixMillis(0)};
  discovery::Registry registry;
};

void BM_Heartbeat(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> pick(0, static_cast<int>(state.range(0)) - 1);
  for (auto _ : state) {
    const std::string id = "cl-" + std::to_string(pick(rng));
    discovery::Heartbeat hb{.load = (pick(rng) % 100) / 100.0, .free = discovery::FreeCapacity{8000, 1000}};
    benchmark::DoNotOptimize(f.registry.Heartbeat(id, hb));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Heartbeat)->Arg(1'000)->Arg(10'000)->Arg(100'000);

// Heap bytes per registered cloudlet: the registry's record, its map node, and the spatial index
// the first nearest query builds.
void BM_MemoryPerCloudlet(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  for (auto _ : state) {
    malloc_trim(0);
    const size_t before = mallinfo2().uordblks;
    auto f = std::make_unique<Fixture>(n);
    benchmark::DoNotOptimize(f->registry.List({.near = common::GeoPoint{40.44, -79.94}, .limit = 10}));
    const size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_cloudlet"] = static_cast<double>(after - before) / n;
  }
}
BENCHMARK(BM_MemoryPerCloudlet)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_ParseHeartbeatJson(benchmark::State& state) {
  const std::string body = R"({"load":0.42,"free":{"cpu_millis":8000,"mem_mb":1000}})";
  for (auto _ : state) benchmark::DoNotOptimize(discovery::ParseHeartbeatJson(body));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseHeartbeatJson);

void BM_ListAll(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(f.registry.List({}));
}
BENCHMARK(BM_ListAll)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMicrosecond);

void BM_ListAllAsJson(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto list = f.registry.List({});
    nlohmann::json items = nlohmann::json::array();
    for (const auto& e : list.entries) items.push_back(discovery::RecordToJson(e.record));
    benchmark::DoNotOptimize(items.dump());
  }
}
BENCHMARK(BM_ListAllAsJson)->Arg(1'000)->Arg(10'000)->Unit(benchmark::kMillisecond);

void BM_ListNearestTen(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.registry.List({.near = common::GeoPoint{40.44, -79.94}, .limit = 10}));
  }
}
BENCHMARK(BM_ListNearestTen)->Arg(1'000)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

// The same at points all over the area (the median over them is what a fleet of phones sees).
void BM_ListNearestTenAnywhere(benchmark::State& state) {
  Fixture f(static_cast<int>(state.range(0)));
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> lat(40.0, 41.0), lon(-80.5, -79.5);
  std::vector<common::GeoPoint> at;
  for (int i = 0; i < 1024; ++i) at.push_back({lat(rng), lon(rng)});
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.registry.List({.near = at[i++ % at.size()], .limit = 10}));
}
BENCHMARK(BM_ListNearestTenAnywhere)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond)->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
