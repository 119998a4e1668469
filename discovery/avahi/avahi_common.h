// Shared pieces of the Avahi adapters. Private.
#pragma once

#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>

#include <memory>
#include <string>
#include <vector>

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

}  // namespace cloudlet::discovery::avahi_internal
