#include "cloudlet/discovery/txt_record.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <string_view>

#include "cloudlet/discovery/cloudlet.h"

namespace cloudlet::discovery {
namespace {

using common::Result;
using common::Status;

inline constexpr size_t kMaxKeyBytes = 9;  // RFC 6763 §6.4 asks for keys of 9 characters or fewer

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ',';
    out += s;
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

template <typename T>
bool ParseInt(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<free>/<total>" with 0 <= free <= total <= limit.
Status ParseFreeTotal(std::string_view key, std::string_view value, int64_t limit, int64_t& free, int64_t& total) {
  const auto parts = Split(value, '/');
  if (parts.size() != 2 || !ParseInt(parts[0], free) || !ParseInt(parts[1], total)) {
    return Status::InvalidField(std::string(key), "must be <free>/<total> in whole numbers");
  }
  if (free < 0 || total < 0 || free > total || total > limit) {
    return Status::InvalidField(std::string(key), "needs 0 <= free <= total <= " + std::to_string(limit));
  }
  return Status::Ok();
}

std::string FormatGeo(const common::GeoPoint& g) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.5f,%.5f", g.lat, g.lon);
  return buf;
}

}  // namespace

std::string BaseVmPrefix(std::string_view digest) {
  constexpr std::string_view kScheme = "sha256:";
  if (digest.substr(0, kScheme.size()) == kScheme) digest.remove_prefix(kScheme.size());
  return std::string(digest.substr(0, kBaseVmPrefixHexDigits));
}

size_t TxtWireBytes(const std::vector<std::string>& txt) {
  size_t n = 0;
  for (const auto& s : txt) n += 1 + s.size();
  return n;
}

std::vector<std::string> EncodeTxt(const Advert& a) {
  std::vector<std::string> txt = {
      "txtvers=1",
      "id=" + a.id,
      "cpu=" + std::to_string(a.cpu_free_millis) + "/" + std::to_string(a.cpu_total_millis),
      "mem=" + std::to_string(a.mem_free_mb) + "/" + std::to_string(a.mem_total_mb),
      "load=" + std::to_string(std::clamp(a.load_percent, 0, 100)),
      "iso=" + Join(a.isolation),
  };
  if (a.geo) txt.push_back("geo=" + FormatGeo(*a.geo));
  if (!a.registry.empty() && a.registry.size() + 4 <= kMaxTxtStringBytes) txt.push_back("reg=" + a.registry);
  txt.push_back("seq=" + std::to_string(a.seq));
  if (!a.public_key.empty()) txt.push_back("pk=" + a.public_key);
  if (!a.signature.empty()) txt.push_back("sig=" + a.signature);

  // The base VM list takes what room is left in one string and in the record's budget.
  const size_t used = TxtWireBytes(txt) + std::string_view("bvm+=1").size() + 1;
  const size_t room = std::min(kMaxTxtStringBytes, kTxtRecordBudgetBytes > used ? kTxtRecordBudgetBytes - used : 0);
  std::string bvm = "bvm=";
  bool truncated = a.base_vms_truncated;
  for (const auto& prefix : a.base_vms) {
    const size_t extra = prefix.size() + (bvm.size() > 4 ? 1 : 0);
    if (bvm.size() + extra > room) {
      truncated = true;
      break;
    }
    if (bvm.size() > 4) bvm += ',';
    bvm += prefix;
  }
  if (bvm.size() > 4) txt.push_back(std::move(bvm));
  if (truncated) txt.push_back("bvm+=1");
  return txt;
}

std::string TxtSigningInput(const std::vector<std::string>& txt) {
  std::vector<std::string> covered;
  for (const auto& s : txt) {
    std::string key = s.substr(0, s.find('='));
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    if (key != "pk" && key != "sig") covered.push_back(s);
  }
  std::sort(covered.begin(), covered.end());
  std::string out;
  for (const auto& s : covered) out += (out.empty() ? "" : "\n") + s;
  return out;
}

std::vector<std::string> EncodeSignedTxt(Advert advert, const std::string& public_key,
                                         const std::function<std::string(std::string_view)>& sign) {
  // Encode with a signature of the final length first: how many base VMs fit depends on it.
  advert.public_key = public_key;
  advert.signature = std::string(86, 'A');
  std::vector<std::string> txt = EncodeTxt(advert);
  const std::string signature = sign(TxtSigningInput(txt));
  for (auto& s : txt) {
    if (s.rfind("sig=", 0) == 0) s = "sig=" + signature;
  }
  return txt;
}

Result<Advert> DecodeTxt(const std::vector<std::string>& txt) {
  if (TxtWireBytes(txt) > kMaxTxtRecordBytes) {
    return Status::InvalidField("txt", "record of " + std::to_string(TxtWireBytes(txt)) + " bytes is too large");
  }
  // First occurrence of each key wins (RFC 6763 §6.4); keys compare case-insensitively.
  std::map<std::string, std::string_view> kv;
  for (const auto& s : txt) {
    if (s.size() > kMaxTxtStringBytes) return Status::InvalidField("txt", "a string is longer than 255 bytes");
    const size_t eq = s.find('=');
    std::string key = s.substr(0, eq);
    if (key.empty() || key.size() > kMaxKeyBytes) continue;  // not a key we know; ignored
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    const std::string_view value = eq == std::string::npos ? std::string_view() : std::string_view(s).substr(eq + 1);
    kv.emplace(std::move(key), value);
  }
  auto required = [&](const char* key) -> Result<std::string_view> {
    auto it = kv.find(key);
    if (it == kv.end()) return Status::InvalidField(key, "is missing");
    return it->second;
  };

  Advert a;
  auto txtvers = required("txtvers");
  if (!txtvers.ok()) return txtvers.status();
  if (*txtvers != "1") return Status::InvalidField("txtvers", "version '" + std::string(txtvers->substr(0, 16)) + "' is not 1");

  auto id = required("id");
  if (!id.ok()) return id.status();
  a.id = std::string(*id);
  CLOUDLET_RETURN_IF_ERROR(ValidateCloudletId(a.id, "id"));

  auto cpu = required("cpu");
  if (!cpu.ok()) return cpu.status();
  CLOUDLET_RETURN_IF_ERROR(ParseFreeTotal("cpu", *cpu, kMaxCpuMillis, a.cpu_free_millis, a.cpu_total_millis));
  auto mem = required("mem");
  if (!mem.ok()) return mem.status();
  CLOUDLET_RETURN_IF_ERROR(ParseFreeTotal("mem", *mem, kMaxMemMb, a.mem_free_mb, a.mem_total_mb));

  auto load = required("load");
  if (!load.ok()) return load.status();
  if (!ParseInt(*load, a.load_percent) || a.load_percent < 0 || a.load_percent > 100) {
    return Status::InvalidField("load", "must be a whole percent 0-100");
  }

  auto iso = required("iso");
  if (!iso.ok()) return iso.status();
  for (auto kind : Split(*iso, ',')) {
    if (kind != "vm" && kind != "container") return Status::InvalidField("iso", "must list vm and/or container");
    if (std::find(a.isolation.begin(), a.isolation.end(), kind) != a.isolation.end()) {
      return Status::InvalidField("iso", "lists '" + std::string(kind) + "' twice");
    }
    a.isolation.emplace_back(kind);
  }

  auto seq = required("seq");
  if (!seq.ok()) return seq.status();
  if (!ParseInt(*seq, a.seq)) return Status::InvalidField("seq", "must be a whole number");

  if (auto it = kv.find("bvm"); it != kv.end() && !it->second.empty()) {
    for (auto prefix : Split(it->second, ',')) {
      if (prefix.size() != kBaseVmPrefixHexDigits || !IsLowerHex(prefix)) {
        return Status::InvalidField("bvm", "each entry must be 12 lowercase hex digits");
      }
      a.base_vms.emplace_back(prefix);
    }
  }
  if (auto it = kv.find("bvm+"); it != kv.end()) a.base_vms_truncated = it->second == "1";

  if (auto it = kv.find("geo"); it != kv.end()) {
    auto g = common::ParseGeoPoint(it->second, "geo");
    if (!g.ok()) return g.status();
    a.geo = *g;
  }
  if (auto it = kv.find("reg"); it != kv.end() && !it->second.empty()) {
    a.registry = std::string(it->second);
    CLOUDLET_RETURN_IF_ERROR(ValidateEndpoint(a.registry, "reg"));
  }
  if (auto it = kv.find("pk"); it != kv.end()) a.public_key = std::string(it->second);
  if (auto it = kv.find("sig"); it != kv.end()) a.signature = std::string(it->second);
  return a;
}

}  // namespace cloudlet::discovery
