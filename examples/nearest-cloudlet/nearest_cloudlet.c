/* nearest-cloudlet: what an app does with libcloudlet_client, in plain C and nothing but
 * <cloudlet/client.h>. It finds the cloudlets around the device and measures them, runs the app on
 * the best one, fetches the app's first answer, and (with --move-to) follows it to a new position.
 *
 *   nearest-cloudlet --registry http://127.0.0.1:8470 --token "$APP_TOKEN" --app app.json --geo 40.44,-79.94
 */
#define _POSIX_C_SOURCE 200809L
#include <cloudlet/client.h>

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int usage(const char* why) {
  fprintf(stderr,
          "%s%s"
          "usage: nearest-cloudlet --app FILE [--registry URL[,URL...]] [--token TOKEN] [--geo LAT,LON]\n"
          "                        [--move-to LAT,LON] [--no-lan] [--browse-ms N] [--allow-http] [--keep]\n"
          "                        [--timeout-ms N]\n"
          "  --app FILE        the app spec (JSON, as for POST /v1/placements)\n"
          "  --registry URLS   registries, tried in order (default: $CLOUDLET_REGISTRY; none: LAN only)\n"
          "  --token TOKEN     app token (default: $CLOUDLET_TOKEN)\n"
          "  --geo LAT,LON     where the device is\n"
          "  --move-to LAT,LON then move there: follow the registry's advice and the app's new endpoint\n"
          "  --no-lan          do not browse the LAN over mDNS\n"
          "  --browse-ms N     how long to wait for LAN adverts (default 1500)\n"
          "  --timeout-ms N    timeout of each call (default: the library's)\n"
          "  --allow-http      plain http:// registries off loopback (labs only: the token is not encrypted)\n"
          "  --keep            leave the placement running (default: release it at the end)\n",
          why ? why : "", why ? "\n" : "");
  return 2;
}

static int parse_geo(const char* text, double* lat, double* lon) {
  char* end = NULL;
  *lat = strtod(text, &end);
  if (end == text || *end != ',') return 0;
  const char* rest = end + 1;
  *lon = strtod(rest, &end);
  return end != rest && *end == '\0';
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  char* text = calloc(1, 1 << 20);
  size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
  (void)n;
  fclose(f);
  return text;
}

/* GET / on "host:port": the body, or NULL. Plain sockets: the library is only about finding it. */
static char* http_get(const char* endpoint) {
  char host[256];
  const char* colon = strrchr(endpoint, ':');
  if (!colon || (size_t)(colon - endpoint) >= sizeof host) return NULL;
  memcpy(host, endpoint, (size_t)(colon - endpoint));
  host[colon - endpoint] = '\0';
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) return NULL;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  char* body = NULL;
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
    char request[512];
    int len = snprintf(request, sizeof request, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", endpoint);
    if (send(fd, request, (size_t)len, 0) == len) {
      size_t cap = 65536, got = 0;
      char* reply = calloc(1, cap + 1);
      ssize_t n;
      while (reply && got < cap && (n = recv(fd, reply + got, cap - got, 0)) > 0) got += (size_t)n;
      char* start = reply ? strstr(reply, "\r\n\r\n") : NULL;
      if (start && strncmp(reply, "HTTP/1.", 7) == 0 && strncmp(reply + 9, "200", 3) == 0) body = strdup(start + 4);
      free(reply);
    }
  }
  if (fd >= 0) close(fd);
  freeaddrinfo(ai);
  return body;
}

static void on_moved(void* user, const char* name, const char* old_endpoint, const char* new_endpoint) {
  (void)user;
  printf("endpoint of %s changed: %s -> %s\n", name, old_endpoint, new_endpoint);
}

static int fail(const char* what, cloudlet_status s) {
  fprintf(stderr, "nearest-cloudlet: %s: %s (%s)\n", what, cloudlet_last_error(), cloudlet_status_name(s));
  return 1;
}

static int fetch(const char* endpoint, double since_ms) {
  char* body = http_get(endpoint);
  if (!body) {
    fprintf(stderr, "nearest-cloudlet: the app at %s did not answer\n", endpoint);
    return 0;
  }
  size_t n = strcspn(body, "\n");
  printf("app answered: %.*s (%.0f ms after find)\n", (int)n, body, now_ms() - since_ms);
  free(body);
  return 1;
}

int main(int argc, char** argv) {
  const char *app_path = NULL, *registries = getenv("CLOUDLET_REGISTRY"), *token = getenv("CLOUDLET_TOKEN");
  const char *geo = NULL, *move_to = NULL;
  int use_lan = 1, keep = 0, allow_http = 0, timeout_ms = 0, browse_ms = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(NULL) - 2;
    else if (!strcmp(a, "--no-lan")) use_lan = 0;
    else if (!strcmp(a, "--keep")) keep = 1;
    else if (!strcmp(a, "--allow-http")) allow_http = 1;
    else if (!v) return usage("a flag is missing its value, or is unknown");
    else if (!strcmp(a, "--app")) app_path = v, ++i;
    else if (!strcmp(a, "--registry")) registries = v, ++i;
    else if (!strcmp(a, "--token")) token = v, ++i;
    else if (!strcmp(a, "--geo")) geo = v, ++i;
    else if (!strcmp(a, "--move-to")) move_to = v, ++i;
    else if (!strcmp(a, "--timeout-ms")) timeout_ms = atoi(v), ++i;
    else if (!strcmp(a, "--browse-ms")) browse_ms = atoi(v), ++i;
    else return usage("unknown flag");
  }
  if (!app_path) return usage("--app is required");
  char* app = read_file(app_path);
  if (!app) return fprintf(stderr, "nearest-cloudlet: --app: cannot read %s\n", app_path), 2;
  double lat = 0, lon = 0, to_lat = 0, to_lon = 0;
  if (geo && !parse_geo(geo, &lat, &lon)) return usage("--geo: expected LAT,LON");
  if (move_to && !parse_geo(move_to, &to_lat, &to_lon)) return usage("--move-to: expected LAT,LON");

  cloudlet_client_options options;
  cloudlet_client_options_init(&options);
  options.registries = registries;
  options.token = token;
  options.use_lan = use_lan;
  options.allow_http = allow_http;
  if (browse_ms) options.browse_ms = browse_ms;
  cloudlet_client* client = NULL;
  cloudlet_status s = cloudlet_client_new(&options, &client);
  if (s != CLOUDLET_OK) return fail("options", s);
  if (geo && (s = cloudlet_client_set_location(client, lat, lon)) != CLOUDLET_OK) return fail("--geo", s);
  cloudlet_client_on_endpoint_changed(client, on_moved, NULL);

  const double start = now_ms();
  cloudlet_candidate found[16];
  size_t count = 0;
  if ((s = cloudlet_find(client, found, 16, &count, timeout_ms)) != CLOUDLET_OK) return fail("find", s);
  printf("found %zu cloudlet(s) in %.0f ms\n", count, now_ms() - start);
  printf("%-20s %-28s %-13s %-11s %9s %5s\n", "CLOUDLET", "AGENT", "SOURCE", "SIGNATURE", "RTT (ms)", "LOAD");
  for (size_t i = 0; i < count; ++i) {
    char rtt[32] = "-";
    if (found[i].rtt_ms >= 0) snprintf(rtt, sizeof rtt, "%.2f", found[i].rtt_ms);
    printf("%-20s %-28s %-13s %-11s %9s %4.0f%%\n", found[i].id, found[i].agent, found[i].source,
           found[i].verification, rtt, found[i].load * 100);
  }
  cloudlet_placement p;
  if ((s = cloudlet_place(client, app, timeout_ms, &p)) != CLOUDLET_OK) return fail("place", s);
  printf("placement %s (name %s) on %s: %s at %s (%.0f ms after find)\n", p.id, p.name, p.cloudlet, p.state,
         p.endpoint, now_ms() - start);
  int ok = strcmp(p.state, "running") != 0 || fetch(p.endpoint, start);

  if (ok && move_to) {
    if ((s = cloudlet_update_location(client, p.id, to_lat, to_lon, timeout_ms, &p)) != CLOUDLET_OK) {
      ok = 0;
      fail("move", s);
    } else {
      printf("%s: placement %s on %s at %s\n", p.moved ? "moved" : "stayed", p.id, p.cloudlet, p.endpoint);
      if (strcmp(p.state, "running") == 0) ok = fetch(p.endpoint, start);
    }
  }
  if (!keep && (s = cloudlet_release(client, p.id, timeout_ms)) != CLOUDLET_OK) ok = 0, fail("release", s);
  else if (!keep) printf("released %s\n", p.id);
  cloudlet_client_free(client);
  free(app);
  return ok ? 0 : 1;
}
