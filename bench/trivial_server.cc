// The ceiling for cloudletd's HTTP figures: cpprestsdk's listener with a handler that only answers
// 200 with a small JSON body, on the same machine and under the same load generator.
//
//   trivial_server 127.0.0.1 18480 [THREADS]    # runs until SIGTERM/SIGINT; THREADS as cloudletd's
//                                               # --http-threads (0: cpprestsdk's default)
#define _TURN_OFF_PLATFORM_STRING
#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: trivial_server HOST PORT [THREADS]\n");
    return 2;
  }
  if (argc == 4 && std::atoi(argv[3]) > 0) crossplat::threadpool::initialize_with_threads(std::atoi(argv[3]));
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  using web::http::experimental::listener::http_listener;
  http_listener listener(web::uri(std::string("http://") + argv[1] + ":" + argv[2] + "/"));
  listener.support([](web::http::http_request req) {
    req.extract_string(true).then([req](pplx::task<std::string>) mutable {
      web::http::http_response r(web::http::status_codes::OK);
      r.set_body(std::string("{\"ok\":true}"), "application/json");
      req.reply(r);
    });
  });
  try {
    listener.open().wait();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trivial_server: %s\n", e.what());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  listener.close().wait();
  return 0;
}
