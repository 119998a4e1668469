// The Avahi adapters (avahi-client over the system D-Bus, threaded poll) behind ServiceAdvertiser
// and ServiceBrowser. Link cloudlet::discovery_avahi.
//
//   auto advertiser = MakeAvahiAdvertiser({.name = "cloudlet-a", .port = 8471, .txt = EncodeTxt(advert)});
//   if (!advertiser.ok()) ...                  // only when Avahi's poll thread cannot start
//   (*advertiser)->UpdateTxt(EncodeTxt(next)); // thread-safe
//
// Both keep working across an Avahi daemon restart: while the daemon is away they wait for it, then
// publish again (or browse again). The advertiser takes Avahi's alternative name on a collision.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cloudlet/common/status.h"
#include "cloudlet/discovery/lan.h"

namespace cloudlet::discovery {

common::Result<std::unique_ptr<ServiceAdvertiser>> MakeAvahiAdvertiser(AdvertOptions options);

// Calls `on_event` from Avahi's thread: kResolved when an instance is resolved or its TXT record
// changes, kRemoved when it goes (also for every instance when the local daemon goes away).
common::Result<std::unique_ptr<ServiceBrowser>> MakeAvahiBrowser(std::string type, ServiceEventHandler on_event);

}  // namespace cloudlet::discovery
