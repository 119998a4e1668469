// api/openapi.json against cloudletd itself (in-process, support/in_process_server.h): every route
// is described and every description routed; a tour calls every operation with a request that
// its schema accepts and checks each answer against the schema of its status; every object in
// every request body refuses a field it does not know, and that refusal changes nothing.
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cloudlet/api/openapi.h"
#include "cloudlet/common/time_format.h"
#include "support/in_process_server.h"
#include "support/json_schema.h"

namespace cloudlet::server {
namespace {

using nlohmann::json;
using testing::SchemaChecker;

constexpr char kUnknown[] = "zz_not_a_field";

json Document() { return json::parse(api::OpenApiDocument()); }

// "/v1/placements/pl-0123456789abcdef/confirm" -> "/v1/placements/{id}/confirm", when the
// description has that template.
std::string TemplateOf(const json& doc, const std::string& path) {
  const std::string bare = path.substr(0, path.find('?'));
  auto split = [](const std::string& p) {
    std::vector<std::string> out;
    std::stringstream in(p);
    for (std::string part; std::getline(in, part, '/');) out.push_back(part);
    return out;
  };
  const auto have = split(bare);
  for (const auto& [name, _] : doc["paths"].items()) {
    const auto want = split(name);
    bool same = want.size() == have.size() && (bare.back() == '/') == (name.back() == '/');
    for (size_t i = 0; same && i < want.size(); ++i) same = want[i] == have[i] || want[i].starts_with('{');
    if (same) return name;
  }
  return "";
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Every place in `body` where an object's schema forbids other members, as a JSON pointer.
void ClosedObjects(const SchemaChecker& check, const json& schema_in, const json& value, const json::json_pointer& at,
                   std::vector<json::json_pointer>& out) {
  const json& schema = schema_in.contains("$ref") ? check.Resolve(schema_in["$ref"]) : schema_in;
  if (value.is_object()) {
    if (schema.value("additionalProperties", json(true)) == json(false)) out.push_back(at);
    const json props = schema.value("properties", json::object());
    for (const auto& [key, member] : value.items()) {
      if (props.contains(key)) ClosedObjects(check, props[key], member, at / key, out);
      else if (schema.contains("additionalProperties") && schema["additionalProperties"].is_object()) {
        ClosedObjects(check, schema["additionalProperties"], member, at / key, out);
      }
    }
  } else if (value.is_array() && schema.contains("items") && !value.empty()) {
    ClosedObjects(check, schema["items"], value[0], at / 0, out);
  }
}

class OpenApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lab_.config().rate_limit = 10'000;  // the probes come fast, from one tenant token
    lab_.config().rate_burst = 10'000;
    lab_.Start();
  }

  // Calls `method path` as `token` and checks the exchange against the description: the body
  // against the request schema (the tour's own requests must conform), the status among the
  // documented ones, the answer against that status's schema. Body-taking operations are first
  // sent with an unknown member in each closed object, each of which must be refused.
  api::HttpResponse Call(const std::string& method, const std::string& path, const json& body = nullptr,
                         const std::string& token = testing::kInProcessOperatorToken) {
    const std::string name = TemplateOf(doc_, path);
    const std::string verb = Lower(method);
    if (name.empty() || !doc_["paths"][name].contains(verb)) {
      ADD_FAILURE() << method << " " << path << " is not in the description";
      return {};
    }
    const json& op = doc_["paths"][name][verb];
    if (!body.is_null()) {
      EXPECT_TRUE(op.contains("requestBody")) << method << " " << name << " takes no body in the description";
      const json schema = op["requestBody"]["content"]["application/json"]["schema"];
      const auto errors = check_.Errors(schema, body);
      EXPECT_TRUE(errors.empty()) << method << " " << name << ": the tour's request does not conform: " << errors.front();
      RefusesUnknownMembers(method, path, name, schema, body, token);
    }
    api::HttpResponse r = lab_.Call(method, path, body, token);
    CheckAnswer(method, name, op, r);
    if (r.status < 300) covered_.insert(verb + " " + name);
    return r;
  }

  void CheckAnswer(const std::string& method, const std::string& name, const json& op, const api::HttpResponse& r) {
    const std::string where = method + " " + name + " -> " + std::to_string(r.status);
    const std::string code = std::to_string(r.status);
    if (!op["responses"].contains(code)) return ADD_FAILURE() << where << " is not a documented status: " << r.body;
    json answer = op["responses"][code];
    if (answer.contains("$ref")) answer = check_.Resolve(answer["$ref"]);
    if (!answer.contains("content")) {
      EXPECT_TRUE(r.body.empty()) << where << " documents no body but has one";
      return;
    }
    const std::string type = r.content_type.substr(0, r.content_type.find(';'));
    if (!answer["content"].contains(type)) return ADD_FAILURE() << where << ": content type " << type << " is not documented";
    const json& schema = answer["content"][type]["schema"];
    json value = r.body;  // text answers are strings
    if (type.ends_with("json")) {
      value = json::parse(r.body, nullptr, false);
      if (value.is_discarded()) return ADD_FAILURE() << where << ": not JSON";
    }
    const auto errors = check_.Errors(schema, value);
    EXPECT_TRUE(errors.empty()) << where << ": the answer does not match its schema: " << errors.front() << "\n"
                                << r.body.substr(0, 600);
  }

  void RefusesUnknownMembers(const std::string& method, const std::string& path, const std::string& name,
                             const json& schema, const json& body, const std::string& token) {
    std::vector<json::json_pointer> closed;
    ClosedObjects(check_, schema, body, json::json_pointer(), closed);
    EXPECT_FALSE(closed.empty()) << method << " " << name << ": no closed object in its request schema";
    for (const auto& at : closed) {
      json bad = body;
      bad[at][kUnknown] = 1;
      const api::HttpResponse r = lab_.Call(method, path, bad, token);
      const std::string where = method + " " + name + " with an unknown member at '" + at.to_string() + "'";
      // A usage batch judges each record alone: the record is refused with its reason.
      const json answer = json::parse(r.body, nullptr, false);
      if (r.status == 200 && name == "/v1/usage") {
        EXPECT_EQ(answer["accepted"], 0) << where;
        EXPECT_NE(answer["results"][0].value("reason", "").find(kUnknown), std::string::npos) << where << ": " << r.body;
        continue;
      }
      EXPECT_EQ(r.status, 400) << where << ": " << r.body;
      EXPECT_NE(r.body.find(kUnknown), std::string::npos) << where << ": the error does not name it: " << r.body;
    }
  }

  std::string Issue(const json& request) {
    auto r = Call("POST", "/v1/tokens", request);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false).value("token", "");
  }

  testing::InProcessServer lab_;
  json doc_ = Document();
  SchemaChecker check_{doc_};
  std::set<std::string> covered_;
};

TEST_F(OpenApiTest, EveryRouteIsDescribedAndEveryDescriptionIsRouted) {
  std::set<std::string> routed, described;
  for (const auto& [method, pattern] : lab_.server().routes()) routed.insert(Lower(method) + " " + pattern);
  for (const auto& [path, item] : doc_["paths"].items()) {
    for (const auto& [verb, _] : item.items()) {
      if (verb != "parameters") described.insert(verb + " " + path);
    }
  }
  for (const auto& r : routed) EXPECT_TRUE(described.count(r)) << r << " is routed but not described in api/openapi.json";
  for (const auto& d : described) EXPECT_TRUE(routed.count(d)) << d << " is described in api/openapi.json but not routed";
  EXPECT_GE(routed.size(), 30u);
}

TEST_F(OpenApiTest, TheDescriptionIsServedWithoutATokenAndIsTheOneInTheTree) {
  std::ifstream in(std::string(CLOUDLET_SOURCE_DIR) + "/api/openapi.json");
  std::stringstream text;
  text << in.rdbuf();
  const api::HttpResponse r = lab_.Call("GET", "/v1/openapi.json", nullptr, "not-a-token");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, text.str());
  EXPECT_EQ(doc_["openapi"], "3.1.0");
}

TEST_F(OpenApiTest, EveryOperationAnswersAsDescribedAndRefusesFieldsItDoesNotKnow) {
  for (const char* path : {"/healthz", "/metrics", "/v1/openapi.json", "/ui", "/ui/", "/ui/app.js", "/ui/style.css"}) {
    EXPECT_EQ(Call("GET", path).status, 200) << path;
  }
  // The registry: a cloudlet with every field, registered, replaced, beating, listed.
  const std::string digest = "sha256:" + std::string(64, 'a');
  json cloudlet = {{"id", "cl-a"}, {"name", "Lab A"}, {"endpoint", "http://127.0.0.1:8471"},
                   {"geo", {{"lat", 40.44}, {"lon", -79.94}}}, {"capacity", {{"cpu_millis", 8000}, {"mem_mb", 16384}, {"gpus", 0}}},
                   {"isolation", {"container"}}, {"base_vms", {{{"digest", digest}, {"size_mb", 100}}}},
                   {"wan_mbps", 100}, {"labels", {{"site", "lab"}}}};
  EXPECT_EQ(Call("PUT", "/v1/cloudlets/cl-a", cloudlet).status, 201);
  EXPECT_EQ(Call("PUT", "/v1/cloudlets/cl-a", cloudlet).status, 200);
  cloudlet.erase("id");
  cloudlet["geo"] = {{"lat", 10}, {"lon", 10}};
  EXPECT_EQ(Call("PUT", "/v1/cloudlets/cl-b", cloudlet).status, 201);
  EXPECT_EQ(Call("POST", "/v1/cloudlets/cl-a/heartbeat",
                 {{"load", 0.25}, {"free", {{"cpu_millis", 8000}, {"mem_mb", 16384}}},
                  {"cache", {{"added", {{{"digest", "sha256:" + std::string(64, 'd')}, {"size_mb", 50}}}},
                             {"removed", {"sha256:" + std::string(64, 'e')}}}}})
                .status, 200);
  EXPECT_EQ(Call("GET", "/v1/cloudlets?near=40.4,-79.9&limit=5").status, 200);
  EXPECT_EQ(Call("GET", "/v1/cloudlets/cl-a").status, 200);
  EXPECT_EQ(Call("GET", "/v1/cloudlets/cl-nowhere").status, 404);

  // Tenants and tokens.
  EXPECT_EQ(Call("POST", "/v1/tenants", {{"id", "acme"}, {"name", "Acme AR"}}).status, 201);
  EXPECT_EQ(Call("POST", "/v1/tenants", {{"id", "other"}}).status, 201);
  EXPECT_EQ(Call("GET", "/v1/tenants").status, 200);
  EXPECT_EQ(Call("PUT", "/v1/tenants/acme/quotas", {{"max_placements", 10}, {"max_cpu_millis", 2'000'000}, {"max_monthly_spend", nullptr}}).status, 200);
  const std::string tenant = Issue({{"role", "tenant"}, {"tenant", "acme"}, {"ttl", "1h"}, {"description", "the tour"}});
  const std::string agent = Issue({{"role", "agent"}, {"cloudlet", "cl-a"}});
  const std::string spare = Issue({{"role", "tenant"}, {"tenant", "other"}});

  // A placement through its life: placed, read, confirmed, moved, run by the agent, released.
  const json app = {{"name", "ar"}, {"base_vm", digest}, {"base_vm_mb", 100}, {"overlay_mb", 20}, {"cpu_millis", 500},
                    {"mem_mb", 64}, {"isolation", "container"}, {"service_ms", 5}, {"req_rate_hz", 10}, {"session_s", 600},
                    {"max_rtt_ms", 50}, {"image", "127.0.0.1:5000/ar@sha256:" + std::string(64, 'c')}, {"port", 8080},
                    {"env", {{"MODE", "demo"}}}, {"command", {"/app", "--serve"}}, {"health", {{"http", "/healthz"}}},
                    {"ready_timeout_s", 30}};
  const json request = {{"app", app},
                        {"client", {{"id", "phone-1"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}}, {"rtt_ms", {{"cl-a", 4.0}}}}},
                        {"k", 3}};
  auto placed = Call("POST", "/v1/placements", request, tenant);
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string id = json::parse(placed.body)["placement_id"];
  json too_big = request;
  too_big["app"]["cpu_millis"] = 1'000'000;
  EXPECT_EQ(Call("POST", "/v1/placements", too_big, tenant).status, 200);
  EXPECT_EQ(Call("GET", "/v1/placements", nullptr, tenant).status, 200);
  EXPECT_EQ(Call("GET", "/v1/placements/" + id, nullptr, tenant).status, 200);
  EXPECT_EQ(Call("POST", "/v1/placements/" + id + "/confirm", nullptr, tenant).status, 200);
  EXPECT_EQ(Call("POST", "/v1/placements/" + id + "/location",
                 {{"id", "phone-1"}, {"geo", {{"lat", 40.45}, {"lon", -79.95}}}, {"rtt_ms", {{"cl-a", 5.0}}}}, tenant)
                .status, 200);
  EXPECT_EQ(Call("GET", "/v1/cloudlets/cl-a/placements", nullptr, agent).status, 200);
  EXPECT_EQ(Call("POST", "/v1/placements/" + id + "/status",
                 {{"state", "running"}, {"endpoint", "127.0.0.1:31001"},
                  {"provision", {{"mode", "warm"}, {"seconds", 1.5}, {"bytes", 0}, {"pull_seconds", 0}, {"start_seconds", 1.5}}}},
                 agent)
                .status, 200);
  const std::string now = common::FormatRfc3339(lab_.clock().Now());
  EXPECT_EQ(Call("PUT", "/v1/cloudlets/cl-a/workloads",
                 {{"at", now}, {"workloads", {{{"placement_id", id}, {"cpu_millis", 250}, {"mem_mib", 40},
                                               {"net_in_bytes", 1000}, {"net_out_bytes", 2000}}}}}, agent)
                .status, 200);
  EXPECT_EQ(Call("GET", "/v1/placements/" + id, nullptr, tenant).status, 200);  // running, with live figures
  EXPECT_EQ(Call("POST", "/v1/rtt", {{"from", "cl-a"}, {"samples", {{{"to", "cl-b"}, {"rtt_ms", 12.5}}}}}, agent).status, 200);

  // Prices, usage and the report, as JSON and as CSV.
  const std::string today = now.substr(0, 10);
  EXPECT_EQ(Call("PUT", "/v1/prices",
                 {{"effective", "2026-01-01"}, {"currency", "EUR"},
                  {"prices", {{"cpu_core_hour", 0.04}, {"mem_gib_hour", 0.005}, {"instance_hour", 0.01}}},
                  {"tiers", {{"gold", {{"cpu_core_hour", 0.08}}}}}})
                .status, 200);
  EXPECT_EQ(Call("GET", "/v1/prices").status, 200);
  const auto start = common::FormatRfc3339(lab_.clock().Now() - std::chrono::seconds(10));
  auto usage = Call("POST", "/v1/usage",
                    {{"records", {{{"event_id", "tour-1"}, {"kind", "usage"}, {"tenant", "acme"}, {"placement_id", id},
                                   {"cloudlet", "cl-a"}, {"start", start}, {"end", now},
                                   {"quantities", {{"cpu_core_s", 4.5}, {"mem_mib_s", 640}, {"net_in_bytes", 1000},
                                                   {"net_out_bytes", 2000}, {"gpu_s", 0}, {"instance_s", 10}}}}}}},
                    agent);
  EXPECT_EQ(json::parse(usage.body).value("accepted", 0), 1) << usage.body;
  const std::string span = "from=" + today + "&to=" + common::FormatRfc3339(lab_.clock().Now() + std::chrono::hours(24)).substr(0, 10);
  EXPECT_EQ(Call("GET", "/v1/reports/usage?" + span + "&group_by=tenant,cloudlet,placement,day").status, 200);
  EXPECT_EQ(Call("GET", "/v1/reports/usage?" + span + "&format=csv").status, 200);

  // The audit trail, and the ends of things.
  EXPECT_EQ(Call("GET", "/v1/tokens").status, 200);
  EXPECT_EQ(Call("GET", "/v1/audit?limit=50").status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/placements/" + id, nullptr, tenant).status, 204);
  const json tokens = json::parse(lab_.Call("GET", "/v1/tokens").body)["tokens"];
  std::string spare_id;
  for (const auto& t : tokens) {
    if (t.value("tenant", "") == "other") spare_id = t["id"];
  }
  ASSERT_FALSE(spare_id.empty());
  EXPECT_EQ(Call("DELETE", "/v1/tokens/" + spare_id).status, 204);
  EXPECT_EQ(Call("POST", "/v1/tenants/acme/rotate-key").status, 200);
  EXPECT_EQ(Call("POST", "/v1/tenants/other/disable").status, 200);
  EXPECT_EQ(Call("DELETE", "/v1/cloudlets/cl-b").status, 204);
  (void)spare;

  // Every operation the description names was called and answered with success.
  for (const auto& [path, item] : doc_["paths"].items()) {
    for (const auto& [verb, _] : item.items()) {
      if (verb == "parameters") continue;
      EXPECT_TRUE(covered_.count(verb + " " + path)) << verb << " " << path << " was not exercised";
    }
  }
}

TEST_F(OpenApiTest, ANumberBeyondADoubleOrBrokenJsonIsRefusedSayingWhereAndChangesNothing) {
  for (const auto& [body, says] : std::vector<std::pair<std::string, std::string>>{
           {R"({"endpoint": "http://127.0.0.1:1", "wan_mbps": 1e400})", "number 1e400 at line 1, column 48 is out of range"},
           {"{\n  \"wan_mbps\": 1,\n  oops\n}", "line 3, column 3"}}) {
    const api::HttpResponse got = lab_.CallText("PUT", "/v1/cloudlets/cl-x", body);
    EXPECT_EQ(got.status, 400) << body << " -> " << got.body;
    EXPECT_NE(got.body.find(says), std::string::npos) << got.body;
  }
  EXPECT_EQ(lab_.Call("GET", "/v1/cloudlets/cl-x").status, 404);  // nothing was registered
}

}  // namespace
}  // namespace cloudlet::server
