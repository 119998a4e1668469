#include "cloudlet/dns/responder.h"

#include <algorithm>
#include <cctype>
#include <memory>

// Last: ldns's headers define names (bool, false) that break standard headers included after them.
#include <ldns/ldns.h>

namespace cloudlet::dns {
namespace {

using common::Status;

constexpr uint16_t kEcsOption = 8;  // EDNS Client Subnet, RFC 7871
constexpr size_t kMaxEdnsUdp = 1232;  // the DNS flag day 2020 size: no IP fragmentation
constexpr size_t kMaxAnswers = 10;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string WithDot(std::string name) { return name.empty() || name.back() != '.' ? name + "." : name; }

// Ids and names are [a-z0-9-]: anything else (escapes included) names nothing here.
bool PlainLabel(const std::string& s) {
  return !s.empty() && s.size() <= 63 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

// An ECS option as the query gave it.
struct ClientSubnet {
  uint16_t family = 0;
  uint8_t source_bits = 0;
  IpAddress address;
  std::vector<uint8_t> address_bytes;  // as sent: ceil(source_bits / 8) bytes
};

// The ECS option among the OPT record's options; nullopt when there is none. `malformed` is set when
// one is there but breaks RFC 7871 section 6 (wrong lengths, a scope in a query, bits past the prefix).
std::optional<ClientSubnet> FindClientSubnet(const ldns_rdf* options, bool& malformed) {
  if (!options) return std::nullopt;
  const uint8_t* d = ldns_rdf_data(options);
  const size_t n = ldns_rdf_size(options);
  for (size_t at = 0; at + 4 <= n;) {
    const uint16_t code = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
    const size_t len = static_cast<size_t>(d[at + 2] << 8 | d[at + 3]);
    at += 4;
    if (at + len > n) break;
    if (code == kEcsOption) {
      ClientSubnet ecs;
      if (len < 4) return malformed = true, std::nullopt;
      ecs.family = static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
      ecs.source_bits = d[at + 2];
      const uint8_t scope_bits = d[at + 3];
      const size_t bytes = (ecs.source_bits + 7u) / 8u;
      const int max_bits = ecs.family == 1 ? 32 : ecs.family == 2 ? 128 : -1;
      if (max_bits < 0 || ecs.source_bits > max_bits || scope_bits != 0 || len != 4 + bytes) {
        return malformed = true, std::nullopt;
      }
      ecs.address.family = ecs.family == 1 ? 4 : 6;
      ecs.address_bytes.assign(d + at + 4, d + at + 4 + bytes);
      std::copy(ecs.address_bytes.begin(), ecs.address_bytes.end(), ecs.address.bytes.begin());
      if (ecs.source_bits % 8 && (ecs.address_bytes.back() & (0xFF >> (ecs.source_bits % 8)))) {
        return malformed = true, std::nullopt;
      }
      return ecs;
    }
    at += len;
  }
  return std::nullopt;
}

// The ECS option of the reply: the query's, with the scope that the answer holds for.
std::vector<uint8_t> EcsReply(const ClientSubnet& ecs, uint8_t scope_bits) {
  std::vector<uint8_t> out = {0, kEcsOption, 0, static_cast<uint8_t>(4 + ecs.address_bytes.size()),
                              static_cast<uint8_t>(ecs.family >> 8), static_cast<uint8_t>(ecs.family), ecs.source_bits,
                              scope_bits};
  out.insert(out.end(), ecs.address_bytes.begin(), ecs.address_bytes.end());
  return out;
}

bool IsIpLiteral(const std::string& host) { return ParseIp(host).ok(); }

class Reply {
 public:
  Reply(const ldns_pkt* query, const ldns_rr* question) : pkt_(ldns_pkt_new()) {
    ldns_pkt_set_id(pkt_.get(), ldns_pkt_id(query));
    ldns_pkt_set_qr(pkt_.get(), true);
    ldns_pkt_set_opcode(pkt_.get(), ldns_pkt_get_opcode(query));
    ldns_pkt_set_rd(pkt_.get(), ldns_pkt_rd(query));
    ldns_pkt_set_cd(pkt_.get(), ldns_pkt_cd(query));
    ldns_pkt_set_ra(pkt_.get(), false);
    if (question) ldns_pkt_push_rr(pkt_.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  }
  ldns_pkt* get() { return pkt_.get(); }
  void Rcode(ldns_pkt_rcode rcode) { ldns_pkt_set_rcode(pkt_.get(), rcode); }
  // `text` is one record in zone-file form; one that does not parse is left out.
  bool Add(ldns_pkt_section section, const std::string& text) {
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK) return false;
    ldns_pkt_push_rr(pkt_.get(), section, rr);
    return true;
  }
  void Edns(const std::vector<uint8_t>& options) {
    ldns_pkt_set_edns_udp_size(pkt_.get(), kMaxEdnsUdp);
    if (!options.empty()) {
      ldns_pkt_set_edns_data(pkt_.get(), ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, options.size(), options.data()));
    }
  }
  std::optional<std::vector<uint8_t>> Wire() const {
    uint8_t* wire = nullptr;
    size_t size = 0;
    if (ldns_pkt2wire(&wire, pkt_.get(), &size) != LDNS_STATUS_OK) return std::nullopt;
    std::vector<uint8_t> out(wire, wire + size);
    LDNS_FREE(wire);
    return out;
  }
  // Shrinks to `limit` bytes: without the additional section, then (TC) without answers.
  std::optional<std::vector<uint8_t>> WireWithin(size_t limit) {
    auto wire = Wire();
    if (!wire || wire->size() <= limit) return wire;
    ldns_rr_list_deep_free(ldns_pkt_additional(pkt_.get()));
    ldns_pkt_set_additional(pkt_.get(), ldns_rr_list_new());
    ldns_pkt_set_arcount(pkt_.get(), 0);
    wire = Wire();
    if (!wire || wire->size() <= limit) return wire;
    ldns_rr_list_deep_free(ldns_pkt_answer(pkt_.get()));
    ldns_pkt_set_answer(pkt_.get(), ldns_rr_list_new());
    ldns_pkt_set_ancount(pkt_.get(), 0);
    ldns_pkt_set_tc(pkt_.get(), true);
    return Wire();
  }

 private:
  Pkt pkt_;
};

}  // namespace

Status ResponderOptions::Validate() const {
  if (zone.empty() || zone.size() > 200) return Status::InvalidField("zone", "give a domain name, e.g. cloudlet.example");
  ldns_rdf* name = nullptr;
  if (ldns_str2rdf_dname(&name, WithDot(zone).c_str()) != LDNS_STATUS_OK) {
    return Status::InvalidField("zone", "'" + zone + "' is not a domain name");
  }
  ldns_rdf_deep_free(name);
  if (answers < 1 || answers > kMaxAnswers) return Status::InvalidField("answers", "must be 1 to 10");
  if (ttl_s > 86'400 || placement_ttl_s > 86'400) return Status::InvalidField("ttl", "must be at most a day");
  return Status::Ok();
}

DnsResponder::DnsResponder(ResponderOptions options, DnsDirectory& directory, const SubnetMap* subnets)
    : options_(std::move(options)), directory_(directory), subnets_(subnets) {
  options_.zone = Lower(WithDot(options_.zone));
}

std::optional<std::vector<uint8_t>> DnsResponder::Answer(std::span<const uint8_t> query, const IpAddress& source) const {
  if (query.size() < 12 || query.size() > 4096) return std::nullopt;
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, query.data(), query.size()) != LDNS_STATUS_OK) return std::nullopt;
  Pkt q(parsed);
  if (ldns_pkt_qr(q.get())) return std::nullopt;  // a response: never answer one (reflection loops)
  const ldns_rr_list* questions = ldns_pkt_question(q.get());
  const ldns_rr* question = questions && ldns_rr_list_rr_count(questions) > 0 ? ldns_rr_list_rr(questions, 0) : nullptr;
  Reply reply(q.get(), ldns_pkt_qdcount(q.get()) == 1 ? question : nullptr);
  const bool edns = ldns_pkt_edns(q.get());
  const size_t limit = edns ? std::clamp<size_t>(ldns_pkt_edns_udp_size(q.get()), 512, kMaxEdnsUdp) : 512;
  bool malformed_ecs = false;
  const auto ecs = edns ? FindClientSubnet(ldns_pkt_edns_data(q.get()), malformed_ecs) : std::nullopt;
  if (edns) reply.Edns({});

  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY) {
    reply.Rcode(LDNS_RCODE_NOTIMPL);
    return reply.WireWithin(limit);
  }
  if (ldns_pkt_qdcount(q.get()) != 1 || !question || malformed_ecs) {
    reply.Rcode(LDNS_RCODE_FORMERR);
    return reply.WireWithin(limit);
  }
  const ldns_rr_class qclass = ldns_rr_get_class(question);
  const ldns_rr_type qtype = ldns_rr_get_type(question);
  char* name_text = ldns_rdf2str(ldns_rr_owner(question));
  if (!name_text) return std::nullopt;
  const std::string qname = Lower(name_text);
  LDNS_FREE(name_text);

  const std::string& zone = options_.zone;
  const bool in_zone = qname == zone || (qname.size() > zone.size() && qname.ends_with("." + zone));
  if (!in_zone || (qclass != LDNS_RR_CLASS_IN && qclass != LDNS_RR_CLASS_ANY)) {
    reply.Rcode(LDNS_RCODE_REFUSED);  // not ours, and we do not recurse
    return reply.WireWithin(limit);
  }
  ldns_pkt_set_aa(reply.get(), true);

  const std::string ttl = std::to_string(options_.ttl_s), short_ttl = std::to_string(options_.placement_ttl_s);
  const std::string soa = zone + " " + short_ttl + " IN SOA ns." + zone + " hostmaster." + zone + " 1 3600 600 86400 " + short_ttl;
  // The labels below the zone, first first.
  std::vector<std::string> labels;
  if (qname != zone) {
    std::string rest = qname.substr(0, qname.size() - zone.size() - 1);
    for (size_t at = 0;;) {
      const size_t dot = rest.find('.', at);
      labels.push_back(rest.substr(at, dot - at));
      if (dot == std::string::npos) break;
      at = dot + 1;
    }
  }
  const bool wants_a = qtype == LDNS_RR_TYPE_A || qtype == LDNS_RR_TYPE_ANY;
  const bool wants_aaaa = qtype == LDNS_RR_TYPE_AAAA || qtype == LDNS_RR_TYPE_ANY;
  const bool wants_srv = qtype == LDNS_RR_TYPE_SRV || qtype == LDNS_RR_TYPE_ANY;
  // The address records of `host` under `owner`; a host name is a CNAME.
  auto address = [&](ldns_pkt_section section, const std::string& owner, const std::string& host, const std::string& t) -> bool {
    auto ip = ParseIp(host);
    if (!ip.ok()) return section == LDNS_SECTION_ANSWER && reply.Add(section, owner + " " + t + " IN CNAME " + WithDot(host));
    if (ip->family == 4 && (wants_a || section != LDNS_SECTION_ANSWER)) return reply.Add(section, owner + " " + t + " IN A " + host);
    if (ip->family == 6 && (wants_aaaa || section != LDNS_SECTION_ANSWER)) return reply.Add(section, owner + " " + t + " IN AAAA " + host);
    return false;
  };
  auto cloudlet_host = [&](const DnsTarget& t) { return IsIpLiteral(t.host) ? t.id + ".cloudlet." + zone : WithDot(t.host); };
  uint8_t scope_bits = 0;
  bool exists = false;  // the name exists (NOERROR, maybe with no data)

  if (labels.empty()) {
    exists = true;
    if (qtype == LDNS_RR_TYPE_SOA || qtype == LDNS_RR_TYPE_ANY) reply.Add(LDNS_SECTION_ANSWER, soa);
  } else if (labels.size() == 2 && labels[0] == "_cloudlet" && labels[1] == "_tcp") {
    exists = true;
    if (wants_srv) {
      std::optional<common::GeoPoint> at;
      if (subnets_) {
        // A SOURCE PREFIX-LENGTH of 0 asks that the client's subnet not be used: the source is (scope 0).
        const bool by_ecs = ecs && ecs->source_bits > 0;
        std::optional<SubnetMatch> match = by_ecs ? subnets_->Lookup(ecs->address, ecs->source_bits)
                                           : source.family ? subnets_->Lookup(source, source.bits())
                                                           : std::nullopt;
        if (match) at = match->geo;
        if (match && by_ecs) scope_bits = static_cast<uint8_t>(match->prefix_bits);
      }
      const auto targets = directory_.Nearest(at, options_.answers);
      for (size_t rank = 0; rank < targets.size(); ++rank) {
        const DnsTarget& t = targets[rank];
        const std::string host = cloudlet_host(t);
        reply.Add(LDNS_SECTION_ANSWER, qname + " " + ttl + " IN SRV " + std::to_string(rank) + " 0 " +
                                           std::to_string(t.port) + " " + host);
        if (IsIpLiteral(t.host)) address(LDNS_SECTION_ADDITIONAL, host, t.host, ttl);
      }
    }
  } else if (labels.size() == 2 && labels[1] == "cloudlet" && PlainLabel(labels[0])) {
    if (auto t = directory_.Cloudlet(labels[0]); t && IsIpLiteral(t->host)) {
      exists = true;
      address(LDNS_SECTION_ANSWER, qname, t->host, ttl);
    }
  } else if (labels.size() == 1 && PlainLabel(labels[0])) {
    if (auto t = directory_.Placement(labels[0])) {
      exists = true;
      if (wants_srv) {
        const std::string host = IsIpLiteral(t->host) ? qname : WithDot(t->host);
        reply.Add(LDNS_SECTION_ANSWER, qname + " " + short_ttl + " IN SRV 0 0 " + std::to_string(t->port) + " " + host);
        if (IsIpLiteral(t->host)) address(LDNS_SECTION_ADDITIONAL, qname, t->host, short_ttl);
      }
      if (wants_a || wants_aaaa) address(LDNS_SECTION_ANSWER, qname, t->host, short_ttl);
    }
  }
  if (!exists) reply.Rcode(LDNS_RCODE_NXDOMAIN);
  if (ldns_pkt_ancount(reply.get()) == 0) reply.Add(LDNS_SECTION_AUTHORITY, soa);  // negative answers are cached this long
  if (ecs) reply.Edns(EcsReply(*ecs, scope_bits));
  return reply.WireWithin(limit);
}

}  // namespace cloudlet::dns
