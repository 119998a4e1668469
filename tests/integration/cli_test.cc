// The real `cloudlet` CLI against the real cloudletd.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "support/child_process.h"
#include "support/cloudletd_process.h"
#include "support/temp_dir.h"

#ifndef CLOUDLET_CLI_BIN
#error "CLOUDLET_CLI_BIN must name the cloudlet binary"
#endif

namespace cloudlet::testing {
namespace {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CliResult RunCli(const std::string& env, const std::string& args) {
  const std::string cmd = env + " " + CLOUDLET_CLI_BIN + " " + args + " 2>&1";
  CliResult out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.output.append(buf.data(), n);
  const int status = ::pclose(p);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_.Start();
    const std::string body = R"({"name":"Lab","endpoint":"http://10.0.0.9:8471","geo":{"lat":40.4,"lon":-79.9},
      "capacity":{"cpu_millis":8000,"mem_mb":32768},"isolation":["vm"],"wan_mbps":500})";
    ASSERT_EQ(d_.Call("PUT", "/v1/cloudlets/cl-lab", body).status, 201);
    env_ = "env -u CLOUDLET_TOKEN_FILE CLOUDLET_REGISTRY=" + d_.url() + " CLOUDLET_TOKEN=" + kOperatorToken;
  }
  CloudletdProcess d_;
  std::string env_;
};

// `cloudlet sim --live`: virtual agents and users against the real cloudletd, which decides.
TEST_F(CliTest, SimLiveDrivesTheRegistryAndCleansUp) {
  TempDir dir;
  auto scenario = nlohmann::json::parse(std::ifstream(std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/campus.json"));
  scenario["duration_s"] = 60;
  scenario["users"]["count"] = 20;
  std::ofstream(dir.File("short.json")) << scenario.dump();
  // With a real cloudlet in the registry, placements could land outside the simulation: refused.
  auto mixed = RunCli(env_, "sim --scenario " + dir.File("short.json") + " --out " + dir.File("mixed") + " --live " + d_.url());
  EXPECT_EQ(mixed.exit_code, 1) << mixed.output;
  EXPECT_NE(mixed.output.find("not a cloudlet of this scenario"), std::string::npos) << mixed.output;
  ASSERT_EQ(d_.Call("DELETE", "/v1/cloudlets/cl-lab").status, 204);
  auto run = RunCli(env_, "sim --scenario " + dir.File("short.json") + " --out " + dir.File("out") + " --live " + d_.url());
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("\nlive "), std::string::npos) << run.output;
  const std::string metrics = d_.Call("GET", "/metrics").body;
  const std::string placed = "route=\"/v1/placements\",method=\"POST\",status=\"201\"} ";
  const auto at = metrics.find(placed);
  ASSERT_NE(at, std::string::npos) << metrics.substr(0, 2000);
  EXPECT_GE(std::stoi(metrics.substr(at + placed.size())), 20) << "one placement per user at least";
  // Every virtual cloudlet deregistered, every placement released.
  EXPECT_TRUE(nlohmann::json::parse(d_.Call("GET", "/v1/cloudlets").body)["cloudlets"].empty());
  EXPECT_TRUE(nlohmann::json::parse(d_.Call("GET", "/v1/placements").body)["placements"].empty());

  // Without a token, or with a wrong one, it says so.
  auto no_token = RunCli("env -u CLOUDLET_TOKEN -u CLOUDLET_TOKEN_FILE",
                         "sim --scenario " + dir.File("short.json") + " --out " + dir.File("o2") + " --live " + d_.url());
  EXPECT_EQ(no_token.exit_code, 2) << no_token.output;
  EXPECT_NE(no_token.output.find("no token"), std::string::npos) << no_token.output;
  auto wrong = RunCli("env -u CLOUDLET_TOKEN_FILE CLOUDLET_TOKEN=not-the-right-token-at-all",
                      "sim --scenario " + dir.File("short.json") + " --out " + dir.File("o3") + " --live " + d_.url());
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("answered 401"), std::string::npos) << wrong.output;
}

// A placement's life from the CLI alone, as the tour runs it: place (printing only the id), confirm,
// list, get, move, release; and the answers when nothing can be placed.
TEST_F(CliTest, APlacementLivesAndEndsThroughTheCliAlone) {
  TempDir dir;
  const std::string base = "sha256:" + std::string(64, 'a');
  std::ofstream(dir.File("app.json")) << R"({"name":"ar-guide","base_vm":")" << base
                                      << R"(","base_vm_mb":100,"overlay_mb":10,"cpu_millis":500,"mem_mb":256})";
  auto placed = RunCli(env_, "place --app " + dir.File("app.json") + " --geo 40.44,-79.94 --print-id");
  ASSERT_EQ(placed.exit_code, 0) << placed.output;
  // The table went to stderr (RunCli merges it in); the id alone is the last line.
  const std::string id = placed.output.substr(placed.output.rfind("\npl-") + 1, 19);
  ASSERT_TRUE(id.starts_with("pl-")) << placed.output;
  EXPECT_NE(placed.output.find("RANK"), std::string::npos) << "the table is shown too";
  auto confirmed = RunCli(env_, "placements confirm " + id);
  EXPECT_EQ(confirmed.exit_code, 0) << confirmed.output;
  EXPECT_NE(confirmed.output.find("active"), std::string::npos) << confirmed.output;
  auto listed = RunCli(env_, "placements list");
  EXPECT_NE(listed.output.find(id), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("ar-guide"), std::string::npos) << listed.output;
  EXPECT_NE(RunCli(env_, "--json placements get " + id).output.find("\"cl-lab\""), std::string::npos);

  // The device travels; a second cloudlet stands where it goes. Moved: a new placement there, the old released.
  const std::string far = R"({"name":"Far","endpoint":"http://10.0.0.10:8471","geo":{"lat":42.36,"lon":-71.06},
      "capacity":{"cpu_millis":8000,"mem_mb":32768},"isolation":["vm"],"wan_mbps":500})";
  ASSERT_EQ(d_.Call("PUT", "/v1/cloudlets/cl-far", far).status, 201);
  auto moved = RunCli(env_, "placements move " + id + " --geo 42.36,-71.06 --rtt cl-lab=300,cl-far=2 --force");
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_NE(moved.output.find("advice: "), std::string::npos) << moved.output;
  const std::string next = moved.output.substr(moved.output.rfind("pl-"), 19);
  EXPECT_NE(next, id);
  EXPECT_NE(RunCli(env_, "--json placements get " + next).output.find("\"cl-far\""), std::string::npos);
  EXPECT_NE(RunCli(env_, "--json placements get " + id).output.find("\"released\""), std::string::npos);
  auto released = RunCli(env_, "placements release " + next);
  EXPECT_EQ(released.exit_code, 0) << released.output;
  EXPECT_EQ(RunCli(env_, "placements release " + next).exit_code, 1) << "released twice";

  // Nothing placed: exit 3, saying why, in words.
  std::ofstream(dir.File("container.json")) << R"({"name":"c","base_vm":")" << base
                                            << R"(","base_vm_mb":1,"overlay_mb":1,"cpu_millis":1,"mem_mb":1,"isolation":"container"})";
  auto refused = RunCli(env_, "place --app " + dir.File("container.json"));
  EXPECT_EQ(refused.exit_code, 3) << refused.output;
  EXPECT_NE(refused.output.find("nothing placed: no cloudlet can take this app"), std::string::npos) << refused.output;
  EXPECT_NE(refused.output.find("2 cloudlets without the app's isolation class"), std::string::npos) << refused.output;
  ASSERT_EQ(d_.Call("DELETE", "/v1/cloudlets/cl-lab").status, 204);
  ASSERT_EQ(d_.Call("DELETE", "/v1/cloudlets/cl-far").status, 204);
  auto empty = RunCli(env_, "place --app " + dir.File("app.json"));
  EXPECT_EQ(empty.exit_code, 3) << empty.output;
  EXPECT_NE(empty.output.find("no cloudlet is registered"), std::string::npos) << empty.output;
  EXPECT_EQ(empty.output.find("meets the SLA"), std::string::npos) << empty.output;
}

// app.json mistakes are named where they are, all missing fields at once.
TEST_F(CliTest, SeveralRegistriesFailOverToOneThatAnswersAndNameEachWhenNoneDoes) {
  const std::string dead_a = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  const std::string dead_b = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  auto listed = RunCli(env_, "--registry " + dead_a + "," + d_.url() + " cloudlets list");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("cl-lab"), std::string::npos) << listed.output;
  auto none = RunCli(env_, "--registry " + dead_a + "," + dead_b + " cloudlets list");
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("cannot reach any registry"), std::string::npos) << none.output;
  EXPECT_NE(none.output.find(dead_a), std::string::npos) << none.output;
  EXPECT_NE(none.output.find(dead_b), std::string::npos) << none.output;
  EXPECT_EQ(RunCli(env_, "--registry , cloudlets list").exit_code, 2);
}

TEST_F(CliTest, AppJsonMistakesSayWhereAndWhatIsMissing) {
  TempDir dir;
  std::ofstream(dir.File("broken.json")) << "{\"name\": \"x\",\n \"cpu_millis\": }\n";
  auto broken = RunCli(env_, "place --app " + dir.File("broken.json"));
  EXPECT_EQ(broken.exit_code, 2) << broken.output;
  EXPECT_NE(broken.output.find("broken.json: line 2, column"), std::string::npos) << broken.output;
  std::ofstream(dir.File("short.json")) << "{\"name\": \"x\"";
  EXPECT_NE(RunCli(env_, "place --app " + dir.File("short.json")).output.find("unexpected end of input"), std::string::npos);
  std::ofstream(dir.File("list.json")) << "[1, 2]";
  EXPECT_NE(RunCli(env_, "place --app " + dir.File("list.json")).output.find("must be a JSON object"), std::string::npos);
  std::ofstream(dir.File("sparse.json")) << R"({"name":"x","cpu_millis":5})";
  auto sparse = RunCli(env_, "place --app " + dir.File("sparse.json"));
  EXPECT_EQ(sparse.exit_code, 1) << sparse.output;
  EXPECT_NE(sparse.output.find("app.base_vm: is required (so are app.base_vm_mb, app.overlay_mb, app.mem_mb)"),
            std::string::npos)
      << sparse.output;
  auto help = RunCli("", "place --help");
  EXPECT_NE(help.output.find("ready_timeout_s (60)"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("(default 3)"), std::string::npos) << help.output;
}

// A live run started before its registry listens waits for it, within --live-wait.
TEST_F(CliTest, SimLiveWaitsForTheRegistryWithADeadline) {
  TempDir dir;
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  auto r = RunCli(env_, "sim --scenario " + std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/campus.json --out " +
                            dir.File("out") + " --live " + nowhere + " --live-wait 1s");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("waiting for the registry at " + nowhere), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did not answer within 1s"), std::string::npos) << r.output;
}

// Ctrl-C during a live run: it stops, and leaves no virtual cloudlet or placement behind.
TEST_F(CliTest, SimLiveInterruptedCleansUp) {
  TempDir dir;
  ASSERT_EQ(d_.Call("DELETE", "/v1/cloudlets/cl-lab").status, 204);
  auto scenario = nlohmann::json::parse(std::ifstream(std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/campus.json"));
  scenario["duration_s"] = 36000;  // far longer than the test waits
  scenario["users"]["count"] = 30;
  std::ofstream(dir.File("long.json")) << scenario.dump();
  ChildProcess sim({CLOUDLET_CLI_BIN, "sim", "--scenario", dir.File("long.json"), "--out", dir.File("out"), "--live", d_.url(),
                    "--token", kOperatorToken},
                   dir.File("sim.out"), dir.File("sim.err"));
  ASSERT_TRUE(sim.Start());
  // Running: its virtual cloudlets are registered and users hold placements.
  ASSERT_TRUE(WaitFor([&] { return nlohmann::json::parse(d_.Call("GET", "/v1/placements").body)["placements"].size() > 10; }));
  sim.Signal(SIGINT);
  EXPECT_EQ(sim.Wait(std::chrono::seconds(20)), 1) << sim.Stderr();
  EXPECT_NE(sim.Stderr().find("interrupted at t ="), std::string::npos) << sim.Stderr();
  EXPECT_TRUE(nlohmann::json::parse(d_.Call("GET", "/v1/cloudlets").body)["cloudlets"].empty());
  EXPECT_TRUE(nlohmann::json::parse(d_.Call("GET", "/v1/placements").body)["placements"].empty());
  EXPECT_FALSE(std::filesystem::exists(dir.File("out/summary.csv")));
}

TEST_F(CliTest, ListsCloudletsAsATableAndAsJson) {
  auto table = RunCli(env_, "cloudlets list");
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("ID"), std::string::npos);
  EXPECT_NE(table.output.find("cl-lab"), std::string::npos);
  EXPECT_NE(table.output.find("healthy"), std::string::npos);
  EXPECT_NE(table.output.find("8000/8000"), std::string::npos);

  auto json_out = RunCli(env_, "--json cloudlets list --near 40.4,-79.9");
  ASSERT_EQ(json_out.exit_code, 0) << json_out.output;
  auto j = nlohmann::json::parse(json_out.output);
  EXPECT_EQ(j["cloudlets"][0]["id"], "cl-lab");
  EXPECT_NEAR(j["cloudlets"][0]["distance_km"].get<double>(), 0, 0.01);
}

TEST_F(CliTest, GetsAndRemovesACloudlet) {
  auto got = RunCli(env_, "--json cloudlets get cl-lab");
  ASSERT_EQ(got.exit_code, 0) << got.output;
  EXPECT_EQ(nlohmann::json::parse(got.output)["name"], "Lab");
  auto rm = RunCli(env_, "cloudlets rm cl-lab");
  EXPECT_EQ(rm.exit_code, 0) << rm.output;
  auto again = RunCli(env_, "cloudlets get cl-lab");
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("404"), std::string::npos) << again.output;
}

TEST_F(CliTest, FlagsOverrideTheEnvironment) {
  auto r = RunCli("env -u CLOUDLET_TOKEN -u CLOUDLET_REGISTRY -u CLOUDLET_TOKEN_FILE",
                  std::string("--registry ") + d_.url() + " --token " + kOperatorToken + " cloudlets list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cl-lab"), std::string::npos);
}

TEST_F(CliTest, ExitCodesSayWhatWentWrong) {
  auto no_token = RunCli("env -u CLOUDLET_TOKEN -u CLOUDLET_TOKEN_FILE CLOUDLET_REGISTRY=" + d_.url(), "cloudlets list");
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_NE(no_token.output.find("no token"), std::string::npos);
  auto bad_token = RunCli("env CLOUDLET_REGISTRY=" + d_.url() + " CLOUDLET_TOKEN=wrong-token-123456789", "cloudlets list");
  EXPECT_EQ(bad_token.exit_code, 1);
  EXPECT_NE(bad_token.output.find("401"), std::string::npos);
  auto unreachable = RunCli("env CLOUDLET_REGISTRY=http://127.0.0.1:1 CLOUDLET_TOKEN=x", "cloudlets list");
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.output.find("cannot reach"), std::string::npos);
  EXPECT_EQ(RunCli(env_, "cloudlets list --state sleepy").exit_code, 2);
  EXPECT_EQ(RunCli(env_, "frobnicate").exit_code, 2);
  auto help = RunCli(env_, "--help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("cloudlets"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::testing

namespace cloudlet::testing {
namespace {

// `cloudlet sim` as a new user runs it: the bundled campus scenario, then a broken one.
TEST(CliSimTest, RunsTheCampusScenarioAndReportsBadScenariosByFieldAndFile) {
  TempDir dir;
  const std::string scenario = std::string(CLOUDLET_SOURCE_DIR) + "/sim/scenarios/campus.json";
  auto ok = RunCli("", "sim --scenario " + scenario + " --out " + dir.File("out") + " --policies cost,nearest,optimal");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("\ncost "), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("\noptimal "), std::string::npos);
  EXPECT_NE(ok.output.find("Every column: " + dir.File("out") + "/summary.md"), std::string::npos) << ok.output;
  EXPECT_NE(ReadFileOrEmpty(dir.File("out/summary.md")).find("| cost |"), std::string::npos);
  EXPECT_EQ(ok.output.find("elapsed"), std::string::npos) << "no progress bar when stderr is not a terminal";
  for (const char* f : {"summary.csv", "summary.json", "summary.md", "timeseries.csv", "map.svg", "cdf.svg", "load.svg", "timing.csv"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.File("out/") + f)) << f;
  }

  std::ofstream(dir.File("bad.json")) << R"({"name": "x", "duration_s": 10, "step_s": 1, "area": {"width_m": 10, "height_m": 10},
    "apps": [{"name": "a", "share": 1, "cpu_millis": 1, "req_rate_hz": 1, "session_s": 1}],
    "cloudlets": [{"id": "c", "x_m": 1, "y_m": 1, "cpu_millis": 100, "wan_mbps": 10}],
    "users": {"count": 2, "mobility": {"model": "random_waypoint", "min_speed_mps": 0}}})";
  auto bad = RunCli("", "sim --scenario " + dir.File("bad.json") + " --out " + dir.File("bad-out"));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("bad.json: users.mobility.min_speed_mps: must be > 0"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir.File("bad-out")));

  auto unknown = RunCli("", "sim --scenario " + scenario + " --out " + dir.File("o2") + " --policies cost,psychic");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown policy 'psychic'"), std::string::npos) << unknown.output;
}

}  // namespace
}  // namespace cloudlet::testing
