// The HTTP listeners behind HttpServer (http.h). Both are thread-safe; `handler` must outlive them.
//
//   auto server = MakeHttpServer(options, handler);   // what cloudletd and the agent serve with
//
// MakeHttpServer is Boost.Beast on Boost.Asio, with every limit of HttpServerOptions: header bytes
// and count (431), a deadline for a request's headers and body, a write deadline, and a cap on
// connections (503). MakeCpprestServer is the cpprestsdk listener the project started with; it has
// none of those limits (docs/performance.md shows what that costs) and stays for comparison.
#pragma once

#include <memory>

#include "cloudlet/api/http.h"

namespace cloudlet::api {

std::unique_ptr<HttpServer> MakeHttpServer(HttpServerOptions options, HttpHandler& handler);
std::unique_ptr<HttpServer> MakeCpprestServer(HttpServerOptions options, HttpHandler& handler);

}  // namespace cloudlet::api
