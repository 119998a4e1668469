#include "cloudlet/discovery/txt_record.h"

#include <gtest/gtest.h>

namespace cloudlet::discovery {
namespace {

Advert Sample() {
  Advert a;
  a.id = "cl-a";
  a.cpu_free_millis = 6000;
  a.cpu_total_millis = 8000;
  a.mem_free_mb = 10240;
  a.mem_total_mb = 32768;
  a.load_percent = 25;
  a.isolation = {"vm", "container"};
  a.base_vms = {"0123456789ab", "ba9876543210"};
  a.geo = common::GeoPoint{40.44339, -79.94303};
  a.registry = "http://10.0.0.1:8470";
  a.seq = 7;
  return a;
}

TEST(TxtRecord, EncodesTheArchitectureKeysWithTxtversFirst) {
  const auto txt = EncodeTxt(Sample());
  ASSERT_FALSE(txt.empty());
  EXPECT_EQ(txt[0], "txtvers=1");
  const std::vector<std::string> expected = {
      "txtvers=1", "id=cl-a", "cpu=6000/8000", "mem=10240/32768", "load=25", "iso=vm,container",
      "geo=40.44339,-79.94303", "reg=http://10.0.0.1:8470", "seq=7", "bvm=0123456789ab,ba9876543210"};
  EXPECT_EQ(txt, expected);
}

TEST(TxtRecord, RoundTrips) {
  auto decoded = DecodeTxt(EncodeTxt(Sample()));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, Sample());
}

TEST(TxtRecord, CutsALongBaseVmListAndSaysSoStayingWithinLimits) {
  Advert a = Sample();
  a.base_vms.clear();
  for (int i = 0; i < 500; ++i) {
    char prefix[13];
    std::snprintf(prefix, sizeof prefix, "%012x", i);
    a.base_vms.push_back(prefix);
  }
  const auto txt = EncodeTxt(a);
  EXPECT_LE(TxtWireBytes(txt), kTxtRecordBudgetBytes);
  for (const auto& s : txt) EXPECT_LE(s.size(), kMaxTxtStringBytes) << s;
  auto decoded = DecodeTxt(txt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->base_vms_truncated);
  // 255 bytes hold "bvm=" and 19 prefixes of 12 hex digits with commas.
  EXPECT_EQ(decoded->base_vms.size(), 19u);
  EXPECT_EQ(decoded->base_vms.front(), "000000000000");
}

TEST(TxtRecord, KeysAreCaseInsensitiveAndTheFirstOfDuplicatesWins) {
  auto txt = EncodeTxt(Sample());
  txt.insert(txt.begin() + 1, "LOAD=90");
  txt.push_back("load=10");
  auto decoded = DecodeTxt(txt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->load_percent, 90);
}

TEST(TxtRecord, IgnoresUnknownKeysAndBooleanAttributes) {
  auto txt = EncodeTxt(Sample());
  txt.push_back("future=whatever");
  txt.push_back("flag");
  txt.push_back("=nokey");
  auto decoded = DecodeTxt(txt);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->id, "cl-a");
}

struct BadCase {
  const char* name;
  std::string replace_key;  // the key whose string is replaced ("" to drop nothing)
  std::string replacement;  // "" drops the key
  std::string field;        // the field the error must name
};

class TxtRecordRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(TxtRecordRejects, NamingTheKey) {
  const BadCase& c = GetParam();
  std::vector<std::string> txt;
  for (const auto& s : EncodeTxt(Sample())) {
    if (s.rfind(c.replace_key + "=", 0) == 0) {
      if (!c.replacement.empty()) txt.push_back(c.replacement);
    } else {
      txt.push_back(s);
    }
  }
  auto decoded = DecodeTxt(txt);
  ASSERT_FALSE(decoded.ok()) << c.name;
  EXPECT_EQ(decoded.status().field(), c.field) << decoded.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, TxtRecordRejects,
    ::testing::Values(BadCase{"missing txtvers", "txtvers", "", "txtvers"},
                      BadCase{"future version", "txtvers", "txtvers=2", "txtvers"},
                      BadCase{"missing id", "id", "", "id"},
                      BadCase{"bad id", "id", "id=../../etc", "id"},
                      BadCase{"huge id", "id", "id=" + std::string(250, 'a'), "id"},
                      BadCase{"non-numeric cpu", "cpu", "cpu=lots/8000", "cpu"},
                      BadCase{"free above total", "cpu", "cpu=9000/8000", "cpu"},
                      BadCase{"negative memory", "mem", "mem=-1/100", "mem"},
                      BadCase{"memory without total", "mem", "mem=100", "mem"},
                      BadCase{"load over 100", "load", "load=250", "load"},
                      BadCase{"load not a number", "load", "load=1e2", "load"},
                      BadCase{"unknown isolation", "iso", "iso=vm,chroot", "iso"},
                      BadCase{"missing seq", "seq", "", "seq"},
                      BadCase{"seq overflow", "seq", "seq=999999999999999999999", "seq"},
                      BadCase{"bad base VM prefix", "bvm", "bvm=0123456789ab,XYZ", "bvm"},
                      BadCase{"geo off the planet", "geo", "geo=91,0", "geo"},
                      BadCase{"geo not numbers", "geo", "geo=north,west", "geo"},
                      BadCase{"registry not a URL", "reg", "reg=javascript:alert(1)", "reg"}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (auto& ch : name) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return name;
    });

TEST(TxtRecord, RejectsAnOversizedRecordAndOverlongStrings) {
  std::vector<std::string> txt = EncodeTxt(Sample());
  for (int i = 0; i < 100; ++i) txt.push_back("x" + std::to_string(i) + "=" + std::string(200, 'y'));
  EXPECT_FALSE(DecodeTxt(txt).ok());
  std::vector<std::string> long_string = EncodeTxt(Sample());
  long_string.push_back("z=" + std::string(300, 'z'));
  EXPECT_FALSE(DecodeTxt(long_string).ok());
}

TEST(TxtRecord, BaseVmPrefixIsTheFirstTwelveHexDigits) {
  EXPECT_EQ(BaseVmPrefix("sha256:98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4"), "98ea6e4f216f");
}

}  // namespace
}  // namespace cloudlet::discovery
