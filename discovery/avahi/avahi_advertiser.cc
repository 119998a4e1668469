// ServiceAdvertiser over avahi-client. Everything that touches Avahi objects runs with the threaded
// poll's lock held: callbacks hold it already, public methods take it.
#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>

#include <spdlog/spdlog.h>

#include "avahi_common.h"
#include "cloudlet/discovery/avahi.h"

namespace cloudlet::discovery {
namespace {

using avahi_internal::PollLock;
using avahi_internal::ToStringList;

class AvahiAdvertiser final : public ServiceAdvertiser, public avahi_internal::ClientOwner {
 public:
  explicit AvahiAdvertiser(AdvertOptions options)
      : ClientOwner("advertise '" + options.name + "'"), options_(std::move(options)), name_(options_.name) {}

  ~AvahiAdvertiser() override {
    const bool was_established = poll_ != nullptr && !EstablishedName().empty();
    StopPoll();  // freeing the client frees the entry group: the daemon sends goodbye packets
    if (was_established) spdlog::info("mdns: withdrew '{}'", name_);
  }

  common::Status Start() { return StartPoll(); }

  void UpdateTxt(std::vector<std::string> txt) override {
    PollLock lock(poll_);
    options_.txt = std::move(txt);
    // Changing records while Avahi still probes them makes it see a conflict with itself (and take
    // an alternative name): until the advert is established the new record waits.
    if (established_) PushTxt();
  }

  std::string EstablishedName() const override {
    PollLock lock(poll_);
    return established_ ? name_ : std::string();
  }

 private:
  void OnRunning(AvahiClient* c) override { Publish(c); }

  void OnRegistering() override {
    // The host name is being (re)registered; our records follow once the daemon runs again.
    established_ = false;
    if (group_ != nullptr) avahi_entry_group_reset(group_);
  }

  void OnLost() override {
    established_ = false;
    group_ = nullptr;  // freed with its client
  }

  void PushTxt() {
    if (published_txt_ == options_.txt) return;
    auto list = ToStringList(options_.txt);
    const int rc = avahi_entry_group_update_service_txt_strlst(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                                               AvahiPublishFlags(0), name_.c_str(),
                                                               options_.type.c_str(), nullptr, list.get());
    if (rc < 0) {
      spdlog::warn("mdns: updating the TXT record of '{}' failed: {}", name_, avahi_strerror(rc));
      return;
    }
    published_txt_ = options_.txt;
  }

  void Publish(AvahiClient* c) {
    if (group_ == nullptr) {
      group_ = avahi_entry_group_new(c, &AvahiAdvertiser::OnGroup, this);
      if (group_ == nullptr) {
        spdlog::error("mdns: cannot create an entry group: {}", avahi_strerror(avahi_client_errno(c)));
        return;
      }
    }
    if (!avahi_entry_group_is_empty(group_)) return;
    while (true) {
      auto list = ToStringList(options_.txt);
      published_txt_ = options_.txt;
      const int rc =
          avahi_entry_group_add_service_strlst(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
                                               name_.c_str(), options_.type.c_str(), nullptr, nullptr, options_.port,
                                               list.get());
      if (rc == AVAHI_ERR_COLLISION) {
        TakeAlternativeName();
        avahi_entry_group_reset(group_);
        continue;
      }
      if (rc < 0) {
        spdlog::error("mdns: cannot add service '{}': {}", name_, avahi_strerror(rc));
        return;
      }
      break;
    }
    const int rc = avahi_entry_group_commit(group_);
    if (rc < 0) spdlog::error("mdns: cannot commit the advert of '{}': {}", name_, avahi_strerror(rc));
  }

  void TakeAlternativeName() {
    char* alt = avahi_alternative_service_name(name_.c_str());
    spdlog::warn("mdns: the name '{}' is taken on the network; advertising as '{}'", name_, alt);
    name_ = alt;
    avahi_free(alt);
  }

  static void OnGroup(AvahiEntryGroup* g, AvahiEntryGroupState state, void* self) {
    static_cast<AvahiAdvertiser*>(self)->HandleGroup(g, state);
  }

  void HandleGroup(AvahiEntryGroup* g, AvahiEntryGroupState state) {
    switch (state) {
      case AVAHI_ENTRY_GROUP_ESTABLISHED:
        established_ = true;
        spdlog::info("mdns: advertising '{}' as {} on port {}", name_, options_.type, options_.port);
        PushTxt();  // a record that changed while probing
        break;
      case AVAHI_ENTRY_GROUP_COLLISION:
        established_ = false;
        TakeAlternativeName();
        avahi_entry_group_reset(g);
        group_ = g;
        Publish(avahi_entry_group_get_client(g));
        break;
      case AVAHI_ENTRY_GROUP_FAILURE:
        established_ = false;
        spdlog::error("mdns: the advert of '{}' failed: {}", name_,
                      avahi_strerror(avahi_client_errno(avahi_entry_group_get_client(g))));
        break;
      case AVAHI_ENTRY_GROUP_UNCOMMITED:
      case AVAHI_ENTRY_GROUP_REGISTERING:
        break;
    }
  }

  AdvertOptions options_;
  std::string name_;  // the name asked for, or the alternative taken after a collision
  AvahiEntryGroup* group_ = nullptr;
  std::vector<std::string> published_txt_;  // what the entry group holds
  bool established_ = false;
};

}  // namespace

common::Result<std::unique_ptr<ServiceAdvertiser>> MakeAvahiAdvertiser(AdvertOptions options) {
  if (options.name.empty() || options.name.size() > 63) {
    return common::Status::InvalidField("name", "must be 1-63 bytes (a DNS-SD instance name)");
  }
  auto advertiser = std::make_unique<AvahiAdvertiser>(std::move(options));
  CLOUDLET_RETURN_IF_ERROR(advertiser->Start());
  return std::unique_ptr<ServiceAdvertiser>(std::move(advertiser));
}

}  // namespace cloudlet::discovery
