// The CLI's command groups, one file each. An Add*Commands function adds its subcommands to the app;
// when one of them is chosen on the command line, its callback sets ctx.run to the command, which
// returns a Status: InvalidArgument is bad usage (exit 2), ResourceExhausted is nothing placed
// (exit 3), any other error a failure (exit 1).
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "cloudlet/common/status.h"

namespace cloudlet::cli {

// Flags every command takes (before or after the subcommand).
struct GlobalOptions {
  std::string registry;
  std::string token;
  std::string token_file;
  std::string timeout = "10s";
  std::string ca_file;
  bool insecure = false;
  bool json_output = false;
};

struct Context {
  GlobalOptions options;
  std::function<common::Status()> run;  // the chosen command
};

void AddCloudletCommands(CLI::App& app, Context& ctx);  // cloudlets list|get|rm
void AddPlaceCommand(CLI::App& app, Context& ctx);      // place
void AddPlacementCommands(CLI::App& app, Context& ctx); // placements list|get|confirm|wait|move|release
void AddAdminCommands(CLI::App& app, Context& ctx);     // tenants, tokens, audit
void AddBillingCommands(CLI::App& app, Context& ctx);   // report, prices
void AddDiscoverCommand(CLI::App& app, Context& ctx);   // discover (discover.cc)
void AddSimCommand(CLI::App& app, Context& ctx);        // sim (sim.cc)
void AddVmCommands(CLI::App& app, Context& ctx);        // vm overlay (vm_cmd.cc)

}  // namespace cloudlet::cli
