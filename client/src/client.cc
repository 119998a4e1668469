// The C ABI (cloudlet/client.h) over Session: arguments checked, exceptions caught, statuses mapped,
// strings copied into the caller's structs.
#include "cloudlet/client.h"

#include <cstring>
#include <mutex>
#include <sstream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "session.h"

struct cloudlet_client {
  std::unique_ptr<cloudlet::client::Session> session;
};

namespace {

using cloudlet::common::Status;
using cloudlet::common::StatusCode;
using cloudlet::client::Millis;

thread_local std::string g_last_error;

// The library's own log lines (LAN browsing) go to stderr, warnings and worse only: an app's stdout is
// its own.
void QuietLogging() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto logger = spdlog::stderr_color_mt("cloudlet_client");
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  });
}

cloudlet_status Fail(cloudlet_status code, std::string why) {
  g_last_error = std::move(why);
  return code;
}

cloudlet_status FromStatus(const Status& s) {
  if (s.ok()) return g_last_error.clear(), CLOUDLET_OK;
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, s.message());
    case StatusCode::kNotFound: return Fail(CLOUDLET_ERR_NOT_FOUND, s.message());
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return Fail(CLOUDLET_ERR_DENIED, s.message());
    case StatusCode::kResourceExhausted: return Fail(CLOUDLET_ERR_NO_CAPACITY, s.message());
    case StatusCode::kFailedPrecondition: return Fail(CLOUDLET_ERR_FAILED, s.message());
    case StatusCode::kUnavailable:
      return Fail(s.message().rfind("timed out", 0) == 0 ? CLOUDLET_ERR_TIMEOUT : CLOUDLET_ERR_UNAVAILABLE, s.message());
    default: return Fail(CLOUDLET_ERR_INTERNAL, s.message());
  }
}

// Runs `fn`, turning any exception into CLOUDLET_ERR_INTERNAL: none may cross the C boundary.
template <typename Fn>
cloudlet_status Guard(Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Fail(CLOUDLET_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(CLOUDLET_ERR_INTERNAL, "internal error");
  }
}

template <size_t N>
void Copy(char (&to)[N], const std::string& from) {
  const size_t n = std::min(N - 1, from.size());
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

Millis TimeoutOr(int timeout_ms, Millis fallback) { return timeout_ms > 0 ? Millis(timeout_ms) : fallback; }

void Fill(cloudlet_placement* out, const cloudlet::client::PlacementInfo& p) {
  std::memset(out, 0, sizeof *out);
  Copy(out->id, p.id);
  Copy(out->name, p.name);
  Copy(out->cloudlet, p.cloudlet);
  Copy(out->endpoint, p.endpoint);
  Copy(out->state, p.state);
  out->moved = p.moved ? 1 : 0;
}

}  // namespace

extern "C" {

const char* cloudlet_status_name(cloudlet_status s) {
  switch (s) {
    case CLOUDLET_OK: return "ok";
    case CLOUDLET_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CLOUDLET_ERR_UNAVAILABLE: return "unavailable";
    case CLOUDLET_ERR_TIMEOUT: return "timeout";
    case CLOUDLET_ERR_NOT_FOUND: return "not found";
    case CLOUDLET_ERR_DENIED: return "denied";
    case CLOUDLET_ERR_NO_CAPACITY: return "no capacity";
    case CLOUDLET_ERR_FAILED: return "failed";
    case CLOUDLET_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

const char* cloudlet_last_error(void) { return g_last_error.c_str(); }

void cloudlet_client_options_init(cloudlet_client_options* o) {
  if (!o) return;
  std::memset(o, 0, sizeof *o);
  o->use_lan = 1;
  o->browse_ms = 1500;
  o->ping_ms = 1000;
  o->timeout_ms = 10'000;
  o->wait_ms = 120'000;
}

cloudlet_status cloudlet_client_new(const cloudlet_client_options* o, cloudlet_client** out) {
  return Guard([&] {
    if (!o || !out) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "options and out must not be NULL");
    *out = nullptr;
    QuietLogging();
    cloudlet::client::SessionOptions s{.token = o->token ? o->token : "", .client_id = o->client_id ? o->client_id : "",
                                       .ca_file = o->ca_file ? o->ca_file : "", .use_lan = o->use_lan != 0,
                                       .browse = Millis(o->browse_ms), .ping = Millis(o->ping_ms),
                                       .timeout = Millis(o->timeout_ms), .wait = Millis(o->wait_ms),
                                       .allow_http = o->allow_http != 0};
    if (o->registries) {
      std::stringstream urls(o->registries);
      for (std::string url; std::getline(urls, url, ',');) {
        if (!url.empty()) s.registries.push_back(url);
      }
    }
    auto session = cloudlet::client::Session::Create(std::move(s));
    if (!session.ok()) return FromStatus(session.status());
    *out = new cloudlet_client{std::move(*session)};
    return FromStatus(Status::Ok());
  });
}

void cloudlet_client_free(cloudlet_client* client) {
  try {
    delete client;
  } catch (...) {
  }
}

cloudlet_status cloudlet_client_set_location(cloudlet_client* client, double lat, double lon) {
  return Guard([&] {
    if (!client) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client must not be NULL");
    const cloudlet::common::GeoPoint at{lat, lon};
    if (!cloudlet::common::IsValidGeo(at)) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "lat,lon: must be degrees");
    client->session->SetLocation(at);
    return FromStatus(Status::Ok());
  });
}

cloudlet_status cloudlet_client_on_endpoint_changed(cloudlet_client* client, cloudlet_endpoint_changed_fn fn,
                                                    void* user) {
  return Guard([&] {
    if (!client) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client must not be NULL");
    if (!fn) {
      client->session->OnEndpointChanged({});
    } else {
      client->session->OnEndpointChanged([fn, user](const std::string& name, const std::string& from, const std::string& to) {
        fn(user, name.c_str(), from.c_str(), to.c_str());
      });
    }
    return FromStatus(Status::Ok());
  });
}

cloudlet_status cloudlet_find(cloudlet_client* client, cloudlet_candidate* out, size_t capacity, size_t* count,
                              int timeout_ms) {
  return Guard([&] {
    if (!client || !count || (capacity > 0 && !out)) {
      return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client, count (and out, with a capacity) must not be NULL");
    }
    *count = 0;
    auto found = client->session->Find(TimeoutOr(timeout_ms, client->session->options().timeout));
    if (!found.ok()) return FromStatus(found.status());
    for (const auto& c : *found) {
      if (*count == capacity) break;
      cloudlet_candidate& o = out[(*count)++];
      std::memset(&o, 0, sizeof o);
      Copy(o.id, c.id);
      Copy(o.name, c.name);
      Copy(o.agent, c.agent);
      Copy(o.source, c.source);
      Copy(o.verification, c.verification);
      o.rtt_ms = c.rtt_ms.value_or(-1);
      o.load = c.load;
      o.has_geo = c.geo.has_value();
      if (c.geo) o.lat = c.geo->lat, o.lon = c.geo->lon;
    }
    return FromStatus(Status::Ok());
  });
}

cloudlet_status cloudlet_place(cloudlet_client* client, const char* app_json, int timeout_ms, cloudlet_placement* out) {
  return Guard([&] {
    if (!client || !app_json || !out) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client, app_json and out must not be NULL");
    auto p = client->session->Place(app_json, TimeoutOr(timeout_ms, client->session->options().wait));
    if (!p.ok()) return FromStatus(p.status());
    Fill(out, *p);
    return FromStatus(Status::Ok());
  });
}

cloudlet_status cloudlet_update_location(cloudlet_client* client, const char* placement_id, double lat, double lon,
                                         int timeout_ms, cloudlet_placement* out) {
  return Guard([&] {
    if (!client || !placement_id || !out) {
      return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client, placement_id and out must not be NULL");
    }
    auto p = client->session->UpdateLocation(placement_id, {lat, lon},
                                             TimeoutOr(timeout_ms, client->session->options().wait));
    if (!p.ok()) return FromStatus(p.status());
    Fill(out, *p);
    return FromStatus(Status::Ok());
  });
}

cloudlet_status cloudlet_release(cloudlet_client* client, const char* placement_id, int timeout_ms) {
  return Guard([&] {
    if (!client || !placement_id) return Fail(CLOUDLET_ERR_INVALID_ARGUMENT, "client and placement_id must not be NULL");
    return FromStatus(client->session->Release(placement_id, TimeoutOr(timeout_ms, client->session->options().timeout)));
  });
}

}  // extern "C"
