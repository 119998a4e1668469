// Cloudlets on the local network: what a DNS-SD browser reports, and the live table built from it.
//
//   LanTable table(clock);
//   auto browser = MakeAvahiBrowser(kCloudletServiceType, [&](const ServiceEvent& e) { table.Apply(e); });
//   ...
//   for (const LanCloudlet& c : table.Snapshot()) std::cout << c.instance.name << " " << c.advert.load_percent;
//
// The browser and advertiser interfaces keep mDNS libraries out of this module; the Avahi adapters
// behind them are in cloudlet/discovery/avahi.h.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cloudlet/common/clock.h"
#include "cloudlet/common/status.h"
#include "cloudlet/discovery/txt_record.h"

namespace cloudlet::discovery {

inline constexpr char kCloudletServiceType[] = "_cloudlet._tcp";

// One resolved DNS-SD service instance, as seen on one interface and protocol.
struct ServiceInstance {
  std::string interface;  // "eth0"
  std::string protocol;   // "IPv4" or "IPv6"
  std::string name;       // instance name ("cloudlet-a", or Avahi's alternative "cloudlet-a #2")
  std::string type;
  std::string domain;
  std::string host;       // "n1.local"
  std::string address;    // "10.77.0.1"
  uint16_t port = 0;

  // Identifies the instance: the same name may be seen on several interfaces and protocols.
  std::string Key() const { return interface + "/" + protocol + "/" + name + "." + type + "." + domain; }
};

struct ServiceEvent {
  enum class Kind { kResolved, kRemoved };
  Kind kind = Kind::kResolved;
  ServiceInstance instance;
  std::vector<std::string> txt;  // wire order; empty for kRemoved
};

using ServiceEventHandler = std::function<void(const ServiceEvent&)>;

// Browses one service type for as long as it lives; events arrive on the browser's own thread.
class ServiceBrowser {
 public:
  virtual ~ServiceBrowser() = default;
  // True while the browser is connected to a running mDNS daemon.
  virtual bool connected() const = 0;
};

// Advertises one service for as long as it lives; destroying it withdraws the advert.
// Thread-safe.
struct AdvertOptions {
  std::string name;                          // instance name, at most 63 bytes
  std::string type = kCloudletServiceType;
  uint16_t port = 0;
  std::vector<std::string> txt;
};

class ServiceAdvertiser {
 public:
  virtual ~ServiceAdvertiser() = default;
  // Replaces the advert's TXT record (at once when it is published, else when it is).
  virtual void UpdateTxt(std::vector<std::string> txt) = 0;
  // The name the advert is established under (the alternative after a collision); empty while it
  // is not established, for instance while the daemon is away.
  virtual std::string EstablishedName() const = 0;
};

struct LanCloudlet {
  ServiceInstance instance;
  Advert advert;
  common::TimePoint updated_at;
  std::vector<std::string> txt = {};  // the record as received, for checking its signature
};

// The live table of cloudlets on the LAN. A record that does not decode is dropped with a log line
// (and any earlier entry for that instance removed): a hostile advert cannot poison the table.
// Thread-safe.
class LanTable {
 public:
  explicit LanTable(const common::Clock& clock) : clock_(clock) {}

  void Apply(const ServiceEvent& event);
  // Sorted by instance name, then interface.
  std::vector<LanCloudlet> Snapshot() const;
  // Bumped on every change to the table.
  uint64_t version() const;
  // Waits until version() differs from `seen` or `timeout` passes; returns the version.
  uint64_t WaitForChange(uint64_t seen, std::chrono::milliseconds timeout) const;
  // Records dropped because they did not decode.
  uint64_t rejected() const;

 private:
  const common::Clock& clock_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::map<std::string, LanCloudlet> entries_;
  uint64_t version_ = 0;
  uint64_t rejected_ = 0;
};

}  // namespace cloudlet::discovery
