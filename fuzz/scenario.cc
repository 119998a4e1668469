// The simulator's scenario reader, on a scenario file as an operator could write it. A scenario
// that parses must describe a run of bounded size.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/sim/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = cloudlet::discovery::ParseJsonObject(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  auto scenario = cloudlet::sim::ParseScenario(*parsed, "fuzz.json");
  (void)scenario;
  return 0;
}
