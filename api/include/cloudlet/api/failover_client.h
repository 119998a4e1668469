// Several registries behind one HttpClient: requests to the first are tried on each in turn.
//
//   auto http = MakeFailoverClient(MakeHttpClient(), {"http://reg-a:8470", "http://reg-b:8470"});
//   http->Send({.url = "http://reg-a:8470/v1/cloudlets"});   // reg-b answers when reg-a is down
//
// A request whose URL starts with one of `bases` goes first to the base that answered last; when no
// response comes (refused, timed out) or a 5xx does, to the next, two rounds over them with backoff
// (100 ms, then doubling), then it fails Unavailable listing each base's failure (the last round's
// 5xx is returned as the response). Other URLs pass straight through. With one base it is the inner
// client. Not thread-safe, like any HttpClient: one per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cloudlet/api/http_client.h"

namespace cloudlet::api {

std::unique_ptr<HttpClient> MakeFailoverClient(std::unique_ptr<HttpClient> inner, std::vector<std::string> bases);

}  // namespace cloudlet::api
