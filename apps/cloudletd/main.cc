// cloudletd: the cloudlet registry (and, as later modules land, placement, auth and metering).
// Parses flags, builds the adapters, wires them, runs until SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cloudlet/api/http.h"
#include "cloudlet/api/registry_routes.h"
#include "cloudlet/api/router.h"
#include "cloudlet/auth/bootstrap_policy.h"
#include "cloudlet/auth/token.h"
#include "cloudlet/common/clock.h"
#include "cloudlet/common/duration.h"
#include "cloudlet/common/timer_queue.h"
#include "cloudlet/discovery/registry_service.h"
#include "cloudlet/metering/metrics.h"
#include "cloudlet/store/sqlite_registry_store.h"

namespace {

using namespace cloudlet;

struct Flags {
  std::string listen = "127.0.0.1:8470";
  std::string db = "./var/cloudlet.db";
  std::string heartbeat_interval = "5s";
  std::string heartbeat_ttl = "15s";
  std::string purge_after = "10m";
  std::string bootstrap_token_file;
  size_t max_body_bytes = 1 << 20;
  std::string drain = "10s";
  std::string log_level = "info";
};

common::Result<std::pair<std::string, uint16_t>> ParseListen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return common::Status::InvalidField("--listen", "must be HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = text.substr(colon + 1);
  int port = 0;
  try {
    size_t used = 0;
    port = std::stoi(port_text, &used);
    if (used != port_text.size()) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 1 || port > 65535) return common::Status::InvalidField("--listen", "port must be 1 to 65535");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

struct Token {
  std::string value;
  std::string source;
  bool created = false;
};

common::Result<Token> BootstrapToken(const Flags& flags) {
  if (const char* env = std::getenv("CLOUDLET_BOOTSTRAP_TOKEN"); env && *env) {
    CLOUDLET_RETURN_IF_ERROR(auth::ValidateTokenText(env, "CLOUDLET_BOOTSTRAP_TOKEN"));
    return Token{env, "the CLOUDLET_BOOTSTRAP_TOKEN environment variable", false};
  }
  std::string path = flags.bootstrap_token_file;
  if (path.empty()) path = (std::filesystem::path(flags.db).parent_path() / "operator.token").string();
  auto file = auth::LoadOrCreateTokenFile(path, "clo");
  if (!file.ok()) return file.status();
  return Token{file->token, path, file->created};
}

void PrintBanner(const Flags& flags, const Token& token, size_t restored) {
  const std::string url = "http://" + flags.listen;
  std::cout << "cloudletd " << CLOUDLET_VERSION << " serving the registry at " << url << "\n"
            << "  database: " << flags.db << " (" << restored << " cloudlet(s) restored)\n";
  if (token.created) {
    std::cout << "  operator token (new, saved to " << token.source << ", mode 0600):\n    " << token.value << "\n";
  } else {
    std::cout << "  operator token: from " << token.source << "\n";
  }
  const bool from_file = token.source.find("environment") == std::string::npos;
  std::cout << "\nTry, in another terminal:\n"
            << "  export CLOUDLET_REGISTRY=" << url << "\n"
            << (from_file ? "  export CLOUDLET_TOKEN=$(cat " + token.source + ")\n"
                          : std::string("  export CLOUDLET_TOKEN=$CLOUDLET_BOOTSTRAP_TOKEN\n"))
            << "  curl -s -X PUT -H \"Authorization: Bearer $CLOUDLET_TOKEN\" " << url << "/v1/cloudlets/cl-demo \\\n"
            << "       -d '{\"name\":\"Demo\",\"endpoint\":\"http://127.0.0.1:8471\",\"geo\":{\"lat\":40.44,\"lon\":-79.94},"
               "\"capacity\":{\"cpu_millis\":16000,\"mem_mb\":65536},\"isolation\":[\"vm\",\"container\"],\"wan_mbps\":1000}'\n"
            << "  build/bin/cloudlet cloudlets list\n"
            << "  curl -s -H \"Authorization: Bearer $CLOUDLET_TOKEN\" " << url << "/v1/cloudlets\n"
            << "  curl -s " << url << "/metrics\n"
            << "Stop with Ctrl-C.\n"
            << std::endl;
}

int Run(const Flags& flags) {
  auto listen = ParseListen(flags.listen);
  if (!listen.ok()) return spdlog::error("{}", listen.status().message()), 2;
  discovery::RegistryOptions registry_options;
  for (auto [text, name, out] : {std::tuple{&flags.heartbeat_interval, "--heartbeat-interval", &registry_options.heartbeat_interval},
                                 std::tuple{&flags.heartbeat_ttl, "--heartbeat-ttl", &registry_options.heartbeat_ttl},
                                 std::tuple{&flags.purge_after, "--purge-after", &registry_options.purge_after}}) {
    auto d = common::ParseDuration(*text, name);
    if (!d.ok()) return spdlog::error("{}", d.status().message()), 2;
    *out = *d;
  }
  if (auto s = registry_options.Validate(); !s.ok()) return spdlog::error("--{}", s.message()), 2;
  auto drain = common::ParseDuration(flags.drain, "--drain");
  if (!drain.ok()) return spdlog::error("{}", drain.status().message()), 2;

  auto token = BootstrapToken(flags);
  if (!token.ok()) return spdlog::error("bootstrap token: {}", token.status().message()), 1;
  auto policy = auth::BootstrapPolicy::Create(token->value);
  if (!policy.ok()) return spdlog::error("{}", policy.status().message()), 1;

  auto store = store::OpenSqliteRegistryStore(flags.db);
  if (!store.ok()) return spdlog::error("{}", store.status().message()), 1;

  // Signals are handled by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  common::SystemClock clock;
  discovery::RegistryService service(clock, registry_options, **store);
  if (auto s = service.Start(); !s.ok()) return spdlog::error("{}", s.message()), 1;
  const size_t restored = service.registry().List({}).entries.size();

  metering::Metrics metrics;
  common::TimerQueue timers;
  api::Router router(**policy, **policy, metrics);
  api::AddRegistryRoutes(router, service, timers, metrics, {});
  auto server = api::MakeCpprestServer({listen->first, listen->second, flags.max_body_bytes}, router);
  if (auto s = server->Start(); !s.ok()) {
    spdlog::error("{}", s.message());
    service.Stop();
    return 1;
  }
  spdlog::info("listening on {} (heartbeat interval {}, ttl {}, purge after {})", flags.listen,
               common::FormatDuration(registry_options.heartbeat_interval),
               common::FormatDuration(registry_options.heartbeat_ttl), common::FormatDuration(registry_options.purge_after));
  PrintBanner(flags, *token, restored);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}; stopping: answering waiting queries, draining requests", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  service.registry().FireAllWatches();
  server->Stop(*drain);
  timers.Shutdown();
  service.Stop();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "cloudletd: the cloudlet registry. Cloudlet agents register and heartbeat here; devices and the\n"
      "`cloudlet` CLI list them. State lives in an embedded SQLite database; every /v1 call needs the\n"
      "operator token (taken from CLOUDLET_BOOTSTRAP_TOKEN, else from --bootstrap-token-file, which is\n"
      "created with a new random token on first start)."};
  app.set_version_flag("--version", std::string("cloudletd ") + CLOUDLET_VERSION);
  app.set_config("--config", "", "Read options from a TOML/INI file (keys as the long flag names)");
  app.add_option("--listen", flags.listen, "HOST:PORT to serve HTTP on")->capture_default_str();
  app.add_option("--db", flags.db, "SQLite database file (its directory is created)")->capture_default_str();
  app.add_option("--heartbeat-interval", flags.heartbeat_interval,
                 "How often agents heartbeat; a cloudlet is suspect after 1.5 intervals of silence")
      ->capture_default_str();
  app.add_option("--heartbeat-ttl", flags.heartbeat_ttl, "Silence after which a cloudlet expires")->capture_default_str();
  app.add_option("--purge-after", flags.purge_after, "How long an expired cloudlet is kept before removal")
      ->capture_default_str();
  app.add_option("--bootstrap-token-file", flags.bootstrap_token_file,
                 "Operator token file (default: operator.token beside the database)");
  app.add_option("--max-body-bytes", flags.max_body_bytes, "Largest request body accepted (413 beyond)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20));
  app.add_option("--drain", flags.drain, "On SIGTERM, how long to wait for requests in flight")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  auto logger = spdlog::stderr_color_mt("cloudletd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  return Run(flags);
}
