// A JSON Schema checker for the subset api/openapi.json uses: type (one or a list), properties,
// required, additionalProperties (false or a schema), items, enum, minimum, maximum, minLength,
// maxLength, pattern, minItems, maxItems, maxProperties and $ref into the same document.
// Annotations (description, format, example, title) are skipped; any other keyword is an error,
// so that the description cannot use what this checker would silently ignore.
//
//   SchemaChecker check(openapi_doc);
//   std::vector<std::string> errors = check.Errors(schema, value);   // "app.cpu_millis: must be integer"
#pragma once

#include <cmath>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cloudlet::testing {

class SchemaChecker {
 public:
  explicit SchemaChecker(const nlohmann::json& document) : doc_(document) {}

  std::vector<std::string> Errors(const nlohmann::json& schema, const nlohmann::json& value) const {
    std::vector<std::string> errors;
    Check(schema, value, "$", errors);
    return errors;
  }

  // The schema `ref` ("#/components/schemas/Placement") points at.
  const nlohmann::json& Resolve(const std::string& ref) const {
    static const nlohmann::json kMissing = nullptr;
    if (!ref.starts_with("#/")) return kMissing;
    const nlohmann::json* at = &doc_;
    size_t start = 2;
    while (start <= ref.size()) {
      const size_t slash = ref.find('/', start);
      const std::string key = ref.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!at->is_object() || !at->contains(key)) return kMissing;
      at = &(*at)[key];
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return *at;
  }

 private:
  static bool HasType(const nlohmann::json& v, const std::string& type) {
    if (type == "object") return v.is_object();
    if (type == "array") return v.is_array();
    if (type == "string") return v.is_string();
    if (type == "boolean") return v.is_boolean();
    if (type == "null") return v.is_null();
    if (type == "number") return v.is_number();
    if (type == "integer") {
      return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    }
    return false;
  }

  void Check(const nlohmann::json& schema, const nlohmann::json& v, const std::string& at,
             std::vector<std::string>& errors) const {
    static const std::set<std::string> kAnnotations = {"description", "format", "example", "title", "$ref", "type",
        "properties", "required", "additionalProperties", "items", "enum", "minimum", "maximum", "minLength",
        "maxLength", "pattern", "minItems", "maxItems", "maxProperties"};
    for (const auto& [key, _] : schema.items()) {
      if (!kAnnotations.count(key)) errors.push_back(at + ": the checker does not know the keyword '" + key + "'");
    }
    if (schema.contains("$ref")) {
      const nlohmann::json& target = Resolve(schema["$ref"]);
      if (target.is_null()) return errors.push_back(at + ": unresolved $ref " + schema["$ref"].dump());
      return Check(target, v, at, errors);
    }
    if (schema.contains("type")) {
      const nlohmann::json& t = schema["type"];
      bool ok = false;
      for (const auto& one : t.is_array() ? t : nlohmann::json::array({t})) ok = ok || HasType(v, one.get<std::string>());
      if (!ok) return errors.push_back(at + ": must be " + t.dump() + ", not " + v.type_name() + " " + v.dump().substr(0, 80));
    }
    if (schema.contains("enum")) {
      bool found = false;
      for (const auto& e : schema["enum"]) found = found || e == v;
      if (!found) errors.push_back(at + ": " + v.dump().substr(0, 80) + " is not one of " + schema["enum"].dump());
    }
    if (v.is_number()) {
      const double d = v.get<double>();
      if (schema.contains("minimum") && d < schema["minimum"].get<double>()) errors.push_back(at + ": below the minimum");
      if (schema.contains("maximum") && d > schema["maximum"].get<double>()) errors.push_back(at + ": above the maximum");
    }
    if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      if (schema.contains("minLength") && s.size() < schema["minLength"].get<size_t>()) errors.push_back(at + ": too short");
      if (schema.contains("maxLength") && s.size() > schema["maxLength"].get<size_t>()) errors.push_back(at + ": too long");
      if (schema.contains("pattern") && !std::regex_search(s, std::regex(schema["pattern"].get<std::string>()))) {
        errors.push_back(at + ": '" + s.substr(0, 80) + "' does not match " + schema["pattern"].get<std::string>());
      }
    }
    if (v.is_array()) {
      if (schema.contains("minItems") && v.size() < schema["minItems"].get<size_t>()) errors.push_back(at + ": too few items");
      if (schema.contains("maxItems") && v.size() > schema["maxItems"].get<size_t>()) errors.push_back(at + ": too many items");
      if (schema.contains("items")) {
        for (size_t i = 0; i < v.size(); ++i) Check(schema["items"], v[i], at + "[" + std::to_string(i) + "]", errors);
      }
    }
    if (v.is_object()) {
      if (schema.contains("maxProperties") && v.size() > schema["maxProperties"].get<size_t>()) {
        errors.push_back(at + ": too many members");
      }
      for (const auto& r : schema.value("required", nlohmann::json::array())) {
        if (!v.contains(r.get<std::string>())) errors.push_back(at + "." + r.get<std::string>() + ": is required");
      }
      const nlohmann::json props = schema.value("properties", nlohmann::json::object());
      for (const auto& [key, member] : v.items()) {
        if (props.contains(key)) {
          Check(props[key], member, at + "." + key, errors);
        } else if (schema.contains("additionalProperties")) {
          const nlohmann::json& extra = schema["additionalProperties"];
          if (extra.is_boolean() && !extra.get<bool>()) errors.push_back(at + "." + key + ": is not in the schema");
          else if (extra.is_object()) Check(extra, member, at + "." + key, errors);
        }
      }
    }
  }

  const nlohmann::json& doc_;
};

}  // namespace cloudlet::testing
