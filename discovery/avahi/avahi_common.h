// Shared pieces of the Avahi adapters. Private.
#pragma once

#include <avahi-client/client.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/watch.h>

#include <memory>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"

namespace cloudlet::discovery::avahi_internal {

// Holds the threaded poll's lock for a scope (callbacks already run with it held).
class PollLock {
 public:
  explicit PollLock(AvahiThreadedPoll* poll) : poll_(poll) { avahi_threaded_poll_lock(poll_); }
  ~PollLock() { avahi_threaded_poll_unlock(poll_); }
  PollLock(const PollLock&) = delete;
  PollLock& operator=(const PollLock&) = delete;

 private:
  AvahiThreadedPoll* poll_;
};

struct StringListDeleter {
  void operator()(AvahiStringList* l) const { avahi_string_list_free(l); }
};
using StringList = std::unique_ptr<AvahiStringList, StringListDeleter>;

// Conversions between Avahi string lists and TXT strings in wire order.
StringList ToStringList(const std::vector<std::string>& wire_order);
std::vector<std::string> FromStringList(const AvahiStringList* list);

// Owns the threaded poll and a client that outlives the daemon: made with AVAHI_CLIENT_NO_FAIL (it
// waits for a daemon that is not running), made again when the daemon goes away, and retried every
// 2 s while not even the system bus answers. Subclasses react to the client's states; their
// destructors must call StopPoll() before their own members go.
class ClientOwner {
 public:
  virtual ~ClientOwner() = default;
  // True while the client is connected to a running daemon. Takes the poll's lock.
  bool Connected() const;

 protected:
  explicit ClientOwner(std::string purpose) : purpose_(std::move(purpose)) {}
  common::Status StartPoll();
  void StopPoll();

  // Called on the poll thread with its lock held.
  virtual void OnRunning(AvahiClient* client) = 0;
  virtual void OnRegistering() {}  // the daemon (re)registers its host name
  virtual void OnLost() = 0;       // the client and everything made from it are about to be freed

  AvahiThreadedPoll* poll_ = nullptr;

 private:
  void NewClient();
  void HandleState(AvahiClient* client, AvahiClientState state);
  static void OnState(AvahiClient* client, AvahiClientState state, void* self);
  static void OnRetry(AvahiTimeout* timeout, void* self);

  std::string purpose_;  // for log lines: "advertise 'x'", "browse _cloudlet._tcp"
  AvahiClient* client_ = nullptr;
  bool running_ = false;
  bool warned_ = false;
};

}  // namespace cloudlet::discovery::avahi_internal
