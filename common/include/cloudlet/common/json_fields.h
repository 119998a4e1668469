// Typed reading of a JSON object's fields with errors that name the field ("capacity.cpu_millis").
//
//   JsonFields f(body, "app");
//   f.String("name", /*required=*/true, app.name);
//   f.Number("overlay_mb", true, app.overlay_mb);
//   if (const auto* geo = f.Object("geo", false)) { JsonFields g(*geo, "app.geo"); ... f.Merge(g.status()); }
//   CLOUDLET_RETURN_IF_ERROR(f.status());
//
// The first error sticks; later reads become no-ops, so a parser reads every field and checks
// status() once. Missing optional fields leave the output untouched (its default). Not thread-safe.
#pragma once

#include <cmath>
#include <optional>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"

namespace cloudlet::common {

inline std::string JoinField(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
}

class JsonFields {
 public:
  JsonFields(const nlohmann::json& obj, std::string prefix) : obj_(obj), prefix_(std::move(prefix)) {}

  const nlohmann::json* Find(std::string_view key, bool required) {
    if (!status_.ok()) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) status_ = Status::InvalidField(JoinField(prefix_, key), "is required");
      return nullptr;
    }
    return &*it;
  }
  void String(std::string_view key, bool required, std::string& out) {
    if (const nlohmann::json* v = Find(key, required)) {
      if (!v->is_string()) return Fail(key, "must be a string");
      out = v->get<std::string>();
    }
  }
  void Int(std::string_view key, bool required, int64_t& out) {
    if (const nlohmann::json* v = Find(key, required)) {
      if (v->is_number_integer() && !v->is_number_unsigned()) out = v->get<int64_t>();
      else if (v->is_number_unsigned() && v->get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) out = v->get<int64_t>();
      else return Fail(key, "must be an integer");
    }
  }
  void Number(std::string_view key, bool required, double& out) {
    if (const nlohmann::json* v = Find(key, required)) {
      if (!v->is_number()) return Fail(key, "must be a number");
      out = v->get<double>();
      if (!std::isfinite(out)) return Fail(key, "must be finite");
    }
  }
  const nlohmann::json* Object(std::string_view key, bool required) { return Typed(key, required, &nlohmann::json::is_object, "an object"); }
  const nlohmann::json* Array(std::string_view key, bool required) { return Typed(key, required, &nlohmann::json::is_array, "an array"); }
  // {lat, lon} in degrees; the range is the caller's to check (IsValidGeo).
  void Geo(std::string_view key, bool required, std::optional<GeoPoint>& out) {
    if (const nlohmann::json* v = Object(key, required)) {
      JsonFields g(*v, JoinField(prefix_, key));
      GeoPoint p;
      g.Number("lat", true, p.lat);
      g.Number("lon", true, p.lon);
      Merge(g.status());
      out = p;
    }
  }
  void Fail(std::string_view key, std::string reason) {
    if (status_.ok()) status_ = Status::InvalidField(JoinField(prefix_, key), std::move(reason));
  }
  void Merge(const Status& s) {
    if (status_.ok() && !s.ok()) status_ = s;
  }
  std::string Path(std::string_view key) const { return JoinField(prefix_, key); }
  const Status& status() const { return status_; }

 private:
  const nlohmann::json* Typed(std::string_view key, bool required, bool (nlohmann::json::*is)() const noexcept, const char* what) {
    const nlohmann::json* v = Find(key, required);
    if (v && !(v->*is)()) {
      Fail(key, std::string("must be ") + what);
      return nullptr;
    }
    return v;
  }

  const nlohmann::json& obj_;
  std::string prefix_;
  Status status_;
};

}  // namespace cloudlet::common
