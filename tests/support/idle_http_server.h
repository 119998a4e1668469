// An HTTP server that serves nothing: for code under test that makes one, when the test calls the
// handler itself.
#pragma once

#include "cloudlet/api/http.h"

namespace cloudlet::testing {

class IdleHttpServer final : public api::HttpServer {
 public:
  common::Status Start() override { return common::Status::Ok(); }
  void Stop(std::chrono::milliseconds) override {}
};

}  // namespace cloudlet::testing
