/* libcloudlet_client: find the nearest cloudlet, run an app there, follow it as the device moves.
 *
 * A C ABI over the C++ library, for apps in any language (Android NDK, iOS, Python ctypes, ...).
 * One call does the whole dance an app would otherwise do against the REST API: browse the LAN
 * (mDNS through Avahi, where a daemon answers) and ask the registry, keep only adverts signed with
 * the key the registry holds for that cloudlet, measure the RTT to each candidate's agent in
 * parallel, place with those RTTs, wait until the app runs, and hand back its endpoint.
 *
 *   cloudlet_client_options o;
 *   cloudlet_client_options_init(&o);
 *   o.registries = "https://reg-a.example:8470,https://reg-b.example:8470";
 *   o.token = app_token;
 *   cloudlet_client* c = NULL;
 *   if (cloudlet_client_new(&o, &c) != CLOUDLET_OK) { puts(cloudlet_last_error()); return 1; }
 *   cloudlet_client_set_location(c, 40.44, -79.94);
 *   cloudlet_placement p;
 *   if (cloudlet_place(c, app_json, 0, &p) == CLOUDLET_OK) connect_to(p.endpoint);   // "10.0.0.2:30001"
 *   ...
 *   cloudlet_update_location(c, p.id, 40.45, -79.90, 0, &p);   // migrates if the registry advises it
 *   cloudlet_release(c, p.id, 0);
 *   cloudlet_client_free(c);
 *
 * Rules of the ABI:
 * - Every call returns a cloudlet_status; on failure cloudlet_last_error() says why (in English,
 *   naming the field, the registry or the cloudlet). It is per thread, like errno.
 * - Every call that talks to the network takes timeout_ms: 0 means the client's default
 *   (options.timeout_ms; options.wait_ms for cloudlet_place and cloudlet_update_location, which may
 *   wait for an app to start). No call blocks much longer than its timeout.
 * - Thread-safe: one client may be used from any number of threads at once. Callbacks run on the
 *   thread whose call caused them; they must not call cloudlet_client_free.
 * - No exception crosses this boundary; no call aborts the process.
 * - The library writes nothing to stdout; warnings (a LAN advert that does not decode, ...) go to stderr.
 * - Strings passed in are copied; strings in the structs below are owned by the struct.
 */
#ifndef CLOUDLET_CLIENT_H_
#define CLOUDLET_CLIENT_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CLOUDLET_API __attribute__((visibility("default")))
#else
#define CLOUDLET_API
#endif

typedef enum {
  CLOUDLET_OK = 0,
  CLOUDLET_ERR_INVALID_ARGUMENT = 1, /* a bad option or app spec: the message names the field */
  CLOUDLET_ERR_UNAVAILABLE = 2,      /* no registry (or cloudlet) answered; try again later */
  CLOUDLET_ERR_TIMEOUT = 3,          /* the call's timeout passed */
  CLOUDLET_ERR_NOT_FOUND = 4,        /* no such placement (or not this token's) */
  CLOUDLET_ERR_DENIED = 5,           /* the token is missing, wrong, revoked or not allowed */
  CLOUDLET_ERR_NO_CAPACITY = 6,      /* no cloudlet can take the app, or a quota or rate limit */
  CLOUDLET_ERR_FAILED = 7,           /* the placement failed on its cloudlet (the reason is in the message) */
  CLOUDLET_ERR_INTERNAL = 8          /* a bug: please report the message */
} cloudlet_status;

/* A short name of a status ("ok", "unavailable", ...). */
CLOUDLET_API const char* cloudlet_status_name(cloudlet_status s);
/* Why this thread's last failed call failed; "" after a success. Valid until this thread's next call. */
CLOUDLET_API const char* cloudlet_last_error(void);

typedef struct {
  const char* registries; /* comma-separated registry URLs, tried in order with failover; NULL: LAN only */
  const char* token;      /* the app token (or a tenant token); needed to place */
  const char* client_id;  /* this device's id, for the registry's network coordinates; NULL: none */
  const char* ca_file;    /* PEM bundle to verify HTTPS registries with; NULL: the system's */
  int use_lan;            /* 1 (default): also browse the LAN over mDNS; 0: the registry only */
  int browse_ms;          /* how long the first find waits for LAN adverts (default 1500) */
  int ping_ms;            /* deadline of the RTT measurement of each candidate (default 1000) */
  int timeout_ms;         /* default timeout of calls (default 10000) */
  int wait_ms;            /* how long cloudlet_place waits for the app to run (default 120000) */
  int allow_http;         /* 1: plain http:// registries off loopback too (tokens then cross the
                             network in the clear: labs only); default 0 */
} cloudlet_client_options;

CLOUDLET_API void cloudlet_client_options_init(cloudlet_client_options* options);

typedef struct cloudlet_client cloudlet_client;

CLOUDLET_API cloudlet_status cloudlet_client_new(const cloudlet_client_options* options, cloudlet_client** out);
/* Stops LAN browsing and frees the client. Placements are not released (the app may reconnect). */
CLOUDLET_API void cloudlet_client_free(cloudlet_client* client);

/* Where the device is (degrees); sent with placements and used to rank the registry's cloudlets. */
CLOUDLET_API cloudlet_status cloudlet_client_set_location(cloudlet_client* client, double lat, double lon);

typedef struct {
  char id[65];
  char name[128];
  char agent[300];        /* the agent's base URL, e.g. "http://10.0.0.2:8471" */
  char source[16];        /* "lan", "registry" or "lan+registry" */
  char verification[16];  /* "verified", "registered" (from the registry itself) or "unverified" */
  double rtt_ms;          /* measured to /v1/ping; < 0 when it did not answer within ping_ms */
  double load;            /* 0..1 */
  int has_geo;
  double lat, lon;
} cloudlet_candidate;

/* Finds cloudlets (LAN and registry; rogue adverts left out) and measures the RTT to each, in
 * parallel. Fills up to `capacity` candidates, nearest by RTT first, and sets *count. With the
 * registry down it still returns what the LAN shows (unverified), and UNAVAILABLE only when nothing
 * at all could be searched. */
CLOUDLET_API cloudlet_status cloudlet_find(cloudlet_client* client, cloudlet_candidate* out, size_t capacity,
                                           size_t* count, int timeout_ms);

typedef struct {
  char id[65];          /* the placement's id */
  char name[65];        /* its DNS name (<name>.ZONE with cloudletd --dns-zone): stays across migrations */
  char cloudlet[65];
  char endpoint[300];   /* where the app answers, "host:port" (the cloudlet's agent when the app has nothing to run) */
  char state[16];       /* "running", or "active" for an app with nothing to run */
  int moved;            /* set by cloudlet_update_location when it migrated */
} cloudlet_placement;

/* Places `app_json` (an app spec as in the REST API: name, base_vm, cpu_millis, ... and image or
 * overlay_url to run something) with the RTTs of the last find (a new find when there is none or it
 * is over 30 s old), confirms it, and waits until the app runs (at most options.wait_ms). */
CLOUDLET_API cloudlet_status cloudlet_place(cloudlet_client* client, const char* app_json, int timeout_ms,
                                            cloudlet_placement* out);

/* Called when a placement's endpoint changes (a migration): its name, the old and the new endpoint. */
typedef void (*cloudlet_endpoint_changed_fn)(void* user, const char* name, const char* old_endpoint,
                                             const char* new_endpoint);
CLOUDLET_API cloudlet_status cloudlet_client_on_endpoint_changed(cloudlet_client* client,
                                                                 cloudlet_endpoint_changed_fn fn, void* user);

/* The device is now at lat,lon: measures RTTs again, reports them, and follows the registry's
 * advice. On "migrate" it places the app at the better cloudlet (make before break: the old one
 * serves until the new one runs), releases the old, calls the endpoint callback, and fills `out`
 * with the new placement (moved = 1). On "stay", `out` is the placement as it is. */
CLOUDLET_API cloudlet_status cloudlet_update_location(cloudlet_client* client, const char* placement_id, double lat,
                                                      double lon, int timeout_ms, cloudlet_placement* out);

CLOUDLET_API cloudlet_status cloudlet_release(cloudlet_client* client, const char* placement_id, int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* CLOUDLET_CLIENT_H_ */
