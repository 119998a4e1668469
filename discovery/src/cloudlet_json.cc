#include "cloudlet/discovery/cloudlet_json.h"

#include <algorithm>
#include <cmath>

#include "cloudlet/common/json_fields.h"
#include "cloudlet/common/time_format.h"

namespace cloudlet::discovery {

using common::Result;
using common::Status;
using nlohmann::json;
using Fields = common::JsonFields;

namespace {

// Reads [{digest, size_mb}, ...]; bounds are checked by the validators.
Status ReadBaseVms(const json& arr, const std::string& field, std::vector<BaseVm>& out) {
  if (arr.size() > kMaxBaseVms) return Status::InvalidField(field, "at most 4096 entries");
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string item = field + "[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) return Status::InvalidField(item, "must be an object {digest, size_mb}");
    Fields f(arr[i], item);
    BaseVm vm;
    f.String("digest", true, vm.digest);
    f.Number("size_mb", true, vm.size_mb);
    CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
    out.push_back(std::move(vm));
  }
  return Status::Ok();
}

json BaseVmsToJson(const std::vector<BaseVm>& vms) {
  json arr = json::array();
  for (const auto& vm : vms) arr.push_back({{"digest", vm.digest}, {"size_mb", vm.size_mb}});
  return arr;
}

}  // namespace

Result<json> ParseJsonObject(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again with exceptions only to learn where and why the JSON broke.
    try {
      json ignored = json::parse(body);
      (void)ignored;
    } catch (const json::parse_error& e) {
      // nlohmann says "... parse error at line 1, column 9: syntax error while parsing ...".
      const std::string what = e.what();
      const size_t at = what.find("line ");
      return Status::InvalidField("body", "malformed JSON at " + (at == std::string::npos
                                                                      ? "byte " + std::to_string(e.byte)
                                                                      : what.substr(at, 200)));
    } catch (const json::exception& e) {
      // A number beyond a double's range: nlohmann names the text ("number overflow parsing
      // '1e400'") but not where it is.
      const std::string what = e.what();
      const size_t open = what.find('\''), close = what.rfind('\'');
      const std::string number = open < close ? what.substr(open + 1, close - open - 1) : "";
      const size_t at = number.empty() ? std::string_view::npos : body.find(number);
      if (at == std::string_view::npos) return Status::InvalidField("body", "a number is out of range");
      const std::string_view before = body.substr(0, at);
      const size_t line = 1 + std::count(before.begin(), before.end(), '\n');
      const size_t column = at - (before.rfind('\n') == std::string_view::npos ? 0 : before.rfind('\n') + 1) + 1;
      return Status::InvalidField("body", "number " + number.substr(0, 40) + " at line " + std::to_string(line) +
                                              ", column " + std::to_string(column) + " is out of range");
    }
    return Status::InvalidField("body", "malformed JSON");
  }
  if (!j.is_object()) return Status::InvalidField("body", "must be a JSON object");
  return j;
}

Result<CloudletDescriptor> DescriptorFromJson(const json& j, std::string_view path_id) {
  CloudletDescriptor d;
  Fields f(j, "");
  f.String("id", false, d.id);
  if (!f.status().ok()) return f.status();
  if (d.id.empty()) d.id = std::string(path_id);
  else if (d.id != path_id) return Status::InvalidField("id", "does not match the id in the URL");
  f.String("name", false, d.name);
  if (d.name.empty()) d.name = d.id;
  f.String("endpoint", true, d.endpoint);
  f.Geo("geo", false, d.geo);
  if (const json* cap = f.Object("capacity", true)) {
    Fields c(*cap, "capacity");
    c.Int("cpu_millis", true, d.capacity.cpu_millis);
    c.Int("mem_mb", true, d.capacity.mem_mb);
    c.Int("gpus", false, d.capacity.gpus);
    f.Merge(c.NoOthers());
  }
  if (const json* iso = f.Array("isolation", true)) {
    if (iso->size() > 2) f.Fail("isolation", "must list \"vm\", \"container\" or both");
    for (size_t i = 0; i < iso->size() && f.status().ok(); ++i) {
      if (!(*iso)[i].is_string()) f.Fail("isolation", "must be an array of strings");
      else d.isolation.push_back((*iso)[i].get<std::string>());
    }
  }
  if (const json* vms = f.Array("base_vms", false)) f.Merge(ReadBaseVms(*vms, "base_vms", d.base_vms));
  f.Number("wan_mbps", true, d.wan_mbps);
  f.String("public_key", false, d.public_key);
  if (const json* labels = f.Object("labels", false)) {
    if (labels->size() > kMaxLabels) f.Fail("labels", "at most 64 labels");
    for (auto it = labels->begin(); it != labels->end() && f.status().ok(); ++it) {
      if (!it->is_string()) f.Fail("labels." + it.key().substr(0, 63), "must be a string");
      else d.labels[it.key()] = it->get<std::string>();
    }
  }
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  CLOUDLET_RETURN_IF_ERROR(ValidateDescriptor(d));
  return d;
}

Result<CloudletDescriptor> ParseDescriptorJson(std::string_view body, std::string_view path_id) {
  CLOUDLET_RETURN_IF_ERROR(ValidateCloudletId(path_id));
  auto j = ParseJsonObject(body);
  if (!j.ok()) return j.status();
  return DescriptorFromJson(*j, path_id);
}

Result<Heartbeat> ParseHeartbeatJson(std::string_view body) {
  auto parsed = ParseJsonObject(body);
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  Heartbeat hb;
  Fields f(j, "");
  f.Number("load", true, hb.load);
  if (const json* free = f.Object("free", false)) {
    Fields g(*free, "free");
    FreeCapacity fc;
    g.Int("cpu_millis", true, fc.cpu_millis);
    g.Int("mem_mb", true, fc.mem_mb);
    f.Merge(g.NoOthers());
    hb.free = fc;
  }
  if (const json* cache = f.Object("cache", false)) {
    Fields c(*cache, "cache");
    if (const json* added = c.Array("added", false)) c.Merge(ReadBaseVms(*added, "cache.added", hb.cache.added));
    if (const json* removed = c.Array("removed", false)) {
      if (removed->size() > kMaxBaseVms) c.Fail("removed", "at most 4096 entries");
      for (size_t i = 0; i < removed->size() && c.status().ok(); ++i) {
        if (!(*removed)[i].is_string()) c.Fail("removed[" + std::to_string(i) + "]", "must be a digest string");
        else hb.cache.removed.push_back((*removed)[i].get<std::string>());
      }
    }
    f.Merge(c.NoOthers());
  }
  CLOUDLET_RETURN_IF_ERROR(f.NoOthers());
  if (!(hb.load >= 0 && hb.load <= 1)) return Status::InvalidField("load", "must be in [0, 1]");
  return hb;
}

json DescriptorToJson(const CloudletDescriptor& d) {
  json j = {
      {"id", d.id},
      {"name", d.name},
      {"endpoint", d.endpoint},
      {"capacity", {{"cpu_millis", d.capacity.cpu_millis}, {"mem_mb", d.capacity.mem_mb}, {"gpus", d.capacity.gpus}}},
      {"isolation", d.isolation},
      {"base_vms", BaseVmsToJson(d.base_vms)},
      {"wan_mbps", d.wan_mbps},
      {"labels", d.labels},
  };
  if (d.geo) j["geo"] = {{"lat", d.geo->lat}, {"lon", d.geo->lon}};
  if (!d.public_key.empty()) j["public_key"] = d.public_key;
  return j;
}

json RecordToJson(const CloudletRecord& r) {
  json j = DescriptorToJson(r.descriptor);
  j["state"] = HealthName(r.health);
  j["load"] = r.load;
  j["free"] = {{"cpu_millis", r.free.cpu_millis}, {"mem_mb", r.free.mem_mb}};
  j["registered_at"] = common::FormatRfc3339(r.registered_at);
  j["last_heartbeat"] = common::FormatRfc3339(r.last_heartbeat);
  j["index"] = r.modify_index;
  return j;
}

}  // namespace cloudlet::discovery
