#include "cloudlet/metering/usage.h"

#include <cmath>

#include "cloudlet/common/json_fields.h"
#include "cloudlet/common/time_format.h"

namespace cloudlet::metering {
namespace {

using common::Result;
using common::Status;

constexpr auto kMaxFuture = std::chrono::minutes(5);    // clock skew an agent may have
constexpr auto kMaxSpan = std::chrono::hours(24 * 31);  // one record covers at most a month
constexpr double kMaxQuantity = 1e18;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == ':';
}

Status CheckId(const std::string& id, const std::string& field, size_t max, bool required) {
  if (id.empty()) return required ? Status::InvalidField(field, "is required") : Status::Ok();
  if (id.size() > max) return Status::InvalidField(field, "at most " + std::to_string(max) + " characters");
  for (char c : id) {
    if (!IsIdChar(c)) return Status::InvalidField(field, "may hold only letters, digits and - _ . :");
  }
  return Status::Ok();
}

}  // namespace

Quantities& Quantities::operator+=(const Quantities& o) {
  cpu_core_s += o.cpu_core_s;
  mem_mib_s += o.mem_mib_s;
  net_in_bytes += o.net_in_bytes;
  net_out_bytes += o.net_out_bytes;
  gpu_s += o.gpu_s;
  instance_s += o.instance_s;
  return *this;
}

Result<UsageRecord> UsageRecordFromJson(const nlohmann::json& j, const std::string& field, common::TimePoint now) {
  if (!j.is_object()) return Status::InvalidField(field, "must be an object");
  common::JsonFields f(j, field);
  UsageRecord r;
  std::string start, end;
  f.String("event_id", true, r.event_id);
  f.String("kind", false, r.kind);
  f.String("tenant", true, r.tenant);
  f.String("placement_id", false, r.placement_id);
  f.String("cloudlet", true, r.cloudlet);
  f.String("start", true, start);
  f.String("end", true, end);
  const nlohmann::json* q = f.Object("quantities", true);
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  const std::string p = field.empty() ? "" : field + ".";
  CLOUDLET_RETURN_IF_ERROR(CheckId(r.event_id, p + "event_id", kMaxEventIdLength, true));
  CLOUDLET_RETURN_IF_ERROR(CheckId(r.tenant, p + "tenant", 64, true));
  CLOUDLET_RETURN_IF_ERROR(CheckId(r.placement_id, p + "placement_id", 64, false));
  CLOUDLET_RETURN_IF_ERROR(CheckId(r.cloudlet, p + "cloudlet", 64, true));
  if (r.kind != "usage" && r.kind != "adjustment") return Status::InvalidField(p + "kind", "must be usage or adjustment");
  auto s = common::ParseRfc3339(start, p + "start");
  if (!s.ok()) return s.status();
  auto e = common::ParseRfc3339(end, p + "end");
  if (!e.ok()) return e.status();
  r.start = *s;
  r.end = *e;
  if (r.end < r.start) return Status::InvalidField(p + "end", "is before start");
  if (r.end - r.start > kMaxSpan) return Status::InvalidField(p + "end", "one record covers at most 31 days");
  if (r.end > now + kMaxFuture) return Status::InvalidField(p + "end", "is in the future");

  common::JsonFields g(*q, p + "quantities");
  g.Number("cpu_core_s", false, r.q.cpu_core_s);
  g.Number("mem_mib_s", false, r.q.mem_mib_s);
  g.Number("net_in_bytes", false, r.q.net_in_bytes);
  g.Number("net_out_bytes", false, r.q.net_out_bytes);
  g.Number("gpu_s", false, r.q.gpu_s);
  g.Number("instance_s", false, r.q.instance_s);
  CLOUDLET_RETURN_IF_ERROR(g.NoOthers());
  const std::pair<const char*, double> values[] = {
      {"cpu_core_s", r.q.cpu_core_s},       {"mem_mib_s", r.q.mem_mib_s}, {"net_in_bytes", r.q.net_in_bytes},
      {"net_out_bytes", r.q.net_out_bytes}, {"gpu_s", r.q.gpu_s},         {"instance_s", r.q.instance_s}};
  for (const auto& [name, v] : values) {
    // Usage is never negative; an adjustment may take some back.
    if (r.kind == "usage" && v < 0) return Status::InvalidField(p + "quantities." + name, "must not be negative");
    if (std::abs(v) > kMaxQuantity) return Status::InvalidField(p + "quantities." + name, "is out of range");
  }
  return r;
}

nlohmann::json QuantitiesToJson(const Quantities& q) {
  return {{"cpu_core_s", q.cpu_core_s},       {"mem_mib_s", q.mem_mib_s}, {"net_in_bytes", q.net_in_bytes},
          {"net_out_bytes", q.net_out_bytes}, {"gpu_s", q.gpu_s},         {"instance_s", q.instance_s}};
}

UsageRecord InstanceUsage(const std::string& placement_id, const std::string& tenant, const std::string& cloudlet,
                          common::TimePoint start, common::TimePoint end) {
  UsageRecord r;
  r.event_id = "placement:" + placement_id;
  r.tenant = tenant;
  r.cloudlet = cloudlet;
  r.placement_id = placement_id;
  r.start = start;
  r.end = end;
  r.q.instance_s = std::chrono::duration<double>(end - start).count();
  return r;
}

}  // namespace cloudlet::metering
