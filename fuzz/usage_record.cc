// Usage-record validation, on a record as a tenant's hypervisor or an agent could send it. A record
// that passes must survive being written out and read back unchanged in what it bills.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudlet/common/clock.h"
#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/metering/usage.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = cloudlet::discovery::ParseJsonObject(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) return 0;
  const auto now = cloudlet::common::FromUnixMillis(1'790'000'000'000);
  auto record = cloudlet::metering::UsageRecordFromJson(*parsed, "records[0]", now);
  if (!record.ok()) return 0;
  nlohmann::json again = *parsed;
  again["quantities"] = cloudlet::metering::QuantitiesToJson(record->q);
  auto reread = cloudlet::metering::UsageRecordFromJson(again, "records[0]", now);
  if (!reread.ok() || cloudlet::metering::QuantitiesToJson(reread->q) != again["quantities"]) {
    std::fprintf(stderr, "a valid record changed when written out and read back: %s\n",
                 reread.ok() ? "different quantities" : reread.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
