// The DNS-SD TXT record a cloudlet advertises (docs/discovery.md), as key=value strings in wire
// order.
//
//   std::vector<std::string> txt = EncodeTxt(advert);          // "txtvers=1" first
//   auto parsed = DecodeTxt(txt);                              // a hostile record is an error, never a crash
//   if (!parsed.ok()) log(parsed.status().ToString());         // names the offending key
//
// Decoding follows RFC 6763 §6: keys are case-insensitive, only the first of duplicate keys counts,
// unknown keys are ignored, and a string without '=' is a key with no value.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cloudlet/common/geo.h"
#include "cloudlet/common/status.h"

namespace cloudlet::discovery {

inline constexpr size_t kMaxTxtStringBytes = 255;    // RFC 6763 §6.1: one length byte per string
inline constexpr size_t kTxtRecordBudgetBytes = 1000;  // what we emit; §6.2 asks for well under 1300
inline constexpr size_t kMaxTxtRecordBytes = 8900;   // what we accept (§6.2's upper bound for one packet)
inline constexpr size_t kBaseVmPrefixHexDigits = 12;

struct Advert {
  std::string id;
  int64_t cpu_free_millis = 0;
  int64_t cpu_total_millis = 0;
  int64_t mem_free_mb = 0;
  int64_t mem_total_mb = 0;
  int load_percent = 0;                  // 0..100
  std::vector<std::string> isolation;    // "vm", "container"
  std::vector<std::string> base_vms;     // the first 12 hex digits of each sha256
  bool base_vms_truncated = false;       // the advert carries only some; the agent's /v1/resource has all
  std::optional<common::GeoPoint> geo;
  std::string registry;                  // registry base URL; empty when none
  uint64_t seq = 0;
  std::string public_key;                // "pk"; empty when the agent does not sign
  std::string signature;                 // "sig"

  bool operator==(const Advert&) const = default;
};

// The first 12 hex digits of a "sha256:<hex>" digest.
std::string BaseVmPrefix(std::string_view digest);

// Wire-order strings, txtvers first. Base VMs beyond what fits kTxtRecordBudgetBytes are cut (and
// `bvm+=1` added); a registry URL too long for one string is left out.
std::vector<std::string> EncodeTxt(const Advert& advert);
size_t TxtWireBytes(const std::vector<std::string>& txt);  // length bytes included

// Parses and validates every known key; the error is InvalidField naming the key.
common::Result<Advert> DecodeTxt(const std::vector<std::string>& txt);

// What an advert's signature covers: every string but `pk` and `sig`, sorted by key, joined by
// '\n' (so the order on the wire does not matter, and `seq` is covered against replays).
std::string TxtSigningInput(const std::vector<std::string>& txt);
// Encodes `advert` carrying `public_key` and a signature made by `sign` over TxtSigningInput.
std::vector<std::string> EncodeSignedTxt(Advert advert, const std::string& public_key,
                                         const std::function<std::string(std::string_view)>& sign);

}  // namespace cloudlet::discovery
