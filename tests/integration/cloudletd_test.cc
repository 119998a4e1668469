// The real cloudletd binary on loopback with a real SQLite file.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <thread>

#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

std::string Digest(char c) { return "sha256:" + std::string(64, c); }

json Descriptor(const std::string& id, double lat = 40.44, double lon = -79.94, std::vector<std::string> vms = {}) {
  json base_vms = json::array();
  for (const auto& d : vms) base_vms.push_back({{"digest", d}, {"size_mb", 4096}});
  return {{"name", "Cloudlet " + id},
          {"endpoint", "http://10.0.0.7:8471"},
          {"geo", {{"lat", lat}, {"lon", lon}}},
          {"capacity", {{"cpu_millis", 16000}, {"mem_mb", 65536}, {"gpus", 1}}},
          {"isolation", {"vm", "container"}},
          {"base_vms", base_vms},
          {"wan_mbps", 1000}};
}

std::vector<std::string> Ids(const json& list) {
  std::vector<std::string> out;
  for (const auto& c : list["cloudlets"]) out.push_back(c["id"]);
  return out;
}

// Starts a blocking list query from another thread and returns once cloudletd has parked it. The
// client gives up after 30 s, well before any `wait` the tests use: an answer means a wake-up.
std::future<api::ClientResponse> StartBlockingQuery(const CloudletdProcess& d, uint64_t index, const std::string& wait) {
  auto waiting = std::async(std::launch::async, [&d, index, wait] {
    return d.Call("GET", "/v1/cloudlets?index=" + std::to_string(index) + "&wait=" + wait, "", kOperatorToken,
                  milliseconds(30'000));
  });
  EXPECT_TRUE(WaitFor([&] {
    return d.Call("GET", "/metrics", "", "").body.find("cloudlet_registry_blocking_queries{kind=\"list\"} 1") !=
           std::string::npos;
  }));
  return waiting;
}

void ExpectProblem(const api::ClientResponse& r, long status, const std::string& field = "") {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.Header("content-type"), "application/problem+json") << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["status"], status);
  EXPECT_TRUE(j.contains("type") && j.contains("title") && j.contains("detail")) << r.body;
  if (!field.empty()) {
    EXPECT_EQ(j.value("field", ""), field) << r.body;
  }
}

TEST(CloudletdTest, RegistersHeartbeatsAndListsWithFilters) {
  CloudletdProcess d;
  d.Start();
  auto put = d.Call("PUT", "/v1/cloudlets/cl-pgh", Descriptor("cl-pgh", 40.44, -79.94, {Digest('a')}).dump());
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.Header("location"), "/v1/cloudlets/cl-pgh");
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-bos", Descriptor("cl-bos", 42.36, -71.06).dump()).status, 201);
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-nyc", Descriptor("cl-nyc", 40.71, -74.0, {Digest('b')}).dump()).status, 201);
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-nyc", Descriptor("cl-nyc", 40.71, -74.0, {Digest('b')}).dump()).status, 200);

  auto hb = d.Call("POST", "/v1/cloudlets/cl-bos/heartbeat",
                   R"({"load":0.4,"free":{"cpu_millis":9000,"mem_mb":1000},"cache":{"added":[{"digest":")" + Digest('a') +
                       R"(","size_mb":4096}]}})");
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_EQ(json::parse(hb.body)["state"], "healthy");

  auto all = d.Call("GET", "/v1/cloudlets");
  ASSERT_EQ(all.status, 200);
  EXPECT_EQ(all.Header("x-cloudlet-index"), std::to_string(json::parse(all.body)["index"].get<uint64_t>()));
  EXPECT_EQ(Ids(json::parse(all.body)), (std::vector<std::string>{"cl-bos", "cl-nyc", "cl-pgh"}));

  auto bos = d.Json("GET", "/v1/cloudlets/cl-bos");
  EXPECT_DOUBLE_EQ(bos["load"], 0.4);
  EXPECT_EQ(bos["free"]["cpu_millis"], 9000);
  EXPECT_EQ(bos["base_vms"].size(), 1u);

  EXPECT_EQ(Ids(d.Json("GET", "/v1/cloudlets?base_vm=" + Digest('a'))), (std::vector<std::string>{"cl-bos", "cl-pgh"}));
  EXPECT_EQ(Ids(d.Json("GET", "/v1/cloudlets?base_vm=bbbbbbbbbbbb")), std::vector<std::string>{"cl-nyc"});
  EXPECT_EQ(Ids(d.Json("GET", "/v1/cloudlets?near=40.0,-80.0")), (std::vector<std::string>{"cl-pgh", "cl-nyc", "cl-bos"}));
  EXPECT_EQ(Ids(d.Json("GET", "/v1/cloudlets?near=42.3,-71.1&limit=1")), std::vector<std::string>{"cl-bos"});
  EXPECT_EQ(Ids(d.Json("GET", "/v1/cloudlets?state=healthy")).size(), 3u);
  EXPECT_TRUE(Ids(d.Json("GET", "/v1/cloudlets?state=expired")).empty());

  EXPECT_EQ(d.Call("DELETE", "/v1/cloudlets/cl-nyc").status, 204);
  ExpectProblem(d.Call("GET", "/v1/cloudlets/cl-nyc"), 404);
  ExpectProblem(d.Call("DELETE", "/v1/cloudlets/cl-nyc"), 404);
}

TEST(CloudletdTest, BlockingQueryWakesOnChange) {
  CloudletdProcess d;
  d.Start();
  const uint64_t index = d.Json("GET", "/v1/cloudlets")["index"];
  auto waiting = StartBlockingQuery(d, index, "60s");
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-new", Descriptor("cl-new").dump()).status, 201);
  auto r = waiting.get();
  ASSERT_EQ(r.status, 200) << r.body;
  auto body = json::parse(r.body);
  EXPECT_GT(body["index"].get<uint64_t>(), index);
  EXPECT_EQ(Ids(body), std::vector<std::string>{"cl-new"});
  EXPECT_EQ(r.Header("x-cloudlet-index"), std::to_string(body["index"].get<uint64_t>()));
}

TEST(CloudletdTest, BlockingQueryWithoutChangeAnswersWhenTheWaitEnds) {
  CloudletdProcess d;
  d.Start();
  const uint64_t index = d.Json("GET", "/v1/cloudlets")["index"];
  auto r = d.Call("GET", "/v1/cloudlets?index=" + std::to_string(index) + "&wait=200ms");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["index"], index);
  // An index already passed answers at once, whatever the wait.
  auto now = d.Call("GET", "/v1/cloudlets?index=0&wait=10m", "", kOperatorToken, milliseconds(5'000));
  EXPECT_EQ(now.status, 200);
}

TEST(CloudletdTest, SilentCloudletGoesSuspectThenExpiredThenIsPurged) {
  CloudletdProcess d({"--heartbeat-interval", "100ms", "--heartbeat-ttl", "400ms", "--purge-after", "600ms"});
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump()).status, 201);
  auto state = [&] {
    auto r = d.Call("GET", "/v1/cloudlets/cl-a");
    return r.status == 404 ? std::string("purged") : json::parse(r.body)["state"].get<std::string>();
  };
  EXPECT_TRUE(WaitFor([&] { return state() == "suspect"; })) << state();
  EXPECT_TRUE(WaitFor([&] { return state() == "expired"; })) << state();
  EXPECT_TRUE(WaitFor([&] { return state() == "purged"; })) << state();
  // The agent learns to re-register.
  ExpectProblem(d.Call("POST", "/v1/cloudlets/cl-a/heartbeat", R"({"load":0.1})"), 404);
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump()).status, 201);
  EXPECT_EQ(state(), "healthy");
}

TEST(CloudletdTest, KillNineThenRestartKeepsEveryAcknowledgedRegistration) {
  TempDir shared;
  const std::string db = shared.File("var/cloudlet.db");
  std::vector<std::string> acknowledged;
  {
    CloudletdProcess d({}, db);
    d.Start();
    acknowledged = RegisterFromThreads(d, 8, 20, [](const std::string& id) { return Descriptor(id).dump(); });
    d.Signal(SIGKILL);
    EXPECT_EQ(d.Wait(), 128 + SIGKILL);
  }
  ASSERT_EQ(acknowledged.size(), 160u);
  CloudletdProcess again({}, db);
  again.Start();
  auto list = again.Json("GET", "/v1/cloudlets");
  std::set<std::string> present;
  for (const auto& c : list["cloudlets"]) {
    present.insert(c["id"].get<std::string>());
    EXPECT_EQ(c["state"], "suspect") << c["id"];
  }
  for (const auto& id : acknowledged) EXPECT_TRUE(present.contains(id)) << id << " was acknowledged but lost";
  ASSERT_EQ(again.Call("POST", "/v1/cloudlets/cl-0-0/heartbeat", R"({"load":0.2})").status, 200);
  EXPECT_EQ(again.Json("GET", "/v1/cloudlets/cl-0-0")["state"], "healthy");
}

TEST(CloudletdTest, BadRequestsGetProblemsAndChangeNothing) {
  CloudletdProcess d;
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump()).status, 201);
  const json before = d.Json("GET", "/v1/cloudlets/cl-a");

  ExpectProblem(d.Call("PUT", "/v1/cloudlets/cl-a", "{\"name\": "), 400, "body");
  json wrong_type = Descriptor("cl-a");
  wrong_type["capacity"]["cpu_millis"] = "lots";
  ExpectProblem(d.Call("PUT", "/v1/cloudlets/cl-a", wrong_type.dump()), 400, "capacity.cpu_millis");
  json negative = Descriptor("cl-a");
  negative["capacity"]["mem_mb"] = -5;
  ExpectProblem(d.Call("PUT", "/v1/cloudlets/cl-a", negative.dump()), 400, "capacity.mem_mb");
  ExpectProblem(d.Call("PUT", "/v1/cloudlets/CL_A", Descriptor("x").dump()), 400, "id");
  ExpectProblem(d.Call("PUT", "/v1/cloudlets/cl-a", std::string(2 << 20, ' ')), 413);
  ExpectProblem(d.Call("POST", "/v1/cloudlets/cl-a/heartbeat", R"({"load":0.5,"free":{"cpu_millis":99999999,"mem_mb":1}})"),
                400, "free.cpu_millis");
  ExpectProblem(d.Call("POST", "/v1/cloudlets/cl-a/heartbeat", R"({"load":7})"), 400, "load");
  ExpectProblem(d.Call("GET", "/v1/cloudlets?state=sleepy"), 400, "state");
  ExpectProblem(d.Call("GET", "/v1/cloudlets?near=north"), 400, "near");
  ExpectProblem(d.Call("GET", "/v1/cloudlets?limit=0"), 400, "limit");
  ExpectProblem(d.Call("GET", "/v1/cloudlets?index=1&wait=1y"), 400, "wait");
  ExpectProblem(d.Call("GET", "/v1/cloudlets?base_vm=xyz"), 400, "base_vm");
  ExpectProblem(d.Call("GET", "/v1/cloudlets/cl-unknown"), 404);
  ExpectProblem(d.Call("POST", "/v1/cloudlets/cl-unknown/heartbeat", R"({"load":0.1})"), 404);
  ExpectProblem(d.Call("PATCH", "/v1/cloudlets/cl-a", "{}"), 405);
  ExpectProblem(d.Call("GET", "/v2/anything"), 404);

  auto no_token = d.Call("GET", "/v1/cloudlets", "", "");
  ExpectProblem(no_token, 401);
  EXPECT_EQ(no_token.Header("www-authenticate"), "Bearer realm=\"cloudlet\"");
  ExpectProblem(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump(), "not-the-operator-token"), 401);

  json after = d.Json("GET", "/v1/cloudlets/cl-a");
  EXPECT_EQ(after["capacity"], before["capacity"]);
  EXPECT_EQ(after["load"], before["load"]);
  EXPECT_EQ(after["index"], before["index"]);
  EXPECT_EQ(d.Json("GET", "/v1/cloudlets")["cloudlets"].size(), 1u);
}

TEST(CloudletdTest, AcceptsALargeDescriptorSentWithExpectContinue) {
  CloudletdProcess d;
  d.Start();
  std::vector<std::string> vms;
  for (int i = 0; i < 200; ++i) {
    char hex[65];
    std::snprintf(hex, sizeof hex, "%064x", i);
    vms.push_back(std::string("sha256:") + hex);
  }
  const std::string body = Descriptor("cl-big", 40.0, -80.0, vms).dump();
  ASSERT_GT(body.size(), 10'000u);
  // What curl does for bodies over 1 KiB: ask for 100-continue before sending.
  api::ClientRequest req{.method = "PUT", .url = d.url() + "/v1/cloudlets/cl-big", .body = body};
  req.headers["Authorization"] = std::string("Bearer ") + kOperatorToken;
  req.headers["Expect"] = "100-continue";
  auto r = api::MakeHttpClient()->Send(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(d.Json("GET", "/v1/cloudlets/cl-big")["base_vms"].size(), 200u);
}

TEST(CloudletdTest, ThirtyTwoConcurrentClientsEndConsistent) {
  CloudletdProcess d;
  d.Start();
  constexpr int kClients = 32;
  std::vector<double> last_load(kClients, -1);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = api::MakeHttpClient();
      const std::string id = "cl-client-" + std::to_string(c);
      auto send = [&](const std::string& method, const std::string& path, const std::string& body) {
        api::ClientRequest req{.method = method, .url = d.url() + path, .body = body, .headers = {}};
        req.headers["Authorization"] = std::string("Bearer ") + kOperatorToken;
        auto r = client->Send(req);
        return r.ok() ? r->status : 0L;
      };
      if (send("PUT", "/v1/cloudlets/" + id, Descriptor(id).dump()) != 201) ++failures;
      for (int n = 0; std::chrono::steady_clock::now() < until; ++n) {
        const double load = (n % 100) / 100.0;
        if (send("POST", "/v1/cloudlets/" + id + "/heartbeat", json{{"load", load}}.dump()) != 200) ++failures;
        else last_load[c] = load;
        if (n % 10 == 0 && send("GET", "/v1/cloudlets?limit=5", "") != 200) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto list = d.Json("GET", "/v1/cloudlets");
  ASSERT_EQ(list["cloudlets"].size(), static_cast<size_t>(kClients));
  for (const auto& c : list["cloudlets"]) {
    const int n = std::stoi(c["id"].get<std::string>().substr(std::string("cl-client-").size()));
    EXPECT_DOUBLE_EQ(c["load"].get<double>(), last_load[n]) << c["id"];
    EXPECT_EQ(c["state"], "healthy");
  }
}

TEST(CloudletdTest, SigtermAnswersWaitingQueriesAndExitsCleanly) {
  TempDir shared;
  const std::string db = shared.File("var/cloudlet.db");
  CloudletdProcess d({}, db);
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump()).status, 201);
  const uint64_t index = d.Json("GET", "/v1/cloudlets")["index"];
  auto waiting = StartBlockingQuery(d, index, "10m");
  d.Signal(SIGTERM);
  auto r = waiting.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(d.Wait(), 0) << d.Log();
  EXPECT_NE(d.Log().find("stopped cleanly"), std::string::npos);

  CloudletdProcess again({}, db);
  again.Start();
  EXPECT_EQ(again.Json("GET", "/v1/cloudlets/cl-a")["id"], "cl-a");
}

TEST(CloudletdTest, MetricsCountRequestsAndCloudletsByState) {
  CloudletdProcess d;
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Descriptor("cl-a").dump()).status, 201);
  d.Call("GET", "/v1/cloudlets/cl-missing");
  auto m = d.Call("GET", "/metrics", "", "");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.Header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find(R"(cloudlet_http_requests_total{route="/v1/cloudlets/{id}",method="PUT",status="201"} 1)"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find(R"(cloudlet_http_requests_total{route="/v1/cloudlets/{id}",method="GET",status="404"} 1)"),
            std::string::npos);
  EXPECT_NE(m.body.find(R"(cloudlet_registry_cloudlets{state="healthy"} 1)"), std::string::npos);
  EXPECT_NE(m.body.find("cloudlet_http_request_duration_seconds_bucket{route=\"/v1/cloudlets/{id}\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_EQ(d.Json("GET", "/healthz")["status"], "ok");
}

TEST(CloudletdTest, SecondDaemonOnTheSameDatabaseRefusesToStart) {
  TempDir shared;
  const std::string db = shared.File("var/cloudlet.db");
  CloudletdProcess first({}, db);
  first.Start();
  CloudletdProcess second({}, db);
  EXPECT_FALSE(second.TryStart());
  EXPECT_EQ(second.exit_code(), 1);
  EXPECT_NE(second.Log().find("in use by another cloudletd"), std::string::npos) << second.Log();
}

TEST(CloudletdTest, BadFlagsExitWithUsageCode) {
  CloudletdProcess d({"--heartbeat-ttl", "1s", "--heartbeat-interval", "5s"});
  EXPECT_FALSE(d.TryStart());
  EXPECT_EQ(d.exit_code(), 2);
  EXPECT_NE(d.Log().find("heartbeat-ttl"), std::string::npos) << d.Log();
}

}  // namespace
}  // namespace cloudlet::testing
