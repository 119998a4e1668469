// ServiceBrowser over avahi-client: a service browser, and per instance a long-lived resolver (for
// host, address and port) plus a record browser on its TXT record. The resolver reports a changed
// TXT record only once the old one is flushed from the cache, a second after the new one arrived
// (RFC 6762 §10.2); the record browser sees the new record as it arrives.
#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-common/defs.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <net/if.h>

#include <map>

#include <spdlog/spdlog.h>

#include "avahi_common.h"
#include "cloudlet/discovery/avahi.h"

namespace cloudlet::discovery {
namespace {

using avahi_internal::FromStringList;
using avahi_internal::PollLock;

ServiceInstance MakeInstance(AvahiIfIndex interface, AvahiProtocol protocol, const char* name, const char* type,
                             const char* domain) {
  ServiceInstance s;
  char ifname[IF_NAMESIZE] = {};
  s.interface = interface >= 0 && if_indextoname(static_cast<unsigned>(interface), ifname) ? ifname
                                                                                          : std::to_string(interface);
  s.protocol = protocol == AVAHI_PROTO_INET6 ? "IPv6" : "IPv4";
  s.name = name ? name : "";
  s.type = type ? type : "";
  s.domain = domain ? domain : "";
  return s;
}

class AvahiBrowser final : public ServiceBrowser, public avahi_internal::ClientOwner {
 public:
  AvahiBrowser(std::string type, ServiceEventHandler on_event)
      : ClientOwner("browse " + type), type_(std::move(type)), on_event_(std::move(on_event)) {}

  ~AvahiBrowser() override { StopPoll(); }  // frees the browser and every resolver

  common::Status Start() { return StartPoll(); }
  bool connected() const override { return Connected(); }

 private:
  struct Known {
    ServiceInstance instance;
    AvahiServiceResolver* resolver = nullptr;
    AvahiRecordBrowser* txt_browser = nullptr;
    bool resolved = false;
    std::vector<std::string> txt;  // the newest TXT record seen
  };

  void OnRunning(AvahiClient* c) override {
    if (browser_ != nullptr) return;
    browser_ = avahi_service_browser_new(c, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, type_.c_str(), nullptr,
                                         AvahiLookupFlags(0), &AvahiBrowser::OnBrowse, this);
    if (browser_ == nullptr) spdlog::error("mdns: cannot browse {}: {}", type_, avahi_strerror(avahi_client_errno(c)));
  }

  // The daemon went away: what it told us is gone with it (it is browsed again once it is back).
  void OnLost() override {
    ForgetAll();
    browser_ = nullptr;  // freed with the client, as are the resolvers
  }

  void ForgetAll() {
    for (auto& [key, known] : known_) {
      if (known.resolved) on_event_({ServiceEvent::Kind::kRemoved, known.instance, {}});
    }
    known_.clear();
  }

  static void OnBrowse(AvahiServiceBrowser* b, AvahiIfIndex interface, AvahiProtocol protocol, AvahiBrowserEvent event,
                       const char* name, const char* type, const char* domain, AvahiLookupResultFlags,
                       void* self) {
    static_cast<AvahiBrowser*>(self)->HandleBrowse(b, interface, protocol, event, name, type, domain);
  }

  void HandleBrowse(AvahiServiceBrowser* b, AvahiIfIndex interface, AvahiProtocol protocol, AvahiBrowserEvent event,
                    const char* name, const char* type, const char* domain) {
    switch (event) {
      case AVAHI_BROWSER_NEW: {
        ServiceInstance instance = MakeInstance(interface, protocol, name, type, domain);
        const std::string key = instance.Key();
        if (known_.count(key)) return;
        AvahiServiceResolver* r =
            // The address in the protocol the instance was seen on: an IPv4 advert resolves to IPv4
            // rather than to a link-local IPv6 address that clients would need a scope for.
            avahi_service_resolver_new(avahi_service_browser_get_client(b), interface, protocol, name, type, domain,
                                       protocol, AvahiLookupFlags(0), &AvahiBrowser::OnResolve, this);
        if (r == nullptr) {
          spdlog::warn("mdns: cannot resolve '{}': {}", name,
                       avahi_strerror(avahi_client_errno(avahi_service_browser_get_client(b))));
          return;
        }
        char full[AVAHI_DOMAIN_NAME_MAX];
        AvahiRecordBrowser* txt_browser = nullptr;
        if (avahi_service_name_join(full, sizeof full, name, type, domain) == AVAHI_OK) {
          txt_browser = avahi_record_browser_new(avahi_service_browser_get_client(b), interface, protocol, full,
                                                 AVAHI_DNS_CLASS_IN, AVAHI_DNS_TYPE_TXT, AvahiLookupFlags(0),
                                                 &AvahiBrowser::OnTxt, this);
        }
        known_[key] = Known{std::move(instance), r, txt_browser, false, {}};
        break;
      }
      case AVAHI_BROWSER_REMOVE: {
        auto it = known_.find(MakeInstance(interface, protocol, name, type, domain).Key());
        if (it == known_.end()) return;
        avahi_service_resolver_free(it->second.resolver);
        if (it->second.txt_browser != nullptr) avahi_record_browser_free(it->second.txt_browser);
        if (it->second.resolved) on_event_({ServiceEvent::Kind::kRemoved, it->second.instance, {}});
        known_.erase(it);
        break;
      }
      case AVAHI_BROWSER_FAILURE:
        spdlog::error("mdns: browsing {} failed: {}", type_,
                      avahi_strerror(avahi_client_errno(avahi_service_browser_get_client(b))));
        break;
      case AVAHI_BROWSER_ALL_FOR_NOW:
      case AVAHI_BROWSER_CACHE_EXHAUSTED:
        break;
    }
  }

  static void OnResolve(AvahiServiceResolver*, AvahiIfIndex interface, AvahiProtocol protocol,
                        AvahiResolverEvent event, const char* name, const char* type, const char* domain,
                        const char* host, const AvahiAddress* address, uint16_t port, AvahiStringList* txt,
                        AvahiLookupResultFlags, void* self) {
    auto* browser = static_cast<AvahiBrowser*>(self);
    auto it = browser->known_.find(MakeInstance(interface, protocol, name, type, domain).Key());
    if (it == browser->known_.end()) return;
    Known& known = it->second;
    if (event != AVAHI_RESOLVER_FOUND) {
      // A timeout: the instance stays known and is resolved again when its records reappear.
      spdlog::debug("mdns: resolving '{}' failed", name);
      return;
    }
    char text[AVAHI_ADDRESS_STR_MAX] = {};
    if (address != nullptr) avahi_address_snprint(text, sizeof text, address);
    known.instance.host = host ? host : "";
    known.instance.address = text;
    known.instance.port = port;
    known.resolved = true;
    // What the resolver reports has settled in the cache: it is current.
    known.txt = FromStringList(txt);
    browser->on_event_({ServiceEvent::Kind::kResolved, known.instance, known.txt});
  }

  // TXT RDATA: length-prefixed strings (RFC 6763 §6.1), in wire order.
  static std::vector<std::string> ParseTxtRdata(const uint8_t* data, size_t size) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < size) {
      const size_t len = data[i++];
      if (len > size - i) break;  // truncated: keep what was whole
      out.emplace_back(reinterpret_cast<const char*>(data + i), len);
      i += len;
    }
    return out;
  }

  static void OnTxt(AvahiRecordBrowser*, AvahiIfIndex interface, AvahiProtocol protocol, AvahiBrowserEvent event,
                    const char* name, uint16_t, uint16_t, const void* rdata, size_t size, AvahiLookupResultFlags,
                    void* self) {
    if (event != AVAHI_BROWSER_NEW || rdata == nullptr) return;  // an old record leaving is not news
    auto* browser = static_cast<AvahiBrowser*>(self);
    char instance[AVAHI_LABEL_MAX], type[AVAHI_DOMAIN_NAME_MAX], domain[AVAHI_DOMAIN_NAME_MAX];
    if (avahi_service_name_split(name, instance, sizeof instance, type, sizeof type, domain, sizeof domain) < 0) return;
    auto it = browser->known_.find(MakeInstance(interface, protocol, instance, type, domain).Key());
    if (it == browser->known_.end()) return;
    Known& known = it->second;
    auto txt = ParseTxtRdata(static_cast<const uint8_t*>(rdata), size);
    if (txt == known.txt) return;
    known.txt = std::move(txt);
    if (known.resolved) browser->on_event_({ServiceEvent::Kind::kResolved, known.instance, known.txt});
  }

  std::string type_;
  ServiceEventHandler on_event_;
  AvahiServiceBrowser* browser_ = nullptr;
  std::map<std::string, Known> known_;  // by ServiceInstance::Key(); only touched on the poll thread
};

}  // namespace

common::Result<std::unique_ptr<ServiceBrowser>> MakeAvahiBrowser(std::string type, ServiceEventHandler on_event) {
  auto browser = std::make_unique<AvahiBrowser>(std::move(type), std::move(on_event));
  CLOUDLET_RETURN_IF_ERROR(browser->Start());
  return std::unique_ptr<ServiceBrowser>(std::move(browser));
}

}  // namespace cloudlet::discovery
