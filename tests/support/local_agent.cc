#include "support/local_agent.h"

#include <gtest/gtest.h>

#include "cloudlet/api/http_client.h"

namespace cloudlet::testing {

std::unique_ptr<ChildProcess> StartLocalAgent(const LocalAgent& a) {
  std::vector<std::string> argv = {a.bin,       "--no-mdns", "--listen",   "127.0.0.1:" + std::to_string(a.port),
                                   "--state-dir", a.state_dir, "--id",       a.id,
                                   "--registry", a.registry,   "--token",    a.token,
                                   "--heartbeat-interval", "1s"};
  argv.insert(argv.end(), a.extra_args.begin(), a.extra_args.end());
  auto agent = std::make_unique<ChildProcess>(argv, a.log, a.log);
  EXPECT_TRUE(agent->Start());
  const std::string ping = "http://127.0.0.1:" + std::to_string(a.port) + "/v1/ping";
  EXPECT_TRUE(WaitFor([&] {
    auto r = api::MakeHttpClient()->Send(
        {.method = "GET", .url = ping, .body = {}, .headers = {}, .timeout = std::chrono::milliseconds(500)});
    return r.ok() && r->status == 200;
  })) << ReadFileOrEmpty(a.log);
  return agent;
}

nlohmann::json HoursOfUsage(const std::vector<std::string>& ids, const std::string& tenant) {
  nlohmann::json records = nlohmann::json::array();
  for (const auto& id : ids) {
    records.push_back({{"event_id", id}, {"tenant", tenant}, {"start", "2026-11-10T10:00:00Z"},
                       {"end", "2026-11-10T11:00:00Z"}, {"quantities", {{"cpu_core_s", 3600}}}});
  }
  return {{"records", records}};
}

}  // namespace cloudlet::testing
