// The DNS responder and the subnets file, on packets built and read with ldns (as any resolver would).
#include <gtest/gtest.h>

#include <map>

#include "cloudlet/dns/responder.h"
#include "cloudlet/dns/subnets.h"
#include "cloudlet/dns/udp_server.h"

// Last: ldns's headers define names (bool, false) that break standard headers included after them.
#include <ldns/ldns.h>

namespace cloudlet::dns {
namespace {

class FakeDirectory final : public DnsDirectory {
 public:
  std::vector<DnsTarget> Nearest(const std::optional<common::GeoPoint>& at, size_t k) override {
    asked_at = at;
    auto all = at ? near : by_load;
    if (all.size() > k) all.resize(k);
    return all;
  }
  std::optional<DnsTarget> Cloudlet(const std::string& id) override {
    for (const auto& t : near) {
      if (t.id == id) return t;
    }
    return std::nullopt;
  }
  std::optional<DnsTarget> Placement(const std::string& name) override {
    auto it = placements.find(name);
    return it == placements.end() ? std::nullopt : std::optional(it->second);
  }

  std::vector<DnsTarget> near = {{"cl-a", "10.0.0.2", 8471}, {"cl-b", "10.0.0.3", 8472}, {"cl-c", "10.0.0.4", 8473}};
  std::vector<DnsTarget> by_load = {{"cl-c", "10.0.0.4", 8473}};
  std::map<std::string, DnsTarget> placements = {{"pl-00aa", {"pl-00aa", "10.0.0.3", 30001}}};
  std::optional<common::GeoPoint> asked_at;
};

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktFree>;

// A query as dig sends it; `ecs` is an ECS option's payload (family, source, scope, address).
std::vector<uint8_t> Query(const std::string& name, ldns_rr_type type, std::vector<uint8_t> ecs = {}, bool edns = false) {
  ldns_pkt* q = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, name.c_str(), type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(q, 0x1234);
  if (edns || !ecs.empty()) ldns_pkt_set_edns_udp_size(q, 1232);
  if (!ecs.empty()) {
    std::vector<uint8_t> option = {0, 8, 0, static_cast<uint8_t>(ecs.size())};
    option.insert(option.end(), ecs.begin(), ecs.end());
    ldns_pkt_set_edns_data(q, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, option.size(), option.data()));
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&wire, q, &size), LDNS_STATUS_OK);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(q);
  return out;
}

Pkt Parse(const std::optional<std::vector<uint8_t>>& wire) {
  EXPECT_TRUE(wire.has_value());
  if (!wire) return nullptr;
  ldns_pkt* p = nullptr;
  EXPECT_EQ(ldns_wire2pkt(&p, wire->data(), wire->size()), LDNS_STATUS_OK);
  return Pkt(p);
}

// Each record of a section in zone-file text, TTLs included.
std::vector<std::string> Records(const ldns_rr_list* list) {
  std::vector<std::string> out;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    char* s = ldns_rr2str(ldns_rr_list_rr(list, i));
    std::string text(s);
    free(s);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    for (char& c : text) c = c == '\t' ? ' ' : c;
    out.push_back(text);
  }
  return out;
}

IpAddress Ip(const char* text) { return *ParseIp(text); }

class ResponderTest : public ::testing::Test {
 protected:
  ResponderTest()
      : subnets_(*SubnetMap::Parse("# city subnets\n10.1.0.0/16,40.44,-79.94\n10.1.2.0/24,40.50,-80.00\n"
                                   "2001:db8::/32,51.5,-0.12\n",
                                   "subnets.csv")),
        responder_({.zone = "Cloudlet.Test", .answers = 2}, directory_, &subnets_) {}
  Pkt Ask(const std::vector<uint8_t>& query, const char* source = "192.0.2.9") {
    return Parse(responder_.Answer(query, Ip(source)));
  }

  FakeDirectory directory_;
  SubnetMap subnets_;
  DnsResponder responder_;
};

TEST(SubnetMap, FindsTheLongestPrefixAndNoLongerThanTheClientTold) {
  auto map = SubnetMap::Parse("10.0.0.0/8,1,1\n10.1.0.0/16,2,2\n10.1.2.0/24,3,3\n::/0,4,4\n", "s.csv");
  ASSERT_TRUE(map.ok()) << map.status().message();
  EXPECT_EQ(map->size(), 4u);
  EXPECT_EQ(map->Lookup(Ip("10.1.2.200"), 32)->geo.lat, 3);
  EXPECT_EQ(map->Lookup(Ip("10.1.2.200"), 32)->prefix_bits, 24);
  EXPECT_EQ(map->Lookup(Ip("10.1.2.200"), 20)->geo.lat, 2);  // an ECS /20 cannot tell the /24
  EXPECT_EQ(map->Lookup(Ip("10.9.9.9"), 32)->geo.lat, 1);
  EXPECT_FALSE(map->Lookup(Ip("11.0.0.1"), 32).has_value());
  EXPECT_EQ(map->Lookup(Ip("2001:db8::1"), 128)->geo.lat, 4);
}

TEST(SubnetMap, ErrorsNameTheFileAndLine) {
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"10.0.0.0/8,1,1\n10.0.0.0,1,1\n", "s.csv:2: expected cidr,lat,lon"},
           {"10.0.0.0/33,1,1\n", "s.csv:1: prefix length '33' must be 0 to 32"},
           {"10.0.0.300/8,1,1\n", "s.csv:1: '10.0.0.300' is not"},
           {"\n\n10.0.0.0/8,91,1\n", "s.csv:3: "}}) {
    auto map = SubnetMap::Parse(text, "s.csv");
    ASSERT_FALSE(map.ok()) << text;
    EXPECT_NE(map.status().message().find(why), std::string::npos) << map.status().message();
  }
  EXPECT_FALSE(SubnetMap::Load("/nonexistent/subnets.csv").ok());
}

TEST_F(ResponderTest, ListsTheNearestCloudletsByClientSubnetWithAddressesAndTheScope) {
  // ECS 10.1.2.0/24 (family 1, source 24, scope 0).
  auto reply = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV, {0, 1, 24, 0, 10, 1, 2}));
  ASSERT_TRUE(reply);
  EXPECT_EQ(ldns_pkt_id(reply.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(reply.get()));
  EXPECT_TRUE(ldns_pkt_aa(reply.get()));
  EXPECT_FALSE(ldns_pkt_ra(reply.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(reply.get()), LDNS_RCODE_NOERROR);
  ASSERT_TRUE(directory_.asked_at);
  EXPECT_EQ(directory_.asked_at->lat, 40.50);  // the /24, not the /16
  EXPECT_EQ(Records(ldns_pkt_answer(reply.get())),
            (std::vector<std::string>{"_cloudlet._tcp.cloudlet.test. 10 IN SRV 0 0 8471 cl-a.cloudlet.cloudlet.test.",
                                      "_cloudlet._tcp.cloudlet.test. 10 IN SRV 1 0 8472 cl-b.cloudlet.cloudlet.test."}));
  EXPECT_EQ(Records(ldns_pkt_additional(reply.get())),
            (std::vector<std::string>{"cl-a.cloudlet.cloudlet.test. 10 IN A 10.0.0.2",
                                      "cl-b.cloudlet.cloudlet.test. 10 IN A 10.0.0.3"}));
  // The ECS option comes back with the scope of the subnet that matched (24).
  const ldns_rdf* options = ldns_pkt_edns_data(reply.get());
  ASSERT_NE(options, nullptr);
  const std::vector<uint8_t> ecs(ldns_rdf_data(options), ldns_rdf_data(options) + ldns_rdf_size(options));
  EXPECT_EQ(ecs, (std::vector<uint8_t>{0, 8, 0, 7, 0, 1, 24, 24, 10, 1, 2}));
}

TEST_F(ResponderTest, WithoutClientSubnetTheSourceAddressPlacesTheClientElseTheLeastLoadedAnswer) {
  auto reply = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV), "10.1.9.9");
  ASSERT_TRUE(directory_.asked_at);
  EXPECT_EQ(directory_.asked_at->lat, 40.44);
  EXPECT_EQ(ldns_pkt_ancount(reply.get()), 2);
  reply = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV), "192.0.2.9");
  EXPECT_FALSE(directory_.asked_at);
  EXPECT_EQ(Records(ldns_pkt_answer(reply.get())),
            (std::vector<std::string>{"_cloudlet._tcp.cloudlet.test. 10 IN SRV 0 0 8473 cl-c.cloudlet.cloudlet.test."}));
  // ECS from an unknown subnet: least loaded too, and scope 0 (the answer holds for everyone).
  reply = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV, {0, 1, 16, 0, 172, 16}), "10.1.9.9");
  EXPECT_FALSE(directory_.asked_at);
  const ldns_rdf* options = ldns_pkt_edns_data(reply.get());
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(ldns_rdf_data(options)[7], 0);
}

TEST_F(ResponderTest, APlacementNameResolvesToItsEndpointAndUnknownNamesAreNxdomainWithTheSoa) {
  // Names match whatever their case; the answer keeps the question's (resolvers that randomise case check it).
  auto a = Ask(Query("PL-00aa.cloudlet.test.", LDNS_RR_TYPE_A));
  EXPECT_EQ(Records(ldns_pkt_answer(a.get())), (std::vector<std::string>{"PL-00aa.cloudlet.test. 5 IN A 10.0.0.3"}));
  auto srv = Ask(Query("pl-00aa.cloudlet.test.", LDNS_RR_TYPE_SRV));
  EXPECT_EQ(Records(ldns_pkt_answer(srv.get())),
            (std::vector<std::string>{"pl-00aa.cloudlet.test. 5 IN SRV 0 0 30001 pl-00aa.cloudlet.test."}));
  EXPECT_EQ(Records(ldns_pkt_additional(srv.get())), (std::vector<std::string>{"pl-00aa.cloudlet.test. 5 IN A 10.0.0.3"}));
  // The placement moves (the directory now points elsewhere): the next answer follows it.
  directory_.placements["pl-00aa"].host = "10.0.0.4";
  a = Ask(Query("pl-00aa.cloudlet.test.", LDNS_RR_TYPE_A));
  EXPECT_EQ(Records(ldns_pkt_answer(a.get())), (std::vector<std::string>{"pl-00aa.cloudlet.test. 5 IN A 10.0.0.4"}));
  // No AAAA for an IPv4 endpoint: the name exists, with no data.
  auto aaaa = Ask(Query("pl-00aa.cloudlet.test.", LDNS_RR_TYPE_AAAA));
  EXPECT_EQ(ldns_pkt_get_rcode(aaaa.get()), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(aaaa.get()), 0);
  for (const char* name : {"pl-ffff.cloudlet.test.", "a.b.c.cloudlet.test.", "cl-zz.cloudlet.cloudlet.test.",
                           "pl\\.00aa.cloudlet.test."}) {
    auto nx = Ask(Query(name, LDNS_RR_TYPE_A));
    EXPECT_EQ(ldns_pkt_get_rcode(nx.get()), LDNS_RCODE_NXDOMAIN) << name;
    EXPECT_EQ(Records(ldns_pkt_authority(nx.get())),
              (std::vector<std::string>{"cloudlet.test. 5 IN SOA ns.cloudlet.test. hostmaster.cloudlet.test. 1 3600 600 86400 5"}))
        << name;
  }
  auto cl = Ask(Query("cl-b.cloudlet.cloudlet.test.", LDNS_RR_TYPE_A));
  EXPECT_EQ(Records(ldns_pkt_answer(cl.get())), (std::vector<std::string>{"cl-b.cloudlet.cloudlet.test. 10 IN A 10.0.0.3"}));
}

TEST_F(ResponderTest, RefusesNamesOutsideTheZoneAndDropsWhatIsNotAQuery) {
  auto refused = Ask(Query("example.com.", LDNS_RR_TYPE_A));
  EXPECT_EQ(ldns_pkt_get_rcode(refused.get()), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(ldns_pkt_ra(refused.get()));
  EXPECT_EQ(ldns_pkt_ancount(refused.get()), 0);
  // A name that merely ends like the zone is not in it.
  EXPECT_EQ(ldns_pkt_get_rcode(Ask(Query("evilcloudlet.test.", LDNS_RR_TYPE_A)).get()), LDNS_RCODE_REFUSED);

  auto query = Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV);
  auto response = query;
  response[2] |= 0x80;  // QR: a response, never answered (no reflection loops)
  EXPECT_FALSE(responder_.Answer(response, Ip("10.1.2.3")).has_value());
  for (size_t cut : {size_t{0}, size_t{5}, size_t{12}, query.size() - 1}) {
    EXPECT_FALSE(responder_.Answer(std::span(query.data(), cut), Ip("10.1.2.3")).has_value()) << cut;
  }
  // An ECS option that breaks RFC 7871 (a scope in a query) is a format error.
  auto formerr = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV, {0, 1, 24, 8, 10, 1, 2}));
  EXPECT_EQ(ldns_pkt_get_rcode(formerr.get()), LDNS_RCODE_FORMERR);
  // Address bits past the source prefix: also a format error.
  formerr = Ask(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV, {0, 1, 20, 0, 10, 1, 0xFF}));
  EXPECT_EQ(ldns_pkt_get_rcode(formerr.get()), LDNS_RCODE_FORMERR);
}

TEST_F(ResponderTest, AnAnswerTooLargeForPlainUdpLosesItsAdditionalsThenSetsTruncation) {
  directory_.near.clear();
  for (int i = 0; i < 10; ++i) {
    directory_.near.push_back({"cl-" + std::to_string(i), "agent-" + std::string(50, 'x') + std::to_string(i) + ".example.net", 8471});
  }
  DnsResponder wide({.zone = "cloudlet.test", .answers = 10}, directory_, &subnets_);
  auto small = Parse(wide.Answer(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV), Ip("10.1.2.3")));
  EXPECT_TRUE(ldns_pkt_tc(small.get()));
  EXPECT_EQ(ldns_pkt_ancount(small.get()), 0);
  auto big = wide.Answer(Query("_cloudlet._tcp.cloudlet.test.", LDNS_RR_TYPE_SRV, {}, true), Ip("10.1.2.3"));
  ASSERT_TRUE(big);
  EXPECT_LE(big->size(), 1232u);
  EXPECT_FALSE(ldns_pkt_tc(Parse(big).get()));
  EXPECT_EQ(ldns_pkt_ancount(Parse(big).get()), 10);
}

TEST(ResponderOptions, NameTheBadField) {
  EXPECT_EQ(ResponderOptions{.zone = ""}.Validate().field(), "zone");
  EXPECT_EQ(ResponderOptions{.zone = "a..b"}.Validate().field(), "zone");
  EXPECT_EQ((ResponderOptions{.zone = "ok.test", .answers = 11}.Validate().field()), "answers");
  EXPECT_TRUE(ResponderOptions{.zone = "ok.test"}.Validate().ok());
}

TEST(SourceRateLimiter, DropsPastTheBurstAndRefillsAtTheRate) {
  SourceRateLimiter limiter(10, 3);
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  const IpAddress a = Ip("10.0.0.1"), b = Ip("10.0.0.2");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow(a, t0));
  EXPECT_FALSE(limiter.Allow(a, t0));
  EXPECT_TRUE(limiter.Allow(b, t0));  // another source has its own bucket
  EXPECT_TRUE(limiter.Allow(a, t0 + std::chrono::milliseconds(100)));  // 10/s: one more after 0.1 s
  EXPECT_FALSE(limiter.Allow(a, t0 + std::chrono::milliseconds(100)));
}

}  // namespace
}  // namespace cloudlet::dns
