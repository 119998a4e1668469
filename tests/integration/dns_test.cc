// cloudletd's DNS discovery with a real client: Debian's dig against the real binary on loopback,
// with the registry filled over HTTP and a placement moved with the real CLI.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "support/child_process.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kBaseVm = "sha256:" + std::string(64, 'b');

json Cloudlet(const std::string& address, double lat, double lon) {
  return {{"endpoint", "http://" + address + ":8471"}, {"geo", {{"lat", lat}, {"lon", lon}}},
          {"capacity", {{"cpu_millis", 16'000}, {"mem_mb", 65536}}}, {"isolation", {"container"}}, {"wan_mbps", 1000},
          {"base_vms", json::array({{{"digest", kBaseVm}, {"size_mb", 100}}})}};
}

class DnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists("/usr/bin/dig")) GTEST_SKIP() << "dig is not installed (apt-get install bind9-dnsutils)";
  }
  void TearDown() override {
    if (HasFailure() && d_) std::cerr << "--- cloudletd:\n" << d_->Log();
  }
  // cloudletd answering DNS for cloudlet.test on a free UDP port, with three cloudlets: Pittsburgh,
  // Boston and London, and subnets placing 10.1/16 in Pittsburgh, 10.2/16 in London and loopback in Boston.
  void Start(std::vector<std::string> extra = {}) {
    dns_port_ = FreeLoopbackPort();
    std::ofstream(dir_.File("subnets.csv")) << "# cidr,lat,lon\n10.1.0.0/16,40.44,-79.94\n10.2.0.0/16,51.51,-0.13\n"
                                               "127.0.0.0/8,42.36,-71.06\n";
    std::vector<std::string> args = {"--dns-listen", "127.0.0.1:" + std::to_string(dns_port_), "--dns-zone",
                                     "cloudlet.test", "--dns-subnets", dir_.File("subnets.csv")};
    args.insert(args.end(), extra.begin(), extra.end());
    d_ = std::make_unique<CloudletdProcess>(args);
    d_->Start();
    ASSERT_EQ(d_->Call("PUT", "/v1/cloudlets/cl-pgh", Cloudlet("127.0.0.2", 40.44, -79.94).dump()).status, 201);
    ASSERT_EQ(d_->Call("PUT", "/v1/cloudlets/cl-bos", Cloudlet("127.0.0.3", 42.36, -71.06).dump()).status, 201);
    ASSERT_EQ(d_->Call("PUT", "/v1/cloudlets/cl-lon", Cloudlet("127.0.0.4", 51.51, -0.13).dump()).status, 201);
  }
  // dig's output (+short unless `full`), one line per record.
  std::string Dig(std::vector<std::string> args, bool full = false) {
    std::vector<std::string> argv = {"/usr/bin/dig", "@127.0.0.1", "-p", std::to_string(dns_port_), "+time=2",
                                     "+tries=1"};
    if (!full) argv.push_back("+short");
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, 10s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.out;
  }

  TempDir dir_;
  int dns_port_ = 0;
  std::unique_ptr<CloudletdProcess> d_;
};

TEST_F(DnsTest, DigFindsTheNearestCloudletsByClientSubnetThenBySourceAddress) {
  Start();
  // ECS: a client in 10.1.2.0/24 is in Pittsburgh, one in 10.2.0.0/16 in London.
  EXPECT_EQ(Dig({"+subnet=10.1.2.0/24", "_cloudlet._tcp.cloudlet.test", "SRV"}),
            "0 0 8471 cl-pgh.cloudlet.cloudlet.test.\n1 0 8471 cl-bos.cloudlet.cloudlet.test.\n"
            "2 0 8471 cl-lon.cloudlet.cloudlet.test.\n");
  EXPECT_EQ(Dig({"+subnet=10.2.0.0/16", "_cloudlet._tcp.cloudlet.test", "SRV"}),
            "0 0 8471 cl-lon.cloudlet.cloudlet.test.\n1 0 8471 cl-bos.cloudlet.cloudlet.test.\n"
            "2 0 8471 cl-pgh.cloudlet.cloudlet.test.\n");
  // No ECS: dig's own address (127.0.0.1) is in Boston.
  EXPECT_EQ(Dig({"_cloudlet._tcp.cloudlet.test", "SRV"}).substr(0, 39), "0 0 8471 cl-bos.cloudlet.cloudlet.test.");
  // The full answer: authoritative, no recursion, addresses in the additional section, ECS scope 16.
  const std::string full = Dig({"+subnet=10.2.0.0/16", "_cloudlet._tcp.cloudlet.test", "SRV"}, true);
  EXPECT_NE(full.find("flags: qr aa rd;"), std::string::npos) << full;
  EXPECT_NE(full.find("CLIENT-SUBNET: 10.2.0.0/16/16"), std::string::npos) << full;
  EXPECT_NE(full.find("cl-lon.cloudlet.cloudlet.test. 10 IN\tA\t127.0.0.4"), std::string::npos) << full;
  EXPECT_EQ(Dig({"cl-bos.cloudlet.cloudlet.test", "A"}), "127.0.0.3\n");

  // A cloudlet that leaves is no longer offered.
  ASSERT_EQ(d_->Call("DELETE", "/v1/cloudlets/cl-pgh").status, 204);
  EXPECT_EQ(Dig({"+subnet=10.1.2.0/24", "_cloudlet._tcp.cloudlet.test", "SRV"}).substr(0, 39),
            "0 0 8471 cl-bos.cloudlet.cloudlet.test.");
  EXPECT_NE(Dig({"cl-pgh.cloudlet.cloudlet.test", "A"}, true).find("status: NXDOMAIN"), std::string::npos);
}

TEST_F(DnsTest, APlacementsNameFollowsItAcrossAMigrationAndUnknownNamesAreNxdomain) {
  Start();
  json app = {{"name", "ar"}, {"base_vm", kBaseVm}, {"base_vm_mb", 100}, {"overlay_mb", 10}, {"cpu_millis", 500},
              {"mem_mb", 256}, {"isolation", "container"}};
  auto placed = d_->Call("POST", "/v1/placements",
                         json{{"app", app}, {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}}.dump());
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string id = json::parse(placed.body)["placement_id"];
  ASSERT_EQ(json::parse(placed.body)["chosen"]["cloudlet"], "cl-pgh");
  ASSERT_EQ(d_->Call("POST", "/v1/placements/" + id + "/confirm").status, 200);
  const std::string name = id + ".cloudlet.test";
  // Not running yet: the name does not exist.
  EXPECT_NE(Dig({name, "A"}, true).find("status: NXDOMAIN"), std::string::npos);
  // The agent of cl-pgh reports it running (as the operator may).
  auto ran = d_->Call("POST", "/v1/placements/" + id + "/status",
                      json{{"state", "running"}, {"endpoint", "127.0.0.2:30001"}}.dump());
  ASSERT_EQ(ran.status, 200) << ran.body;
  EXPECT_EQ(Dig({name, "A"}), "127.0.0.2\n");
  EXPECT_EQ(Dig({name, "SRV"}), "0 0 30001 " + name + ".\n");
  const std::string a = Dig({name, "A"}, true);
  EXPECT_NE(a.find(name + ". 5 IN\tA\t127.0.0.2"), std::string::npos) << a;  // a short TTL

  // The device moves to London: the CLI places the app there (make before break) and releases the old one.
  auto moved = RunCommand({CLOUDLET_CLI_BIN, "--registry", d_->url(), "--token", kOperatorToken, "placements", "move",
                           id, "--geo", "51.51,-0.13", "--force"},
                          30s);
  ASSERT_EQ(moved.exit_code, 0) << moved.out << moved.err;
  const std::string next = moved.out.substr(0, moved.out.find('\n'));
  ASSERT_NE(next, id);
  EXPECT_EQ(d_->Json("GET", "/v1/placements/" + next)["name"], id);
  // Until the new one runs, the name has nothing to point at (the old one was released).
  EXPECT_NE(Dig({name, "A"}, true).find("status: NXDOMAIN"), std::string::npos);
  ASSERT_EQ(d_->Call("POST", "/v1/placements/" + next + "/status",
                     json{{"state", "running"}, {"endpoint", "127.0.0.4:30002"}}.dump()).status, 200);
  EXPECT_EQ(Dig({name, "A"}), "127.0.0.4\n");
  EXPECT_EQ(Dig({name, "SRV"}), "0 0 30002 " + name + ".\n");
  // The new placement's own id is not a name of its own.
  EXPECT_NE(Dig({next + ".cloudlet.test", "A"}, true).find("status: NXDOMAIN"), std::string::npos);

  ASSERT_EQ(d_->Call("DELETE", "/v1/placements/" + next).status, 204);
  const std::string gone = Dig({name, "A"}, true);
  EXPECT_NE(gone.find("status: NXDOMAIN"), std::string::npos) << gone;
  EXPECT_NE(gone.find("cloudlet.test.\t\t5\tIN\tSOA"), std::string::npos) << gone;
  EXPECT_NE(Dig({"nothing-here.cloudlet.test", "A"}, true).find("status: NXDOMAIN"), std::string::npos);
}

TEST_F(DnsTest, RefusesRecursionSurvivesGarbageAndRateLimitsEachSource) {
  Start({"--dns-rate", "5", "--dns-burst", "10"});
  const std::string refused = Dig({"example.com", "A"}, true);
  EXPECT_NE(refused.find("status: REFUSED"), std::string::npos) << refused;
  EXPECT_NE(refused.find("recursion requested but not available"), std::string::npos) << refused;

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(dns_port_));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A query for _cloudlet._tcp.cloudlet.test SRV, id 0x4242.
  std::vector<uint8_t> query = {0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  for (std::string label : {"_cloudlet", "_tcp", "cloudlet", "test"}) {
    query.push_back(static_cast<uint8_t>(label.size()));
    query.insert(query.end(), label.begin(), label.end());
  }
  query.insert(query.end(), {0, 0, 33, 0, 1});
  auto count_answers = [&](int sends, bool garbage) {
    for (int i = 0; i < sends; ++i) {
      std::vector<uint8_t> packet = query;
      if (garbage) packet.resize(static_cast<size_t>(7 + i % 20), static_cast<uint8_t>(i * 37));
      ::sendto(fd, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    int answers = 0;
    uint8_t buf[1500];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 500) > 0) {
      if (::recv(fd, buf, sizeof buf, 0) > 12 && buf[0] == 0x42 && buf[1] == 0x42) ++answers;
    }
    return answers;
  };
  std::this_thread::sleep_for(2500ms);  // dig's queries above are refilled
  // Garbage first: no answers, no crash; it spends the bucket too.
  EXPECT_EQ(count_answers(5, true), 0);
  std::this_thread::sleep_for(2500ms);
  // 40 queries at once from one source: the burst (10) and what refills meanwhile are answered.
  const int answered = count_answers(40, false);
  EXPECT_GE(answered, 10);
  EXPECT_LE(answered, 14);
  ::close(fd);
  // Still serving (and every other source has its own bucket).
  std::this_thread::sleep_for(1s);
  EXPECT_NE(Dig({"_cloudlet._tcp.cloudlet.test", "SRV"}), "");
  EXPECT_TRUE(d_->running());
}

TEST_F(DnsTest, BadFlagsAreRefusedNamingTheFlag) {
  for (const auto& [args, why] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--dns-listen", "127.0.0.1:0"}, "--dns-listen and --dns-zone go together"},
           {{"--dns-subnets", "/etc/hostname"}, "--dns-subnets: needs --dns-listen and --dns-zone"},
           {{"--dns-listen", "127.0.0.1:0", "--dns-zone", "a..b"}, "--dns-zone"},
           {{"--dns-listen", "localhost:53", "--dns-zone", "x.test"}, "dns-listen"}}) {
    std::vector<std::string> argv = {CLOUDLETD_BIN, "--db", dir_.File("bad.db"), "--listen",
                                     "127.0.0.1:" + std::to_string(FreeLoopbackPort())};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv, 20s, {{"CLOUDLET_BOOTSTRAP_TOKEN", kOperatorToken}});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE((r.out + r.err).find(why), std::string::npos) << r.out << r.err;
  }
  // A subnets file with a bad line: the file and line are named and the daemon does not start.
  std::ofstream(dir_.File("bad.csv")) << "10.0.0.0/8,40,-79\n10.0.0.0/99,1,1\n";
  auto r = RunCommand({CLOUDLETD_BIN, "--db", dir_.File("bad.db"), "--listen",
                       "127.0.0.1:" + std::to_string(FreeLoopbackPort()), "--dns-listen",
                       "127.0.0.1:0", "--dns-zone", "x.test", "--dns-subnets", dir_.File("bad.csv")},
                      20s, {{"CLOUDLET_BOOTSTRAP_TOKEN", kOperatorToken}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE((r.out + r.err).find("bad.csv:2: prefix length '99'"), std::string::npos) << r.out << r.err;
}

}  // namespace
}  // namespace cloudlet::testing
