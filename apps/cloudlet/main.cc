// cloudlet: the command-line client. Parses the global flags, lets each command group (one file
// each, commands.h) add its subcommands, runs the chosen command. Exit codes: 0 ok, 1 runtime
// failure (unreachable registry, error answer), 2 bad usage, 3 nothing placed (no cloudlet can take
// the app).
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.h"

namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2, kNothingPlaced = 3;

}  // namespace

int main(int argc, char** argv) {
  using namespace cloudlet::cli;
  Context ctx;
  GlobalOptions& o = ctx.options;
  CLI::App app{"cloudlet: find and manage cloudlets through the registry (cloudletd).\n"
               "The registry URL comes from --registry or CLOUDLET_REGISTRY (default http://127.0.0.1:8470),\n"
               "the token from --token, --token-file, CLOUDLET_TOKEN or CLOUDLET_TOKEN_FILE."};
  app.set_version_flag("--version", std::string("cloudlet ") + CLOUDLET_VERSION);
  app.add_option("--registry", o.registry, "Registry base URL; several, comma-separated, are tried in order (failover)");
  app.add_option("--token", o.token, "Bearer token");
  app.add_option("--token-file", o.token_file, "File holding the bearer token");
  app.add_option("--timeout", o.timeout, "Give up on the registry after this long")->capture_default_str();
  app.add_flag("--json", o.json_output, "Print the registry's JSON instead of a table");
  app.add_option("--ca-file", o.ca_file, "PEM bundle to verify an https:// registry with")->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure, "Allow a plain http:// registry that is not on loopback");
  app.require_subcommand(1);
  app.fallthrough();  // --registry, --token, --json may also come after the subcommand

  AddCloudletCommands(app, ctx);
  AddPlaceCommand(app, ctx);
  AddPlacementCommands(app, ctx);
  AddAdminCommands(app, ctx);
  AddBillingCommands(app, ctx);
  AddDiscoverCommand(app, ctx);
  AddSimCommand(app, ctx);
  AddVmCommands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (!ctx.run) return kUsage;  // CLI11 requires a subcommand; this is not reached
  const cloudlet::common::Status s = ctx.run();
  if (s.ok()) return kOk;
  std::cerr << "cloudlet: " << s.message() << '\n';
  switch (s.code()) {
    case cloudlet::common::StatusCode::kInvalidArgument: return kUsage;
    case cloudlet::common::StatusCode::kResourceExhausted: return kNothingPlaced;
    default: return kFailure;
  }
}
