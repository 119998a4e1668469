#include "avahi_common.h"

#include <avahi-common/error.h>
#include <avahi-common/timeval.h>

#include <spdlog/spdlog.h>

namespace cloudlet::discovery::avahi_internal {

StringList ToStringList(const std::vector<std::string>& wire_order) {
  AvahiStringList* list = nullptr;
  // avahi_string_list_add prepends and the list is serialised from its tail, so adding in wire
  // order gives wire order on the network (checked on captured packets). Received lists come
  // from the client library head first, in wire order.
  for (const auto& s : wire_order) {
    list = avahi_string_list_add_arbitrary(list, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  return StringList(list);
}

std::vector<std::string> FromStringList(const AvahiStringList* list) {
  std::vector<std::string> out;
  for (const AvahiStringList* l = list; l != nullptr; l = avahi_string_list_get_next(const_cast<AvahiStringList*>(l))) {
    out.emplace_back(reinterpret_cast<const char*>(avahi_string_list_get_text(const_cast<AvahiStringList*>(l))),
                     avahi_string_list_get_size(const_cast<AvahiStringList*>(l)));
  }
  return out;
}

bool ClientOwner::Connected() const {
  PollLock lock(poll_);
  return running_;
}

common::Status ClientOwner::StartPoll() {
  poll_ = avahi_threaded_poll_new();
  if (poll_ == nullptr) return common::Status::Internal("avahi: cannot create a threaded poll");
  {
    PollLock lock(poll_);
    NewClient();
  }
  if (avahi_threaded_poll_start(poll_) < 0) return common::Status::Internal("avahi: cannot start the poll thread");
  return common::Status::Ok();
}

void ClientOwner::StopPoll() {
  if (poll_ == nullptr) return;
  avahi_threaded_poll_stop(poll_);
  if (client_ != nullptr) {
    OnLost();
    avahi_client_free(client_);  // frees what was made from it; the daemon withdraws its records
    client_ = nullptr;
  }
  avahi_threaded_poll_free(poll_);  // and any pending retry
  poll_ = nullptr;
}

void ClientOwner::NewClient() {
  int error = 0;
  client_ = avahi_client_new(avahi_threaded_poll_get(poll_), AVAHI_CLIENT_NO_FAIL, &ClientOwner::OnState, this, &error);
  if (client_ != nullptr) return;
  if (!warned_) {
    spdlog::warn("mdns: cannot reach Avahi to {} ({}); trying again every 2 s", purpose_, avahi_strerror(error));
    warned_ = true;
  }
  const AvahiPoll* api = avahi_threaded_poll_get(poll_);
  timeval when{};
  api->timeout_new(api, avahi_elapse_time(&when, 2000, 0), &ClientOwner::OnRetry, this);
}

void ClientOwner::OnRetry(AvahiTimeout* timeout, void* self) {
  auto* owner = static_cast<ClientOwner*>(self);
  avahi_threaded_poll_get(owner->poll_)->timeout_free(timeout);
  owner->NewClient();
}

void ClientOwner::OnState(AvahiClient* client, AvahiClientState state, void* self) {
  static_cast<ClientOwner*>(self)->HandleState(client, state);
}

void ClientOwner::HandleState(AvahiClient* client, AvahiClientState state) {
  running_ = state == AVAHI_CLIENT_S_RUNNING;
  switch (state) {
    case AVAHI_CLIENT_S_RUNNING:
      if (warned_) spdlog::info("mdns: Avahi is there; going on to {}", purpose_);
      warned_ = false;
      OnRunning(client);
      break;
    case AVAHI_CLIENT_S_REGISTERING:
    case AVAHI_CLIENT_S_COLLISION:
      OnRegistering();
      break;
    case AVAHI_CLIENT_CONNECTING:
      if (!warned_) spdlog::warn("mdns: waiting for the Avahi daemon to {}", purpose_);
      warned_ = true;
      break;
    case AVAHI_CLIENT_FAILURE: {
      const int error = avahi_client_errno(client);
      if (error == AVAHI_ERR_DISCONNECTED) {
        spdlog::warn("mdns: the Avahi daemon went away; will {} again when it is back", purpose_);
      } else {
        spdlog::error("mdns: the Avahi client failed ({}); starting over", avahi_strerror(error));
      }
      warned_ = true;
      OnLost();
      avahi_client_free(client);
      client_ = nullptr;
      NewClient();
      break;
    }
  }
}

}  // namespace cloudlet::discovery::avahi_internal
