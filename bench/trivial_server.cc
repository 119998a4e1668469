// The ceiling for cloudletd's HTTP figures: the same listener cloudletd serves with (Boost.Beast, or
// the earlier cpprestsdk one) with a handler that only answers 200 with a small JSON body, on the
// same machine and under the same load generator.
//
//   trivial_server 127.0.0.1 18480 [THREADS [beast|cpprest]]   # runs until SIGTERM/SIGINT;
//                                                              # THREADS as cloudletd's --http-threads
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "cloudlet/api/http_server.h"

namespace {

class Ok final : public cloudlet::api::HttpHandler {
 public:
  void Handle(cloudlet::api::HttpRequest, cloudlet::api::Responder respond) override {
    respond({.status = 200, .content_type = "application/json", .headers = {}, .body = "{\"ok\":true}"});
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: trivial_server HOST PORT [THREADS [beast|cpprest]]\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const cloudlet::api::HttpServerOptions options{
      .host = argv[1], .port = static_cast<uint16_t>(std::atoi(argv[2])), .max_body_bytes = 1 << 20,
      .threads = argc >= 4 ? static_cast<size_t>(std::atoi(argv[3])) : 0};
  Ok handler;
  const bool cpprest = argc == 5 && std::string(argv[4]) == "cpprest";
  auto server = cpprest ? cloudlet::api::MakeCpprestServer(options, handler) : cloudlet::api::MakeHttpServer(options, handler);
  if (auto s = server->Start(); !s.ok()) {
    std::fprintf(stderr, "trivial_server: %s\n", s.ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  server->Stop(std::chrono::milliseconds(1000));
  return 0;
}
