// Running a program to completion: argv exactly as given (no shell), its output captured, a
// deadline after which it is killed. For drivers that speak to command-line tools (podman).
//
//   auto r = RunProgram({"podman", "version"}, std::chrono::seconds(10));
//   if (r.ok() && r->exit_code == 0) { ... r->out ... }
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"

namespace cloudlet::agent {

struct ProgramResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;     // standard output, at most max_output bytes
  std::string err;     // standard error, at most max_output bytes
};

// Unavailable when the program cannot be started or runs past `timeout` (it is killed, with its
// process group). `env` ("NAME=value") is added to the environment the program inherits.
common::Result<ProgramResult> RunProgram(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                                         size_t max_output = 4 << 20, const std::vector<std::string>& env = {});

}  // namespace cloudlet::agent
