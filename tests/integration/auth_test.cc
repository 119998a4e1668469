// Tenancy over HTTP on the real cloudletd: tokens, roles, isolation, limits and the audit trail.
#include <gtest/gtest.h>
#include <signal.h>

#include "support/child_process.h"
#include "support/cloudletd_process.h"

namespace cloudlet::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kBaseVm = "sha256:" + std::string(64, 'c');

json Cloudlet() {
  return {{"endpoint", "http://10.1.0.1:8471"}, {"geo", {{"lat", 40.44}, {"lon", -79.94}}},
          {"capacity", {{"cpu_millis", 16000}, {"mem_mb", 65536}}}, {"isolation", {"vm"}}, {"wan_mbps", 1000},
          {"base_vms", {{{"digest", kBaseVm}, {"size_mb", 1000}}}}};
}

json PlacementRequest() {
  return {{"app", {{"name", "ar"}, {"base_vm", kBaseVm}, {"base_vm_mb", 1000}, {"overlay_mb", 100},
                   {"cpu_millis", 500}, {"mem_mb", 512}, {"service_ms", 5}, {"req_rate_hz", 5}, {"session_s", 600},
                   {"max_rtt_ms", 50}}},
          {"client", {{"geo", {{"lat", 40.44}, {"lon", -79.94}}}}}};
}

class AuthHttpTest : public ::testing::Test {
 protected:
  std::string Issue(CloudletdProcess& d, json request, const char* as = kOperatorToken) {
    auto r = d.Call("POST", "/v1/tokens", request.dump(), as);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body, nullptr, false).value("token", "");
  }
  void Tenant(CloudletdProcess& d, const std::string& id) {
    EXPECT_EQ(d.Call("POST", "/v1/tenants", json{{"id", id}}.dump()).status, 201);
  }
};

TEST_F(AuthHttpTest, ATenantNeverLearnsAboutAnotherTenantsPlacements) {
  CloudletdProcess d;
  d.Start();
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Cloudlet().dump()).status, 201);
  Tenant(d, "acme");
  Tenant(d, "globex");
  const std::string acme = Issue(d, {{"role", "tenant"}, {"tenant", "acme"}});
  const std::string globex = Issue(d, {{"role", "tenant"}, {"tenant", "globex"}});
  // Acme's backend mints an app token for its phone app; the app places.
  const std::string app = Issue(d, {{"ttl", "1h"}}, acme.c_str());
  auto placed = d.Call("POST", "/v1/placements", PlacementRequest().dump(), app.c_str());
  ASSERT_EQ(placed.status, 201) << placed.body;
  const std::string id = json::parse(placed.body)["placement_id"];

  EXPECT_EQ(d.Call("GET", "/v1/placements/" + id, {}, acme.c_str()).status, 200);  // the tenant sees its app's
  for (auto [method, path] : {std::pair{"GET", ""}, std::pair{"POST", "/confirm"}, std::pair{"DELETE", ""}}) {
    auto r = d.Call(method, "/v1/placements/" + id + path, {}, globex.c_str());
    EXPECT_EQ(r.status, 404) << method << path << " " << r.body;
  }
  EXPECT_EQ(d.Call("GET", "/v1/placements/" + id, {}, app.c_str()).status, 200);
  EXPECT_EQ(d.Call("GET", "/v1/placements/" + id).status, 200);  // operators see all
  // Tenants administer nothing else.
  EXPECT_EQ(d.Call("GET", "/v1/tenants", {}, acme.c_str()).status, 403);
  EXPECT_EQ(d.Call("POST", "/v1/tokens", json{{"role", "tenant"}, {"tenant", "acme"}}.dump(), acme.c_str()).status, 403);
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-x", Cloudlet().dump(), app.c_str()).status, 403);
}

TEST_F(AuthHttpTest, AnAgentWritesOnlyItsOwnCloudlet) {
  CloudletdProcess d;
  d.Start();
  const std::string agent = Issue(d, {{"role", "agent"}, {"cloudlet", "cl-mine"}});
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-mine", Cloudlet().dump(), agent.c_str()).status, 201);
  EXPECT_EQ(d.Call("POST", "/v1/cloudlets/cl-mine/heartbeat", R"({"load":0.5})", agent.c_str()).status, 200);
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-other", Cloudlet().dump()).status, 201);
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-other", Cloudlet().dump(), agent.c_str()).status, 403);
  EXPECT_EQ(d.Call("POST", "/v1/cloudlets/cl-other/heartbeat", R"({"load":0.5})", agent.c_str()).status, 403);
  EXPECT_EQ(d.Call("DELETE", "/v1/cloudlets/cl-other", {}, agent.c_str()).status, 403);
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets", {}, agent.c_str()).status, 200);
  EXPECT_EQ(d.Call("POST", "/v1/placements", PlacementRequest().dump(), agent.c_str()).status, 403);
}

TEST_F(AuthHttpTest, OnlyAnOperatorMayChangeACloudletsAdvertKey) {
  CloudletdProcess d;
  d.Start();
  const std::string agent = Issue(d, {{"role", "agent"}, {"cloudlet", "cl-k"}});
  json with_key = Cloudlet();
  with_key["public_key"] = "A" + std::string(41, 'b') + "A";
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-k", with_key.dump(), agent.c_str()).status, 201);
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-k", with_key.dump(), agent.c_str()).status, 200);  // same key: fine
  json other_key = Cloudlet();
  other_key["public_key"] = "B" + std::string(41, 'c') + "A";
  auto refused = d.Call("PUT", "/v1/cloudlets/cl-k", other_key.dump(), agent.c_str());
  EXPECT_EQ(refused.status, 409) << refused.body;
  EXPECT_EQ(d.Json("GET", "/v1/cloudlets/cl-k")["public_key"], with_key["public_key"]);
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-k", other_key.dump()).status, 200);  // the operator may
  json bad_key = Cloudlet();
  bad_key["public_key"] = "short";
  EXPECT_EQ(d.Call("PUT", "/v1/cloudlets/cl-k", bad_key.dump()).status, 400);
}

TEST_F(AuthHttpTest, RevocationIsImmediateAndSurvivesRestart) {
  TempDir dir;
  const std::string db = dir.File("c.db");
  auto d = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  d->Start();
  Tenant(*d, "acme");
  auto created = d->Call("POST", "/v1/tokens", json{{"role", "tenant"}, {"tenant", "acme"}}.dump());
  const json body = json::parse(created.body);
  const std::string token = body["token"], id = body["id"];
  const std::string kept = Issue(*d, {{"role", "tenant"}, {"tenant", "acme"}});
  EXPECT_EQ(d->Call("GET", "/v1/cloudlets", {}, token.c_str()).status, 200);
  EXPECT_EQ(d->Call("DELETE", "/v1/tokens/" + id).status, 204);
  EXPECT_EQ(d->Call("GET", "/v1/cloudlets", {}, token.c_str()).status, 401);
  // Listings show the accessor, never the secret.
  const std::string listing = d->Call("GET", "/v1/tokens").body;
  EXPECT_NE(listing.find(id), std::string::npos);
  EXPECT_EQ(listing.find(token.substr(4 + 16 + 1)), std::string::npos);  // clt_<16-char accessor>_<secret>

  d->Signal(SIGKILL);
  d->Wait();
  d = std::make_unique<CloudletdProcess>(std::vector<std::string>{}, db);
  d->Start();
  EXPECT_EQ(d->Call("GET", "/v1/cloudlets", {}, token.c_str()).status, 401);
  EXPECT_EQ(d->Call("GET", "/v1/cloudlets", {}, kept.c_str()).status, 200);
}

TEST_F(AuthHttpTest, ATokenOverItsRateGets429WithRetryAfter) {
  CloudletdProcess d({"--rate-limit", "1", "--rate-burst", "3"});
  d.Start();
  Tenant(d, "acme");
  const std::string t = Issue(d, {{"role", "tenant"}, {"tenant", "acme"}});
  int ok = 0, limited = 0;
  std::string retry_after;
  for (int i = 0; i < 6; ++i) {
    auto r = d.Call("GET", "/v1/cloudlets", {}, t.c_str());
    if (r.status == 200) ++ok;
    if (r.status == 429) ++limited, retry_after = r.Header("retry-after");
  }
  EXPECT_LE(ok, 4);  // the burst, and at most one more as a second may pass
  EXPECT_GE(limited, 2);
  EXPECT_FALSE(retry_after.empty());
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets").status, 200);  // operators are not limited
}

TEST_F(AuthHttpTest, AnAddressGuessingTokensIsLockedOut) {
  CloudletdProcess d({"--bad-token-limit", "5", "--bad-token-window", "60s"});
  d.Start();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d.Call("GET", "/v1/cloudlets", {}, "guess-guess-guess-guess").status, 401);
  auto r = d.Call("GET", "/v1/cloudlets", {}, "guess-guess-guess-guess");
  EXPECT_EQ(r.status, 429);
  EXPECT_GE(std::stoi(r.Header("retry-after")), 50);
  // Even the right token waits: the address may not try at all until its window ends.
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets").status, 429);
  EXPECT_EQ(d.Call("GET", "/healthz", {}, "").status, 200);
}

TEST_F(AuthHttpTest, AdministrationIsAuditedWithWhoWhatWhenAndWhere) {
  CloudletdProcess d;
  d.Start();
  Tenant(d, "acme");
  const std::string agent = Issue(d, {{"role", "agent"}, {"cloudlet", "cl-a"}});
  ASSERT_EQ(d.Call("PUT", "/v1/cloudlets/cl-a", Cloudlet().dump(), agent.c_str()).status, 201);
  ASSERT_EQ(d.Call("DELETE", "/v1/cloudlets/cl-a", {}, agent.c_str()).status, 204);
  json audit;
  ASSERT_TRUE(WaitFor([&] {
    audit = d.Json("GET", "/v1/audit?limit=10")["audit"];
    return audit.size() >= 4;
  }));
  std::vector<std::string> actions;
  for (const auto& e : audit) {
    actions.push_back(e["action"]);
    EXPECT_EQ(e["remote"], "127.0.0.1");
    EXPECT_FALSE(e["actor"].get<std::string>().empty());
    EXPECT_FALSE(e["at"].get<std::string>().empty());
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"cloudlet.deregister", "cloudlet.register", "token.create",
                                               "tenant.create"}));
  EXPECT_EQ(d.Call("GET", "/v1/audit?limit=0").status, 400);
  EXPECT_NE(d.Log().find("audit: token.create"), std::string::npos);
}

TEST_F(AuthHttpTest, TheCliAdministersTenantsAndTokens) {
  CloudletdProcess d;
  d.Start();
  auto cli = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {CLOUDLET_CLI_BIN, "--registry", d.url(), "--token", kOperatorToken};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 20s);
  };
  EXPECT_EQ(cli({"tenants", "add", "acme", "--name", "Acme AR"}).exit_code, 0);
  RunResult list = cli({"tenants", "list"});
  EXPECT_NE(list.out.find("Acme AR"), std::string::npos) << list.out;
  RunResult created = cli({"tokens", "create", "--role", "tenant", "--tenant", "acme", "--description", "backend"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string token = created.out.substr(0, created.out.find('\n'));
  EXPECT_EQ(token.rfind("clt_", 0), 0u);
  const std::string id = token.substr(4, 16);
  EXPECT_NE(cli({"tokens", "list"}).out.find(id), std::string::npos);
  EXPECT_EQ(cli({"tokens", "revoke", id}).exit_code, 0);
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets", {}, token.c_str()).status, 401);
  EXPECT_EQ(cli({"tokens", "revoke", "nosuchtoken"}).exit_code, 1);
  EXPECT_EQ(cli({"tokens", "create", "--role", "wizard"}).exit_code, 2);
  EXPECT_NE(cli({"audit"}).out.find("token.revoke"), std::string::npos);
}

}  // namespace
}  // namespace cloudlet::testing

namespace cloudlet::testing {
namespace {

// A self-signed certificate for 127.0.0.1 made with the openssl tool.
bool MakeCertificate(const TempDir& dir) {
  return RunCommand({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", dir.File("key.pem"), "-out", dir.File("cert.pem"), "-days", "1", "-subj",
                     "/CN=cloudletd-test", "-addext", "subjectAltName=IP:127.0.0.1"},
                    30s)
             .exit_code == 0;
}

TEST(TlsTest, CloudletdServesHttpsThatTheCliAndTheAgentVerify) {
  TempDir dir;
  ASSERT_TRUE(MakeCertificate(dir));
  CloudletdProcess d;
  d.UseTls(dir.File("cert.pem"), dir.File("key.pem"), dir.File("cert.pem"));
  d.Start();
  ASSERT_EQ(d.url().rfind("https://", 0), 0u);
  EXPECT_EQ(d.Call("GET", "/v1/cloudlets").status, 200);

  auto cli = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {CLOUDLET_CLI_BIN, "--registry", d.url(), "--token", kOperatorToken};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"cloudlets", "list"});
    return RunCommand(argv, 20s);
  };
  EXPECT_EQ(cli({"--ca-file", dir.File("cert.pem")}).exit_code, 0);
  RunResult unverified = cli({});  // the system's CAs do not know this certificate
  EXPECT_EQ(unverified.exit_code, 1);
  EXPECT_NE(unverified.err.find("certificate"), std::string::npos) << unverified.err;
  // Plain HTTP to the TLS port gets no answer.
  std::string plain = d.url();
  plain.replace(0, 5, "http");
  auto r = api::MakeHttpClient()->Send({.method = "GET", .url = plain + "/healthz", .body = {}, .headers = {},
                                        .timeout = std::chrono::milliseconds(3000)});
  EXPECT_TRUE(!r.ok() || r->status != 200);

  // The agent registers over HTTPS (no mDNS here: this test runs in the machine's namespace).
  TempDir state;
  ChildProcess agent({CLOUDLET_AGENT_BIN, "--no-mdns", "--listen", "127.0.0.1:" + std::to_string(FreeLoopbackPort()),
                      "--state-dir", state.path(), "--id",
                      "cl-tls", "--registry", d.url(), "--ca-file", dir.File("cert.pem"), "--token", kOperatorToken},
                     state.File("agent.log"), state.File("agent.log"));
  ASSERT_TRUE(agent.Start());
  EXPECT_TRUE(WaitFor([&] { return d.Call("GET", "/v1/cloudlets/cl-tls").status == 200; }, 20s))
      << ReadFileOrEmpty(state.File("agent.log"));
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.Wait(20s), 0);
}

TEST(TlsTest, PlainHttpToAnotherHostIsRefusedUnlessInsecure) {
  RunResult cli = RunCommand({CLOUDLET_CLI_BIN, "--registry", "http://192.0.2.10:8470", "--token", kOperatorToken,
                              "cloudlets", "list"},
                             20s);
  EXPECT_EQ(cli.exit_code, 2);
  EXPECT_NE(cli.err.find("refusing plain HTTP"), std::string::npos) << cli.err;
  TempDir state;
  RunResult agent = RunCommand({CLOUDLET_AGENT_BIN, "--no-mdns", "--state-dir", state.path(), "--registry",
                                "http://192.0.2.10:8470", "--token", kOperatorToken},
                               20s);
  EXPECT_EQ(agent.exit_code, 2);
  EXPECT_NE(agent.err.find("--insecure"), std::string::npos) << agent.err;
}

}  // namespace
}  // namespace cloudlet::testing
