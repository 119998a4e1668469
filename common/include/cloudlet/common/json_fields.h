// Typed reading of a JSON object's fields with errors that name the field ("capacity.cpu_millis").
//
//   JsonFields f(body, "app");
//   f.String("name", /*required=*/true, app.name);
//   f.Number("overlay_mb", true, app.overlay_mb);
//   if (const auto* geo = f.Object("geo", false)) { JsonFields g(*geo, "app.geo"); ... f.Merge(g.status()); }
//   CLOUDLET_RETURN_IF_ERROR(f.status());
//
// The first error sticks; later reads become no-ops, so a parser reads every field and checks
// status() once. Required fields found absent are all named in that error ("is required (so are
// ...)"), unless another error came first. Missing optional fields leave the output untouched (its default). Not thread-safe.
//
// Reads with ranges return the status as well, for parsers that stop at the first error, and every
// key read is remembered, so that NoOthers() reports the rest (most likely typos):
//
//   auto area = JsonFields::Child(root, "", "area", /*required=*/true);      // an object member
//   CLOUDLET_RETURN_IF_ERROR(area->NumberIn("width_m", s.width_m, 0, 1e7, /*lo_open=*/true, /*required=*/true));
//   CLOUDLET_RETURN_IF_ERROR(area->NoOthers());                             // "area.widht_m: is not a known field"
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

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

  // The object member `key` of `parent` (at `parent_path`); an empty object when it is absent and
  // not required.
  static Result<JsonFields> Child(const nlohmann::json& parent, const std::string& parent_path, std::string_view key,
                                  bool required) {
    const std::string path = JoinField(parent_path, key);
    auto it = parent.find(key);
    if (it == parent.end()) {
      if (required) return Status::InvalidField(path, "is required");
      return JsonFields(EmptyObject(), path);
    }
    if (!it->is_object()) return Status::InvalidField(path, "must be an object");
    return JsonFields(*it, path);
  }

  const nlohmann::json* Find(std::string_view key, bool required) {
    Seen(key);
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) Missing(key);
      return nullptr;
    }
    if (!status_.ok()) return nullptr;
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
      Merge(g.NoOthers());
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
  const std::string& path() const { return prefix_; }
  const nlohmann::json& self() const { return obj_; }
  const Status& status() const { return status_; }

  // Marks `key` as known without reading it (a caller reads it some other way).
  void Seen(std::string_view key) { seen_.emplace(key); }
  bool Has(std::string_view key) const { return obj_.contains(key); }
  const nlohmann::json& Raw(std::string_view key) {
    Seen(key);
    return obj_.at(key);
  }

  // A number in [lo, hi] (or (lo, hi] when lo_open); a null or absent one keeps `out` unless required.
  Status NumberIn(std::string_view key, double& out, double lo, double hi, bool lo_open = false, bool required = false) {
    const std::string range = (lo_open ? "(" : "[") + Num(lo) + ", " + Num(hi) + "]";
    const nlohmann::json* v = Member(key, required);
    if (!v) return status_;
    if (!v->is_number()) return Stick(key, "must be a number in " + range);
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < lo || d > hi || (lo_open && d == lo)) {
      return Stick(key, "must be a number in " + range + ", not " + Num(d));
    }
    out = d;
    return status_;
  }
  Status IntIn(std::string_view key, int64_t& out, int64_t lo, int64_t hi, bool required = false) {
    const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    const nlohmann::json* v = Member(key, required);
    if (!v) return status_;
    if (!v->is_number_integer()) return Stick(key, "must be a whole number in " + range);
    const int64_t i = v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX ? INT64_MAX : v->get<int64_t>();
    if (i < lo || i > hi) return Stick(key, "must be a whole number in " + range);
    out = i;
    return status_;
  }
  Status StringIn(std::string_view key, std::string& out, size_t max, bool required = false) {
    const nlohmann::json* v = Member(key, required);
    if (!v) return status_;
    if (!v->is_string() || v->get_ref<const std::string&>().empty() || v->get_ref<const std::string&>().size() > max) {
      return Stick(key, "must be a string of 1 to " + std::to_string(max) + " characters");
    }
    out = v->get<std::string>();
    return status_;
  }
  Status OneOf(std::string_view key, std::string& out, std::initializer_list<const char*> allowed) {
    CLOUDLET_RETURN_IF_ERROR(StringIn(key, out, 64));
    if (!obj_.contains(key)) return status_;
    std::string list;
    for (const char* a : allowed) {
      if (out == a) return status_;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    return Stick(key, "must be one of " + list + ", not '" + out.substr(0, 40) + "'");
  }
  // The first key that nobody read (most likely a typo), as an error; the sticky status first.
  Status NoOthers() const {
    if (!status_.ok()) return status_;
    for (const auto& [k, v] : obj_.items()) {
      if (!seen_.count(k)) return Status::InvalidField(JoinField(prefix_, k.substr(0, 64)), "is not a known field");
    }
    return Status::Ok();
  }

 private:
  static const nlohmann::json& EmptyObject() {
    static const nlohmann::json empty = nlohmann::json::object();
    return empty;
  }
  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
  }
  // The member to read with a range, or null (absent and not required, or an earlier error).
  const nlohmann::json* Member(std::string_view key, bool required) {
    Seen(key);
    if (!status_.ok()) return nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required) Missing(key);
      return nullptr;
    }
    return &*it;
  }
  // A required field is absent. Absent fields are all named at once ("app.name: is required (so
  // are app.mem_mb, app.cpu_millis)"); another error, once there, sticks alone.
  void Missing(std::string_view key) {
    if (!status_.ok() && missing_.empty()) return;
    missing_.push_back(JoinField(prefix_, key));
    std::string reason = "is required";
    for (size_t i = 1; i < missing_.size(); ++i) reason += (i == 1 ? " (so are " : ", ") + missing_[i];
    if (missing_.size() > 1) reason += ")";
    status_ = Status::InvalidField(missing_.front(), reason);
  }
  const Status& Stick(std::string_view key, std::string reason) {
    Fail(key, std::move(reason));
    return status_;
  }

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
  std::set<std::string, std::less<>> seen_;
  std::vector<std::string> missing_;  // required fields found absent, in the order read
};

}  // namespace cloudlet::common
