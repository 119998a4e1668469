// What the daemons' mains share: flag parsing with the documented exit codes, logging set-up, and
// stop signals handled by sigwait rather than by a handler.
#pragma once

#include <signal.h>

#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace cloudlet::apps {

// --version and --config, as every daemon has them.
inline void AddStandardFlags(CLI::App& app, const std::string& name, const char* version) {
  app.set_version_flag("--version", name + " " + version);
  app.set_config("--config", "", "Read options from a TOML/INI file (keys as the long flag names)");
}

inline void AddLogLevelOption(CLI::App& app, std::string& level) {
  app.add_option("--log-level", level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
}

// Parses the command line; an exit code when the program should stop here (0 for --help and
// --version, 2 for bad usage).
inline std::optional<int> ParseFlags(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return std::nullopt;
}

// Logs go to stderr under the program's name.
inline void SetUpLogging(const std::string& name, const std::string& level) {
  spdlog::set_default_logger(spdlog::stderr_color_mt(name));
  spdlog::set_level(spdlog::level::from_str(level));
}

// Blocks SIGTERM and SIGINT in this thread and every thread started after it; wait for them with
// sigwait on the returned set.
inline sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace cloudlet::apps
