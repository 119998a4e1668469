// The JSON form of the cloudlet model, shared by the REST API and the stores.
//
//   auto d = ParseDescriptorJson(body, /*path_id=*/"cl-a");   // 400-worthy errors name the field
//   nlohmann::json j = RecordToJson(record);
//
// Unknown fields are ignored; a field of the wrong type is an InvalidField error naming it.
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudlet/common/status.h"
#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::discovery {

// Parses and validates a descriptor. `path_id` is the id from the URL: the body's `id` may be
// omitted but must match when present. `name` defaults to the id.
common::Result<CloudletDescriptor> ParseDescriptorJson(std::string_view body, std::string_view path_id);
common::Result<CloudletDescriptor> DescriptorFromJson(const nlohmann::json& j, std::string_view path_id);
// Parses a heartbeat; its relation to the descriptor (free <= capacity) is checked by the registry.
common::Result<Heartbeat> ParseHeartbeatJson(std::string_view body);

nlohmann::json DescriptorToJson(const CloudletDescriptor& d);
// The registry's view: the descriptor plus state, load, free, last_heartbeat, registered_at, index.
nlohmann::json RecordToJson(const CloudletRecord& r);

// Parses a body that must be a JSON object; the error says where the JSON broke.
common::Result<nlohmann::json> ParseJsonObject(std::string_view body);

}  // namespace cloudlet::discovery
