#include "cloudlet/agent/agent.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cloudlet/api/problem.h"
#include "cloudlet/common/files.h"
#include "cloudlet/common/time_format.h"
#include "cloudlet/discovery/cloudlet_json.h"
#include "cloudlet/api/router.h"
#include "cloudlet/metering/usage.h"

namespace cloudlet::agent {
namespace {

using common::Result;
using common::Status;
using nlohmann::json;

constexpr size_t kMaxStateBytes = 64 << 10;

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "cloudlet";
  std::string name = buf;
  return name.substr(0, name.find('.'));
}

// The first IPv4 address that is not loopback, for the default endpoint.
std::string FirstIpv4Address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "127.0.0.1";
  std::string out = "127.0.0.1";
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    out = text;
    break;
  }
  ::freeifaddrs(list);
  return out;
}

std::string NewCloudletId(common::RandomSource& random) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string id = "cl-";
  for (int i = 0; i < 12; ++i) id += kAlphabet[random.Next() % (sizeof kAlphabet - 1)];
  return id;
}

int Percent(double load) { return static_cast<int>(std::lround(std::clamp(load, 0.0, 1.0) * 100)); }

}  // namespace

discovery::Advert MakeAdvert(const discovery::CloudletDescriptor& d, const HostSample& s, const std::string& registry,
                             uint64_t seq) {
  discovery::Advert a;
  a.id = d.id;
  a.cpu_total_millis = s.cpu_total_millis;
  a.cpu_free_millis = std::clamp<int64_t>(s.cpu_free_millis, 0, s.cpu_total_millis);
  a.mem_total_mb = s.mem_total_mb;
  a.mem_free_mb = std::clamp<int64_t>(s.mem_free_mb, 0, s.mem_total_mb);
  a.load_percent = Percent(s.load);
  a.isolation = d.isolation;
  for (const auto& vm : d.base_vms) a.base_vms.push_back(discovery::BaseVmPrefix(vm.digest));
  a.geo = d.geo;
  a.registry = registry;
  a.seq = seq;
  return a;
}

bool AdvertMoved(const discovery::Advert& advertised, const discovery::Advert& next, int load_threshold_percent,
                 int capacity_threshold_percent) {
  auto moved = [&](int64_t before, int64_t after, int64_t total) {
    return std::llabs(after - before) * 100 >= int64_t{capacity_threshold_percent} * std::max<int64_t>(total, 1);
  };
  return std::abs(next.load_percent - advertised.load_percent) >= load_threshold_percent ||
         moved(advertised.cpu_free_millis, next.cpu_free_millis, next.cpu_total_millis) ||
         moved(advertised.mem_free_mb, next.mem_free_mb, next.mem_total_mb) ||
         advertised.cpu_total_millis != next.cpu_total_millis || advertised.mem_total_mb != next.mem_total_mb ||
         advertised.base_vms != next.base_vms || advertised.isolation != next.isolation || advertised.geo != next.geo;
}

// GET /v1/ping and GET /v1/resource, open to all: they tell what the advert already tells. POST
// /v1/usage, from loopback only: the host's own hypervisor or container runtime reports usage. GET
// /metrics, from loopback only: the usage spool's state. Anything else is 404 or 405.
class Agent::LocalApi final : public api::HttpHandler {
 public:
  explicit LocalApi(Agent& agent) : agent_(agent) {}

  void Handle(api::HttpRequest request, api::Responder respond) override {
    if (request.path == "/v1/usage") {
      if (request.method != "POST") {
        auto r = api::Problem(405, "use POST");
        r.headers["Allow"] = "POST";
        return respond(std::move(r));
      }
      if (!api::IsLoopbackAddress(request.remote_address)) {
        return respond(api::Problem(403, "usage is taken from this host only"));
      }
      return respond(agent_.SpoolUsage(request.body));
    }
    const bool known = request.path == "/v1/ping" || request.path == "/v1/resource" || request.path == "/metrics";
    if (!known) return respond(api::Problem(404, "no such resource: " + request.path.substr(0, 200)));
    if (request.method != "GET") {
      auto r = api::Problem(405, request.method.substr(0, 16) + " is not allowed here; use GET");
      r.headers["Allow"] = "GET";
      return respond(std::move(r));
    }
    if (request.path == "/metrics") {
      if (!api::IsLoopbackAddress(request.remote_address)) return respond(api::Problem(403, "metrics are for this host only"));
      return respond({.status = 200, .content_type = "text/plain; version=0.0.4", .headers = {}, .body = agent_.MetricsText()});
    }
    if (request.path == "/v1/ping") {
      return respond(api::JsonResponse(200, {{"id", agent_.descriptor_.id},
                                             {"time", common::FormatRfc3339(agent_.deps_.clock.Now())}}));
    }
    respond({.status = 200, .content_type = "application/json", .headers = {}, .body = agent_.ResourceJson()});
  }

 private:
  Agent& agent_;
};

Agent::Agent(AgentConfig config, AgentDeps deps) : config_(std::move(config)), deps_(std::move(deps)) {}

Agent::~Agent() { Shutdown(false); }

Status Agent::LoadOrCreateId() {
  const std::string path = config_.state_dir + "/agent.json";
  std::string stored;
  auto text = common::ReadSmallFile(path, kMaxStateBytes);
  if (text.ok()) {
    auto j = json::parse(*text, nullptr, false);
    if (j.is_object() && j["id"].is_string()) stored = j["id"].get<std::string>();
    if (stored.empty() || !discovery::ValidateCloudletId(stored).ok()) {
      return Status::InvalidArgument(path + ": field 'id' is missing or invalid; fix or remove the file");
    }
  } else if (text.status().code() != common::StatusCode::kNotFound) {
    return text.status();
  }
  std::string id = !config_.id.empty() ? config_.id : (!stored.empty() ? stored : NewCloudletId(deps_.random));
  CLOUDLET_RETURN_IF_ERROR(discovery::ValidateCloudletId(id, "id"));
  if (id != stored) {
    CLOUDLET_RETURN_IF_ERROR(common::WriteFileAtomically(path, json{{"id", id}}.dump() + "\n", 0644));
    spdlog::info("agent: cloudlet id {} (kept in {})", id, path);
  }
  descriptor_.id = id;
  return Status::Ok();
}

Status Agent::ScanBaseVms() {
  last_scan_ = deps_.clock.Now();
  if (config_.base_vm_dir.empty()) return Status::Ok();
  if (!base_vms_) base_vms_ = std::make_unique<BaseVmCache>(config_.state_dir + "/base-vms.json");
  auto last_report = deps_.clock.Now();
  auto vms = base_vms_->Scan(config_.base_vm_dir, [&](const HashProgress& p) {
    const auto now = deps_.clock.Now();
    // Progress only for images big enough to make someone wait.
    if (p.total_bytes < (64u << 20) || (now - last_report < std::chrono::seconds(1) && p.done_bytes < p.total_bytes)) {
      return;
    }
    last_report = now;
    spdlog::info("base VMs: hashing {}: {:.0f}% ({} of {} MiB)", p.path,
                 p.total_bytes ? 100.0 * static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 100.0,
                 p.done_bytes >> 20, p.total_bytes >> 20);
  });
  if (!vms.ok()) return vms.status();
  std::lock_guard lock(mu_);
  file_vms_ = std::move(*vms);
  MergeBaseVmsLocked();
  return Status::Ok();
}

bool Agent::MergeBaseVmsLocked() {
  std::vector<discovery::BaseVm> vms = file_vms_;
  vms.insert(vms.end(), image_vms_.begin(), image_vms_.end());
  // The same image under two names is one base VM.
  std::sort(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.digest < b.digest; });
  vms.erase(std::unique(vms.begin(), vms.end(), [](const auto& a, const auto& b) { return a.digest == b.digest; }),
            vms.end());
  if (vms.size() > discovery::kMaxBaseVms) vms.resize(discovery::kMaxBaseVms);
  auto digests = [](const std::vector<discovery::BaseVm>& v) {
    std::vector<std::string> out;
    for (const auto& vm : v) out.push_back(vm.digest);
    return out;
  };
  const bool changed = digests(vms) != digests(descriptor_.base_vms);
  descriptor_.base_vms = std::move(vms);
  return changed;
}

std::vector<std::string> Agent::SignedTxt(const discovery::Advert& advert) const {
  return discovery::EncodeSignedTxt(advert, key_->public_key(), [this](std::string_view m) { return key_->Sign(m); });
}

Status Agent::Start() {
  CLOUDLET_RETURN_IF_ERROR(LoadOrCreateId());
  auto key = auth::LoadOrCreateSigningKey(config_.state_dir + "/advert.key");
  if (!key.ok()) return key.status();
  key_ = std::move(*key);
  descriptor_.public_key = key_->public_key();
  descriptor_.name = config_.name.empty() ? HostName() : config_.name;
  descriptor_.endpoint = config_.endpoint.empty()
                             ? "http://" + FirstIpv4Address() + ":" + std::to_string(config_.port)
                             : config_.endpoint;
  descriptor_.geo = config_.geo;
  descriptor_.isolation = config_.isolation;
  descriptor_.wan_mbps = config_.wan_mbps;
  descriptor_.labels = config_.labels;
  CLOUDLET_RETURN_IF_ERROR(ScanBaseVms());

  auto sample = deps_.sample_host();
  if (!sample.ok()) return sample.status();
  sample_ = *sample;
  descriptor_.capacity = {sample_.cpu_total_millis, sample_.mem_total_mb, config_.gpus};
  CLOUDLET_RETURN_IF_ERROR(discovery::ValidateDescriptor(descriptor_));

  auto spool = deps_.open_spool(config_.state_dir + "/usage-spool.db");
  if (!spool.ok()) return spool.status();
  spool_ = std::make_unique<metering::OverflowSpool>(
      std::move(*spool), metering::OverflowSpoolOptions{.memory_limit = config_.spool_memory_records}, deps_.clock);
  CLOUDLET_RETURN_IF_ERROR(StartRuntime());  // before the local API, which shows its workloads
  api_ = std::make_unique<LocalApi>(*this);
  server_ = deps_.http_server({.host = config_.listen_host, .port = config_.port, .max_body_bytes = 4096, .threads = 2},
                              *api_);
  if (auto s = server_->Start(); !s.ok()) {
    return Status::Unavailable("local API on " + config_.listen_host + ":" + std::to_string(config_.port) + ": " +
                               s.message());
  }
  advertised_ = MakeAdvert(descriptor_, sample_, config_.reporter.registry, 1);
  last_advert_ = deps_.clock.Now();
  if (config_.mdns) {
    auto advertiser = deps_.advertiser(
        {.name = descriptor_.name, .type = discovery::kCloudletServiceType, .port = config_.port,
         .txt = SignedTxt(advertised_)});
    if (!advertiser.ok()) return advertiser.status();
    advertiser_ = std::move(*advertiser);
  }
  if (!config_.reporter.registry.empty()) {
    reporter_ = std::make_unique<RegistryReporter>(config_.reporter, deps_.http_client(), deps_.random.Next());
    reporter_->Start(descriptor_, {sample_.load, sample_.cpu_free_millis, sample_.mem_free_mb});
    forwarder_ = std::make_unique<UsageForwarder>(
        *spool_, config_.reporter, deps_.http_client(), deps_.random.Next());
    forwarder_->Start();
  }
  CLOUDLET_RETURN_IF_ERROR(StartMeter());
  StartReconciler();
  spdlog::info("agent: cloudlet {} ('{}') at {}: {} millicores, {} MiB, {} base VMs, registry {}", descriptor_.id,
               descriptor_.name, descriptor_.endpoint, descriptor_.capacity.cpu_millis, descriptor_.capacity.mem_mb,
               descriptor_.base_vms.size(),
               config_.reporter.registry.empty() ? "none (LAN only)" : config_.reporter.registry);
  return Status::Ok();
}

void Agent::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    Tick();
    lock.lock();
    stop_cv_.wait_for(lock, config_.sample_interval, [&] { return stop_; });
  }
}

void Agent::Stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  stop_cv_.notify_all();
}

void Agent::Tick() {
  const auto now = deps_.clock.Now();
  if (!config_.base_vm_dir.empty() && now - last_scan_ >= config_.rescan_interval) {
    auto digests = [this] {
      std::vector<std::string> out;
      for (const auto& vm : descriptor_.base_vms) out.push_back(vm.digest);
      return out;
    };
    const auto before = digests();
    if (auto s = ScanBaseVms(); !s.ok()) spdlog::warn("base VMs: {}", s.ToString());
    if (digests() != before) {
      spdlog::info("base VMs: {} cached now (was {})", descriptor_.base_vms.size(), before.size());
      if (reporter_) reporter_->SetDescriptor(descriptor_);
    }
  }
  bool images_changed = false;
  {
    std::lock_guard lock(mu_);
    if (image_vms_changed_) {
      image_vms_changed_ = false;
      images_changed = MergeBaseVmsLocked();
    }
  }
  if (images_changed) {
    spdlog::info("base VMs: {} held now (images included)", descriptor_.base_vms.size());
    if (reporter_) reporter_->SetDescriptor(descriptor_);
  }
  spool_->Retry();  // usage held in memory goes to disk as soon as it takes writes
  auto sample = deps_.sample_host();
  if (!sample.ok()) {
    spdlog::warn("agent: cannot sample the host: {}", sample.status().ToString());
    return;
  }
  {
    std::lock_guard lock(mu_);
    sample_ = *sample;
  }
  if (reporter_) reporter_->SetState({sample->load, sample->cpu_free_millis, sample->mem_free_mb});
  Advertise(*sample);
}

void Agent::Advertise(const HostSample& sample) {
  const auto now = deps_.clock.Now();
  if (now - last_advert_ < config_.min_advert_interval) return;
  discovery::Advert next = MakeAdvert(descriptor_, sample, config_.reporter.registry, advertised_.seq + 1);
  if (!AdvertMoved(advertised_, next, config_.load_threshold_percent, config_.capacity_threshold_percent)) return;
  {
    std::lock_guard lock(mu_);
    advertised_ = next;
  }
  last_advert_ = now;
  if (advertiser_) advertiser_->UpdateTxt(SignedTxt(next));
  spdlog::info("agent: advert seq {}: load {}%, cpu {}/{}, mem {}/{}", next.seq, next.load_percent,
               next.cpu_free_millis, next.cpu_total_millis, next.mem_free_mb, next.mem_total_mb);
}

Status Agent::StartRuntime() {
  if (!deps_.make_runtime) return Status::Ok();
  const std::string& url = descriptor_.endpoint;
  const size_t host_at = url.find("://") == std::string::npos ? 0 : url.find("://") + 3;
  const size_t host_end = url.find_first_of(":/", host_at);
  auto runtime = deps_.make_runtime({.cloudlet_id = descriptor_.id, .endpoint_host = url.substr(host_at, host_end - host_at)});
  if (!runtime.ok()) return runtime.status();
  runtime_ = std::move(*runtime);
  // Workloads of an earlier run of this agent (by label) are adopted, not started again.
  auto listed = runtime_->List();
  if (!listed.ok()) return listed.status().WithContext("runtime");
  spdlog::info("runtime: {} workload(s) of this cloudlet found", listed->size());
  std::lock_guard lock(mu_);
  workloads_ = std::move(*listed);
  return Status::Ok();
}

Status Agent::StartMeter() {
  if (!runtime_) return Status::Ok();
  if (config_.meter_interval < std::chrono::seconds(1)) {
    return Status::InvalidField("--meter-interval", "must be at least 1s");
  }
  MeterOptions o{.cloudlet_id = descriptor_.id, .interval = config_.meter_interval};
  o.on_records = [this] {
    if (forwarder_) forwarder_->Wake();
  };
  if (!config_.reporter.registry.empty()) {
    live_http_ = deps_.http_client();
    o.on_live = [this](const std::vector<LiveUsage>& live) { PostLive(live); };
  }
  meter_ = std::make_unique<Meter>(std::move(o), *runtime_, *spool_, deps_.clock);
  CLOUDLET_RETURN_IF_ERROR(meter_->Load());
  meter_->Start();
  return Status::Ok();
}

void Agent::PostLive(const std::vector<LiveUsage>& live) {
  if (!live_http_) return;
  auto r = live_http_->Send(RegistryRequest(config_.reporter, "PUT", "/v1/cloudlets/" + descriptor_.id + "/workloads",
                                            LiveUsageToJson(live, deps_.clock.Now()).dump()));
  if (!r.ok() || r->status >= 300) {
    spdlog::debug("meter: live figures not taken ({})", r.ok() ? "HTTP " + std::to_string(r->status) : r.status().ToString());
  }
}

void Agent::StartReconciler() {
  if (!runtime_) return;
  if (config_.reporter.registry.empty()) {
    spdlog::warn("runtime: no --registry: nothing will be placed on this cloudlet");
    return;
  }
  ReconcilerOptions o{.registry = config_.reporter, .cloudlet_id = descriptor_.id, .wait = config_.reconcile_wait,
                      .image_cache_mb = config_.image_cache_mb};
  o.vm = config_.runtime == "vm";
  o.on_workloads = [this](const std::vector<WorkloadStatus>& w) {
    std::lock_guard lock(mu_);
    workloads_ = w;
  };
  o.on_images = [this](const std::vector<discovery::BaseVm>& held) {
    std::lock_guard lock(mu_);
    if (held.size() == image_vms_.size() &&
        std::equal(held.begin(), held.end(), image_vms_.begin(), [](const auto& a, const auto& b) { return a.digest == b.digest; })) {
      return;
    }
    image_vms_ = held;
    image_vms_changed_ = true;
  };
  o.before_stop = [this](const std::string& placement_id) {
    if (meter_) meter_->Final(placement_id);
  };
  reconciler_ = std::make_unique<Reconciler>(std::move(o), *runtime_, deps_.http_client(), deps_.random.Next());
  reconciler_->Start();
}

std::string Agent::ResourceJson() const {
  std::lock_guard lock(mu_);
  json j = discovery::DescriptorToJson(descriptor_);
  if (runtime_) {
    json list = json::array();
    for (const auto& w : workloads_) {
      list.push_back({{"placement", w.placement_id}, {"tenant", w.tenant}, {"state", WorkloadStateName(w.state)},
                      {"endpoint", w.endpoint}});
    }
    j["workloads"] = list;
  }
  j["load"] = sample_.load;
  j["free"] = {{"cpu_millis", sample_.cpu_free_millis}, {"mem_mb", sample_.mem_free_mb}};
  j["seq"] = advertised_.seq;
  j["advertised_name"] = advertiser_ ? advertiser_->EstablishedName() : std::string();
  j["registry"] = config_.reporter.registry;
  j["registered"] = reporter_ != nullptr && reporter_->registered();
  return j.dump();
}

api::HttpResponse Agent::SpoolUsage(const std::string& body) {
  auto parsed = discovery::ParseJsonObject(body);
  if (!parsed.ok()) return api::ProblemFromStatus(parsed.status());
  const json& records = (*parsed)["records"];
  if (!records.is_array() || records.empty() || records.size() > metering::kMaxUsageBatch) {
    return api::ProblemFromStatus(Status::InvalidField("records", "must be an array of 1 to 1000 records"));
  }
  std::vector<metering::SpooledRecord> valid;
  json rejected = json::array();
  for (size_t i = 0; i < records.size(); ++i) {
    json r = records[i];
    if (r.is_object() && !r.contains("cloudlet")) r["cloudlet"] = descriptor_.id;  // this cloudlet's usage
    auto record = metering::UsageRecordFromJson(r, "records[" + std::to_string(i) + "]", deps_.clock.Now());
    Status why = record.ok() ? Status::Ok() : record.status();
    if (why.ok() && record->cloudlet != descriptor_.id) {
      why = Status::InvalidField("records[" + std::to_string(i) + "].cloudlet", "must be this cloudlet, " + descriptor_.id);
    }
    if (!why.ok()) {
      rejected.push_back({{"event_id", r.is_object() ? r.value("event_id", "") : ""}, {"reason", why.message()}});
      continue;
    }
    valid.push_back({record->event_id, r});
  }
  if (!valid.empty()) {
    if (Status s = spool_->Add(valid); !s.ok()) {
      spdlog::error("usage: cannot spool: {}", s.ToString());
      auto r = api::Problem(503, "the usage spool cannot be written: " + s.message() + "; nothing was kept");
      r.headers["Retry-After"] = "1";
      return r;
    }
    if (forwarder_) forwarder_->Wake();
  }
  // Accepted means kept here, not yet at the registry: durable, or in memory while the disk
  // refuses writes (lost if the agent dies before it recovers).
  const bool durable = !spool_->Stats().degraded;
  return api::JsonResponse(valid.empty() ? 400 : 202,
                           {{"spooled", valid.size()}, {"durable", durable}, {"rejected", rejected}});
}

std::string Agent::MetricsText() const {
  const metering::OverflowSpoolStats st = spool_->Stats();
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
  };
  metric("cloudlet_agent_spool_degraded", "gauge", "1 while the usage spool's disk refuses writes", st.degraded ? 1 : 0);
  metric("cloudlet_agent_spool_memory_records", "gauge", "Usage records that only memory holds", st.in_memory);
  metric("cloudlet_agent_spool_memory_limit", "gauge", "Usage records memory may hold", config_.spool_memory_records);
  metric("cloudlet_agent_spool_disk_failures_total", "counter", "Writes the usage spool's disk refused",
         st.disk_failures);
  metric("cloudlet_agent_spool_refused_records_total", "counter",
         "Usage records refused because the disk and the memory reserve were both full", st.refused);
  return out;
}

void Agent::Shutdown(bool deregister) {
  if (reconciler_) {
    reconciler_->Stop();  // workloads keep running: the next start adopts them
    reconciler_.reset();
  }
  if (meter_) {
    meter_->Stop();  // the open window is closed by the next start's first reading
    meter_.reset();
  }
  if (advertiser_) advertiser_.reset();  // withdraws the advert
  if (forwarder_) {
    forwarder_->Stop();
    forwarder_.reset();
  }
  if (reporter_) {
    reporter_->Stop(deregister);
    reporter_.reset();
  }
  if (server_) {
    server_->Stop(std::chrono::milliseconds(1000));
    server_.reset();
  }
}

}  // namespace cloudlet::agent
